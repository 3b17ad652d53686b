//! The backup envelope (FORMAT.md): encoding, decoding, sealing, opening.
//!
//! A cipherText is `wbk1.` followed by the unpadded base64url encoding of
//! the binary envelope. Everything before the ciphertext is the header and is
//! authenticated as AES-256-GCM associated data; a key commitment tells a
//! wrong key from a changed ciphertext, and a trailing checksum tells
//! accidental corruption from a malformed string before any key is derived.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::keys::{self, SecretKey, KEY_LEN};
use crate::method::MethodId;
use crate::Error;

/// Text prefix of every version-1 cipherText.
pub const TEXT_PREFIX: &str = "wbk1.";
/// Magic bytes at offset 0 of the binary envelope.
pub const MAGIC: &[u8; 3] = b"wbk";
/// The only envelope version this code writes and reads.
pub const VERSION: u8 = 1;
/// Length of the random backup id.
pub const BACKUP_ID_LEN: usize = 16;
/// Length of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Length of the trailing checksum.
pub const CHECKSUM_LEN: usize = 16;
/// Longest method-parameter field accepted.
pub const MAX_PARAMS_LEN: usize = 1024;
/// Longest context field accepted.
pub const MAX_CONTEXT_LEN: usize = 1024;
/// Largest plaintext accepted (1 MiB); bounds the ciphertext too.
pub const MAX_PLAINTEXT_LEN: usize = 1 << 20;
/// Bytes of the fixed-size fields: magic, version, method, backup id, the
/// two `u16` lengths, nonce, commitment and `ct_len` (73).
const FIXED_FIELDS_LEN: usize = 3 + 1 + 1 + BACKUP_ID_LEN + 2 + 2 + NONCE_LEN + KEY_LEN + 4;
/// Length of the longest valid envelope, every length field at its maximum
/// (1,050,729 bytes).
const MAX_ENVELOPE_LEN: usize =
    FIXED_FIELDS_LEN + MAX_PARAMS_LEN + MAX_CONTEXT_LEN + MAX_PLAINTEXT_LEN + TAG_LEN + CHECKSUM_LEN;
/// Longest cipherText string accepted (FORMAT.md §7 step 1): the text of the
/// longest valid envelope, 1,400,977 characters. Checked after trimming the
/// surrounding whitespace and before base64 decoding.
pub const MAX_TEXT_LEN: usize = TEXT_PREFIX.len() + (MAX_ENVELOPE_LEN * 4).div_ceil(3);

/// The authenticated header of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The backup method that keeps this backup's key.
    pub method: MethodId,
    /// Random id of this backup; ties the client half to its custodian half
    /// and salts the key derivation.
    pub backup_id: [u8; BACKUP_ID_LEN],
    /// Method-specific parameters (for password: the Argon2id parameters).
    pub method_params: Vec<u8>,
    /// Application context bound to the backup (may be empty).
    pub context: Vec<u8>,
}

/// A decoded envelope: structurally valid, checksum verified, not yet opened.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The authenticated header.
    pub header: Header,
    nonce: [u8; NONCE_LEN],
    commitment: [u8; KEY_LEN],
    /// The raw envelope bytes (without the checksum).
    raw: Vec<u8>,
    /// Offset in `raw` where the ciphertext starts (= length of the AAD).
    ciphertext_at: usize,
}

/// Seals `plaintext` under `key` with a fresh random nonce and returns the
/// cipherText string.
pub fn seal(header: &Header, key: &SecretKey, plaintext: &[u8]) -> Result<String, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    keys::fill_random(&mut nonce)?;
    seal_with_nonce(header, key, plaintext, &nonce)
}

/// [`seal`] with a caller-chosen nonce, for test vectors only.
///
/// # Security
/// A nonce must never repeat under the same key; production code calls
/// [`seal`].
pub fn seal_with_nonce(
    header: &Header,
    key: &SecretKey,
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<String, Error> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(Error::InvalidArgument("shares larger than 1 MiB"));
    }
    if header.method_params.len() > MAX_PARAMS_LEN {
        return Err(Error::Unexpected("method parameters too long"));
    }
    if header.context.len() > MAX_CONTEXT_LEN {
        return Err(Error::InvalidArgument("context longer than 1024 bytes"));
    }
    let derived = keys::derive(key, &header.backup_id);
    let ct_len = plaintext.len() + TAG_LEN;

    let mut out = Vec::with_capacity(64 + header.method_params.len() + header.context.len() + ct_len + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(header.method as u8);
    out.extend_from_slice(&header.backup_id);
    out.extend_from_slice(&(header.method_params.len() as u16).to_be_bytes());
    out.extend_from_slice(&header.method_params);
    out.extend_from_slice(&(header.context.len() as u16).to_be_bytes());
    out.extend_from_slice(&header.context);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&derived.commitment);
    out.extend_from_slice(&(ct_len as u32).to_be_bytes());

    let cipher = Aes256Gcm::new(derived.payload_key.expose().into());
    let ct = cipher
        .encrypt(&Nonce::from(*nonce), Payload { msg: plaintext, aad: &out })
        .map_err(|_| Error::Unexpected("AES-GCM encryption failed"))?;
    out.extend_from_slice(&ct);
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum[..CHECKSUM_LEN]);

    let mut text = String::with_capacity(TEXT_PREFIX.len() + Base64UrlUnpadded::encoded_len(&out));
    text.push_str(TEXT_PREFIX);
    text.push_str(&Base64UrlUnpadded::encode_string(&out));
    Ok(text)
}

/// A cursor over envelope bytes that reports truncation as an error.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(Error::InvalidCiphertext("truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u16(&mut self) -> Result<usize, Error> {
        Ok(u16::from_be_bytes(self.array()?) as usize)
    }
    fn u32(&mut self) -> Result<usize, Error> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }
}

/// Decodes a cipherText string and verifies its structure and checksum.
///
/// Rejections follow FORMAT.md §7 steps 1–7: structural problems are
/// `INVALID_CIPHERTEXT`, a checksum mismatch is `CIPHERTEXT_CORRUPTED`.
/// No key is derived here.
pub fn decode(text: &str) -> Result<Envelope, Error> {
    // Pasted cipherTexts often carry a newline or spaces around them. ASCII
    // whitespace is exactly TAB, LF, FF, CR and SPACE (FORMAT.md §1).
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.len() > MAX_TEXT_LEN {
        return Err(Error::InvalidCiphertext("longer than any valid backup"));
    }
    let body = match text.strip_prefix(TEXT_PREFIX) {
        Some(body) => body,
        None if text.starts_with("wbk") => {
            return Err(Error::InvalidCiphertext("unsupported version"));
        }
        None if text.is_empty() => return Err(Error::InvalidCiphertext("empty")),
        None => return Err(Error::InvalidCiphertext("not a wallet-backup cipherText (no wbk1. prefix)")),
    };
    let bytes = Base64UrlUnpadded::decode_vec(body)
        .map_err(|_| Error::InvalidCiphertext("not canonical unpadded base64url"))?;
    decode_bytes(bytes)
}

fn decode_bytes(bytes: Vec<u8>) -> Result<Envelope, Error> {
    let mut r = Reader { bytes: &bytes, at: 0 };
    if r.take(3)? != MAGIC {
        return Err(Error::InvalidCiphertext("bad magic"));
    }
    if r.array::<1>()?[0] != VERSION {
        return Err(Error::InvalidCiphertext("unsupported version"));
    }
    let method = MethodId::from_byte(r.array::<1>()?[0]).ok_or(Error::InvalidCiphertext("unknown backup method"))?;
    let backup_id = r.array::<BACKUP_ID_LEN>()?;
    let params_len = r.u16()?;
    if params_len > MAX_PARAMS_LEN {
        return Err(Error::InvalidCiphertext("method parameters too long"));
    }
    let method_params = r.take(params_len)?.to_vec();
    let context_len = r.u16()?;
    if context_len > MAX_CONTEXT_LEN {
        return Err(Error::InvalidCiphertext("context too long"));
    }
    let context = r.take(context_len)?.to_vec();
    let nonce = r.array::<NONCE_LEN>()?;
    let commitment = r.array::<KEY_LEN>()?;
    let ct_len = r.u32()?;
    if ct_len < TAG_LEN {
        return Err(Error::InvalidCiphertext("ciphertext shorter than its tag"));
    }
    if ct_len > MAX_PLAINTEXT_LEN + TAG_LEN {
        return Err(Error::InvalidCiphertext("ciphertext larger than 1 MiB"));
    }
    let ciphertext_at = r.at;
    r.take(ct_len)?;
    let checksum_at = r.at;
    let checksum = r.take(CHECKSUM_LEN)?;
    if r.at != bytes.len() {
        return Err(Error::InvalidCiphertext("trailing bytes after the checksum"));
    }
    let expected = Sha256::digest(&bytes[..checksum_at]);
    if !bool::from(expected[..CHECKSUM_LEN].ct_eq(checksum)) {
        return Err(Error::CiphertextCorrupted);
    }
    let mut raw = bytes;
    raw.truncate(checksum_at);
    Ok(Envelope { header: Header { method, backup_id, method_params, context }, nonce, commitment, raw, ciphertext_at })
}

/// The method and backup id of a cipherText, read from the start of its
/// envelope (the `wbk1.` prefix, canonical base64url, magic, version, a
/// known method byte) without verifying the rest: for the backup service,
/// which stores cipherTexts it cannot open and files each under its pair.
pub fn method_and_backup_id(text: &str) -> Result<(MethodId, [u8; BACKUP_ID_LEN]), Error> {
    if text.len() > MAX_TEXT_LEN {
        return Err(Error::InvalidCiphertext("longer than any valid backup"));
    }
    let body = text
        .strip_prefix(TEXT_PREFIX)
        .ok_or(Error::InvalidCiphertext("not a wallet-backup cipherText (no wbk1. prefix)"))?;
    let bytes = Base64UrlUnpadded::decode_vec(body)
        .map_err(|_| Error::InvalidCiphertext("not canonical unpadded base64url"))?;
    let mut r = Reader { bytes: &bytes, at: 0 };
    if r.take(3)? != MAGIC || r.array::<1>()?[0] != VERSION {
        return Err(Error::InvalidCiphertext("not a version-1 wallet-backup envelope"));
    }
    let method = MethodId::from_byte(r.array::<1>()?[0]).ok_or(Error::InvalidCiphertext("unknown backup method"))?;
    Ok((method, r.array::<BACKUP_ID_LEN>()?))
}

impl Envelope {
    /// Opens the envelope with `key`.
    ///
    /// A key whose commitment differs is `WRONG_PASSWORD` (password method)
    /// or `WRONG_BACKUP_KEY`; a matching key whose tag fails is
    /// `CIPHERTEXT_CORRUPTED`.
    pub fn open(&self, key: &SecretKey) -> Result<Zeroizing<Vec<u8>>, Error> {
        let derived = keys::derive(key, &self.header.backup_id);
        if !bool::from(derived.commitment.ct_eq(&self.commitment)) {
            return Err(match self.header.method {
                MethodId::Password => Error::WrongPassword(None),
                _ => Error::WrongBackupKey,
            });
        }
        let cipher = Aes256Gcm::new(derived.payload_key.expose().into());
        let (aad, ct) = self.raw.split_at(self.ciphertext_at);
        cipher
            .decrypt(&Nonce::from(self.nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| Error::CiphertextCorrupted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            method: MethodId::Custom,
            backup_id: [7; BACKUP_ID_LEN],
            method_params: vec![1, 2, 3],
            context: b"ctx".to_vec(),
        }
    }

    #[test]
    fn seal_open_round_trip() {
        let key = SecretKey::random().unwrap();
        let text = seal(&header(), &key, b"shares").unwrap();
        assert!(text.starts_with(TEXT_PREFIX));
        let env = decode(&text).unwrap();
        assert_eq!(env.header, header());
        assert_eq!(&env.open(&key).unwrap()[..], b"shares");
    }

    #[test]
    fn wrong_key_is_told_apart_from_corruption() {
        let key = SecretKey::random().unwrap();
        let text = seal(&header(), &key, b"shares").unwrap();
        let other = SecretKey::random().unwrap();
        assert_eq!(decode(&text).unwrap().open(&other), Err(Error::WrongBackupKey));
    }

    /// FORMAT.md §7 step 1: the limit is the text of the longest valid
    /// envelope, counted after the surrounding whitespace is trimmed.
    #[test]
    fn text_limit_is_the_longest_valid_envelope() {
        assert_eq!(MAX_TEXT_LEN, 1_400_977);
        let key = SecretKey::from_bytes([4; KEY_LEN]);
        let header = Header {
            method: MethodId::Passkey,
            backup_id: [5; BACKUP_ID_LEN],
            method_params: vec![6; MAX_PARAMS_LEN],
            context: vec![7; MAX_CONTEXT_LEN],
        };
        let longest = seal_with_nonce(&header, &key, &vec![8; MAX_PLAINTEXT_LEN], &[9; NONCE_LEN]).unwrap();
        assert_eq!(longest.len(), MAX_TEXT_LEN);
        assert_eq!(decode(&longest).unwrap().header, header);
        assert!(decode(&format!(" \t{longest}\r\n")).is_ok(), "whitespace is trimmed before the limit applies");
        let over = format!("{longest}A");
        assert_eq!(decode(&over).unwrap_err(), Error::InvalidCiphertext("longer than any valid backup"));
    }

    #[test]
    fn every_single_bit_flip_is_rejected_without_panic() {
        let key = SecretKey::from_bytes([9; KEY_LEN]);
        let text = seal_with_nonce(&header(), &key, b"abc", &[3; NONCE_LEN]).unwrap();
        let bytes = Base64UrlUnpadded::decode_vec(&text[TEXT_PREFIX.len()..]).unwrap();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            let r = decode_bytes(b).and_then(|e| e.open(&key).map(|_| ()));
            assert!(r.is_err(), "bit {i} accepted");
        }
    }
}

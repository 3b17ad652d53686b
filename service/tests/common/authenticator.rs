//! A software WebAuthn authenticator for the passkey enclave's tests: P-256
//! ECDSA keys, attestation format "none", authenticator data built byte by
//! byte (rpIdHash ‖ flags ‖ counter ‖ attested credential data with a COSE
//! EC2 key), so every registration and assertion is real. `Tweak` makes it
//! (or the browser around it) misbehave on purpose.

use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The relying party id the tests' default relying party uses.
pub const RP_ID: &str = "wallet.example";
/// Its web origin.
pub const ORIGIN: &str = "https://wallet.example";

// ---------------------------------------------------------------- CBOR (the subset authenticators use)

pub enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Map(Vec<(Cbor, Cbor)>),
}

pub fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

pub fn cbor(value: &Cbor, out: &mut Vec<u8>) {
    match value {
        Cbor::Int(i) if *i >= 0 => cbor_head(out, 0, *i as u64),
        Cbor::Int(i) => cbor_head(out, 1, (-1 - *i) as u64),
        Cbor::Bytes(b) => {
            cbor_head(out, 2, b.len() as u64);
            out.extend(b);
        }
        Cbor::Text(t) => {
            cbor_head(out, 3, t.len() as u64);
            out.extend(t.as_bytes());
        }
        Cbor::Map(entries) => {
            cbor_head(out, 5, entries.len() as u64);
            for (k, v) in entries {
                cbor(k, out);
                cbor(v, out);
            }
        }
    }
}

// ---------------------------------------------------------------- the software authenticator

pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const AT: u8 = 0x40;

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(text).unwrap()
}

pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// One passkey: a P-256 key, a credential id and a signature counter.
pub struct Authenticator {
    pub key: SigningKey,
    pub credential_id: Vec<u8>,
    pub counter: u32,
}

/// What to do differently from an honest authenticator and browser.
#[derive(Clone)]
pub struct Tweak {
    pub origin: String,
    pub flags: u8,
    pub challenge: Option<String>,
    pub rp_id: Option<String>,
    pub client_type: Option<String>,
    pub counter: Option<u32>,
    pub bad_signature: bool,
}

impl Tweak {
    pub fn honest() -> Self {
        Self {
            origin: ORIGIN.into(),
            flags: UP | UV,
            challenge: None,
            rp_id: None,
            client_type: None,
            counter: None,
            bad_signature: false,
        }
    }

    pub fn origin(origin: &str) -> Self {
        Self { origin: origin.into(), ..Self::honest() }
    }
}

impl Authenticator {
    pub fn new() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let mut credential_id = vec![0u8; 32];
        getrandom::fill(&mut credential_id).unwrap();
        Self { key: SigningKey::from_slice(&seed).unwrap(), credential_id, counter: 0 }
    }

    pub fn id(&self) -> String {
        b64(&self.credential_id)
    }

    pub fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_point(false);
        let xy = point.as_bytes();
        let mut out = Vec::new();
        cbor(
            &Cbor::Map(vec![
                (Cbor::Int(1), Cbor::Int(2)),
                (Cbor::Int(3), Cbor::Int(-7)),
                (Cbor::Int(-1), Cbor::Int(1)),
                (Cbor::Int(-2), Cbor::Bytes(xy[1..33].to_vec())),
                (Cbor::Int(-3), Cbor::Bytes(xy[33..65].to_vec())),
            ]),
            &mut out,
        );
        out
    }

    pub fn client_data(kind: &str, options: &Value, tweak: &Tweak) -> Vec<u8> {
        let challenge = tweak.challenge.clone().unwrap_or_else(|| options["challenge"].as_str().unwrap().to_owned());
        let kind = tweak.client_type.clone().unwrap_or_else(|| kind.to_owned());
        serde_json::to_vec(
            &json!({ "type": kind, "challenge": challenge, "origin": tweak.origin, "crossOrigin": false }),
        )
        .unwrap()
    }

    pub fn next_counter(&mut self, tweak: &Tweak) -> u32 {
        match tweak.counter {
            Some(c) => c,
            None => {
                self.counter += 1;
                self.counter
            }
        }
    }

    /// `navigator.credentials.create()`: a RegistrationResponseJSON for these options.
    pub fn register(&mut self, options: &Value, tweak: &Tweak) -> Value {
        let rp_id = tweak.rp_id.clone().unwrap_or_else(|| options["rp"]["id"].as_str().unwrap().to_owned());
        let client_data = Self::client_data("webauthn.create", options, tweak);
        let counter = self.next_counter(tweak);
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(tweak.flags | AT);
        auth_data.extend(counter.to_be_bytes());
        auth_data.extend([0u8; 16]);
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let mut attestation = Vec::new();
        cbor(
            &Cbor::Map(vec![
                (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
                (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
                (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
            ]),
            &mut attestation,
        );
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "response": { "clientDataJSON": b64(&client_data), "attestationObject": b64(&attestation), "transports": ["internal"] },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// `navigator.credentials.get()`: an AuthenticationResponseJSON for these options.
    pub fn assert(&mut self, options: &Value, tweak: &Tweak) -> Value {
        let rp_id = tweak.rp_id.clone().unwrap_or_else(|| options["rpId"].as_str().unwrap().to_owned());
        let client_data = Self::client_data("webauthn.get", options, tweak);
        let counter = self.next_counter(tweak);
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(tweak.flags);
        auth_data.extend(counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        if tweak.bad_signature {
            signed[0] ^= 1;
        }
        let signature: Signature = self.key.sign(&signed);
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": null,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }
}

//! The app's keychain, holding the wallet's signing shares:
//! `{ getShares(): Promise<string>, setShares(shares): Promise<void> }`,
//! behind core's `Keychain`. Each call is limited to `adapterTimeoutMs`
//! (`ADAPTER_TIMEOUT` past it).

use wallet_backup_core::{Error, Keychain};
use wasm_bindgen::JsValue;
use zeroize::Zeroizing;

use crate::errors::LastCause;
use crate::js::{call_method, exact_string, is_absent};

/// The app's keychain adapter.
pub struct JsKeychain<'a> {
    /// The adapter object.
    pub obj: JsValue,
    /// Where failures' causes go.
    pub cause: &'a LastCause,
    /// How long each call may take (`adapterTimeoutMs`).
    pub limit_ms: u32,
}

impl Keychain for JsKeychain<'_> {
    async fn get_shares(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let v = call_method(
            &self.obj,
            "keychain.getShares",
            &[],
            Error::KeychainUnavailable("keychain.getShares is not a function"),
            Error::KeychainUnavailable("keychain.getShares failed"),
            self.limit_ms,
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        // Lone surrogates would be replaced on the way into Rust and the
        // shares restored altered: refuse them instead.
        match exact_string(&v) {
            Some(Ok(s)) => Ok(Zeroizing::new(s.as_bytes().to_vec())),
            Some(Err(())) => {
                Err(Error::KeychainUnavailable("keychain.getShares returned a string that is not valid Unicode"))
            }
            None if is_absent(&v) => Err(Error::KeychainUnavailable("the keychain holds no shares")),
            None => Err(Error::KeychainUnavailable("keychain.getShares did not return a string")),
        }
    }

    async fn set_shares(&self, shares: &[u8]) -> Result<(), Error> {
        let text = core::str::from_utf8(shares)
            .map_err(|_| Error::InvalidCiphertext("the backed-up shares are not UTF-8 text"))?;
        call_method(
            &self.obj,
            "keychain.setShares",
            &[JsValue::from_str(text)],
            Error::KeychainUnavailable("keychain.setShares is not a function"),
            Error::KeychainUnavailable("keychain.setShares failed"),
            self.limit_ms,
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        Ok(())
    }
}

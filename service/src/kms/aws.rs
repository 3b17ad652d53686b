//! [`AwsKms`], the AWS KMS backend: data keys wrapped by a symmetric key in
//! AWS KMS with `Encrypt` and unwrapped with `Decrypt`, the wrap context as
//! the request's `EncryptionContext`, so AWS refuses to unwrap a key under
//! another record's context (and CloudTrail logs which record asked).
//!
//! The key is given by key ARN, key id or alias (`alias/…`); a wrapped
//! key's `key_id` is the key ARN that `Encrypt` answered, so an unwrap goes
//! back to that very key whatever the alias points to later, and key ids
//! that are not KMS ARNs are [`KmsError::UnknownKey`] without a call (they
//! belong to another backend of the [`super::KmsChain`]).
//!
//! The client speaks HTTPS through rustls on the `ring` provider (no
//! aws-lc-rs), takes credentials and, unless given, the region from the
//! standard AWS chain (environment, profile files, web identity, ECS and
//! EC2 instance roles), and has short timeouts and one retry, so a KMS that
//! does not answer fails a request in seconds (503 `KMS_UNAVAILABLE`)
//! rather than holding it for minutes.
//!
//! The unwrapped key is returned in a `Zeroizing` buffer; the copies inside
//! the SDK (the request and response bodies) are the SDK's and are not
//! zeroized.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::Region;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_smithy_http_client::tls;
use base64ct::{Base64UrlUnpadded, Encoding};
use zeroize::Zeroizing;

use super::{Kms, KmsError, WrappedKey};

/// The `EncryptionContext` key under which the wrap context goes, base64url
/// (AWS takes UTF-8 strings; the context is bytes).
pub const CONTEXT_KEY: &str = "wallet-backup-service/context";

/// Default time limit of one AWS KMS call attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(3000);

/// Where the AWS KMS key is and how to reach it.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Key ARN, key id, alias name (`alias/…`) or alias ARN.
    pub key_id: String,
    /// Region; `None`: the standard chain (`AWS_REGION`, the profile, the instance).
    pub region: Option<String>,
    /// Another endpoint (a VPC endpoint, a FIPS endpoint, a test server).
    pub endpoint_url: Option<String>,
    /// Time limit of one call attempt (connecting included); a call makes at most two attempts.
    pub timeout: Duration,
}

/// The AWS KMS backend.
pub struct AwsKms {
    client: aws_sdk_kms::Client,
    key_id: String,
    /// The key ARN of the last `Encrypt` (the key the configured id names).
    arn: Mutex<Option<String>>,
}

impl std::fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKms").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// Whether `key_id` is an AWS KMS key ARN (`arn:<partition>:kms:…:key/…`).
fn is_key_arn(key_id: &str) -> bool {
    let mut parts = key_id.splitn(6, ':');
    parts.next() == Some("arn")
        && parts.next().is_some_and(|p| p.starts_with("aws"))
        && parts.next() == Some("kms")
        && parts.nth(2).is_some_and(|rest| rest.starts_with("key/"))
}

fn context_value(context: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(context)
}

/// A failed call as a [`KmsError`]: a ciphertext that does not open under
/// this key and context is [`KmsError::Unwrap`]; everything else (network,
/// time-outs, throttling, a disabled or missing key, no permission) is
/// [`KmsError::Unavailable`], with AWS's error code and nothing of the data.
fn call_error<E, R>(op: &str, error: SdkError<E, R>) -> KmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let why = match &error {
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or("unknown error");
            if matches!(code, "InvalidCiphertextException" | "IncorrectKeyException") {
                return KmsError::Unwrap;
            }
            match e.err().message() {
                Some(message) => format!("{code}: {message}"),
                None => code.to_owned(),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(e) if e.is_timeout() => "timed out".to_owned(),
        _ => {
            // The error and its causes, e.g. "dispatch failure: io error: … Connection refused".
            let mut text = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text.chars().take(300).collect()
        }
    };
    KmsError::Unavailable(format!("AWS KMS {op}: {why}"))
}

impl AwsKms {
    /// A client for the key in `settings`. It makes no call: the start-up
    /// check ([`super::check`]) is the first.
    pub async fn connect(settings: &AwsSettings) -> Result<Self, KmsError> {
        if settings.key_id.is_empty() {
            return Err(KmsError::Unavailable("--aws-kms-key-id is empty".into()));
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.timeout)
            .operation_attempt_timeout(settings.timeout)
            .operation_timeout(settings.timeout * 2 + Duration::from_secs(1))
            .build();
        let retries = RetryConfig::standard().with_max_attempts(2).with_max_backoff(Duration::from_millis(500));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(retries);
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(KmsError::Unavailable(
                "AWS KMS: no region (give --aws-region, or set AWS_REGION or a profile's region)".into(),
            ));
        }
        Ok(Self::from_client(aws_sdk_kms::Client::new(&config), &settings.key_id))
    }
}

impl AwsKms {
    /// The backend over a client the caller configured (its own credentials
    /// provider, say), for the key `key_id` names.
    pub fn from_client(client: aws_sdk_kms::Client, key_id: &str) -> Self {
        let arn = is_key_arn(key_id).then(|| key_id.to_owned());
        Self { client, key_id: key_id.to_owned(), arn: Mutex::new(arn) }
    }
}

#[async_trait]
impl Kms for AwsKms {
    fn current_key_id(&self) -> Result<String, KmsError> {
        self.arn.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or_else(|| {
            KmsError::Unavailable(format!("AWS KMS key `{}` has not answered yet (its ARN is unknown)", self.key_id))
        })
    }

    async fn wrap(&self, data_key: &[u8; 32], context: &[u8]) -> Result<WrappedKey, KmsError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(data_key.to_vec()))
            .encryption_context(CONTEXT_KEY, context_value(context))
            .send()
            .await
            .map_err(|e| call_error("Encrypt", e))?;
        let arn = out
            .key_id()
            .filter(|id| is_key_arn(id))
            .ok_or_else(|| KmsError::Unavailable("AWS KMS Encrypt: the answer names no key ARN".into()))?;
        let ciphertext = out
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| KmsError::Unavailable("AWS KMS Encrypt: the answer has no ciphertext".into()))?;
        *self.arn.lock().unwrap_or_else(|p| p.into_inner()) = Some(arn.to_owned());
        Ok(WrappedKey { key_id: arn.to_owned(), ciphertext })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        if !is_key_arn(&wrapped.key_id) {
            return Err(KmsError::UnknownKey(wrapped.key_id.clone()));
        }
        let out = self
            .client
            .decrypt()
            .key_id(&wrapped.key_id)
            .ciphertext_blob(Blob::new(wrapped.ciphertext.clone()))
            .encryption_context(CONTEXT_KEY, context_value(context))
            .send()
            .await
            .map_err(|e| call_error("Decrypt", e))?;
        let plain = Zeroizing::new(out.plaintext.map(Blob::into_inner).unwrap_or_default());
        if plain.len() != 32 {
            return Err(KmsError::Unwrap);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_arns_are_recognised() {
        assert!(is_key_arn("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_key_arn("arn:aws-cn:kms:cn-north-1:123456789012:key/k"));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:123456789012:alias/backups"));
        assert!(!is_key_arn("lk-0011223344556677"));
        assert!(!is_key_arn("arn:aws:s3:::bucket"));
        assert!(!is_key_arn("1234abcd-12ab-34cd-56ef-1234567890ab"));
    }
}

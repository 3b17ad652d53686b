//! Reading the answers of other HTTP servers (the operator's custodian
//! webhook, Firebase's key endpoint) with a cap on their size.
//!
//! `reqwest::Response::bytes` reads a whole answer before anything can be
//! checked, and a chunked answer has no `Content-Length` to check first: a
//! server answering with gigabytes would grow the service's memory by as
//! much. [`read_capped`] reads chunk by chunk and gives up past its cap.

/// Why an answer's body was not read.
#[derive(Debug)]
pub enum ReadError {
    /// The body is (or says it is) longer than the cap, in bytes.
    TooLarge(usize),
    /// The connection failed or timed out while reading; the message has no URL.
    Http {
        /// Whether the client's overall timeout ran out.
        timeout: bool,
        /// What failed.
        message: String,
    },
}

impl ReadError {
    /// Whether reading timed out (the client's overall timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Http { timeout: true, .. })
    }
}

impl From<reqwest::Error> for ReadError {
    fn from(e: reqwest::Error) -> Self {
        // Without the URL: a webhook URL is never logged.
        Self::Http { timeout: e.is_timeout(), message: e.without_url().to_string() }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(cap) => write!(f, "the answer is larger than {cap} bytes"),
            Self::Http { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads at most `cap` bytes of `response`'s body; a longer body is
/// [`ReadError::TooLarge`], and the rest is never read (the connection is
/// dropped with the response).
pub async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(ReadError::TooLarge(cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if chunk.len() > cap - body.len() {
            return Err(ReadError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

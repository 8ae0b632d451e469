//! A node's API as a light-block provider: `GET /v1/light_blocks/{height | latest}`. Nothing
//! it answers is trusted; the light client checks every block.

use std::io::Read;
use std::time::Duration;

use lightclient::light::{LightBlock, Provider, ProviderError};

/// Answers larger than this are refused (a light block of a large set is a few hundred KB).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Why a GET gave no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fetch {
    /// The node answered 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else.
    #[error(transparent)]
    Failed(ProviderError),
}

/// One node.
#[derive(Debug, Clone)]
pub struct HttpProvider {
    base: String,
    http: reqwest::blocking::Client,
}

impl HttpProvider {
    /// A provider for the node at `base` (`http://host:port`).
    pub fn new(base: &str) -> Result<Self, ProviderError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| ProviderError::Unreachable(e.to_string()))?;
        Ok(HttpProvider {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// GETs `path` below the node's base and returns the body of a 200.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, Fetch> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .map_err(|e| Fetch::Failed(ProviderError::Unreachable(format!("{url}: {e}"))))?;
        let status = response.status();
        // Read at most one byte past the limit, so a hostile node cannot make us buffer more.
        let mut body = Vec::new();
        let limit = u64::try_from(MAX_BODY)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        response
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| Fetch::Failed(ProviderError::Unreachable(format!("{url}: {e}"))))?;
        if body.len() > MAX_BODY {
            return Err(Fetch::Failed(ProviderError::Malformed(format!(
                "{url}: an answer of more than {MAX_BODY} bytes"
            ))));
        }
        let text = || String::from_utf8_lossy(&body).into_owned();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Fetch::NotFound(format!("{url}: {}", text())));
        }
        if !status.is_success() {
            return Err(Fetch::Failed(ProviderError::Unreachable(format!(
                "{url}: HTTP {status}: {}",
                text()
            ))));
        }
        Ok(body)
    }
}

impl Provider for HttpProvider {
    fn id(&self) -> String {
        self.base.clone()
    }

    fn light_block(&mut self, height: Option<u64>) -> Result<LightBlock, ProviderError> {
        let path = match height {
            Some(h) => format!("/v1/light_blocks/{h}"),
            None => "/v1/light_blocks/latest".to_string(),
        };
        let body = self.get(&path).map_err(|e| match (e, height) {
            (Fetch::NotFound(_), Some(h)) => ProviderError::NotFound(h),
            (Fetch::NotFound(message), None) => ProviderError::Malformed(message),
            (Fetch::Failed(error), _) => error,
        })?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Malformed(e.to_string()))
    }
}

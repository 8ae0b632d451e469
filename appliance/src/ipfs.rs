//! A small typed client of the Kubo RPC API (`/api/v0`): `version`, `add`, `cat`, `pin/add`.
//!
//! ADR 0008 says why this is not `ipfs-api-backend-hyper`: that crate does not resolve from a
//! fresh lockfile, and it fails to parse `add` replies whose `Size` is a number (js-ipfs) rather
//! than a string (Kubo). This client accepts both, speaks only the four calls the publisher
//! needs, and runs on the HTTP stack the node already has.

use std::time::Duration;

use serde::Deserialize;

/// The `add` options that make the daemon's CID the one [`lightclient::cid::cid_v0`] computes:
/// Kubo's defaults, spelled out so a daemon configured otherwise cannot change them.
const ADD_OPTIONS: &str =
    "cid-version=0&hash=sha2-256&chunker=size-262144&raw-leaves=false&pin=true&progress=false";

/// Why an IPFS call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpfsError {
    /// The configured API address is not an http(s) URL.
    #[error("IPFS API address {0:?} is not an http(s) URL")]
    InvalidUrl(String),
    /// No HTTP answer (connection refused, timeout).
    #[error("IPFS daemon unreachable at {endpoint}: {reason}")]
    Unreachable {
        /// The call.
        endpoint: String,
        /// Transport error.
        reason: String,
    },
    /// The daemon answered with an error.
    #[error("IPFS {endpoint} failed with HTTP {status}: {message}")]
    Api {
        /// The call.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The daemon's `Message`, or the body.
        message: String,
    },
    /// An answer that is not what the API documents.
    #[error("IPFS {endpoint} answered something unreadable: {reason}")]
    Decode {
        /// The call.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The daemon stored the bytes under another CID than Kubo's defaults give.
    #[error("IPFS daemon added the mapping as {daemon}, expected {expected}")]
    CidMismatch {
        /// The CID computed from the bytes.
        expected: String,
        /// The CID the daemon returned.
        daemon: String,
    },
    /// `cat` of the CID returned other bytes than were added.
    #[error("IPFS daemon returns other bytes for {cid} than were added")]
    ContentMismatch {
        /// The CID.
        cid: String,
    },
}

/// What `add` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The CID.
    pub cid: String,
    /// The DAG's cumulative size.
    pub size: u64,
}

/// A Kubo RPC client.
#[derive(Debug, Clone)]
pub struct KuboClient {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct VersionReply {
    #[serde(rename = "Version")]
    version: String,
}

#[derive(Deserialize)]
struct AddReply {
    #[serde(rename = "Hash")]
    hash: String,
    #[serde(rename = "Size", deserialize_with = "size_from_string_or_number")]
    size: u64,
}

#[derive(Deserialize)]
struct PinReply {
    #[serde(rename = "Pins")]
    pins: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorReply {
    #[serde(rename = "Message")]
    message: String,
}

/// Kubo sends `"Size": "123"`; js-ipfs sends `"Size": 123`.
fn size_from_string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Number(n) => Ok(n),
        Size::Text(t) => t.parse().map_err(serde::de::Error::custom),
    }
}

/// Parses the last JSON object of an `add` reply (one object per line; the last names the
/// file when several are added, and there is only one here).
pub fn parse_add_reply(body: &[u8]) -> Result<Added, IpfsError> {
    let decode = |reason: String| IpfsError::Decode {
        endpoint: "add".into(),
        reason,
    };
    let text = std::str::from_utf8(body).map_err(|e| decode(e.to_string()))?;
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| decode("empty reply".into()))?;
    let reply: AddReply = serde_json::from_str(last).map_err(|e| decode(e.to_string()))?;
    Ok(Added {
        cid: reply.hash,
        size: reply.size,
    })
}

fn decode<T: serde::de::DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, IpfsError> {
    serde_json::from_slice(body).map_err(|e| IpfsError::Decode {
        endpoint: endpoint.into(),
        reason: e.to_string(),
    })
}

/// The version string of a `version` reply.
pub fn parse_version_reply(body: &[u8]) -> Result<String, IpfsError> {
    Ok(decode::<VersionReply>("version", body)?.version)
}

/// The CIDs a `pin/add` reply names.
pub fn parse_pin_reply(body: &[u8]) -> Result<Vec<String>, IpfsError> {
    Ok(decode::<PinReply>("pin/add", body)?.pins)
}

/// The message of an error reply: its `Message` field, or the body itself when it has none.
pub fn parse_error_reply(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorReply>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}

impl KuboClient {
    /// A client of the RPC API at `api` (e.g. `http://127.0.0.1:5001`); nothing is contacted.
    pub fn new(api: &str, timeout: Duration) -> Result<Self, IpfsError> {
        if !(api.starts_with("http://") || api.starts_with("https://")) {
            return Err(IpfsError::InvalidUrl(api.into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| IpfsError::InvalidUrl(format!("{api}: {e}")))?;
        Ok(KuboClient {
            base: format!("{}/api/v0", api.trim_end_matches('/')),
            http,
        })
    }

    /// Every RPC call is a POST; the body of a success is returned.
    async fn call(
        &self,
        endpoint: &str,
        query: &str,
        form: Option<reqwest::multipart::Form>,
    ) -> Result<Vec<u8>, IpfsError> {
        let mut url = format!("{}/{endpoint}", self.base);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let mut request = self.http.post(&url);
        if let Some(form) = form {
            request = request.multipart(form);
        }
        let response = request.send().await.map_err(|e| IpfsError::Unreachable {
            endpoint: endpoint.into(),
            reason: e.to_string(),
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| IpfsError::Unreachable {
            endpoint: endpoint.into(),
            reason: e.to_string(),
        })?;
        if !status.is_success() {
            let message = parse_error_reply(&body);
            return Err(IpfsError::Api {
                endpoint: endpoint.into(),
                status: status.as_u16(),
                message,
            });
        }
        Ok(body.to_vec())
    }

    /// The daemon's version string.
    pub async fn version(&self) -> Result<String, IpfsError> {
        let body = self.call("version", "", None).await?;
        parse_version_reply(&body)
    }

    /// Adds `bytes` as one file with Kubo's default options (`CIDv0`, pinned).
    pub async fn add(&self, bytes: &[u8]) -> Result<Added, IpfsError> {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name("mapping.json")
            .mime_str("application/octet-stream")
            .map_err(|e| IpfsError::Decode {
                endpoint: "add".into(),
                reason: e.to_string(),
            })?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let body = self.call("add", ADD_OPTIONS, Some(form)).await?;
        parse_add_reply(&body)
    }

    /// The bytes of the file `cid`.
    pub async fn cat(&self, cid: &str) -> Result<Vec<u8>, IpfsError> {
        self.call("cat", &format!("arg={}", encode_arg(cid)), None)
            .await
    }

    /// Pins `cid` (recursively); returns the pinned CIDs.
    pub async fn pin_add(&self, cid: &str) -> Result<Vec<String>, IpfsError> {
        let body = self
            .call("pin/add", &format!("arg={}", encode_arg(cid)), None)
            .await?;
        parse_pin_reply(&body)
    }

    /// Adds, pins and reads back `bytes`, and checks the daemon agrees with `expected_cid` on both
    /// the CID and the content.
    pub async fn publish(&self, bytes: &[u8], expected_cid: &str) -> Result<(), IpfsError> {
        let added = self.add(bytes).await?;
        if added.cid != expected_cid {
            return Err(IpfsError::CidMismatch {
                expected: expected_cid.into(),
                daemon: added.cid,
            });
        }
        self.pin_add(expected_cid).await?;
        if self.cat(expected_cid).await? != bytes {
            return Err(IpfsError::ContentMismatch {
                cid: expected_cid.into(),
            });
        }
        Ok(())
    }
}

/// CIDs are base58 or base32 text; anything else is percent-encoded so it stays one argument.
fn encode_arg(arg: &str) -> String {
    arg.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn add_replies_of_kubo_and_js_ipfs_both_parse() {
        let kubo = br#"{"Name":"mapping.json","Hash":"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o","Size":"20"}
"#;
        let js = br#"{"Name":"mapping.json","Hash":"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o","Size":20}"#;
        let expected = Added {
            cid: "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o".into(),
            size: 20,
        };
        assert_eq!(parse_add_reply(kubo).unwrap(), expected);
        assert_eq!(parse_add_reply(js).unwrap(), expected);
    }

    #[test]
    fn bad_add_replies_are_decode_errors() {
        for body in [
            &b""[..],
            b"{}",
            b"{\"Hash\":\"Qm\",\"Size\":\"x\"}",
            b"\xff",
        ] {
            assert!(
                matches!(parse_add_reply(body), Err(IpfsError::Decode { ref endpoint, .. }) if endpoint == "add"),
                "{body:?}"
            );
        }
    }

    #[test]
    fn non_http_addresses_are_refused() {
        assert_eq!(
            KuboClient::new("/ip4/127.0.0.1/tcp/5001", Duration::from_secs(1)).err(),
            Some(IpfsError::InvalidUrl("/ip4/127.0.0.1/tcp/5001".into()))
        );
    }

    #[test]
    fn arguments_stay_one_query_parameter() {
        assert_eq!(encode_arg("Qm1&x=y"), "Qm1%26x%3Dy");
    }

    proptest::proptest! {
        #[test]
        fn add_reply_parsing_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse_add_reply(&body);
        }
    }
}

//! The mempool relay (ADR 0011): every transaction a client gave this node is pushed to every
//! other validator's `/v1/mempool/relay`, in arrival order, until that peer has answered for it.
//! A peer that is down is retried with capped back-off for as long as it takes; since the
//! mempool log survives a crash, so does the relay's work (a restarted node sends its restored
//! transactions again, and peers answer `duplicate` for what they hold).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::Addr;
use lightclient::encoding::Encode;
use serde_json::Value;

use super::actors::{Inspect, MempoolActor, Metrics};
use crate::mempool::Mempool;

/// Where and how the relay sends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    /// The other validators' API base URLs (`http://10.0.0.2:8080`).
    #[serde(default)]
    pub peers: Vec<String>,
    /// Most transactions per request.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Timeout of one request, ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The longest wait between retries while a peer is down, ms.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            peers: Vec::new(),
            batch: default_batch(),
            timeout_ms: default_timeout_ms(),
            retry_max_ms: default_retry_max_ms(),
        }
    }
}

fn default_batch() -> usize {
    500
}

fn default_timeout_ms() -> u64 {
    5_000
}

fn default_retry_max_ms() -> u64 {
    2_000
}

/// Why one push to a peer failed.
#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("peer answered {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("peer's answer is not a relay result: {0}")]
    Answer(String),
    #[error("the mempool is not answering")]
    Mempool,
}

/// Starts one relay loop per peer on the current runtime.
pub fn spawn(settings: &RelaySettings, mempool: &Addr<MempoolActor>, metrics: &Arc<Metrics>) {
    for peer in &settings.peers {
        let peer = PeerRelay {
            url: format!("{}/v1/mempool/relay", peer.trim_end_matches('/')),
            settings: settings.clone(),
            mempool: mempool.clone(),
            metrics: Arc::clone(metrics),
        };
        actix_web::rt::spawn(peer.run());
    }
}

struct PeerRelay {
    url: String,
    settings: RelaySettings,
    mempool: Addr<MempoolActor>,
    metrics: Arc<Metrics>,
}

impl PeerRelay {
    async fn run(self) {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_millis(self.settings.timeout_ms))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(peer = %self.url, error = %e, "cannot build the relay's HTTP client");
                return;
            }
        };
        let mut sent_up_to: Option<u64> = None;
        let mut failing = false;
        let mut backoff = Duration::from_millis(50);
        let max_backoff = Duration::from_millis(self.settings.retry_max_ms.max(50));
        loop {
            match self.push(&client, sent_up_to).await {
                Ok(Some(last)) => {
                    sent_up_to = Some(last);
                    if failing {
                        tracing::info!(peer = %self.url, "relay to peer resumed");
                        failing = false;
                    }
                    backoff = Duration::from_millis(50);
                }
                Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => {
                    if !failing {
                        tracing::warn!(peer = %self.url, error = %e, "relay to peer failed; retrying until it answers");
                        failing = true;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(max_backoff);
                }
            }
        }
    }

    /// Sends the next batch after `after`; the position of its last transaction once the peer
    /// has answered for all of them, `None` when nothing waits.
    async fn push(
        &self,
        client: &reqwest::Client,
        after: Option<u64>,
    ) -> Result<Option<u64>, PushError> {
        let max = self.settings.batch.max(1);
        let batch = self
            .mempool
            .send(Inspect(Box::new(move |m: &Mempool| {
                m.local_after(after, max)
            })))
            .await
            .map_err(|_| PushError::Mempool)?
            .map_err(|()| PushError::Mempool)?;
        let Some(&(last, _)) = batch.last() else {
            return Ok(None);
        };
        let encoded: Vec<String> = batch
            .iter()
            .map(|(_, tx)| hex::encode(tx.to_bytes()))
            .collect();
        let response = client
            .post(&self.url)
            .json(&serde_json::json!({ "transactions": encoded }))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(PushError::Status { status, body });
        }
        let answer: Value = response.json().await?;
        let results = answer
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| PushError::Answer(answer.to_string()))?;
        if results.len() != batch.len() {
            return Err(PushError::Answer(format!(
                "{} results for {} transactions",
                results.len(),
                batch.len()
            )));
        }
        for (result, (_, tx)) in results.iter().zip(&batch) {
            if result.get("status").and_then(Value::as_str) == Some("refused") {
                // The peer's state refuses it (for instance it has not yet committed the
                // registration of its signer); its proposer will not include it, ours may.
                tracing::debug!(peer = %self.url, txid = %tx.txid(), answer = %result, "peer refused a relayed transaction");
            }
        }
        self.metrics.relayed.fetch_add(
            u64::try_from(batch.len()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
        Ok(Some(last))
    }
}

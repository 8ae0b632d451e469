//! The mempool relay (ADR 0011): every transaction a client gave this node is pushed to every
//! other validator's `/v1/mempool/relay`, in arrival order, until that peer has answered for it.
//! A peer that is down is retried with capped back-off for as long as it takes; since the
//! mempool log survives a crash, so does the relay's work (a restarted node sends its restored
//! transactions again, and peers answer `duplicate` for what they hold). A transaction a peer
//! refuses only because its state is behind (it has not yet committed the signer's registration)
//! is sent again a few times over the next seconds.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::Addr;
use lightclient::encoding::Encode;
use lightclient::tx::SignedTransaction;
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

/// A transaction a peer refused because its state was behind ours, sent again later.
struct Retry {
    due: Instant,
    attempts: u32,
    tx: SignedTransaction,
}

/// How often such a transaction is sent again, and how long apart (times the attempt).
const MAX_RETRIES: u32 = 10;
const RETRY_AFTER: Duration = Duration::from_millis(500);

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
        let mut retries: std::collections::VecDeque<Retry> = std::collections::VecDeque::new();
        let mut failing = false;
        let mut backoff = Duration::from_millis(50);
        let max_backoff = Duration::from_millis(self.settings.retry_max_ms.max(50));
        loop {
            let due: Vec<Retry> = {
                let now = Instant::now();
                let count = retries.iter().take_while(|r| r.due <= now).count();
                retries
                    .drain(..count.min(self.settings.batch.max(1)))
                    .collect()
            };
            let outcome = if due.is_empty() {
                self.next_batch(sent_up_to)
                    .await
                    .map(|batch| (batch, Vec::new()))
            } else {
                Ok((Vec::new(), due))
            };
            let (batch, due) = match outcome {
                Ok(found) => found,
                Err(e) => {
                    tracing::error!(error = %e, "the relay cannot read the mempool");
                    tokio::time::sleep(max_backoff).await;
                    continue;
                }
            };
            if batch.is_empty() && due.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let txs: Vec<&SignedTransaction> = batch
                .iter()
                .map(|(_, tx)| tx)
                .chain(due.iter().map(|r| &r.tx))
                .collect();
            match self.send(&client, &txs).await {
                Ok(refused_for_now) => {
                    if let Some(&(last, _)) = batch.last() {
                        sent_up_to = Some(last);
                    }
                    let attempts: Vec<u32> = std::iter::repeat_n(0, batch.len())
                        .chain(due.iter().map(|r| r.attempts))
                        .collect();
                    for (i, tx) in refused_for_now {
                        let attempts = attempts.get(i).copied().unwrap_or(0).saturating_add(1);
                        if attempts <= MAX_RETRIES {
                            retries.push_back(Retry {
                                due: Instant::now()
                                    .checked_add(RETRY_AFTER.saturating_mul(attempts))
                                    .unwrap_or_else(Instant::now),
                                attempts,
                                tx,
                            });
                        }
                    }
                    if failing {
                        tracing::info!(peer = %self.url, "relay to peer resumed");
                        failing = false;
                    }
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    // Nothing was delivered: the batch is read again, and the retries wait.
                    retries.extend(due);
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

    /// The next transactions from this node's clients after position `after`.
    async fn next_batch(
        &self,
        after: Option<u64>,
    ) -> Result<Vec<(u64, SignedTransaction)>, PushError> {
        let max = self.settings.batch.max(1);
        self.mempool
            .send(Inspect(Box::new(move |m: &Mempool| {
                m.local_after(after, max)
            })))
            .await
            .map_err(|_| PushError::Mempool)?
            .map_err(|()| PushError::Mempool)
    }

    /// Sends `txs` and returns those the peer refused only because its state is behind (their
    /// index in `txs`): it has not yet committed the signer's registration or new key.
    async fn send(
        &self,
        client: &reqwest::Client,
        txs: &[&SignedTransaction],
    ) -> Result<Vec<(usize, SignedTransaction)>, PushError> {
        let encoded: Vec<String> = txs.iter().map(|tx| hex::encode(tx.to_bytes())).collect();
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
        if results.len() != txs.len() {
            return Err(PushError::Answer(format!(
                "{} results for {} transactions",
                results.len(),
                txs.len()
            )));
        }
        let mut behind = Vec::new();
        for (i, (result, tx)) in results.iter().zip(txs).enumerate() {
            if result.get("status").and_then(Value::as_str) != Some("refused") {
                continue;
            }
            let error = result.get("error").and_then(Value::as_str).unwrap_or("");
            if matches!(error, "unknown_signer" | "wrong_key") {
                behind.push((i, (*tx).clone()));
            } else {
                tracing::debug!(peer = %self.url, txid = %tx.txid(), answer = %result, "peer refused a relayed transaction");
            }
        }
        self.metrics.relayed.fetch_add(
            u64::try_from(txs.len().saturating_sub(behind.len())).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
        Ok(behind)
    }
}

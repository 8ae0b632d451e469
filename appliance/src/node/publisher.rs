//! The IPFS publisher: adds and pins every mapping version's exact bytes on the configured
//! daemon, checks the daemon's CID and content against what the bytes give, and records the
//! publication in the store.
//!
//! It reads committed versions from the store and never holds the chain: while IPFS is down,
//! blocks go on being decided and the publisher retries with exponential back-off, logging one
//! warning per outage. Versions are published oldest first, each once.

use std::time::Duration;

use crate::ipfs::{IpfsError, KuboClient};
use crate::store::{Publication, Store, StoreError};

use super::config::IpfsSettings;

/// Why one publication step failed (logged; retried with back-off).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The daemon failed, is unreachable, or disagrees with the bytes.
    #[error(transparent)]
    Ipfs(#[from] IpfsError),
    /// The store could not be read or written.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The publisher.
#[derive(Debug)]
pub struct Publisher {
    client: KuboClient,
    store: Store,
    poll: Duration,
    max_backoff: Duration,
}

impl Publisher {
    /// A publisher of `store`'s mapping versions to the daemon in `settings`.
    pub fn new(settings: &IpfsSettings, store: Store) -> Result<Self, IpfsError> {
        Ok(Publisher {
            client: KuboClient::new(&settings.api, Duration::from_millis(settings.timeout_ms))?,
            store,
            poll: Duration::from_millis(settings.poll_ms.max(50)),
            max_backoff: Duration::from_millis(settings.retry_max_ms.max(100)),
        })
    }

    /// Publishes every version not yet pinned, oldest first; returns how many it published.
    pub async fn step(&self) -> Result<usize, PublishError> {
        let mut published = 0usize;
        for sequence in self.store.mapping_sequences()? {
            if self.store.publication(sequence)? != Publication::Pending {
                continue;
            }
            let Some(version) = self.store.mapping_version(sequence)? else {
                continue;
            };
            self.client.publish(&version.bytes, &version.cid).await?;
            self.store.put_publication(sequence, now_ms())?;
            tracing::info!(sequence, cid = %version.cid, hash = %version.hash, "mapping published to IPFS");
            published = published.saturating_add(1);
        }
        Ok(published)
    }

    /// Runs forever.
    pub async fn run(self) {
        let mut backoff = self.poll;
        let mut failing = false;
        loop {
            match self.step().await {
                Ok(_) => {
                    if failing {
                        tracing::info!("IPFS publication working again");
                    }
                    failing = false;
                    backoff = self.poll;
                    tokio::time::sleep(self.poll).await;
                }
                Err(e) => {
                    if failing {
                        tracing::debug!(error = %e, retry_in_ms = backoff.as_millis(), "IPFS publication failed");
                    } else {
                        tracing::warn!(error = %e, "IPFS publication failed; retrying with back-off");
                        failing = true;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(self.max_backoff);
                }
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

//! The next mapping object, drafted from the ledger for controllers to review and sign.
//!
//! The draft is a pure function of the committed state and the tip (height and time), so every
//! node drafts the same bytes and controllers can fetch it from any of them. It takes the mapping
//! in force, allocates the items of every pending issuance request in full to its asset, and
//! consolidates every pending redemption of an allocated asset by the smallest-sufficient-bar rule
//! ([`super::remap`]), oldest first. A redemption that cannot be consolidated is left out, with
//! the later ones of its asset (the ledger burns whole redemptions in order); the draft says why.

use std::collections::BTreeMap;

use lightclient::amount::format_amount;
use lightclient::hash::Hash32;
use lightclient::keys::AssetId;
use lightclient::mapping::{ControllerPolicy, MappedAsset, Mapping, MappingError};

use super::remap::{Allocations, RemapError, consolidate};
use super::state::{LedgerState, RequestKind, RequestStatus};

/// A drafted mapping and what it changes.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The unsigned mapping.
    pub mapping: Mapping,
    /// Issuance requests it completes.
    pub issuances: Vec<u64>,
    /// Redemption requests it completes.
    pub redemptions: Vec<u64>,
    /// Bars it frees (released to redeemers when the update commits).
    pub released: Vec<String>,
    /// Redemptions left out, with the reason.
    pub deferred: Vec<(u64, RemapError)>,
    /// The draft maps exactly what the mapping in force maps (same bars, amounts, locations):
    /// there is nothing to sign.
    pub unchanged: bool,
}

/// Why no draft could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DraftError {
    /// The mapping in force does not parse (a ledger bug).
    #[error("the mapping in force: {0}")]
    Current(MappingError),
    /// The draft is not a valid mapping.
    #[error("the draft: {0}")]
    Draft(MappingError),
    /// An allocation names an item or asset the ledger does not know (a ledger bug).
    #[error("the mapping names unknown {0}")]
    Unknown(String),
}

/// Why a controller's posted copy of the draft was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PostedDraftError {
    /// The body is not a mapping, or a signature on it is not a controller's valid signature.
    #[error("{0}")]
    Refused(MappingError),
    /// The body is a mapping, but not the current draft: it signs another digest.
    #[error("the posted mapping signs {posted}; the current draft is {current}")]
    Stale {
        /// The digest the posted mapping signs.
        posted: Hash32,
        /// The current draft's digest.
        current: Hash32,
    },
    /// The current draft has no digest (a ledger bug).
    #[error("the draft: {0}")]
    Draft(MappingError),
}

/// Checks a controller's post of `draft`: the body must be the draft itself (same signing
/// digest), and every signature on it must be a controller's and verify. Returns the mapping as
/// posted, whose signatures can then be collected, and the draft's signing digest. One valid
/// signature is enough: the threshold is reached by collecting posts.
pub fn check_posted_draft(
    draft: &Mapping,
    policy: &ControllerPolicy,
    body: &[u8],
) -> Result<(Mapping, Hash32), PostedDraftError> {
    let posted = Mapping::parse(body, policy.precision).map_err(PostedDraftError::Refused)?;
    let current = draft.signing_digest().map_err(PostedDraftError::Draft)?;
    let digest = posted.signing_digest().map_err(PostedDraftError::Refused)?;
    if digest != current {
        return Err(PostedDraftError::Stale {
            posted: digest,
            current,
        });
    }
    ControllerPolicy {
        threshold: 1,
        ..policy.clone()
    }
    .verify(&posted, &draft.chain, None)
    .map_err(PostedDraftError::Refused)?;
    Ok((posted, current))
}

impl LedgerState {
    /// Drafts the next mapping at tip `height`, dated `time_ms` (the tip's time).
    pub fn draft_mapping(&self, height: u64, time_ms: u64) -> Result<Draft, DraftError> {
        let precision = self.controllers.precision;
        let current =
            Mapping::parse(&self.mapping.bytes, precision).map_err(DraftError::Current)?;
        let mut allocations = Allocations::new();
        for (entry, units) in current.amounts() {
            allocations.insert((entry.vref.clone(), entry.assetid), units);
        }
        let masses: BTreeMap<String, u128> = self
            .items
            .values()
            .filter(|i| !i.retired)
            .map(|i| (i.serial.clone(), i.mass))
            .collect();
        let mut issuances = Vec::new();
        let mut redemptions = Vec::new();
        let mut deferred = Vec::new();
        let mut blocked: Vec<AssetId> = Vec::new();
        for request in self
            .requests
            .values()
            .filter(|r| r.status == RequestStatus::Pending)
        {
            match &request.kind {
                RequestKind::Issuance { asset, serials, .. } => {
                    for serial in serials {
                        let mass = masses
                            .get(serial)
                            .ok_or_else(|| DraftError::Unknown(format!("item {serial}")))?;
                        allocations.insert((serial.clone(), *asset), *mass);
                    }
                    issuances.push(request.id);
                }
                RequestKind::Redemption { asset, amount, .. }
                    if self.mapping.totals.contains_key(asset) =>
                {
                    if blocked.contains(asset) {
                        continue;
                    }
                    match consolidate(&allocations, &masses, &BTreeMap::from([(*asset, *amount)])) {
                        Ok(out) => {
                            allocations = out.allocations;
                            redemptions.push(request.id);
                        }
                        Err(e) => {
                            blocked.push(*asset);
                            deferred.push((request.id, e));
                        }
                    }
                }
                _ => {}
            }
        }
        let released = current
            .assets
            .iter()
            .map(|e| e.vref.clone())
            .filter(|serial| !allocations.keys().any(|(s, _)| s == serial))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut assets = Vec::with_capacity(allocations.len());
        for ((serial, asset), units) in &allocations {
            let item = self
                .items
                .get(serial)
                .ok_or_else(|| DraftError::Unknown(format!("item {serial}")))?;
            let issuer = self
                .allocated_issuers
                .get(asset)
                .map(|(issuer, _)| *issuer)
                .ok_or_else(|| DraftError::Unknown(format!("asset {asset}")))?;
            assets.push(MappedAsset {
                assetid: *asset,
                amount: format_amount(*units, precision),
                vref: serial.clone(),
                location: item.location.clone(),
                issuer: issuer.to_string(),
                refiner: item.refiner.clone(),
                fineness: format_amount(u128::from(item.fineness), 1),
            });
        }
        let entries = |list: &[MappedAsset]| {
            let mut sorted = list.to_vec();
            sorted.sort_by(|a, b| (&a.vref, a.assetid).cmp(&(&b.vref, b.assetid)));
            sorted
        };
        let unchanged = entries(&assets) == entries(&current.assets);
        let mapping = Mapping::new(
            self.chain_id.clone(),
            self.mapping.sequence.saturating_add(1),
            height,
            rfc3339_utc(time_ms),
            assets,
            precision,
        )
        .map_err(DraftError::Draft)?;
        Ok(Draft {
            mapping,
            issuances,
            redemptions,
            released,
            deferred,
            unchanged,
        })
    }
}

/// `time_ms` as `YYYY-MM-DDTHH:MM:SSZ` (UTC; civil-from-days, proleptic Gregorian).
pub fn rfc3339_utc(time_ms: u64) -> String {
    let secs = time_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01 (never negative here).
    let z = days.saturating_add(719_468);
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = doe
        .saturating_sub(doe / 1460)
        .saturating_add(doe / 36_524)
        .saturating_sub(doe / 146_096)
        / 365;
    let doy = doe.saturating_sub(
        (365u64.saturating_mul(yoe))
            .saturating_add(yoe / 4)
            .saturating_sub(yoe / 100),
    );
    let mp = (5u64.saturating_mul(doy).saturating_add(2)) / 153;
    let d = doy
        .saturating_sub((153u64.saturating_mul(mp).saturating_add(2)) / 5)
        .saturating_add(1);
    let month = if mp < 10 {
        mp.saturating_add(3)
    } else {
        mp.saturating_sub(9)
    };
    let year = yoe
        .saturating_add(era.saturating_mul(400))
        .saturating_add(u64::from(month <= 2));
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_305_599_999), "2026-11-21T23:59:59Z");
    }

    /// The mapping vector (2-of-3, signed by controllers 0 and 2) as a draft and its posts.
    #[test]
    fn a_posted_draft_must_be_the_draft_signed_by_controllers() {
        let vector: serde_json::Value = serde_json::from_str(include_str!(
            "../../../lightclient/tests/vectors/mapping.json"
        ))
        .unwrap();
        let policy: ControllerPolicy = serde_json::from_value(vector["policy"].clone()).unwrap();
        let published = vector["published"].as_str().unwrap().as_bytes();
        let mut draft = Mapping::parse(published, policy.precision).unwrap();
        draft.signatures.clear();

        let (posted, digest) = check_posted_draft(&draft, &policy, published).unwrap();
        assert_eq!(posted.signatures.len(), 2);
        assert_eq!(digest, draft.signing_digest().unwrap());

        let mut other = draft.clone();
        other.sequence += 1;
        let other_bytes = other.to_json_bytes().unwrap();
        assert_eq!(
            check_posted_draft(&draft, &policy, &other_bytes),
            Err(PostedDraftError::Stale {
                posted: other.signing_digest().unwrap(),
                current: draft.signing_digest().unwrap(),
            })
        );
        assert!(matches!(
            check_posted_draft(&draft, &policy, b"{"),
            Err(PostedDraftError::Refused(MappingError::Json(_)))
        ));
        // The draft itself, unsigned: nothing to collect.
        assert_eq!(
            check_posted_draft(&draft, &policy, &draft.to_json_bytes().unwrap()),
            Err(PostedDraftError::Refused(
                MappingError::NotEnoughSignatures {
                    valid: 0,
                    required: 1
                }
            ))
        );
    }
}

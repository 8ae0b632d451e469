//! Backing, proven: every token of an asset is backed, shown from state proofs against one
//! verified header and, for bars, the controllers' signed mapping.
//!
//! - An **allocated** asset's proven supply must equal the sum of the amounts the mapping in
//!   force allocates to it; the mapping's bytes must hash to the header's mapping hash and carry
//!   n-of-m controller signatures under the genesis policy (the genesis mapping itself is
//!   unsigned and must be byte-identical to the one the genesis file describes).
//! - A **deposit-backed** asset's proven supply must equal the sum of the issued figures of the
//!   asset holders' proven positions, and each position must be covered (settled + unsettled ≥
//!   issued). The sum is what makes the list complete: a node that leaves a position out cannot
//!   make the figures add up.

use std::collections::BTreeSet;

use crate::genesis::Genesis;
use crate::hash::Hash32;
use crate::header::BlockHeader;
use crate::keys::{AccountId, AssetId};
use crate::mapping::{Mapping, MappingError, published_hash};
use crate::state::{AssetEntry, PositionEntry, StateKey, StateProof, StateProofError};
use crate::tx::BackingKind;

/// One state entry as a node served it: the value (`None`: absent) and its proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenEntry {
    /// The entry's value bytes, or `None` for an absent entry.
    pub value: Option<Vec<u8>>,
    /// Its proof against the header's state root.
    pub proof: StateProof,
}

/// What backs an asset, as served for [`verify_backing`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackingEvidence {
    /// The exact bytes of the mapping in force at the header.
    Allocated {
        /// The mapping's bytes.
        mapping: Vec<u8>,
    },
    /// Each asset holder's position in the asset, with its proof.
    DepositBacked {
        /// Asset holder and proven position.
        positions: Vec<(AccountId, ProvenEntry)>,
    },
}

/// What [`verify_backing`] established.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackingReport {
    /// The asset.
    pub asset: AssetId,
    /// Its proven entry (code, backing kind, supply).
    pub entry: AssetEntry,
    /// The header the proofs are against.
    pub height: u64,
    /// The amount that backs the supply: mapped (allocated) or issued by asset holders.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub backed: u128,
    /// The mapping's sequence and the number of controllers who signed it (allocated assets;
    /// `None` signers for the unsigned genesis mapping).
    pub mapping: Option<(u64, Option<usize>)>,
    /// Each asset holder's proven position (deposit-backed assets).
    pub positions: Vec<(AccountId, PositionEntry)>,
}

/// Why backing is not proven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackingError {
    /// A proof does not prove its entry under the header's state root.
    #[error("the proof of {what} fails: {error}")]
    Proof {
        /// Which entry.
        what: String,
        /// Why.
        error: StateProofError,
    },
    /// The asset does not exist at that height.
    #[error("asset {0} is proven absent")]
    UnknownAsset(AssetId),
    /// An entry's value does not decode.
    #[error("{what} does not decode: {reason}")]
    Value {
        /// Which entry.
        what: String,
        /// Why.
        reason: String,
    },
    /// The evidence is for the other kind of backing.
    #[error("asset {asset} is {kind:?}, the evidence is for the other kind")]
    WrongEvidence {
        /// The asset.
        asset: AssetId,
        /// Its proven backing kind.
        kind: BackingKind,
    },
    /// The mapping bytes are not the ones the header commits to.
    #[error("the mapping hashes to {found}, the header commits to {expected}")]
    MappingHash {
        /// The header's mapping hash.
        expected: Hash32,
        /// The served bytes' hash.
        found: Hash32,
    },
    /// The mapping's controller signatures fail under the genesis policy.
    #[error("the mapping's signatures: {0}")]
    MappingSignatures(MappingError),
    /// The supply is not what the mapping allocates.
    #[error("asset {asset} has a proven supply of {supply}, the signed mapping allocates {mapped}")]
    Unbacked {
        /// The asset.
        asset: AssetId,
        /// Proven supply.
        supply: u128,
        /// Mapped total.
        mapped: u128,
    },
    /// An asset holder's assets do not cover its issued tokens.
    #[error("asset holder {holder} issued {issued} but holds {assets} (settled + unsettled)")]
    NotCovered {
        /// The asset holder.
        holder: AccountId,
        /// Issued tokens.
        issued: u128,
        /// Settled plus unsettled.
        assets: i128,
    },
    /// The same asset holder appears twice.
    #[error("asset holder {0} is listed twice")]
    RepeatedHolder(AccountId),
    /// The asset holders' issued figures do not add up to the supply: one is missing.
    #[error(
        "asset holders' proven issued figures add up to {sum}, the proven supply is {supply}: a position is missing"
    )]
    Incomplete {
        /// Sum over the listed positions.
        sum: u128,
        /// Proven supply.
        supply: u128,
    },
    /// A sum overflowed.
    #[error("a sum overflowed")]
    Overflow,
}

impl BackingError {
    /// A stable name for the check that failed.
    pub fn check(&self) -> &'static str {
        match self {
            BackingError::Proof { error, .. } => error.check(),
            BackingError::UnknownAsset(_) => "asset",
            BackingError::Value { .. } => "proof value",
            BackingError::WrongEvidence { .. } => "backing kind",
            BackingError::MappingHash { .. } => "mapping_hash",
            BackingError::MappingSignatures(_) => "mapping_signatures",
            BackingError::Unbacked { .. } => "mapped supply",
            BackingError::NotCovered { .. } => "coverage",
            BackingError::RepeatedHolder(_) | BackingError::Incomplete { .. } => "holders complete",
            BackingError::Overflow => "overflow",
        }
    }
}

/// Checks that `mapping` is the mapping in force at the verified `header`: its bytes hash to the
/// header's mapping hash, and it carries n-of-m controller signatures under the genesis policy
/// (or is byte for byte the unsigned genesis mapping, `None` signers).
pub fn verify_mapping(
    genesis: &Genesis,
    header: &BlockHeader,
    mapping: &[u8],
) -> Result<(Mapping, Option<usize>), BackingError> {
    let found = published_hash(mapping);
    if found != header.mapping_hash {
        return Err(BackingError::MappingHash {
            expected: header.mapping_hash,
            found,
        });
    }
    let policy = &genesis.controllers;
    let initial = genesis
        .initial_mapping()
        .and_then(|m| m.to_json_bytes())
        .map_err(BackingError::MappingSignatures)?;
    if mapping == initial.as_slice() {
        let parsed =
            Mapping::parse(mapping, policy.precision).map_err(BackingError::MappingSignatures)?;
        return Ok((parsed, None));
    }
    let (parsed, signers) = policy
        .parse_and_verify(mapping, &genesis.chain_id, None)
        .map_err(BackingError::MappingSignatures)?;
    Ok((parsed, Some(signers.len())))
}

/// A holder's pro-rata share of one bar.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BarShare {
    /// The bar's serial (the mapping's `vref`).
    pub serial: String,
    /// Its refiner.
    pub refiner: String,
    /// Its vault location.
    pub location: String,
    /// What the mapping allocates of it to the asset, base units.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub allocated: u128,
    /// The holder's share: `allocated × holding ÷ supply`, rounded down.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "crate::amount::u128_string")]
    pub share: u128,
}

/// The bars behind `holding` tokens of `asset` (of `supply` in all), pro rata from the
/// mapping's allocations; empty when the supply is zero. Each share is rounded down, so the
/// shares add up to at most the holding.
pub fn bars_of(
    mapping: &Mapping,
    asset: &AssetId,
    holding: u128,
    supply: u128,
) -> Result<Vec<BarShare>, BackingError> {
    if supply == 0 {
        return Ok(Vec::new());
    }
    mapping
        .amounts()
        .filter(|(entry, _)| entry.assetid == *asset)
        .map(|(entry, allocated)| {
            let share = allocated
                .checked_mul(holding)
                .and_then(|product| product.checked_div(supply))
                .ok_or(BackingError::Overflow)?;
            Ok(BarShare {
                serial: entry.vref.clone(),
                refiner: entry.refiner.clone(),
                location: entry.location.clone(),
                allocated,
                share,
            })
        })
        .collect()
}

fn proven(
    header: &BlockHeader,
    key: &StateKey,
    entry: &ProvenEntry,
    what: impl Fn() -> String,
) -> Result<(), BackingError> {
    entry
        .proof
        .verify(&header.state_root, key, entry.value.as_deref())
        .map_err(|error| BackingError::Proof {
            what: what(),
            error,
        })
}

/// Checks that every token of `asset` is backed at the verified `header` (module docs).
pub fn verify_backing(
    genesis: &Genesis,
    header: &BlockHeader,
    asset: &AssetId,
    asset_entry: &ProvenEntry,
    evidence: &BackingEvidence,
) -> Result<BackingReport, BackingError> {
    proven(header, &StateKey::Asset(*asset), asset_entry, || {
        format!("asset {asset}")
    })?;
    let value = asset_entry
        .value
        .as_deref()
        .ok_or(BackingError::UnknownAsset(*asset))?;
    let entry = AssetEntry::from_value(value).map_err(|e| BackingError::Value {
        what: format!("asset {asset}"),
        reason: e.to_string(),
    })?;
    let supply = entry.issued;
    let mut report = BackingReport {
        asset: *asset,
        entry: entry.clone(),
        height: header.height,
        backed: 0,
        mapping: None,
        positions: Vec::new(),
    };
    match (entry.backing, evidence) {
        (BackingKind::AllocatedPhysical, BackingEvidence::Allocated { mapping }) => {
            let (parsed, signers) = verify_mapping(genesis, header, mapping)?;
            let mapped = parsed.totals().get(asset).copied().unwrap_or(0);
            if mapped != supply {
                return Err(BackingError::Unbacked {
                    asset: *asset,
                    supply,
                    mapped,
                });
            }
            report.backed = mapped;
            report.mapping = Some((parsed.sequence, signers));
        }
        (BackingKind::DepositBacked, BackingEvidence::DepositBacked { positions }) => {
            let mut seen = BTreeSet::new();
            let mut sum: u128 = 0;
            for (holder, proven_position) in positions {
                if !seen.insert(*holder) {
                    return Err(BackingError::RepeatedHolder(*holder));
                }
                proven(
                    header,
                    &StateKey::Position(*holder, *asset),
                    proven_position,
                    || format!("the position of {holder}"),
                )?;
                let position = match &proven_position.value {
                    Some(v) => PositionEntry::from_value(v).map_err(|e| BackingError::Value {
                        what: format!("the position of {holder}"),
                        reason: e.to_string(),
                    })?,
                    None => PositionEntry::default(),
                };
                if !position.is_covered() {
                    return Err(BackingError::NotCovered {
                        holder: *holder,
                        issued: position.issued,
                        assets: position.assets().ok_or(BackingError::Overflow)?,
                    });
                }
                sum = sum
                    .checked_add(position.issued)
                    .ok_or(BackingError::Overflow)?;
                report.positions.push((*holder, position));
            }
            if sum != supply {
                return Err(BackingError::Incomplete { sum, supply });
            }
            report.backed = sum;
        }
        (kind, _) => {
            return Err(BackingError::WrongEvidence {
                asset: *asset,
                kind,
            });
        }
    }
    Ok(report)
}

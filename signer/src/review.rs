//! A human-readable review of a mapping proposal against the current mapping: what controllers
//! read before they sign.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use lightclient::amount::format_amount;
use lightclient::genesis::{Genesis, GenesisError};
use lightclient::header::ChainId;
use lightclient::keys::{AssetId, PublicKey};
use lightclient::mapping::{ControllerPolicy, MappedAsset, Mapping, MappingError};

/// What a controller reviews: a proposal, the mapping in force, and the policy and precision of
/// the chain they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewInput {
    /// The proposed mapping.
    pub proposal: Mapping,
    /// The mapping in force, if any.
    pub current: Option<Mapping>,
    /// The controller policy, when a genesis was given.
    pub policy: Option<ControllerPolicy>,
    /// Decimals of mapped amounts.
    pub precision: u8,
}

/// Why the review input is refused before any review is shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewInputError {
    /// The genesis file does not parse or validate.
    #[error("genesis: {0}")]
    Genesis(GenesisError),
    /// The proposal is not a mapping.
    #[error("proposal is malformed: {0}")]
    Proposal(MappingError),
    /// The current mapping is not a mapping.
    #[error("current mapping is malformed: {0}")]
    Current(MappingError),
    /// The proposal does not advance the sequence.
    #[error("proposal sequence {proposal} is not above the current {current}")]
    StaleSequence {
        /// The proposal's sequence.
        proposal: u64,
        /// The current mapping's sequence.
        current: u64,
    },
    /// The proposal names another chain than the genesis.
    #[error("proposal is for chain {proposal}, genesis is {genesis}")]
    WrongChain {
        /// The proposal's chain.
        proposal: ChainId,
        /// The genesis chain.
        genesis: ChainId,
    },
}

impl ReviewInput {
    /// Parses and cross-checks the files a review reads: `precision` applies when no genesis is
    /// given; with one, its controller policy's precision does.
    pub fn parse(
        genesis: Option<&[u8]>,
        proposal: &[u8],
        current: Option<&[u8]>,
        precision: u8,
    ) -> Result<ReviewInput, ReviewInputError> {
        let genesis = genesis
            .map(Genesis::from_json)
            .transpose()
            .map_err(ReviewInputError::Genesis)?;
        let policy = genesis.as_ref().map(|g| g.controllers.clone());
        let precision = policy.as_ref().map_or(precision, |p| p.precision);
        let proposal = Mapping::parse(proposal, precision).map_err(ReviewInputError::Proposal)?;
        let current = current
            .map(|bytes| Mapping::parse(bytes, precision))
            .transpose()
            .map_err(ReviewInputError::Current)?;
        if let Some(current) = &current
            && proposal.sequence <= current.sequence
        {
            return Err(ReviewInputError::StaleSequence {
                proposal: proposal.sequence,
                current: current.sequence,
            });
        }
        if let Some(genesis) = genesis
            && proposal.chain != genesis.chain_id
        {
            return Err(ReviewInputError::WrongChain {
                proposal: proposal.chain,
                genesis: genesis.chain_id,
            });
        }
        Ok(ReviewInput {
            proposal,
            current,
            policy,
            precision,
        })
    }

    /// The review of this input.
    pub fn review(&self) -> Review {
        Review::new(
            &self.proposal,
            self.current.as_ref(),
            self.policy.as_ref(),
            self.precision,
        )
    }
}

/// What happened to one (asset, item) holding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// New in the proposal.
    Added(MappedAsset),
    /// Gone from the proposal.
    Removed(MappedAsset),
    /// Present in both with another amount or description.
    Changed {
        /// Before.
        before: MappedAsset,
        /// After.
        after: MappedAsset,
    },
}

/// A signature entry as the reviewer should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureStatus {
    /// The controller named: a 1-based position in the genesis policy's keys.
    pub authkey: u64,
    /// The key at that position (unknown without a policy, or out of range).
    pub key: Option<PublicKey>,
    /// Whether `authkey` names one of the policy's controllers (unknown without a policy).
    pub controller: Option<bool>,
    /// Whether the signature verifies over this proposal's digest.
    pub valid: bool,
}

/// The review of one proposal.
#[derive(Debug, Clone)]
pub struct Review {
    proposal: Mapping,
    current_sequence: Option<u64>,
    precision: u8,
    changes: Vec<Change>,
    supply: BTreeMap<AssetId, (u128, u128)>,
    signatures: Vec<SignatureStatus>,
    threshold: Option<(usize, usize)>,
    missing: Vec<PublicKey>,
}

impl Review {
    /// Compares `proposal` with `current` (or with nothing, for the first mapping).
    pub fn new(
        proposal: &Mapping,
        current: Option<&Mapping>,
        policy: Option<&ControllerPolicy>,
        precision: u8,
    ) -> Review {
        let key = |a: &MappedAsset| (a.assetid, a.vref.clone());
        let before: BTreeMap<_, _> = current
            .map(|m| m.assets.iter().map(|a| (key(a), a.clone())).collect())
            .unwrap_or_default();
        let after: BTreeMap<_, _> = proposal
            .assets
            .iter()
            .map(|a| (key(a), a.clone()))
            .collect();
        let mut changes = Vec::new();
        for (k, old) in &before {
            match after.get(k) {
                None => changes.push(Change::Removed(old.clone())),
                Some(new) if new != old => {
                    changes.push(Change::Changed {
                        before: old.clone(),
                        after: new.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        for (k, new) in &after {
            if !before.contains_key(k) {
                changes.push(Change::Added(new.clone()));
            }
        }
        let old_totals = current.map(Mapping::totals).unwrap_or_default();
        let new_totals = proposal.totals();
        let assets: BTreeSet<AssetId> = old_totals
            .keys()
            .chain(new_totals.keys())
            .copied()
            .collect();
        let supply = assets
            .into_iter()
            .map(|a| {
                let old = old_totals.get(&a).copied().unwrap_or(0);
                let new = new_totals.get(&a).copied().unwrap_or(0);
                (a, (old, new))
            })
            .collect();
        let digest = proposal.signing_digest().ok();
        let signatures = proposal
            .signatures
            .iter()
            .map(|entry| {
                let parsed: Option<PublicKey> =
                    policy.and_then(|p| p.key_of(entry.authkey)).copied();
                let signature = format!("{}{}", entry.r, entry.s)
                    .parse::<lightclient::Signature>()
                    .ok();
                let valid = match (parsed, signature, digest) {
                    (Some(k), Some(s), Some(d)) => k.verify_digest(d.as_bytes(), &s).is_ok(),
                    _ => false,
                };
                SignatureStatus {
                    authkey: entry.authkey,
                    key: parsed,
                    controller: policy.map(|_| parsed.is_some()),
                    valid,
                }
            })
            .collect::<Vec<_>>();
        let missing = policy
            .map(|p| {
                p.public_keys
                    .iter()
                    .filter(|k| {
                        !signatures
                            .iter()
                            .any(|s| s.valid && s.key.as_ref() == Some(*k))
                    })
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        Review {
            proposal: proposal.clone(),
            current_sequence: current.map(|m| m.sequence),
            precision,
            changes,
            supply,
            signatures,
            threshold: policy.map(|p| (p.threshold, p.public_keys.len())),
            missing,
        }
    }

    /// The changes, removals first.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Mapped amount per asset before and after, in base units.
    pub fn supply(&self) -> &BTreeMap<AssetId, (u128, u128)> {
        &self.supply
    }

    /// The signature entries.
    pub fn signatures(&self) -> &[SignatureStatus] {
        &self.signatures
    }

    fn amount(&self, units: u128) -> String {
        format_amount(units, self.precision)
    }

    fn signed_delta(&self, old: u128, new: u128) -> String {
        if new >= old {
            format!("+{}", self.amount(new.saturating_sub(old)))
        } else {
            format!("-{}", self.amount(old.saturating_sub(new)))
        }
    }
}

fn bar(a: &MappedAsset) -> String {
    format!(
        "{} (asset {}) {} — refiner {}, fineness {}, at {}, issuer {}",
        a.vref, a.assetid, a.amount, a.refiner, a.fineness, a.location, a.issuer
    )
}

impl fmt::Display for Review {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.proposal;
        let current = self
            .current_sequence
            .map_or("none".to_string(), |s| s.to_string());
        writeln!(f, "Mapping proposal for chain {}", p.chain)?;
        writeln!(
            f,
            "  sequence {} (current {current}), height {}, date {:?}",
            p.sequence, p.height, p.date
        )?;
        if let Ok(digest) = p.signing_digest() {
            writeln!(f, "  digest to sign: {digest}")?;
        }
        let mut out = String::new();
        let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
        for change in &self.changes {
            match change {
                Change::Added(a) => added.push(format!("  + {}", bar(a))),
                Change::Removed(a) => removed.push(format!("  - {}", bar(a))),
                Change::Changed { before, after } => changed.push(format!(
                    "  ~ {} (asset {}): {} -> {}{}",
                    after.vref,
                    after.assetid,
                    before.amount,
                    after.amount,
                    if before.location == after.location {
                        String::new()
                    } else {
                        format!(", location {} -> {}", before.location, after.location)
                    }
                )),
            }
        }
        for (title, lines) in [
            ("Bars added", &added),
            ("Bars removed", &removed),
            ("Bars changed", &changed),
        ] {
            let _ = writeln!(
                out,
                "{title}:{}",
                if lines.is_empty() { " none" } else { "" }
            );
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
        f.write_str(&out)?;
        writeln!(f, "Supply per asset (mapped amount, before -> after):")?;
        let (mut old_total, mut new_total) = (0u128, 0u128);
        for (asset, (old, new)) in &self.supply {
            old_total = old_total.saturating_add(*old);
            new_total = new_total.saturating_add(*new);
            let marker = if old == new { "" } else { "  <- changes" };
            writeln!(
                f,
                "  {asset}: {} -> {} ({}){marker}",
                self.amount(*old),
                self.amount(*new),
                self.signed_delta(*old, *new)
            )?;
        }
        writeln!(
            f,
            "Supply change: {} -> {} ({})",
            self.amount(old_total),
            self.amount(new_total),
            self.signed_delta(old_total, new_total)
        )?;
        match self.threshold {
            Some((n, m)) => writeln!(f, "Signatures ({n} of {m} controllers required):")?,
            None => writeln!(
                f,
                "Signatures (no genesis given: the keys authkeys name are unknown, nothing is checked):"
            )?,
        }
        if self.signatures.is_empty() {
            writeln!(f, "  none yet")?;
        }
        for s in &self.signatures {
            let validity = if s.valid { "valid" } else { "INVALID" };
            match (s.controller, s.key) {
                (Some(true), Some(key)) => {
                    writeln!(
                        f,
                        "  authkey {} ({key}) — controller, {validity}",
                        s.authkey
                    )?;
                }
                (Some(_), _) => writeln!(
                    f,
                    "  authkey {} — NOT A CONTROLLER (no such position in the policy)",
                    s.authkey
                )?,
                (None, _) => writeln!(f, "  authkey {} — unchecked", s.authkey)?,
            }
        }
        for key in &self.missing {
            writeln!(f, "  {key} — not signed yet")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(chain: &str, sequence: u64) -> Vec<u8> {
        format!(
            r#"{{"assets":[{{"amount":"1.5","assetid":"{}","fineness":"999.9","issuer":"i","location":"l","refiner":"r","vref":"AB-1"}}],"chain":"{chain}","date":"2026-11-21T12:00:00Z","height":7,"sequence":{sequence},"signatures":[]}}"#,
            "01".repeat(32)
        )
        .into_bytes()
    }

    #[test]
    fn the_review_input_is_refused_with_its_reason() {
        let proposal = mapping("abt-test-1", 5);
        let input = ReviewInput::parse(None, &proposal, None, 3).unwrap();
        assert_eq!(input.precision, 3);
        assert!(input.review().to_string().contains("AB-1"));
        assert!(matches!(
            ReviewInput::parse(None, b"{", None, 3),
            Err(ReviewInputError::Proposal(MappingError::Json(_)))
        ));
        assert!(matches!(
            ReviewInput::parse(None, &proposal, Some(b"[]"), 3),
            Err(ReviewInputError::Current(MappingError::Json(_)))
        ));
        assert_eq!(
            ReviewInput::parse(None, &proposal, Some(&mapping("abt-test-1", 5)), 3),
            Err(ReviewInputError::StaleSequence {
                proposal: 5,
                current: 5
            })
        );
        assert!(matches!(
            ReviewInput::parse(Some(b"{}"), &proposal, None, 3),
            Err(ReviewInputError::Genesis(_))
        ));
        let vector: serde_json::Value =
            serde_json::from_str(include_str!("../../lightclient/tests/vectors/genesis.json"))
                .unwrap();
        let genesis = serde_json::to_vec(&vector["genesis"]).unwrap();
        let chain = vector["genesis"]["chain_id"].as_str().unwrap();
        let precision = u8::try_from(
            vector["genesis"]["controllers"]["precision"]
                .as_u64()
                .unwrap(),
        )
        .unwrap();
        let input = ReviewInput::parse(Some(&genesis), &mapping(chain, 5), None, 0).unwrap();
        assert_eq!(input.precision, precision);
        assert!(input.policy.is_some());
        assert_eq!(
            ReviewInput::parse(Some(&genesis), &mapping("abt-other-1", 5), None, 3),
            Err(ReviewInputError::WrongChain {
                proposal: ChainId::new("abt-other-1").unwrap(),
                genesis: ChainId::new(chain).unwrap(),
            })
        );
        // One decimal fewer than the amount has: the proposal does not parse.
        assert!(matches!(
            ReviewInput::parse(None, &proposal, None, 0),
            Err(ReviewInputError::Proposal(MappingError::Amount {
                index: 0,
                ..
            }))
        ));
    }
}

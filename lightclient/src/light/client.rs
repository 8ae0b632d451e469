//! The light client's state machine: from what it trusts to a target height through the
//! primary's blocks (sequentially, or skipping with bisection when too little of the trusted set
//! signed the target), then a cross-check of the target with witnesses. Two certified blocks of
//! one height are attack evidence, and the client halts.
//!
//! It does no I/O itself: blocks come through [`Provider`], are kept in a [`LightStore`], and the
//! time is the caller's.

use super::store::{LightStore, Status, StoreError};
use super::verifier::{
    LightBlock, Options, TrustedState, Verdict, VerificationError, double_signers, verify,
};
use crate::hash::Hash32;
use crate::keys::ValidatorAddress;

/// Why a provider could not serve a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// It has no block at that height (yet).
    #[error("no block at height {0}")]
    NotFound(u64),
    /// It could not be reached or did not answer in time.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Its answer is not a light block.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

/// A source of light blocks: a node's API (outside this crate), a file, a test double.
pub trait Provider {
    /// Who this is, for messages (a URL).
    fn id(&self) -> String;
    /// The block at `height`, or the latest when `None`.
    fn light_block(&mut self, height: Option<u64>) -> Result<LightBlock, ProviderError>;
}

/// Two blocks of one height, each certified by more than 2/3 of its set and each reachable from
/// the same trusted state: somebody signed what they must not have.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttackEvidence {
    /// The height of the conflict.
    pub height: u64,
    /// The trusted height both were verified from.
    pub common_height: u64,
    /// The primary's block.
    pub primary: LightBlock,
    /// Which witness served the other.
    pub witness: String,
    /// The witness's block.
    pub conflicting: LightBlock,
    /// Validators who signed both (double signers when the sets are the same).
    pub double_signers: Vec<ValidatorAddress>,
}

/// Why the client did not reach its target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LightClientError {
    /// The client has seen an attack and verifies nothing more.
    #[error("halted: conflicting certified blocks at height {}", .0.height)]
    Halted(Box<AttackEvidence>),
    /// A witness served a conflicting block that verifies: an attack.
    #[error(
        "attack: witness {} serves block {} at height {}, the primary {}",
        .0.witness, .0.conflicting.hash(), .0.height, .0.primary.hash()
    )]
    Attack(Box<AttackEvidence>),
    /// A provider failed.
    #[error("{provider}: {error}")]
    Provider {
        /// Which.
        provider: String,
        /// Why.
        error: ProviderError,
    },
    /// A provider served a block of another height than asked.
    #[error("{provider} was asked for height {asked} and served {served}")]
    WrongHeight {
        /// Which.
        provider: String,
        /// Asked.
        asked: u64,
        /// Served.
        served: u64,
    },
    /// A block the primary served is refused.
    #[error("block {height} from {provider} is refused ({}): {error}", .error.check())]
    Invalid {
        /// Which provider.
        provider: String,
        /// The block's height.
        height: u64,
        /// The check that failed.
        error: VerificationError,
    },
    /// The target is at or below the trusted height and not in the store (backwards
    /// verification is not offered).
    #[error("height {target} is not above the trusted height {trusted}")]
    BelowTrusted {
        /// Asked.
        target: u64,
        /// Trusted.
        trusted: u64,
    },
    /// Witnesses are configured and none could serve the target.
    #[error("no witness could confirm block {height}: {reasons}")]
    NoWitness {
        /// The target.
        height: u64,
        /// What each said.
        reasons: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LightClientError {
    /// The check that failed, where one did.
    pub fn check(&self) -> &'static str {
        match self {
            LightClientError::Halted(_) | LightClientError::Attack(_) => "witness_agreement",
            LightClientError::Invalid { error, .. } => error.check(),
            LightClientError::WrongHeight { .. } => "height",
            LightClientError::Provider { .. } | LightClientError::NoWitness { .. } => "network",
            LightClientError::BelowTrusted { .. } => "height",
            LightClientError::Store(_) => "store",
        }
    }
}

/// A validator-set change the client followed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetChange {
    /// The first verified height certified by the new set.
    pub height: u64,
    /// The set trusted before.
    pub from: Hash32,
    /// The new set.
    pub to: Hash32,
    /// Validators in the new set.
    pub validators: usize,
}

/// What one call to [`LightClient::verify_to_target`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The target block.
    pub block: LightBlock,
    /// How far it is trusted: [`Status::Trusted`] once a witness confirmed it.
    pub status: Status,
    /// Heights verified on the way, in order (empty when the target was already stored).
    pub steps: Vec<u64>,
    /// Validator-set changes followed on the way.
    pub set_changes: Vec<SetChange>,
    /// Witnesses that served a block which does not verify (they are dropped).
    pub faulty_witnesses: Vec<String>,
}

/// The light client.
#[derive(Debug)]
pub struct LightClient<S, P> {
    root: TrustedState,
    options: Options,
    store: S,
    primary: P,
    witnesses: Vec<P>,
    halted: Option<Box<AttackEvidence>>,
}

impl<S: LightStore, P: Provider> LightClient<S, P> {
    /// A client trusting `root` (the genesis or a checkpoint), following `primary` and
    /// cross-checking with `witnesses`.
    pub fn new(
        root: TrustedState,
        options: Options,
        store: S,
        primary: P,
        witnesses: Vec<P>,
    ) -> Self {
        LightClient {
            root,
            options,
            store,
            primary,
            witnesses,
            halted: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The evidence that halted the client, if any.
    pub fn halted(&self) -> Option<&AttackEvidence> {
        self.halted.as_deref()
    }

    /// The highest trusted state below `below` (a stored verified block, else the root), and
    /// the hash of the set that certified it (for the root, the set it names next).
    fn trusted_below(&self, below: u64) -> (TrustedState, Hash32) {
        match self.store.highest_verified_below(below) {
            Some((block, _)) if block.height() > self.root.height => {
                (TrustedState::after(&block), block.header.validator_set_hash)
            }
            _ => (self.root.clone(), self.root.next_validators.hash()),
        }
    }

    /// The highest state the client trusts.
    pub fn latest_trusted(&self) -> TrustedState {
        self.trusted_below(u64::MAX).0
    }

    /// Verifies up to the primary's latest block.
    pub fn verify_to_highest(&mut self, now_ms: u64) -> Result<Verified, LightClientError> {
        let latest = fetch(&mut self.primary, None)?;
        self.verify_to_target(latest.height(), now_ms)
    }

    /// Verifies the primary's block at `height`, then cross-checks it with the witnesses.
    pub fn verify_to_target(
        &mut self,
        height: u64,
        now_ms: u64,
    ) -> Result<Verified, LightClientError> {
        if let Some(evidence) = &self.halted {
            return Err(LightClientError::Halted(evidence.clone()));
        }
        if let Some((block, status)) = self.store.get(height)
            && status.is_trusted_enough()
        {
            return Ok(Verified {
                block,
                status,
                steps: Vec::new(),
                set_changes: Vec::new(),
                faulty_witnesses: Vec::new(),
            });
        }
        let (start, _) = self.trusted_below(height);
        if height <= start.height {
            return Err(LightClientError::BelowTrusted {
                target: height,
                trusted: start.height,
            });
        }
        let mut steps = Vec::new();
        let mut set_changes = Vec::new();
        let block = self.bisect(height, now_ms, &mut steps, &mut set_changes)?;
        let (status, faulty_witnesses) = self.cross_check(&start, &block, now_ms)?;
        if status == Status::Trusted {
            self.store.insert(block.clone(), Status::Trusted)?;
        }
        Ok(Verified {
            block,
            status,
            steps,
            set_changes,
            faulty_witnesses,
        })
    }

    /// From the highest trusted block below `height` to the primary's block at `height`: skip
    /// straight to the target when enough of the trusted set signed it, else verify the block
    /// halfway first.
    fn bisect(
        &mut self,
        height: u64,
        now_ms: u64,
        steps: &mut Vec<u64>,
        set_changes: &mut Vec<SetChange>,
    ) -> Result<LightBlock, LightClientError> {
        let mut pivot = height;
        loop {
            let (trusted, certifying_set) = self.trusted_below(height);
            let block = fetch(&mut self.primary, Some(pivot))?;
            match verify(&block, &trusted, &self.options, now_ms) {
                Verdict::Success => {
                    let from = certifying_set;
                    let to = block.header.validator_set_hash;
                    if from != to {
                        set_changes.push(SetChange {
                            height: pivot,
                            from,
                            to,
                            validators: block.validators.validators().len(),
                        });
                    }
                    steps.push(pivot);
                    self.store.insert(block.clone(), Status::Verified)?;
                    if pivot == height {
                        return Ok(block);
                    }
                    pivot = height;
                }
                Verdict::NotEnoughTrust { .. } => {
                    self.store.insert(block, Status::Unverified)?;
                    // The next block after the trusted one is checked by linkage, never by trust,
                    // so halving always ends.
                    let gap = pivot.saturating_sub(trusted.height);
                    pivot = trusted
                        .height
                        .saturating_add(gap / 2)
                        .max(trusted.height.saturating_add(1));
                }
                Verdict::Invalid(error) => {
                    self.store.insert(block, Status::Failed)?;
                    return Err(LightClientError::Invalid {
                        provider: self.primary.id(),
                        height: pivot,
                        error,
                    });
                }
            }
        }
    }

    /// Asks every witness for the target's height. A witness that serves the same block
    /// confirms it; one that serves another block which verifies from `start` is an attack (the
    /// client halts); one whose block does not verify is faulty and dropped.
    fn cross_check(
        &mut self,
        start: &TrustedState,
        block: &LightBlock,
        now_ms: u64,
    ) -> Result<(Status, Vec<String>), LightClientError> {
        if self.witnesses.is_empty() {
            return Ok((Status::Verified, Vec::new()));
        }
        let height = block.height();
        let mut confirmed = false;
        let mut faulty = Vec::new();
        let mut reasons = Vec::new();
        let mut index = 0;
        while let Some(witness) = self.witnesses.get_mut(index) {
            let id = witness.id();
            match fetch(witness, Some(height)) {
                Err(error) => {
                    reasons.push(error.to_string());
                    index = index.saturating_add(1);
                }
                Ok(theirs) if theirs.hash() == block.hash() => {
                    confirmed = true;
                    index = index.saturating_add(1);
                }
                Ok(theirs) => {
                    match verify_through(witness, start, &theirs, &self.options, now_ms) {
                        Ok(()) => {
                            let evidence = Box::new(AttackEvidence {
                                height,
                                common_height: start.height,
                                double_signers: double_signers(
                                    &block.certificate,
                                    &theirs.certificate,
                                ),
                                primary: block.clone(),
                                witness: id,
                                conflicting: theirs,
                            });
                            self.halted = Some(evidence.clone());
                            return Err(LightClientError::Attack(evidence));
                        }
                        Err(_) => {
                            faulty.push(id);
                            self.witnesses.remove(index);
                        }
                    }
                }
            }
        }
        if confirmed {
            Ok((Status::Trusted, faulty))
        } else if reasons.is_empty() {
            // Every witness was faulty: the block stands verified by the primary alone.
            Ok((Status::Verified, faulty))
        } else {
            Err(LightClientError::NoWitness {
                height,
                reasons: reasons.join("; "),
            })
        }
    }
}

/// Verifies a witness's `target` from `start` through the witness's own blocks (bisecting as the
/// primary's are), without storing them.
fn verify_through<P: Provider>(
    witness: &mut P,
    start: &TrustedState,
    target: &LightBlock,
    options: &Options,
    now_ms: u64,
) -> Result<(), LightClientError> {
    let mut trusted = start.clone();
    let mut candidate = target.clone();
    loop {
        match verify(&candidate, &trusted, options, now_ms) {
            Verdict::Success if candidate.height() == target.height() => return Ok(()),
            Verdict::Success => {
                trusted = TrustedState::after(&candidate);
                candidate = target.clone();
            }
            Verdict::NotEnoughTrust { .. } => {
                let gap = candidate.height().saturating_sub(trusted.height);
                let pivot = trusted
                    .height
                    .saturating_add(gap / 2)
                    .max(trusted.height.saturating_add(1));
                candidate = fetch(witness, Some(pivot))?;
            }
            Verdict::Invalid(error) => {
                return Err(LightClientError::Invalid {
                    provider: witness.id(),
                    height: candidate.height(),
                    error,
                });
            }
        }
    }
}

/// A block from `provider`, which must be of the height asked.
fn fetch<P: Provider>(
    provider: &mut P,
    height: Option<u64>,
) -> Result<LightBlock, LightClientError> {
    let block = provider
        .light_block(height)
        .map_err(|error| LightClientError::Provider {
            provider: provider.id(),
            error,
        })?;
    if let Some(asked) = height
        && block.height() != asked
    {
        return Err(LightClientError::WrongHeight {
            provider: provider.id(),
            asked,
            served: block.height(),
        });
    }
    Ok(block)
}

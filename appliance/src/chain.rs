//! The chain as one node holds it: the ledger state, the state tree and the store, kept in step.
//! It turns a list of transactions into a committed block with a header.

use std::path::Path;

use jmt::Version;
use lightclient::encoding::Encode;
use lightclient::genesis::Genesis;
use lightclient::hash::Hash32;
use lightclient::header::{BlockHeader, HEADER_VERSION};
use lightclient::keys::ValidatorAddress;
use lightclient::merkle;
use lightclient::tx::SignedTransaction;
use lightclient::validator::ValidatorSet;

use crate::ledger::state_tree::{
    MemoryTree, StateKey, StateTreeError, TreeKey, to_state_proof, update_tree,
};
use crate::ledger::{BlockContext, InvariantViolation, LedgerState, Outcome, SignatureCheck};
use crate::store::{BlockWrites, Store, StoreError, StoredBlock};

/// Why a proposed header is not the one this node derives by re-executing its block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderMismatch {
    /// The header commits to another mapping than the one in force after the block.
    #[error("mapping hash {proposed} is not the current mapping's {expected}")]
    MappingHash {
        /// SHA-256 of the mapping in force after the block.
        expected: Hash32,
        /// What the proposal says.
        proposed: Hash32,
    },
    /// The header commits to another state.
    #[error("state root {proposed} is not the re-executed {expected}")]
    StateRoot {
        /// The re-executed root.
        expected: Hash32,
        /// What the proposal says.
        proposed: Hash32,
    },
    /// Another field differs.
    #[error("re-execution gives block {expected}, the proposal says {proposed}")]
    Other {
        /// Hash of the re-executed header.
        expected: Hash32,
        /// Hash of the proposed header.
        proposed: Hash32,
    },
}

/// Checks a proposed header against the one re-execution derived, naming the mapping hash and
/// the state root when they are what differs.
pub fn compare_headers(
    derived: &BlockHeader,
    proposed: &BlockHeader,
) -> Result<(), HeaderMismatch> {
    if derived.mapping_hash != proposed.mapping_hash {
        return Err(HeaderMismatch::MappingHash {
            expected: derived.mapping_hash,
            proposed: proposed.mapping_hash,
        });
    }
    if derived.state_root != proposed.state_root {
        return Err(HeaderMismatch::StateRoot {
            expected: derived.state_root,
            proposed: proposed.state_root,
        });
    }
    if derived != proposed {
        return Err(HeaderMismatch::Other {
            expected: derived.hash(),
            proposed: proposed.hash(),
        });
    }
    Ok(())
}

/// Why the chain could not open or commit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state tree failed.
    #[error(transparent)]
    Tree(#[from] StateTreeError),
    /// A ledger invariant broke: a bug. Nothing of the block was stored.
    #[error("ledger invariant violated, block not committed: {0}")]
    Invariant(#[from] InvariantViolation),
    /// The genesis file is unusable.
    #[error("genesis: {0}")]
    Genesis(String),
    /// The store and its blocks disagree (for instance a header whose state root is not the
    /// stored tree's root).
    #[error("store inconsistent at height {height}: {reason}")]
    Inconsistent {
        /// Where.
        height: u64,
        /// What.
        reason: String,
    },
    /// The state loaded from the store (snapshot plus replayed blocks) is not the state the
    /// stored root commits to: a corrupt snapshot, or a ledger that changed its rules.
    #[error(
        "the state loaded at height {height} has root {recomputed}, but the store's root is {stored}; refusing to start"
    )]
    StateRootMismatch {
        /// The tip height.
        height: u64,
        /// The root stored (and in the tip header).
        stored: Hash32,
        /// The root of the loaded state, computed from scratch.
        recomputed: Hash32,
    },
    /// An earlier commit failed; the in-memory state may be ahead of the store. Reopen.
    #[error("an earlier commit failed; reopen the chain from its store")]
    Poisoned,
}

/// A state entry's value (`None`: absent) with its proof (ADR 0015).
pub type ProvenValue = (Option<Vec<u8>>, lightclient::state::StateProof);

/// What a proposer puts in a block besides transactions.
#[derive(Debug, Clone)]
pub struct BlockInput {
    /// Block time, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The proposer.
    pub proposer: ValidatorAddress,
    /// The transactions, in order.
    pub transactions: Vec<SignedTransaction>,
}

/// A block executed on a copy of the state, ready to be committed once consensus decides it.
#[derive(Debug)]
pub struct PreparedBlock {
    /// The block (without certificate).
    pub block: StoredBlock,
    /// Per-transaction outcomes.
    pub outcomes: Vec<Outcome>,
    state: LedgerState,
    audit: Vec<crate::ledger::AuditEntry>,
    tree: Option<(jmt::storage::TreeUpdateBatch, Version)>,
}

impl PreparedBlock {
    /// The block hash: the value consensus decides on.
    pub fn hash(&self) -> Hash32 {
        self.block.header.hash()
    }
}

/// The chain of one node.
#[derive(Debug)]
pub struct Chain {
    store: Store,
    state: LedgerState,
    genesis: Genesis,
    genesis_hash: Hash32,
    tip: Option<BlockHeader>,
    tree_version: Version,
    snapshot_every: u64,
    poisoned: bool,
}

impl Chain {
    /// Opens the chain stored in `path`, creating it from `genesis` if the store is new. A
    /// snapshot is stored every `snapshot_every` blocks; opening replays the blocks after the
    /// latest one.
    pub fn open(path: &Path, genesis: Genesis, snapshot_every: u64) -> Result<Self, ChainError> {
        let genesis_hash = genesis
            .hash()
            .map_err(|e| ChainError::Genesis(e.to_string()))?;
        let store = Store::open(path)?;
        match store.genesis_hash()? {
            Some(stored) if stored != genesis_hash => {
                return Err(StoreError::GenesisMismatch {
                    stored,
                    given: genesis_hash,
                }
                .into());
            }
            Some(_) => {}
            None => {
                let mut state = LedgerState::from_genesis(&genesis, genesis_hash);
                state.take_state_changes();
                let entries = state.all_state_entries();
                let (root, batch) = update_tree(&store, 0, &entries)?;
                store.init_genesis(&genesis_hash, (&batch, 0, root), &state)?;
            }
        }
        let tip_height = store.tip_height()?;
        let (snapshot_height, mut state) =
            store
                .snapshot_at_or_below(tip_height)?
                .ok_or(ChainError::Inconsistent {
                    height: 0,
                    reason: "no snapshot".into(),
                })?;
        let mut previous = match snapshot_height {
            0 => None,
            h => store.block(h)?.map(|b| b.header),
        };
        for height in snapshot_height.saturating_add(1)..=tip_height {
            let block = store.block(height)?.ok_or(ChainError::Inconsistent {
                height,
                reason: "block missing".into(),
            })?;
            let entropy = previous.as_ref().map_or(genesis_hash, BlockHeader::hash);
            let ctx = BlockContext {
                height,
                time_ms: block.header.time_ms,
                entropy,
            };
            // Committed blocks were verified when they were first applied.
            state.apply_block(&block.transactions, ctx, SignatureCheck::AlreadyVerified)?;
            state.take_audit();
            previous = Some(block.header);
        }
        state.take_state_changes();
        let (tree_version, root) = store.root_at(tip_height)?.ok_or(ChainError::Inconsistent {
            height: tip_height,
            reason: "no state root".into(),
        })?;
        if let Some(header) = &previous
            && header.state_root != root
        {
            return Err(ChainError::Inconsistent {
                height: tip_height,
                reason: format!(
                    "header state root {} but tree root {root}",
                    header.state_root
                ),
            });
        }
        // Every entry of the loaded state, hashed afresh: a snapshot or replay that disagrees
        // with the committed root must not reach consensus (it would propose other roots).
        let recomputed = MemoryTree::default().commit(tip_height, &state.all_state_entries())?;
        if recomputed != root {
            return Err(ChainError::StateRootMismatch {
                height: tip_height,
                stored: root,
                recomputed,
            });
        }
        Ok(Chain {
            store,
            state,
            genesis,
            genesis_hash,
            tip: previous,
            tree_version,
            snapshot_every: snapshot_every.max(1),
            poisoned: false,
        })
    }

    /// The ledger state after the tip.
    pub fn state(&self) -> &LedgerState {
        &self.state
    }

    /// The tip's header (`None` before block 1).
    pub fn tip(&self) -> Option<&BlockHeader> {
        self.tip.as_ref()
    }

    /// The height of the tip (0 before block 1).
    pub fn height(&self) -> u64 {
        self.tip.as_ref().map_or(0, |h| h.height)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash32 {
        self.genesis_hash
    }

    /// The validator set with `hash`: the genesis set or one a block approved (ADR 0016).
    pub fn validator_set(&self, hash: &Hash32) -> Result<Option<ValidatorSet>, ChainError> {
        let genesis = &self.genesis.validators;
        if genesis.hash() == *hash {
            return Ok(Some(genesis.clone()));
        }
        Ok(self.store.validator_set(hash)?)
    }

    /// The validator set that certifies the next block (the tip's height + 1).
    pub fn next_validators(&self) -> &ValidatorSet {
        self.state.validators_for(self.height().saturating_add(1))
    }

    /// The validator set that certified block `height` (1 up to the tip), read from the set
    /// its header names; the next block's set for the tip's height + 1.
    pub fn validators_at(&self, height: u64) -> Result<Option<ValidatorSet>, ChainError> {
        if height == self.height().saturating_add(1) {
            return Ok(Some(self.next_validators().clone()));
        }
        let Some(block) = self.store.block(height)? else {
            return Ok(None);
        };
        self.validator_set(&block.header.validator_set_hash)
    }

    /// The light block of `height` as a light client needs it: the header, its certificate and
    /// the sets the header names. `None` when there is no certified block there.
    pub fn light_block(
        &self,
        height: u64,
    ) -> Result<Option<lightclient::light::LightBlock>, ChainError> {
        let Some(block) = self.store.block(height)? else {
            return Ok(None);
        };
        let Some(certificate) = block.certificate else {
            return Ok(None);
        };
        let set = |hash: &Hash32| {
            self.validator_set(hash)?
                .ok_or_else(|| ChainError::Inconsistent {
                    height,
                    reason: format!("the header names validator set {hash}, which is unknown"),
                })
        };
        Ok(Some(lightclient::light::LightBlock {
            validators: set(&block.header.validator_set_hash)?,
            next_validators: set(&block.header.next_validator_set_hash)?,
            header: block.header,
            certificate,
        }))
    }

    /// The genesis time, ms since the Unix epoch.
    pub fn genesis_time_ms(&self) -> u64 {
        self.genesis.genesis_time_ms
    }

    /// Executes `input` as the next block on a copy of the state, without storing anything: what
    /// a proposer proposes and what every validator re-derives before it votes. Refused
    /// transactions get receipts; a broken invariant refuses the block.
    pub fn prepare(
        &self,
        input: BlockInput,
        check: SignatureCheck,
    ) -> Result<PreparedBlock, ChainError> {
        if self.poisoned {
            return Err(ChainError::Poisoned);
        }
        let height = self.height().saturating_add(1);
        let previous_block_hash = self
            .tip
            .as_ref()
            .map_or(self.genesis_hash, BlockHeader::hash);
        let ctx = BlockContext {
            height,
            time_ms: input.time_ms,
            entropy: previous_block_hash,
        };
        let mut state = self.state.clone();
        let outcomes = state.apply_block(&input.transactions, ctx, check)?;
        let audit = state.take_audit();
        let changes = state.take_state_changes();
        let (state_root, tree) = if changes.is_empty() {
            let (_, root) = self
                .store
                .root_at(height)?
                .ok_or(ChainError::Inconsistent {
                    height,
                    reason: "no state root".into(),
                })?;
            (root, None)
        } else {
            let version = self.tree_version.saturating_add(1);
            let (root, batch) = update_tree(&self.store, version, &changes)?;
            (root, Some((batch, version)))
        };
        let tx_bytes: Vec<Vec<u8>> = input.transactions.iter().map(Encode::to_bytes).collect();
        let receipts: Vec<_> = outcomes.iter().map(|o| o.receipt.clone()).collect();
        let receipt_bytes: Vec<Vec<u8>> = receipts.iter().map(Encode::to_bytes).collect();
        let header = BlockHeader {
            version: HEADER_VERSION,
            chain_id: self.genesis.chain_id.clone(),
            height,
            time_ms: input.time_ms,
            previous_block_hash,
            proposer: input.proposer,
            transactions_root: merkle::root(&tx_bytes),
            transaction_count: u32::try_from(input.transactions.len()).unwrap_or(u32::MAX),
            receipts_root: merkle::root(&receipt_bytes),
            state_root,
            mapping_hash: state.mapping().hash,
            // Applying the block put a set due at this height in force; a set due at the next
            // one is announced here (ADR 0016).
            validator_set_hash: state.validators().hash(),
            next_validator_set_hash: state.validators_for(height.saturating_add(1)).hash(),
        };
        let block = StoredBlock {
            header,
            transactions: input.transactions,
            receipts,
            certificate: None,
        };
        Ok(PreparedBlock {
            block,
            outcomes,
            state,
            audit,
            tree,
        })
    }

    /// Stores a prepared block (one fsynced batch) with its certificate and makes it the tip. A
    /// failed write poisons the chain.
    pub fn commit(
        &mut self,
        prepared: PreparedBlock,
        certificate: Option<lightclient::CommitCertificate>,
    ) -> Result<StoredBlock, ChainError> {
        if self.poisoned {
            return Err(ChainError::Poisoned);
        }
        let PreparedBlock {
            mut block,
            state,
            audit,
            tree,
            ..
        } = prepared;
        if block.header.height != self.height().saturating_add(1) {
            return Err(ChainError::Inconsistent {
                height: block.header.height,
                reason: format!("the tip is {}", self.height()),
            });
        }
        block.certificate = certificate;
        self.poisoned = true;
        let height = block.header.height;
        let snapshot = height.is_multiple_of(self.snapshot_every).then_some(&state);
        let mapping = (state.mapping().sequence != self.state.mapping().sequence).then(|| {
            crate::store::MappingVersion::new(
                state.mapping().sequence,
                height,
                state.mapping().bytes.clone(),
            )
        });
        let approved_set = state
            .pending_validators()
            .filter(|_| state.pending_validators() != self.state.pending_validators())
            .map(|pending| &pending.validators);
        let writes = BlockWrites {
            validator_set: approved_set,
            mapping,
            audit,
            tree: tree
                .as_ref()
                .map(|(batch, version)| (batch, *version, block.header.state_root)),
            snapshot,
        };
        self.store.commit_block(&block, &writes)?;
        if let Some((_, version)) = tree {
            self.tree_version = version;
        }
        self.state = state;
        self.tip = Some(block.header.clone());
        self.poisoned = false;
        Ok(block)
    }

    /// Prepares and commits `input` as the next block, without a certificate (tests, tools and a
    /// single-validator chain).
    pub fn execute(
        &mut self,
        input: BlockInput,
        check: SignatureCheck,
    ) -> Result<(StoredBlock, Vec<Outcome>), ChainError> {
        let prepared = self.prepare(input, check)?;
        let outcomes = prepared.outcomes.clone();
        let block = self.commit(prepared, None)?;
        Ok((block, outcomes))
    }

    /// The value under `key` at the tip, with its proof (ADR 0015) against the tip's state
    /// root.
    pub fn prove(&self, key: &StateKey) -> Result<ProvenValue, ChainError> {
        self.prove_at(key, self.height())?
            .ok_or(ChainError::Inconsistent {
                height: self.height(),
                reason: "no state root".into(),
            })
    }

    /// The value under `key` as of block `height`, with its proof against that block's state
    /// root (the tree keeps every version); `None` above the tip. A light client that checks
    /// several entries together (an asset and every position behind it) asks for one height.
    pub fn prove_at(&self, key: &StateKey, height: u64) -> Result<Option<ProvenValue>, ChainError> {
        if height > self.height() {
            return Ok(None);
        }
        let Some((version, _)) = self.store.root_at(height)? else {
            return Ok(None);
        };
        let (value, proof) = jmt::JellyfishMerkleTree::<Store, sha2::Sha256>::new(&self.store)
            .get_with_proof(key.key_hash(), version)
            .map_err(|e| StateTreeError::from_message(e.to_string()))?;
        Ok(Some((value, to_state_proof(&proof)?)))
    }
}

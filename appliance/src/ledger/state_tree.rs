//! The authenticated state: a Jellyfish Merkle Tree (the `jmt` crate, as used by Diem/Aptos and
//! Penumbra) over everything that decides a future block: accounts, balances, assets, positions,
//! items, the mapping record, the controller policy, the validator set, fee and limit rules with
//! their usage, requests, the replay window and allocated-asset issuers. Its root goes into every header; a proof against it shows one entry — a
//! balance, an asset's supply — to a light client.

use std::collections::BTreeMap;

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, Version};
use lightclient::encoding::Encode;
use lightclient::hash::Hash32;
use sha2::Sha256;

use super::state::{LedgerState, Request, RequestKind, RequestStatus};

pub use lightclient::state::{STATE_VALUE_VERSION, StateKey, tag};

/// A key's place in the `jmt` tree: the light client's [`StateKey::hash`].
pub trait TreeKey {
    /// SHA-256 of the key's canonical bytes, as the tree's key hash.
    fn key_hash(&self) -> KeyHash;
}

impl TreeKey for StateKey {
    fn key_hash(&self) -> KeyHash {
        KeyHash(self.hash().0)
    }
}

fn encode_request(request: &Request, out: &mut Vec<u8>) {
    request.id.encode(out);
    request.created_height.encode(out);
    match &request.kind {
        RequestKind::Redemption {
            holder,
            asset,
            amount,
            fee,
            collector,
            limit_charges,
        } => {
            out.push(1);
            holder.encode(out);
            asset.encode(out);
            amount.encode(out);
            fee.encode(out);
            collector.encode(out);
            u32::try_from(limit_charges.len())
                .unwrap_or(u32::MAX)
                .encode(out);
            for (rule, period, charged) in limit_charges {
                rule.encode(out);
                period.encode(out);
                charged.encode(out);
            }
        }
        RequestKind::Issuance {
            asset,
            issuer,
            serials,
        } => {
            out.push(2);
            asset.encode(out);
            issuer.encode(out);
            serials.encode(out);
        }
    }
    match &request.status {
        RequestStatus::Pending => out.push(1),
        RequestStatus::Approved { height } => {
            out.push(2);
            height.encode(out);
        }
        RequestStatus::Rejected { height, reason } => {
            out.push(3);
            height.encode(out);
            reason.encode(out);
        }
    }
}

impl LedgerState {
    /// The canonical value stored under `key`, or `None` if there is no such entry.
    pub fn state_value(&self, key: &StateKey) -> Option<Vec<u8>> {
        let mut out = vec![STATE_VALUE_VERSION];
        match key {
            StateKey::Account(id) => {
                let account = self.accounts.get(id)?;
                account.public_key.encode(&mut out);
                account.kyc.encode(&mut out);
                account
                    .roles
                    .iter()
                    .copied()
                    .collect::<Vec<_>>()
                    .encode(&mut out);
                account.asset_holder.encode(&mut out);
                account.kyc_before_ban.encode(&mut out);
            }
            StateKey::Balance(account, asset) => {
                let balance = self.balances.get(&(*account, *asset))?;
                balance.available.encode(&mut out);
                balance.locked.encode(&mut out);
            }
            StateKey::Asset(id) => {
                let asset = self.assets.get(id)?;
                asset.code.encode(&mut out);
                asset.precision.encode(&mut out);
                asset.backing.encode(&mut out);
                asset.issued.encode(&mut out);
                asset.maximum.encode(&mut out);
            }
            StateKey::Position(holder, asset) => {
                let position = self.positions.get(&(*holder, *asset))?;
                position.settled.encode(&mut out);
                out.extend_from_slice(&position.unsettled.to_be_bytes());
                position.issued.encode(&mut out);
            }
            StateKey::Item(serial) => {
                let item = self.items.get(serial)?;
                item.refiner.encode(&mut out);
                item.mass.encode(&mut out);
                item.fineness.encode(&mut out);
                item.location.encode(&mut out);
                item.retired.encode(&mut out);
            }
            StateKey::Mapping => {
                self.mapping.sequence.encode(&mut out);
                self.mapping.hash.encode(&mut out);
            }
            StateKey::Controllers => {
                let policy = &*self.controllers;
                u32::try_from(policy.threshold)
                    .unwrap_or(u32::MAX)
                    .encode(&mut out);
                policy.public_keys.encode(&mut out);
                policy.precision.encode(&mut out);
            }
            StateKey::Validators => self.validators.encode(&mut out),
            StateKey::Fee(id) => self.fees.get(id)?.encode(&mut out),
            StateKey::Limit(id) => self.limits.get(id)?.encode(&mut out),
            StateKey::LimitUsage(rule, account, period) => {
                self.limit_usage
                    .get(&(*rule, *account, *period))?
                    .encode(&mut out);
            }
            StateKey::Request(id) => encode_request(self.requests.get(id)?, &mut out),
            StateKey::NextRequestId => self.next_request_id.encode(&mut out),
            StateKey::Txid(txid) => self.seen_txids.get(txid)?.encode(&mut out),
            StateKey::AllocatedIssuer(asset) => {
                let (issuer, reissuable) = self.allocated_issuers.get(asset)?;
                issuer.encode(&mut out);
                reissuable.encode(&mut out);
            }
            StateKey::PendingValidators => {
                return self.pending_validators.as_ref().map(|p| p.to_value());
            }
        }
        Some(out)
    }

    /// Every entry of the authenticated state with its value, for building the tree from scratch
    /// (genesis, [`crate::chain::Chain::open`]'s check, and tests of the incremental root).
    pub fn all_state_entries(&self) -> Vec<(StateKey, Option<Vec<u8>>)> {
        let LedgerState {
            chain_id: _,
            genesis_hash: _,
            controllers: _,
            validators: _,
            accounts,
            keys: _,
            assets,
            balances,
            positions,
            settlement_events: _,
            fees,
            limits,
            limit_usage,
            requests,
            next_request_id: _,
            audit: _,
            seen_txids,
            txid_expiry: _,
            items,
            mapping: _,
            allocated_issuers,
            pending_validators: _,
            events: _,
        } = self;
        let mut keys = vec![
            StateKey::Mapping,
            StateKey::Controllers,
            StateKey::Validators,
            StateKey::NextRequestId,
            StateKey::PendingValidators,
        ];
        keys.extend(accounts.keys().map(|a| StateKey::Account(*a)));
        keys.extend(balances.keys().map(|(a, s)| StateKey::Balance(*a, *s)));
        keys.extend(assets.keys().map(|s| StateKey::Asset(*s)));
        keys.extend(positions.keys().map(|(a, s)| StateKey::Position(*a, *s)));
        keys.extend(items.keys().map(|s| StateKey::Item(s.clone())));
        keys.extend(fees.keys().map(|id| StateKey::Fee(*id)));
        keys.extend(limits.keys().map(|id| StateKey::Limit(*id)));
        keys.extend(
            limit_usage
                .keys()
                .map(|(rule, account, period)| StateKey::LimitUsage(*rule, *account, *period)),
        );
        keys.extend(requests.keys().map(|id| StateKey::Request(*id)));
        keys.extend(seen_txids.keys().map(|txid| StateKey::Txid(*txid)));
        keys.extend(
            allocated_issuers
                .keys()
                .map(|asset| StateKey::AllocatedIssuer(*asset)),
        );
        // An absent entry (no pending validator change) is not in the tree at all.
        keys.into_iter()
            .filter_map(|key| {
                let value = self.state_value(&key)?;
                Some((key, Some(value)))
            })
            .collect()
    }

    /// The entries changed since the last call, with their new values (`None`: deleted), read
    /// from the state's own change records.
    pub fn take_state_changes(&mut self) -> Vec<(StateKey, Option<Vec<u8>>)> {
        let LedgerState {
            // Fixed at genesis; the genesis hash every transaction binds to covers them.
            chain_id: _,
            genesis_hash: _,
            controllers,
            validators,
            accounts,
            // An index of the accounts' keys, which the account entries carry.
            keys: _,
            assets,
            balances,
            positions,
            // History: what settlement runs did, not what later blocks depend on.
            settlement_events: _,
            fees,
            limits,
            limit_usage,
            requests,
            next_request_id,
            // History, kept by the store beside each block.
            audit: _,
            seen_txids,
            // An index of the remembered txids by expiry, which their entries carry.
            txid_expiry: _,
            items,
            mapping,
            allocated_issuers,
            pending_validators,
            // The current transaction's events, taken into its receipt (committed by the
            // receipts root).
            events: _,
        } = self;
        let mut changed = Vec::new();
        if controllers.take_changed() {
            changed.push(StateKey::Controllers);
        }
        if validators.take_changed() {
            changed.push(StateKey::Validators);
        }
        if next_request_id.take_changed() {
            changed.push(StateKey::NextRequestId);
        }
        if mapping.take_changed() {
            changed.push(StateKey::Mapping);
        }
        if pending_validators.take_changed() {
            changed.push(StateKey::PendingValidators);
        }
        changed.extend(accounts.take_changed().into_iter().map(StateKey::Account));
        changed.extend(assets.take_changed().into_iter().map(StateKey::Asset));
        changed.extend(
            balances
                .take_changed()
                .into_iter()
                .map(|(a, s)| StateKey::Balance(a, s)),
        );
        changed.extend(
            positions
                .take_changed()
                .into_iter()
                .map(|(a, s)| StateKey::Position(a, s)),
        );
        changed.extend(fees.take_changed().into_iter().map(StateKey::Fee));
        changed.extend(limits.take_changed().into_iter().map(StateKey::Limit));
        changed.extend(
            limit_usage
                .take_changed()
                .into_iter()
                .map(|(rule, account, period)| StateKey::LimitUsage(rule, account, period)),
        );
        changed.extend(requests.take_changed().into_iter().map(StateKey::Request));
        changed.extend(seen_txids.take_changed().into_iter().map(StateKey::Txid));
        changed.extend(items.take_changed().into_iter().map(StateKey::Item));
        changed.extend(
            allocated_issuers
                .take_changed()
                .into_iter()
                .map(StateKey::AllocatedIssuer),
        );
        changed
            .into_iter()
            .map(|key| {
                let value = self.state_value(&key);
                (key, value)
            })
            .collect()
    }
}

/// `jmt`'s proof as its borsh encoding lays it out (the crate keeps the siblings private).
mod raw {
    #[derive(borsh::BorshDeserialize)]
    pub(super) struct Leaf {
        pub(super) key_hash: [u8; 32],
        pub(super) value_hash: [u8; 32],
    }

    #[derive(borsh::BorshDeserialize)]
    pub(super) struct Internal {
        pub(super) left: [u8; 32],
        pub(super) right: [u8; 32],
    }

    #[derive(borsh::BorshDeserialize)]
    pub(super) enum Node {
        Null,
        Internal(Internal),
        Leaf(Leaf),
    }

    #[derive(borsh::BorshDeserialize)]
    pub(super) struct Proof {
        pub(super) leaf: Option<Leaf>,
        pub(super) siblings: Vec<Node>,
    }
}

/// The light client's documented form ([`lightclient::state::StateProof`]) of a `jmt` proof.
pub fn to_state_proof(
    proof: &jmt::proof::SparseMerkleProof<Sha256>,
) -> Result<lightclient::state::StateProof, StateTreeError> {
    use lightclient::state::{EMPTY_SUBTREE, ProofLeaf, StateProof, internal_hash};
    let bytes = borsh::to_vec(proof).map_err(|e| StateTreeError(e.to_string()))?;
    let raw: raw::Proof = borsh::from_slice(&bytes).map_err(|e| StateTreeError(e.to_string()))?;
    let leaf = |l: &raw::Leaf| ProofLeaf {
        key_hash: Hash32(l.key_hash),
        value_hash: Hash32(l.value_hash),
    };
    Ok(StateProof {
        leaf: raw.leaf.as_ref().map(leaf),
        siblings: raw
            .siblings
            .iter()
            .map(|node| match node {
                raw::Node::Null => EMPTY_SUBTREE,
                raw::Node::Internal(n) => internal_hash(&Hash32(n.left), &Hash32(n.right)),
                raw::Node::Leaf(l) => leaf(l).hash(),
            })
            .collect(),
    })
}

/// Why the state tree failed (a storage fault, never a user error).
#[derive(Debug, thiserror::Error)]
#[error("state tree: {0}")]
pub struct StateTreeError(String);

impl StateTreeError {
    pub(crate) fn from_message(message: String) -> Self {
        StateTreeError(message)
    }
}

/// Computes the new root and the nodes to store after applying `changes` at `version`.
pub fn update_tree<R: TreeReader>(
    reader: &R,
    version: Version,
    changes: &[(StateKey, Option<Vec<u8>>)],
) -> Result<(Hash32, TreeUpdateBatch), StateTreeError> {
    let tree = JellyfishMerkleTree::<R, Sha256>::new(reader);
    let set = changes.iter().map(|(k, v)| (k.key_hash(), v.clone()));
    let (root, batch) = tree
        .put_value_set(set, version)
        .map_err(|e| StateTreeError(e.to_string()))?;
    Ok((Hash32(root.0), batch))
}

/// The tree's nodes and values held in memory (tests, benchmarks, and a node's overlay before
/// its batch reaches the store).
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    nodes: BTreeMap<NodeKey, Node>,
    values: BTreeMap<KeyHash, BTreeMap<Version, Option<OwnedValue>>>,
    /// Per block height that changed the state: the tree version written and the root. Tree
    /// versions are contiguous (JMT builds version v on v − 1); a block that changes nothing
    /// writes no version, and its root is the previous block's.
    roots: BTreeMap<u64, (Version, Hash32)>,
}

impl MemoryTree {
    /// Applies the changes of the block at `height` (heights must not decrease) and returns the
    /// new root.
    pub fn commit(
        &mut self,
        height: u64,
        changes: &[(StateKey, Option<Vec<u8>>)],
    ) -> Result<Hash32, StateTreeError> {
        let last = self.roots.last_key_value().map(|(h, (v, r))| (*h, *v, *r));
        if let Some((last_height, _, root)) = last {
            if height < last_height {
                return Err(StateTreeError(format!(
                    "height {height} is below the last committed {last_height}"
                )));
            }
            if changes.is_empty() {
                return Ok(root);
            }
        }
        let version = last.map_or(0, |(_, v, _)| v.saturating_add(1));
        let (root, batch) = update_tree(&*self, version, changes)?;
        for (key, node) in batch.node_batch.nodes() {
            self.nodes.insert(key.clone(), node.clone());
        }
        for ((version, key_hash), value) in batch.node_batch.values() {
            self.values
                .entry(*key_hash)
                .or_default()
                .insert(*version, value.clone());
        }
        self.roots.insert(height, (version, root));
        Ok(root)
    }

    /// The tree version and root of the state as of block `height`.
    fn written_at(&self, height: u64) -> Result<(Version, Hash32), StateTreeError> {
        self.roots
            .range(..=height)
            .next_back()
            .map(|(_, entry)| *entry)
            .ok_or_else(|| StateTreeError(format!("no state at or before height {height}")))
    }

    /// The root of the state as of block `height`.
    pub fn root_at(&self, height: u64) -> Result<Hash32, StateTreeError> {
        self.written_at(height).map(|(_, root)| root)
    }

    /// The value under `key` as of block `height`, with its proof against that root.
    pub fn prove(
        &self,
        key: &StateKey,
        height: u64,
    ) -> Result<(Option<Vec<u8>>, jmt::proof::SparseMerkleProof<Sha256>), StateTreeError> {
        let (written, _) = self.written_at(height)?;
        JellyfishMerkleTree::<Self, Sha256>::new(self)
            .get_with_proof(key.key_hash(), written)
            .map_err(|e| StateTreeError(e.to_string()))
    }
}

impl TreeReader for MemoryTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .values
            .get(&key_hash)
            .and_then(|history| history.range(..=max_version).next_back())
            .and_then(|(_, value)| value.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for (key, node) in &self.nodes {
            if let Node::Leaf(leaf) = node
                && best
                    .as_ref()
                    .is_none_or(|(_, b)| leaf.key_hash() > b.key_hash())
            {
                best = Some((key.clone(), leaf.clone()));
            }
        }
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use lightclient::tx::{FeeRule, KycState, LimitPeriod, LimitRule, Role, Scope};
    use lightclient::validator::{Validator, ValidatorSet};
    use proptest::prelude::*;

    use super::*;
    use crate::ledger::state::{Account, Balance, Item, Position};

    fn genesis_state() -> LedgerState {
        let validator = crate::dev::dev_public("validator-1").unwrap();
        let controller = crate::dev::dev_public("controller-1").unwrap();
        let genesis = crate::dev::dev_genesis(
            "abt-state-tree",
            1_795_000_000_000,
            &[validator],
            &[controller],
            1,
        )
        .unwrap();
        let mut state = LedgerState::from_genesis(&genesis, genesis.hash().unwrap());
        state.take_state_changes();
        state
    }

    fn root_from_scratch(state: &LedgerState) -> Hash32 {
        MemoryTree::default()
            .commit(0, &state.all_state_entries())
            .unwrap()
    }

    /// Changes one part of the state, picked by `kind`, using `n` for the new value. The match
    /// on the state's fields has no `..`: a new field does not compile until this test changes
    /// it too (or says why it is not consensus state).
    fn mutate(state: &mut LedgerState, kind: u8, n: u64) {
        let account = crate::dev::dev_public("alice").unwrap().account_id();
        let asset = lightclient::genesis::asset_id_for_code("USDX");
        let big = u128::from(n).saturating_add(1);
        let LedgerState {
            chain_id: _,
            genesis_hash: _,
            controllers,
            validators,
            accounts,
            keys: _,
            assets,
            balances,
            positions,
            settlement_events: _,
            fees,
            limits,
            limit_usage,
            requests,
            next_request_id,
            audit: _,
            seen_txids,
            txid_expiry: _,
            items,
            mapping,
            allocated_issuers,
            pending_validators,
            events: _,
        } = state;
        match kind % 16 {
            0 => controllers.get_mut().threshold = controllers.threshold.saturating_add(1),
            1 => {
                let mut set: Vec<Validator> = validators.validators().to_vec();
                set[0].voting_power = set[0].voting_power.saturating_add(n).saturating_add(1);
                validators.set(ValidatorSet::new(set).unwrap());
            }
            2 => {
                let row = accounts.get_mut(&account).unwrap();
                row.kyc = KycState::Banned;
                row.kyc_before_ban = Some(KycState::Verified);
                row.roles.insert(Role::FeesAdmin);
            }
            3 => assets.get_mut(&asset).unwrap().maximum = big,
            4 => {
                balances.insert(
                    (account, asset),
                    Balance {
                        available: big,
                        locked: 0,
                    },
                );
            }
            5 => {
                positions.insert(
                    (account, asset),
                    Position {
                        settled: big,
                        unsettled: 0,
                        issued: 0,
                    },
                );
            }
            6 => {
                fees.insert(
                    u32::try_from(n % 100).unwrap(),
                    FeeRule {
                        scope: Scope::default(),
                        min_amount: 0,
                        max_amount: big,
                        flat: 1,
                        percent_ppm: 0,
                        collector: account,
                    },
                );
            }
            7 => {
                limits.insert(
                    u32::try_from(n % 100).unwrap(),
                    LimitRule {
                        scope: Scope::default(),
                        period: LimitPeriod::Daily,
                        max_amount: big,
                        max_per_payment: None,
                    },
                );
            }
            8 => {
                limit_usage.insert((1, account, n), big);
            }
            9 => {
                requests.insert(
                    n,
                    Request {
                        id: n,
                        created_height: 1,
                        kind: RequestKind::Issuance {
                            asset,
                            issuer: account,
                            serials: vec!["AB-1".into()],
                        },
                        status: RequestStatus::Pending,
                    },
                );
            }
            10 => next_request_id.set(next_request_id.saturating_add(n).saturating_add(1)),
            11 => {
                seen_txids.insert(lightclient::hash::sha256(&n.to_be_bytes()), n);
            }
            12 => {
                items.insert(
                    format!("BAR-{n}"),
                    Item {
                        serial: format!("BAR-{n}"),
                        refiner: "Refiner".into(),
                        mass: big,
                        fineness: 9999,
                        location: "Vault 1".into(),
                        retired: false,
                    },
                );
            }
            13 => mapping.get_mut().sequence = mapping.sequence.saturating_add(n).saturating_add(1),
            // A pending change taking effect deletes the entry.
            14 if pending_validators.is_some() && n % 2 == 1 => pending_validators.set(None),
            14 => {
                let mut set: Vec<Validator> = validators.validators().to_vec();
                set[0].voting_power = set[0].voting_power.saturating_add(n).saturating_add(2);
                pending_validators.set(Some(lightclient::state::PendingValidatorsEntry {
                    validators: ValidatorSet::new(set).unwrap(),
                    effective_height: n.saturating_add(2),
                }));
            }
            _ => {
                allocated_issuers.insert(asset, (account, n.is_multiple_of(2)));
            }
        }
    }

    #[test]
    fn every_kind_of_state_is_under_the_root() {
        // Account and Asset must exist for the kinds that edit them.
        let mut base = genesis_state();
        let account = crate::dev::dev_public("alice").unwrap();
        base.accounts.insert(
            account.account_id(),
            Account {
                id: account.account_id(),
                public_key: account,
                roles: std::collections::BTreeSet::new(),
                kyc: KycState::Verified,
                kyc_before_ban: None,
                asset_holder: None,
            },
        );
        assert!(
            base.assets
                .get(&lightclient::genesis::asset_id_for_code("USDX"))
                .is_some()
        );
        base.take_state_changes();
        let before = root_from_scratch(&base);
        for kind in 0..16 {
            let mut state = base.clone();
            mutate(&mut state, kind, 7);
            assert_ne!(
                root_from_scratch(&state),
                before,
                "kind {kind} is not under the root"
            );
        }
    }

    proptest! {
        /// Random changes of every kind: the root from the state's own change records equals
        /// the root of the whole state built afresh, and each change moves the root.
        #[test]
        fn the_change_records_give_the_root_of_the_whole_state(
            steps in proptest::collection::vec((0u8..16, 0u64..1_000), 1..20)
        ) {
            let mut state = genesis_state();
            let alice = crate::dev::dev_public("alice").unwrap();
            state.accounts.insert(alice.account_id(), Account {
                id: alice.account_id(),
                public_key: alice,
                roles: std::collections::BTreeSet::new(),
                kyc: KycState::Verified,
                kyc_before_ban: None,
                asset_holder: None,
            });
            let mut tree = MemoryTree::default();
            tree.commit(0, &state.all_state_entries()).unwrap();
            state.take_state_changes();
            for (height, (kind, n)) in (1u64..).zip(steps) {
                let before = root_from_scratch(&state);
                mutate(&mut state, kind, n);
                let changes = state.take_state_changes();
                let root = tree.commit(height, &changes).unwrap();
                prop_assert_eq!(root, root_from_scratch(&state));
                if !changes.is_empty() && root == before {
                    // A change that rewrote a value with itself leaves the root alone; any
                    // other change must move it.
                    let rewrote_same = changes.iter().all(|(key, value)| {
                        tree.prove(key, height.saturating_sub(1))
                            .map(|(old, _)| old == *value)
                            .unwrap_or(false)
                    });
                    prop_assert!(rewrote_same, "a change left the root alone");
                }
            }
        }
    }
}

//! Ledger state: plain ordered maps, so that iteration order — and so every derived hash — is the
//! same on every node.

use std::collections::{BTreeMap, BTreeSet};

use lightclient::genesis::{Genesis, asset_id_for_code};
use lightclient::hash::Hash32;
use lightclient::header::ChainId;
use lightclient::keys::{AccountId, AssetId, PublicKey};
use lightclient::mapping::ControllerPolicy;
use lightclient::tx::{BackingKind, FeeRule, KycState, LimitRule, Role};

use lightclient::state::PendingValidatorsEntry;
use lightclient::validator::ValidatorSet;

use super::error::LedgerError;
use super::table::{Table, Tracked};

/// A ledger account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// Its id (fixed at registration).
    pub id: AccountId,
    /// Its current key.
    pub public_key: PublicKey,
    /// Its roles.
    pub roles: BTreeSet<Role>,
    /// Its KYC state.
    pub kyc: KycState,
    /// The KYC state to restore on unban.
    pub kyc_before_ban: Option<KycState>,
    /// The asset holder it banks with (token holders).
    pub asset_holder: Option<AccountId>,
}

impl Account {
    /// Whether it holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Refuses banned accounts and those not verified or corporate.
    pub fn check_may_transact(&self) -> Result<(), LedgerError> {
        match self.kyc {
            KycState::Verified | KycState::Corporate => Ok(()),
            KycState::Banned => Err(LedgerError::Banned(self.id)),
            state => Err(LedgerError::KycRequired {
                account: self.id,
                state,
            }),
        }
    }
}

/// An asset (token type).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Asset {
    /// Its id.
    pub id: AssetId,
    /// Its unique code.
    pub code: String,
    /// Decimals.
    pub precision: u8,
    /// What backs it.
    pub backing: BackingKind,
    /// Tokens in supply, base units.
    pub issued: u128,
    /// Most base units ever in supply.
    pub maximum: u128,
}

impl Asset {
    /// Refuses assets of another backing.
    pub fn require(&self, backing: BackingKind) -> Result<(), LedgerError> {
        if self.backing == backing {
            return Ok(());
        }
        let name = |b: BackingKind| match b {
            BackingKind::AllocatedPhysical => "allocated physical",
            _ => "deposit-backed",
        };
        Err(LedgerError::WrongBacking {
            asset: self.id,
            kind: name(self.backing),
            needed: name(backing),
        })
    }
}

/// A holder's tokens of one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Balance {
    /// Spendable.
    pub available: u128,
    /// Locked by pending requests.
    pub locked: u128,
}

impl Balance {
    /// Available plus locked.
    pub fn total(&self) -> Option<u128> {
        self.available.checked_add(self.locked)
    }
}

/// An asset holder's position in one deposit-backed asset at the settlement institution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// Assets settled at the settlement institution.
    pub settled: u128,
    /// Net amount owed to (+) or by (−) other asset holders since the last settlement.
    pub unsettled: i128,
    /// Tokens this asset holder's customers hold.
    pub issued: u128,
}

impl Position {
    /// Settled plus unsettled.
    pub fn assets(&self) -> Option<i128> {
        i128::try_from(self.settled)
            .ok()?
            .checked_add(self.unsettled)
    }

    /// Whether assets cover issued tokens.
    pub fn check_covered(&self, asset_holder: AccountId) -> Result<(), LedgerError> {
        let assets = self.assets().ok_or(LedgerError::Overflow)?;
        let issued = i128::try_from(self.issued).map_err(|_| LedgerError::Overflow)?;
        if assets >= issued {
            Ok(())
        } else {
            Err(LedgerError::NotCovered {
                asset_holder,
                assets,
                issued: self.issued,
            })
        }
    }
}

/// One settlement of an asset holder's unsettled balance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SettlementEvent {
    /// Height of the block that settled.
    pub height: u64,
    /// The asset.
    pub asset: AssetId,
    /// The asset holder.
    pub asset_holder: AccountId,
    /// The unsettled amount moved to settled (negative: paid out).
    pub amount: i128,
}

/// A physical item (bar) in a vault.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// Serial number (the mapping's `vref`).
    pub serial: String,
    /// Refiner.
    pub refiner: String,
    /// Fine mass in base units of the mapping precision.
    pub mass: u128,
    /// Fineness in parts per 10,000.
    pub fineness: u16,
    /// Vault location.
    pub location: String,
    /// Whether it left custody.
    pub retired: bool,
}

/// The mapping in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MappingRecord {
    /// Its sequence.
    pub sequence: u64,
    /// SHA-256 of its exact bytes (what headers commit to).
    pub hash: Hash32,
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Mapped amount per asset.
    pub totals: BTreeMap<AssetId, u128>,
    /// Items it allocates.
    pub items: BTreeSet<String>,
}

/// A reviewable request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Request {
    /// Its id.
    pub id: u64,
    /// Height it was made at.
    pub created_height: u64,
    /// What is asked.
    pub kind: RequestKind,
    /// Where it stands.
    pub status: RequestStatus,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum RequestKind {
    /// Redeem tokens: `amount + fee` is locked until the decision.
    Redemption {
        /// The holder.
        holder: AccountId,
        /// The asset.
        asset: AssetId,
        /// Tokens to burn.
        amount: u128,
        /// Fee paid on approval.
        fee: u128,
        /// Who receives the fee.
        collector: Option<AccountId>,
        /// Limit usage charged, reverted on rejection: (rule, period, amount).
        limit_charges: Vec<(u32, u64, u128)>,
    },
    /// Issue a new allocated asset against items; completed by the mapping update that maps it.
    Issuance {
        /// The new asset's id, fixed when the request committed.
        asset: AssetId,
        /// Who receives the minted tokens.
        issuer: AccountId,
        /// The items to allocate.
        serials: Vec<String>,
    },
}

/// The state of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum RequestStatus {
    /// Awaiting review.
    Pending,
    /// Approved at this height.
    Approved {
        /// Height.
        height: u64,
    },
    /// Rejected at this height.
    Rejected {
        /// Height.
        height: u64,
        /// Why.
        reason: String,
    },
}

/// One entry of the audit trail: who changed what, by which transaction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// Height of the block.
    pub height: u64,
    /// The transaction.
    pub txid: Hash32,
    /// The account that authorised it.
    pub actor: AccountId,
    /// The operation's name.
    pub action: String,
    /// What happened, where the name alone does not say (e.g. which bar left the vault).
    #[serde(default)]
    pub detail: String,
}

/// The whole ledger state.
///
/// Every field that decides a future block is a [`Table`] or a [`Tracked`] value, so its changes
/// reach the state tree without a hand-placed call; [`LedgerState::take_state_changes`] names
/// every field (no `..`), so a new one does not compile until it is put under the root or said
/// not to belong there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LedgerState {
    pub(crate) chain_id: ChainId,
    pub(crate) genesis_hash: Hash32,
    pub(crate) controllers: Tracked<ControllerPolicy>,
    pub(crate) validators: Tracked<ValidatorSet>,
    pub(crate) accounts: Table<AccountId, Account>,
    pub(crate) keys: BTreeMap<PublicKey, AccountId>,
    pub(crate) assets: Table<AssetId, Asset>,
    pub(crate) balances: Table<(AccountId, AssetId), Balance>,
    pub(crate) positions: Table<(AccountId, AssetId), Position>,
    pub(crate) settlement_events: Vec<SettlementEvent>,
    pub(crate) fees: Table<u32, FeeRule>,
    pub(crate) limits: Table<u32, LimitRule>,
    pub(crate) limit_usage: Table<(u32, AccountId, u64), u128>,
    pub(crate) requests: Table<u64, Request>,
    pub(crate) next_request_id: Tracked<u64>,
    pub(crate) audit: Vec<AuditEntry>,
    pub(crate) seen_txids: Table<Hash32, u64>,
    pub(crate) txid_expiry: BTreeMap<(u64, Hash32), ()>,
    pub(crate) items: Table<String, Item>,
    pub(crate) mapping: Tracked<MappingRecord>,
    pub(crate) allocated_issuers: Table<AssetId, (AccountId, bool)>,
    /// An approved validator set waiting for its effective height (ADR 0016). Snapshots written
    /// before validator-set changes existed have none.
    #[serde(default)]
    pub(crate) pending_validators: Tracked<Option<PendingValidatorsEntry>>,
    /// What the transaction being applied did, taken into its receipt.
    #[serde(skip)]
    pub(crate) events: Vec<lightclient::header::Event>,
}

impl LedgerState {
    /// The state genesis describes; `genesis_hash` is its hash ([`Genesis::hash`]).
    pub fn from_genesis(genesis: &Genesis, genesis_hash: Hash32) -> Self {
        let mut state = LedgerState {
            chain_id: genesis.chain_id.clone(),
            genesis_hash,
            controllers: Tracked::new(genesis.controllers.clone()),
            validators: Tracked::new(genesis.validators.clone()),
            accounts: Table::default(),
            keys: BTreeMap::new(),
            assets: Table::default(),
            balances: Table::default(),
            positions: Table::default(),
            settlement_events: Vec::new(),
            fees: Table::default(),
            limits: Table::default(),
            limit_usage: Table::default(),
            requests: Table::default(),
            next_request_id: Tracked::new(1),
            audit: Vec::new(),
            seen_txids: Table::default(),
            txid_expiry: BTreeMap::new(),
            items: Table::default(),
            mapping: Tracked::new(MappingRecord {
                sequence: 0,
                hash: Hash32::ZERO,
                bytes: Vec::new(),
                totals: BTreeMap::new(),
                items: BTreeSet::new(),
            }),
            allocated_issuers: Table::default(),
            pending_validators: Tracked::new(None),
            events: Vec::new(),
        };
        if let Ok(initial) = genesis.initial_mapping()
            && let Ok(bytes) = initial.to_json_bytes()
        {
            let mapping = state.mapping.get_mut();
            mapping.hash = lightclient::mapping::published_hash(&bytes);
            mapping.bytes = bytes;
        }
        for entry in &genesis.accounts {
            let id = entry.public_key.account_id();
            state.keys.insert(entry.public_key, id);
            state.accounts.insert(
                id,
                Account {
                    id,
                    public_key: entry.public_key,
                    roles: entry.roles.iter().copied().collect(),
                    kyc: entry.kyc_state,
                    kyc_before_ban: None,
                    asset_holder: entry.asset_holder,
                },
            );
        }
        for entry in &genesis.assets {
            let id = asset_id_for_code(&entry.code);
            state.assets.insert(
                id,
                Asset {
                    id,
                    code: entry.code.clone(),
                    precision: entry.precision,
                    backing: entry.backing,
                    issued: 0,
                    maximum: entry.maximum,
                },
            );
        }
        state
    }

    /// The chain.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// The chain binding this state's transactions must carry.
    pub fn binding(&self) -> lightclient::tx::ChainBinding {
        lightclient::tx::ChainBinding {
            chain_id: self.chain_id.clone(),
            genesis_hash: self.genesis_hash,
        }
    }

    /// The account whose current key is `key` (a recovered account keeps its first key's id).
    pub fn account_of_key(&self, key: &PublicKey) -> Option<AccountId> {
        self.keys.get(key).copied()
    }

    /// Whether `id` names an account: a registered one, or the redemption account where
    /// redeemed tokens wait (it holds balances but has no key).
    pub fn is_known_account(&self, id: &AccountId) -> bool {
        *id == AccountId::REDEMPTION || self.accounts.contains_key(id)
    }

    /// The account with `id`.
    pub fn account(&self, id: &AccountId) -> Option<&Account> {
        self.accounts.get(id)
    }

    /// An asset.
    pub fn asset(&self, id: &AssetId) -> Option<&Asset> {
        self.assets.get(id)
    }

    /// A balance (zero if never credited).
    pub fn balance(&self, account: &AccountId, asset: &AssetId) -> Balance {
        self.balances
            .get(&(*account, *asset))
            .copied()
            .unwrap_or_default()
    }

    /// Every balance an account holds, by asset.
    pub fn balances_of(&self, account: &AccountId) -> Vec<(AssetId, Balance)> {
        self.balances
            .range((*account, AssetId([0; 32]))..=(*account, AssetId([0xff; 32])))
            .map(|((_, asset), balance)| (*asset, *balance))
            .collect()
    }

    /// Every asset.
    pub fn assets(&self) -> impl Iterator<Item = &Asset> {
        self.assets.values()
    }

    /// An asset holder's position (zero if never touched).
    pub fn position(&self, asset_holder: &AccountId, asset: &AssetId) -> Position {
        self.positions
            .get(&(*asset_holder, *asset))
            .copied()
            .unwrap_or_default()
    }

    /// Every asset holder's position in `asset`.
    pub fn positions_of(&self, asset: &AssetId) -> Vec<(AccountId, Position)> {
        self.positions
            .as_map()
            .iter()
            .filter(|((_, a), _)| a == asset)
            .map(|((holder, _), position)| (*holder, *position))
            .collect()
    }

    /// Every position of asset holder `asset_holder`, by asset.
    pub fn positions_held_by(&self, asset_holder: &AccountId) -> Vec<(AssetId, Position)> {
        self.positions
            .range((*asset_holder, AssetId([0; 32]))..=(*asset_holder, AssetId([0xff; 32])))
            .map(|((_, asset), position)| (*asset, *position))
            .collect()
    }

    /// Every account.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// Every request, oldest first.
    pub fn requests(&self) -> impl Iterator<Item = &Request> {
        self.requests.values()
    }

    /// Every physical item, by serial.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.values()
    }

    /// The fee rules, by id.
    pub fn fee_rules(&self) -> &BTreeMap<u32, FeeRule> {
        self.fees.as_map()
    }

    /// The limit rules, by id.
    pub fn limit_rules(&self) -> &BTreeMap<u32, LimitRule> {
        self.limits.as_map()
    }

    /// What accounts have used of limit rule `rule`: (account, period index, amount).
    pub fn limit_usages(&self, rule: u32) -> Vec<(AccountId, u64, u128)> {
        self.limit_usage
            .as_map()
            .iter()
            .filter(|((r, _, _), _)| *r == rule)
            .map(|((_, account, period), used)| (*account, *period, *used))
            .collect()
    }

    /// A physical item.
    pub fn item(&self, serial: &str) -> Option<&Item> {
        self.items.get(serial)
    }

    /// The height of the newest pending request (0 if none).
    pub fn pending_requests_height(&self) -> u64 {
        self.requests
            .values()
            .filter(|r| r.status == RequestStatus::Pending)
            .map(|r| r.created_height)
            .max()
            .unwrap_or(0)
    }

    /// Who signs mappings, and how many must.
    pub fn controllers(&self) -> &ControllerPolicy {
        &self.controllers
    }

    /// The mapping in force.
    pub fn mapping(&self) -> &MappingRecord {
        &self.mapping
    }

    /// The validator set in force at the height of the last block applied.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// The approved validator set waiting for its effective height, if any.
    pub fn pending_validators(&self) -> Option<&PendingValidatorsEntry> {
        self.pending_validators.as_ref()
    }

    /// The validator set that certifies the block after the last one applied, `height`: the
    /// pending set from its effective height on, the set in force before it.
    pub fn validators_for(&self, height: u64) -> &ValidatorSet {
        match self.pending_validators.as_ref() {
            Some(pending) if pending.effective_height <= height => &pending.validators,
            _ => &self.validators,
        }
    }

    /// A request.
    pub fn request(&self, id: u64) -> Option<&Request> {
        self.requests.get(&id)
    }

    /// The audit entries not yet taken by the store, oldest first.
    pub fn audit(&self) -> &[AuditEntry] {
        &self.audit
    }

    /// Takes the audit entries for the store (the state keeps no history).
    pub fn take_audit(&mut self) -> Vec<AuditEntry> {
        std::mem::take(&mut self.audit)
    }

    /// Usage of limit rule `rule` by `account` in period `period`.
    pub fn limit_usage(&self, rule: u32, account: &AccountId, period: u64) -> u128 {
        self.limit_usage
            .get(&(rule, *account, period))
            .copied()
            .unwrap_or(0)
    }

    /// Settlement events so far, oldest first.
    pub fn settlement_events(&self) -> &[SettlementEvent] {
        &self.settlement_events
    }

    pub(crate) fn account_or(&self, id: &AccountId) -> Result<&Account, LedgerError> {
        self.accounts
            .get(id)
            .ok_or(LedgerError::UnknownAccount(*id))
    }

    pub(crate) fn asset_or(&self, id: &AssetId) -> Result<&Asset, LedgerError> {
        self.assets.get(id).ok_or(LedgerError::UnknownAsset(*id))
    }

    /// Checks every invariant: balances sum to supply per asset, every asset holder is covered,
    /// unsettled amounts net to zero per asset.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let mut sums: BTreeMap<AssetId, u128> = BTreeMap::new();
        for ((_, asset), balance) in &self.balances {
            let total = balance.total().ok_or(InvariantViolation::Overflow)?;
            let sum = sums.entry(*asset).or_insert(0);
            *sum = sum.checked_add(total).ok_or(InvariantViolation::Overflow)?;
        }
        for asset in self.assets.values() {
            let sum = sums.get(&asset.id).copied().unwrap_or(0);
            if sum != asset.issued {
                return Err(InvariantViolation::SupplyMismatch {
                    asset: asset.id,
                    balances: sum,
                    issued: asset.issued,
                });
            }
        }
        for asset in self
            .assets
            .values()
            .filter(|a| a.backing == BackingKind::AllocatedPhysical)
        {
            let mapped = self.mapping.totals.get(&asset.id).copied().unwrap_or(0);
            if mapped != asset.issued {
                return Err(InvariantViolation::Unbacked {
                    asset: asset.id,
                    mapped,
                    issued: asset.issued,
                });
            }
        }
        let mut net: BTreeMap<AssetId, i128> = BTreeMap::new();
        let mut issued_by_holders: BTreeMap<AssetId, u128> = BTreeMap::new();
        for ((holder, asset), position) in &self.positions {
            position
                .check_covered(*holder)
                .map_err(|_| InvariantViolation::Uncovered {
                    asset_holder: *holder,
                    asset: *asset,
                })?;
            let n = net.entry(*asset).or_insert(0);
            *n = n
                .checked_add(position.unsettled)
                .ok_or(InvariantViolation::Overflow)?;
            let i = issued_by_holders.entry(*asset).or_insert(0);
            *i = i
                .checked_add(position.issued)
                .ok_or(InvariantViolation::Overflow)?;
        }
        if let Some((asset, amount)) = net.into_iter().find(|(_, n)| *n != 0) {
            return Err(InvariantViolation::UnsettledNotNetZero { asset, net: amount });
        }
        for asset in self
            .assets
            .values()
            .filter(|a| a.backing == BackingKind::DepositBacked)
        {
            let by_holders = issued_by_holders.get(&asset.id).copied().unwrap_or(0);
            if by_holders != asset.issued {
                return Err(InvariantViolation::HolderIssuedMismatch {
                    asset: asset.id,
                    holders: by_holders,
                    issued: asset.issued,
                });
            }
        }
        Ok(())
    }
}

/// A broken invariant: a bug in the ledger, never a user error. The block is not committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvariantViolation {
    /// Balances of an asset do not sum to its supply.
    #[error("balances of asset {asset} sum to {balances}, supply is {issued}")]
    SupplyMismatch {
        /// The asset.
        asset: AssetId,
        /// Sum of balances.
        balances: u128,
        /// Recorded supply.
        issued: u128,
    },
    /// An allocated asset's supply is not what the mapping backs.
    #[error("asset {asset} has supply {issued}, the mapping backs {mapped}")]
    Unbacked {
        /// The asset.
        asset: AssetId,
        /// Mapped amount.
        mapped: u128,
        /// Recorded supply.
        issued: u128,
    },
    /// An asset holder's assets do not cover its issued tokens.
    #[error("asset holder {asset_holder} is not covered in asset {asset}")]
    Uncovered {
        /// The asset holder.
        asset_holder: AccountId,
        /// The asset.
        asset: AssetId,
    },
    /// Unsettled amounts of an asset do not net to zero.
    #[error("unsettled amounts of asset {asset} net to {net}, not zero")]
    UnsettledNotNetZero {
        /// The asset.
        asset: AssetId,
        /// The net.
        net: i128,
    },
    /// Asset holders' issued figures do not sum to the asset's supply.
    #[error("asset holders' issued figures for {asset} sum to {holders}, supply is {issued}")]
    HolderIssuedMismatch {
        /// The asset.
        asset: AssetId,
        /// Sum over asset holders.
        holders: u128,
        /// Supply.
        issued: u128,
    },
    /// An allocated asset's supply differs from its mapped amount.
    #[error("allocated asset {asset} has supply {issued}, mapped {mapped}")]
    MappedMismatch {
        /// The asset.
        asset: AssetId,
        /// Mapped amount.
        mapped: u128,
        /// Supply.
        issued: u128,
    },
    /// A sum overflowed.
    #[error("a sum overflowed")]
    Overflow,
}

//! Why the ledger refused a transaction. Each error has a stable numeric code, recorded in the
//! transaction's receipt.

use lightclient::hash::Hash32;
use lightclient::header::ChainId;
use lightclient::keys::{AccountId, AssetId};
use lightclient::tx::{KycState, Role};

/// A refused transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The signer has no account.
    #[error("signer {0} has no account")]
    UnknownSigner(AccountId),
    /// The key the transaction carries is not the signer's current key.
    #[error("the transaction's key is not the current key of {0}")]
    WrongKey(AccountId),
    /// The signer lacks the role the operation needs.
    #[error("{account} lacks the {role:?} role this operation needs")]
    NotAuthorised {
        /// The signer.
        account: AccountId,
        /// One role that would do.
        role: Role,
    },
    /// A named account does not exist.
    #[error("account {0} does not exist")]
    UnknownAccount(AccountId),
    /// An account already exists for this key.
    #[error("an account for this key already exists: {0}")]
    AccountExists(AccountId),
    /// Another account already uses this key.
    #[error("the key is already used by account {0}")]
    KeyInUse(AccountId),
    /// The holder's signature over the registration challenge does not verify.
    #[error("the holder's signature over the registration challenge does not verify")]
    BadRegistrationSignature,
    /// The account is banned.
    #[error("account {0} is banned")]
    Banned(AccountId),
    /// The account's KYC state does not allow this.
    #[error("account {account} is {state:?}; it must be verified or corporate")]
    KycRequired {
        /// The account.
        account: AccountId,
        /// Its state.
        state: KycState,
    },
    /// Unban of an account that is not banned.
    #[error("account {0} is not banned")]
    NotBanned(AccountId),
    /// Revoking the last super admin would leave nobody to grant roles.
    #[error("{0} is the last super admin")]
    LastSuperAdmin(AccountId),
    /// Granting a role the account has, or revoking one it lacks.
    #[error("account {account} {} the {role:?} role", if *.has { "already has" } else { "does not have" })]
    RoleUnchanged {
        /// The account.
        account: AccountId,
        /// The role.
        role: Role,
        /// Whether it has it.
        has: bool,
    },
    /// An unknown asset.
    #[error("asset {0} does not exist")]
    UnknownAsset(AssetId),
    /// An asset code in use.
    #[error("asset code {0} is taken")]
    AssetExists(String),
    /// The operation does not apply to this kind of asset.
    #[error("asset {asset} is {kind}; this operation needs a {needed} asset")]
    WrongBacking {
        /// The asset.
        asset: AssetId,
        /// Its backing.
        kind: &'static str,
        /// What was needed.
        needed: &'static str,
    },
    /// An argument outside its allowed values.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Amount of zero.
    #[error("amount must be positive")]
    ZeroAmount,
    /// Not enough available balance.
    #[error("{account} has {available} of asset {asset} available, needs {needed}")]
    InsufficientBalance {
        /// The account.
        account: AccountId,
        /// The asset.
        asset: AssetId,
        /// What it has.
        available: u128,
        /// What it needs.
        needed: u128,
    },
    /// Not enough settled assets to withdraw.
    #[error("asset holder {asset_holder} has {settled} settled, cannot withdraw {amount}")]
    InsufficientSettled {
        /// The asset holder.
        asset_holder: AccountId,
        /// Settled assets.
        settled: u128,
        /// The amount asked.
        amount: u128,
    },
    /// The asset holder's assets would not cover its issued tokens.
    #[error("asset holder {asset_holder} would hold {assets} in assets against {issued} issued")]
    NotCovered {
        /// The asset holder.
        asset_holder: AccountId,
        /// Settled + unsettled after the operation.
        assets: i128,
        /// Issued after the operation.
        issued: u128,
    },
    /// Supply would exceed the asset's maximum.
    #[error("asset {asset} supply would be {supply}, above its maximum {maximum}")]
    AboveMaximum {
        /// The asset.
        asset: AssetId,
        /// The supply after.
        supply: u128,
        /// The maximum.
        maximum: u128,
    },
    /// The holder is not linked to the issuing asset holder.
    #[error("holder {holder} is not a customer of asset holder {asset_holder}")]
    NotCustomer {
        /// The holder.
        holder: AccountId,
        /// The asset holder.
        asset_holder: AccountId,
    },
    /// A deposit-backed transfer involves an account with no asset holder.
    #[error("account {0} has no asset holder, so it cannot hold deposit-backed tokens")]
    NoAssetHolder(AccountId),
    /// Arithmetic beyond the representable range.
    #[error("amount overflow")]
    Overflow,
    /// A transfer to oneself.
    #[error("sender and receiver are the same account")]
    SelfTransfer,
    /// Something the ledger does not do yet.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The fee the transaction states differs from the fee the rules give.
    #[error("the fee is {actual}, the transaction expects {expected}")]
    FeeMismatch {
        /// What the transaction stated.
        expected: u128,
        /// What the rules give.
        actual: u128,
    },
    /// A fee rule whose amount range overlaps another of the same scope.
    #[error("the amount range overlaps fee rule {other} of the same scope")]
    FeeRangeOverlap {
        /// The other rule.
        other: u32,
    },
    /// A limit would be exceeded.
    #[error("limit rule {rule}: {used} used of {max} this period, {amount} more is too much")]
    LimitExceeded {
        /// The rule.
        rule: u32,
        /// Used so far this period.
        used: u128,
        /// The amount asked.
        amount: u128,
        /// The limit.
        max: u128,
    },
    /// No such request.
    #[error("request {0} does not exist")]
    UnknownRequest(u64),
    /// The request was already decided.
    #[error("request {0} was already decided")]
    RequestDecided(u64),
    /// The signature does not verify.
    #[error("the transaction's signature does not verify")]
    BadSignature,
    /// Past its expiry height.
    #[error("the transaction expired at height {expires_at_height}; this is height {height}")]
    Expired {
        /// Its expiry.
        expires_at_height: u64,
        /// The current height.
        height: u64,
    },
    /// Expiry further ahead than the ledger remembers txids.
    #[error("expiry height {expires_at_height} is beyond the limit {limit}")]
    ExpiryTooFar {
        /// Its expiry.
        expires_at_height: u64,
        /// The furthest allowed.
        limit: u64,
    },
    /// The same txid was already included.
    #[error("transaction {0} was already included")]
    AlreadyIncluded(Hash32),
    /// No physical item with this serial.
    #[error("no item with serial {0:?}")]
    UnknownItem(String),
    /// The serial is registered already.
    #[error("an item with serial {0:?} is registered already")]
    ItemExists(String),
    /// The item was retired.
    #[error("item {0:?} is retired")]
    ItemRetired(String),
    /// The item backs tokens in the current mapping (or a pending issuance).
    #[error("item {0:?} is allocated")]
    ItemAllocated(String),
    /// The mapping allocates more of an item than its mass.
    #[error("the mapping allocates {allocated} of item {serial:?}, whose mass is {mass}")]
    ItemOverallocated {
        /// The item.
        serial: String,
        /// Allocated in the mapping.
        allocated: u128,
        /// Its mass.
        mass: u128,
    },
    /// The mapping object was refused.
    #[error("mapping refused: {0}")]
    Mapping(lightclient::mapping::MappingError),
    /// More supply for an asset that may not be reissued.
    #[error("asset {0} is not reissuable")]
    NotReissuable(AssetId),
    /// The mapping burns more than the redemption account holds.
    #[error("the mapping burns {burn} of asset {asset}; the redemption account holds only {held}")]
    BurnExceedsHeld {
        /// The asset.
        asset: AssetId,
        /// Amount to burn.
        burn: u128,
        /// Available in the redemption account.
        held: u128,
    },
    /// A burn that is not the sum of the oldest pending redemptions of the asset.
    #[error(
        "the mapping burns {burn} of asset {asset}, which is not the sum of the oldest pending redemptions {pending:?}"
    )]
    BurnNotRedeemed {
        /// The asset.
        asset: AssetId,
        /// Amount the mapping burns.
        burn: u128,
        /// Pending redemption amounts, oldest first.
        pending: Vec<u128>,
    },
    /// A first mapping of an asset whose total is not its issuance request's mass.
    #[error(
        "the mapping gives asset {asset} {mapped}; its issuance request's items hold {expected}"
    )]
    MappedTotalMismatch {
        /// The asset.
        asset: AssetId,
        /// Mapped total.
        mapped: u128,
        /// Mass of the requested items.
        expected: u128,
    },
    /// A first mapping of an asset that allocates it other than its request's items, in full.
    #[error(
        "the mapping gives asset {asset} item {serial}, which is not one of its requested items in full"
    )]
    ItemNotRequested {
        /// The asset.
        asset: AssetId,
        /// The item.
        serial: String,
    },
    /// The transaction is bound to another chain: another chain id or another genesis.
    #[error("transaction is for chain {chain_id} with genesis {genesis_hash}, not this one")]
    WrongChain {
        /// The transaction's chain id.
        chain_id: ChainId,
        /// The transaction's genesis hash.
        genesis_hash: Hash32,
    },
    /// The validator-set change is not approved (ADR 0016).
    #[error("validator-set change refused: {0}")]
    ValidatorSetChange(lightclient::validator::SetChangeError),
    /// Another validator-set change is pending.
    #[error("a validator-set change taking effect at height {effective_height} is pending")]
    ValidatorChangePending {
        /// When the pending change takes effect.
        effective_height: u64,
    },
    /// The effective height is too soon or too far ahead.
    #[error(
        "effective height {effective_height} is outside {earliest}..={latest} for a change in this block"
    )]
    EffectiveHeightOutOfRange {
        /// What the transaction asked.
        effective_height: u64,
        /// The earliest allowed.
        earliest: u64,
        /// The latest allowed.
        latest: u64,
    },
    /// A fee rule for an operation the ledger charges no fee on.
    #[error(
        "fees are charged on transfers and redemptions; a rule for {operation:?} would never charge"
    )]
    FeeNeverCharged {
        /// The rule's operation.
        operation: lightclient::tx::OperationKind,
    },
    /// One payment above a limit rule's per-payment maximum.
    #[error("limit rule {rule}: {amount} in one payment is above its maximum of {max}")]
    PaymentAboveLimit {
        /// The rule.
        rule: u32,
        /// The payment.
        amount: u128,
        /// The most one payment may move.
        max: u128,
    },
}

/// The name of a receipt code, for people reading receipts.
pub fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 53] = [
        "applied",
        "unknown_signer",
        "wrong_key",
        "not_authorised",
        "unknown_account",
        "account_exists",
        "key_in_use",
        "bad_registration_signature",
        "banned",
        "kyc_required",
        "not_banned",
        "last_super_admin",
        "role_unchanged",
        "unknown_asset",
        "asset_exists",
        "wrong_backing",
        "invalid_argument",
        "zero_amount",
        "insufficient_balance",
        "insufficient_settled",
        "not_covered",
        "above_maximum",
        "not_customer",
        "no_asset_holder",
        "overflow",
        "self_transfer",
        "unsupported",
        "fee_mismatch",
        "fee_range_overlap",
        "limit_exceeded",
        "unknown_request",
        "request_decided",
        "bad_signature",
        "expired",
        "expiry_too_far",
        "already_included",
        "unknown_item",
        "item_exists",
        "item_retired",
        "item_allocated",
        "item_overallocated",
        "mapping_refused",
        "not_reissuable",
        "burn_exceeds_held",
        "burn_not_redeemed",
        "mapped_total_mismatch",
        "item_not_requested",
        "wrong_chain",
        "validator_set_change_refused",
        "validator_change_pending",
        "effective_height_out_of_range",
        "fee_never_charged",
        "payment_above_limit",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("unknown_code")
}

impl LedgerError {
    /// The stable code in receipts (0 is success, so codes start at 1).
    pub fn code(&self) -> u32 {
        match self {
            LedgerError::UnknownSigner(_) => 1,
            LedgerError::WrongKey(_) => 2,
            LedgerError::NotAuthorised { .. } => 3,
            LedgerError::UnknownAccount(_) => 4,
            LedgerError::AccountExists(_) => 5,
            LedgerError::KeyInUse(_) => 6,
            LedgerError::BadRegistrationSignature => 7,
            LedgerError::Banned(_) => 8,
            LedgerError::KycRequired { .. } => 9,
            LedgerError::NotBanned(_) => 10,
            LedgerError::LastSuperAdmin(_) => 11,
            LedgerError::RoleUnchanged { .. } => 12,
            LedgerError::UnknownAsset(_) => 13,
            LedgerError::AssetExists(_) => 14,
            LedgerError::WrongBacking { .. } => 15,
            LedgerError::InvalidArgument(_) => 16,
            LedgerError::ZeroAmount => 17,
            LedgerError::InsufficientBalance { .. } => 18,
            LedgerError::InsufficientSettled { .. } => 19,
            LedgerError::NotCovered { .. } => 20,
            LedgerError::AboveMaximum { .. } => 21,
            LedgerError::NotCustomer { .. } => 22,
            LedgerError::NoAssetHolder(_) => 23,
            LedgerError::Overflow => 24,
            LedgerError::SelfTransfer => 25,
            LedgerError::Unsupported(_) => 26,
            LedgerError::FeeMismatch { .. } => 27,
            LedgerError::FeeRangeOverlap { .. } => 28,
            LedgerError::LimitExceeded { .. } => 29,
            LedgerError::UnknownRequest(_) => 30,
            LedgerError::RequestDecided(_) => 31,
            LedgerError::BadSignature => 32,
            LedgerError::Expired { .. } => 33,
            LedgerError::ExpiryTooFar { .. } => 34,
            LedgerError::AlreadyIncluded(_) => 35,
            LedgerError::UnknownItem(_) => 36,
            LedgerError::ItemExists(_) => 37,
            LedgerError::ItemRetired(_) => 38,
            LedgerError::ItemAllocated(_) => 39,
            LedgerError::ItemOverallocated { .. } => 40,
            LedgerError::Mapping(_) => 41,
            LedgerError::NotReissuable(_) => 42,
            LedgerError::BurnExceedsHeld { .. } => 43,
            LedgerError::BurnNotRedeemed { .. } => 44,
            LedgerError::MappedTotalMismatch { .. } => 45,
            LedgerError::ItemNotRequested { .. } => 46,
            LedgerError::WrongChain { .. } => 47,
            LedgerError::ValidatorSetChange(_) => 48,
            LedgerError::ValidatorChangePending { .. } => 49,
            LedgerError::EffectiveHeightOutOfRange { .. } => 50,
            LedgerError::FeeNeverCharged { .. } => 51,
            LedgerError::PaymentAboveLimit { .. } => 52,
        }
    }
}

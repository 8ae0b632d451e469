//! Transactions: the envelope, every ledger operation, txid and signatures.

use crate::amount::{option_u128_string, u128_string};
use crate::encoding::{
    Decode, DecodeError, Encode, Reader, expect_version, struct_codec, struct_enum_codec,
    unit_enum_codec,
};
use crate::hash::{Hash32, tagged_hash, tags};
use crate::header::ChainId;
use crate::keys::{AccountId, AssetId, KeyError, PublicKey, Signature};
use crate::validator::{SetApproval, ValidatorSet};

/// Roles an account can hold. Token holders hold none.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Grants and revokes every role.
    SuperAdmin,
    /// Sets KYC states, bans and unbans.
    KycAdmin,
    /// Sets fees.
    FeesAdmin,
    /// Sets limits.
    LimitsAdmin,
    /// Runs the (later) exchange.
    TradeAdmin,
    /// Recovers holders' keys.
    SecurityAdmin,
    /// Creates assets and approves issuance and redemption requests.
    IssuanceAdmin,
    /// Registers, moves and retires physical items.
    VaultStaff,
    /// Signs mapping objects (its key must also be in the genesis controller policy).
    Controller,
    /// A bank or custodian that issues tokens against its assets.
    AssetHolder,
    /// Holds asset holders' settled assets and runs settlement.
    SettlementInstitution,
}
unit_enum_codec!(Role {
    SuperAdmin = 1,
    KycAdmin = 2,
    FeesAdmin = 3,
    LimitsAdmin = 4,
    TradeAdmin = 5,
    SecurityAdmin = 6,
    IssuanceAdmin = 7,
    VaultStaff = 8,
    Controller = 9,
    AssetHolder = 10,
    SettlementInstitution = 11,
});

/// KYC state of an account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KycState {
    /// Registered, not yet checked.
    Unverified,
    /// A verified natural person.
    Verified,
    /// A verified legal entity.
    Corporate,
    /// May neither send nor receive.
    Banned,
}
unit_enum_codec!(KycState { Unverified = 1, Verified = 2, Corporate = 3, Banned = 4 });

/// What backs an asset.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackingKind {
    /// Backed by the asset holder's settled and unsettled assets at the settlement institution.
    DepositBacked,
    /// Backed by physical items named in the signed mapping object.
    AllocatedPhysical,
}
unit_enum_codec!(BackingKind { DepositBacked = 1, AllocatedPhysical = 2 });

/// Operations that fees and limits can be scoped to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperationKind {
    /// [`Operation::Issue`].
    Issue,
    /// [`Operation::Transfer`].
    Transfer,
    /// [`Operation::RequestRedemption`].
    Redemption,
    /// [`Operation::Deposit`].
    Deposit,
    /// [`Operation::Withdraw`].
    Withdraw,
}
unit_enum_codec!(OperationKind { Issue = 1, Transfer = 2, Redemption = 3, Deposit = 4, Withdraw = 5 });

/// Periods over which limits accumulate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitPeriod {
    /// A UTC calendar day.
    Daily,
    /// An ISO week.
    Weekly,
    /// A calendar month.
    Monthly,
    /// A calendar year.
    Annual,
}
unit_enum_codec!(LimitPeriod { Daily = 1, Weekly = 2, Monthly = 3, Annual = 4 });

/// What a fee or limit applies to; `None` fields match anything.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// The operation.
    pub operation: Option<OperationKind>,
    /// The asset.
    pub asset: Option<AssetId>,
    /// The account.
    pub account: Option<AccountId>,
    /// Accounts holding this role.
    pub role: Option<Role>,
    /// Accounts in this KYC state (the seed's "users' KYC/AML information").
    #[serde(default)]
    pub kyc_state: Option<KycState>,
}
struct_codec!(Scope {
    operation,
    asset,
    account,
    role,
    kyc_state
});

/// A fee: `flat + amount * percent_ppm / 1_000_000` for amounts in `[min_amount, max_amount]`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeRule {
    /// Where it applies.
    pub scope: Scope,
    /// Smallest amount the rule covers (inclusive).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "u128_string")]
    pub min_amount: u128,
    /// Largest amount the rule covers (inclusive).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "u128_string")]
    pub max_amount: u128,
    /// Flat part, base units.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "u128_string")]
    pub flat: u128,
    /// Percentage part in parts per million.
    pub percent_ppm: u32,
    /// The account fees are paid to.
    pub collector: AccountId,
}
struct_codec!(FeeRule {
    scope,
    min_amount,
    max_amount,
    flat,
    percent_ppm,
    collector
});

/// A limit on the amount moved per period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRule {
    /// Where it applies.
    pub scope: Scope,
    /// The period.
    pub period: LimitPeriod,
    /// Most base units per period.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    #[serde(with = "u128_string")]
    pub max_amount: u128,
    /// Most base units in one payment, if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(default, with = "option_u128_string")]
    pub max_per_payment: Option<u128>,
}
struct_codec!(LimitRule {
    scope,
    period,
    max_amount,
    max_per_payment
});

/// The decision on a reviewable request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
// Exhaustive for the same reason as `Operation`: a wire-format enum the ledger must handle whole.
pub enum Decision {
    /// Carry the request out.
    Approve {},
    /// Undo its effects.
    Reject {
        /// Why.
        reason: String,
    },
}
struct_enum_codec!(Decision { Approve = 1 {}, Reject = 2 { reason } });

/// Serde helper: bytes as lowercase hex.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(text.as_ref()).map_err(serde::de::Error::custom)
    }
}

/// Every ledger operation. The tag bytes are part of the wire format and never reused.
///
/// Deliberately exhaustive: a new operation is a protocol change (a new transaction version),
/// and every match over operations (the ledger, fees, names) must fail to compile until it
/// handles it, rather than fall into an "unsupported" wildcard arm.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// An asset holder registers a token holder, carrying the holder's signature over the asset
    /// holder's challenge ([`registration_digest`]); the holder is linked to the signing asset
    /// holder.
    RegisterHolder {
        /// The holder's key; its [`PublicKey::account_id`] becomes the account id.
        public_key: PublicKey,
        /// The asset holder's challenge.
        challenge: Hash32,
        /// The holder's signature over [`registration_digest`].
        holder_signature: Signature,
    },
    /// Sets an account's KYC state.
    SetKycState {
        /// The account.
        account: AccountId,
        /// The new state.
        state: KycState,
    },
    /// Bans an account, remembering its KYC state for unban.
    Ban {
        /// The account.
        account: AccountId,
        /// Why, for the audit log.
        reason: String,
    },
    /// Lifts a ban, restoring the KYC state the account had.
    Unban {
        /// The account.
        account: AccountId,
    },
    /// Rotates a holder's key after loss (the account id stays).
    RecoverKey {
        /// The account.
        account: AccountId,
        /// Its new key.
        new_public_key: PublicKey,
    },
    /// Grants a role.
    GrantRole {
        /// The account.
        account: AccountId,
        /// The role.
        role: Role,
    },
    /// Revokes a role.
    RevokeRole {
        /// The account.
        account: AccountId,
        /// The role.
        role: Role,
    },
    /// Creates a deposit-backed asset (allocated physical assets come from issuance requests).
    CreateAsset {
        /// Ticker-like code, unique.
        code: String,
        /// Decimals of one unit.
        precision: u8,
        /// What backs it.
        backing: BackingKind,
        /// Most base units that may ever be in supply.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        maximum: u128,
    },
    /// The settlement institution records assets it received for an asset holder (settled).
    Deposit {
        /// The asset holder.
        asset_holder: AccountId,
        /// The asset.
        asset: AssetId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        amount: u128,
    },
    /// The settlement institution pays out settled assets of an asset holder.
    Withdraw {
        /// The asset holder.
        asset_holder: AccountId,
        /// The asset.
        asset: AssetId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        amount: u128,
    },
    /// An asset holder issues tokens to one of its holders, within its coverage.
    Issue {
        /// The receiving holder.
        to: AccountId,
        /// The asset.
        asset: AssetId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        amount: u128,
    },
    /// Moves tokens between holders.
    Transfer {
        /// The receiver.
        to: AccountId,
        /// The asset.
        asset: AssetId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        amount: u128,
        /// The fee the sender expects to pay; a different computed fee rejects the transfer.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        expected_fee: u128,
    },
    /// Locks tokens for redemption until an admin approves (burn) or rejects (unlock).
    RequestRedemption {
        /// The asset.
        asset: AssetId,
        /// Base units.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        amount: u128,
        /// The fee the holder expects to pay.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        expected_fee: u128,
    },
    /// Approves or rejects a reviewable request.
    ReviewRequest {
        /// The request.
        request_id: u64,
        /// The decision.
        decision: Decision,
    },
    /// The settlement institution settles an asset: unsettled becomes settled.
    RunSettlement {
        /// The asset.
        asset: AssetId,
    },
    /// Vault staff register a physical item.
    RegisterItem {
        /// Serial number (the mapping's `vref`).
        serial: String,
        /// Refiner.
        refiner: String,
        /// Fine mass in base units of the mapping precision.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        mass: u128,
        /// Fineness in parts per 10,000 (9999 is 999.9).
        fineness: u16,
        /// Vault location.
        location: String,
    },
    /// Vault staff move an item.
    MoveItem {
        /// Serial number.
        serial: String,
        /// New location.
        location: String,
    },
    /// Vault staff retire an item released from custody.
    RetireItem {
        /// Serial number.
        serial: String,
    },
    /// Asks for a new allocated asset backed by these items; its asset id is derived from
    /// on-chain entropy when this request commits.
    RequestIssuance {
        /// Code of the new asset.
        code: String,
        /// Its precision (the mapping's amount precision).
        precision: u8,
        /// Account that receives the minted tokens.
        issuer: AccountId,
        /// Items to allocate.
        serials: Vec<String>,
        /// Whether later mapping updates may mint more of it.
        reissuable: bool,
    },
    /// Installs an n-of-m signed mapping object (its exact JSON bytes), minting or burning so that
    /// every allocated asset's supply equals its mapped amount.
    UpdateMapping {
        /// The exact bytes; the next header's mapping hash is their SHA-256.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "hex_bytes")]
        mapping: Vec<u8>,
    },
    /// Sets (or with `None` removes) fee rule `id`.
    SetFee {
        /// Rule id.
        id: u32,
        /// The rule.
        rule: Option<FeeRule>,
    },
    /// Sets (or with `None` removes) limit rule `id`.
    SetLimit {
        /// Rule id.
        id: u32,
        /// The rule.
        rule: Option<LimitRule>,
    },
    /// Exchange offer; the exchange is not built yet and the ledger refuses it as unsupported.
    PlaceOffer {
        /// Asset given.
        sell_asset: AssetId,
        /// Amount given.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        sell_amount: u128,
        /// Asset wanted.
        buy_asset: AssetId,
        /// Amount wanted.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        #[serde(with = "u128_string")]
        buy_amount: u128,
    },
    /// Cancels an exchange offer; refused as unsupported like [`Operation::PlaceOffer`].
    CancelOffer {
        /// The offer.
        offer_id: u64,
    },
    /// Replaces the validator set from `effective_height` on (ADR 0016). Any account may submit
    /// it; the approvals of more than 2/3 of the current set's power, each made in that
    /// validator's HSM over [`crate::validator::set_change_digest`], are what authorise it.
    ChangeValidatorSet {
        /// The complete new set.
        validators: ValidatorSet,
        /// The first height the new set certifies; at least the including block's height + 2.
        effective_height: u64,
        /// The current validators' approvals.
        approvals: Vec<SetApproval>,
    },
}

struct_enum_codec!(Operation {
    RegisterHolder = 1 { public_key, challenge, holder_signature },
    SetKycState = 2 { account, state },
    Ban = 3 { account, reason },
    Unban = 4 { account },
    RecoverKey = 5 { account, new_public_key },
    GrantRole = 6 { account, role },
    RevokeRole = 7 { account, role },
    CreateAsset = 8 { code, precision, backing, maximum },
    Deposit = 9 { asset_holder, asset, amount },
    Withdraw = 10 { asset_holder, asset, amount },
    Issue = 11 { to, asset, amount },
    Transfer = 12 { to, asset, amount, expected_fee },
    RequestRedemption = 13 { asset, amount, expected_fee },
    ReviewRequest = 14 { request_id, decision },
    RunSettlement = 15 { asset },
    RegisterItem = 16 { serial, refiner, mass, fineness, location },
    MoveItem = 17 { serial, location },
    RetireItem = 18 { serial },
    RequestIssuance = 19 { code, precision, issuer, serials, reissuable },
    UpdateMapping = 20 { mapping },
    SetFee = 21 { id, rule },
    SetLimit = 22 { id, rule },
    PlaceOffer = 23 { sell_asset, sell_amount, buy_asset, buy_amount },
    CancelOffer = 24 { offer_id },
    ChangeValidatorSet = 25 { validators, effective_height, approvals },
});

/// The digest a holder signs to prove control of its key at registration: the asset holder's
/// challenge bound to the chain and the asset holder.
pub fn registration_digest(
    chain_id: &ChainId,
    asset_holder: &AccountId,
    challenge: &Hash32,
) -> Hash32 {
    let mut bytes = Vec::new();
    chain_id.encode(&mut bytes);
    asset_holder.encode(&mut bytes);
    challenge.encode(&mut bytes);
    tagged_hash(tags::REGISTRATION_CHALLENGE, &bytes)
}

/// The transaction version this code writes and accepts. Version 2 added `genesis_hash`.
pub const TRANSACTION_VERSION: u16 = 2;

/// The chain a transaction is for: its human-readable id and the hash of its genesis file. Two
/// development chains may share an id; they never share a genesis hash, so a transaction signed
/// for one is refused by the other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainBinding {
    /// The chain id.
    pub chain_id: ChainId,
    /// The genesis hash ([`crate::genesis::Genesis::hash`]).
    pub genesis_hash: Hash32,
}

/// An unsigned transaction.
///
/// Replay protection is salt + expiry (ADR 0004): the ledger refuses a txid it has already seen,
/// and remembers txids only until their expiry height, so an account may have many transactions
/// in flight at once.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// Encoding version, [`TRANSACTION_VERSION`].
    pub version: u16,
    /// The chain it is valid on.
    pub chain_id: ChainId,
    /// The genesis hash of that chain: binds the transaction to one chain even where two share
    /// a chain id.
    pub genesis_hash: Hash32,
    /// The acting account.
    pub signer: AccountId,
    /// The key that signs; must be `signer`'s current key (carried so that the signature can be
    /// checked without state, once, when the transaction enters the mempool).
    pub public_key: PublicKey,
    /// Any value that makes the txid unique.
    pub salt: u64,
    /// Last height at which the transaction may be included.
    pub expires_at_height: u64,
    /// What to do.
    pub operation: Operation,
}

impl Encode for Transaction {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.chain_id.encode(out);
        self.genesis_hash.encode(out);
        self.signer.encode(out);
        self.public_key.encode(out);
        self.salt.encode(out);
        self.expires_at_height.encode(out);
        self.operation.encode(out);
    }
}

impl Decode for Transaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Transaction {
            version: expect_version(reader, "transaction", TRANSACTION_VERSION)?,
            chain_id: Decode::decode(reader)?,
            genesis_hash: Decode::decode(reader)?,
            signer: Decode::decode(reader)?,
            public_key: Decode::decode(reader)?,
            salt: Decode::decode(reader)?,
            expires_at_height: Decode::decode(reader)?,
            operation: Decode::decode(reader)?,
        })
    }
}

impl Transaction {
    /// The chain this transaction is bound to.
    pub fn binding(&self) -> ChainBinding {
        ChainBinding {
            chain_id: self.chain_id.clone(),
            genesis_hash: self.genesis_hash,
        }
    }

    /// The transaction id, which is also the digest the signer signs: the tagged hash of the
    /// canonical unsigned encoding.
    pub fn txid(&self) -> Hash32 {
        tagged_hash(tags::TRANSACTION, &self.to_bytes())
    }
}

/// A transaction with its signer's signature.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTransaction {
    /// The transaction.
    pub transaction: Transaction,
    /// Low-S ECDSA over [`Transaction::txid`] by `transaction.public_key`.
    pub signature: Signature,
}
struct_codec!(SignedTransaction {
    transaction,
    signature
});

impl SignedTransaction {
    /// The transaction id.
    pub fn txid(&self) -> Hash32 {
        self.transaction.txid()
    }

    /// Checks the signature against the key the transaction carries (not against the ledger's
    /// record of the signer; the ledger does that).
    pub fn verify_signature(&self) -> Result<(), KeyError> {
        self.transaction
            .public_key
            .verify_digest(self.txid().as_bytes(), &self.signature)
    }
}

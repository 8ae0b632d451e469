//! Operation handlers. Each checks everything first and changes state only once nothing can fail,
//! so a refused transaction leaves no trace but its receipt.

use lightclient::amount::MAX_PRECISION;
use lightclient::genesis::{asset_id_for_code, is_valid_asset_code};
use lightclient::hash::Hash32;
use lightclient::keys::{AccountId, AssetId, PublicKey, Signature};
use lightclient::tx::{BackingKind, KycState, Operation, Role, Transaction, registration_digest};

use std::collections::BTreeMap;

use lightclient::header::{Event, Receipt};
use lightclient::tx::{Decision, FeeRule, LimitRule, OperationKind, SignedTransaction};

use super::error::LedgerError;
use super::rules::{Subject, applicable_limits, check_fee_rule, fee_for};
use super::state::{
    Account, Asset, AuditEntry, Balance, LedgerState, Position, Request, RequestKind,
    RequestStatus, SettlementEvent,
};

/// Which part of a balance tokens leave from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Available,
    Locked,
}

/// The writes of one transaction, staged so that nothing lands unless every check passed.
#[derive(Default)]
struct Plan {
    balances: BTreeMap<(AccountId, AssetId), Balance>,
    positions: BTreeMap<(AccountId, AssetId), Position>,
    usage: BTreeMap<(u32, AccountId, u64), u128>,
    supply: BTreeMap<AssetId, u128>,
}

impl Plan {
    fn balance(&mut self, state: &LedgerState, account: AccountId, asset: AssetId) -> &mut Balance {
        self.balances
            .entry((account, asset))
            .or_insert_with(|| state.balance(&account, &asset))
    }

    fn position(
        &mut self,
        state: &LedgerState,
        holder: AccountId,
        asset: AssetId,
    ) -> &mut Position {
        self.positions
            .entry((holder, asset))
            .or_insert_with(|| state.position(&holder, &asset))
    }

    fn commit(self, state: &mut LedgerState) {
        state.balances.extend(self.balances);
        state.positions.extend(self.positions);
        state.limit_usage.extend(self.usage);
        for (asset, supply) in self.supply {
            if let Some(asset) = state.assets.get_mut(&asset) {
                asset.issued = supply;
            }
        }
    }
}

/// The fewest heights between a validator-set change's block and its effective height: the block
/// in between announces the new set (ADR 0016).
pub const MIN_VALIDATOR_CHANGE_DELAY: u64 = 2;
/// The most: an approved change cannot block every other change for longer than about a day of
/// blocks at one a second.
pub const MAX_VALIDATOR_CHANGE_DELAY: u64 = 100_000;

/// Where in the chain a transaction executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    /// Height of the block.
    pub height: u64,
    /// Its time, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Entropy every node agrees on and nobody could choose: the previous block's hash.
    pub entropy: Hash32,
}

pub(super) fn add(a: u128, b: u128) -> Result<u128, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

fn signed(amount: u128) -> Result<i128, LedgerError> {
    i128::try_from(amount).map_err(|_| LedgerError::Overflow)
}

pub(super) fn positive(amount: u128) -> Result<(), LedgerError> {
    if amount == 0 {
        Err(LedgerError::ZeroAmount)
    } else {
        Ok(())
    }
}

impl LedgerState {
    /// Executes one transaction whose signature the caller has checked: the signer must exist
    /// and the transaction's key must be its current key.
    pub fn execute(&mut self, tx: &Transaction, ctx: BlockContext) -> Result<(), LedgerError> {
        let signer = self.signer_of(tx)?.clone();
        match &tx.operation {
            Operation::RegisterHolder {
                public_key,
                challenge,
                holder_signature,
            } => self.register_holder(&signer, public_key, challenge, holder_signature),
            Operation::SetKycState { account, state } => self.set_kyc(&signer, account, *state),
            Operation::Ban { account, .. } => self.ban(&signer, account),
            Operation::Unban { account } => self.unban(&signer, account),
            Operation::RecoverKey {
                account,
                new_public_key,
            } => self.recover_key(&signer, account, new_public_key),
            Operation::GrantRole { account, role } => self.set_role(&signer, account, *role, true),
            Operation::RevokeRole { account, role } => {
                self.set_role(&signer, account, *role, false)
            }
            Operation::CreateAsset {
                code,
                precision,
                backing,
                maximum,
            } => self.create_asset(&signer, code, *precision, *backing, *maximum),
            Operation::Deposit {
                asset_holder,
                asset,
                amount,
            } => self.deposit(&signer, asset_holder, asset, *amount),
            Operation::Withdraw {
                asset_holder,
                asset,
                amount,
            } => self.withdraw(&signer, asset_holder, asset, *amount),
            Operation::Issue { to, asset, amount } => self.issue(&signer, to, asset, *amount),
            Operation::Transfer {
                to,
                asset,
                amount,
                expected_fee,
            } => self.transfer(&signer, to, asset, *amount, *expected_fee, ctx),
            Operation::SetFee { id, rule } => self.set_fee(&signer, *id, rule.as_ref()),
            Operation::SetLimit { id, rule } => self.set_limit(&signer, *id, rule.as_ref()),
            Operation::RequestRedemption {
                asset,
                amount,
                expected_fee,
            } => self.request_redemption(&signer, asset, *amount, *expected_fee, ctx),
            Operation::ReviewRequest {
                request_id,
                decision,
            } => self.review_request(&signer, *request_id, decision, ctx),
            Operation::RunSettlement { asset } => self.run_settlement(&signer, asset, ctx),
            Operation::RegisterItem {
                serial,
                refiner,
                mass,
                fineness,
                location,
            } => self.register_item(&signer, serial, refiner, *mass, *fineness, location),
            Operation::MoveItem { serial, location } => self.move_item(&signer, serial, location),
            Operation::RetireItem { serial } => self.retire_item(&signer, serial),
            Operation::RequestIssuance {
                code,
                precision,
                issuer,
                serials,
                reissuable,
            } => self.request_issuance(
                &signer,
                tx,
                code,
                *precision,
                issuer,
                serials,
                *reissuable,
                ctx,
            ),
            Operation::UpdateMapping { mapping } => {
                self.update_mapping(&signer, mapping, &tx.txid(), ctx)
            }
            Operation::PlaceOffer { .. } | Operation::CancelOffer { .. } => Err(
                LedgerError::Unsupported("the internal exchange is not built yet"),
            ),
            Operation::ChangeValidatorSet {
                validators,
                effective_height,
                approvals,
            } => self.change_validator_set(validators, *effective_height, approvals, ctx),
        }
    }

    /// Records an approved validator set to take over at `effective_height` (ADR 0016). The
    /// approvals, not the signer, authorise it: the signer may be any account.
    fn change_validator_set(
        &mut self,
        next: &lightclient::validator::ValidatorSet,
        effective_height: u64,
        approvals: &[lightclient::validator::SetApproval],
        ctx: BlockContext,
    ) -> Result<(), LedgerError> {
        if let Some(pending) = self.pending_validators.as_ref() {
            return Err(LedgerError::ValidatorChangePending {
                effective_height: pending.effective_height,
            });
        }
        // The block before the effective height must be able to announce the new set in its
        // `next_validator_set_hash`, so the change can never be for the next block.
        let earliest = ctx.height.saturating_add(MIN_VALIDATOR_CHANGE_DELAY);
        let latest = ctx.height.saturating_add(MAX_VALIDATOR_CHANGE_DELAY);
        if effective_height < earliest || effective_height > latest {
            return Err(LedgerError::EffectiveHeightOutOfRange {
                effective_height,
                earliest,
                latest,
            });
        }
        lightclient::validator::verify_set_change(
            &self.chain_id,
            &self.genesis_hash,
            &self.validators,
            next,
            effective_height,
            approvals,
        )
        .map_err(LedgerError::ValidatorSetChange)?;
        self.pending_validators
            .set(Some(lightclient::state::PendingValidatorsEntry {
                validators: next.clone(),
                effective_height,
            }));
        self.events.push(Event::ValidatorSetChanged {
            hash: next.hash(),
            effective_height,
        });
        Ok(())
    }

    /// Starts block `height`: a pending validator set whose effective height this is becomes
    /// the set in force.
    fn enter_height(&mut self, height: u64) {
        let due = self
            .pending_validators
            .as_ref()
            .is_some_and(|pending| pending.effective_height <= height);
        if due && let Some(pending) = self.pending_validators.get_mut().take() {
            self.validators.set(pending.validators);
        }
    }

    /// The account that signs `tx`: the transaction must be bound to this chain, and its key
    /// must be the signer's current key.
    pub fn signer_of(&self, tx: &Transaction) -> Result<&Account, LedgerError> {
        if tx.chain_id != self.chain_id || tx.genesis_hash != self.genesis_hash {
            return Err(LedgerError::WrongChain {
                chain_id: tx.chain_id.clone(),
                genesis_hash: tx.genesis_hash,
            });
        }
        let signer = self
            .accounts
            .get(&tx.signer)
            .ok_or(LedgerError::UnknownSigner(tx.signer))?;
        if signer.public_key != tx.public_key {
            return Err(LedgerError::WrongKey(tx.signer));
        }
        Ok(signer)
    }

    /// Whether a transaction may enter the mempool as far as the state says: bound to this
    /// chain, signed by a registered, unbanned account with its current key, and not already
    /// included. (Registration of a new holder is signed by its asset holder, so this admits it.)
    /// A block may still refuse it later, with a receipt, if the state changes first.
    pub fn admits(&self, tx: &SignedTransaction) -> Result<(), LedgerError> {
        let signer = self.signer_of(&tx.transaction)?;
        if signer.kyc == KycState::Banned {
            return Err(LedgerError::Banned(signer.id));
        }
        let txid = tx.txid();
        if self.seen_txids.contains_key(&txid) {
            return Err(LedgerError::AlreadyIncluded(txid));
        }
        Ok(())
    }

    pub(super) fn require(&self, signer: &Account, roles: &[Role]) -> Result<(), LedgerError> {
        if signer.kyc == KycState::Banned {
            return Err(LedgerError::Banned(signer.id));
        }
        match roles.iter().find(|r| signer.has(**r)) {
            Some(_) => Ok(()),
            None => Err(LedgerError::NotAuthorised {
                account: signer.id,
                role: roles.first().copied().unwrap_or(Role::SuperAdmin),
            }),
        }
    }

    fn register_holder(
        &mut self,
        signer: &Account,
        public_key: &PublicKey,
        challenge: &Hash32,
        holder_signature: &Signature,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::AssetHolder])?;
        let id = public_key.account_id();
        if self.accounts.contains_key(&id) {
            return Err(LedgerError::AccountExists(id));
        }
        if let Some(owner) = self.keys.get(public_key) {
            return Err(LedgerError::KeyInUse(*owner));
        }
        let digest = registration_digest(&self.chain_id, &signer.id, challenge);
        public_key
            .verify_digest(digest.as_bytes(), holder_signature)
            .map_err(|_| LedgerError::BadRegistrationSignature)?;
        self.keys.insert(*public_key, id);
        self.accounts.insert(
            id,
            Account {
                id,
                public_key: *public_key,
                roles: Default::default(),
                kyc: KycState::Unverified,
                kyc_before_ban: None,
                asset_holder: Some(signer.id),
            },
        );
        Ok(())
    }

    fn set_kyc(
        &mut self,
        signer: &Account,
        account: &AccountId,
        state: KycState,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::KycAdmin, Role::SuperAdmin])?;
        if state == KycState::Banned {
            return Err(LedgerError::InvalidArgument(
                "use the ban operation to ban".into(),
            ));
        }
        let target = self.account_or(account)?;
        if target.kyc == KycState::Banned {
            return Err(LedgerError::Banned(*account));
        }
        if let Some(target) = self.accounts.get_mut(account) {
            target.kyc = state;
        }
        Ok(())
    }

    fn ban(&mut self, signer: &Account, account: &AccountId) -> Result<(), LedgerError> {
        self.require(signer, &[Role::KycAdmin, Role::SuperAdmin])?;
        let target = self.account_or(account)?;
        if target.kyc == KycState::Banned {
            return Err(LedgerError::Banned(*account));
        }
        if let Some(target) = self.accounts.get_mut(account) {
            target.kyc_before_ban = Some(target.kyc);
            target.kyc = KycState::Banned;
        }
        Ok(())
    }

    fn unban(&mut self, signer: &Account, account: &AccountId) -> Result<(), LedgerError> {
        self.require(signer, &[Role::KycAdmin, Role::SuperAdmin])?;
        let target = self.account_or(account)?;
        if target.kyc != KycState::Banned {
            return Err(LedgerError::NotBanned(*account));
        }
        if let Some(target) = self.accounts.get_mut(account) {
            target.kyc = target.kyc_before_ban.take().unwrap_or(KycState::Unverified);
        }
        Ok(())
    }

    fn recover_key(
        &mut self,
        signer: &Account,
        account: &AccountId,
        new_key: &PublicKey,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::SecurityAdmin])?;
        let old_key = self.account_or(account)?.public_key;
        if let Some(owner) = self.keys.get(new_key) {
            return Err(LedgerError::KeyInUse(*owner));
        }
        self.keys.remove(&old_key);
        self.keys.insert(*new_key, *account);
        if let Some(target) = self.accounts.get_mut(account) {
            target.public_key = *new_key;
        }
        Ok(())
    }

    fn set_role(
        &mut self,
        signer: &Account,
        account: &AccountId,
        role: Role,
        grant: bool,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::SuperAdmin])?;
        let target = self.account_or(account)?;
        if target.has(role) == grant {
            return Err(LedgerError::RoleUnchanged {
                account: *account,
                role,
                has: grant,
            });
        }
        if !grant && role == Role::SuperAdmin {
            let supers = self
                .accounts
                .values()
                .filter(|a| a.has(Role::SuperAdmin))
                .count();
            if supers <= 1 {
                return Err(LedgerError::LastSuperAdmin(*account));
            }
        }
        if let Some(target) = self.accounts.get_mut(account) {
            if grant {
                target.roles.insert(role);
            } else {
                target.roles.remove(&role);
            }
        }
        Ok(())
    }

    fn create_asset(
        &mut self,
        signer: &Account,
        code: &str,
        precision: u8,
        backing: BackingKind,
        maximum: u128,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::IssuanceAdmin, Role::SuperAdmin])?;
        if !is_valid_asset_code(code) {
            return Err(LedgerError::InvalidArgument(format!(
                "asset code {code:?} must be 1 to 16 of A-Z, 0-9"
            )));
        }
        if precision > MAX_PRECISION {
            return Err(LedgerError::InvalidArgument(format!(
                "precision {precision} is above {MAX_PRECISION}"
            )));
        }
        if backing != BackingKind::DepositBacked {
            return Err(LedgerError::InvalidArgument(
                "allocated physical assets are created by issuance requests".into(),
            ));
        }
        positive(maximum)?;
        let id = asset_id_for_code(code);
        if self.assets.contains_key(&id) {
            return Err(LedgerError::AssetExists(code.to_string()));
        }
        self.assets.insert(
            id,
            Asset {
                id,
                code: code.to_string(),
                precision,
                backing,
                issued: 0,
                maximum,
            },
        );
        Ok(())
    }

    fn asset_holder_for(&self, holder: &AccountId, asset: &AssetId) -> Result<(), LedgerError> {
        let account = self.account_or(holder)?;
        if !account.has(Role::AssetHolder) {
            return Err(LedgerError::NotAuthorised {
                account: *holder,
                role: Role::AssetHolder,
            });
        }
        self.asset_or(asset)?.require(BackingKind::DepositBacked)
    }

    fn deposit(
        &mut self,
        signer: &Account,
        asset_holder: &AccountId,
        asset: &AssetId,
        amount: u128,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::SettlementInstitution])?;
        positive(amount)?;
        self.asset_holder_for(asset_holder, asset)?;
        let mut position = self.position(asset_holder, asset);
        position.settled = add(position.settled, amount)?;
        position.assets().ok_or(LedgerError::Overflow)?;
        self.positions.insert((*asset_holder, *asset), position);
        Ok(())
    }

    fn withdraw(
        &mut self,
        signer: &Account,
        asset_holder: &AccountId,
        asset: &AssetId,
        amount: u128,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::SettlementInstitution])?;
        positive(amount)?;
        self.asset_holder_for(asset_holder, asset)?;
        let mut position = self.position(asset_holder, asset);
        position.settled =
            position
                .settled
                .checked_sub(amount)
                .ok_or(LedgerError::InsufficientSettled {
                    asset_holder: *asset_holder,
                    settled: position.settled,
                    amount,
                })?;
        position.check_covered(*asset_holder)?;
        self.positions.insert((*asset_holder, *asset), position);
        Ok(())
    }

    fn issue(
        &mut self,
        signer: &Account,
        to: &AccountId,
        asset_id: &AssetId,
        amount: u128,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::AssetHolder])?;
        positive(amount)?;
        let asset = self.asset_or(asset_id)?;
        asset.require(BackingKind::DepositBacked)?;
        let holder = self.account_or(to)?;
        if holder.asset_holder != Some(signer.id) {
            return Err(LedgerError::NotCustomer {
                holder: *to,
                asset_holder: signer.id,
            });
        }
        holder.check_may_transact()?;
        let supply = add(asset.issued, amount)?;
        if supply > asset.maximum {
            return Err(LedgerError::AboveMaximum {
                asset: *asset_id,
                supply,
                maximum: asset.maximum,
            });
        }
        let mut position = self.position(&signer.id, asset_id);
        position.issued = add(position.issued, amount)?;
        position.check_covered(signer.id)?;
        let mut balance = self.balance(to, asset_id);
        balance.available = add(balance.available, amount)?;
        balance.total().ok_or(LedgerError::Overflow)?;

        self.positions.insert((signer.id, *asset_id), position);
        self.balances.insert((*to, *asset_id), balance);
        if let Some(asset) = self.assets.get_mut(asset_id) {
            asset.issued = supply;
        }
        self.events.push(Event::Mint {
            asset: *asset_id,
            to: *to,
            amount,
        });
        Ok(())
    }

    fn transfer(
        &mut self,
        signer: &Account,
        to: &AccountId,
        asset_id: &AssetId,
        amount: u128,
        expected_fee: u128,
        ctx: BlockContext,
    ) -> Result<(), LedgerError> {
        positive(amount)?;
        signer.check_may_transact()?;
        if *to == signer.id {
            return Err(LedgerError::SelfTransfer);
        }
        let asset = self.asset_or(asset_id)?.clone();
        let receiver = self.account_or(to)?.clone();
        receiver.check_may_transact()?;
        let subject = Subject {
            operation: OperationKind::Transfer,
            asset: asset_id,
            account: signer,
        };
        let fee = self.fee(&subject, amount, expected_fee)?;
        let mut plan = Plan::default();
        self.charge_limits(&mut plan, &subject, amount, ctx)?;
        self.move_tokens(
            &mut plan,
            signer,
            &receiver,
            &asset,
            amount,
            Source::Available,
        )?;
        let mut events = vec![Event::Transfer {
            asset: *asset_id,
            from: signer.id,
            to: *to,
            amount,
        }];
        if let Some((fee, collector)) = fee {
            let collector = self.account_or(&collector)?.clone();
            self.move_tokens(
                &mut plan,
                signer,
                &collector,
                &asset,
                fee,
                Source::Available,
            )?;
            events.push(Event::FeeCharged {
                asset: *asset_id,
                payer: signer.id,
                collector: collector.id,
                amount: fee,
            });
        }
        plan.commit(self);
        self.events.extend(events);
        Ok(())
    }

    /// The fee the rules in force give `account` for `operation` of `amount` of `asset` (what
    /// a wallet puts in `expected_fee`); 0 where no rule applies.
    pub fn quote_fee(
        &self,
        account: &AccountId,
        operation: OperationKind,
        asset: &AssetId,
        amount: u128,
    ) -> Result<u128, LedgerError> {
        let account = self
            .accounts
            .get(account)
            .ok_or(LedgerError::UnknownAccount(*account))?;
        let subject = Subject {
            operation,
            asset,
            account,
        };
        Ok(fee_for(self.fees.as_map(), &subject, amount)?.map_or(0, |(fee, _)| fee))
    }

    /// The fee for an operation, checked against what the transaction expects.
    fn fee(
        &self,
        subject: &Subject<'_>,
        amount: u128,
        expected: u128,
    ) -> Result<Option<(u128, AccountId)>, LedgerError> {
        let fee = fee_for(self.fees.as_map(), subject, amount)?.filter(|(fee, _)| *fee > 0);
        let actual = fee.map_or(0, |(fee, _)| fee);
        if actual == expected {
            Ok(fee)
        } else {
            Err(LedgerError::FeeMismatch { expected, actual })
        }
    }

    /// Adds `amount` to every applicable limit's usage in `plan`, refusing if any is exceeded
    /// (the strictest rule therefore always binds).
    fn charge_limits(
        &self,
        plan: &mut Plan,
        subject: &Subject<'_>,
        amount: u128,
        ctx: BlockContext,
    ) -> Result<Vec<(u32, u64, u128)>, LedgerError> {
        let mut charges = Vec::new();
        for (rule_id, rule, period) in applicable_limits(self.limits.as_map(), subject, ctx.time_ms)
        {
            let key = (rule_id, subject.account.id, period);
            let used = plan
                .usage
                .get(&key)
                .copied()
                .unwrap_or_else(|| self.limit_usage(rule_id, &subject.account.id, period));
            if let Some(max) = rule.max_per_payment
                && amount > max
            {
                return Err(LedgerError::PaymentAboveLimit {
                    rule: rule_id,
                    amount,
                    max,
                });
            }
            let after = add(used, amount)?;
            if after > rule.max_amount {
                return Err(LedgerError::LimitExceeded {
                    rule: rule_id,
                    used,
                    amount,
                    max: rule.max_amount,
                });
            }
            plan.usage.insert(key, after);
            charges.push((rule_id, period, amount));
        }
        Ok(charges)
    }

    /// Moves tokens between holders in `plan`; for deposit-backed assets held through different
    /// asset holders, the obligation moves too (unsettled and issued), keeping both covered.
    fn move_tokens(
        &self,
        plan: &mut Plan,
        from: &Account,
        to: &Account,
        asset: &Asset,
        amount: u128,
        source: Source,
    ) -> Result<(), LedgerError> {
        let from_balance = plan.balance(self, from.id, asset.id);
        let pool = match source {
            Source::Available => &mut from_balance.available,
            Source::Locked => &mut from_balance.locked,
        };
        *pool = pool
            .checked_sub(amount)
            .ok_or(LedgerError::InsufficientBalance {
                account: from.id,
                asset: asset.id,
                available: *pool,
                needed: amount,
            })?;
        let to_balance = plan.balance(self, to.id, asset.id);
        to_balance.available = add(to_balance.available, amount)?;
        to_balance.total().ok_or(LedgerError::Overflow)?;
        if asset.backing != BackingKind::DepositBacked {
            return Ok(());
        }
        let from_holder = from
            .asset_holder
            .ok_or(LedgerError::NoAssetHolder(from.id))?;
        let to_holder = to.asset_holder.ok_or(LedgerError::NoAssetHolder(to.id))?;
        if from_holder == to_holder {
            return Ok(());
        }
        let delta = signed(amount)?;
        let from_pos = plan.position(self, from_holder, asset.id);
        from_pos.unsettled = from_pos
            .unsettled
            .checked_sub(delta)
            .ok_or(LedgerError::Overflow)?;
        from_pos.issued = from_pos
            .issued
            .checked_sub(amount)
            .ok_or(LedgerError::Overflow)?;
        from_pos.check_covered(from_holder)?;
        let to_pos = plan.position(self, to_holder, asset.id);
        to_pos.unsettled = to_pos
            .unsettled
            .checked_add(delta)
            .ok_or(LedgerError::Overflow)?;
        to_pos.issued = add(to_pos.issued, amount)?;
        to_pos.check_covered(to_holder)
    }

    fn set_fee(
        &mut self,
        signer: &Account,
        id: u32,
        rule: Option<&FeeRule>,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::FeesAdmin, Role::SuperAdmin])?;
        match rule {
            Some(rule) => {
                check_fee_rule(self.fees.as_map(), id, rule)?;
                // The ledger charges fees on transfers and redemptions only; a rule for another
                // operation would never charge, so it is refused rather than kept.
                if let Some(operation) = rule.scope.operation
                    && !matches!(
                        operation,
                        OperationKind::Transfer | OperationKind::Redemption
                    )
                {
                    return Err(LedgerError::FeeNeverCharged { operation });
                }
                let collector = self.account_or(&rule.collector)?;
                // Deposit-backed tokens are held through an asset holder; a collector without
                // one would make every fee the rule charges fail, so refuse the rule now.
                let deposit_backed = match &rule.scope.asset {
                    Some(asset) => {
                        self.assets
                            .get(asset)
                            .ok_or(LedgerError::UnknownAsset(*asset))?
                            .backing
                            == BackingKind::DepositBacked
                    }
                    None => self
                        .assets
                        .values()
                        .any(|a| a.backing == BackingKind::DepositBacked),
                };
                if deposit_backed && collector.asset_holder.is_none() {
                    return Err(LedgerError::NoAssetHolder(collector.id));
                }
                self.fees.insert(id, rule.clone());
            }
            None => {
                self.fees
                    .remove(&id)
                    .ok_or_else(|| LedgerError::InvalidArgument(format!("no fee rule {id}")))?;
            }
        }
        Ok(())
    }

    fn set_limit(
        &mut self,
        signer: &Account,
        id: u32,
        rule: Option<&LimitRule>,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::LimitsAdmin, Role::SuperAdmin])?;
        match rule {
            Some(rule) => {
                if rule.max_per_payment == Some(0) {
                    return Err(LedgerError::InvalidArgument(
                        "a per-payment maximum of 0 would refuse every payment; remove the rule instead".into(),
                    ));
                }
                self.limits.insert(id, rule.clone());
            }
            None => {
                self.limits
                    .remove(&id)
                    .ok_or_else(|| LedgerError::InvalidArgument(format!("no limit rule {id}")))?;
            }
        }
        Ok(())
    }

    fn request_redemption(
        &mut self,
        signer: &Account,
        asset_id: &AssetId,
        amount: u128,
        expected_fee: u128,
        ctx: BlockContext,
    ) -> Result<(), LedgerError> {
        positive(amount)?;
        signer.check_may_transact()?;
        let allocated = self.asset_or(asset_id)?.backing == BackingKind::AllocatedPhysical;
        let subject = Subject {
            operation: OperationKind::Redemption,
            asset: asset_id,
            account: signer,
        };
        let fee = self.fee(&subject, amount, expected_fee)?;
        let total = add(amount, fee.map_or(0, |(f, _)| f))?;
        let mut plan = Plan::default();
        let limit_charges = self.charge_limits(&mut plan, &subject, amount, ctx)?;
        let balance = plan.balance(self, signer.id, *asset_id);
        balance.available =
            balance
                .available
                .checked_sub(total)
                .ok_or(LedgerError::InsufficientBalance {
                    account: signer.id,
                    asset: *asset_id,
                    available: balance.available,
                    needed: total,
                })?;
        if allocated {
            // Allocated tokens wait in the redemption account until the signed mapping update
            // that removes their backing burns them.
            let pot = plan.balance(self, AccountId::REDEMPTION, *asset_id);
            pot.available = add(pot.available, total)?;
            self.events.push(Event::Transfer {
                asset: *asset_id,
                from: signer.id,
                to: AccountId::REDEMPTION,
                amount: total,
            });
        } else {
            balance.locked = add(balance.locked, total)?;
        }
        plan.commit(self);
        let id = *self.next_request_id;
        self.next_request_id.set(id.saturating_add(1));
        self.requests.insert(
            id,
            Request {
                id,
                created_height: ctx.height,
                kind: RequestKind::Redemption {
                    holder: signer.id,
                    asset: *asset_id,
                    amount,
                    fee: fee.map_or(0, |(f, _)| f),
                    collector: fee.map(|(_, c)| c),
                    limit_charges,
                },
                status: RequestStatus::Pending,
            },
        );
        Ok(())
    }

    fn review_request(
        &mut self,
        signer: &Account,
        request_id: u64,
        decision: &Decision,
        ctx: BlockContext,
    ) -> Result<(), LedgerError> {
        let request = self
            .requests
            .get(&request_id)
            .ok_or(LedgerError::UnknownRequest(request_id))?
            .clone();
        if request.status != RequestStatus::Pending {
            return Err(LedgerError::RequestDecided(request_id));
        }
        let (holder, asset, amount, fee, collector, limit_charges) = match &request.kind {
            RequestKind::Redemption {
                holder,
                asset,
                amount,
                fee,
                collector,
                limit_charges,
            } => (holder, asset, amount, fee, collector, limit_charges),
            RequestKind::Issuance { asset, .. } => {
                return self.decide_issuance(signer, request_id, *asset, decision, ctx);
            }
        };
        let holder = self.account_or(holder)?.clone();
        let is_holders_bank =
            signer.has(Role::AssetHolder) && holder.asset_holder == Some(signer.id);
        if !is_holders_bank {
            self.require(signer, &[Role::IssuanceAdmin])?;
        }
        let asset = self.asset_or(asset)?.clone();
        let total = add(*amount, *fee)?;
        let mut plan = Plan::default();
        if asset.backing == BackingKind::AllocatedPhysical {
            self.require(signer, &[Role::IssuanceAdmin])?;
        }
        let status = match decision {
            Decision::Approve {} if asset.backing == BackingKind::AllocatedPhysical => {
                return Err(LedgerError::InvalidArgument(
                    "an allocated redemption is approved by the signed mapping update that burns it"
                        .into(),
                ));
            }
            Decision::Approve {} => {
                if let Some(collector) = collector.filter(|_| *fee > 0) {
                    let collector = self.account_or(&collector)?.clone();
                    self.move_tokens(&mut plan, &holder, &collector, &asset, *fee, Source::Locked)?;
                    self.events.push(Event::FeeCharged {
                        asset: asset.id,
                        payer: holder.id,
                        collector: collector.id,
                        amount: *fee,
                    });
                }
                self.events.push(Event::Burn {
                    asset: asset.id,
                    from: holder.id,
                    amount: *amount,
                });
                let balance = plan.balance(self, holder.id, asset.id);
                balance.locked = balance
                    .locked
                    .checked_sub(*amount)
                    .ok_or(LedgerError::Overflow)?;
                let bank = holder
                    .asset_holder
                    .ok_or(LedgerError::NoAssetHolder(holder.id))?;
                let position = plan.position(self, bank, asset.id);
                position.issued = position
                    .issued
                    .checked_sub(*amount)
                    .ok_or(LedgerError::Overflow)?;
                plan.supply.insert(
                    asset.id,
                    asset
                        .issued
                        .checked_sub(*amount)
                        .ok_or(LedgerError::Overflow)?,
                );
                RequestStatus::Approved { height: ctx.height }
            }
            Decision::Reject { reason } => {
                // The tokens come back from where the request put them.
                if asset.backing == BackingKind::AllocatedPhysical {
                    let pot = plan.balance(self, AccountId::REDEMPTION, asset.id);
                    pot.available = pot
                        .available
                        .checked_sub(total)
                        .ok_or(LedgerError::Overflow)?;
                } else {
                    let balance = plan.balance(self, holder.id, asset.id);
                    balance.locked = balance
                        .locked
                        .checked_sub(total)
                        .ok_or(LedgerError::Overflow)?;
                }
                let balance = plan.balance(self, holder.id, asset.id);
                balance.available = add(balance.available, total)?;
                for (rule, period, charged) in limit_charges {
                    let key = (*rule, holder.id, *period);
                    let used = self.limit_usage(*rule, &holder.id, *period);
                    plan.usage.insert(key, used.saturating_sub(*charged));
                }
                RequestStatus::Rejected {
                    height: ctx.height,
                    reason: reason.clone(),
                }
            }
        };
        plan.commit(self);
        if let Some(request) = self.requests.get_mut(&request_id) {
            request.status = status;
        }
        Ok(())
    }

    fn run_settlement(
        &mut self,
        signer: &Account,
        asset_id: &AssetId,
        ctx: BlockContext,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::SettlementInstitution])?;
        self.asset_or(asset_id)?
            .require(BackingKind::DepositBacked)?;
        let mut settled = Vec::new();
        for ((holder, asset), position) in &self.positions {
            if asset != asset_id || position.unsettled == 0 {
                continue;
            }
            let assets = position.assets().ok_or(LedgerError::Overflow)?;
            let new_settled = u128::try_from(assets).map_err(|_| LedgerError::NotCovered {
                asset_holder: *holder,
                assets,
                issued: position.issued,
            })?;
            settled.push((*holder, position.unsettled, new_settled));
        }
        for (holder, amount, new_settled) in settled {
            if let Some(position) = self.positions.get_mut(&(holder, *asset_id)) {
                position.settled = new_settled;
                position.unsettled = 0;
            }
            self.settlement_events.push(SettlementEvent {
                height: ctx.height,
                asset: *asset_id,
                asset_holder: holder,
                amount,
            });
            self.events.push(Event::Settlement {
                asset: *asset_id,
                asset_holder: holder,
                amount,
            });
        }
        Ok(())
    }
}

/// How far beyond the current height a transaction's expiry may lie: the ledger remembers txids
/// until they expire, so this bounds that memory (ADR 0004).
pub const MAX_TX_LIFETIME: u64 = 10_000;

/// Whether `apply` verifies the signature or the caller already did (the mempool verifies each
/// transaction once on entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify it here.
    Verify,
    /// Verified before, by this node.
    AlreadyVerified,
}

/// The result of applying one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What goes into the block's receipts.
    pub receipt: Receipt,
    /// Why it was refused, if it was.
    pub error: Option<LedgerError>,
}

/// The name of an operation in the audit trail.
pub fn operation_name(operation: &Operation) -> &'static str {
    match operation {
        Operation::RegisterHolder { .. } => "register_holder",
        Operation::SetKycState { .. } => "set_kyc_state",
        Operation::Ban { .. } => "ban",
        Operation::Unban { .. } => "unban",
        Operation::RecoverKey { .. } => "recover_key",
        Operation::GrantRole { .. } => "grant_role",
        Operation::RevokeRole { .. } => "revoke_role",
        Operation::CreateAsset { .. } => "create_asset",
        Operation::Deposit { .. } => "deposit",
        Operation::Withdraw { .. } => "withdraw",
        Operation::Issue { .. } => "issue",
        Operation::Transfer { .. } => "transfer",
        Operation::RequestRedemption { .. } => "request_redemption",
        Operation::ReviewRequest { .. } => "review_request",
        Operation::RunSettlement { .. } => "run_settlement",
        Operation::RegisterItem { .. } => "register_item",
        Operation::MoveItem { .. } => "move_item",
        Operation::RetireItem { .. } => "retire_item",
        Operation::RequestIssuance { .. } => "request_issuance",
        Operation::UpdateMapping { .. } => "update_mapping",
        Operation::SetFee { .. } => "set_fee",
        Operation::SetLimit { .. } => "set_limit",
        Operation::PlaceOffer { .. } => "place_offer",
        Operation::CancelOffer { .. } => "cancel_offer",
        Operation::ChangeValidatorSet { .. } => "change_validator_set",
    }
}

impl LedgerState {
    /// Applies a signed transaction: signature, expiry and replay checks, then the operation. A
    /// refused transaction changes nothing but the record of its txid (so it cannot be replayed
    /// into a later state where it would succeed); an applied one also enters the audit trail.
    pub fn apply(
        &mut self,
        tx: &SignedTransaction,
        ctx: BlockContext,
        check: SignatureCheck,
    ) -> Outcome {
        let txid = tx.txid();
        self.events.clear();
        let result = self.admit(tx, &txid, ctx, check).and_then(|()| {
            self.seen_txids
                .insert(txid, tx.transaction.expires_at_height);
            self.txid_expiry
                .insert((tx.transaction.expires_at_height, txid), ());
            self.execute(&tx.transaction, ctx)
        });
        if result.is_ok() {
            self.audit.push(AuditEntry {
                height: ctx.height,
                txid,
                actor: tx.transaction.signer,
                action: operation_name(&tx.transaction.operation).into(),
                detail: String::new(),
            });
        }
        let error = result.err();
        let events = std::mem::take(&mut self.events);
        let code = error.as_ref().map_or(0, LedgerError::code);
        Outcome {
            receipt: Receipt {
                txid,
                code,
                code_name: super::error::code_name(code).into(),
                message: error.as_ref().map(ToString::to_string).unwrap_or_default(),
                // A refused transaction did nothing.
                events: if error.is_none() { events } else { Vec::new() },
            },
            error,
        }
    }

    fn admit(
        &self,
        tx: &SignedTransaction,
        txid: &Hash32,
        ctx: BlockContext,
        check: SignatureCheck,
    ) -> Result<(), LedgerError> {
        let expires_at_height = tx.transaction.expires_at_height;
        if expires_at_height < ctx.height {
            return Err(LedgerError::Expired {
                expires_at_height,
                height: ctx.height,
            });
        }
        let limit = ctx.height.saturating_add(MAX_TX_LIFETIME);
        if expires_at_height > limit {
            return Err(LedgerError::ExpiryTooFar {
                expires_at_height,
                limit,
            });
        }
        if self.seen_txids.contains_key(txid) {
            return Err(LedgerError::AlreadyIncluded(*txid));
        }
        if check == SignatureCheck::Verify {
            tx.verify_signature()
                .map_err(|_| LedgerError::BadSignature)?;
        }
        Ok(())
    }

    /// Forgets txids whose expiry is below `height`: they can no longer be included anyway.
    pub fn prune_expired_txids(&mut self, height: u64) {
        while let Some((&(expiry, txid), ())) = self.txid_expiry.first_key_value() {
            if expiry >= height {
                break;
            }
            self.txid_expiry.remove(&(expiry, txid));
            self.seen_txids.remove(&txid);
        }
    }
}

impl LedgerState {
    /// Applies a block's transactions in order. A refused transaction gets a receipt with its
    /// error code and does not stop the block. After the last one, txids that can no longer be
    /// included are forgotten and every invariant is checked; a violation means a ledger bug, and
    /// the caller must discard this state (the store still holds the last committed block).
    pub fn apply_block(
        &mut self,
        transactions: &[SignedTransaction],
        ctx: BlockContext,
        check: SignatureCheck,
    ) -> Result<Vec<Outcome>, super::state::InvariantViolation> {
        self.enter_height(ctx.height);
        let outcomes = transactions
            .iter()
            .map(|tx| self.apply(tx, ctx, check))
            .collect();
        self.prune_expired_txids(ctx.height.saturating_add(1));
        self.check_invariants()?;
        Ok(outcomes)
    }
}

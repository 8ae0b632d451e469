//! Operation handlers. Each checks everything first and changes state only once nothing can fail,
//! so a refused transaction leaves no trace but its receipt.

use lightclient::amount::MAX_PRECISION;
use lightclient::genesis::{asset_id_for_code, is_valid_asset_code};
use lightclient::hash::Hash32;
use lightclient::keys::{AccountId, AssetId, PublicKey, Signature};
use lightclient::tx::{BackingKind, KycState, Operation, Role, Transaction, registration_digest};

use super::error::LedgerError;
use super::state::{Account, Asset, LedgerState, SettlementEvent};

/// Where in the chain a transaction executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    /// Height of the block.
    pub height: u64,
    /// Its time, milliseconds since the Unix epoch.
    pub time_ms: u64,
}

fn add(a: u128, b: u128) -> Result<u128, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

fn signed(amount: u128) -> Result<i128, LedgerError> {
    i128::try_from(amount).map_err(|_| LedgerError::Overflow)
}

fn positive(amount: u128) -> Result<(), LedgerError> {
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
        if tx.chain_id != self.chain_id {
            return Err(LedgerError::InvalidArgument(format!(
                "transaction is for chain {}",
                tx.chain_id
            )));
        }
        let signer = self
            .accounts
            .get(&tx.signer)
            .ok_or(LedgerError::UnknownSigner(tx.signer))?;
        if signer.public_key != tx.public_key {
            return Err(LedgerError::WrongKey(tx.signer));
        }
        let signer = signer.clone();
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
            } => self.transfer(&signer, to, asset, *amount, *expected_fee),
            Operation::RunSettlement { asset } => self.run_settlement(&signer, asset, ctx),
            Operation::PlaceOffer { .. } | Operation::CancelOffer { .. } => Err(
                LedgerError::Unsupported("the internal exchange is not built yet"),
            ),
            _ => Err(LedgerError::Unsupported("this operation is not built yet")),
        }
    }

    fn require(&self, signer: &Account, roles: &[Role]) -> Result<(), LedgerError> {
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
        Ok(())
    }

    fn transfer(
        &mut self,
        signer: &Account,
        to: &AccountId,
        asset_id: &AssetId,
        amount: u128,
        expected_fee: u128,
    ) -> Result<(), LedgerError> {
        positive(amount)?;
        signer.check_may_transact()?;
        if *to == signer.id {
            return Err(LedgerError::SelfTransfer);
        }
        let asset = self.asset_or(asset_id)?.clone();
        let receiver = self.account_or(to)?.clone();
        receiver.check_may_transact()?;
        let fee = 0u128; // fee rules arrive with the fees increment
        if fee != expected_fee {
            return Err(LedgerError::InvalidArgument(format!(
                "fee is {fee}, transaction expects {expected_fee}"
            )));
        }
        let needed = add(amount, fee)?;
        let mut from_balance = self.balance(&signer.id, asset_id);
        from_balance.available =
            from_balance
                .available
                .checked_sub(needed)
                .ok_or(LedgerError::InsufficientBalance {
                    account: signer.id,
                    asset: *asset_id,
                    available: from_balance.available,
                    needed,
                })?;
        let mut to_balance = self.balance(to, asset_id);
        to_balance.available = add(to_balance.available, amount)?;
        to_balance.total().ok_or(LedgerError::Overflow)?;

        let mut moved_positions = Vec::new();
        if asset.backing == BackingKind::DepositBacked {
            let from_holder = signer
                .asset_holder
                .ok_or(LedgerError::NoAssetHolder(signer.id))?;
            let to_holder = receiver
                .asset_holder
                .ok_or(LedgerError::NoAssetHolder(*to))?;
            if from_holder != to_holder {
                let delta = signed(amount)?;
                let mut from_pos = self.position(&from_holder, asset_id);
                from_pos.unsettled = from_pos
                    .unsettled
                    .checked_sub(delta)
                    .ok_or(LedgerError::Overflow)?;
                from_pos.issued = from_pos
                    .issued
                    .checked_sub(amount)
                    .ok_or(LedgerError::Overflow)?;
                let mut to_pos = self.position(&to_holder, asset_id);
                to_pos.unsettled = to_pos
                    .unsettled
                    .checked_add(delta)
                    .ok_or(LedgerError::Overflow)?;
                to_pos.issued = add(to_pos.issued, amount)?;
                from_pos.check_covered(from_holder)?;
                to_pos.check_covered(to_holder)?;
                moved_positions.push(((from_holder, *asset_id), from_pos));
                moved_positions.push(((to_holder, *asset_id), to_pos));
            }
        }
        self.balances.insert((signer.id, *asset_id), from_balance);
        self.balances.insert((*to, *asset_id), to_balance);
        self.positions.extend(moved_positions);
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
        }
        Ok(())
    }
}

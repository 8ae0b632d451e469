//! Physical items, issuance requests for allocated assets, and the signed mapping object that
//! ties the two together.

use std::collections::{BTreeMap, BTreeSet};

use lightclient::hash::{Hash32, tagged_hash};
use lightclient::keys::{AccountId, AssetId};
use lightclient::mapping::published_hash;
use lightclient::tx::{BackingKind, Decision, Role, Transaction};

use super::error::LedgerError;
use super::ops::{BlockContext, add, positive};
use super::state::{
    Account, Asset, Item, LedgerState, MappingRecord, Request, RequestKind, RequestStatus,
};
use super::state_tree::StateKey;

/// Longest serial, refiner or location text.
const MAX_TEXT: usize = 128;

fn text(field: &str, value: &str) -> Result<(), LedgerError> {
    if value.is_empty() || value.len() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(LedgerError::InvalidArgument(format!(
            "{field} must be 1 to {MAX_TEXT} bytes without control characters"
        )));
    }
    Ok(())
}

/// The id of the allocated asset an issuance request creates: fixed by the previous block's hash
/// and the request's txid, so nobody can choose it and every controller can compute it before
/// signing the mapping that mints it.
pub fn allocated_asset_id(entropy: &Hash32, txid: &Hash32) -> AssetId {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(entropy.as_bytes());
    bytes[32..].copy_from_slice(txid.as_bytes());
    AssetId(tagged_hash("ABT/allocated-asset-id/v1", &bytes).0)
}

impl LedgerState {
    fn live_item(&self, serial: &str) -> Result<&Item, LedgerError> {
        let item = self
            .items
            .get(serial)
            .ok_or_else(|| LedgerError::UnknownItem(serial.into()))?;
        if item.retired {
            return Err(LedgerError::ItemRetired(serial.into()));
        }
        Ok(item)
    }

    /// Items of pending issuance requests.
    fn pending_issuance_items(&self) -> BTreeSet<&str> {
        self.requests
            .values()
            .filter(|r| r.status == RequestStatus::Pending)
            .filter_map(|r| match &r.kind {
                RequestKind::Issuance { serials, .. } => Some(serials.iter().map(String::as_str)),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub(super) fn register_item(
        &mut self,
        signer: &Account,
        serial: &str,
        refiner: &str,
        mass: u128,
        fineness: u16,
        location: &str,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::VaultStaff])?;
        text("serial", serial)?;
        text("refiner", refiner)?;
        text("location", location)?;
        positive(mass)?;
        if fineness == 0 || fineness > 10_000 {
            return Err(LedgerError::InvalidArgument(
                "fineness is parts per 10,000, 1 to 10000".into(),
            ));
        }
        if self.items.contains_key(serial) {
            return Err(LedgerError::ItemExists(serial.into()));
        }
        self.touch(StateKey::Item(serial.into()));
        self.items.insert(
            serial.into(),
            Item {
                serial: serial.into(),
                refiner: refiner.into(),
                mass,
                fineness,
                location: location.into(),
                retired: false,
            },
        );
        Ok(())
    }

    pub(super) fn move_item(
        &mut self,
        signer: &Account,
        serial: &str,
        location: &str,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::VaultStaff])?;
        text("location", location)?;
        self.live_item(serial)?;
        self.touch(StateKey::Item(serial.into()));
        if let Some(item) = self.items.get_mut(serial) {
            item.location = location.into();
        }
        Ok(())
    }

    pub(super) fn retire_item(
        &mut self,
        signer: &Account,
        serial: &str,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::VaultStaff])?;
        self.live_item(serial)?;
        if self.mapping.items.contains(serial) || self.pending_issuance_items().contains(serial) {
            return Err(LedgerError::ItemAllocated(serial.into()));
        }
        self.touch(StateKey::Item(serial.into()));
        if let Some(item) = self.items.get_mut(serial) {
            item.retired = true;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn request_issuance(
        &mut self,
        signer: &Account,
        tx: &Transaction,
        code: &str,
        precision: u8,
        issuer: &AccountId,
        serials: &[String],
        reissuable: bool,
        ctx: BlockContext,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::IssuanceAdmin, Role::VaultStaff])?;
        if !lightclient::genesis::is_valid_asset_code(code) {
            return Err(LedgerError::InvalidArgument(format!(
                "asset code {code:?} must be 1 to 16 of A-Z, 0-9"
            )));
        }
        if self.assets.values().any(|a| a.code == code) {
            return Err(LedgerError::AssetExists(code.into()));
        }
        if precision != self.controllers.precision {
            return Err(LedgerError::InvalidArgument(format!(
                "allocated assets use the mapping precision {}",
                self.controllers.precision
            )));
        }
        self.account_or(issuer)?.check_may_transact()?;
        if serials.is_empty() {
            return Err(LedgerError::InvalidArgument(
                "an issuance needs at least one item".into(),
            ));
        }
        let pending = self.pending_issuance_items();
        let mut seen = BTreeSet::new();
        let mut mass: u128 = 0;
        for serial in serials {
            let item = self.live_item(serial)?;
            if !seen.insert(serial.as_str())
                || self.mapping.items.contains(serial)
                || pending.contains(serial.as_str())
            {
                return Err(LedgerError::ItemAllocated(serial.clone()));
            }
            mass = add(mass, item.mass)?;
        }
        let id = allocated_asset_id(&ctx.entropy, &tx.txid());
        let maximum = if reissuable { u128::MAX } else { mass };
        self.touch(StateKey::Asset(id));
        self.assets.insert(
            id,
            Asset {
                id,
                code: code.into(),
                precision,
                backing: BackingKind::AllocatedPhysical,
                issued: 0,
                maximum,
            },
        );
        self.allocated_issuers.insert(id, (*issuer, reissuable));
        let request_id = self.next_request_id;
        self.next_request_id = request_id.saturating_add(1);
        self.requests.insert(
            request_id,
            Request {
                id: request_id,
                created_height: ctx.height,
                kind: RequestKind::Issuance {
                    asset: id,
                    issuer: *issuer,
                    serials: serials.to_vec(),
                },
                status: RequestStatus::Pending,
            },
        );
        Ok(())
    }

    /// Issuance requests complete through the mapping update; a review can only reject them.
    pub(super) fn decide_issuance(
        &mut self,
        signer: &Account,
        request_id: u64,
        asset: AssetId,
        decision: &Decision,
        ctx: BlockContext,
    ) -> Result<(), LedgerError> {
        self.require(signer, &[Role::IssuanceAdmin])?;
        let Decision::Reject { reason } = decision else {
            return Err(LedgerError::InvalidArgument(
                "an issuance is approved by the signed mapping update that mints it".into(),
            ));
        };
        if self.asset_or(&asset)?.issued > 0 {
            return Err(LedgerError::InvalidArgument(
                "the asset is already mapped".into(),
            ));
        }
        self.touch(StateKey::Asset(asset));
        self.assets.remove(&asset);
        self.allocated_issuers.remove(&asset);
        if let Some(request) = self.requests.get_mut(&request_id) {
            request.status = RequestStatus::Rejected {
                height: ctx.height,
                reason: reason.clone(),
            };
        }
        Ok(())
    }

    /// Installs an n-of-m signed mapping with a higher sequence, and mints or burns so that every
    /// allocated asset's supply equals its mapped amount, in the same step.
    pub(super) fn update_mapping(
        &mut self,
        _signer: &Account,
        bytes: &[u8],
        ctx: BlockContext,
    ) -> Result<(), LedgerError> {
        let (mapping, _signers) = self
            .controllers
            .parse_and_verify(bytes, &self.chain_id, Some(self.mapping.sequence))
            .map_err(LedgerError::Mapping)?;
        let totals = mapping.totals();
        // Every entry names an allocated asset and a live item, and no item is over-allocated.
        let mut per_item: BTreeMap<&str, u128> = BTreeMap::new();
        for (entry, units) in mapping.amounts() {
            self.asset_or(&entry.assetid)?
                .require(BackingKind::AllocatedPhysical)?;
            self.live_item(&entry.vref)?;
            let sum = per_item.entry(entry.vref.as_str()).or_insert(0);
            *sum = add(*sum, units)?;
        }
        for (serial, allocated) in &per_item {
            let mass = self.live_item(serial)?.mass;
            if *allocated > mass {
                return Err(LedgerError::ItemOverallocated {
                    serial: (*serial).into(),
                    allocated: *allocated,
                    mass,
                });
            }
        }
        // Supply changes: mint to the issuer, or burn what the issuer holds for redemption.
        let mut changes = Vec::new();
        let allocated: Vec<&Asset> = self
            .assets
            .values()
            .filter(|a| a.backing == BackingKind::AllocatedPhysical)
            .collect();
        for asset in allocated {
            let target = totals.get(&asset.id).copied().unwrap_or(0);
            if target == asset.issued {
                continue;
            }
            let (issuer, reissuable) = self
                .allocated_issuers
                .get(&asset.id)
                .copied()
                .ok_or(LedgerError::UnknownAsset(asset.id))?;
            let balance = self.balance(&issuer, &asset.id);
            if target > asset.issued {
                let minted_before = self.mapping.totals.contains_key(&asset.id) || asset.issued > 0;
                if minted_before && !reissuable {
                    return Err(LedgerError::NotReissuable(asset.id));
                }
                if target > asset.maximum {
                    return Err(LedgerError::AboveMaximum {
                        asset: asset.id,
                        supply: target,
                        maximum: asset.maximum,
                    });
                }
                let mint = target.saturating_sub(asset.issued);
                changes.push((asset.id, issuer, target, add(balance.available, mint)?));
            } else {
                let burn = asset.issued.saturating_sub(target);
                let left =
                    balance
                        .available
                        .checked_sub(burn)
                        .ok_or(LedgerError::BurnExceedsHeld {
                            asset: asset.id,
                            burn,
                            held: balance.available,
                        })?;
                changes.push((asset.id, issuer, target, left));
            }
        }
        for (asset, issuer, supply, available) in changes {
            let mut balance = self.balance(&issuer, &asset);
            balance.available = available;
            self.touch(StateKey::Balance(issuer, asset));
            self.touch(StateKey::Asset(asset));
            self.balances.insert((issuer, asset), balance);
            if let Some(asset) = self.assets.get_mut(&asset) {
                asset.issued = supply;
            }
        }
        let mapped_assets: BTreeSet<AssetId> = totals.keys().copied().collect();
        for request in self.requests.values_mut() {
            if let RequestKind::Issuance { asset, .. } = &request.kind
                && request.status == RequestStatus::Pending
                && mapped_assets.contains(asset)
            {
                request.status = RequestStatus::Approved { height: ctx.height };
            }
        }
        self.touch(StateKey::Mapping);
        self.mapping = MappingRecord {
            sequence: mapping.sequence,
            hash: published_hash(bytes),
            bytes: bytes.to_vec(),
            totals,
            items: per_item.keys().map(|s| (*s).to_string()).collect(),
        };
        Ok(())
    }
}

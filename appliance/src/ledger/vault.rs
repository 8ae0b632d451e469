//! Physical items, issuance requests for allocated assets, and the signed mapping object that
//! ties the two together.

use std::collections::{BTreeMap, BTreeSet};

use lightclient::hash::{Hash32, tagged_hash};
use lightclient::header::Event;
use lightclient::keys::{AccountId, AssetId};
use lightclient::mapping::{Mapping, published_hash};
use lightclient::tx::{BackingKind, Decision, Role, Transaction};

use super::error::LedgerError;
use super::ops::{BlockContext, add, positive};
use super::state::{
    Account, Asset, AuditEntry, Item, LedgerState, MappingRecord, Request, RequestKind,
    RequestStatus,
};

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
        self.events.push(Event::BarRegistered {
            serial: serial.into(),
            location: location.into(),
        });
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
        if let Some(item) = self.items.get_mut(serial) {
            item.location = location.into();
        }
        self.events.push(Event::BarMoved {
            serial: serial.into(),
            location: location.into(),
        });
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
        if let Some(item) = self.items.get_mut(serial) {
            item.retired = true;
        }
        self.events.push(Event::BarReleased {
            serial: serial.into(),
        });
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
        let request_id = *self.next_request_id;
        self.next_request_id.set(request_id.saturating_add(1));
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
    ///
    /// A first mint must map exactly the items of the asset's issuance request, each in full. A
    /// burn must equal the oldest pending redemptions of the asset (whole requests, in order); it
    /// comes out of the redemption account, pays their fees, and completes them. Items that leave
    /// the mapping in an update that burns are released to the redeemers: retired, with an audit
    /// entry each.
    pub(super) fn update_mapping(
        &mut self,
        signer: &Account,
        bytes: &[u8],
        txid: &Hash32,
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
        let mut plan = SupplyPlan::default();
        let allocated: Vec<Asset> = self
            .assets
            .values()
            .filter(|a| a.backing == BackingKind::AllocatedPhysical)
            .cloned()
            .collect();
        for asset in &allocated {
            let target = totals.get(&asset.id).copied().unwrap_or(0);
            if target > asset.issued {
                self.plan_mint(&mut plan, asset, target, &mapping)?;
            } else if target < asset.issued {
                self.plan_burn(&mut plan, asset, target)?;
            }
        }
        let burned = !plan.completed.is_empty();
        let released: Vec<String> = if burned {
            self.mapping
                .items
                .iter()
                .filter(|serial| !per_item.contains_key(serial.as_str()))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let mapped_assets: BTreeSet<AssetId> = totals.keys().copied().collect();
        let items = per_item.keys().map(|s| (*s).to_string()).collect();
        // Nothing below can fail.
        self.apply_supply_plan(plan, ctx);
        self.requests.update_where(|_, request| {
            let completed = matches!(&request.kind, RequestKind::Issuance { asset, .. }
                if request.status == RequestStatus::Pending && mapped_assets.contains(asset));
            if completed {
                request.status = RequestStatus::Approved { height: ctx.height };
            }
            completed
        });
        let redeemers = self.redeemers_at(ctx.height);
        for serial in released {
            if let Some(item) = self.items.get_mut(&serial) {
                item.retired = true;
                let detail = format!(
                    "released {} (mass {}, {}, at {}) to {}",
                    item.serial, item.mass, item.refiner, item.location, redeemers
                );
                self.audit.push(AuditEntry {
                    height: ctx.height,
                    txid: *txid,
                    actor: signer.id,
                    action: "release_item".into(),
                    detail,
                });
                self.events.push(Event::BarReleased { serial });
            }
        }
        self.events.push(Event::MappingVersion {
            sequence: mapping.sequence,
            hash: published_hash(bytes),
        });
        self.mapping.set(MappingRecord {
            sequence: mapping.sequence,
            hash: published_hash(bytes),
            bytes: bytes.to_vec(),
            totals,
            items,
        });
        Ok(())
    }

    /// New supply for `asset`, minted to its issuer.
    fn plan_mint(
        &self,
        plan: &mut SupplyPlan,
        asset: &Asset,
        target: u128,
        mapping: &Mapping,
    ) -> Result<(), LedgerError> {
        let (issuer, reissuable) = self
            .allocated_issuers
            .get(&asset.id)
            .copied()
            .ok_or(LedgerError::UnknownAsset(asset.id))?;
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
        if !minted_before {
            self.check_first_mint(asset.id, target, mapping)?;
        }
        let balance = self.balance(&issuer, &asset.id);
        let mint = target.saturating_sub(asset.issued);
        plan.balances
            .insert((issuer, asset.id), add(balance.available, mint)?);
        plan.supply.insert(asset.id, target);
        Ok(())
    }

    /// The first mapping of an issued asset allocates exactly its request's items, in full.
    fn check_first_mint(
        &self,
        asset: AssetId,
        target: u128,
        mapping: &Mapping,
    ) -> Result<(), LedgerError> {
        let serials = self
            .requests
            .values()
            .find_map(|r| match &r.kind {
                RequestKind::Issuance {
                    asset: a, serials, ..
                } if *a == asset && r.status == RequestStatus::Pending => Some(serials),
                _ => None,
            })
            .ok_or(LedgerError::UnknownAsset(asset))?;
        let mut expected: u128 = 0;
        for serial in serials {
            expected = add(expected, self.live_item(serial)?.mass)?;
        }
        if target != expected {
            return Err(LedgerError::MappedTotalMismatch {
                asset,
                mapped: target,
                expected,
            });
        }
        for (entry, units) in mapping.amounts() {
            if entry.assetid == asset
                && (!serials.contains(&entry.vref) || units != self.live_item(&entry.vref)?.mass)
            {
                return Err(LedgerError::ItemNotRequested {
                    asset,
                    serial: entry.vref.clone(),
                });
            }
        }
        Ok(())
    }

    /// Less supply for `asset`: the oldest pending redemptions, burned from the redemption
    /// account.
    fn plan_burn(
        &self,
        plan: &mut SupplyPlan,
        asset: &Asset,
        target: u128,
    ) -> Result<(), LedgerError> {
        let burn = asset.issued.saturating_sub(target);
        let pending: Vec<(u64, u128, u128, Option<AccountId>)> = self
            .requests
            .values()
            .filter(|r| r.status == RequestStatus::Pending)
            .filter_map(|r| match &r.kind {
                RequestKind::Redemption {
                    asset: a,
                    amount,
                    fee,
                    collector,
                    ..
                } if *a == asset.id => Some((r.id, *amount, *fee, *collector)),
                _ => None,
            })
            .collect();
        let mut covered: u128 = 0;
        let mut fees: u128 = 0;
        let mut completed = Vec::new();
        for (id, amount, fee, collector) in &pending {
            if covered >= burn {
                break;
            }
            covered = add(covered, *amount)?;
            fees = add(fees, *fee)?;
            completed.push(*id);
            if let Some(collector) = collector.filter(|_| *fee > 0) {
                let paid = plan
                    .balances
                    .get(&(collector, asset.id))
                    .copied()
                    .unwrap_or(self.balance(&collector, &asset.id).available);
                plan.balances
                    .insert((collector, asset.id), add(paid, *fee)?);
            }
        }
        if covered != burn {
            return Err(LedgerError::BurnNotRedeemed {
                asset: asset.id,
                burn,
                pending: pending.iter().map(|(_, amount, ..)| *amount).collect(),
            });
        }
        let held = self.balance(&AccountId::REDEMPTION, &asset.id).available;
        let left = held
            .checked_sub(add(burn, fees)?)
            .ok_or(LedgerError::BurnExceedsHeld {
                asset: asset.id,
                burn,
                held,
            })?;
        plan.balances
            .insert((AccountId::REDEMPTION, asset.id), left);
        plan.supply.insert(asset.id, target);
        plan.completed.extend(completed);
        Ok(())
    }

    fn apply_supply_plan(&mut self, plan: SupplyPlan, ctx: BlockContext) {
        for ((account, asset), available) in plan.balances {
            let mut balance = self.balance(&account, &asset);
            balance.available = available;
            self.balances.insert((account, asset), balance);
        }
        for (id, supply) in plan.supply {
            let issuer = self.allocated_issuers.get(&id).map(|(issuer, _)| *issuer);
            if let Some(asset) = self.assets.get_mut(&id) {
                let before = asset.issued;
                asset.issued = supply;
                if supply > before
                    && let Some(to) = issuer
                {
                    self.events.push(Event::Mint {
                        asset: id,
                        to,
                        amount: supply.saturating_sub(before),
                    });
                } else if supply < before {
                    self.events.push(Event::Burn {
                        asset: id,
                        from: AccountId::REDEMPTION,
                        amount: before.saturating_sub(supply),
                    });
                }
            }
        }
        for id in plan.completed {
            if let Some(request) = self.requests.get_mut(&id) {
                request.status = RequestStatus::Approved { height: ctx.height };
            }
        }
    }

    /// The holders whose redemptions completed at `height`, for the release record.
    fn redeemers_at(&self, height: u64) -> String {
        let holders: BTreeSet<String> = self
            .requests
            .values()
            .filter(|r| r.status == RequestStatus::Approved { height })
            .filter_map(|r| match &r.kind {
                RequestKind::Redemption { holder, .. } => Some(holder.to_string()),
                _ => None,
            })
            .collect();
        holders.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// The balance and supply writes of a mapping update, staged until every check has passed.
#[derive(Default)]
struct SupplyPlan {
    /// New available amounts.
    balances: BTreeMap<(AccountId, AssetId), u128>,
    /// New supplies.
    supply: BTreeMap<AssetId, u128>,
    /// Redemption requests the update completes.
    completed: Vec<u64>,
}

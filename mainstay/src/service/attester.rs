//! The attestation loop: when the slots' commitments give a new root and the last attestation
//! is confirmed, spend the staychain tip to the new root's pay-to-contract output.
//!
//! The record of an attestation is stored (fsynced) before the transaction is broadcast, so a
//! crash between the two re-broadcasts the same transaction on restart instead of forking the
//! chain. Fee rate: `estimatesmartfee`, clamped to the configured range.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::Hash as _;
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness, absolute,
    transaction,
};
use signer::Signer as _;
use signer::soft::SoftSigner;

use super::store::StoredAttestation;
use super::{ServiceError, ServiceState};
use crate::bitcoin_rpc::BitcoinRpcError;
use crate::slot::{display, internal_bytes};
use crate::tree::CommitmentTree;

/// Virtual size of a one-input, one-output P2WPKH spend, for the fee.
const ATTESTATION_VSIZE: u64 = 110;

/// Runs forever: one step per interval; failures are logged and retried at the next step.
pub async fn run(state: Arc<ServiceState>) {
    let interval = Duration::from_millis(state.config.attestation.interval_ms.max(50));
    loop {
        if let Err(e) = step(&state).await {
            tracing::warn!(error = %e, "attestation step failed; retrying");
        }
        tokio::time::sleep(interval).await;
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One step: confirm the pending attestation, or make the next one.
pub async fn step(state: &ServiceState) -> Result<(), ServiceError> {
    let attestations = state.attestations()?;
    let last = attestations.last();
    if let Some(last) = last
        && !last.confirmed
    {
        let index = attestations.len().saturating_sub(1);
        return confirm_or_rebroadcast(state, index, last).await;
    }
    let commitments = state.store.commitments()?;
    let Some(highest) = commitments.keys().next_back().copied() else {
        return Ok(());
    };
    let width = usize::try_from(highest)
        .ok()
        .and_then(|h| h.checked_add(1))
        .ok_or_else(|| ServiceError::Config(format!("slot {highest} is too large")))?;
    let mut leaves = vec![[0u8; 32]; width];
    for (position, commitment) in &commitments {
        if let Some(leaf) = usize::try_from(*position)
            .ok()
            .and_then(|p| leaves.get_mut(p))
        {
            *leaf = *commitment;
        }
    }
    let tree = CommitmentTree::build(&leaves)?;
    let root = tree.root();
    if last.is_some_and(|l| l.merkle_root == display(&root)) {
        return Ok(());
    }
    let (previous_txid, previous_root) = match last {
        Some(l) => (
            l.txid.clone(),
            internal_bytes("merkle_root", &l.merkle_root)?,
        ),
        None => (state.initial_txid()?, [0u8; 32]),
    };
    let (transaction, fee) = build_and_sign(state, &previous_txid, &previous_root, &root).await?;
    let txid = transaction.compute_txid();
    let record = StoredAttestation::new(
        txid.to_string(),
        display(&root),
        leaves.iter().map(display).collect(),
        serialize_hex(&transaction),
        now(),
        fee,
    );
    let index = u64::try_from(attestations.len()).unwrap_or(u64::MAX);
    state.store.put_attestation(index, &record)?;
    state.reload()?;
    tracing::info!(%txid, root = %record.merkle_root, fee_sat = fee, "attestation made; broadcasting");
    broadcast(state, &transaction).await
}

async fn broadcast(state: &ServiceState, transaction: &Transaction) -> Result<(), ServiceError> {
    match state.bitcoin.send_raw_transaction(transaction).await {
        Ok(_) => Ok(()),
        // Already sent before a restart: nothing to do.
        Err(BitcoinRpcError::Rpc { code: -27, .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn confirm_or_rebroadcast(
    state: &ServiceState,
    index: usize,
    last: &StoredAttestation,
) -> Result<(), ServiceError> {
    let txid: Txid = last
        .txid
        .parse()
        .map_err(|e| ServiceError::Config(format!("stored txid: {e}")))?;
    match state.bitcoin.get_raw_transaction_info(&txid).await {
        Ok(info) => {
            if let Some(block) = info.blockhash {
                let mut confirmed = last.clone();
                confirmed.confirmed = true;
                confirmed.blockhash = Some(block.to_string());
                state
                    .store
                    .put_attestation(u64::try_from(index).unwrap_or(u64::MAX), &confirmed)?;
                state.reload()?;
                tracing::info!(%txid, %block, "attestation confirmed");
            }
            Ok(())
        }
        // Lost (never sent, or dropped from the mempool): send it again.
        Err(BitcoinRpcError::Rpc { code: -5, .. }) => {
            let transaction: Transaction = deserialize_hex(&last.transaction)
                .map_err(|e| ServiceError::Config(format!("stored transaction: {e}")))?;
            tracing::info!(%txid, "attestation not known to the Bitcoin node; broadcasting again");
            broadcast(state, &transaction).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn build_and_sign(
    state: &ServiceState,
    previous_txid: &str,
    previous_root: &[u8; 32],
    root: &[u8; 32],
) -> Result<(Transaction, u64), ServiceError> {
    let previous_txid: Txid = previous_txid
        .parse()
        .map_err(|e| ServiceError::Config(format!("previous txid: {e}")))?;
    let previous = state.bitcoin.get_raw_transaction(&previous_txid).await?;
    let spent = previous
        .output
        .first()
        .ok_or_else(|| ServiceError::Staychain(format!("{previous_txid} has no output 0")))?
        .clone();
    let expected_previous = state.scheme.script_pubkey(previous_root)?;
    if spent.script_pubkey != expected_previous {
        return Err(ServiceError::Staychain(format!(
            "{previous_txid}:0 does not pay to the staychain key for its root"
        )));
    }
    let rate = fee_rate(state).await;
    let fee = Amount::from_sat(rate.saturating_mul(ATTESTATION_VSIZE));
    let value = spent.value.checked_sub(fee).ok_or_else(|| {
        ServiceError::Staychain(format!(
            "the staychain output holds {} but the fee is {fee}",
            spent.value
        ))
    })?;
    let mut transaction = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(previous_txid, 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: state.scheme.script_pubkey(root)?,
        }],
    };
    let key = signing_key(state, previous_root)?;
    let sighash = SighashCache::new(&transaction)
        .p2wpkh_signature_hash(0, &spent.script_pubkey, spent.value, EcdsaSighashType::All)
        .map_err(|e| ServiceError::Staychain(format!("sighash: {e}")))?;
    let signature = key
        .sign_digest(&sighash.to_byte_array())
        .await
        .map_err(|e| ServiceError::Signer(e.to_string()))?;
    let mut der =
        crate::api::der_signature(&signature.0).map_err(|e| ServiceError::Signer(e.to_string()))?;
    der.push(EcdsaSighashType::All.to_u32().to_le_bytes()[0]);
    let public = *key.public_key().as_bytes();
    if let Some(input) = transaction.input.first_mut() {
        input.witness = Witness::from_slice(&[der.as_slice(), public.as_slice()]);
    }
    Ok((transaction, fee.to_sat()))
}

fn signing_key(state: &ServiceState, root: &[u8; 32]) -> Result<SoftSigner, ServiceError> {
    let crate::ContractScheme::P2wpkh(base) = &state.scheme else {
        return Err(ServiceError::Config(
            "the service signs the single-key (P2WPKH) form only".into(),
        ));
    };
    let tweaked = base.tweak(root)?;
    // Adding zero copies the base key (the soft signer is deliberately not Clone).
    let mut key = state
        .key
        .tweaked(&[0u8; 32])
        .map_err(|e| ServiceError::Signer(e.to_string()))?;
    for step in &tweaked.step_tweaks {
        key = key
            .tweaked(step)
            .map_err(|e| ServiceError::Signer(e.to_string()))?;
    }
    Ok(key)
}

async fn fee_rate(state: &ServiceState) -> u64 {
    let settings = &state.config.attestation;
    let estimate = state
        .bitcoin
        .estimate_smart_fee(settings.conf_target)
        .await
        .ok()
        .flatten()
        .map(|rate| rate.to_sat_per_vb_ceil());
    estimate.unwrap_or(settings.min_fee_rate).clamp(
        settings.min_fee_rate,
        settings.max_fee_rate.max(settings.min_fee_rate),
    )
}

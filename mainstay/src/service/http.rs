//! The service's HTTP API: the reference server's `/api/v1` routes, envelopes and error strings
//! (errors with HTTP 200, as clients of the public service expect), plus `GET /api/v1/staychain`,
//! which tells a verifier how to check this service's attestations.

use std::sync::Arc;
use std::time::Instant;

use actix_web::{HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, ecdsa};

use super::ServiceState;
use super::store::StoredAttestation;
use crate::api::{self, SendPayload};
use crate::slot::internal_bytes;
use crate::tree::CommitmentTree;

type Query = web::Query<std::collections::HashMap<String, String>>;

fn reply(started: Instant, result: Result<serde_json::Value, String>) -> HttpResponse {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let cost = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    HttpResponse::Ok().json(api::envelope(result, timestamp, cost))
}

/// Mounts the routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/api/v1", web::get().to(hello))
        .route("/api/v1/commitment/send", web::post().to(send))
        .route(
            "/api/v1/commitment/latestproof",
            web::get().to(latest_proof),
        )
        .route("/api/v1/commitment/commitment", web::get().to(commitment))
        .route("/api/v1/commitment/proof", web::get().to(proof))
        .route("/api/v1/attestation", web::get().to(attestation))
        .route(
            "/api/v1/latestattestation",
            web::get().to(latest_attestation),
        )
        .route("/api/v1/staychain", web::get().to(staychain));
}

async fn hello() -> HttpResponse {
    reply(Instant::now(), Ok("Mainstay-API-v1".into()))
}

fn hex64(query: &Query, name: &str, length_message: &str) -> Result<String, String> {
    let value = query
        .get(name)
        .ok_or_else(|| format!("missing {name} parameter"))?;
    if value.len() != 64 {
        return Err(length_message.to_string());
    }
    Ok(value.to_ascii_lowercase())
}

fn position(query: &Query) -> Result<u64, String> {
    query
        .get("position")
        .ok_or_else(|| "missing position parameter".to_string())?
        .trim()
        .parse()
        .map_err(|_| "position expects a int".to_string())
}

fn record_json(record: &StoredAttestation) -> serde_json::Value {
    serde_json::json!({
        "merkle_root": record.merkle_root,
        "txid": record.txid,
        "confirmed": record.confirmed,
        "inserted_at": record.inserted_at.to_string(),
    })
}

fn slot_proof(record: &StoredAttestation, position: u64) -> Result<crate::SlotProof, String> {
    let leaves = record
        .leaves
        .iter()
        .map(|leaf| internal_bytes("leaf", leaf))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "an error occurred in the API".to_string())?;
    let tree =
        CommitmentTree::build(&leaves).map_err(|_| "an error occurred in the API".to_string())?;
    let index =
        usize::try_from(position).map_err(|_| "your position is unknown to us".to_string())?;
    tree.proof(index, &record.txid)
        .map_err(|_| "your commitment or position is unknown to us".to_string())
}

async fn send(state: web::Data<Arc<ServiceState>>, body: web::Bytes) -> HttpResponse {
    let started = Instant::now();
    reply(
        started,
        accept_commitment(&state, &body).map(|()| api::COMMITMENT_ADDED.into()),
    )
}

/// A `commitment/send` body, decoded: the payload and the signature, if any, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// The decoded `X-MAINSTAY-PAYLOAD`.
    pub payload: SendPayload,
    /// `X-MAINSTAY-SIGNATURE`, base64 DER, when present.
    pub signature: Option<String>,
}

/// Decodes a `commitment/send` body, with the reference server's error strings, before its slot
/// is known.
pub fn parse_send_request(body: &[u8]) -> Result<SendRequest, String> {
    const NOT_BASE64: &str = "X-MAINSTAY-PAYLOAD not in base64 format";
    let request: serde_json::Value = serde_json::from_slice(body).map_err(|_| NOT_BASE64)?;
    let payload = request
        .get(api::PAYLOAD_KEY)
        .and_then(|p| p.as_str())
        .ok_or("missing X-MAINSTAY-PAYLOAD")?;
    let payload = BASE64.decode(payload).map_err(|_| NOT_BASE64)?;
    let raw: serde_json::Value = serde_json::from_slice(&payload).map_err(|_| NOT_BASE64)?;
    if raw.get("token").is_none() {
        return Err("missing token parameter in payload".into());
    }
    if raw.get("commitment").is_none() {
        return Err("missing commitment parameter in payload".into());
    }
    if raw.get("position").is_none() {
        return Err("missing position parameter in payload".into());
    }
    let payload: SendPayload =
        serde_json::from_value(raw).map_err(|_| "position expects a int".to_string())?;
    let signature = request
        .get(api::SIGNATURE_KEY)
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(SendRequest { payload, signature })
}

/// Checks a decoded request against its slot's token and public key (a slot without a key takes
/// unsigned commitments); returns the commitment in internal byte order.
pub fn check_send_request(
    request: &SendRequest,
    token: &str,
    public_key: Option<&str>,
) -> Result<[u8; 32], String> {
    const BAD_COMMITMENT: &str = "commitment string parameter must contain 64 characters";
    let payload = &request.payload;
    if payload.token != token {
        return Err("your token is wrong".into());
    }
    if payload.commitment.len() != 64 {
        return Err(BAD_COMMITMENT.into());
    }
    let mut written = [0u8; 32];
    hex::decode_to_slice(&payload.commitment, &mut written).map_err(|_| BAD_COMMITMENT)?;
    if let Some(key) = public_key {
        let signature = request
            .signature
            .as_deref()
            .ok_or("missing X-MAINSTAY-SIGNATURE")?;
        let valid = (|| {
            let der = BASE64.decode(signature).ok()?;
            let signature = ecdsa::Signature::from_der(&der).ok()?;
            let key: PublicKey = key.parse().ok()?;
            Secp256k1::verification_only()
                .verify_ecdsa(&Message::from_digest(written), &signature, &key)
                .ok()
        })();
        if valid.is_none() {
            return Err("your signature is incorrect".into());
        }
    }
    internal_bytes("commitment", &payload.commitment).map_err(|_| BAD_COMMITMENT.to_string())
}

fn accept_commitment(state: &ServiceState, body: &[u8]) -> Result<(), String> {
    let request = parse_send_request(body)?;
    let payload = &request.payload;
    let slot = state
        .slot(payload.position)
        .ok_or("your position is unknown to us")?;
    let internal = check_send_request(&request, &slot.token, slot.public_key.as_deref())?;
    state
        .store
        .set_commitment(payload.position, &internal)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot store a commitment");
            "an error occurred in the API".to_string()
        })?;
    tracing::info!(position = payload.position, commitment = %payload.commitment, "commitment added");
    Ok(())
}

fn attestations(state: &ServiceState) -> Result<Vec<StoredAttestation>, String> {
    state.attestations().map_err(|e| {
        tracing::error!(error = %e, "cannot read attestations");
        "an error occurred in the API".to_string()
    })
}

async fn latest_proof(state: web::Data<Arc<ServiceState>>, query: Query) -> HttpResponse {
    let started = Instant::now();
    let result = (|| {
        let position = position(&query)?;
        state
            .slot(position)
            .ok_or("your position is unknown to us")?;
        let all = attestations(&state)?;
        let record = all
            .iter()
            .rev()
            .find(|r| r.confirmed && usize::try_from(position).is_ok_and(|p| p < r.leaves.len()))
            .ok_or("Slot allocated: awating first attestation")?;
        let proof = slot_proof(record, position)?;
        Ok(serde_json::json!({
            "txid": proof.txid,
            "commitment": proof.commitment,
            "merkle_root": proof.merkle_root,
            "ops": proof.ops,
        }))
    })();
    reply(started, result)
}

async fn commitment(state: web::Data<Arc<ServiceState>>, query: Query) -> HttpResponse {
    let started = Instant::now();
    let result = (|| {
        let commitment = hex64(
            &query,
            "commitment",
            "commitment string parameter must contain 64 characters",
        )?;
        let all = attestations(&state)?;
        let found = all.iter().find_map(|record| {
            record
                .leaves
                .iter()
                .position(|leaf| *leaf == commitment)
                .map(|index| (record, index))
        });
        let (record, index) = found.ok_or(api::NOT_FOUND)?;
        let position = u64::try_from(index).map_err(|_| api::NOT_FOUND.to_string())?;
        let proof = slot_proof(record, position)?;
        Ok(serde_json::json!({
            "attestation": record_json(record),
            "merkleproof": {
                "position": position,
                "merkle_root": proof.merkle_root,
                "commitment": proof.commitment,
                "ops": proof.ops,
            },
        }))
    })();
    reply(started, result)
}

async fn proof(state: web::Data<Arc<ServiceState>>, query: Query) -> HttpResponse {
    let started = Instant::now();
    let result = (|| {
        let position = position(&query)?;
        let root = hex64(
            &query,
            "merkle_root",
            "commitment string parameter must contain 64 characters",
        )?;
        let all = attestations(&state)?;
        let record = all
            .iter()
            .find(|r| r.merkle_root == root)
            .ok_or("your merkle root is unknown to us")?;
        let proof = slot_proof(record, position)?;
        Ok(serde_json::json!({
            "merkle_root": proof.merkle_root,
            "commitment": proof.commitment,
            "ops": proof.ops,
        }))
    })();
    reply(started, result)
}

async fn attestation(state: web::Data<Arc<ServiceState>>, query: Query) -> HttpResponse {
    let started = Instant::now();
    let result = (|| {
        let txid = hex64(
            &query,
            "txid",
            "txid string parameter must contain 64 characters",
        )?;
        let all = attestations(&state)?;
        let record = all
            .iter()
            .find(|r| r.txid == txid)
            .ok_or("No attestation found")?;
        Ok(serde_json::json!({
            "attestation": record_json(record),
            "attestationInfo": {
                "txid": record.txid,
                "amount": "",
                "blockhash": record.blockhash.clone().unwrap_or_default(),
                "time": "",
            },
        }))
    })();
    reply(started, result)
}

async fn latest_attestation(state: web::Data<Arc<ServiceState>>) -> HttpResponse {
    let started = Instant::now();
    let result = attestations(&state).map(|all| {
        all.iter()
            .rev()
            .find(|r| r.confirmed)
            .map(|r| serde_json::json!({ "merkle_root": r.merkle_root, "txid": r.txid }))
            .unwrap_or_else(|| serde_json::json!({}))
    });
    reply(started, result)
}

async fn staychain(state: web::Data<Arc<ServiceState>>) -> HttpResponse {
    let started = Instant::now();
    let result = state
        .staychain_spec()
        .map_err(|e| {
            tracing::error!(error = %e, "cannot describe the staychain");
            "an error occurred in the API".to_string()
        })
        .and_then(|spec| serde_json::to_value(spec).map_err(|e| e.to_string()));
    reply(started, result)
}

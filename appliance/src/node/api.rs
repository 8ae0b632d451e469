//! The HTTP JSON API. Amounts are decimal strings of base units; hashes, ids and keys are
//! lowercase hex. Errors are `{"error": kind, "message": text}` with a fitting status.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use lightclient::encoding::{Decode, Encode};
use lightclient::hash::Hash32;
use lightclient::keys::{AccountId, AssetId};
use lightclient::mapping::{ControllerPolicy, Mapping};
use lightclient::merkle::InclusionProof;
use lightclient::tx::SignedTransaction;
use serde_json::{Value, json};

use super::actors::{ChainActor, Inspect, MempoolActor, Metrics, Read, Submit};
use crate::chain::Chain;
use crate::ledger::code_name;
use crate::ledger::draft::Draft;
use crate::ledger::state_tree::StateKey;
use crate::mempool::{Mempool, MempoolError};
use crate::store::{MappingVersion, Publication};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The chain.
    pub chain: Addr<ChainActor>,
    /// The mempool.
    pub mempool: Addr<MempoolActor>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Controller signatures posted for the current draft mapping (kept in memory: after a
    /// restart controllers post again).
    pub draft_signatures: Arc<std::sync::Mutex<DraftSignatures>>,
}

/// Signatures collected for one draft, identified by its signing digest.
#[derive(Debug, Default)]
pub struct DraftSignatures {
    digest: Option<Hash32>,
    signatures: Vec<lightclient::mapping::MappingSignature>,
}

fn error(status: StatusCode, kind: &str, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": kind, "message": message.to_string() }))
}

fn unavailable(message: impl std::fmt::Display) -> HttpResponse {
    error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}

#[allow(clippy::result_large_err)]
async fn read<R: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&Chain) -> Result<R, crate::chain::ChainError> + Send + 'static,
) -> Result<R, HttpResponse> {
    match state.chain.send(Read(Box::new(f))).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "chain", e)),
        Err(e) => Err(unavailable(e)),
    }
}

// An error here is the finished response, so its size does not matter.
#[allow(clippy::result_large_err)]
fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, HttpResponse>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{what}: {e}"),
        )
    })
}

/// The body of a submission: the transaction as JSON, or its canonical encoding in hex.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum SubmitBody {
    Encoded { encoded: String },
    Json(Box<SignedTransaction>),
}

/// Decodes a submission body; every failure is a typed 400.
pub fn parse_submission(body: &[u8]) -> Result<SignedTransaction, (String, String)> {
    let parsed: SubmitBody = serde_json::from_slice(body).map_err(|e| {
        (
            "bad_request".to_string(),
            format!("body is neither a transaction nor {{\"encoded\": hex}}: {e}"),
        )
    })?;
    match parsed {
        SubmitBody::Json(tx) => Ok(*tx),
        SubmitBody::Encoded { encoded } => {
            let bytes = hex::decode(&encoded)
                .map_err(|e| ("bad_request".to_string(), format!("encoded: {e}")))?;
            SignedTransaction::from_bytes(&bytes)
                .map_err(|e| ("bad_encoding".to_string(), e.to_string()))
        }
    }
}

async fn submit(state: web::Data<ApiState>, body: web::Bytes) -> HttpResponse {
    let tx = match parse_submission(&body) {
        Ok(tx) => tx,
        Err((kind, message)) => return error(StatusCode::BAD_REQUEST, &kind, message),
    };
    let txid = tx.txid();
    let (tip, included) = match read(&state, move |c| {
        Ok((c.height(), c.store().find_transaction(&txid)?))
    })
    .await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Some((height, _)) = included {
        return error(
            StatusCode::CONFLICT,
            "already_included",
            format!("transaction {txid} is in block {height}"),
        );
    }
    match state.mempool.send(Submit(tx, tip)).await {
        Ok(Ok(txid)) => HttpResponse::Accepted().json(json!({ "txid": txid, "status": "pending" })),
        Ok(Err(e)) => {
            state
                .metrics
                .refused_at_entry
                .fetch_add(1, Ordering::SeqCst);
            match e {
                MempoolError::Full { .. } => HttpResponse::ServiceUnavailable()
                    .insert_header(("Retry-After", "1"))
                    .json(json!({ "error": "mempool_full", "message": e.to_string() })),
                MempoolError::Duplicate(_) => error(StatusCode::CONFLICT, "duplicate", e),
                other => error(StatusCode::BAD_REQUEST, "rejected", other),
            }
        }
        Err(e) => unavailable(e),
    }
}

async fn transaction(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let txid: Hash32 = match parse("txid", &path) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let found = read(&state, move |c| {
        let Some((height, index)) = c.store().find_transaction(&txid)? else {
            return Ok(None);
        };
        let block = c.store().block(height)?;
        Ok(block.and_then(|b| {
            let i = usize::try_from(index).ok()?;
            Some((
                height,
                index,
                b.transactions.get(i)?.clone(),
                b.receipts.get(i)?.clone(),
            ))
        }))
    })
    .await;
    match found {
        Err(r) => r,
        Ok(Some((height, index, tx, receipt))) => HttpResponse::Ok().json(json!({
            "txid": txid,
            "status": if receipt.code == 0 { "committed" } else { "rejected" },
            "height": height,
            "index": index,
            "code": receipt.code,
            "reason": code_name(receipt.code),
            "transaction": tx,
        })),
        Ok(None) => match state
            .mempool
            .send(Inspect(Box::new(move |m: &Mempool| m.contains(&txid))))
            .await
        {
            Ok(Ok(true)) => HttpResponse::Ok().json(json!({ "txid": txid, "status": "pending" })),
            Ok(_) => error(
                StatusCode::NOT_FOUND,
                "unknown_transaction",
                format!("transaction {txid} is neither pending nor committed"),
            ),
            Err(e) => unavailable(e),
        },
    }
}

async fn transaction_proof(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let txid: Hash32 = match parse("txid", &path) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let found = read(&state, move |c| {
        let Some((height, index)) = c.store().find_transaction(&txid)? else {
            return Ok(None);
        };
        Ok(c.store().block(height)?.map(|b| (height, index, b)))
    })
    .await;
    match found {
        Err(r) => r,
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_transaction",
            format!("transaction {txid} is not in a block"),
        ),
        Ok(Some((height, index, block))) => {
            let leaves: Vec<Vec<u8>> = block.transactions.iter().map(Encode::to_bytes).collect();
            match usize::try_from(index).map_err(|e| e.to_string()).and_then(|i| InclusionProof::build(&leaves, i).map_err(|e| e.to_string())) {
                Ok(proof) => HttpResponse::Ok().json(json!({
                    "txid": txid,
                    "height": height,
                    "transactions_root": block.header.transactions_root,
                    "leaf": hex::encode(leaves.get(usize::try_from(index).unwrap_or(usize::MAX)).cloned().unwrap_or_default()),
                    "proof": proof,
                })),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "proof", e),
            }
        }
    }
}

fn balance_json(asset: &AssetId, b: &crate::ledger::Balance) -> Value {
    json!({ "asset": asset, "available": b.available.to_string(), "locked": b.locked.to_string() })
}

async fn account(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let id: AccountId = match parse("account", &path) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match read(&state, move |c| Ok(c.state().account(&id).cloned())).await {
        Err(r) => r,
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown_account", format!("account {id} does not exist")),
        Ok(Some(a)) => HttpResponse::Ok().json(json!({
            "id": a.id, "public_key": a.public_key, "roles": a.roles, "kyc": a.kyc, "asset_holder": a.asset_holder,
        })),
    }
}

async fn balances(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let id: AccountId = match parse("account", &path) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match read(&state, move |c| {
        Ok((c.height(), c.state().balances_of(&id)))
    })
    .await
    {
        Err(r) => r,
        Ok((height, list)) => HttpResponse::Ok().json(json!({
            "account": id, "height": height,
            "balances": list.iter().map(|(asset, b)| balance_json(asset, b)).collect::<Vec<_>>(),
        })),
    }
}

async fn assets(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| {
        Ok(c.state().assets().cloned().collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(list) => HttpResponse::Ok().json(
            list.iter()
                .map(|a| {
                    json!({
                        "id": a.id, "code": a.code, "precision": a.precision, "backing": a.backing,
                        "issued": a.issued.to_string(), "maximum": a.maximum.to_string(),
                    })
                })
                .collect::<Vec<_>>(),
        ),
    }
}

async fn block_part(state: web::Data<ApiState>, path: web::Path<(String, u64)>) -> HttpResponse {
    let (part, height) = path.into_inner();
    match read(&state, move |c| Ok(c.store().block(height)?)).await {
        Err(r) => r,
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown_block", format!("no block at height {height}")),
        Ok(Some(block)) => match part.as_str() {
            "headers" => HttpResponse::Ok().json(json!({ "header": block.header, "hash": block.header.hash(), "encoded": hex::encode(block.header.to_bytes()) })),
            "certificates" => match block.certificate {
                Some(cert) => HttpResponse::Ok().json(json!({ "certificate": cert, "encoded": hex::encode(cert.to_bytes()) })),
                None => error(StatusCode::NOT_FOUND, "no_certificate", format!("block {height} has no certificate")),
            },
            _ => HttpResponse::Ok().json(json!({
                "header": block.header, "hash": block.header.hash(), "transactions": block.transactions,
                "receipts": block.receipts, "certificate": block.certificate,
            })),
        },
    }
}

async fn balance_proof(
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (account, asset) = path.into_inner();
    let account: AccountId = match parse("account", &account) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let asset: AssetId = match parse("asset", &asset) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let key = StateKey::Balance(account, asset);
    let key_hex = hex::encode(key.to_bytes());
    match read(&state, move |c| {
        let (value, proof) = c.prove(&key)?;
        Ok((c.height(), c.tip().map(|h| h.state_root), value, proof))
    })
    .await
    {
        Err(r) => r,
        Ok((height, root, value, proof)) => HttpResponse::Ok().json(json!({
            "account": account, "asset": asset, "height": height, "state_root": root,
            "key": key_hex, "value": value.map(hex::encode),
            "proof": serde_json::to_value(&proof).unwrap_or(Value::Null),
        })),
    }
}

fn version_json(v: &MappingVersion, publication: Publication) -> Value {
    json!({
        "sequence": v.sequence, "height": v.height, "hash": v.hash, "cid": v.cid,
        "ipfs": match publication {
            Publication::Pinned(at_ms) => json!({ "pinned_at_ms": at_ms }),
            Publication::Pending => json!("pending"),
        },
    })
}

async fn mapping(state: web::Data<ApiState>) -> HttpResponse {
    let found = read(&state, |c| {
        let sequence = c.state().mapping().sequence;
        let store = c.store();
        let version = store.mapping_version(sequence)?;
        let publication = store.publication(sequence)?;
        Ok(version.map(|v| (v, publication)))
    })
    .await;
    match found {
        Err(r) => r,
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no mapping version stored",
        ),
        Ok(Some((v, publication))) => {
            let mut reply = version_json(&v, publication);
            if let Some(object) = reply.as_object_mut() {
                let text = String::from_utf8_lossy(&v.bytes).into_owned();
                object.insert("json".into(), Value::String(text));
            }
            HttpResponse::Ok().json(reply)
        }
    }
}

/// Every mapping version: sequence, height, hash, CID, IPFS publication.
async fn mapping_versions(state: web::Data<ApiState>) -> HttpResponse {
    let found = read(&state, |c| {
        let store = c.store();
        let mut versions = Vec::new();
        for sequence in store.mapping_sequences()? {
            if let Some(v) = store.mapping_version(sequence)? {
                versions.push(version_json(&v, store.publication(sequence)?));
            }
        }
        Ok(versions)
    })
    .await;
    match found {
        Err(r) => r,
        Ok(versions) => HttpResponse::Ok().json(json!({ "versions": versions })),
    }
}

/// The exact published bytes of a mapping version, found by sequence, hash (`hash:HEX`) or CID
/// (`cid:Qm…`).
async fn mapping_bytes(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let key = path.into_inner();
    let lookup = if let Some(hash) = key.strip_prefix("hash:") {
        match parse::<Hash32>("hash", hash) {
            Ok(hash) => MappingKey::Hash(hash),
            Err(r) => return r,
        }
    } else if let Some(cid) = key.strip_prefix("cid:") {
        MappingKey::Cid(cid.to_string())
    } else {
        match parse::<u64>("sequence", &key) {
            Ok(sequence) => MappingKey::Sequence(sequence),
            Err(r) => return r,
        }
    };
    let found = read(&state, move |c| {
        let store = c.store();
        Ok(match lookup {
            MappingKey::Sequence(s) => store.mapping_version(s)?,
            MappingKey::Hash(h) => store.mapping_by_hash(&h)?,
            MappingKey::Cid(cid) => store.mapping_by_cid(&cid)?,
        })
    })
    .await;
    match found {
        Err(r) => r,
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no mapping version {key}"),
        ),
        Ok(Some(v)) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("X-Mapping-Sequence", v.sequence.to_string()))
            .insert_header(("X-Mapping-Hash", v.hash.to_string()))
            .insert_header(("X-Mapping-Cid", v.cid.clone()))
            .body(v.bytes),
    }
}

enum MappingKey {
    Sequence(u64),
    Hash(Hash32),
    Cid(String),
}

/// The current draft with the controller policy it is signed under.
#[allow(clippy::result_large_err)]
async fn current_draft(state: &ApiState) -> Result<(Draft, ControllerPolicy), HttpResponse> {
    // The draft is dated by the newest block that changed its inputs (the mapping in force or a
    // pending request), not the tip, so it stays the same while controllers sign it.
    let drafted = read(state, |c| {
        let ledger = c.state();
        let mapping_height = c
            .store()
            .mapping_version(ledger.mapping().sequence)?
            .map_or(0, |v| v.height);
        let height = mapping_height.max(ledger.pending_requests_height());
        let time_ms = match c.store().block(height)? {
            Some(block) => block.header.time_ms,
            None => c.genesis_time_ms(),
        };
        Ok((
            ledger.draft_mapping(height, time_ms),
            ledger.controllers().clone(),
        ))
    })
    .await?;
    match drafted {
        (Ok(draft), policy) => Ok((draft, policy)),
        (Err(e), _) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "draft", e)),
    }
}

/// The next mapping object, unsigned, as controllers sign it: its canonical JSON, with its
/// signing digest and what it completes in headers.
async fn draft(state: web::Data<ApiState>) -> HttpResponse {
    let draft = match current_draft(&state).await {
        Ok((d, _)) => d,
        Err(r) => return r,
    };
    let (bytes, digest) = match (
        draft.mapping.to_json_bytes(),
        draft.mapping.signing_digest(),
    ) {
        (Ok(b), Ok(d)) => (b, d),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, "draft", e),
    };
    let list = |ids: &[u64]| ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let deferred: Vec<String> = draft
        .deferred
        .iter()
        .map(|(id, reason)| format!("{id}: {reason}"))
        .collect();
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("X-Mapping-Digest", digest.to_string()))
        .insert_header(("X-Mapping-Issuances", list(&draft.issuances)))
        .insert_header(("X-Mapping-Redemptions", list(&draft.redemptions)))
        .insert_header(("X-Mapping-Released", draft.released.join(",")))
        .insert_header(("X-Mapping-Deferred", deferred.join("; ")))
        .body(bytes)
}

/// Takes a copy of the current draft carrying one or more controller signatures, checks each,
/// and answers the draft with every signature collected so far. Anyone may submit it once the
/// `X-Mapping-Signatures` header reaches `X-Mapping-Required`.
async fn post_draft_signatures(state: web::Data<ApiState>, body: web::Bytes) -> HttpResponse {
    let (draft, policy) = match current_draft(&state).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    // Checks signatures one by one: each must be a controller's and verify.
    let each_signature = ControllerPolicy {
        threshold: 1,
        ..policy.clone()
    };
    let refused =
        |e: &dyn std::fmt::Display| error(StatusCode::UNPROCESSABLE_ENTITY, "mapping_refused", e);
    let posted = match Mapping::parse(&body, policy.precision) {
        Ok(m) => m,
        Err(e) => return refused(&e),
    };
    let (Ok(expected), Ok(got)) = (draft.mapping.signing_digest(), posted.signing_digest()) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "draft", "digest");
    };
    if expected != got {
        return error(
            StatusCode::CONFLICT,
            "stale_draft",
            format!("the posted mapping signs {got}; the current draft is {expected}"),
        );
    }
    // One valid signature is enough to be worth collecting.
    if let Err(e) = each_signature.verify(&posted, &posted.chain, None) {
        return refused(&e);
    }
    let mut merged = draft.mapping;
    {
        let Ok(mut collected) = state.draft_signatures.lock() else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "draft", "lock poisoned");
        };
        if collected.digest != Some(expected) {
            *collected = DraftSignatures {
                digest: Some(expected),
                signatures: Vec::new(),
            };
        }
        for signature in posted.signatures {
            if !collected.signatures.contains(&signature) {
                collected.signatures.push(signature);
            }
        }
        merged.signatures = collected.signatures.clone();
    }
    let credited = each_signature
        .verify(&merged, &merged.chain, None)
        .map_or(0, |signers| signers.len());
    match merged.to_json_bytes() {
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "draft", e),
        Ok(bytes) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("X-Mapping-Digest", expected.to_string()))
            .insert_header(("X-Mapping-Signatures", credited.to_string()))
            .insert_header(("X-Mapping-Required", policy.threshold.to_string()))
            .body(bytes),
    }
}

fn attestation_reply(found: Option<(u64, Vec<u8>)>, asked: &str) -> HttpResponse {
    let Some((height, json)) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "not_attested",
            format!("no block at or above {asked} is attested to Bitcoin yet"),
        );
    };
    match serde_json::from_slice::<Value>(&json) {
        Ok(evidence) => HttpResponse::Ok().json(json!({ "height": height, "evidence": evidence })),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e),
    }
}

/// The Bitcoin attestation covering a block: that of the first attested block at or above it
/// (whose header chain leads back to the block asked for).
async fn attestation(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let height: u64 = match parse("height", &path) {
        Ok(h) => h,
        Err(response) => return response,
    };
    match read(&state, move |chain| {
        chain
            .store()
            .attestation_at_or_above(height)
            .map_err(crate::chain::ChainError::from)
    })
    .await
    {
        Ok(found) => attestation_reply(found, &height.to_string()),
        Err(response) => response,
    }
}

async fn latest_attestation(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |chain| {
        chain
            .store()
            .latest_attestation()
            .map_err(crate::chain::ChainError::from)
    })
    .await
    {
        Ok(found) => attestation_reply(found, "height 0"),
        Err(response) => response,
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| Ok(c.height())).await {
        Ok(height) => HttpResponse::Ok().json(json!({ "status": "ready", "height": height })),
        Err(r) => r,
    }
}

async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    let pending = state
        .mempool
        .send(Inspect(Box::new(|m: &Mempool| m.len())))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    let m = &state.metrics;
    let body = format!(
        "# TYPE abt_height gauge\nabt_height {}\n# TYPE abt_blocks_committed_total counter\nabt_blocks_committed_total {}\n# TYPE abt_transactions_applied_total counter\nabt_transactions_applied_total {}\n# TYPE abt_transactions_refused_in_blocks_total counter\nabt_transactions_refused_in_blocks_total {}\n# TYPE abt_submissions_refused_total counter\nabt_submissions_refused_total {}\n# TYPE abt_block_production_errors_total counter\nabt_block_production_errors_total {}\n# TYPE abt_mempool_transactions gauge\nabt_mempool_transactions {}\n",
        m.height.load(Ordering::SeqCst),
        m.blocks.load(Ordering::SeqCst),
        m.applied.load(Ordering::SeqCst),
        m.refused_in_blocks.load(Ordering::SeqCst),
        m.refused_at_entry.load(Ordering::SeqCst),
        m.production_errors.load(Ordering::SeqCst),
        pending,
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

/// The OpenAPI 3 description of this API.
pub fn openapi_document() -> Value {
    let get = |summary: &str| json!({ "get": { "summary": summary, "responses": { "200": { "description": "OK" }, "404": { "description": "not found" } } } });
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Asset-backed token appliance", "version": env!("CARGO_PKG_VERSION") },
        "paths": {
            "/v1/transactions": { "post": {
                "summary": "Submit a signed transaction (JSON, or {\"encoded\": canonical hex}); answers 202 with its txid",
                "responses": { "202": { "description": "pending" }, "400": { "description": "refused, with the reason" }, "409": { "description": "already pending" }, "503": { "description": "mempool full; retry after the Retry-After header" } }
            } },
            "/v1/transactions/{txid}": get("Status: pending, committed at a height, or rejected with its reason code"),
            "/v1/transactions/{txid}/proof": get("Merkle inclusion proof of the transaction under its block's transactions root"),
            "/v1/accounts/{account}": get("An account: key, roles, KYC state, asset holder"),
            "/v1/accounts/{account}/balances": get("Balances of an account"),
            "/v1/assets": get("Every asset with supply and maximum"),
            "/v1/blocks/{height}": get("Block: header, transactions, receipts, certificate"),
            "/v1/headers/{height}": get("Header with its hash and canonical encoding"),
            "/v1/certificates/{height}": get("Commit certificate of a block"),
            "/v1/proofs/balance/{account}/{asset}": get("Balance with its Jellyfish Merkle proof against the tip's state root"),
            "/v1/mapping": get("The mapping object in force: sequence, height, hash, CID, IPFS publication, exact JSON"),
            "/v1/mappings": get("Every mapping version: sequence, height, hash, CID, IPFS publication"),
            "/v1/mappings/{sequence | hash:HEX | cid:CID}": get("The exact published bytes of a mapping version"),
            "/v1/mapping/draft": {
                "get": { "summary": "The next mapping, unsigned, for controllers to review and sign (digest and changes in X-Mapping-* headers)", "responses": { "200": { "description": "the draft's canonical JSON" } } },
                "post": { "summary": "Post a copy of the draft with controller signatures; answers the draft with every signature collected", "responses": { "200": { "description": "collected (X-Mapping-Signatures of X-Mapping-Required)" }, "409": { "description": "the draft has changed" }, "422": { "description": "a signature is refused, with the reason" } } }
            },
            "/health": get("Liveness"),
            "/ready": get("Readiness, with the tip height"),
            "/metrics": get("Prometheus metrics"),
            "/openapi.json": get("This document"),
        }
    })
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .route("/openapi.json", web::get().to(openapi))
        .route("/v1/transactions", web::post().to(submit))
        .route("/v1/transactions/{txid}", web::get().to(transaction))
        .route(
            "/v1/transactions/{txid}/proof",
            web::get().to(transaction_proof),
        )
        .route("/v1/accounts/{account}", web::get().to(account))
        .route("/v1/accounts/{account}/balances", web::get().to(balances))
        .route("/v1/assets", web::get().to(assets))
        .route(
            "/v1/{part:blocks|headers|certificates}/{height}",
            web::get().to(block_part),
        )
        .route(
            "/v1/proofs/balance/{account}/{asset}",
            web::get().to(balance_proof),
        )
        .route("/v1/mapping", web::get().to(mapping))
        .route("/v1/mapping/draft", web::get().to(draft))
        .route("/v1/mapping/draft", web::post().to(post_draft_signatures))
        .route("/v1/mappings", web::get().to(mapping_versions))
        .route("/v1/mappings/{key}", web::get().to(mapping_bytes))
        .route("/v1/attestations/latest", web::get().to(latest_attestation))
        .route("/v1/attestations/{height}", web::get().to(attestation));
}

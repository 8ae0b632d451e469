//! The HTTP JSON API. Amounts are decimal strings of base units; hashes, ids and keys are
//! lowercase hex. Errors are `{"error": kind, "message": text}` with a fitting status.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::Addr;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use lightclient::certificate::CommitCertificate;
use lightclient::encoding::Encode;
use lightclient::hash::Hash32;
use lightclient::header::{BlockHeader, Receipt};
use lightclient::keys::{AccountId, AssetId};
use lightclient::mapping::ControllerPolicy;
use lightclient::merkle::InclusionProof;
use lightclient::tx::SignedTransaction;
use serde_json::{Value, json};

use super::actors::{ChainActor, Inspect, MempoolActor, Metrics, Read, Submit, SubmitError};
use super::now_ms;
use crate::admission::{decode_encoded, decode_submission};
use crate::chain::Chain;
use crate::ledger::draft::{Draft, PostedDraftError, check_posted_draft};
use crate::ledger::state_tree::StateKey;
use crate::ledger::{LedgerError, code_name};
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
    /// The store, where controller signatures of the current draft are kept (they survive a
    /// restart).
    pub store: crate::store::Store,
    /// Serialises the merging of posted draft signatures.
    pub draft_lock: Arc<std::sync::Mutex<()>>,
    /// The other nodes' API base URLs: newly collected draft signatures are forwarded to them.
    pub draft_peers: Arc<Vec<String>>,
    /// What `/ready` checks against.
    pub health: HealthLimits,
}

/// The limits `/ready` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthLimits {
    /// Not ready once no block has been committed for this long, ms.
    pub stall_after_ms: u64,
}

/// Every error answer: `{"error": kind, "message": text}`, with the field to blame where one is.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// The stable error name (`bad_field`, `unknown_signer`, `wrong_chain`, `mempool_full`,
    /// a ledger code name, ...).
    pub error: String,
    /// What was wrong, for people.
    pub message: String,
    /// The field to blame, where one is (`transaction.version`, `encoded`, `height`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub(super) fn error(
    status: StatusCode,
    kind: &str,
    message: impl std::fmt::Display,
) -> HttpResponse {
    HttpResponse::build(status).json(ApiError {
        error: kind.to_string(),
        message: message.to_string(),
        field: None,
    })
}

/// An error answer that names the field to blame.
fn field_error(
    status: StatusCode,
    kind: &str,
    field: &str,
    message: impl std::fmt::Display,
) -> HttpResponse {
    HttpResponse::build(status).json(ApiError {
        error: kind.to_string(),
        message: message.to_string(),
        field: Some(field.to_string()),
    })
}

fn unavailable(message: impl std::fmt::Display) -> HttpResponse {
    error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}

#[allow(clippy::result_large_err)]
pub(crate) async fn read<R: Send + 'static>(
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
pub(super) fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, HttpResponse>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| {
        field_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            what,
            format!("{what}: {e}"),
        )
    })
}

/// Why a transaction was not admitted, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable error name.
    pub kind: &'static str,
    /// What was wrong.
    pub message: String,
    /// The field to blame, if one is.
    pub field: Option<&'static str>,
    /// Seconds to wait before retrying, when retrying can help.
    pub retry_after: Option<u32>,
}

impl Refusal {
    fn new(status: StatusCode, kind: &'static str, message: impl std::fmt::Display) -> Self {
        Refusal {
            status,
            kind,
            message: message.to_string(),
            field: None,
            retry_after: None,
        }
    }

    fn field(self, field: &'static str) -> Self {
        Refusal {
            field: Some(field),
            ..self
        }
    }

    fn retry_after(self, seconds: u32) -> Self {
        Refusal {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// Whether the transaction is already pending or included (a relay counts it delivered).
    pub fn is_duplicate(&self) -> bool {
        matches!(self.kind, "duplicate" | "already_included")
    }

    fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        response.json(ApiError {
            error: self.kind.to_string(),
            message: self.message.clone(),
            field: self.field.map(str::to_string),
        })
    }
}

fn ledger_refusal(e: &LedgerError) -> Refusal {
    let kind = code_name(e.code());
    match e {
        LedgerError::WrongChain { .. } => {
            Refusal::new(StatusCode::BAD_REQUEST, kind, e).field("transaction.genesis_hash")
        }
        LedgerError::AlreadyIncluded(_) => Refusal::new(StatusCode::CONFLICT, kind, e),
        LedgerError::WrongKey(_) => {
            Refusal::new(StatusCode::FORBIDDEN, kind, e).field("transaction.public_key")
        }
        _ => Refusal::new(StatusCode::FORBIDDEN, kind, e).field("transaction.signer"),
    }
}

fn mempool_refusal(e: &SubmitError) -> Refusal {
    let refused = |kind, field| Refusal::new(StatusCode::BAD_REQUEST, kind, e).field(field);
    match e {
        SubmitError::Refused(refusal) => match refusal {
            MempoolError::Full { .. } => {
                Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "mempool_full", e).retry_after(1)
            }
            MempoolError::SignerShare { .. } => {
                Refusal::new(StatusCode::TOO_MANY_REQUESTS, "signer_share", e)
                    .field("transaction.signer")
                    .retry_after(1)
            }
            MempoolError::Duplicate(_) => Refusal::new(StatusCode::CONFLICT, "duplicate", e),
            MempoolError::TooLarge { .. } => {
                Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e)
            }
            MempoolError::WrongChain { .. } => refused("wrong_chain", "transaction.genesis_hash"),
            MempoolError::Expired { .. } => refused("expired", "transaction.expires_at_height"),
            MempoolError::ExpiryTooFar { .. } => {
                refused("expiry_too_far", "transaction.expires_at_height")
            }
            MempoolError::BadSignature(_) => refused("bad_signature", "signature"),
        },
        // Nothing was admitted: the client may retry here or at another node.
        SubmitError::Log(_) => {
            Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "not_durable", e).retry_after(5)
        }
    }
}

/// The admission rule (ADR 0010), after decoding: bound to this chain, signed by a registered,
/// unbanned account with its current key, not already included, then the mempool's own checks;
/// admitted only once it is durable in the mempool log. `local` says whether a client (rather
/// than a peer's relay) sent it.
pub async fn admit(
    state: &ApiState,
    tx: SignedTransaction,
    local: bool,
) -> Result<Hash32, Refusal> {
    let txid = tx.txid();
    let checked = tx.clone();
    let (tip, included, admits) = read(state, move |c| {
        Ok((
            c.height(),
            c.store().find_transaction(&txid)?,
            c.state().admits(&checked),
        ))
    })
    .await
    .map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the chain is not answering",
        )
        .retry_after(1)
    })?;
    if let Some((height, _)) = included {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "already_included",
            format!("transaction {txid} is in block {height}"),
        ));
    }
    admits.map_err(|e| ledger_refusal(&e))?;
    match state
        .mempool
        .send(Submit {
            tx,
            tip_height: tip,
            local,
        })
        .await
    {
        Ok(Ok(txid)) => Ok(txid),
        Ok(Err(e)) => Err(mempool_refusal(&e)),
        Err(e) => {
            Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e).retry_after(1))
        }
    }
}

/// A transaction as a client submits it: the signed transaction as JSON, or its canonical
/// encoding in hex.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body `decode_submission` reads
enum Submission {
    /// `{"encoded": HEX}`: the canonical bytes of a signed transaction.
    Encoded(EncodedSubmission),
    /// The signed transaction as JSON.
    Json(Box<SignedTransaction>),
}

/// `{"encoded": HEX}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct EncodedSubmission {
    /// The canonical encoding of a signed transaction, hex.
    encoded: String,
}

/// 202: admitted.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Submitted {
    txid: Hash32,
    /// Always `pending`.
    status: &'static str,
}

/// Submit a signed transaction. 202 means: it passed the admission rule (ADR 0010), is fsynced
/// in this node's mempool log, and is being relayed to every other validator until each has it
/// (ADR 0011); it survives a crash of this node. It does not mean it will apply: see
/// `GET /v1/transactions/{txid}`.
#[utoipa::path(post, path = "/v1/transactions", tag = "transactions",
    request_body(content = Submission, content_type = "application/json"),
    responses(
        (status = 202, description = "durable here and being relayed", body = Submitted),
        (status = 400, description = "not a valid transaction for this chain: bad_json, bad_field, bad_encoding, wrong_chain, expired, expiry_too_far, bad_signature", body = ApiError),
        (status = 403, description = "the signer is not a registered, unbanned account with this key: unknown_signer, wrong_key, banned", body = ApiError),
        (status = 409, description = "already pending (duplicate) or in a block (already_included)", body = ApiError),
        (status = 413, description = "larger than a transaction may be (too_large)", body = ApiError),
        (status = 429, description = "this signer has its share of the mempool waiting (signer_share)", body = ApiError,
            headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
        (status = 503, description = "the mempool is full (mempool_full) or cannot write its log (not_durable): nothing was admitted", body = ApiError,
            headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
async fn submit(state: web::Data<ApiState>, body: web::Bytes) -> HttpResponse {
    let tx = match decode_submission(&body) {
        Ok(tx) => tx,
        Err(e) => {
            state
                .metrics
                .refused_at_entry
                .fetch_add(1, Ordering::SeqCst);
            return match e.field() {
                Some(field) => field_error(StatusCode::BAD_REQUEST, e.kind(), field, &e),
                None => error(StatusCode::BAD_REQUEST, e.kind(), &e),
            };
        }
    };
    match admit(&state, tx, true).await {
        Ok(txid) => HttpResponse::Accepted().json(Submitted {
            txid,
            status: "pending",
        }),
        Err(refusal) => {
            state
                .metrics
                .refused_at_entry
                .fetch_add(1, Ordering::SeqCst);
            refusal.response()
        }
    }
}

/// A batch a peer relays: canonical encodings in hex.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RelayBody {
    transactions: Vec<String>,
}

/// What became of one relayed transaction.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct RelayResult {
    /// Absent when the transaction did not decode.
    #[serde(skip_serializing_if = "Option::is_none")]
    txid: Option<Hash32>,
    /// `accepted`, `duplicate` or `refused`.
    status: &'static str,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// The answer to a relayed batch, in its order.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct RelayResults {
    results: Vec<RelayResult>,
}

/// Transactions relayed by a peer's mempool: each passes the same decoding and admission rule
/// as a client's, and is answered one by one (`accepted`, `duplicate` or `refused`).
#[utoipa::path(post, path = "/v1/mempool/relay", tag = "transactions",
    request_body(content = RelayBody, content_type = "application/json"),
    responses(
        (status = 200, description = "each transaction's outcome", body = RelayResults),
        (status = 400, description = "the body is not a relay batch", body = ApiError),
        (status = 503, description = "this node cannot take transactions now; retry the batch", body = ApiError,
            headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    ))]
async fn relay(state: web::Data<ApiState>, body: web::Bytes) -> HttpResponse {
    let batch: RelayBody = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => return field_error(StatusCode::BAD_REQUEST, "bad_field", "transactions", e),
    };
    let mut results = Vec::with_capacity(batch.transactions.len());
    for encoded in &batch.transactions {
        let outcome = |txid, status, refusal: Option<(String, String)>| {
            let (error, message) = refusal.unzip();
            RelayResult {
                txid,
                status,
                error,
                message,
            }
        };
        let result = match decode_encoded(encoded) {
            Err(e) => outcome(None, "refused", Some((e.kind().to_string(), e.to_string()))),
            Ok(tx) => {
                let txid = tx.txid();
                match admit(&state, tx, false).await {
                    Ok(_) => outcome(Some(txid), "accepted", None),
                    Err(r) if r.is_duplicate() => outcome(Some(txid), "duplicate", None),
                    Err(r) if r.retry_after.is_some() => {
                        // A full or failing mempool here: the peer keeps the rest and retries.
                        return r.response();
                    }
                    Err(r) => outcome(Some(txid), "refused", Some((r.kind.to_string(), r.message))),
                }
            }
        };
        results.push(result);
    }
    HttpResponse::Ok().json(RelayResults { results })
}

/// A transaction's status.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TransactionStatus {
    txid: Hash32,
    /// `pending`, `committed` (applied) or `rejected` (refused inside its block).
    status: &'static str,
    /// The block, once committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u64>,
    /// Its index in the block.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    /// The receipt's code (0 applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u32>,
    /// The code's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction: Option<SignedTransaction>,
}

/// Status: pending, committed at a height, or rejected with its reason code.
#[utoipa::path(get, path = "/v1/transactions/{txid}", tag = "transactions",
    params(("txid" = Hash32, Path, description = "the transaction id, 64 hex digits")),
    responses(
        (status = 200, description = "pending, or in a block", body = TransactionStatus),
        (status = 400, description = "not a txid", body = ApiError),
        (status = 404, description = "neither pending nor committed (unknown_transaction)", body = ApiError),
    ))]
async fn transaction(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let txid: Hash32 = match parse("txid", &path) {
        Ok(t) => t,
        Err(r) => return r,
    };
    // The mempool is asked first: a block is in the store before its transactions leave the
    // mempool, so a transaction absent from the mempool now is either in the store when asked
    // next or was never admitted. (Store first, then mempool, answered 404 for a transaction
    // committed in between.)
    let pending = state
        .mempool
        .send(Inspect(Box::new(move |m: &Mempool| m.contains(&txid))))
        .await;
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
    match (found, pending) {
        (Err(r), _) => r,
        (Ok(Some((height, index, tx, receipt))), _) => HttpResponse::Ok().json(TransactionStatus {
            txid,
            status: if receipt.code == 0 {
                "committed"
            } else {
                "rejected"
            },
            height: Some(height),
            index: Some(index),
            code: Some(receipt.code),
            reason: Some(code_name(receipt.code)),
            transaction: Some(tx),
        }),
        (Ok(None), Ok(Ok(true))) => HttpResponse::Ok().json(TransactionStatus {
            txid,
            status: "pending",
            height: None,
            index: None,
            code: None,
            reason: None,
            transaction: None,
        }),
        (Ok(None), Ok(_)) => error(
            StatusCode::NOT_FOUND,
            "unknown_transaction",
            format!("transaction {txid} is neither pending nor committed"),
        ),
        (Ok(None), Err(e)) => unavailable(e),
    }
}

/// A committed transaction, its block and its index there; 404 when it is in no block.
#[allow(clippy::result_large_err)]
async fn committed(
    state: &ApiState,
    path: &str,
) -> Result<(Hash32, u64, usize, crate::store::StoredBlock), HttpResponse> {
    let txid: Hash32 = parse("txid", path)?;
    let found = read(state, move |c| {
        let Some((height, index)) = c.store().find_transaction(&txid)? else {
            return Ok(None);
        };
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        Ok(c.store().block(height)?.map(|b| (height, index, b)))
    })
    .await?;
    found
        .map(|(height, index, block)| (txid, height, index, block))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "unknown_transaction",
                format!("transaction {txid} is not in a block"),
            )
        })
}

/// Leaf `index` of `leaves` (canonical encodings) in hex, with its inclusion proof.
#[allow(clippy::result_large_err)]
fn leaf_proof(leaves: &[Vec<u8>], index: usize) -> Result<(String, InclusionProof), HttpResponse> {
    let proof = InclusionProof::build(leaves, index)
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "proof", e))?;
    let leaf = leaves.get(index).map(hex::encode).unwrap_or_default();
    Ok((leaf, proof))
}

/// A transaction's inclusion under its block's transactions root.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TransactionProof {
    txid: Hash32,
    height: u64,
    /// The signed transaction's canonical encoding, hex.
    leaf: String,
    proof: InclusionProof,
    transactions_root: Hash32,
}

/// Merkle inclusion proof of the transaction under its block's transactions root.
#[utoipa::path(get, path = "/v1/transactions/{txid}/proof", tag = "transactions",
    params(("txid" = Hash32, Path, description = "the transaction id, 64 hex digits")),
    responses(
        (status = 200, description = "the leaf and its proof", body = TransactionProof),
        (status = 400, description = "not a txid", body = ApiError),
        (status = 404, description = "in no block (unknown_transaction)", body = ApiError),
    ))]
async fn transaction_proof(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let (txid, height, index, block) = match committed(&state, &path).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let leaves: Vec<Vec<u8>> = block.transactions.iter().map(Encode::to_bytes).collect();
    match leaf_proof(&leaves, index) {
        Err(r) => r,
        Ok((leaf, proof)) => HttpResponse::Ok().json(TransactionProof {
            txid,
            height,
            leaf,
            proof,
            transactions_root: block.header.transactions_root,
        }),
    }
}

/// A transaction's receipt with its inclusion under the block's receipts root.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ReceiptProof {
    txid: Hash32,
    height: u64,
    index: usize,
    /// The receipt's canonical encoding, hex.
    leaf: String,
    proof: InclusionProof,
    receipts_root: Hash32,
    receipt: Option<Receipt>,
}

/// The transaction's receipt (code, code name, message, events) with its inclusion proof under
/// the block's receipts root.
#[utoipa::path(get, path = "/v1/transactions/{txid}/receipt", tag = "transactions",
    params(("txid" = Hash32, Path, description = "the transaction id, 64 hex digits")),
    responses(
        (status = 200, description = "the receipt, its leaf and its proof", body = ReceiptProof),
        (status = 400, description = "not a txid", body = ApiError),
        (status = 404, description = "in no block (unknown_transaction)", body = ApiError),
    ))]
async fn transaction_receipt(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let (txid, height, index, block) = match committed(&state, &path).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let leaves: Vec<Vec<u8>> = block.receipts.iter().map(Encode::to_bytes).collect();
    match leaf_proof(&leaves, index) {
        Err(r) => r,
        Ok((leaf, proof)) => HttpResponse::Ok().json(ReceiptProof {
            txid,
            height,
            index,
            leaf,
            proof,
            receipts_root: block.header.receipts_root,
            receipt: block.receipts.get(index).cloned(),
        }),
    }
}

/// A block's receipts.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct BlockReceipts {
    height: u64,
    receipts_root: Hash32,
    receipts: Vec<Receipt>,
}

/// The `{height}` path parameter of block routes.
const HEIGHT: &str = "a block height";

/// Every receipt of a block, in transaction order.
#[utoipa::path(get, path = "/v1/blocks/{height}/receipts", tag = "blocks",
    params(("height" = u64, Path, description = HEIGHT)),
    responses(
        (status = 200, description = "the receipts", body = BlockReceipts),
        (status = 400, description = "not a height", body = ApiError),
        (status = 404, description = "no block there (unknown_block)", body = ApiError),
    ))]
async fn block_receipts(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let height: u64 = match parse("height", &path) {
        Ok(h) => h,
        Err(r) => return r,
    };
    match read(&state, move |c| c.store().block(height).map_err(Into::into)).await {
        Err(r) => r,
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_block",
            format!("no block at height {height}"),
        ),
        Ok(Some(block)) => HttpResponse::Ok().json(BlockReceipts {
            height,
            receipts_root: block.header.receipts_root,
            receipts: block.receipts,
        }),
    }
}

/// An account.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct AccountView {
    id: AccountId,
    public_key: lightclient::keys::PublicKey,
    roles: Vec<lightclient::tx::Role>,
    kyc: lightclient::tx::KycState,
    /// The asset holder a holder is registered with.
    asset_holder: Option<AccountId>,
}

impl AccountView {
    pub(super) fn of(a: &crate::ledger::Account) -> Self {
        AccountView {
            id: a.id,
            public_key: a.public_key,
            roles: a.roles.iter().copied().collect(),
            kyc: a.kyc,
            asset_holder: a.asset_holder,
        }
    }
}

/// One balance; amounts are decimal strings of base units.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct BalanceView {
    asset: AssetId,
    available: String,
    locked: String,
}

/// An account's balances.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Balances {
    account: AccountId,
    height: u64,
    balances: Vec<BalanceView>,
}

/// The `{account}` path parameter.
pub(super) const ACCOUNT: &str = "an account id, 40 hex digits";
/// The `{asset}` path parameter.
pub(super) const ASSET: &str = "an asset id, 64 hex digits";

/// An account: key, roles, KYC state, asset holder.
#[utoipa::path(get, path = "/v1/accounts/{account}", tag = "accounts",
    params(("account" = AccountId, Path, description = ACCOUNT)),
    responses(
        (status = 200, description = "the account", body = AccountView),
        (status = 400, description = "not an account id", body = ApiError),
        (status = 404, description = "no such account (unknown_account)", body = ApiError),
    ))]
async fn account(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let id: AccountId = match parse("account", &path) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match read(&state, move |c| Ok(c.state().account(&id).cloned())).await {
        Err(r) => r,
        Ok(None) => unknown_account(&id),
        Ok(Some(a)) => HttpResponse::Ok().json(AccountView::of(&a)),
    }
}

/// An account's balances.
#[utoipa::path(get, path = "/v1/accounts/{account}/balances", tag = "accounts",
    params(("account" = AccountId, Path, description = ACCOUNT)),
    responses(
        (status = 200, description = "the balances", body = Balances),
        (status = 400, description = "not an account id", body = ApiError),
        (status = 404, description = "no such account (unknown_account)", body = ApiError),
    ))]
async fn balances(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let id: AccountId = match parse("account", &path) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match read_known_account(&state, id, move |c| {
        (c.height(), c.state().balances_of(&id))
    })
    .await
    {
        Err(r) => r,
        Ok((height, list)) => HttpResponse::Ok().json(Balances {
            account: id,
            height,
            balances: list
                .iter()
                .map(|(asset, b)| BalanceView {
                    asset: *asset,
                    available: b.available.to_string(),
                    locked: b.locked.to_string(),
                })
                .collect(),
        }),
    }
}

/// 404 `unknown_account`, the same on every route that names an account.
pub(super) fn unknown_account(id: &AccountId) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        "unknown_account",
        format!("account {id} does not exist"),
    )
}

/// Reads `f` about account `id` if the ledger knows it (registered, or the redemption account);
/// 404 `unknown_account` otherwise.
pub(super) async fn read_known_account<R: Send + 'static>(
    state: &ApiState,
    id: AccountId,
    f: impl FnOnce(&Chain) -> R + Send + 'static,
) -> Result<R, HttpResponse> {
    read(state, move |c| {
        Ok(c.state().is_known_account(&id).then(|| f(c)))
    })
    .await?
    .ok_or_else(|| unknown_account(&id))
}

/// An asset and its supply.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct AssetView {
    id: AssetId,
    code: String,
    precision: u8,
    backing: lightclient::tx::BackingKind,
    /// In supply, base units.
    issued: String,
    /// The most that may ever be in supply, base units.
    maximum: String,
}

/// Every asset with its supply and maximum.
#[utoipa::path(get, path = "/v1/assets", tag = "assets",
    responses((status = 200, description = "the assets", body = Vec<AssetView>)))]
async fn assets(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| {
        Ok(c.state().assets().cloned().collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(list) => HttpResponse::Ok().json(
            list.iter()
                .map(|a| AssetView {
                    id: a.id,
                    code: a.code.clone(),
                    precision: a.precision,
                    backing: a.backing,
                    issued: a.issued.to_string(),
                    maximum: a.maximum.to_string(),
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// A stored block, or 404 `unknown_block`.
#[allow(clippy::result_large_err)]
async fn stored_block(
    state: &ApiState,
    path: &str,
) -> Result<(u64, crate::store::StoredBlock), HttpResponse> {
    let height: u64 = parse("height", path)?;
    read(state, move |c| Ok(c.store().block(height)?))
        .await?
        .map(|block| (height, block))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "unknown_block",
                format!("no block at height {height}"),
            )
        })
}

/// A block.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct BlockView {
    header: BlockHeader,
    hash: Hash32,
    transactions: Vec<SignedTransaction>,
    receipts: Vec<Receipt>,
    certificate: Option<CommitCertificate>,
}

/// Block: header, transactions, receipts, certificate.
#[utoipa::path(get, path = "/v1/blocks/{height}", tag = "blocks",
    params(("height" = u64, Path, description = HEIGHT)),
    responses(
        (status = 200, description = "the block", body = BlockView),
        (status = 400, description = "not a height", body = ApiError),
        (status = 404, description = "no block there (unknown_block)", body = ApiError),
    ))]
async fn block(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    match stored_block(&state, &path).await {
        Err(r) => r,
        Ok((_, block)) => HttpResponse::Ok().json(BlockView {
            hash: block.header.hash(),
            header: block.header,
            transactions: block.transactions,
            receipts: block.receipts,
            certificate: block.certificate,
        }),
    }
}

/// A header.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct HeaderView {
    header: BlockHeader,
    hash: Hash32,
    /// Its canonical encoding, hex (what the hash is taken over).
    encoded: String,
}

/// Header with its hash and canonical encoding.
#[utoipa::path(get, path = "/v1/headers/{height}", tag = "blocks",
    params(("height" = u64, Path, description = HEIGHT)),
    responses(
        (status = 200, description = "the header", body = HeaderView),
        (status = 400, description = "not a height", body = ApiError),
        (status = 404, description = "no block there (unknown_block)", body = ApiError),
    ))]
async fn header(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    match stored_block(&state, &path).await {
        Err(r) => r,
        Ok((_, block)) => HttpResponse::Ok().json(HeaderView {
            hash: block.header.hash(),
            encoded: hex::encode(block.header.to_bytes()),
            header: block.header,
        }),
    }
}

/// A commit certificate.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct CertificateView {
    certificate: CommitCertificate,
    /// Its canonical encoding, hex.
    encoded: String,
}

/// Commit certificate of a block.
#[utoipa::path(get, path = "/v1/certificates/{height}", tag = "blocks",
    params(("height" = u64, Path, description = HEIGHT)),
    responses(
        (status = 200, description = "the certificate", body = CertificateView),
        (status = 400, description = "not a height", body = ApiError),
        (status = 404, description = "no block there (unknown_block), or none certified it yet (no_certificate)", body = ApiError),
    ))]
async fn certificate(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    match stored_block(&state, &path).await {
        Err(r) => r,
        Ok((height, block)) => match block.certificate {
            Some(certificate) => HttpResponse::Ok().json(CertificateView {
                encoded: hex::encode(certificate.to_bytes()),
                certificate,
            }),
            None => error(
                StatusCode::NOT_FOUND,
                "no_certificate",
                format!("block {height} has no certificate"),
            ),
        },
    }
}

/// What a light client verifies for one height (`latest` for the tip): header, certificate,
/// the validator set that certified it and the one it names next.
#[utoipa::path(get, path = "/v1/light_blocks/{height}", tag = "light client",
    params(("height" = String, Path, description = "a block height, or `latest`", pattern = "^([0-9]+|latest)$")),
    responses(
        (status = 200, description = "the light block", body = lightclient::light::LightBlock),
        (status = 400, description = "neither a height nor `latest`", body = ApiError),
        (status = 404, description = "no certified block there (unknown_block)", body = ApiError),
    ))]
async fn light_block(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let asked = path.into_inner();
    let height: Option<u64> = if asked == "latest" {
        None
    } else {
        match parse("height", &asked) {
            Ok(h) => Some(h),
            Err(r) => return r,
        }
    };
    match read(&state, move |c| {
        let height = height.unwrap_or_else(|| c.height());
        Ok((height, c.light_block(height)?))
    })
    .await
    {
        Err(r) => r,
        Ok((height, None)) => error(
            StatusCode::NOT_FOUND,
            "unknown_block",
            format!("no certified block at height {height}"),
        ),
        Ok((_, Some(block))) => HttpResponse::Ok().json(block),
    }
}

/// The optional `?height=H` of a proof request.
// An error here is the finished response, so its size does not matter.
#[allow(clippy::result_large_err)]
fn proof_height(request: &HttpRequest) -> Result<Option<u64>, HttpResponse> {
    let query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
            .map_err(|e| field_error(StatusCode::BAD_REQUEST, "bad_request", "query", e))?;
    query
        .get("height")
        .map(|h| parse::<u64>("height", h))
        .transpose()
}

/// One state entry with its proof (ADR 0015).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct StateProofView {
    /// The height whose state root it is proven under.
    height: u64,
    state_root: Option<Hash32>,
    /// The entry's key, hex of its canonical bytes.
    key: String,
    /// The entry's value, hex of its canonical bytes; null when the key is absent (proven so).
    value: Option<String>,
    /// The proof, hex of its canonical bytes.
    proof: String,
}

/// `?height=H` of a proof request.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents what `proof_height` reads
struct ProofQuery {
    /// Prove against the state root of this height (default: the tip).
    height: Option<u64>,
}

/// One entry of the state with its proof (ADR 0015), at the tip or at `?height=H`: `key`,
/// `value` and `proof` are hex of their canonical bytes; a light client checks them against the
/// certified header at `height`.
async fn state_proof(
    state: web::Data<ApiState>,
    request: HttpRequest,
    key: StateKey,
) -> HttpResponse {
    let at = match proof_height(&request) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let key_hex = hex::encode(key.to_bytes());
    match read(&state, move |c| {
        let height = at.unwrap_or(c.height());
        let root = c.store().root_at(height)?.map(|(_, root)| root);
        Ok((height, root, c.prove_at(&key, height)?))
    })
    .await
    {
        Err(r) => r,
        Ok((height, _, None)) => error(
            StatusCode::NOT_FOUND,
            "unknown_block",
            format!("no state at height {height}"),
        ),
        Ok((height, root, Some((value, proof)))) => HttpResponse::Ok().json(StateProofView {
            height,
            state_root: root,
            key: key_hex,
            value: value.map(hex::encode),
            proof: hex::encode(proof.to_bytes()),
        }),
    }
}

/// A balance with its state proof against the state root of the tip, or of `?height=H`.
#[utoipa::path(get, path = "/v1/proofs/balance/{account}/{asset}", tag = "proofs",
    params(("account" = AccountId, Path, description = ACCOUNT),
        ("asset" = AssetId, Path, description = ASSET),
        ProofQuery),
    responses(
        (status = 200, description = "the entry and its proof", body = StateProofView),
        (status = 400, description = "a parameter does not parse (`field` names it)", body = ApiError),
        (status = 404, description = "no state at that height (unknown_block)", body = ApiError),
    ))]
async fn balance_proof(
    state: web::Data<ApiState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (account, asset) = path.into_inner();
    match (parse("account", &account), parse("asset", &asset)) {
        (Err(r), _) | (_, Err(r)) => r,
        (Ok(account), Ok(asset)) => {
            state_proof(state, request, StateKey::Balance(account, asset)).await
        }
    }
}

/// An asset holder's position with its state proof.
#[utoipa::path(get, path = "/v1/proofs/position/{asset_holder}/{asset}", tag = "proofs",
    params(("asset_holder" = AccountId, Path, description = ACCOUNT),
        ("asset" = AssetId, Path, description = ASSET),
        ProofQuery),
    responses(
        (status = 200, description = "the entry and its proof", body = StateProofView),
        (status = 400, description = "a parameter does not parse (`field` names it)", body = ApiError),
        (status = 404, description = "no state at that height (unknown_block)", body = ApiError),
    ))]
async fn position_proof(
    state: web::Data<ApiState>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (holder, asset) = path.into_inner();
    match (parse("asset_holder", &holder), parse("asset", &asset)) {
        (Err(r), _) | (_, Err(r)) => r,
        (Ok(holder), Ok(asset)) => {
            state_proof(state, request, StateKey::Position(holder, asset)).await
        }
    }
}

/// An asset entry (its supply) with its state proof.
#[utoipa::path(get, path = "/v1/proofs/asset/{asset}", tag = "proofs",
    params(("asset" = AssetId, Path, description = ASSET),
        ProofQuery),
    responses(
        (status = 200, description = "the entry and its proof", body = StateProofView),
        (status = 400, description = "a parameter does not parse (`field` names it)", body = ApiError),
        (status = 404, description = "no state at that height (unknown_block)", body = ApiError),
    ))]
async fn asset_proof(
    state: web::Data<ApiState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match parse("asset", &path.into_inner()) {
        Err(r) => r,
        Ok(asset) => state_proof(state, request, StateKey::Asset(asset)).await,
    }
}

/// An account entry with its state proof.
#[utoipa::path(get, path = "/v1/proofs/account/{account}", tag = "proofs",
    params(("account" = AccountId, Path, description = ACCOUNT),
        ProofQuery),
    responses(
        (status = 200, description = "the entry and its proof", body = StateProofView),
        (status = 400, description = "a parameter does not parse (`field` names it)", body = ApiError),
        (status = 404, description = "no state at that height (unknown_block)", body = ApiError),
    ))]
async fn account_proof(
    state: web::Data<ApiState>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match parse("account", &path.into_inner()) {
        Err(r) => r,
        Ok(account) => state_proof(state, request, StateKey::Account(account)).await,
    }
}

/// The mapping entry (sequence and hash) with its state proof.
#[utoipa::path(get, path = "/v1/proofs/mapping", tag = "proofs",
    params(ProofQuery),
    responses(
        (status = 200, description = "the entry and its proof", body = StateProofView),
        (status = 400, description = "a parameter does not parse (`field` names it)", body = ApiError),
        (status = 404, description = "no state at that height (unknown_block)", body = ApiError),
    ))]
async fn mapping_proof(state: web::Data<ApiState>, request: HttpRequest) -> HttpResponse {
    state_proof(state, request, StateKey::Mapping).await
}

/// The validator set in force (tag 8) with its state proof.
#[utoipa::path(get, path = "/v1/proofs/validators", tag = "proofs",
    params(ProofQuery),
    responses(
        (status = 200, description = "the entry and its proof", body = StateProofView),
        (status = 400, description = "a parameter does not parse (`field` names it)", body = ApiError),
        (status = 404, description = "no state at that height (unknown_block)", body = ApiError),
    ))]
async fn validators_proof(state: web::Data<ApiState>, request: HttpRequest) -> HttpResponse {
    state_proof(state, request, StateKey::Validators).await
}

/// The approved validator-set change waiting for its effective height (tag 16), or its absence, with its state proof.
#[utoipa::path(get, path = "/v1/proofs/pending_validators", tag = "proofs",
    params(ProofQuery),
    responses(
        (status = 200, description = "the entry and its proof", body = StateProofView),
        (status = 400, description = "a parameter does not parse (`field` names it)", body = ApiError),
        (status = 404, description = "no state at that height (unknown_block)", body = ApiError),
    ))]
async fn pending_validators_proof(
    state: web::Data<ApiState>,
    request: HttpRequest,
) -> HttpResponse {
    state_proof(state, request, StateKey::PendingValidators).await
}

/// The chain a node serves.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ChainView {
    chain_id: lightclient::header::ChainId,
    genesis_hash: Hash32,
    /// The tip's height (0 before the first block).
    height: u64,
    /// The tip's hash.
    tip: Option<Hash32>,
}

/// The chain this node serves: what a transaction binds to, and the tip.
#[utoipa::path(get, path = "/v1/chain", tag = "chain",
    responses((status = 200, description = "the chain", body = ChainView)))]
async fn chain(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| {
        Ok((
            c.state().chain_id().clone(),
            c.genesis_hash(),
            c.height(),
            c.tip().map(BlockHeader::hash),
        ))
    })
    .await
    {
        Err(r) => r,
        Ok((chain_id, genesis_hash, height, tip)) => HttpResponse::Ok().json(ChainView {
            chain_id,
            genesis_hash,
            height,
            tip,
        }),
    }
}

/// A key and its account.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct KeyAccount {
    key: lightclient::keys::PublicKey,
    account: AccountId,
}

/// The account whose current key this is (after key recovery an account keeps its first
/// key's id, so a wallet cannot derive it from the key alone).
#[utoipa::path(get, path = "/v1/keys/{key}/account", tag = "accounts",
    params(("key" = lightclient::keys::PublicKey, Path, description = "a compressed secp256k1 public key, 66 hex digits")),
    responses(
        (status = 200, description = "the account", body = KeyAccount),
        (status = 400, description = "not a public key", body = ApiError),
        (status = 404, description = "no account has it (unknown_account)", body = ApiError),
    ))]
async fn account_of_key(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let key: lightclient::keys::PublicKey = match parse("key", &path.into_inner()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    match read(&state, move |c| Ok(c.state().account_of_key(&key))).await {
        Err(r) => r,
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_account",
            format!("no account has key {key}"),
        ),
        Ok(Some(account)) => HttpResponse::Ok().json(KeyAccount { key, account }),
    }
}

/// Query of `/v1/fees/quote`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FeeQuery {
    /// The paying account.
    account: String,
    /// issue, transfer, redemption, deposit or withdraw.
    operation: String,
    /// The asset id.
    asset: String,
    /// The amount, base units.
    amount: String,
}

/// A fee quote.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct FeeQuote {
    /// Base units.
    fee: String,
}

/// The fee the rules in force give an operation (what a wallet puts in `expected_fee`).
#[utoipa::path(get, path = "/v1/fees/quote", tag = "fees and limits",
    params(FeeQuery),
    responses(
        (status = 200, description = "the fee", body = FeeQuote),
        (status = 400, description = "a parameter does not parse (`field` names it)", body = ApiError),
        (status = 404, description = "an unknown account or asset (its ledger code name)", body = ApiError),
    ))]
async fn fee_quote(state: web::Data<ApiState>, query: web::Query<FeeQuery>) -> HttpResponse {
    let query = query.into_inner();
    let account: AccountId = match parse("account", &query.account) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let asset: AssetId = match parse("asset", &query.asset) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(operation) =
        serde_json::from_value::<lightclient::tx::OperationKind>(json!(query.operation))
    else {
        return field_error(
            StatusCode::BAD_REQUEST,
            "bad_field",
            "operation",
            "one of issue, transfer, redemption, deposit, withdraw",
        );
    };
    let Ok(amount) = query.amount.parse::<u128>() else {
        return field_error(
            StatusCode::BAD_REQUEST,
            "bad_field",
            "amount",
            "a decimal count of base units",
        );
    };
    match read(&state, move |c| {
        Ok(c.state().quote_fee(&account, operation, &asset, amount))
    })
    .await
    {
        Err(r) => r,
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, code_name(e.code()), e),
        Ok(Ok(fee)) => HttpResponse::Ok().json(FeeQuote {
            fee: fee.to_string(),
        }),
    }
}

/// One validator.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ValidatorView {
    address: lightclient::keys::ValidatorAddress,
    public_key: lightclient::keys::PublicKey,
    voting_power: u64,
}

/// A validator set.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct SetView {
    hash: Hash32,
    total_power: u64,
    validators: Vec<ValidatorView>,
}

impl SetView {
    fn of(set: &lightclient::validator::ValidatorSet) -> Self {
        SetView {
            hash: set.hash(),
            total_power: set.total_power(),
            validators: set
                .validators()
                .iter()
                .map(|v| ValidatorView {
                    address: v.address(),
                    public_key: v.public_key,
                    voting_power: v.voting_power,
                })
                .collect(),
        }
    }
}

/// An approved change waiting for its effective height.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct PendingSetView {
    effective_height: u64,
    set: SetView,
}

/// The set that certifies the next block, and a pending change.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ValidatorsView {
    /// The next block's height.
    height: u64,
    set: SetView,
    pending: Option<PendingSetView>,
}

/// The validator set that certifies the next block, and an approved change waiting for its
/// effective height (ADR 0016). Unproven: `/v1/proofs/validators` and
/// `/v1/proofs/pending_validators` prove them.
#[utoipa::path(get, path = "/v1/validators", tag = "chain",
    responses((status = 200, description = "the sets", body = ValidatorsView)))]
async fn validators(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| {
        Ok((
            c.height(),
            c.next_validators().clone(),
            c.state().pending_validators().cloned(),
        ))
    })
    .await
    {
        Err(r) => r,
        Ok((height, set, pending)) => HttpResponse::Ok().json(ValidatorsView {
            height: height.saturating_add(1),
            set: SetView::of(&set),
            pending: pending.map(|p| PendingSetView {
                effective_height: p.effective_height,
                set: SetView::of(&p.validators),
            }),
        }),
    }
}

/// One asset holder's position in an asset, base units.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct HolderPosition {
    asset_holder: AccountId,
    settled: String,
    unsettled: String,
    issued: String,
}

/// Every asset holder's position in an asset.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct AssetPositions {
    asset: AssetId,
    height: u64,
    positions: Vec<HolderPosition>,
}

/// Every asset holder's position in an asset (unproven; a light client proves each, and their
/// issued figures must add up to the asset's proven supply, so none can be left out).
#[utoipa::path(get, path = "/v1/assets/{asset}/positions", tag = "assets",
    params(("asset" = AssetId, Path, description = ASSET)),
    responses(
        (status = 200, description = "the positions", body = AssetPositions),
        (status = 400, description = "not an asset id", body = ApiError),
    ))]
async fn asset_positions(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let asset: AssetId = match parse("asset", &path.into_inner()) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match read(&state, move |c| {
        Ok((c.height(), c.state().positions_of(&asset)))
    })
    .await
    {
        Err(r) => r,
        Ok((height, list)) => HttpResponse::Ok().json(AssetPositions {
            asset,
            height,
            positions: list
                .iter()
                .map(|(holder, p)| HolderPosition {
                    asset_holder: *holder,
                    settled: p.settled.to_string(),
                    unsettled: p.unsettled.to_string(),
                    issued: p.issued.to_string(),
                })
                .collect(),
        }),
    }
}

/// Where a mapping version's publication to IPFS stands.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum IpfsPublication {
    /// Pinned by this node's IPFS daemon.
    Pinned {
        /// When, ms since the Unix epoch.
        pinned_at_ms: u64,
    },
    /// Waiting for the IPFS daemon.
    Pending(PendingWord),
}

/// The word `pending`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum PendingWord {
    Pending,
}

/// A mapping version.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct MappingVersionView {
    sequence: u64,
    /// The block that made it the mapping in force.
    height: u64,
    /// SHA-256 of its exact bytes (what headers commit to).
    hash: Hash32,
    /// Its IPFS `CIDv0`.
    cid: String,
    ipfs: IpfsPublication,
}

impl MappingVersionView {
    fn of(v: &MappingVersion, publication: Publication) -> Self {
        MappingVersionView {
            sequence: v.sequence,
            height: v.height,
            hash: v.hash,
            cid: v.cid.clone(),
            ipfs: match publication {
                Publication::Pinned(pinned_at_ms) => IpfsPublication::Pinned { pinned_at_ms },
                Publication::Pending => IpfsPublication::Pending(PendingWord::Pending),
            },
        }
    }
}

/// The mapping in force.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct MappingView {
    #[serde(flatten)]
    version: MappingVersionView,
    /// Its exact JSON, as signed and published.
    json: String,
}

/// The mapping object in force: sequence, height, hash, CID, IPFS publication, exact JSON.
#[utoipa::path(get, path = "/v1/mapping", tag = "mapping",
    responses(
        (status = 200, description = "the mapping in force", body = MappingView),
        (status = 404, description = "no mapping version stored yet (not_found)", body = ApiError),
    ))]
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
        Ok(Some((v, publication))) => HttpResponse::Ok().json(MappingView {
            version: MappingVersionView::of(&v, publication),
            json: String::from_utf8_lossy(&v.bytes).into_owned(),
        }),
    }
}

/// Every mapping version.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct MappingVersions {
    versions: Vec<MappingVersionView>,
}

/// Every mapping version: sequence, height, hash, CID, IPFS publication.
#[utoipa::path(get, path = "/v1/mappings", tag = "mapping",
    responses((status = 200, description = "the versions, oldest first", body = MappingVersions)))]
async fn mapping_versions(state: web::Data<ApiState>) -> HttpResponse {
    let found = read(&state, |c| {
        let store = c.store();
        let mut versions = Vec::new();
        for sequence in store.mapping_sequences()? {
            if let Some(v) = store.mapping_version(sequence)? {
                versions.push(MappingVersionView::of(&v, store.publication(sequence)?));
            }
        }
        Ok(versions)
    })
    .await;
    match found {
        Err(r) => r,
        Ok(versions) => HttpResponse::Ok().json(MappingVersions { versions }),
    }
}

/// The exact published bytes of a mapping version, found by sequence, hash (`hash:HEX`) or CID
/// (`cid:Qm…`).
#[utoipa::path(get, path = "/v1/mappings/{key}", tag = "mapping",
    params(("key" = String, Path, description = "a sequence number, `hash:HEX` or `cid:Qm…`")),
    responses(
        (status = 200, description = "the mapping's exact bytes", body = lightclient::mapping::Mapping,
            headers(
                ("X-Mapping-Sequence" = u64, description = "its sequence"),
                ("X-Mapping-Hash" = String, description = "SHA-256 of the bytes"),
                ("X-Mapping-Cid" = String, description = "its CIDv0"),
            )),
        (status = 400, description = "not a sequence, hash or CIDv0", body = ApiError),
        (status = 404, description = "no such version (not_found)", body = ApiError),
    ))]
async fn mapping_bytes(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let key = path.into_inner();
    let lookup = if let Some(hash) = key.strip_prefix("hash:") {
        match parse::<Hash32>("hash", hash) {
            Ok(hash) => MappingKey::Hash(hash),
            Err(r) => return r,
        }
    } else if let Some(cid) = key.strip_prefix("cid:") {
        // Only a well-formed CIDv0 is looked up; anything else is the asker's mistake, not a miss.
        match lightclient::cid::parse_v0(cid) {
            Ok(_) => MappingKey::Cid(cid.to_string()),
            Err(e) => {
                return field_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "cid",
                    format!("cid: {e}"),
                );
            }
        }
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
/// The next mapping, unsigned, for controllers to review and sign (digest and changes in
/// X-Mapping-* headers); 204 when there is nothing to sign.
#[utoipa::path(get, path = "/v1/mapping/draft", tag = "mapping",
    responses(
        (status = 200, description = "the draft's canonical JSON", body = lightclient::mapping::Mapping,
            headers(
                ("X-Mapping-Digest" = String, description = "what controllers sign"),
                ("X-Mapping-Issuances" = String, description = "the issuance requests it completes, comma-separated"),
                ("X-Mapping-Redemptions" = String, description = "the redemption requests it completes"),
                ("X-Mapping-Released" = String, description = "the bars that leave the mapping"),
                ("X-Mapping-Deferred" = String, description = "requests it cannot complete yet, with why"),
            )),
        (status = 204, description = "nothing to sign: the next mapping would equal the one in force",
            headers(("X-Mapping-Status" = String, description = "`nothing to sign`"))),
    ))]
async fn draft(state: web::Data<ApiState>) -> HttpResponse {
    let draft = match current_draft(&state).await {
        Ok((d, _)) => d,
        Err(r) => return r,
    };
    if draft.unchanged {
        return nothing_to_sign();
    }
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

/// 204: the next mapping would map exactly what the mapping in force maps.
fn nothing_to_sign() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("X-Mapping-Status", "nothing to sign"))
        .finish()
}

/// The draft carrying `signatures`: its JSON bytes, and how many of the signatures verify.
fn with_signatures(
    mut mapping: lightclient::mapping::Mapping,
    policy: &ControllerPolicy,
    signatures: Vec<lightclient::mapping::MappingSignature>,
) -> Result<(Vec<u8>, usize), lightclient::mapping::MappingError> {
    // Counts signatures one by one: each is a controller's that verifies.
    let each_signature = ControllerPolicy {
        threshold: 1,
        ..policy.clone()
    };
    mapping.signatures = signatures;
    let credited = each_signature
        .verify(&mapping, &mapping.chain, None)
        .map_or(0, |signers| signers.len());
    Ok((mapping.to_json_bytes()?, credited))
}

/// A signed draft's answer: the bytes, with the digest, how many signatures verify and how many
/// the policy requires in headers.
fn signed_draft_reply(
    bytes: Vec<u8>,
    digest: Hash32,
    credited: usize,
    policy: &ControllerPolicy,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("X-Mapping-Digest", digest.to_string()))
        .insert_header(("X-Mapping-Signatures", credited.to_string()))
        .insert_header(("X-Mapping-Required", policy.threshold.to_string()))
        .body(bytes)
}

/// The draft with every controller signature this node has collected for it: once
/// `X-Mapping-Signatures` reaches `X-Mapping-Required`, anyone may submit the body as an
/// `update_mapping` (`abt mapping submit` does).
#[utoipa::path(get, path = "/v1/mapping/draft/signed", tag = "mapping",
    responses(
        (status = 200, description = "the draft with the signatures collected", body = lightclient::mapping::Mapping,
            headers(
                ("X-Mapping-Digest" = String, description = "what controllers sign"),
                ("X-Mapping-Signatures" = u64, description = "how many collected signatures verify"),
                ("X-Mapping-Required" = u64, description = "how many the controller policy requires"),
            )),
        (status = 204, description = "nothing to sign"),
    ))]
async fn signed_draft(state: web::Data<ApiState>) -> HttpResponse {
    let (draft, policy) = match current_draft(&state).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if draft.unchanged {
        return nothing_to_sign();
    }
    let digest = match draft.mapping.signing_digest() {
        Ok(d) => d,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "draft", e),
    };
    let signatures = match state.store.draft_signatures(&digest) {
        Ok(held) => held,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "store", e),
    };
    match with_signatures(draft.mapping, &policy, signatures) {
        Ok((bytes, credited)) => signed_draft_reply(bytes, digest, credited, &policy),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "draft", e),
    }
}

/// Takes a copy of the current draft carrying one or more controller signatures, checks each,
/// keeps them in the store (fsynced, so they survive a restart), forwards what was new to the
/// other nodes, and answers the draft with every signature collected so far. Anyone may submit
/// it once the `X-Mapping-Signatures` header reaches `X-Mapping-Required`.
/// Post a copy of the draft with controller signatures: they are kept (they survive a restart)
/// and forwarded to every other node; answers the draft with every signature collected.
#[utoipa::path(post, path = "/v1/mapping/draft", tag = "mapping",
    request_body(content = lightclient::mapping::Mapping, content_type = "application/json"),
    responses(
        (status = 200, description = "the draft with the signatures collected", body = lightclient::mapping::Mapping,
            headers(
                ("X-Mapping-Digest" = String, description = "what controllers sign"),
                ("X-Mapping-Signatures" = u64, description = "how many collected signatures verify"),
                ("X-Mapping-Required" = u64, description = "how many the controller policy requires"),
            )),
        (status = 409, description = "the draft has changed since (stale_draft)", body = ApiError),
        (status = 422, description = "not the draft, or a signature is refused (mapping_refused)", body = ApiError),
    ))]
async fn post_draft_signatures(state: web::Data<ApiState>, body: web::Bytes) -> HttpResponse {
    let (draft, policy) = match current_draft(&state).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let (posted, expected) = match check_posted_draft(&draft.mapping, &policy, &body) {
        Ok(checked) => checked,
        Err(e @ PostedDraftError::Refused(_)) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "mapping_refused", e);
        }
        Err(e @ PostedDraftError::Stale { .. }) => {
            return error(StatusCode::CONFLICT, "stale_draft", e);
        }
        Err(e @ PostedDraftError::Draft(_)) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "draft", e);
        }
    };
    let merged = {
        let Ok(_one_at_a_time) = state.draft_lock.lock() else {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "draft", "lock poisoned");
        };
        let mut collected = match state.store.draft_signatures(&expected) {
            Ok(held) => held,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "store", e),
        };
        let before = collected.len();
        // One signature per controller: a controller named twice would void the mapping.
        for signature in posted.signatures {
            if !collected
                .iter()
                .any(|held| held.authkey == signature.authkey)
            {
                collected.push(signature);
            }
        }
        let learned = collected.len() > before;
        if learned && let Err(e) = state.store.put_draft_signatures(&expected, &collected) {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "store", e);
        }
        (collected, learned)
    };
    let (collected, learned) = merged;
    match with_signatures(draft.mapping, &policy, collected) {
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "draft", e),
        Ok((bytes, credited)) => {
            if learned {
                forward_draft(Arc::clone(&state.draft_peers), bytes.clone());
            }
            signed_draft_reply(bytes, expected, credited, &policy)
        }
    }
}

/// Pushes a signed copy of the draft to every other node, a few times each until it answers.
/// A node forwards only signatures it did not hold, so the pushes stop once all nodes agree.
fn forward_draft(peers: Arc<Vec<String>>, bytes: Vec<u8>) {
    actix_web::rt::spawn(async move {
        let client = reqwest::Client::new();
        for peer in peers.iter() {
            for attempt in 0..5u32 {
                let sent = client
                    .post(format!("{peer}/v1/mapping/draft"))
                    .header("content-type", "application/json")
                    .body(bytes.clone())
                    .timeout(std::time::Duration::from_secs(5))
                    .send()
                    .await;
                match sent {
                    Ok(answer) if answer.status().is_success() => break,
                    // A peer on another draft (a block arrived in between) keeps its own.
                    Ok(answer) if answer.status() == reqwest::StatusCode::CONFLICT => break,
                    Ok(answer) => {
                        tracing::warn!(%peer, status = %answer.status(), "a peer refused forwarded draft signatures");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(%peer, attempt, error = %e, "cannot forward draft signatures yet");
                        tokio::time::sleep(std::time::Duration::from_secs(1u64 << attempt.min(4)))
                            .await;
                    }
                }
            }
        }
    });
}

/// A block's Bitcoin attestation.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct AttestationView {
    /// The attested block.
    height: u64,
    /// The Mainstay evidence (ADR 0007): slot proof, commitment transaction and its Bitcoin
    /// inclusion; `lightclient attestation` verifies it.
    #[schema(value_type = Object)]
    evidence: Value,
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
        Ok(evidence) => HttpResponse::Ok().json(AttestationView { height, evidence }),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e),
    }
}

/// The Bitcoin attestation covering a block: that of the first attested block at or above it
/// (whose header chain leads back to the block asked for).
#[utoipa::path(get, path = "/v1/attestations/{height}", tag = "attestation",
    params(("height" = u64, Path, description = HEIGHT)),
    responses(
        (status = 200, description = "the attestation", body = AttestationView),
        (status = 400, description = "not a height", body = ApiError),
        (status = 404, description = "nothing at or above it is attested yet (not_attested)", body = ApiError),
    ))]
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

/// The newest Bitcoin attestation.
#[utoipa::path(get, path = "/v1/attestations/latest", tag = "attestation",
    responses(
        (status = 200, description = "the attestation", body = AttestationView),
        (status = 404, description = "nothing is attested yet (not_attested)", body = ApiError),
    ))]
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

/// Liveness.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// `ok`.
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "alive", body = Health)))]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Ready.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Ready {
    /// `ready`.
    status: &'static str,
    height: u64,
    ms_since_commit: u64,
}

/// Not ready, and why.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct NotReady {
    /// `not_ready`.
    error: &'static str,
    /// The reasons, joined.
    message: String,
    reasons: Vec<String>,
    height: u64,
    ms_since_commit: u64,
}

/// What readiness found: each reason the node is not ready.
fn readiness(state: &ApiState) -> (u64, u64, Vec<String>) {
    let m = &state.metrics;
    let height = m.height.load(Ordering::SeqCst);
    let since_commit = now_ms().saturating_sub(m.last_commit_ms.load(Ordering::SeqCst));
    let mut reasons = Vec::new();
    if since_commit > state.health.stall_after_ms {
        reasons.push(format!(
            "no block committed for {since_commit} ms (limit {} ms)",
            state.health.stall_after_ms
        ));
    }
    if !m.hsm_available.load(Ordering::SeqCst) {
        reasons.push("the HSM is not answering".into());
    }
    let peers = m.peers.load(Ordering::SeqCst);
    // This node and its connected peers must be a quorum for blocks to be made.
    let quorum_nodes = m.quorum_nodes.load(Ordering::SeqCst);
    if peers.saturating_add(1) < quorum_nodes {
        reasons.push(format!(
            "{peers} consensus peers connected; a quorum needs {}",
            quorum_nodes.saturating_sub(1)
        ));
    }
    (height, since_commit, reasons)
}

/// Readiness: a block committed within `[health] stall_intervals` block intervals, the HSM
/// answering, and enough consensus peers for a quorum; the height either way.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "ready", body = Ready),
        (status = 503, description = "not ready, with the reasons", body = NotReady),
    ))]
async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    let (height, ms_since_commit, reasons) = readiness(&state);
    if reasons.is_empty() {
        HttpResponse::Ok().json(Ready {
            status: "ready",
            height,
            ms_since_commit,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(NotReady {
            error: "not_ready",
            message: reasons.join("; "),
            reasons,
            height,
            ms_since_commit,
        })
    }
}

/// Prometheus metrics: height, round, seconds since the last commit, mempool transactions and
/// bytes, HSM errors and availability, peers, relayed transactions, readiness.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    let (pending, pending_bytes) = state
        .mempool
        .send(Inspect(Box::new(|m: &Mempool| (m.len(), m.bytes()))))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or((0, 0));
    let m = &state.metrics;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::SeqCst);
    let since_commit = now_ms().saturating_sub(load(&m.last_commit_ms));
    let ready = readiness(&state).2.is_empty();
    let series: [(&str, &str, &str, String); 16] = [
        (
            "abt_height",
            "gauge",
            "height of the tip",
            load(&m.height).to_string(),
        ),
        (
            "abt_round",
            "gauge",
            "consensus round in progress",
            load(&m.round).to_string(),
        ),
        (
            "abt_seconds_since_last_commit",
            "gauge",
            "seconds since this node last committed a block",
            format!("{:.3}", since_commit as f64 / 1000.0),
        ),
        (
            "abt_blocks_committed_total",
            "counter",
            "blocks committed by this process",
            load(&m.blocks).to_string(),
        ),
        (
            "abt_transactions_applied_total",
            "counter",
            "transactions applied",
            load(&m.applied).to_string(),
        ),
        (
            "abt_transactions_refused_in_blocks_total",
            "counter",
            "transactions refused inside blocks",
            load(&m.refused_in_blocks).to_string(),
        ),
        (
            "abt_submissions_refused_total",
            "counter",
            "submissions refused at entry",
            load(&m.refused_at_entry).to_string(),
        ),
        (
            "abt_block_production_errors_total",
            "counter",
            "block production failures",
            load(&m.production_errors).to_string(),
        ),
        (
            "abt_mempool_transactions",
            "gauge",
            "transactions waiting",
            pending.to_string(),
        ),
        (
            "abt_mempool_bytes",
            "gauge",
            "bytes of transactions waiting",
            pending_bytes.to_string(),
        ),
        (
            "abt_hsm_errors_total",
            "counter",
            "HSM signing attempts that failed",
            load(&m.hsm_errors).to_string(),
        ),
        (
            "abt_hsm_available",
            "gauge",
            "1 when the HSM answered its last request",
            u8::from(m.hsm_available.load(Ordering::SeqCst)).to_string(),
        ),
        (
            "abt_peers",
            "gauge",
            "consensus peers connected",
            load(&m.peers).to_string(),
        ),
        (
            "abt_relayed_total",
            "counter",
            "transactions relayed to peers and acknowledged",
            load(&m.relayed).to_string(),
        ),
        (
            "abt_ready",
            "gauge",
            "1 when /ready answers 200",
            u8::from(ready).to_string(),
        ),
        (
            "abt_up",
            "gauge",
            "1 while the API answers",
            "1".to_string(),
        ),
    ];
    let mut body = String::new();
    for (name, kind, help, value) in series {
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

/// This document (OpenAPI 3.1, generated from the handlers' types).
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

/// The OpenAPI 3.1 description of this API, generated from the handlers and the types they
/// answer with.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    super::openapi::ApiDoc::openapi()
}

/// A route whose other methods answer 405 in JSON with the `Allow` header RFC 9110 asks for.
pub(super) fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |request: HttpRequest| async move {
        let mut answer = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "{} is not allowed on {} (allowed: {allow})",
                request.method(),
                request.path()
            ),
        );
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
            answer
                .headers_mut()
                .insert(actix_web::http::header::ALLOW, value);
        }
        answer
    }))
}

async fn not_found(request: HttpRequest) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {} {}", request.method(), request.path()),
    )
}

/// Turns any error answer that is not already this API's JSON (from actix itself: a body too
/// large, a malformed request) into `{"error", "message"}`.
pub fn json_errors<B: 'static>() -> actix_web::middleware::ErrorHandlers<B> {
    use actix_web::dev::ServiceResponse;
    use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
    ErrorHandlers::new().default_handler(|response: ServiceResponse<B>| {
        let is_json = response
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(
                response.map_into_left_body(),
            ));
        }
        let status = response.status();
        let kind = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            s if s.is_server_error() => "internal",
            _ => "bad_request",
        };
        let message = response
            .response()
            .error()
            .map_or_else(|| status.to_string(), ToString::to_string);
        let (request, _) = response.into_parts();
        let answer = error(status, kind, message);
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(request, answer).map_into_right_body(),
        ))
    })
}

/// A path parameter that does not parse: 400 naming the parameter.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e, _| {
        let message = e.to_string();
        actix_web::error::InternalError::from_response(
            e,
            field_error(StatusCode::BAD_REQUEST, "bad_request", "path", message),
        )
        .into()
    })
}

/// Registers every route. Each path answers 405 (JSON) to a method it does not serve, and an
/// unknown path answers 404 (JSON).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(super::views::routes);
    cfg.service(resource("/health", "GET").route(web::get().to(health)))
        .service(resource("/ready", "GET").route(web::get().to(ready)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics)))
        .service(resource("/openapi.json", "GET").route(web::get().to(openapi)))
        .service(resource("/v1/transactions", "POST").route(web::post().to(submit)))
        .service(resource("/v1/mempool/relay", "POST").route(web::post().to(relay)))
        .service(resource("/v1/transactions/{txid}", "GET").route(web::get().to(transaction)))
        .service(
            resource("/v1/transactions/{txid}/proof", "GET")
                .route(web::get().to(transaction_proof)),
        )
        .service(
            resource("/v1/transactions/{txid}/receipt", "GET")
                .route(web::get().to(transaction_receipt)),
        )
        .service(
            resource("/v1/blocks/{height}/receipts", "GET").route(web::get().to(block_receipts)),
        )
        .service(resource("/v1/accounts/{account}", "GET").route(web::get().to(account)))
        .service(resource("/v1/accounts/{account}/balances", "GET").route(web::get().to(balances)))
        .service(resource("/v1/assets", "GET").route(web::get().to(assets)))
        .service(
            resource("/v1/assets/{asset}/positions", "GET").route(web::get().to(asset_positions)),
        )
        .service(resource("/v1/light_blocks/{height}", "GET").route(web::get().to(light_block)))
        .service(resource("/v1/blocks/{height}", "GET").route(web::get().to(block)))
        .service(resource("/v1/headers/{height}", "GET").route(web::get().to(header)))
        .service(resource("/v1/certificates/{height}", "GET").route(web::get().to(certificate)))
        .service(
            resource("/v1/proofs/balance/{account}/{asset}", "GET")
                .route(web::get().to(balance_proof)),
        )
        .service(
            resource("/v1/proofs/account/{account}", "GET").route(web::get().to(account_proof)),
        )
        .service(resource("/v1/proofs/asset/{asset}", "GET").route(web::get().to(asset_proof)))
        .service(
            resource("/v1/proofs/position/{asset_holder}/{asset}", "GET")
                .route(web::get().to(position_proof)),
        )
        .service(resource("/v1/proofs/mapping", "GET").route(web::get().to(mapping_proof)))
        .service(resource("/v1/proofs/validators", "GET").route(web::get().to(validators_proof)))
        .service(
            resource("/v1/proofs/pending_validators", "GET")
                .route(web::get().to(pending_validators_proof)),
        )
        .service(resource("/v1/validators", "GET").route(web::get().to(validators)))
        .service(resource("/v1/chain", "GET").route(web::get().to(chain)))
        .service(resource("/v1/keys/{key}/account", "GET").route(web::get().to(account_of_key)))
        .service(resource("/v1/fees/quote", "GET").route(web::get().to(fee_quote)))
        .service(resource("/v1/mapping", "GET").route(web::get().to(mapping)))
        .service(
            resource("/v1/mapping/draft", "GET, POST")
                .route(web::get().to(draft))
                .route(web::post().to(post_draft_signatures)),
        )
        .service(resource("/v1/mapping/draft/signed", "GET").route(web::get().to(signed_draft)))
        .service(resource("/v1/mappings", "GET").route(web::get().to(mapping_versions)))
        .service(resource("/v1/mappings/{key}", "GET").route(web::get().to(mapping_bytes)))
        .service(
            resource("/v1/attestations/latest", "GET").route(web::get().to(latest_attestation)),
        )
        .service(resource("/v1/attestations/{height}", "GET").route(web::get().to(attestation)))
        .default_service(web::to(not_found));
}

//! The API's OpenAPI 3.1 document, generated from the handlers (`#[utoipa::path]` beside each)
//! and the types they answer with, so it cannot describe an answer the code does not give.
//! Served at `/openapi.json`; CI runs schemathesis against it (`deploy/api-conformance`).

use utoipa::OpenApi;

use super::{api, views};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Asset-backed token appliance",
        description = "The HTTP API of an appliance node. Amounts are decimal strings of base units; hashes, ids and keys are lowercase hex. Errors are `{\"error\": kind, \"message\": text}` (`ApiError`) with a fitting status. Nothing here is proven unless it says so: the light client proves what it needs from `/v1/proofs/*`, `/v1/light_blocks/*` and the attestations."
    ),
    paths(
        api::submit,
        api::relay,
        api::transaction,
        api::transaction_proof,
        api::transaction_receipt,
        api::block_receipts,
        api::block,
        api::header,
        api::certificate,
        api::light_block,
        api::account,
        api::balances,
        api::account_of_key,
        views::accounts,
        views::positions,
        api::assets,
        api::asset_positions,
        api::balance_proof,
        api::position_proof,
        api::asset_proof,
        api::account_proof,
        api::mapping_proof,
        api::validators_proof,
        api::pending_validators_proof,
        api::chain,
        api::validators,
        api::fee_quote,
        views::fees,
        views::limits,
        views::settlements,
        views::audit,
        views::requests,
        views::request,
        views::bars,
        views::bar,
        api::mapping,
        api::mapping_versions,
        api::mapping_bytes,
        api::draft,
        api::post_draft_signatures,
        api::signed_draft,
        api::attestation,
        api::latest_attestation,
        api::health,
        api::ready,
        api::metrics,
        api::openapi,
    ),
    components(schemas(api::ApiError))
)]
pub struct ApiDoc;

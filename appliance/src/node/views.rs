//! The read side of the API: what asset holders, the settlement institution, admins and vault
//! staff look at — positions and coverage, settlement events, the audit trail, requests, bars
//! with their mapping entries, fee and limit rules with usage, accounts by role. Lists are
//! paged (`offset`, `limit` up to [`MAX_PAGE`]); an unknown account is 404 everywhere. Nothing
//! here is proven: the light client proves what it needs from `/v1/proofs/*`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use lightclient::keys::{AccountId, AssetId};
use serde_json::{Value, json};

use super::api::{ApiState, error, parse, read, read_known_account, unknown_account};
use crate::ledger::{Request, RequestKind, RequestStatus};

/// The most items one page holds.
pub const MAX_PAGE: usize = 1_000;
const DEFAULT_PAGE: usize = 100;

/// A page of `items`: `total`, `offset`, `limit` and the items in it.
fn page(items: Vec<Value>, offset: Option<usize>, limit: Option<usize>) -> Value {
    let total = items.len();
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let items: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    json!({ "total": total, "offset": offset, "limit": limit, "items": items })
}

/// Parses an optional query value.
#[allow(clippy::result_large_err)] // an error here is the finished response
fn optional<T: std::str::FromStr>(
    what: &str,
    text: Option<&String>,
) -> Result<Option<T>, HttpResponse>
where
    T::Err: std::fmt::Display,
{
    text.map(|t| parse(what, t)).transpose()
}

/// Parses an optional protocol name (`verified`, `asset_holder`, ...).
#[allow(clippy::result_large_err)]
fn optional_name<T: serde::de::DeserializeOwned>(
    what: &str,
    text: Option<&String>,
) -> Result<Option<T>, HttpResponse> {
    text.map(|t| {
        serde_json::from_value(json!(t.replace('-', "_"))).map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("{what} {t:?} is not a known name"),
            )
        })
    })
    .transpose()
}

/// `/v1/accounts/{account}/positions`: an asset holder's position in each asset and whether its
/// issued tokens are covered by its settled + unsettled assets.
async fn positions(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let id: AccountId = match parse("account", &path) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match read_known_account(&state, id, move |c| {
        (c.height(), c.state().positions_held_by(&id))
    })
    .await
    {
        Err(r) => r,
        Ok((height, list)) => HttpResponse::Ok().json(json!({
            "asset_holder": id, "height": height,
            "positions": list.iter().map(|(asset, p)| {
                let assets = p.assets();
                json!({
                    "asset": asset, "settled": p.settled.to_string(),
                    "unsettled": p.unsettled.to_string(), "issued": p.issued.to_string(),
                    "assets": assets.map(|a| a.to_string()),
                    "covered": assets.is_some_and(|a| a >= 0 && a.unsigned_abs() >= p.issued),
                })
            }).collect::<Vec<_>>(),
        })),
    }
}

/// Query of `/v1/settlements`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettlementQuery {
    asset: Option<String>,
    asset_holder: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `/v1/settlements`: settlement events, oldest first.
async fn settlements(
    state: web::Data<ApiState>,
    query: web::Query<SettlementQuery>,
) -> HttpResponse {
    let query = query.into_inner();
    let asset: Option<AssetId> = match optional("asset", query.asset.as_ref()) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let holder: Option<AccountId> = match optional("asset_holder", query.asset_holder.as_ref()) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match read(&state, move |c| {
        let ledger = c.state();
        if let Some(h) = holder
            && !ledger.is_known_account(&h)
        {
            return Ok(Err(h));
        }
        Ok(Ok(ledger
            .settlement_events()
            .iter()
            .filter(|e| asset.is_none_or(|a| a == e.asset))
            .filter(|e| holder.is_none_or(|h| h == e.asset_holder))
            .map(|e| {
                json!({
                    "height": e.height, "asset": e.asset, "asset_holder": e.asset_holder,
                    "amount": e.amount.to_string(),
                })
            })
            .collect::<Vec<_>>()))
    })
    .await
    {
        Err(r) => r,
        Ok(Err(h)) => unknown_account(&h),
        Ok(Ok(items)) => HttpResponse::Ok().json(page(items, query.offset, query.limit)),
    }
}

/// Query of `/v1/audit`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    account: Option<String>,
    action: Option<String>,
    from_height: Option<u64>,
    to_height: Option<u64>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `/v1/audit`: who changed what, by which transaction, oldest first.
async fn audit(state: web::Data<ApiState>, query: web::Query<AuditQuery>) -> HttpResponse {
    let query = query.into_inner();
    let account: Option<AccountId> = match optional("account", query.account.as_ref()) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let action = query.action.clone();
    let (from, to) = (query.from_height.unwrap_or(0), query.to_height);
    match read(&state, move |c| {
        if let Some(a) = account
            && !c.state().is_known_account(&a)
        {
            return Ok(Err(a));
        }
        let to = to.unwrap_or(u64::MAX).min(c.height());
        Ok(Ok(c
            .store()
            .audit_between(from, to)?
            .into_iter()
            .filter(|e| account.is_none_or(|a| a == e.actor))
            .filter(|e| action.as_ref().is_none_or(|k| *k == e.action))
            .map(|e| {
                json!({
                    "height": e.height, "txid": e.txid, "actor": e.actor, "action": e.action,
                    "detail": e.detail,
                })
            })
            .collect::<Vec<_>>()))
    })
    .await
    {
        Err(r) => r,
        Ok(Err(a)) => unknown_account(&a),
        Ok(Ok(items)) => HttpResponse::Ok().json(page(items, query.offset, query.limit)),
    }
}

fn request_json(request: &Request) -> Value {
    let (status, decided_height, reason) = match &request.status {
        RequestStatus::Pending => ("pending", None, None),
        RequestStatus::Approved { height } => ("approved", Some(*height), None),
        RequestStatus::Rejected { height, reason } => ("rejected", Some(*height), Some(reason)),
    };
    let kind = match &request.kind {
        RequestKind::Redemption {
            holder,
            asset,
            amount,
            fee,
            ..
        } => json!({
            "kind": "redemption", "holder": holder, "asset": asset,
            "amount": amount.to_string(), "fee": fee.to_string(),
        }),
        RequestKind::Issuance {
            asset,
            issuer,
            serials,
        } => json!({ "kind": "issuance", "asset": asset, "issuer": issuer, "bars": serials }),
    };
    json!({
        "id": request.id, "created_height": request.created_height, "status": status,
        "decided_height": decided_height, "reason": reason, "request": kind,
    })
}

/// Query of `/v1/requests`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestQuery {
    /// `pending` or `decided`.
    status: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `/v1/requests`: reviewable requests, oldest first.
async fn requests(state: web::Data<ApiState>, query: web::Query<RequestQuery>) -> HttpResponse {
    let query = query.into_inner();
    let pending = match query.status.as_deref() {
        None => None,
        Some("pending") => Some(true),
        Some("decided") => Some(false),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("status {other:?} is not pending or decided"),
            );
        }
    };
    match read(&state, move |c| {
        Ok(c.state()
            .requests()
            .filter(|r| pending.is_none_or(|p| p == (r.status == RequestStatus::Pending)))
            .map(request_json)
            .collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(page(items, query.offset, query.limit)),
    }
}

/// `/v1/requests/{id}`.
async fn request(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let id: u64 = match parse("request", &path) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match read(&state, move |c| Ok(c.state().request(id).map(request_json))).await {
        Err(r) => r,
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_request",
            format!("request {id} does not exist"),
        ),
        Ok(Some(found)) => HttpResponse::Ok().json(found),
    }
}

/// The bars with their entries in the mapping in force (serial → entries).
fn bars_json(
    chain: &crate::chain::Chain,
    filter: impl Fn(&crate::ledger::Item, &[Value]) -> bool,
) -> Vec<Value> {
    let ledger = chain.state();
    let mapping = lightclient::mapping::Mapping::parse(
        &ledger.mapping().bytes,
        ledger.controllers().precision,
    )
    .ok();
    ledger
        .items()
        .filter_map(|item| {
            let entries: Vec<Value> = mapping
                .iter()
                .flat_map(|m| m.amounts())
                .filter(|(entry, _)| entry.vref == item.serial)
                .map(|(entry, units)| {
                    json!({
                        "asset": entry.assetid, "amount": entry.amount, "units": units.to_string(),
                        "issuer": entry.issuer,
                    })
                })
                .collect();
            filter(item, &entries).then(|| {
                json!({
                    "serial": item.serial, "refiner": item.refiner, "mass": item.mass.to_string(),
                    "fineness": item.fineness, "location": item.location, "retired": item.retired,
                    "mapping_sequence": ledger.mapping().sequence, "mapped": entries,
                })
            })
        })
        .collect()
}

/// Query of `/v1/bars`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BarQuery {
    asset: Option<String>,
    location: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `/v1/bars`: bars by asset (those the mapping allocates to it) and location.
async fn bars(state: web::Data<ApiState>, query: web::Query<BarQuery>) -> HttpResponse {
    let query = query.into_inner();
    let asset: Option<AssetId> = match optional("asset", query.asset.as_ref()) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let location = query.location.clone();
    match read(&state, move |c| {
        Ok(bars_json(c, |item, entries| {
            location.as_ref().is_none_or(|l| *l == item.location)
                && asset.is_none_or(|a| {
                    entries
                        .iter()
                        .any(|e| e.get("asset").and_then(Value::as_str) == Some(&a.to_string()))
                })
        }))
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(page(items, query.offset, query.limit)),
    }
}

/// `/v1/bars/{serial}`.
async fn bar(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let serial = path.into_inner();
    let wanted = serial.clone();
    match read(&state, move |c| {
        Ok(bars_json(c, |item, _| item.serial == wanted))
    })
    .await
    {
        Err(r) => r,
        Ok(found) => match found.into_iter().next() {
            Some(bar) => HttpResponse::Ok().json(bar),
            None => error(
                StatusCode::NOT_FOUND,
                "unknown_item",
                format!("no bar with serial {serial:?}"),
            ),
        },
    }
}

/// `/v1/fees`: the fee rules in force.
async fn fees(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| {
        Ok(c.state()
            .fee_rules()
            .iter()
            .map(|(id, rule)| json!({ "id": id, "rule": rule }))
            .collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(json!({ "items": items })),
    }
}

/// `/v1/limits`: the limit rules in force, each with what accounts used of it per period.
async fn limits(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| {
        let ledger = c.state();
        Ok(ledger
            .limit_rules()
            .iter()
            .map(|(id, rule)| {
                let usage: Vec<Value> = ledger
                    .limit_usages(*id)
                    .into_iter()
                    .map(|(account, period, used)| {
                        json!({
                            "account": account, "period": period, "used": used.to_string(),
                        })
                    })
                    .collect();
                json!({ "id": id, "rule": rule, "usage": usage })
            })
            .collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(json!({ "items": items })),
    }
}

/// Query of `/v1/accounts`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountQuery {
    role: Option<String>,
    kyc: Option<String>,
    asset_holder: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// `/v1/accounts`: accounts by role, KYC state or asset holder.
async fn accounts(state: web::Data<ApiState>, query: web::Query<AccountQuery>) -> HttpResponse {
    let query = query.into_inner();
    let role: Option<lightclient::tx::Role> = match optional_name("role", query.role.as_ref()) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let kyc: Option<lightclient::tx::KycState> = match optional_name("kyc", query.kyc.as_ref()) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let holder: Option<AccountId> = match optional("asset_holder", query.asset_holder.as_ref()) {
        Ok(h) => h,
        Err(r) => return r,
    };
    match read(&state, move |c| {
        Ok(c.state()
            .accounts()
            .filter(|a| role.is_none_or(|r| a.has(r)))
            .filter(|a| kyc.is_none_or(|k| a.kyc == k))
            .filter(|a| holder.is_none_or(|h| a.asset_holder == Some(h)))
            .map(|a| {
                json!({
                    "id": a.id, "public_key": a.public_key, "roles": a.roles, "kyc": a.kyc,
                    "asset_holder": a.asset_holder,
                })
            })
            .collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(page(items, query.offset, query.limit)),
    }
}

/// The read side's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use actix_web::web::resource;
    cfg.service(resource("/v1/accounts").route(web::get().to(accounts)))
        .service(resource("/v1/accounts/{account}/positions").route(web::get().to(positions)))
        .service(resource("/v1/settlements").route(web::get().to(settlements)))
        .service(resource("/v1/audit").route(web::get().to(audit)))
        .service(resource("/v1/requests").route(web::get().to(requests)))
        .service(resource("/v1/requests/{id}").route(web::get().to(request)))
        .service(resource("/v1/bars").route(web::get().to(bars)))
        .service(resource("/v1/bars/{serial}").route(web::get().to(bar)))
        .service(resource("/v1/fees").route(web::get().to(fees)))
        .service(resource("/v1/limits").route(web::get().to(limits)));
}

/// The read side's entries in the OpenAPI document's `paths`.
pub fn openapi_paths() -> Value {
    let get = |summary: &str| json!({ "get": { "summary": summary, "responses": { "200": { "description": "OK" } } } });
    json!({
        "/v1/accounts": get("Accounts by ?role=, ?kyc=, ?asset_holder= (paged: ?offset=&limit=)"),
        "/v1/accounts/{account}/positions": get("An asset holder's positions: settled, unsettled, issued, and whether issued is covered"),
        "/v1/settlements": get("Settlement events by ?asset= and ?asset_holder= (paged)"),
        "/v1/audit": get("The audit trail by ?account=, ?action=, ?from_height=, ?to_height= (paged)"),
        "/v1/requests": get("Reviewable requests by ?status=pending|decided (paged)"),
        "/v1/requests/{id}": get("One request"),
        "/v1/bars": get("Bars by ?asset= and ?location=, with their entries in the mapping in force (paged)"),
        "/v1/bars/{serial}": get("One bar with its mapping entries"),
        "/v1/fees": get("The fee rules in force"),
        "/v1/limits": get("The limit rules in force, with each account's usage per period"),
    })
}

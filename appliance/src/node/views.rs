//! The read side of the API: what asset holders, the settlement institution, admins and vault
//! staff look at — positions and coverage, settlement events, the audit trail, requests, bars
//! with their mapping entries, fee and limit rules with usage, accounts by role. Lists are
//! paged (`offset`, `limit` up to [`MAX_PAGE`]); an unknown account is 404 everywhere. Nothing
//! here is proven: the light client proves what it needs from `/v1/proofs/*`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use lightclient::hash::Hash32;
use lightclient::keys::{AccountId, AssetId};
use lightclient::tx::{FeeRule, LimitRule};
use serde_json::json;

use super::api::{
    ACCOUNT, AccountView, ApiError, ApiState, error, parse, read, read_known_account,
    unknown_account,
};
use crate::ledger::{Request, RequestKind, RequestStatus};

/// The most items one page holds.
pub const MAX_PAGE: usize = 1_000;
const DEFAULT_PAGE: usize = 100;

/// One page of a list.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// How many items the whole list holds.
    total: usize,
    /// The first item's position in it.
    offset: usize,
    /// The most items a page holds.
    limit: usize,
    items: Vec<T>,
}

/// A page of `items`.
fn page<T>(items: Vec<T>, offset: Option<usize>, limit: Option<usize>) -> Page<T> {
    let total = items.len();
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let items = items.into_iter().skip(offset).take(limit).collect();
    Page {
        total,
        offset,
        limit,
        items,
    }
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

/// An asset holder's position in one asset, base units.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct PositionView {
    asset: AssetId,
    settled: String,
    unsettled: String,
    issued: String,
    /// Settled + unsettled (null if it does not fit).
    assets: Option<String>,
    /// Whether the assets cover what was issued.
    covered: bool,
}

/// An asset holder's positions.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct HolderPositions {
    asset_holder: AccountId,
    height: u64,
    positions: Vec<PositionView>,
}

/// An asset holder's position in each asset, and whether its issued tokens are covered by its
/// settled + unsettled assets.
#[utoipa::path(get, path = "/v1/accounts/{account}/positions", tag = "accounts",
    params(("account" = AccountId, Path, description = ACCOUNT)),
    responses(
        (status = 200, description = "the positions", body = HolderPositions),
        (status = 400, description = "not an account id", body = ApiError),
        (status = 404, description = "no such account (unknown_account)", body = ApiError),
    ))]
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
        Ok((height, list)) => HttpResponse::Ok().json(HolderPositions {
            asset_holder: id,
            height,
            positions: list
                .iter()
                .map(|(asset, p)| {
                    let assets = p.assets();
                    PositionView {
                        asset: *asset,
                        settled: p.settled.to_string(),
                        unsettled: p.unsettled.to_string(),
                        issued: p.issued.to_string(),
                        assets: assets.map(|a| a.to_string()),
                        covered: assets.is_some_and(|a| a >= 0 && a.unsigned_abs() >= p.issued),
                    }
                })
                .collect(),
        }),
    }
}

/// Query of `/v1/settlements`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SettlementQuery {
    asset: Option<String>,
    asset_holder: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// A settlement event: an asset holder's unsettled assets settled at a height.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct SettlementView {
    height: u64,
    asset: AssetId,
    asset_holder: AccountId,
    /// Base units; negative when the holder paid out.
    amount: String,
}

/// Settlement events by `?asset=` and `?asset_holder=`, oldest first (paged).
#[utoipa::path(get, path = "/v1/settlements", tag = "settlement",
    params(SettlementQuery),
    responses(
        (status = 200, description = "a page of events", body = Page<SettlementView>),
        (status = 400, description = "a parameter does not parse", body = ApiError),
        (status = 404, description = "no such asset holder (unknown_account)", body = ApiError),
    ))]
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
            .map(|e| SettlementView {
                height: e.height,
                asset: e.asset,
                asset_holder: e.asset_holder,
                amount: e.amount.to_string(),
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
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    account: Option<String>,
    action: Option<String>,
    from_height: Option<u64>,
    to_height: Option<u64>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// One audit entry (also what the console's bar history and subscriptions carry).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AuditView {
    height: u64,
    txid: Hash32,
    /// The account that authorised it.
    actor: AccountId,
    /// The operation's name.
    action: String,
    /// What happened, where the name alone does not say.
    detail: String,
}

impl From<crate::ledger::AuditEntry> for AuditView {
    fn from(e: crate::ledger::AuditEntry) -> Self {
        AuditView {
            height: e.height,
            txid: e.txid,
            actor: e.actor,
            action: e.action,
            detail: e.detail,
        }
    }
}

/// The audit trail: who changed what, by which transaction, oldest first; by `?account=`,
/// `?action=`, `?from_height=`, `?to_height=` (paged).
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "a page of entries", body = Page<AuditView>),
        (status = 400, description = "a parameter does not parse", body = ApiError),
        (status = 404, description = "no such account (unknown_account)", body = ApiError),
    ))]
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
            .map(AuditView::from)
            .collect::<Vec<_>>()))
    })
    .await
    {
        Err(r) => r,
        Ok(Err(a)) => unknown_account(&a),
        Ok(Ok(items)) => HttpResponse::Ok().json(page(items, query.offset, query.limit)),
    }
}

/// What a request asks for.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum RequestDetail {
    /// A holder's tokens to be burned by a mapping update.
    Redemption {
        holder: AccountId,
        asset: AssetId,
        /// Base units.
        amount: String,
        /// Base units.
        fee: String,
    },
    /// A new allocated asset backed by bars.
    Issuance {
        asset: AssetId,
        issuer: AccountId,
        /// The bars' serials.
        bars: Vec<String>,
    },
}

/// A reviewable request.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RequestView {
    id: u64,
    created_height: u64,
    /// `pending`, `approved` or `rejected`.
    status: &'static str,
    decided_height: Option<u64>,
    /// Why it was rejected.
    reason: Option<String>,
    request: RequestDetail,
}

impl RequestView {
    pub(crate) fn of(request: &Request) -> Self {
        let (status, decided_height, reason) = match &request.status {
            RequestStatus::Pending => ("pending", None, None),
            RequestStatus::Approved { height } => ("approved", Some(*height), None),
            RequestStatus::Rejected { height, reason } => {
                ("rejected", Some(*height), Some(reason.clone()))
            }
        };
        let detail = match &request.kind {
            RequestKind::Redemption {
                holder,
                asset,
                amount,
                fee,
                ..
            } => RequestDetail::Redemption {
                holder: *holder,
                asset: *asset,
                amount: amount.to_string(),
                fee: fee.to_string(),
            },
            RequestKind::Issuance {
                asset,
                issuer,
                serials,
            } => RequestDetail::Issuance {
                asset: *asset,
                issuer: *issuer,
                bars: serials.clone(),
            },
        };
        RequestView {
            id: request.id,
            created_height: request.created_height,
            status,
            decided_height,
            reason,
            request: detail,
        }
    }
}

/// Query of `/v1/requests`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RequestQuery {
    /// `pending` or `decided`.
    status: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// Reviewable requests by `?status=pending|decided`, oldest first (paged).
#[utoipa::path(get, path = "/v1/requests", tag = "requests",
    params(RequestQuery),
    responses(
        (status = 200, description = "a page of requests", body = Page<RequestView>),
        (status = 400, description = "a parameter does not parse", body = ApiError),
    ))]
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
            .map(RequestView::of)
            .collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(page(items, query.offset, query.limit)),
    }
}

/// One request.
#[utoipa::path(get, path = "/v1/requests/{id}", tag = "requests",
    params(("id" = u64, Path, description = "the request id")),
    responses(
        (status = 200, description = "the request", body = RequestView),
        (status = 400, description = "not a request id", body = ApiError),
        (status = 404, description = "no such request (unknown_request)", body = ApiError),
    ))]
async fn request(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let id: u64 = match parse("request", &path) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match read(&state, move |c| {
        Ok(c.state().request(id).map(RequestView::of))
    })
    .await
    {
        Err(r) => r,
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "unknown_request",
            format!("request {id} does not exist"),
        ),
        Ok(Some(found)) => HttpResponse::Ok().json(found),
    }
}

/// A bar's entry in the mapping in force.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct MappedEntry {
    asset: AssetId,
    /// As the mapping states it (decimal in the mapping's precision).
    amount: String,
    /// The same in base units.
    units: String,
    issuer: String,
}

/// A bar with its entries in the mapping in force.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BarView {
    serial: String,
    refiner: String,
    /// Fine mass, base units of the mapping's precision.
    mass: String,
    /// Parts per 10,000.
    fineness: u16,
    location: String,
    /// Released from custody.
    retired: bool,
    /// The mapping the entries are from.
    mapping_sequence: u64,
    mapped: Vec<MappedEntry>,
}

/// The bars with their entries in the mapping in force (serial → entries).
pub(crate) fn bar_views(
    chain: &crate::chain::Chain,
    filter: impl Fn(&crate::ledger::Item, &[MappedEntry]) -> bool,
) -> Vec<BarView> {
    let ledger = chain.state();
    let mapping = lightclient::mapping::Mapping::parse(
        &ledger.mapping().bytes,
        ledger.controllers().precision,
    )
    .ok();
    ledger
        .items()
        .filter_map(|item| {
            let entries: Vec<MappedEntry> = mapping
                .iter()
                .flat_map(|m| m.amounts())
                .filter(|(entry, _)| entry.vref == item.serial)
                .map(|(entry, units)| MappedEntry {
                    asset: entry.assetid,
                    amount: entry.amount.clone(),
                    units: units.to_string(),
                    issuer: entry.issuer.clone(),
                })
                .collect();
            filter(item, &entries).then(|| BarView {
                serial: item.serial.clone(),
                refiner: item.refiner.clone(),
                mass: item.mass.to_string(),
                fineness: item.fineness,
                location: item.location.clone(),
                retired: item.retired,
                mapping_sequence: ledger.mapping().sequence,
                mapped: entries,
            })
        })
        .collect()
}

/// Query of `/v1/bars`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct BarQuery {
    asset: Option<String>,
    location: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// Bars by `?asset=` (those the mapping allocates to it) and `?location=`, with their entries
/// in the mapping in force (paged).
#[utoipa::path(get, path = "/v1/bars", tag = "bars",
    params(BarQuery),
    responses(
        (status = 200, description = "a page of bars", body = Page<BarView>),
        (status = 400, description = "a parameter does not parse", body = ApiError),
    ))]
async fn bars(state: web::Data<ApiState>, query: web::Query<BarQuery>) -> HttpResponse {
    let query = query.into_inner();
    let asset: Option<AssetId> = match optional("asset", query.asset.as_ref()) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let location = query.location.clone();
    match read(&state, move |c| {
        Ok(bar_views(c, |item, entries| {
            location.as_ref().is_none_or(|l| *l == item.location)
                && asset.is_none_or(|a| entries.iter().any(|e| e.asset == a))
        }))
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(page(items, query.offset, query.limit)),
    }
}

/// One bar with its mapping entries.
#[utoipa::path(get, path = "/v1/bars/{serial}", tag = "bars",
    params(("serial" = String, Path, description = "the bar's serial")),
    responses(
        (status = 200, description = "the bar", body = BarView),
        (status = 404, description = "no such bar (unknown_item)", body = ApiError),
    ))]
async fn bar(state: web::Data<ApiState>, path: web::Path<String>) -> HttpResponse {
    let serial = path.into_inner();
    let wanted = serial.clone();
    match read(&state, move |c| {
        Ok(bar_views(c, |item, _| item.serial == wanted))
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

/// A fee rule in force.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct FeeRuleView {
    id: u32,
    rule: FeeRule,
}

/// Every rule in force.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Rules<T> {
    items: Vec<T>,
}

/// The fee rules in force.
#[utoipa::path(get, path = "/v1/fees", tag = "fees and limits",
    responses((status = 200, description = "the rules", body = Rules<FeeRuleView>)))]
async fn fees(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| {
        Ok(c.state()
            .fee_rules()
            .iter()
            .map(|(id, rule)| FeeRuleView {
                id: *id,
                rule: rule.clone(),
            })
            .collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(Rules { items }),
    }
}

/// What one account used of a limit in one period.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct LimitUsage {
    account: AccountId,
    /// The period's number (days, weeks, ... since the Unix epoch).
    period: u64,
    /// Base units.
    used: String,
}

/// A limit rule in force with its usage.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct LimitRuleView {
    id: u32,
    rule: LimitRule,
    usage: Vec<LimitUsage>,
}

/// The limit rules in force, each with what accounts used of it per period.
#[utoipa::path(get, path = "/v1/limits", tag = "fees and limits",
    responses((status = 200, description = "the rules", body = Rules<LimitRuleView>)))]
async fn limits(state: web::Data<ApiState>) -> HttpResponse {
    match read(&state, |c| {
        let ledger = c.state();
        Ok(ledger
            .limit_rules()
            .iter()
            .map(|(id, rule)| {
                let usage: Vec<LimitUsage> = ledger
                    .limit_usages(*id)
                    .into_iter()
                    .map(|(account, period, used)| LimitUsage {
                        account,
                        period,
                        used: used.to_string(),
                    })
                    .collect();
                LimitRuleView {
                    id: *id,
                    rule: rule.clone(),
                    usage,
                }
            })
            .collect::<Vec<_>>())
    })
    .await
    {
        Err(r) => r,
        Ok(items) => HttpResponse::Ok().json(Rules { items }),
    }
}

/// Query of `/v1/accounts`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AccountQuery {
    role: Option<String>,
    kyc: Option<String>,
    asset_holder: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// Accounts by `?role=`, `?kyc=` and `?asset_holder=` (paged).
#[utoipa::path(get, path = "/v1/accounts", tag = "accounts",
    params(AccountQuery),
    responses(
        (status = 200, description = "a page of accounts", body = Page<AccountView>),
        (status = 400, description = "a parameter does not parse", body = ApiError),
    ))]
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
            .map(AccountView::of)
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
    use super::api::resource;
    cfg.service(resource("/v1/accounts", "GET").route(web::get().to(accounts)))
        .service(
            resource("/v1/accounts/{account}/positions", "GET").route(web::get().to(positions)),
        )
        .service(resource("/v1/settlements", "GET").route(web::get().to(settlements)))
        .service(resource("/v1/audit", "GET").route(web::get().to(audit)))
        .service(resource("/v1/requests", "GET").route(web::get().to(requests)))
        .service(resource("/v1/requests/{id}", "GET").route(web::get().to(request)))
        .service(resource("/v1/bars", "GET").route(web::get().to(bars)))
        .service(resource("/v1/bars/{serial}", "GET").route(web::get().to(bar)))
        .service(resource("/v1/fees", "GET").route(web::get().to(fees)))
        .service(resource("/v1/limits", "GET").route(web::get().to(limits)));
}

//! A test double of Bitcoin Core for regtest.
//!
//! It is a double because Bitcoin Core cannot be installed on this machine. It speaks Bitcoin
//! Core's real JSON-RPC wire protocol (HTTP POST, JSON-RPC 1.0 envelopes, HTTP basic auth, Core's
//! error codes, messages and HTTP statuses) for the subset of methods the service uses, and it
//! mines real regtest blocks: they start at the regtest genesis block, carry a BIP34 coinbase,
//! a correct merkle root and BIP141 witness commitment, regtest's `bits` (`0x207fffff`) and a
//! nonce that meets that target. A client that works against the double is therefore exercised on
//! the real protocol and real data, not on a mock of a client library.
//!
//! What it keeps: the chain, the UTXO set and a mempool. `sendrawtransaction` checks that the
//! transaction decodes, that its inputs exist unspent (in the chain or the mempool), that the
//! outputs do not exceed the inputs, and it verifies the signature of every P2WPKH input (BIP143).
//! It does not run a script interpreter: inputs spending other script types are refused. Coinbase
//! maturity, fee minimums, standardness, locktimes and replace-by-fee are not modelled.
//!
//! A wallet: a secp256k1 key generated at spawn (P2WPKH). On a fresh chain the double mines 101
//! blocks to it so that `sendtoaddress` can pay from real, signed P2WPKH spends; `getnewaddress`
//! always returns that one address.
//!
//! With a data directory, each mined block is appended (length-prefixed, consensus-encoded, with
//! fsync) to `blocks.dat` and replayed on the next spawn; the wallet key is kept beside it in
//! `wallet.key`. Without one, everything is in memory.
//!
//! The server runs on its own thread with its own actix system, so the double can be used from
//! any tokio runtime or from synchronous code.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use bitcoin::address::NetworkUnchecked;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::consensus::encode::{deserialize, deserialize_hex, serialize, serialize_hex};
use bitcoin::hashes::{Hash, hash160};
use bitcoin::merkle_tree::MerkleBlock;
use bitcoin::opcodes::OP_0;
use bitcoin::script::Builder;
use bitcoin::secp256k1::{self, All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    Address, Amount, Block, BlockHash, CompactTarget, CompressedPublicKey, Denomination, Network,
    OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
    absolute, ecdsa,
};
use serde_json::{Map, Value, json};

/// Regtest's compact target (the proof-of-work limit; regtest never retargets).
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Regtest halves the subsidy every 150 blocks.
pub const HALVING_INTERVAL: u64 = 150;
/// Blocks mined to the double's wallet on a fresh chain.
pub const FUNDING_BLOCKS: u64 = 101;
/// The fee of every wallet (`sendtoaddress`) transaction.
pub const WALLET_FEE: Amount = Amount::from_sat(1_000);
/// What `estimatesmartfee` answers: 1 sat/vB, in BTC per kvB as Core shows it.
pub const ESTIMATED_FEE_RATE_BTC_PER_KVB: f64 = 0.000_010_00;

const INITIAL_SUBSIDY: u64 = 50 * 100_000_000;
const BLOCK_VERSION: i32 = 0x2000_0000;
const BLOCKS_FILE: &str = "blocks.dat";
const KEY_FILE: &str = "wallet.key";
const WITNESS_MAGIC: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
const WITNESS_RESERVED_VALUE: [u8; 32] = [0; 32];
const MAX_SCRIPT_SIZE: usize = 10_000;
const MAX_BODY: usize = 32 * 1024 * 1024;
/// A change output below this (the P2WPKH dust limit at Core's default relay fee) goes to the fee.
const CHANGE_DUST: Amount = Amount::from_sat(294);

// Core's JSON-RPC error codes used here.
const RPC_MISC_ERROR: i64 = -1;
const RPC_TYPE_ERROR: i64 = -3;
const RPC_INVALID_ADDRESS_OR_KEY: i64 = -5;
const RPC_WALLET_INSUFFICIENT_FUNDS: i64 = -6;
const RPC_INVALID_PARAMETER: i64 = -8;
const RPC_DESERIALIZATION_ERROR: i64 = -22;
const RPC_VERIFY_ERROR: i64 = -25;
const RPC_VERIFY_REJECTED: i64 = -26;
const RPC_VERIFY_ALREADY_IN_CHAIN: i64 = -27;
const RPC_INVALID_REQUEST: i64 = -32600;
const RPC_METHOD_NOT_FOUND: i64 = -32601;
const RPC_PARSE_ERROR: i64 = -32700;
const RPC_INTERNAL_ERROR: i64 = -32603;

/// Why the double could not start or mine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegtestDoubleError {
    /// Binding, the server thread, or the data directory.
    #[error("regtest double I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The block store cannot be replayed.
    #[error("regtest double block store {path}: {reason}")]
    Store {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The wallet key file is unreadable.
    #[error("regtest double wallet key {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A request to the chain failed, with Core's code and message.
    #[error("regtest double: error {code}: {message}")]
    Rpc {
        /// Core's error code.
        code: i64,
        /// Core's message.
        message: String,
    },
}

/// A running regtest double; stopped by [`RegtestDouble::stop`] or on drop.
pub struct RegtestDouble {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: ServerHandle,
    thread: Option<JoinHandle<()>>,
    data_dir: Option<PathBuf>,
}

impl fmt::Debug for RegtestDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegtestDouble")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RegtestDouble {
    /// Binds `addr` (port 0 for any free port) and starts the double; see [`Self::spawn_on`].
    pub fn spawn(
        addr: impl ToSocketAddrs,
        user: &str,
        password: &str,
        data_dir: Option<PathBuf>,
    ) -> Result<Self, RegtestDoubleError> {
        let listener = TcpListener::bind(addr)?;
        Self::spawn_on(listener, user, password, data_dir)
    }

    /// Starts the double on `listener`: replays `data_dir` (or mines [`FUNDING_BLOCKS`] to its
    /// wallet on a fresh chain), then serves JSON-RPC with basic auth `user`/`password` on a
    /// thread of its own until stopped.
    pub fn spawn_on(
        listener: TcpListener,
        user: &str,
        password: &str,
        data_dir: Option<PathBuf>,
    ) -> Result<Self, RegtestDoubleError> {
        let addr = listener.local_addr()?;
        let chain = Chain::open(data_dir.as_deref())?;
        let shared = Arc::new(Shared {
            chain: Mutex::new(chain),
            credentials: format!("{user}:{password}"),
        });
        let data = web::Data::from(Arc::clone(&shared));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("regtest-double".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                let built = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(MAX_BODY))
                        .default_service(web::to(serve_http))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1)
                .listen(listener);
                match built {
                    Ok(server) => {
                        let server = server.run();
                        let _ = ready_tx.send(Ok(server.handle()));
                        if let Err(e) = server.await {
                            tracing::warn!(error = %e, "regtest double server ended with an error");
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
            })?;
        let server = ready_rx.recv().map_err(|_| {
            std::io::Error::other("the regtest double's server thread ended before starting")
        })??;
        tracing::info!(%addr, "regtest double of Bitcoin Core listening");
        Ok(Self {
            shared,
            addr,
            server,
            thread: Some(thread),
            data_dir,
        })
    }

    /// The JSON-RPC URL (`http://IP:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where the chain and the wallet key are kept, if anywhere.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The wallet's (only) address, which `getnewaddress` returns.
    pub fn wallet_address(&self) -> Address {
        self.shared.lock().wallet.address.clone()
    }

    /// The height of the tip.
    pub fn block_count(&self) -> u64 {
        to_u64(self.shared.lock().tip_height())
    }

    /// The hash of the tip.
    pub fn best_block_hash(&self) -> BlockHash {
        self.shared.lock().tip_hash()
    }

    /// Mines `n` blocks paying to `address`, as `generatetoaddress` does (for callers without
    /// an RPC client).
    pub fn generate_to_address(
        &self,
        n: u64,
        address: &Address,
    ) -> Result<Vec<BlockHash>, RegtestDoubleError> {
        let mut chain = self.shared.lock();
        let script = address.script_pubkey();
        (0..n)
            .map(|_| {
                chain
                    .mine_block(&script)
                    .map_err(|e| RegtestDoubleError::Rpc {
                        code: e.code,
                        message: e.message,
                    })
            })
            .collect()
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            // The stop command is sent when `stop` is called; its future only awaits completion.
            drop(self.server.stop(false));
            if thread.join().is_err() {
                tracing::warn!("the regtest double's server thread panicked");
            }
        }
    }
}

impl Drop for RegtestDouble {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Shared {
    chain: Mutex<Chain>,
    credentials: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A JSON-RPC error: Core's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RpcError {
    code: i64,
    message: String,
}

fn rpc_error(code: i64, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into(),
    }
}

fn rejected(reason: impl Into<String>) -> RpcError {
    rpc_error(RPC_VERIFY_REJECTED, reason)
}

fn internal(message: impl fmt::Display) -> RpcError {
    rpc_error(RPC_INTERNAL_ERROR, format!("regtest double: {message}"))
}

// ---------------------------------------------------------------------------------------------
// HTTP and JSON-RPC framing
// ---------------------------------------------------------------------------------------------

async fn serve_http(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if req.method() != Method::POST {
        return HttpResponse::MethodNotAllowed().body("JSONRPC server handles only POST requests");
    }
    if !authorized(&req, &shared.credentials) {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"jsonrpc\""))
            .finish();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return error_reply(&rpc_error(RPC_PARSE_ERROR, "Parse error")),
    };
    match request {
        Value::Object(object) => {
            let (status, reply) = execute_one(&shared, &object);
            json_response(status, &reply)
        }
        Value::Array(batch) => {
            let replies: Vec<Value> = batch
                .iter()
                .map(|item| match item {
                    Value::Object(object) => execute_one(&shared, object).1,
                    _ => reply_value(
                        &Value::Null,
                        Err(rpc_error(RPC_INVALID_REQUEST, "Invalid Request object")),
                        false,
                    ),
                })
                .collect();
            json_response(StatusCode::OK, &Value::Array(replies))
        }
        _ => error_reply(&rpc_error(RPC_PARSE_ERROR, "Top-level object parse error")),
    }
}

fn authorized(req: &HttpRequest, credentials: &str) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .is_ok_and(|decoded| decoded == credentials.as_bytes())
}

fn status_of(error: &RpcError) -> StatusCode {
    match error.code {
        RPC_INVALID_REQUEST => StatusCode::BAD_REQUEST,
        RPC_METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_reply(error: &RpcError) -> HttpResponse {
    json_response(
        status_of(error),
        &reply_value(&Value::Null, Err(error.clone()), false),
    )
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut text = body.to_string();
    text.push('\n');
    HttpResponse::build(status)
        .content_type("application/json")
        .body(text)
}

fn reply_value(id: &Value, outcome: Result<Value, RpcError>, v2: bool) -> Value {
    let (result, error) = match outcome {
        Ok(result) => (result, Value::Null),
        Err(e) => (Value::Null, json!({"code": e.code, "message": e.message})),
    };
    if v2 {
        // JSON-RPC 2.0 (Core 28+): exactly one of result and error.
        if error.is_null() {
            json!({"jsonrpc": "2.0", "result": result, "id": id})
        } else {
            json!({"jsonrpc": "2.0", "error": error, "id": id})
        }
    } else {
        json!({"result": result, "error": error, "id": id})
    }
}

/// One request object: the HTTP status it gets alone, and its reply.
fn execute_one(shared: &Shared, request: &Map<String, Value>) -> (StatusCode, Value) {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let v2 = request.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    let outcome = parse_call(request).and_then(|(method, params)| {
        let mut chain = shared.lock();
        dispatch(&mut chain, method, params)
    });
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(_) if v2 => StatusCode::OK,
        Err(e) => status_of(e),
    };
    (status, reply_value(&id, outcome, v2))
}

fn parse_call(request: &Map<String, Value>) -> Result<(&str, Params<'_>), RpcError> {
    let method = match request.get("method") {
        None => return Err(rpc_error(RPC_INVALID_REQUEST, "Missing method")),
        Some(Value::String(m)) => m.as_str(),
        Some(_) => return Err(rpc_error(RPC_INVALID_REQUEST, "Method must be a string")),
    };
    let params = match request.get("params") {
        None | Some(Value::Null) => Params::Positional(&[]),
        Some(Value::Array(list)) => Params::Positional(list),
        Some(Value::Object(map)) => Params::Named(map),
        Some(_) => {
            return Err(rpc_error(
                RPC_INVALID_REQUEST,
                "Params must be an array or object",
            ));
        }
    };
    Ok((method, params))
}

#[derive(Clone, Copy)]
enum Params<'a> {
    Positional(&'a [Value]),
    Named(&'a Map<String, Value>),
}

/// Each method the double serves, with Core's parameter names (for named parameters).
const METHODS: &[(&str, &[&str])] = &[
    ("getblockchaininfo", &[]),
    ("getblockcount", &[]),
    ("getbestblockhash", &[]),
    ("getblockhash", &["height"]),
    ("getblockheader", &["blockhash", "verbose"]),
    ("getblock", &["blockhash", "verbosity"]),
    ("getrawtransaction", &["txid", "verbosity", "blockhash"]),
    (
        "sendrawtransaction",
        &["hexstring", "maxfeerate", "maxburnamount"],
    ),
    ("gettxout", &["txid", "n", "include_mempool"]),
    ("gettxoutproof", &["txids", "blockhash"]),
    ("estimatesmartfee", &["conf_target", "estimate_mode"]),
    ("getrawmempool", &["verbose", "mempool_sequence"]),
    ("generatetoaddress", &["nblocks", "address", "maxtries"]),
    ("getnewaddress", &["label", "address_type"]),
    (
        "sendtoaddress",
        &[
            "address",
            "amount",
            "comment",
            "comment_to",
            "subtractfeefromamount",
            "replaceable",
            "conf_target",
            "estimate_mode",
            "avoid_reuse",
            "fee_rate",
            "verbose",
        ],
    ),
];

/// Positional arguments of one call.
struct Args<'a> {
    method: &'a str,
    names: &'a [&'a str],
    values: Vec<Value>,
}

impl Args<'_> {
    /// The argument, `None` when absent or null.
    fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index).filter(|v| !v.is_null())
    }

    fn required(&self, index: usize) -> Result<&Value, RpcError> {
        self.get(index).ok_or_else(|| {
            let name = self.names.get(index).copied().unwrap_or("argument");
            rpc_error(
                RPC_MISC_ERROR,
                format!("{}: missing required argument {name}", self.method),
            )
        })
    }
}

fn arguments<'a>(
    method: &'a str,
    names: &'a [&'a str],
    params: Params<'_>,
) -> Result<Args<'a>, RpcError> {
    let values = match params {
        Params::Positional(list) => {
            if list.len() > names.len() {
                return Err(rpc_error(
                    RPC_MISC_ERROR,
                    format!("{method}: takes at most {} arguments", names.len()),
                ));
            }
            list.to_vec()
        }
        Params::Named(map) => {
            if let Some(unknown) = map.keys().find(|k| !names.contains(&k.as_str())) {
                return Err(rpc_error(
                    RPC_INVALID_PARAMETER,
                    format!("Unknown named parameter {unknown}"),
                ));
            }
            names
                .iter()
                .map(|n| map.get(*n).cloned().unwrap_or(Value::Null))
                .collect()
        }
    };
    Ok(Args {
        method,
        names,
        values,
    })
}

fn dispatch(chain: &mut Chain, method: &str, params: Params<'_>) -> Result<Value, RpcError> {
    let Some((_, names)) = METHODS.iter().find(|(m, _)| *m == method) else {
        return Err(rpc_error(RPC_METHOD_NOT_FOUND, "Method not found"));
    };
    let args = arguments(method, names, params)?;
    match method {
        "getblockchaininfo" => Ok(chain.blockchain_info()),
        "getblockcount" => Ok(json!(to_u64(chain.tip_height()))),
        "getbestblockhash" => Ok(json!(chain.tip_hash().to_string())),
        "getblockhash" => {
            let height = int_arg(args.required(0)?)?;
            usize::try_from(height)
                .ok()
                .and_then(|h| chain.hashes.get(h))
                .map(|h| json!(h.to_string()))
                .ok_or_else(|| rpc_error(RPC_INVALID_PARAMETER, "Block height out of range"))
        }
        "getblockheader" => {
            let height = chain.block_height(&hash_arg(args.required(0)?, "blockhash")?)?;
            let verbose = args.get(1).map(bool_arg).transpose()?.unwrap_or(true);
            if verbose {
                Ok(Value::Object(chain.header_json(height)?))
            } else {
                Ok(json!(serialize_hex(&chain.block_at(height)?.header)))
            }
        }
        "getblock" => {
            let height = chain.block_height(&hash_arg(args.required(0)?, "blockhash")?)?;
            let verbosity = args.get(1).map(verbosity_arg).transpose()?.unwrap_or(1);
            chain.block_json(height, verbosity)
        }
        "getrawtransaction" => {
            let txid: Txid = hash_arg(args.required(0)?, "parameter 1")?;
            let verbosity = args.get(1).map(verbosity_arg).transpose()?.unwrap_or(0);
            let in_block = args
                .get(2)
                .map(|v| hash_arg(v, "parameter 3"))
                .transpose()?;
            chain.raw_transaction(&txid, verbosity, in_block)
        }
        "sendrawtransaction" => {
            let hex = str_arg(args.required(0)?)?;
            let tx: Transaction = deserialize_hex(hex).map_err(|_| {
                rpc_error(
                    RPC_DESERIALIZATION_ERROR,
                    "TX decode failed. Make sure the tx has at least one input.",
                )
            })?;
            chain
                .accept_to_mempool(tx)
                .map(|txid| json!(txid.to_string()))
        }
        "gettxout" => {
            let txid: Txid = hash_arg(args.required(0)?, "txid")?;
            let vout = u32::try_from(int_arg(args.required(1)?)?).map_err(|_| {
                rpc_error(
                    RPC_INVALID_PARAMETER,
                    "Invalid parameter, vout must be positive",
                )
            })?;
            let include_mempool = args.get(2).map(bool_arg).transpose()?.unwrap_or(true);
            Ok(chain.tx_out(OutPoint::new(txid, vout), include_mempool))
        }
        "gettxoutproof" => {
            let Value::Array(list) = args.required(0)? else {
                return Err(type_error(args.required(0)?, "array"));
            };
            let mut txids = Vec::with_capacity(list.len());
            for item in list {
                let txid: Txid = hash_arg(item, "txid")?;
                if txids.contains(&txid) {
                    return Err(rpc_error(
                        RPC_INVALID_PARAMETER,
                        format!("Invalid parameter, duplicated txid: {txid}"),
                    ));
                }
                txids.push(txid);
            }
            let in_block = args.get(1).map(|v| hash_arg(v, "blockhash")).transpose()?;
            chain
                .tx_out_proof(&txids, in_block)
                .map(|proof| json!(serialize_hex(&proof)))
        }
        "estimatesmartfee" => {
            let target = int_arg(args.required(0)?)?;
            if !(1..=1008).contains(&target) {
                return Err(rpc_error(
                    RPC_INVALID_PARAMETER,
                    "Invalid conf_target, must be between 1 and 1008",
                ));
            }
            if let Some(mode) = args.get(1) {
                let mode = str_arg(mode)?.to_ascii_lowercase();
                if !["unset", "economical", "conservative"].contains(&mode.as_str()) {
                    return Err(rpc_error(
                        RPC_INVALID_PARAMETER,
                        "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"",
                    ));
                }
            }
            // A fixed estimate (the double has no fee history): 1 sat/vB, for at least 2 blocks
            // as Core never estimates for the next block alone.
            Ok(json!({"feerate": ESTIMATED_FEE_RATE_BTC_PER_KVB, "blocks": target.max(2)}))
        }
        "getrawmempool" => {
            let verbose = args.get(0).map(bool_arg).transpose()?.unwrap_or(false);
            let sequence = args.get(1).map(bool_arg).transpose()?.unwrap_or(false);
            chain.raw_mempool(verbose, sequence)
        }
        "generatetoaddress" => {
            let n = int_arg(args.required(0)?)?;
            let address = address_arg(args.required(1)?, "Error: Invalid address")?;
            let n = u64::try_from(n)
                .map_err(|_| rpc_error(RPC_INVALID_PARAMETER, "Invalid nblocks"))?;
            let script = address.script_pubkey();
            let mut hashes = Vec::new();
            for _ in 0..n {
                hashes.push(json!(chain.mine_block(&script)?.to_string()));
            }
            Ok(Value::Array(hashes))
        }
        "getnewaddress" => Ok(json!(chain.wallet.address.to_string())),
        "sendtoaddress" => {
            let address = address_arg(args.required(0)?, "Invalid address")?;
            let amount = amount_arg(args.required(1)?)?;
            chain
                .send_to_address(&address, amount)
                .map(|txid| json!(txid.to_string()))
        }
        _ => Err(rpc_error(RPC_METHOD_NOT_FOUND, "Method not found")),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(v: &Value, expected: &str) -> RpcError {
    rpc_error(
        RPC_TYPE_ERROR,
        format!(
            "JSON value of type {} is not of expected type {expected}",
            type_name(v)
        ),
    )
}

fn str_arg(v: &Value) -> Result<&str, RpcError> {
    v.as_str().ok_or_else(|| type_error(v, "string"))
}

fn int_arg(v: &Value) -> Result<i64, RpcError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| rpc_error(RPC_TYPE_ERROR, "JSON integer out of range")),
        _ => Err(type_error(v, "number")),
    }
}

fn bool_arg(v: &Value) -> Result<bool, RpcError> {
    v.as_bool().ok_or_else(|| type_error(v, "bool"))
}

/// Core's verbosity parameters take a bool or a number.
fn verbosity_arg(v: &Value) -> Result<i64, RpcError> {
    match v {
        Value::Bool(b) => Ok(i64::from(*b)),
        _ => int_arg(v),
    }
}

fn hash_arg<T: std::str::FromStr>(v: &Value, name: &str) -> Result<T, RpcError> {
    let s = str_arg(v)?;
    if s.len() != 64 {
        return Err(rpc_error(
            RPC_INVALID_PARAMETER,
            format!("{name} must be of length 64 (not {}, for '{s}')", s.len()),
        ));
    }
    s.parse().map_err(|_| {
        rpc_error(
            RPC_INVALID_PARAMETER,
            format!("{name} must be hexadecimal string (not '{s}')"),
        )
    })
}

fn address_arg(v: &Value, invalid: &str) -> Result<Address, RpcError> {
    str_arg(v)?
        .parse::<Address<NetworkUnchecked>>()
        .ok()
        .and_then(|a| a.require_network(Network::Regtest).ok())
        .ok_or_else(|| rpc_error(RPC_INVALID_ADDRESS_OR_KEY, invalid))
}

fn amount_arg(v: &Value) -> Result<Amount, RpcError> {
    let parsed = match v {
        Value::Number(n) => {
            let btc = n
                .as_f64()
                .ok_or_else(|| rpc_error(RPC_TYPE_ERROR, "Invalid amount"))?;
            if btc < 0.0 {
                return Err(rpc_error(RPC_TYPE_ERROR, "Amount out of range"));
            }
            Amount::from_btc(btc)
        }
        Value::String(s) => Amount::from_str_in(s, Denomination::Bitcoin),
        _ => return Err(type_error(v, "number")),
    };
    let amount = parsed.map_err(|_| rpc_error(RPC_TYPE_ERROR, "Invalid amount"))?;
    if amount > Amount::MAX_MONEY {
        return Err(rpc_error(RPC_TYPE_ERROR, "Amount out of range"));
    }
    if amount == Amount::ZERO {
        return Err(rpc_error(RPC_TYPE_ERROR, "Invalid amount for send"));
    }
    Ok(amount)
}

// ---------------------------------------------------------------------------------------------
// Chain state
// ---------------------------------------------------------------------------------------------

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The block subsidy at `height`: 50 BTC halved every [`HALVING_INTERVAL`] blocks.
fn subsidy(height: u64) -> Amount {
    let halvings = height.checked_div(HALVING_INTERVAL).unwrap_or(0);
    let sats = u32::try_from(halvings)
        .ok()
        .filter(|h| *h < 64)
        .and_then(|h| INITIAL_SUBSIDY.checked_shr(h))
        .unwrap_or(0);
    Amount::from_sat(sats)
}

/// Core's `IsUnspendable`: such outputs never enter the UTXO set.
fn is_unspendable(script: &Script) -> bool {
    script.is_op_return() || script.len() > MAX_SCRIPT_SIZE
}

struct Coin {
    output: TxOut,
    height: usize,
    coinbase: bool,
}

struct MempoolEntry {
    tx: Transaction,
    txid: Txid,
    fee: Amount,
    time: u64,
}

struct Wallet {
    secret: SecretKey,
    public: CompressedPublicKey,
    script: ScriptBuf,
    address: Address,
}

impl Wallet {
    fn new(secp: &Secp256k1<All>, secret: SecretKey) -> Self {
        let public = CompressedPublicKey(secp256k1::PublicKey::from_secret_key(secp, &secret));
        let script = ScriptBuf::new_p2wpkh(&public.wpubkey_hash());
        let address = Address::p2wpkh(&public, Network::Regtest);
        Self {
            secret,
            public,
            script,
            address,
        }
    }
}

struct Chain {
    secp: Secp256k1<All>,
    blocks: Vec<Block>,
    hashes: Vec<BlockHash>,
    heights: HashMap<BlockHash, usize>,
    /// Every transaction of the chain but the genesis coinbase (as Core's txindex): height and
    /// position in the block.
    tx_index: HashMap<Txid, (usize, usize)>,
    utxos: HashMap<OutPoint, Coin>,
    mempool: Vec<MempoolEntry>,
    mempool_index: HashMap<Txid, usize>,
    /// Outpoints spent by mempool transactions.
    mempool_spends: HashMap<OutPoint, Txid>,
    mempool_sequence: u64,
    wallet: Wallet,
    store: Option<BlockStore>,
}

impl Chain {
    fn open(data_dir: Option<&Path>) -> Result<Self, RegtestDoubleError> {
        let secp = Secp256k1::new();
        let (secret, store, stored) = match data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let secret = load_or_create_key(dir)?;
                let (store, blocks) = BlockStore::open(dir)?;
                (secret, Some(store), blocks)
            }
            None => (random_secret(), None, Vec::new()),
        };
        let wallet = Wallet::new(&secp, secret);
        let genesis = genesis_block(Network::Regtest);
        let genesis_hash = genesis.block_hash();
        let mut chain = Self {
            secp,
            blocks: vec![genesis],
            hashes: vec![genesis_hash],
            heights: HashMap::from([(genesis_hash, 0)]),
            tx_index: HashMap::new(),
            utxos: HashMap::new(),
            mempool: Vec::new(),
            mempool_index: HashMap::new(),
            mempool_spends: HashMap::new(),
            mempool_sequence: 0,
            wallet,
            store: None,
        };
        let store_path = store.as_ref().map(|s| s.path.clone()).unwrap_or_default();
        for (i, block) in stored.into_iter().enumerate() {
            let bad = |reason: String| RegtestDoubleError::Store {
                path: store_path.clone(),
                reason: format!("block {}: {reason}", i.saturating_add(1)),
            };
            if block.header.prev_blockhash != chain.tip_hash() {
                return Err(bad("does not extend the chain".into()));
            }
            if block.header.bits != CompactTarget::from_consensus(REGTEST_BITS) {
                return Err(bad("not at regtest difficulty".into()));
            }
            block
                .header
                .validate_pow(block.header.target())
                .map_err(|e| bad(format!("proof of work: {e}")))?;
            if !block.check_merkle_root() || !block.check_witness_commitment() {
                return Err(bad("bad merkle root or witness commitment".into()));
            }
            chain.connect(block);
        }
        chain.store = store;
        if chain.tip_height() == 0 {
            let script = chain.wallet.script.clone();
            for _ in 0..FUNDING_BLOCKS {
                chain
                    .mine_block(&script)
                    .map_err(|e| RegtestDoubleError::Rpc {
                        code: e.code,
                        message: e.message,
                    })?;
            }
        }
        Ok(chain)
    }

    fn tip_height(&self) -> usize {
        self.blocks.len().saturating_sub(1)
    }

    fn tip_hash(&self) -> BlockHash {
        self.hashes
            .last()
            .copied()
            .unwrap_or_else(BlockHash::all_zeros)
    }

    fn block_at(&self, height: usize) -> Result<&Block, RpcError> {
        self.blocks
            .get(height)
            .ok_or_else(|| internal("height out of range"))
    }

    fn block_height(&self, hash: &BlockHash) -> Result<usize, RpcError> {
        self.heights
            .get(hash)
            .copied()
            .ok_or_else(|| rpc_error(RPC_INVALID_ADDRESS_OR_KEY, "Block not found"))
    }

    fn confirmations(&self, height: usize) -> u64 {
        to_u64(self.tip_height().saturating_sub(height).saturating_add(1))
    }

    fn median_time_past(&self, height: usize) -> u32 {
        let start = height.saturating_sub(10);
        let mut times: Vec<u32> = self
            .blocks
            .get(start..=height)
            .unwrap_or_default()
            .iter()
            .map(|b| b.header.time)
            .collect();
        times.sort_unstable();
        times
            .get(times.len().checked_div(2).unwrap_or(0))
            .copied()
            .unwrap_or(0)
    }

    fn chainwork(&self, height: usize) -> String {
        let total = self
            .blocks
            .get(..=height)
            .unwrap_or_default()
            .iter()
            .fold(0u128, |sum, b| {
                let bytes = b.header.work().to_be_bytes();
                let mut low = [0u8; 16];
                if let Some(tail) = bytes.get(16..) {
                    low.copy_from_slice(tail);
                }
                sum.saturating_add(u128::from_be_bytes(low))
            });
        format!("{total:064x}")
    }

    // --- mining ---

    /// Mines one block on the tip paying subsidy and fees to `script`, with the whole mempool.
    fn mine_block(&mut self, script: &Script) -> Result<BlockHash, RpcError> {
        let height = self.blocks.len();
        let prev = self.block_at(self.tip_height())?.header;
        let txs: Vec<Transaction> = self.mempool.iter().map(|e| e.tx.clone()).collect();
        let fees = self
            .mempool
            .iter()
            .try_fold(Amount::ZERO, |sum, e| sum.checked_add(e.fee))
            .ok_or_else(|| internal("fee overflow"))?;
        let value = subsidy(to_u64(height))
            .checked_add(fees)
            .ok_or_else(|| internal("coinbase value overflow"))?;
        let has_witness = txs
            .iter()
            .any(|t| t.input.iter().any(|i| !i.witness.is_empty()));
        let height_push = i64::try_from(height).map_err(internal)?;
        let coinbase = Transaction {
            version: TxVersion::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                // BIP34: the height first; OP_0 as Core adds, so the script is at least 2 bytes.
                script_sig: Builder::new()
                    .push_int(height_push)
                    .push_opcode(OP_0)
                    .into_script(),
                sequence: Sequence::MAX,
                witness: if has_witness {
                    Witness::from_slice(&[WITNESS_RESERVED_VALUE])
                } else {
                    Witness::new()
                },
            }],
            output: vec![TxOut {
                value,
                script_pubkey: script.to_owned(),
            }],
        };
        let mut txdata = Vec::with_capacity(txs.len().saturating_add(1));
        txdata.push(coinbase);
        txdata.extend(txs);
        let time = u32::try_from(now_secs())
            .unwrap_or(u32::MAX)
            .max(prev.time.saturating_add(1));
        let mut block = Block {
            header: Header {
                version: BlockVersion::from_consensus(BLOCK_VERSION),
                prev_blockhash: self.tip_hash(),
                merkle_root: TxMerkleNode::all_zeros(),
                time,
                bits: CompactTarget::from_consensus(REGTEST_BITS),
                nonce: 0,
            },
            txdata,
        };
        if has_witness {
            // BIP141: the coinbase's wtxid counts as zero, so adding this output does not change
            // the witness root it commits to.
            let root = block
                .witness_root()
                .ok_or_else(|| internal("no witness root"))?;
            let commitment = Block::compute_witness_commitment(&root, &WITNESS_RESERVED_VALUE);
            let mut bytes = WITNESS_MAGIC.to_vec();
            bytes.extend_from_slice(commitment.as_byte_array());
            block
                .txdata
                .first_mut()
                .ok_or_else(|| internal("no coinbase"))?
                .output
                .push(TxOut {
                    value: Amount::ZERO,
                    script_pubkey: ScriptBuf::from_bytes(bytes),
                });
        }
        block.header.merkle_root = block
            .compute_merkle_root()
            .ok_or_else(|| internal("no merkle root"))?;
        // Real proof of work at regtest's target: about one nonce in two succeeds.
        while block.header.validate_pow(block.header.target()).is_err() {
            match block.header.nonce.checked_add(1) {
                Some(nonce) => block.header.nonce = nonce,
                None => {
                    block.header.nonce = 0;
                    block.header.time = block.header.time.saturating_add(1);
                }
            }
        }
        // Core's BIP34 rule is that the scriptSig starts with `CScript() << height` (OP_1..OP_16
        // for heights 1 to 16, which `Block::bip34_block_height` does not read).
        let expected_prefix = Builder::new().push_int(height_push).into_script();
        let bip34 = block
            .txdata
            .first()
            .and_then(|cb| cb.input.first())
            .is_some_and(|i| {
                i.script_sig
                    .as_bytes()
                    .starts_with(expected_prefix.as_bytes())
            });
        if !block.check_merkle_root() || !block.check_witness_commitment() || !bip34 {
            return Err(internal("mined an invalid block"));
        }
        if let Some(store) = &mut self.store {
            store
                .append(&block)
                .map_err(|e| internal(format!("block store: {e}")))?;
        }
        let hash = block.block_hash();
        self.connect(block);
        tracing::debug!(height, %hash, "regtest double mined a block");
        Ok(hash)
    }

    /// Adds a checked block on the tip: UTXO set, tx index, mempool.
    fn connect(&mut self, block: Block) {
        let height = self.blocks.len();
        let hash = block.block_hash();
        let mut confirmed = HashSet::new();
        for (position, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            if !tx.is_coinbase() {
                for input in &tx.input {
                    self.utxos.remove(&input.previous_output);
                }
            }
            for (vout, output) in tx.output.iter().enumerate() {
                let Ok(vout) = u32::try_from(vout) else {
                    continue;
                };
                if is_unspendable(&output.script_pubkey) {
                    continue;
                }
                let coin = Coin {
                    output: output.clone(),
                    height,
                    coinbase: tx.is_coinbase(),
                };
                self.utxos.insert(OutPoint::new(txid, vout), coin);
            }
            self.tx_index.insert(txid, (height, position));
            confirmed.insert(txid);
        }
        self.blocks.push(block);
        self.hashes.push(hash);
        self.heights.insert(hash, height);
        let before = self.mempool.len();
        self.mempool.retain(|e| !confirmed.contains(&e.txid));
        let removed = before.saturating_sub(self.mempool.len());
        self.mempool_sequence = self.mempool_sequence.saturating_add(to_u64(removed));
        self.reindex_mempool();
    }

    fn reindex_mempool(&mut self) {
        self.mempool_index.clear();
        self.mempool_spends.clear();
        for (i, entry) in self.mempool.iter().enumerate() {
            self.mempool_index.insert(entry.txid, i);
            for input in &entry.tx.input {
                self.mempool_spends
                    .insert(input.previous_output, entry.txid);
            }
        }
    }

    // --- mempool ---

    fn mempool_output(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        let index = *self.mempool_index.get(&outpoint.txid)?;
        let entry = self.mempool.get(index)?;
        entry.tx.output.get(usize::try_from(outpoint.vout).ok()?)
    }

    /// The output `outpoint` if it can be spent now (not spent in the chain nor the mempool).
    fn spendable(&self, outpoint: &OutPoint) -> Option<TxOut> {
        if self.mempool_spends.contains_key(outpoint) {
            return None;
        }
        match self.utxos.get(outpoint) {
            Some(coin) => Some(coin.output.clone()),
            None => self.mempool_output(outpoint).cloned(),
        }
    }

    fn accept_to_mempool(&mut self, tx: Transaction) -> Result<Txid, RpcError> {
        let txid = tx.compute_txid();
        if tx.input.is_empty() {
            return Err(rejected("bad-txns-vin-empty"));
        }
        if tx.output.is_empty() {
            return Err(rejected("bad-txns-vout-empty"));
        }
        if tx.is_coinbase() {
            return Err(rejected("coinbase"));
        }
        let mut value_out = Amount::ZERO;
        for output in &tx.output {
            if output.value > Amount::MAX_MONEY {
                return Err(rejected("bad-txns-vout-toolarge"));
            }
            value_out = value_out
                .checked_add(output.value)
                .filter(|v| *v <= Amount::MAX_MONEY)
                .ok_or_else(|| rejected("bad-txns-txouttotal-toolarge"))?;
        }
        let mut seen = HashSet::new();
        if !tx.input.iter().all(|i| seen.insert(i.previous_output)) {
            return Err(rejected("bad-txns-inputs-duplicate"));
        }
        if self.mempool_index.contains_key(&txid) {
            // Core answers a resubmission of a mempool transaction with its txid.
            return Ok(txid);
        }
        let outputs = u32::try_from(tx.output.len()).unwrap_or(u32::MAX);
        if (0..outputs).any(|vout| self.utxos.contains_key(&OutPoint::new(txid, vout))) {
            return Err(rpc_error(
                RPC_VERIFY_ALREADY_IN_CHAIN,
                "Transaction outputs already in utxo set",
            ));
        }
        // Core would try replace-by-fee on a conflict with the mempool; the double treats the
        // input as spent, like a missing one. Coinbase maturity (100 blocks) is not enforced:
        // this is a test double, and its wallet spends its own fresh coinbases.
        let prevouts: Vec<TxOut> = tx
            .input
            .iter()
            .map(|i| self.spendable(&i.previous_output))
            .collect::<Option<_>>()
            .ok_or_else(|| rpc_error(RPC_VERIFY_ERROR, "bad-txns-inputs-missingorspent"))?;
        let value_in = prevouts
            .iter()
            .try_fold(Amount::ZERO, |sum, o| sum.checked_add(o.value))
            .filter(|v| *v <= Amount::MAX_MONEY)
            .ok_or_else(|| rejected("bad-txns-inputvalues-outofrange"))?;
        let fee = value_in.checked_sub(value_out).ok_or_else(|| {
            rejected(format!(
                "bad-txns-in-belowout, value in ({}) < value out ({})",
                value_in.display_in(Denomination::Bitcoin),
                value_out.display_in(Denomination::Bitcoin)
            ))
        })?;
        let mut cache = SighashCache::new(&tx);
        for (index, prevout) in prevouts.iter().enumerate() {
            // Only P2WPKH is verified (the wallet's own outputs are P2WPKH too); the double has no
            // script interpreter, so it refuses other script types rather than accept them
            // unchecked.
            if !prevout.script_pubkey.is_p2wpkh() {
                return Err(rejected("bad-txns-nonstandard-inputs"));
            }
            verify_p2wpkh(&self.secp, &tx, &mut cache, index, prevout).map_err(|f| {
                rejected(if f.mandatory {
                    format!("mandatory-script-verify-flag-failed ({})", f.reason)
                } else {
                    format!("non-mandatory-script-verify-flag ({})", f.reason)
                })
            })?;
        }
        for input in &tx.input {
            self.mempool_spends.insert(input.previous_output, txid);
        }
        self.mempool_index.insert(txid, self.mempool.len());
        self.mempool.push(MempoolEntry {
            tx,
            txid,
            fee,
            time: now_secs(),
        });
        self.mempool_sequence = self.mempool_sequence.saturating_add(1);
        Ok(txid)
    }

    // --- wallet ---

    /// The wallet's spendable outputs: confirmed ones oldest first, then mempool change.
    fn wallet_coins(&self) -> Vec<(OutPoint, TxOut)> {
        let mut confirmed: Vec<(&OutPoint, &Coin)> = self
            .utxos
            .iter()
            .filter(|(op, coin)| {
                coin.output.script_pubkey == self.wallet.script
                    && !self.mempool_spends.contains_key(*op)
            })
            .collect();
        confirmed.sort_by_key(|(op, coin)| (coin.height, op.txid, op.vout));
        let mut coins: Vec<(OutPoint, TxOut)> = confirmed
            .into_iter()
            .map(|(op, coin)| (*op, coin.output.clone()))
            .collect();
        for entry in &self.mempool {
            for (vout, output) in entry.tx.output.iter().enumerate() {
                let Ok(vout) = u32::try_from(vout) else {
                    continue;
                };
                let op = OutPoint::new(entry.txid, vout);
                if output.script_pubkey == self.wallet.script
                    && !self.mempool_spends.contains_key(&op)
                {
                    coins.push((op, output.clone()));
                }
            }
        }
        coins
    }

    /// Pays `amount` to `address` from the wallet (fee [`WALLET_FEE`], change to the wallet):
    /// the destination is output 0, change (if any) output 1.
    fn send_to_address(&mut self, address: &Address, amount: Amount) -> Result<Txid, RpcError> {
        let needed = amount
            .checked_add(WALLET_FEE)
            .ok_or_else(|| rpc_error(RPC_TYPE_ERROR, "Amount out of range"))?;
        let mut selected = Vec::new();
        let mut total = Amount::ZERO;
        for coin in self.wallet_coins() {
            if total >= needed {
                break;
            }
            total = total
                .checked_add(coin.1.value)
                .ok_or_else(|| internal("amount overflow"))?;
            selected.push(coin);
        }
        if total < needed {
            return Err(rpc_error(
                RPC_WALLET_INSUFFICIENT_FUNDS,
                "Insufficient funds",
            ));
        }
        let change = total.checked_sub(needed).unwrap_or(Amount::ZERO);
        let mut output = vec![TxOut {
            value: amount,
            script_pubkey: address.script_pubkey(),
        }];
        if change >= CHANGE_DUST {
            output.push(TxOut {
                value: change,
                script_pubkey: self.wallet.script.clone(),
            });
        }
        let mut tx = Transaction {
            version: TxVersion::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: selected
                .iter()
                .map(|(op, _)| TxIn {
                    previous_output: *op,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output,
        };
        let mut witnesses = Vec::with_capacity(selected.len());
        {
            let mut cache = SighashCache::new(&tx);
            for (index, (_, prevout)) in selected.iter().enumerate() {
                let sighash = cache
                    .p2wpkh_signature_hash(
                        index,
                        &prevout.script_pubkey,
                        prevout.value,
                        EcdsaSighashType::All,
                    )
                    .map_err(internal)?;
                let message = Message::from_digest(sighash.to_byte_array());
                let signature = ecdsa::Signature {
                    signature: self.secp.sign_ecdsa(&message, &self.wallet.secret),
                    sighash_type: EcdsaSighashType::All,
                };
                witnesses.push(Witness::p2wpkh(&signature, &self.wallet.public.0));
            }
        }
        for (input, witness) in tx.input.iter_mut().zip(witnesses) {
            input.witness = witness;
        }
        self.accept_to_mempool(tx)
    }

    // --- queries ---

    fn blockchain_info(&self) -> Value {
        let tip = self.tip_height();
        let header = self.blocks.last().map(|b| b.header);
        json!({
            "chain": "regtest",
            "blocks": to_u64(tip),
            "headers": to_u64(tip),
            "bestblockhash": self.tip_hash().to_string(),
            "difficulty": header.map_or(0.0, |h| h.difficulty_float()),
            "time": header.map_or(0, |h| h.time),
            "mediantime": self.median_time_past(tip),
            "verificationprogress": 1,
            "initialblockdownload": false,
            "chainwork": self.chainwork(tip),
            "size_on_disk": self.store.as_ref().map_or(0, |s| s.len),
            "pruned": false,
            "warnings": [],
        })
    }

    fn header_json(&self, height: usize) -> Result<Map<String, Value>, RpcError> {
        let block = self.block_at(height)?;
        let h = &block.header;
        let mut object = Map::new();
        object.insert("hash".into(), json!(h.block_hash().to_string()));
        object.insert("confirmations".into(), json!(self.confirmations(height)));
        object.insert("height".into(), json!(to_u64(height)));
        object.insert("version".into(), json!(h.version.to_consensus()));
        object.insert(
            "versionHex".into(),
            json!(format!("{:08x}", h.version.to_consensus())),
        );
        object.insert("merkleroot".into(), json!(h.merkle_root.to_string()));
        object.insert("time".into(), json!(h.time));
        object.insert("mediantime".into(), json!(self.median_time_past(height)));
        object.insert("nonce".into(), json!(h.nonce));
        object.insert(
            "bits".into(),
            json!(format!("{:08x}", h.bits.to_consensus())),
        );
        object.insert("difficulty".into(), json!(h.difficulty_float()));
        object.insert("chainwork".into(), json!(self.chainwork(height)));
        object.insert("nTx".into(), json!(block.txdata.len()));
        if height > 0 {
            object.insert(
                "previousblockhash".into(),
                json!(h.prev_blockhash.to_string()),
            );
        }
        if let Some(next) = self.hashes.get(height.saturating_add(1)) {
            object.insert("nextblockhash".into(), json!(next.to_string()));
        }
        Ok(object)
    }

    fn block_json(&self, height: usize, verbosity: i64) -> Result<Value, RpcError> {
        let block = self.block_at(height)?;
        if verbosity <= 0 {
            return Ok(json!(serialize_hex(block)));
        }
        let mut object = self.header_json(height)?;
        let size = block.total_size();
        let weight = block.weight().to_wu();
        // weight = 3 × stripped size + total size.
        let stripped = weight
            .saturating_sub(to_u64(size))
            .checked_div(3)
            .unwrap_or(0);
        object.insert("strippedsize".into(), json!(stripped));
        object.insert("size".into(), json!(size));
        object.insert("weight".into(), json!(weight));
        let txs: Vec<Value> = block
            .txdata
            .iter()
            .map(|tx| {
                if verbosity >= 2 {
                    tx_json(tx)
                } else {
                    json!(tx.compute_txid().to_string())
                }
            })
            .collect();
        object.insert("tx".into(), Value::Array(txs));
        Ok(Value::Object(object))
    }

    fn raw_transaction(
        &self,
        txid: &Txid,
        verbosity: i64,
        in_block: Option<BlockHash>,
    ) -> Result<Value, RpcError> {
        let found: Option<(&Transaction, Option<usize>)> = match in_block {
            Some(hash) => {
                let height =
                    self.heights.get(&hash).copied().ok_or_else(|| {
                        rpc_error(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
                    })?;
                let found = self
                    .block_at(height)?
                    .txdata
                    .iter()
                    .find(|t| t.compute_txid() == *txid)
                    .map(|t| (t, Some(height)));
                if found.is_none() {
                    return Err(rpc_error(
                        RPC_INVALID_ADDRESS_OR_KEY,
                        "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
                    ));
                }
                found
            }
            None => match self
                .mempool_index
                .get(txid)
                .and_then(|i| self.mempool.get(*i))
            {
                Some(entry) => Some((&entry.tx, None)),
                None => self.tx_index.get(txid).and_then(|(height, position)| {
                    let tx = self.blocks.get(*height)?.txdata.get(*position)?;
                    Some((tx, Some(*height)))
                }),
            },
        };
        let Some((tx, height)) = found else {
            return Err(rpc_error(
                RPC_INVALID_ADDRESS_OR_KEY,
                "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.",
            ));
        };
        if verbosity <= 0 {
            return Ok(json!(serialize_hex(tx)));
        }
        let mut object = tx_json(tx);
        if let (Value::Object(map), Some(height)) = (&mut object, height) {
            if in_block.is_some() {
                map.insert("in_active_chain".into(), json!(true));
            }
            let block = self.block_at(height)?;
            map.insert("blockhash".into(), json!(block.block_hash().to_string()));
            map.insert("confirmations".into(), json!(self.confirmations(height)));
            map.insert("time".into(), json!(block.header.time));
            map.insert("blocktime".into(), json!(block.header.time));
        }
        Ok(object)
    }

    fn tx_out(&self, outpoint: OutPoint, include_mempool: bool) -> Value {
        let (output, confirmations, coinbase) = match self.utxos.get(&outpoint) {
            Some(_) if include_mempool && self.mempool_spends.contains_key(&outpoint) => {
                return Value::Null;
            }
            Some(coin) => (&coin.output, self.confirmations(coin.height), coin.coinbase),
            None if include_mempool => match self.mempool_output(&outpoint) {
                Some(output) if !self.mempool_spends.contains_key(&outpoint) => (output, 0, false),
                _ => return Value::Null,
            },
            None => return Value::Null,
        };
        json!({
            "bestblock": self.tip_hash().to_string(),
            "confirmations": confirmations,
            "value": output.value.to_btc(),
            "scriptPubKey": script_json(&output.script_pubkey),
            "coinbase": coinbase,
        })
    }

    fn tx_out_proof(
        &self,
        txids: &[Txid],
        in_block: Option<BlockHash>,
    ) -> Result<MerkleBlock, RpcError> {
        let height = match in_block {
            Some(hash) => self.block_height(&hash)?,
            None => txids
                .first()
                .and_then(|t| self.tx_index.get(t))
                .map(|(height, _)| *height)
                .ok_or_else(|| {
                    rpc_error(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not yet in block")
                })?,
        };
        let block = self.block_at(height)?;
        let in_it: HashSet<Txid> = block.txdata.iter().map(Transaction::compute_txid).collect();
        if !txids.iter().all(|t| in_it.contains(t)) {
            return Err(rpc_error(
                RPC_INVALID_ADDRESS_OR_KEY,
                "Not all transactions found in specified or retrieved block",
            ));
        }
        Ok(MerkleBlock::from_block_with_predicate(block, |t| {
            txids.contains(t)
        }))
    }

    fn raw_mempool(&self, verbose: bool, sequence: bool) -> Result<Value, RpcError> {
        if verbose && sequence {
            return Err(rpc_error(
                RPC_INVALID_PARAMETER,
                "Verbose results cannot contain mempool sequence values.",
            ));
        }
        if !verbose {
            let txids: Vec<Value> = self
                .mempool
                .iter()
                .map(|e| json!(e.txid.to_string()))
                .collect();
            return Ok(if sequence {
                json!({"txids": txids, "mempool_sequence": self.mempool_sequence})
            } else {
                Value::Array(txids)
            });
        }
        let mut object = Map::new();
        for entry in &self.mempool {
            let depends: Vec<Value> = entry
                .tx
                .input
                .iter()
                .map(|i| i.previous_output.txid)
                .filter(|t| self.mempool_index.contains_key(t))
                .map(|t| json!(t.to_string()))
                .collect();
            object.insert(
                entry.txid.to_string(),
                json!({
                    "vsize": entry.tx.vsize(),
                    "weight": entry.tx.weight().to_wu(),
                    "time": entry.time,
                    "height": to_u64(self.tip_height()),
                    "wtxid": entry.tx.compute_wtxid().to_string(),
                    "fees": {"base": entry.fee.to_btc(), "modified": entry.fee.to_btc()},
                    "depends": depends,
                    "bip125-replaceable": entry.tx.is_explicitly_rbf(),
                }),
            );
        }
        Ok(Value::Object(object))
    }
}

/// Why a P2WPKH input fails, in Core's words; `mandatory` for consensus failures.
struct ScriptFailure {
    mandatory: bool,
    reason: &'static str,
}

const EVAL_FALSE: ScriptFailure = ScriptFailure {
    mandatory: true,
    reason: "Script evaluated without error but finished with a false/empty top stack element",
};

/// BIP143 P2WPKH: witness `[signature + hash type, compressed public key]`, the key's HASH160
/// equal to the program, an ECDSA signature valid for the sighash.
fn verify_p2wpkh(
    secp: &Secp256k1<All>,
    tx: &Transaction,
    cache: &mut SighashCache<&Transaction>,
    index: usize,
    prevout: &TxOut,
) -> Result<(), ScriptFailure> {
    let input = tx.input.get(index).ok_or(EVAL_FALSE)?;
    if !input.script_sig.is_empty() {
        return Err(ScriptFailure {
            mandatory: true,
            reason: "Witness requires empty scriptSig",
        });
    }
    if input.witness.is_empty() {
        return Err(ScriptFailure {
            mandatory: true,
            reason: "Witness program was passed an empty witness",
        });
    }
    let (Some(signature), Some(pubkey), 2) = (
        input.witness.nth(0),
        input.witness.nth(1),
        input.witness.len(),
    ) else {
        return Err(ScriptFailure {
            mandatory: true,
            reason: "Witness program hash mismatch",
        });
    };
    let program = prevout
        .script_pubkey
        .as_bytes()
        .get(2..22)
        .ok_or(EVAL_FALSE)?;
    if hash160::Hash::hash(pubkey).as_byte_array().as_slice() != program {
        return Err(ScriptFailure {
            mandatory: true,
            reason: "Script failed an OP_EQUALVERIFY operation",
        });
    }
    let Ok(key) = secp256k1::PublicKey::from_slice(pubkey) else {
        return Err(EVAL_FALSE);
    };
    if pubkey.len() != 33 {
        return Err(ScriptFailure {
            mandatory: false,
            reason: "Using non-compressed keys in segwit",
        });
    }
    let Some((hash_type, der)) = signature.split_last() else {
        return Err(EVAL_FALSE);
    };
    let Ok(sighash_type) = EcdsaSighashType::from_standard(u32::from(*hash_type)) else {
        return Err(ScriptFailure {
            mandatory: false,
            reason: "Signature hash type missing or not understood",
        });
    };
    let Ok(sig) = secp256k1::ecdsa::Signature::from_der(der) else {
        return Err(ScriptFailure {
            mandatory: true,
            reason: "Non-canonical DER signature",
        });
    };
    let mut normalized = sig;
    normalized.normalize_s();
    if normalized != sig {
        return Err(ScriptFailure {
            mandatory: false,
            reason: "Non-canonical signature: S value is unnecessarily high",
        });
    }
    let sighash = cache
        .p2wpkh_signature_hash(index, &prevout.script_pubkey, prevout.value, sighash_type)
        .map_err(|_| EVAL_FALSE)?;
    let message = Message::from_digest(sighash.to_byte_array());
    secp.verify_ecdsa(&message, &sig, &key)
        .map_err(|_| EVAL_FALSE)
}

/// Core's `scriptPubKey` object: `asm`, `hex`, `address` (when there is one) and `type`.
fn script_json(script: &Script) -> Value {
    let kind = if script.is_p2wpkh() {
        "witness_v0_keyhash"
    } else if script.is_p2wsh() {
        "witness_v0_scripthash"
    } else if script.is_p2tr() {
        "witness_v1_taproot"
    } else if script.is_p2pkh() {
        "pubkeyhash"
    } else if script.is_p2sh() {
        "scripthash"
    } else if script.is_p2pk() {
        "pubkey"
    } else if script.is_multisig() {
        "multisig"
    } else if script.is_op_return() {
        "nulldata"
    } else if script.is_witness_program() {
        "witness_unknown"
    } else {
        "nonstandard"
    };
    let mut object = Map::new();
    object.insert("asm".into(), json!(script.to_asm_string()));
    object.insert("hex".into(), json!(script.to_hex_string()));
    if let Ok(address) = Address::from_script(script, Network::Regtest) {
        object.insert("address".into(), json!(address.to_string()));
    }
    object.insert("type".into(), json!(kind));
    Value::Object(object)
}

/// Core's decoded transaction object (without chain context).
fn tx_json(tx: &Transaction) -> Value {
    let vin: Vec<Value> = tx
        .input
        .iter()
        .map(|input| {
            let mut object = Map::new();
            if tx.is_coinbase() {
                object.insert("coinbase".into(), json!(input.script_sig.to_hex_string()));
            } else {
                object.insert("txid".into(), json!(input.previous_output.txid.to_string()));
                object.insert("vout".into(), json!(input.previous_output.vout));
                object.insert(
                    "scriptSig".into(),
                    json!({
                        "asm": input.script_sig.to_asm_string(),
                        "hex": input.script_sig.to_hex_string(),
                    }),
                );
            }
            if !input.witness.is_empty() {
                let items: Vec<Value> = input
                    .witness
                    .iter()
                    .map(|w| json!(hex::encode(w)))
                    .collect();
                object.insert("txinwitness".into(), Value::Array(items));
            }
            object.insert("sequence".into(), json!(input.sequence.0));
            Value::Object(object)
        })
        .collect();
    let vout: Vec<Value> = tx
        .output
        .iter()
        .enumerate()
        .map(|(n, output)| {
            json!({
                "value": output.value.to_btc(),
                "n": n,
                "scriptPubKey": script_json(&output.script_pubkey),
            })
        })
        .collect();
    json!({
        "txid": tx.compute_txid().to_string(),
        "hash": tx.compute_wtxid().to_string(),
        "version": tx.version.0,
        "size": tx.total_size(),
        "vsize": tx.vsize(),
        "weight": tx.weight().to_wu(),
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": vin,
        "vout": vout,
        "hex": serialize_hex(tx),
    })
}

// ---------------------------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------------------------

/// `blocks.dat`: records of a little-endian `u32` length and a consensus-encoded block, in chain
/// order from height 1, each appended with fsync.
struct BlockStore {
    path: PathBuf,
    file: File,
    len: u64,
}

impl BlockStore {
    fn open(dir: &Path) -> Result<(Self, Vec<Block>), RegtestDoubleError> {
        let path = dir.join(BLOCKS_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut blocks = Vec::new();
        let mut rest: &[u8] = &bytes;
        let mut good: u64 = 0;
        while let Some((len_bytes, after)) = rest.split_first_chunk::<4>() {
            let Ok(len) = usize::try_from(u32::from_le_bytes(*len_bytes)) else {
                break;
            };
            let Some((record, after)) = after.split_at_checked(len) else {
                break;
            };
            let block: Block = deserialize(record).map_err(|e| RegtestDoubleError::Store {
                path: path.clone(),
                reason: format!("record at byte {good}: {e}"),
            })?;
            blocks.push(block);
            good = good.saturating_add(to_u64(len)).saturating_add(4);
            rest = after;
        }
        if !rest.is_empty() {
            // A record cut short by a crash during its append: it was never acknowledged.
            tracing::warn!(path = %path.display(), bytes = rest.len(), "regtest double: dropping a partial block record");
            file.set_len(good)?;
            file.sync_all()?;
        }
        Ok((
            Self {
                path,
                file,
                len: good,
            },
            blocks,
        ))
    }

    fn append(&mut self, block: &Block) -> std::io::Result<()> {
        let bytes = serialize(block);
        let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
        let mut record = Vec::with_capacity(bytes.len().saturating_add(4));
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&bytes);
        let written = self
            .file
            .write_all(&record)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave no partial record behind for the next append to follow.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len = self.len.saturating_add(to_u64(record.len()));
        Ok(())
    }
}

fn random_secret() -> SecretKey {
    loop {
        // Any 32 bytes below the curve order (all but about 2^-128 of them) are a key.
        if let Ok(key) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            return key;
        }
    }
}

/// The wallet key kept in the data directory. It guards regtest coins of a test double only, so
/// it is stored as plain hex, readable by its owner alone (0600).
fn load_or_create_key(dir: &Path) -> Result<SecretKey, RegtestDoubleError> {
    let path = dir.join(KEY_FILE);
    let bad = |reason: String| RegtestDoubleError::Key {
        path: path.clone(),
        reason,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| bad(e.to_string()))?;
            SecretKey::from_slice(&bytes).map_err(|e| bad(e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join(BLOCKS_FILE).exists() {
                tracing::warn!(path = %path.display(), "regtest double: wallet key missing; the stored chain's wallet coins are lost");
            }
            let secret = random_secret();
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&path)?;
            file.write_all(hex::encode(secret.secret_bytes()).as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        Err(e) => Err(e.into()),
    }
}

//! A typed async client of Bitcoin Core's JSON-RPC interface.
//!
//! Each call is one HTTP POST of a JSON-RPC 1.0 envelope
//! (`{"jsonrpc":"1.0","id":N,"method":..,"params":[..]}`) with HTTP basic authentication. Bitcoin
//! Core answers an error as `{"result":null,"error":{"code":..,"message":..},"id":N}` with HTTP
//! status 500 (404 for an unknown method); such an error object is returned as
//! [`BitcoinRpcError::Rpc`] whatever the status. Results are decoded into the `bitcoin` crate's
//! types: hex is read with [`deserialize_hex`] and written with [`serialize_hex`].

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::consensus::Decodable;
use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::merkle_tree::MerkleBlock;
use bitcoin::{Address, Amount, Block, BlockHash, FeeRate, ScriptBuf, Transaction, Txid};
use serde_json::{Value, json};

/// How long one call may take when no other timeout is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BitcoinRpcError {
    /// The request did not get an HTTP answer (connection refused, timeout, TLS, ...).
    #[error("bitcoin RPC transport error: {0}")]
    Transport(String),
    /// An HTTP status other than success, without a JSON-RPC error object (401 for bad
    /// credentials, for instance).
    #[error("bitcoin RPC answered HTTP {status}: {body}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The response body, as text (lossy).
        body: String,
    },
    /// The node's JSON-RPC error object, whatever the HTTP status.
    #[error("bitcoin RPC error {code}: {message}")]
    Rpc {
        /// Bitcoin Core's error code (-5 not found, -25 missing inputs, -26 rejected, ...).
        code: i64,
        /// Bitcoin Core's message.
        message: String,
    },
    /// The answer is not what the method returns.
    #[error("bitcoin RPC {method}: cannot decode the result: {reason}")]
    Decode {
        /// The RPC method called.
        method: String,
        /// What was wrong.
        reason: String,
    },
}

/// A password that `Debug` never shows.
#[derive(Clone)]
struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A client of one Bitcoin Core node's JSON-RPC interface.
#[derive(Debug)]
pub struct BitcoinRpc {
    url: String,
    user: String,
    password: Password,
    http: reqwest::Client,
    next_id: AtomicU64,
}

/// What `getblockheader <hash> true` says of a block's place in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeaderInfo {
    /// The block's height.
    pub height: u64,
    /// Confirmations: 1 for the tip, -1 for a block not in the active chain.
    pub confirmations: i64,
    /// The next block in the active chain, if any.
    pub next: Option<BlockHash>,
}

/// What `getrawtransaction <txid> true` says of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTransactionInfo {
    /// The transaction.
    pub transaction: Transaction,
    /// The block that contains it; `None` while it is in the mempool.
    pub blockhash: Option<BlockHash>,
    /// Confirmations (0 while in the mempool).
    pub confirmations: u64,
}

/// An unspent output, as `gettxout` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutInfo {
    /// The output's value.
    pub value: Amount,
    /// Confirmations (0 for an output of a mempool transaction).
    pub confirmations: u64,
    /// The output's script.
    pub script_pubkey: ScriptBuf,
}

impl BitcoinRpc {
    /// A client of the node at `url` (`http://host:port`, optionally with a `/wallet/NAME`
    /// path), with [`DEFAULT_TIMEOUT`] per call.
    pub fn new(
        url: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, BitcoinRpcError> {
        Self::with_timeout(url, user, password, DEFAULT_TIMEOUT)
    }

    /// A client whose every call gives up after `timeout`.
    pub fn with_timeout(
        url: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, BitcoinRpcError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| BitcoinRpcError::Transport(e.to_string()))?;
        Ok(Self {
            url: url.into(),
            user: user.into(),
            password: Password(password.into()),
            http,
            next_id: AtomicU64::new(1),
        })
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with positional `params` and returns the raw `result`.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, BitcoinRpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let envelope = json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params});
        tracing::debug!(method, id, "bitcoin RPC call");
        let response = self
            .http
            .post(&self.url)
            .basic_auth(&self.user, Some(&self.password.0))
            .json(&envelope)
            .send()
            .await
            .map_err(|e| BitcoinRpcError::Transport(e.to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| BitcoinRpcError::Transport(e.to_string()))?;
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        if let Some(error) = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .filter(|e| !e.is_null())
        {
            let code = error.get("code").and_then(Value::as_i64);
            let message = error.get("message").and_then(Value::as_str);
            if let (Some(code), Some(message)) = (code, message) {
                return Err(BitcoinRpcError::Rpc {
                    code,
                    message: message.to_owned(),
                });
            }
        }
        if !status.is_success() {
            return Err(BitcoinRpcError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        match parsed {
            Some(Value::Object(mut map)) => Ok(map.remove("result").unwrap_or(Value::Null)),
            _ => Err(decode_error(method, "the answer is not a JSON-RPC object")),
        }
    }

    /// `getblockcount`: the height of the active chain's tip.
    pub async fn get_block_count(&self) -> Result<u64, BitcoinRpcError> {
        const METHOD: &str = "getblockcount";
        let v = self.call(METHOD, vec![]).await?;
        as_u64(METHOD, &v, "the block count")
    }

    /// `getbestblockhash`: the hash of the active chain's tip.
    pub async fn get_best_block_hash(&self) -> Result<BlockHash, BitcoinRpcError> {
        const METHOD: &str = "getbestblockhash";
        let v = self.call(METHOD, vec![]).await?;
        parse_str(METHOD, &v, "the block hash")
    }

    /// `getblockhash <height>`: the hash of the active chain's block at `height`.
    pub async fn get_block_hash(&self, height: u64) -> Result<BlockHash, BitcoinRpcError> {
        const METHOD: &str = "getblockhash";
        let v = self.call(METHOD, vec![json!(height)]).await?;
        parse_str(METHOD, &v, "the block hash")
    }

    /// `getblockheader <hash> false`: the block's 80-byte header.
    pub async fn get_block_header(&self, hash: &BlockHash) -> Result<Header, BitcoinRpcError> {
        const METHOD: &str = "getblockheader";
        let v = self
            .call(METHOD, vec![json!(hash.to_string()), json!(false)])
            .await?;
        from_hex(METHOD, &v)
    }

    /// `getblockheader <hash> true`: the block's height, confirmations and successor.
    pub async fn get_block_header_info(
        &self,
        hash: &BlockHash,
    ) -> Result<BlockHeaderInfo, BitcoinRpcError> {
        const METHOD: &str = "getblockheader";
        let v = self
            .call(METHOD, vec![json!(hash.to_string()), json!(true)])
            .await?;
        let height = as_u64(METHOD, field(METHOD, &v, "height")?, "height")?;
        let confirmations = field(METHOD, &v, "confirmations")?
            .as_i64()
            .ok_or_else(|| decode_error(METHOD, "confirmations is not an integer"))?;
        let next = match v.get("nextblockhash") {
            None | Some(Value::Null) => None,
            Some(n) => Some(parse_str(METHOD, n, "nextblockhash")?),
        };
        Ok(BlockHeaderInfo {
            height,
            confirmations,
            next,
        })
    }

    /// `getblock <hash> 0`: the whole block.
    pub async fn get_block(&self, hash: &BlockHash) -> Result<Block, BitcoinRpcError> {
        const METHOD: &str = "getblock";
        let v = self
            .call(METHOD, vec![json!(hash.to_string()), json!(0)])
            .await?;
        from_hex(METHOD, &v)
    }

    /// `getrawtransaction <txid> false`: the transaction (mempool, or any block with
    /// `-txindex`).
    pub async fn get_raw_transaction(&self, txid: &Txid) -> Result<Transaction, BitcoinRpcError> {
        const METHOD: &str = "getrawtransaction";
        let v = self
            .call(METHOD, vec![json!(txid.to_string()), json!(false)])
            .await?;
        from_hex(METHOD, &v)
    }

    /// `getrawtransaction <txid> true`: the transaction with the block it is in, if any.
    pub async fn get_raw_transaction_info(
        &self,
        txid: &Txid,
    ) -> Result<RawTransactionInfo, BitcoinRpcError> {
        const METHOD: &str = "getrawtransaction";
        let v = self
            .call(METHOD, vec![json!(txid.to_string()), json!(true)])
            .await?;
        let transaction = from_hex(METHOD, field(METHOD, &v, "hex")?)?;
        let blockhash = match v.get("blockhash") {
            None | Some(Value::Null) => None,
            Some(h) => Some(parse_str(METHOD, h, "blockhash")?),
        };
        let confirmations = match v.get("confirmations") {
            None | Some(Value::Null) => 0,
            Some(c) => as_u64(METHOD, c, "confirmations")?,
        };
        Ok(RawTransactionInfo {
            transaction,
            blockhash,
            confirmations,
        })
    }

    /// `sendrawtransaction <hex>`: submits the transaction to the mempool and relays it.
    pub async fn send_raw_transaction(&self, tx: &Transaction) -> Result<Txid, BitcoinRpcError> {
        const METHOD: &str = "sendrawtransaction";
        let v = self.call(METHOD, vec![json!(serialize_hex(tx))]).await?;
        parse_str(METHOD, &v, "the txid")
    }

    /// `gettxoutproof ["txid",..]`: a BIP37 merkle block proving the transactions are in one
    /// block.
    pub async fn get_tx_out_proof(&self, txids: &[Txid]) -> Result<MerkleBlock, BitcoinRpcError> {
        const METHOD: &str = "gettxoutproof";
        let ids: Vec<Value> = txids.iter().map(|t| json!(t.to_string())).collect();
        let v = self.call(METHOD, vec![Value::Array(ids)]).await?;
        from_hex(METHOD, &v)
    }

    /// `getrawmempool`: the txids of the mempool's transactions.
    pub async fn get_raw_mempool(&self) -> Result<Vec<Txid>, BitcoinRpcError> {
        const METHOD: &str = "getrawmempool";
        let v = self.call(METHOD, vec![]).await?;
        let list = v
            .as_array()
            .ok_or_else(|| decode_error(METHOD, "not an array"))?;
        list.iter()
            .map(|t| parse_str(METHOD, t, "a txid"))
            .collect()
    }

    /// `estimatesmartfee <conf_target>`: the fee rate to confirm within `conf_target` blocks, or
    /// `None` when the node has no estimate.
    ///
    /// Core's BTC-per-kvB float is read as an exact number of satoshis per kvB (the float's
    /// shortest decimal form, at most 8 decimals), then rounded up to whole sat per kwu.
    pub async fn estimate_smart_fee(
        &self,
        conf_target: u16,
    ) -> Result<Option<FeeRate>, BitcoinRpcError> {
        const METHOD: &str = "estimatesmartfee";
        let v = self.call(METHOD, vec![json!(conf_target)]).await?;
        let Some(rate) = v.get("feerate").filter(|r| !r.is_null()) else {
            return Ok(None);
        };
        let btc_per_kvb = rate
            .as_f64()
            .ok_or_else(|| decode_error(METHOD, "feerate is not a number"))?;
        let sat_per_kvb = Amount::from_btc(btc_per_kvb)
            .map_err(|e| decode_error(METHOD, &format!("feerate {btc_per_kvb}: {e}")))?
            .to_sat();
        // 1 kvB = 4 kwu: round up so that the rate never falls below the node's estimate.
        Ok(Some(FeeRate::from_sat_per_kwu(sat_per_kvb.div_ceil(4))))
    }

    /// `generatetoaddress <n> <address>`: mines `n` blocks paying to `address` (regtest).
    pub async fn generate_to_address(
        &self,
        n: u64,
        address: &Address,
    ) -> Result<Vec<BlockHash>, BitcoinRpcError> {
        const METHOD: &str = "generatetoaddress";
        let v = self
            .call(METHOD, vec![json!(n), json!(address.to_string())])
            .await?;
        let list = v
            .as_array()
            .ok_or_else(|| decode_error(METHOD, "not an array"))?;
        list.iter()
            .map(|h| parse_str(METHOD, h, "a block hash"))
            .collect()
    }

    /// `getnewaddress`: an address of the node's wallet.
    pub async fn get_new_address(
        &self,
    ) -> Result<Address<bitcoin::address::NetworkUnchecked>, BitcoinRpcError> {
        const METHOD: &str = "getnewaddress";
        let v = self.call(METHOD, vec![]).await?;
        parse_str(METHOD, &v, "the address")
    }

    /// `sendtoaddress <address> <amount>`: the node's wallet pays `amount` to `address`.
    pub async fn send_to_address(
        &self,
        address: &Address,
        amount: Amount,
    ) -> Result<Txid, BitcoinRpcError> {
        const METHOD: &str = "sendtoaddress";
        let v = self
            .call(
                METHOD,
                vec![json!(address.to_string()), json!(amount.to_btc())],
            )
            .await?;
        parse_str(METHOD, &v, "the txid")
    }

    /// `gettxout <txid> <vout>` (mempool included): the output if it is unspent, `None` if it is
    /// spent or unknown.
    pub async fn get_tx_out(
        &self,
        txid: &Txid,
        vout: u32,
    ) -> Result<Option<TxOutInfo>, BitcoinRpcError> {
        const METHOD: &str = "gettxout";
        let v = self
            .call(METHOD, vec![json!(txid.to_string()), json!(vout)])
            .await?;
        if v.is_null() {
            return Ok(None);
        }
        let btc = field(METHOD, &v, "value")?
            .as_f64()
            .ok_or_else(|| decode_error(METHOD, "value is not a number"))?;
        let value = Amount::from_btc(btc)
            .map_err(|e| decode_error(METHOD, &format!("value {btc}: {e}")))?;
        let confirmations = as_u64(METHOD, field(METHOD, &v, "confirmations")?, "confirmations")?;
        let script_hex = field(METHOD, field(METHOD, &v, "scriptPubKey")?, "hex")?
            .as_str()
            .ok_or_else(|| decode_error(METHOD, "scriptPubKey.hex is not a string"))?;
        let script_pubkey = ScriptBuf::from_hex(script_hex)
            .map_err(|e| decode_error(METHOD, &format!("scriptPubKey.hex: {e}")))?;
        Ok(Some(TxOutInfo {
            value,
            confirmations,
            script_pubkey,
        }))
    }
}

fn decode_error(method: &str, reason: &str) -> BitcoinRpcError {
    BitcoinRpcError::Decode {
        method: method.to_owned(),
        reason: reason.to_owned(),
    }
}

fn field<'v>(method: &str, v: &'v Value, name: &str) -> Result<&'v Value, BitcoinRpcError> {
    v.get(name)
        .ok_or_else(|| decode_error(method, &format!("no field {name}")))
}

fn as_u64(method: &str, v: &Value, what: &str) -> Result<u64, BitcoinRpcError> {
    v.as_u64()
        .ok_or_else(|| decode_error(method, &format!("{what} is not a non-negative integer")))
}

fn parse_str<T>(method: &str, v: &Value, what: &str) -> Result<T, BitcoinRpcError>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    let s = v
        .as_str()
        .ok_or_else(|| decode_error(method, &format!("{what} is not a string")))?;
    s.parse()
        .map_err(|e| decode_error(method, &format!("{what} {s:?}: {e}")))
}

fn from_hex<T: Decodable>(method: &str, v: &Value) -> Result<T, BitcoinRpcError> {
    let s = v
        .as_str()
        .ok_or_else(|| decode_error(method, "the result is not a hex string"))?;
    deserialize_hex(s).map_err(|e| decode_error(method, &e.to_string()))
}

#![cfg(feature = "service")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]
//! The regtest double of Bitcoin Core, driven only through `BitcoinRpc` over a loopback socket
//! (and, for the fuzz test, raw HTTP on the same socket).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use mainstay::bitcoin::blockdata::constants::genesis_block;
use mainstay::bitcoin::hashes::Hash;
use mainstay::bitcoin::secp256k1::{self, Message, Secp256k1, SecretKey};
use mainstay::bitcoin::sighash::{EcdsaSighashType, SighashCache};
use mainstay::bitcoin::{
    Address, Amount, CompressedPublicKey, FeeRate, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Txid, Witness, absolute, ecdsa, transaction,
};
use mainstay::bitcoin_rpc::{BitcoinRpc, BitcoinRpcError};
use mainstay::regtest_double::RegtestDouble;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

const USER: &str = "rpcuser";
const PASSWORD: &str = "rpc password: regtest only";

fn start(data_dir: Option<PathBuf>) -> (RegtestDouble, BitcoinRpc) {
    let double = RegtestDouble::spawn("127.0.0.1:0", USER, PASSWORD, data_dir).unwrap();
    let rpc =
        BitcoinRpc::with_timeout(double.url(), USER, PASSWORD, Duration::from_secs(20)).unwrap();
    (double, rpc)
}

/// A P2WPKH key the test holds.
struct Key {
    secret: SecretKey,
    public: CompressedPublicKey,
    address: Address,
}

fn key(byte: u8) -> Key {
    let secp = Secp256k1::new();
    let secret = SecretKey::from_slice(&[byte; 32]).unwrap();
    let public = CompressedPublicKey(secp256k1::PublicKey::from_secret_key(&secp, &secret));
    let address = Address::p2wpkh(&public, Network::Regtest);
    Key {
        secret,
        public,
        address,
    }
}

/// Signs input `index` (P2WPKH, `SIGHASH_ALL`) over a BIP143 sighash that commits to
/// `signed_value` (the spent output's value when honest).
fn sign(tx: &mut Transaction, index: usize, prevout: &TxOut, key: &Key, signed_value: Amount) {
    let secp = Secp256k1::new();
    let sighash = SighashCache::new(&*tx)
        .p2wpkh_signature_hash(
            index,
            &prevout.script_pubkey,
            signed_value,
            EcdsaSighashType::All,
        )
        .unwrap();
    let signature = secp.sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &key.secret);
    let signature = ecdsa::Signature {
        signature,
        sighash_type: EcdsaSighashType::All,
    };
    tx.input[index].witness = Witness::p2wpkh(&signature, &key.public.0);
}

fn spend(outpoint: OutPoint, to: &Address, value: Amount) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: to.script_pubkey(),
        }],
    }
}

async fn wallet_address(rpc: &BitcoinRpc) -> Address {
    rpc.get_new_address()
        .await
        .unwrap()
        .require_network(Network::Regtest)
        .unwrap()
}

/// Pays `amount` to `to` from the double's wallet, mines it, and returns the output.
async fn fund(rpc: &BitcoinRpc, to: &Address, amount: Amount) -> (OutPoint, TxOut) {
    let txid = rpc.send_to_address(to, amount).await.unwrap();
    rpc.generate_to_address(1, &wallet_address(rpc).await)
        .await
        .unwrap();
    let tx = rpc.get_raw_transaction(&txid).await.unwrap();
    let vout = tx
        .output
        .iter()
        .position(|o| o.script_pubkey == to.script_pubkey())
        .unwrap();
    (
        OutPoint::new(txid, u32::try_from(vout).unwrap()),
        tx.output[vout].clone(),
    )
}

fn expect_rpc_error<T: std::fmt::Debug>(result: Result<T, BitcoinRpcError>, code: i64) -> String {
    match result {
        Err(BitcoinRpcError::Rpc { code: c, message }) if c == code => message,
        other => panic!("expected RPC error {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn starts_at_regtest_genesis_with_funded_wallet() {
    let (double, rpc) = start(None);
    let genesis = genesis_block(Network::Regtest);
    assert_eq!(rpc.get_block_hash(0).await.unwrap(), genesis.block_hash());
    assert_eq!(rpc.get_block_count().await.unwrap(), 101);
    let info = rpc.call("getblockchaininfo", vec![]).await.unwrap();
    assert_eq!(info["chain"], "regtest");
    assert_eq!(info["blocks"], 101);
    assert_eq!(
        info["bestblockhash"],
        rpc.get_best_block_hash().await.unwrap().to_string()
    );
    // The funding coinbases pay the wallet's address, the one getnewaddress gives.
    let first = rpc
        .get_block(&rpc.get_block_hash(1).await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        first.txdata[0].output[0].script_pubkey,
        wallet_address(&rpc).await.script_pubkey()
    );
    double.stop();
}

#[tokio::test]
async fn mined_blocks_have_valid_pow_bip34_coinbase_and_link() {
    let (double, rpc) = start(None);
    let miner = key(0x21).address;
    let start_height = rpc.get_block_count().await.unwrap();
    let mut previous = rpc.get_best_block_hash().await.unwrap();
    let hashes = rpc.generate_to_address(5, &miner).await.unwrap();
    assert_eq!(hashes.len(), 5);
    assert_eq!(rpc.get_block_count().await.unwrap(), start_height + 5);
    assert_eq!(rpc.get_best_block_hash().await.unwrap(), hashes[4]);
    for (i, hash) in hashes.iter().enumerate() {
        let height = start_height + 1 + i as u64;
        let header = rpc.get_block_header(hash).await.unwrap();
        assert_eq!(header.block_hash(), *hash);
        assert_eq!(header.bits.to_consensus(), 0x207f_ffff);
        assert_eq!(header.validate_pow(header.target()).unwrap(), *hash);
        assert_eq!(header.prev_blockhash, previous);
        assert_eq!(rpc.get_block_hash(height).await.unwrap(), *hash);
        let info = rpc.get_block_header_info(hash).await.unwrap();
        assert_eq!(info.height, height);
        assert_eq!(info.confirmations, i64::try_from(5 - i).unwrap());
        assert_eq!(info.next, hashes.get(i + 1).copied());
        let block = rpc.get_block(hash).await.unwrap();
        assert!(block.check_merkle_root());
        assert!(block.check_witness_commitment());
        assert_eq!(block.bip34_block_height().unwrap(), height);
        let coinbase = &block.txdata[0];
        assert!(coinbase.is_coinbase());
        assert_eq!(coinbase.output[0].script_pubkey, miner.script_pubkey());
        assert_eq!(coinbase.output[0].value, Amount::from_int_btc(50));
        previous = *hash;
    }
    // The verbose header has Core's fields.
    let verbose = rpc
        .call("getblockheader", vec![json!(hashes[0].to_string())])
        .await
        .unwrap();
    assert_eq!(verbose["bits"], "207fffff");
    assert_eq!(verbose["nextblockhash"], hashes[1].to_string());
    assert_eq!(verbose["height"], start_height + 1);
    double.stop();
}

#[tokio::test]
async fn subsidy_halves_every_150_blocks() {
    let (double, rpc) = start(None);
    let miner = key(0x22).address;
    let height = rpc.get_block_count().await.unwrap();
    rpc.generate_to_address(150 - height, &miner).await.unwrap();
    let value_at = |h: u64| {
        let rpc = &rpc;
        async move {
            let block = rpc
                .get_block(&rpc.get_block_hash(h).await.unwrap())
                .await
                .unwrap();
            block.txdata[0].output[0].value
        }
    };
    assert_eq!(value_at(149).await, Amount::from_int_btc(50));
    assert_eq!(value_at(150).await, Amount::from_sat(2_500_000_000));
    double.stop();
}

#[tokio::test]
async fn send_to_address_enters_mempool_then_confirms_with_merkle_proof() {
    let (double, rpc) = start(None);
    let payee = key(0x31).address;
    let txid = rpc
        .send_to_address(&payee, Amount::from_sat(12_345_678))
        .await
        .unwrap();
    assert_eq!(rpc.get_raw_mempool().await.unwrap(), vec![txid]);

    let pending = rpc.get_raw_transaction_info(&txid).await.unwrap();
    assert_eq!(pending.blockhash, None);
    assert_eq!(pending.confirmations, 0);
    assert_eq!(pending.transaction.compute_txid(), txid);
    assert_eq!(
        pending.transaction.output[0].script_pubkey,
        payee.script_pubkey()
    );
    assert_eq!(
        pending.transaction.output[0].value,
        Amount::from_sat(12_345_678)
    );
    let message = expect_rpc_error(rpc.get_tx_out_proof(&[txid]).await, -5);
    assert_eq!(message, "Transaction not yet in block");
    let unconfirmed = rpc.get_tx_out(&txid, 0).await.unwrap().unwrap();
    assert_eq!(unconfirmed.confirmations, 0);

    let block_hash = rpc
        .generate_to_address(1, &key(0x32).address)
        .await
        .unwrap()[0];
    assert!(rpc.get_raw_mempool().await.unwrap().is_empty());
    let confirmed = rpc.get_raw_transaction_info(&txid).await.unwrap();
    assert_eq!(confirmed.blockhash, Some(block_hash));
    assert_eq!(confirmed.confirmations, 1);

    let proof = rpc.get_tx_out_proof(&[txid]).await.unwrap();
    let header = rpc.get_block_header(&block_hash).await.unwrap();
    assert_eq!(proof.header, header);
    let (mut matches, mut indexes) = (Vec::new(), Vec::new());
    let root = proof
        .txn
        .extract_matches(&mut matches, &mut indexes)
        .unwrap();
    assert_eq!(root, header.merkle_root);
    assert_eq!(matches, vec![txid]);
    assert_eq!(indexes, vec![1]);
    proof.extract_matches(&mut matches, &mut indexes).unwrap();

    // A block with a segwit spend carries a valid BIP141 commitment; the coinbase takes the fee.
    let block = rpc.get_block(&block_hash).await.unwrap();
    assert_eq!(block.txdata.len(), 2);
    assert!(block.check_merkle_root());
    assert!(block.check_witness_commitment());
    assert_eq!(block.txdata[0].input[0].witness.len(), 1);
    assert_eq!(
        block.txdata[0].output[0].value,
        Amount::from_sat(5_000_001_000)
    );

    let out = rpc.get_tx_out(&txid, 0).await.unwrap().unwrap();
    assert_eq!(out.value, Amount::from_sat(12_345_678));
    assert_eq!(out.confirmations, 1);
    assert_eq!(out.script_pubkey, payee.script_pubkey());
    double.stop();
}

#[tokio::test]
async fn wrong_signature_is_refused_and_the_right_one_accepted() {
    let (double, rpc) = start(None);
    let owner = key(0x41);
    let (outpoint, prevout) = fund(&rpc, &owner.address, Amount::from_int_btc(1)).await;
    assert_eq!(prevout.value, Amount::from_int_btc(1));
    let to = key(0x42).address;
    let mut tx = spend(outpoint, &to, Amount::from_sat(99_999_000));

    // A valid ECDSA signature by the right key, but over a sighash committing to another amount.
    sign(
        &mut tx,
        0,
        &prevout,
        &owner,
        prevout.value + Amount::from_sat(1),
    );
    let message = expect_rpc_error(rpc.send_raw_transaction(&tx).await, -26);
    assert!(
        message.starts_with("mandatory-script-verify-flag-failed ("),
        "{message}"
    );
    // The wrong key with the right sighash is refused too (its hash is not the program).
    sign(&mut tx, 0, &prevout, &key(0x43), prevout.value);
    let message = expect_rpc_error(rpc.send_raw_transaction(&tx).await, -26);
    assert!(
        message.starts_with("mandatory-script-verify-flag-failed ("),
        "{message}"
    );
    assert!(rpc.get_raw_mempool().await.unwrap().is_empty());
    assert!(
        rpc.get_tx_out(&outpoint.txid, outpoint.vout)
            .await
            .unwrap()
            .is_some()
    );

    sign(&mut tx, 0, &prevout, &owner, prevout.value);
    let txid = rpc.send_raw_transaction(&tx).await.unwrap();
    assert_eq!(txid, tx.compute_txid());
    assert_eq!(rpc.get_raw_mempool().await.unwrap(), vec![txid]);
    assert!(
        rpc.get_tx_out(&outpoint.txid, outpoint.vout)
            .await
            .unwrap()
            .is_none()
    );
    rpc.generate_to_address(1, &to).await.unwrap();
    assert_eq!(
        rpc.get_raw_transaction_info(&txid)
            .await
            .unwrap()
            .confirmations,
        1
    );
    double.stop();
}

#[tokio::test]
async fn double_spends_are_refused_with_missingorspent() {
    let (double, rpc) = start(None);
    let owner = key(0x51);
    let (outpoint, prevout) = fund(&rpc, &owner.address, Amount::from_int_btc(2)).await;

    let mut first = spend(outpoint, &key(0x52).address, Amount::from_sat(199_999_000));
    sign(&mut first, 0, &prevout, &owner, prevout.value);
    rpc.send_raw_transaction(&first).await.unwrap();

    // Against the mempool.
    let mut second = spend(outpoint, &key(0x53).address, Amount::from_sat(199_990_000));
    sign(&mut second, 0, &prevout, &owner, prevout.value);
    let message = expect_rpc_error(rpc.send_raw_transaction(&second).await, -25);
    assert_eq!(message, "bad-txns-inputs-missingorspent");

    // Against the chain.
    rpc.generate_to_address(1, &owner.address).await.unwrap();
    let message = expect_rpc_error(rpc.send_raw_transaction(&second).await, -25);
    assert_eq!(message, "bad-txns-inputs-missingorspent");

    // An unknown outpoint.
    let unknown = OutPoint::new(Txid::from_byte_array([7; 32]), 0);
    let mut third = spend(unknown, &owner.address, Amount::from_sat(1_000));
    sign(&mut third, 0, &prevout, &owner, prevout.value);
    let message = expect_rpc_error(rpc.send_raw_transaction(&third).await, -25);
    assert_eq!(message, "bad-txns-inputs-missingorspent");

    // Resending the confirmed transaction: Core's "already in chain".
    let message = expect_rpc_error(rpc.send_raw_transaction(&first).await, -27);
    assert_eq!(message, "Transaction outputs already in utxo set");
    double.stop();
}

#[tokio::test]
async fn outputs_above_inputs_are_refused() {
    let (double, rpc) = start(None);
    let owner = key(0x61);
    let (outpoint, prevout) = fund(&rpc, &owner.address, Amount::from_sat(50_000)).await;
    let mut tx = spend(outpoint, &owner.address, Amount::from_sat(50_001));
    sign(&mut tx, 0, &prevout, &owner, prevout.value);
    let message = expect_rpc_error(rpc.send_raw_transaction(&tx).await, -26);
    assert!(message.starts_with("bad-txns-in-belowout"), "{message}");
    double.stop();
}

#[tokio::test]
async fn bad_hex_unknown_methods_and_unknown_transactions() {
    let (double, rpc) = start(None);
    for bad in ["zz", "00", "0100000000"] {
        let message = expect_rpc_error(rpc.call("sendrawtransaction", vec![json!(bad)]).await, -22);
        assert!(message.starts_with("TX decode failed"), "{message}");
    }
    let message = expect_rpc_error(rpc.call("nosuchmethod", vec![]).await, -32601);
    assert_eq!(message, "Method not found");
    let unknown = Txid::from_byte_array([9; 32]);
    let message = expect_rpc_error(rpc.get_raw_transaction(&unknown).await, -5);
    assert_eq!(
        message,
        "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."
    );
    assert_eq!(rpc.get_tx_out(&unknown, 0).await.unwrap(), None);
    let message = expect_rpc_error(rpc.get_block_hash(10_000).await, -8);
    assert_eq!(message, "Block height out of range");
    double.stop();
}

#[tokio::test]
async fn wrong_password_is_http_401() {
    let (double, _) = start(None);
    let intruder = BitcoinRpc::new(double.url(), USER, "not the password").unwrap();
    assert!(!format!("{intruder:?}").contains("not the password"));
    match intruder.get_block_count().await {
        Err(BitcoinRpcError::Status { status: 401, .. }) => {}
        other => panic!("expected HTTP 401, got {other:?}"),
    }
    double.stop();
}

#[tokio::test]
async fn fee_estimate_is_one_sat_per_vbyte() {
    let (double, rpc) = start(None);
    let rate = rpc.estimate_smart_fee(6).await.unwrap().unwrap();
    assert_eq!(rate, FeeRate::from_sat_per_vb(1).unwrap());
    assert_eq!(rate.to_sat_per_vb_ceil(), 1);
    double.stop();
}

#[tokio::test]
async fn a_restarted_double_replays_its_data_dir() {
    let dir = std::env::temp_dir().join(format!(
        "regtest-double-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    /// Removes the directory even when the test fails.
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let (double, rpc) = start(Some(dir.clone()));
    let txid = rpc
        .send_to_address(&key(0x71).address, Amount::from_int_btc(3))
        .await
        .unwrap();
    rpc.generate_to_address(3, &key(0x72).address)
        .await
        .unwrap();
    let best = rpc.get_best_block_hash().await.unwrap();
    let height = rpc.get_block_count().await.unwrap();
    let wallet = wallet_address(&rpc).await;
    double.stop();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("wallet.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let (double, rpc) = start(Some(dir.clone()));
    assert_eq!(rpc.get_best_block_hash().await.unwrap(), best);
    assert_eq!(rpc.get_block_count().await.unwrap(), height);
    assert_eq!(
        rpc.get_raw_transaction_info(&txid)
            .await
            .unwrap()
            .confirmations,
        3
    );
    // The wallet key persisted: the same address, and its coins are still spendable.
    assert_eq!(wallet_address(&rpc).await, wallet);
    let again = rpc
        .send_to_address(&key(0x73).address, Amount::from_int_btc(1))
        .await
        .unwrap();
    rpc.generate_to_address(1, &wallet).await.unwrap();
    assert_eq!(
        rpc.get_raw_transaction_info(&again)
            .await
            .unwrap()
            .confirmations,
        1
    );
    double.stop();
}

/// Sends `body` as one HTTP POST with the right credentials; returns the status and the body.
fn raw_post(addr: SocketAddr, body: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let status_line = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (status, response[split + 4..].to_vec())
}

const METHOD_NAMES: &[&str] = &[
    "getblockchaininfo",
    "getblockcount",
    "getbestblockhash",
    "getblockhash",
    "getblockheader",
    "getblock",
    "getrawtransaction",
    "sendrawtransaction",
    "gettxout",
    "gettxoutproof",
    "estimatesmartfee",
    "getrawmempool",
    "generatetoaddress",
    "getnewaddress",
    "sendtoaddress",
    "nosuchmethod",
];

fn json_param() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1i64..300).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9a-f]{0,70}".prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        proptest::collection::vec("[0-9a-f]{64}".prop_map(Value::from), 0..3).prop_map(Value::from),
    ]
}

fn request_body() -> impl Strategy<Value = Vec<u8>> {
    let call = (
        proptest::sample::select(METHOD_NAMES),
        proptest::collection::vec(json_param(), 0..4),
    )
        .prop_map(|(method, params)| {
            json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
                .to_string()
                .into_bytes()
        });
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1024),
        ".{0,200}".prop_map(String::into_bytes),
        call,
    ]
}

#[test]
fn arbitrary_bodies_never_crash_the_double() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (double, rpc) = start(None);
    let addr = double.local_addr();
    let height = runtime.block_on(rpc.get_block_count()).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        ..Config::default()
    });
    runner
        .run(&request_body(), |body| {
            let (status, reply) = raw_post(addr, &body);
            prop_assert!([200, 400, 404, 500].contains(&status), "status {status}");
            let reply: Value = serde_json::from_slice(&reply).expect("a JSON reply");
            if status != 200 {
                prop_assert!(reply["error"]["code"].is_i64(), "{reply}");
                prop_assert!(reply["result"].is_null());
            }
            // Still serving, on the same chain.
            let count = runtime.block_on(rpc.get_block_count()).unwrap();
            prop_assert!(count >= height);
            Ok(())
        })
        .unwrap();
    double.stop();
}

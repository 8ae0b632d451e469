//! The Kubo-RPC client against a real js-ipfs daemon: the daemon's CIDs are the ones the light
//! client computes from the bytes (one chunk and several), content comes back identical, and a
//! daemon that is down or refuses gives the typed error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::time::Duration;

use appliance::ipfs::{IpfsError, KuboClient};
use e2e::ipfs_daemon::JsIpfs;
use lightclient::cid::{CHUNK_SIZE, cid_v0};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Deterministic bytes that do not compress into repeated blocks.
fn pattern(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn the_daemon_stores_files_under_the_cids_the_light_client_computes() {
    let daemon = JsIpfs::start().unwrap_or_else(|e| panic!("{e}"));
    let client = KuboClient::new(&daemon.api(), Duration::from_secs(30)).unwrap();
    let rt = runtime();
    assert!(!rt.block_on(client.version()).unwrap().is_empty());
    // One chunk, exactly one chunk, several chunks with a short last one.
    for len in [0, 1, 1_000, CHUNK_SIZE, 3 * CHUNK_SIZE + 17] {
        let bytes = pattern(len);
        let added = rt.block_on(client.add(&bytes)).unwrap();
        assert_eq!(added.cid, cid_v0(&bytes), "file of {len} bytes");
        assert_eq!(rt.block_on(client.cat(&added.cid)).unwrap(), bytes);
        assert_eq!(
            rt.block_on(client.pin_add(&added.cid)).unwrap(),
            vec![added.cid.clone()]
        );
        rt.block_on(client.publish(&bytes, &added.cid)).unwrap();
    }
    // A CID computed for other bytes is refused after the add, not recorded.
    let err = rt
        .block_on(client.publish(b"these bytes", &cid_v0(b"other bytes")))
        .unwrap_err();
    assert_eq!(
        err,
        IpfsError::CidMismatch {
            expected: cid_v0(b"other bytes"),
            daemon: cid_v0(b"these bytes"),
        }
    );
    // The daemon's own refusal is typed with its message (js-ipfs answers 400; Kubo 500).
    match rt.block_on(client.cat("not-a-cid")).unwrap_err() {
        IpfsError::Api {
            endpoint,
            status,
            message,
        } => assert_eq!(
            (endpoint.as_str(), status, message.as_str()),
            ("cat", 400, "Invalid request query input")
        ),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn a_stopped_daemon_is_unreachable_and_a_resumed_one_serves_its_pins() {
    let mut daemon = JsIpfs::start().unwrap_or_else(|e| panic!("{e}"));
    let client = KuboClient::new(&daemon.api(), Duration::from_secs(10)).unwrap();
    let rt = runtime();
    let bytes = pattern(5_000);
    let cid = cid_v0(&bytes);
    rt.block_on(client.publish(&bytes, &cid)).unwrap();
    daemon.stop();
    match rt.block_on(client.publish(&bytes, &cid)).unwrap_err() {
        IpfsError::Unreachable { endpoint, .. } => assert_eq!(endpoint, "add"),
        other => panic!("expected unreachable, got {other:?}"),
    }
    daemon.resume().unwrap();
    assert_eq!(rt.block_on(client.cat(&cid)).unwrap(), bytes);
}

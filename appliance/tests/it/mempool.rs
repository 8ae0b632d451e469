use appliance::ledger::MAX_TX_LIFETIME;
use appliance::mempool::{Mempool, MempoolConfig, MempoolError};
use lightclient::encoding::Encode;
use lightclient::header::ChainId;
use lightclient::tx::{ChainBinding, Operation};

use crate::world::*;

fn pay(amount: u128) -> Operation {
    Operation::Transfer {
        to: id(21),
        asset: usdx(),
        amount,
        expected_fee: 0,
    }
}

fn binding() -> ChainBinding {
    ChainBinding {
        chain_id: chain(),
        genesis_hash: genesis_hash(),
    }
}

fn pool(capacity: usize) -> Mempool {
    Mempool::new(
        binding(),
        MempoolConfig {
            capacity,
            max_tx_bytes: 4_096,
            ..MempoolConfig::default()
        },
    )
}

#[test]
fn admits_valid_transactions_once_and_refuses_each_bad_kind() {
    let mut w = World::new();
    w.height = 10;
    let mut mempool = pool(10);
    let tx = w.signed(20, pay(1), 5);
    let txid = mempool.submit(tx.clone(), 9).unwrap();
    assert!(mempool.contains(&txid));
    assert_eq!(mempool.submit(tx, 9), Err(MempoolError::Duplicate(txid)));

    let mut forged = w.signed(20, pay(2), 5);
    forged.transaction.salt += 1;
    assert_eq!(
        mempool.submit(forged, 9),
        Err(MempoolError::BadSignature(
            lightclient::KeyError::BadSignature
        ))
    );

    let stale = w.signed(20, pay(3), 0); // expires at height 10
    assert_eq!(
        mempool.submit(stale, 10),
        Err(MempoolError::Expired {
            expires_at_height: 10,
            next_height: 11
        })
    );

    let far = w.signed(20, pay(4), MAX_TX_LIFETIME + 5);
    assert_eq!(
        mempool.submit(far, 9),
        Err(MempoolError::ExpiryTooFar {
            expires_at_height: 10 + MAX_TX_LIFETIME + 5,
            limit: 10 + MAX_TX_LIFETIME
        })
    );

    let mut other = Mempool::new(
        ChainBinding {
            chain_id: ChainId::new("abt-other-1").unwrap(),
            ..binding()
        },
        MempoolConfig::default(),
    );
    assert_eq!(
        other.submit(w.signed(20, pay(5), 5), 9),
        Err(MempoolError::WrongChain {
            expected_chain: ChainId::new("abt-other-1").unwrap(),
            expected_genesis: genesis_hash(),
            found_chain: chain(),
            found_genesis: genesis_hash(),
        })
    );
    // The same chain id with another genesis (an earlier dev federation) is another chain.
    let other_genesis = lightclient::hash::sha256(b"another genesis");
    let mut earlier = Mempool::new(
        ChainBinding {
            genesis_hash: other_genesis,
            ..binding()
        },
        MempoolConfig::default(),
    );
    assert_eq!(
        earlier.submit(w.signed(20, pay(6), 5), 9),
        Err(MempoolError::WrongChain {
            expected_chain: chain(),
            expected_genesis: other_genesis,
            found_chain: chain(),
            found_genesis: genesis_hash(),
        })
    );

    let big = w.signed(
        20,
        Operation::UpdateMapping {
            mapping: vec![b'x'; 5_000],
        },
        5,
    );
    let size = big.to_bytes().len();
    assert_eq!(
        mempool.submit(big, 9),
        Err(MempoolError::TooLarge { size, limit: 4_096 })
    );
    assert_eq!(mempool.len(), 1);
}

#[test]
fn a_full_mempool_pushes_back() {
    let mut w = World::new();
    let mut mempool = pool(2);
    mempool.submit(w.signed(20, pay(1), 5), 0).unwrap();
    mempool.submit(w.signed(20, pay(2), 5), 0).unwrap();
    let third = w.signed(20, pay(3), 5);
    let bytes = 2 * third.to_bytes().len();
    assert_eq!(
        mempool.submit(third, 0),
        Err(MempoolError::Full {
            count: 2,
            capacity: 2,
            bytes,
            max_bytes: MempoolConfig::default().max_bytes,
        })
    );
}

#[test]
fn the_mempool_is_bounded_in_bytes_not_only_in_count() {
    let mut w = World::new();
    let one = w.signed(20, pay(1), 5);
    let size = one.to_bytes().len();
    let mut mempool = Mempool::new(
        binding(),
        MempoolConfig {
            max_bytes: 2 * size,
            ..MempoolConfig::default()
        },
    );
    mempool.submit(one, 0).unwrap();
    mempool.submit(w.signed(21, pay(2), 5), 0).unwrap();
    assert_eq!(mempool.bytes(), 2 * size);
    assert_eq!(
        mempool.submit(w.signed(22, pay(3), 5), 0),
        Err(MempoolError::Full {
            count: 2,
            capacity: MempoolConfig::default().capacity,
            bytes: 2 * size,
            max_bytes: 2 * size,
        })
    );
}

#[test]
fn one_signer_cannot_take_more_than_its_share() {
    let mut w = World::new();
    let mut mempool = Mempool::new(
        binding(),
        MempoolConfig {
            max_per_signer: 2,
            ..MempoolConfig::default()
        },
    );
    mempool.submit(w.signed(20, pay(1), 5), 0).unwrap();
    let second = w.signed(20, pay(2), 5);
    let size = second.to_bytes().len();
    mempool.submit(second, 0).unwrap();
    assert_eq!(
        mempool.submit(w.signed(20, pay(3), 5), 0),
        Err(MempoolError::SignerShare {
            signer: id(20),
            count: 2,
            bytes: 2 * size,
            max_count: 2,
            max_bytes: MempoolConfig::default().max_bytes_per_signer,
        })
    );
    // Another signer still gets in, and the share frees up once a block includes one.
    let other = w.signed(21, pay(4), 5);
    let first_txid = mempool.select(1, usize::MAX)[0].txid();
    mempool.submit(other, 0).unwrap();
    mempool.remove_committed([first_txid].iter(), 1);
    mempool.submit(w.signed(20, pay(5), 5), 1).unwrap();
    assert_eq!(mempool.len(), 3);
}

#[test]
fn blocks_take_the_oldest_transactions_within_limits_and_commits_remove_them() {
    let mut w = World::new();
    let mut mempool = pool(10);
    let txs: Vec<_> = (1..=4).map(|i| w.signed(20, pay(i), 5)).collect();
    for tx in &txs {
        mempool.submit(tx.clone(), 0).unwrap();
    }
    assert_eq!(mempool.select(2, usize::MAX), txs[..2].to_vec());
    let one = txs[0].to_bytes().len();
    assert_eq!(mempool.select(10, one * 3 + 1), txs[..3].to_vec());
    mempool.remove_committed(
        txs[..2].iter().map(|t| t.txid()).collect::<Vec<_>>().iter(),
        1,
    );
    assert_eq!(mempool.select(10, usize::MAX), txs[2..].to_vec());
    // Past their expiry they go too.
    let expiry = txs[2].transaction.expires_at_height;
    mempool.remove_committed(std::iter::empty(), expiry);
    assert!(mempool.is_empty());
}

/// Finding: transactions answered 202 vanished when their node died. Each admitted one is in the
/// log before the answer, and a restarted node admits again what is neither included nor
/// expired, at its old position.
#[test]
fn the_mempool_log_survives_a_reopen_and_restores_what_is_still_pending() {
    use appliance::mempool::log::{FjallMempoolLog, LogRecord, MempoolLog};
    use appliance::node::actors::MempoolActor;

    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new();
    let kept = w.signed(20, pay(1), 50);
    let included = w.signed(21, pay(2), 50);
    let expiring = w.signed(22, pay(3), 2);
    let relayed = w.signed(23, pay(4), 50);
    {
        let mut log = FjallMempoolLog::open(dir.path()).unwrap();
        log.append(7, true, &kept).unwrap();
        log.append(8, true, &included).unwrap();
        log.append(9, true, &expiring).unwrap();
        log.append(10, false, &relayed).unwrap();
        // Dropped without any shutdown, as a kill -9 would.
    }
    let log = FjallMempoolLog::open(dir.path()).unwrap();
    assert_eq!(
        log.load().unwrap(),
        vec![
            LogRecord {
                seq: 7,
                local: true,
                tx: kept.clone()
            },
            LogRecord {
                seq: 8,
                local: true,
                tx: included.clone()
            },
            LogRecord {
                seq: 9,
                local: true,
                tx: expiring.clone()
            },
            LogRecord {
                seq: 10,
                local: false,
                tx: relayed.clone()
            },
        ]
    );
    let included_id = included.txid();
    let (actor, restored) = MempoolActor::restore(
        pool(10),
        Box::new(log),
        // The tip is past `expiring`'s expiry.
        w.height + 5,
        |txid| *txid == included_id,
    )
    .unwrap();
    assert_eq!(restored.admitted, 2);
    assert_eq!(restored.dropped, 2);
    let mempool = actor.mempool();
    assert!(mempool.contains(&kept.txid()) && mempool.contains(&relayed.txid()));
    assert!(!mempool.contains(&included_id) && !mempool.contains(&expiring.txid()));
    // Only what a client sent this node is relayed by it, from its old position on.
    assert_eq!(mempool.local_after(None, 10), vec![(7, kept)]);
    assert_eq!(mempool.local_after(Some(7), 10), vec![]);
}

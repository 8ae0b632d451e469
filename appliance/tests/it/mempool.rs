use appliance::ledger::MAX_TX_LIFETIME;
use appliance::mempool::{Mempool, MempoolConfig, MempoolError};
use lightclient::encoding::Encode;
use lightclient::header::ChainId;
use lightclient::tx::Operation;

use crate::world::*;

fn pay(amount: u128) -> Operation {
    Operation::Transfer {
        to: id(21),
        asset: usdx(),
        amount,
        expected_fee: 0,
    }
}

fn pool(capacity: usize) -> Mempool {
    Mempool::new(
        chain(),
        MempoolConfig {
            capacity,
            max_tx_bytes: 4_096,
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
        ChainId::new("abt-other-1").unwrap(),
        MempoolConfig::default(),
    );
    assert_eq!(
        other.submit(w.signed(20, pay(5), 5), 9),
        Err(MempoolError::WrongChain {
            expected: ChainId::new("abt-other-1").unwrap(),
            found: chain()
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
    assert_eq!(
        mempool.submit(w.signed(20, pay(3), 5), 0),
        Err(MempoolError::Full { capacity: 2 })
    );
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

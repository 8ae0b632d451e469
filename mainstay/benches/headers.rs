//! Following Bitcoin headers under the full difficulty rules, and proving a transaction on the
//! followed chain: `cargo bench -p mainstay --bench headers`. Real mainnet data from
//! `tests/vectors/bitcoin/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::hint::black_box;
use std::time::Instant;

use mainstay::bitcoin::block::Header;
use mainstay::bitcoin::consensus::deserialize;
use mainstay::bitcoin::{MerkleBlock, Network};
use mainstay::inclusion::verify_inclusion;
use mainstay::{Checkpoint, HeaderChain};

const HEADERS: &[u8] = include_bytes!("../tests/vectors/bitcoin/mainnet-headers-822528-830592.bin");
const PROOF: &[u8] = include_bytes!("../tests/vectors/bitcoin/txoutproof-0830000-1000.bin");
const NOW: u32 = 1_800_000_000;
const ROUNDS: u32 = 20;

fn start(headers: &[Header]) -> HeaderChain {
    let checkpoint = Checkpoint {
        height: 822_528,
        hash: headers[0].block_hash(),
    };
    HeaderChain::new(Network::Bitcoin, checkpoint, headers[0]).unwrap()
}

fn main() {
    let headers: Vec<Header> = HEADERS
        .chunks(80)
        .map(|c| deserialize(c).unwrap())
        .collect();

    // The whole file in one extension, from a fresh chain each round.
    let begun = Instant::now();
    for _ in 0..ROUNDS {
        let mut chain = start(&headers);
        black_box(chain.extend(&headers[1..], NOW).unwrap());
    }
    let per_round = begun.elapsed() / ROUNDS;
    let steps = headers.len() - 1;
    println!(
        "follow {steps} mainnet headers (four retargets): {:.2} ms, {:.2} µs a header",
        per_round.as_secs_f64() * 1e3,
        per_round.as_secs_f64() * 1e6 / steps as f64
    );

    // One header at a time, as a follower polling a node does.
    let mut chain = start(&headers);
    let begun = Instant::now();
    for header in &headers[1..] {
        black_box(chain.extend(std::slice::from_ref(header), NOW).unwrap());
    }
    let elapsed = begun.elapsed();
    println!(
        "one-header extensions: {:.2} µs each",
        elapsed.as_secs_f64() * 1e6 / steps as f64
    );

    // A transaction of block 830,000 on the followed chain.
    let proof: MerkleBlock = deserialize(PROOF).unwrap();
    let mut matches = Vec::new();
    proof
        .txn
        .extract_matches(&mut matches, &mut Vec::new())
        .unwrap();
    let txid = matches[0];
    let rounds = 10_000u32;
    let begun = Instant::now();
    for _ in 0..rounds {
        black_box(verify_inclusion(txid, &proof, &chain, 6).unwrap());
    }
    println!(
        "inclusion of a transaction of block 830,000 (merkle block of {} hashes) on the chain: {:.2} µs",
        proof.txn.hashes().len(),
        begun.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    );
}

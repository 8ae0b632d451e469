//! The Bitcoin header chain a verifier follows from a checkpoint, against real mainnet data
//! (`tests/vectors/bitcoin/`, see its README) and regtest chains mined here.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use mainstay::bitcoin::block::{Header, Version};
use mainstay::bitcoin::blockdata::constants::genesis_block;
use mainstay::bitcoin::consensus::deserialize;
use mainstay::bitcoin::hashes::Hash;
use mainstay::bitcoin::params::Params;
use mainstay::bitcoin::{BlockHash, CompactTarget, MerkleBlock, Network, TxMerkleNode};
use mainstay::headers::{MAX_FUTURE_SECS, retarget};
use mainstay::inclusion::{verify_inclusion, verify_merkle_block};
use mainstay::{Checkpoint, HeaderChain, HeaderChainError, InclusionError};

const HEADERS: &[u8] = include_bytes!("vectors/bitcoin/mainnet-headers-822528-830592.bin");
const BOUNDARIES: &str = include_str!("vectors/bitcoin/mainnet-retarget-boundaries.json");
const FIRST: u32 = 822_528;
/// Later than every vector header; the chain's clock.
const NOW: u32 = 1_800_000_000;

fn mainnet_headers() -> Vec<Header> {
    HEADERS
        .chunks(80)
        .map(|chunk| deserialize(chunk).unwrap())
        .collect()
}

fn mainnet_chain(headers: &[Header]) -> HeaderChain {
    let checkpoint = Checkpoint {
        height: FIRST,
        hash: headers[0].block_hash(),
    };
    HeaderChain::new(Network::Bitcoin, checkpoint, headers[0]).unwrap()
}

fn proof(name: &str) -> MerkleBlock {
    let path = format!(
        "{}/tests/vectors/bitcoin/txoutproof-{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    deserialize(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn eight_thousand_mainnet_headers_validate_from_a_checkpoint_across_four_retargets() {
    let headers = mainnet_headers();
    assert_eq!(headers.len(), 8_065);
    let mut chain = mainnet_chain(&headers);
    let extension = chain.extend(&headers[1..], NOW).unwrap();
    assert_eq!(extension.new_tip.0, 830_592);
    assert_eq!(
        extension.new_tip.1.to_string(),
        "00000000000000000000506183a8b30fa3224b85e82a70416e1d594bdb632fdb"
    );
    assert_eq!(extension.replaced, 0);
    // Four periods start inside the file, and the difficulty changed at each.
    let boundaries: Vec<u32> = (FIRST + 1..=830_592).filter(|h| h % 2016 == 0).collect();
    assert_eq!(boundaries, [824_544, 826_560, 828_576, 830_592]);
    for height in boundaries {
        let before = chain.header_at(height - 1).unwrap().bits;
        assert_ne!(chain.header_at(height).unwrap().bits, before, "{height}");
    }
    // Offered again, they change nothing.
    let again = chain.extend(&headers[4_000..], NOW).unwrap();
    assert_eq!(
        (again.old_tip, again.new_tip),
        (extension.new_tip, extension.new_tip)
    );
}

#[test]
fn every_mainnet_retarget_since_genesis_recomputes() {
    let json: serde_json::Value = serde_json::from_str(BOUNDARIES).unwrap();
    let headers: Vec<(u32, Header)> = json["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let bytes = hex::decode(entry["header"].as_str().unwrap()).unwrap();
            (
                entry["height"].as_u64().unwrap() as u32,
                deserialize(&bytes).unwrap(),
            )
        })
        .collect();
    let params = Params::new(Network::Bitcoin);
    let mut checked = 0;
    let mut changed = 0;
    for window in headers.windows(3) {
        let [
            (first_height, first),
            (last_height, last),
            (next_height, next),
        ] = window
        else {
            unreachable!()
        };
        if first_height % 2016 != 0 || *last_height != first_height + 2015 {
            continue;
        }
        assert_eq!(*next_height, last_height + 1);
        assert_eq!(next.prev_blockhash, last.block_hash());
        assert_eq!(
            retarget(&params, first, last),
            Some(next.bits),
            "the retarget at {next_height}"
        );
        checked += 1;
        if next.bits != last.bits {
            changed += 1;
        }
    }
    assert_eq!(checked, 832_608 / 2016);
    assert!(changed > 300, "{changed}");
}

#[test]
fn mainnet_txoutproofs_prove_their_transactions_on_the_followed_chain() {
    let headers = mainnet_headers();
    let mut chain = mainnet_chain(&headers);
    chain.extend(&headers[1..], NOW).unwrap();
    for name in [
        "0830000-0",
        "0830000-1",
        "0830000-10",
        "0830000-100",
        "0830000-1000",
        "0830000-1850",
    ] {
        let proof = proof(name);
        let mut matches = Vec::new();
        proof
            .txn
            .extract_matches(&mut matches, &mut Vec::new())
            .unwrap();
        let txid = matches[0];
        let inclusion = verify_inclusion(txid, &proof, &chain, 6).unwrap();
        assert_eq!(inclusion.height, 830_000, "{name}");
        assert_eq!(inclusion.confirmations, 593, "{name}");
        // Deeper than the chain is long: too few confirmations, by name.
        assert_eq!(
            verify_inclusion(txid, &proof, &chain, 594),
            Err(InclusionError::TooFewConfirmations {
                block: inclusion.block,
                confirmations: 593,
                required: 594
            })
        );
    }
    // Block 831,332 is beyond the file: its proofs hold under their own header, but the block
    // is on no chain this verifier follows.
    for name in [
        "0831332-0",
        "0831332-1",
        "0831332-15",
        "0831332-20",
        "0831332-0_1_15_20_115_2019_2024",
    ] {
        let proof = proof(name);
        let mut matches = Vec::new();
        proof
            .txn
            .extract_matches(&mut matches, &mut Vec::new())
            .unwrap();
        for txid in &matches {
            assert_eq!(
                verify_merkle_block(*txid, &proof),
                Ok(proof.header.block_hash())
            );
        }
        assert_eq!(
            verify_inclusion(matches[0], &proof, &chain, 1),
            Err(InclusionError::NotInChain {
                block: proof.header.block_hash(),
                checkpoint_height: FIRST,
                tip_height: 830_592
            })
        );
    }
}

/// Grinds the nonce until the header meets its own target (cheap only for easy targets).
fn grind(mut header: Header) -> Header {
    while header.validate_pow(header.target()).is_err() {
        header.nonce = header.nonce.wrapping_add(1);
    }
    header
}

#[test]
fn a_forged_extension_at_a_lower_target_is_refused() {
    let headers = mainnet_headers();
    let mut chain = mainnet_chain(&headers);
    chain.extend(&headers[1..], NOW).unwrap();
    let tip = *chain.header_at(830_592).unwrap();
    let forged = |bits: u32| Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: tip.block_hash(),
        merkle_root: TxMerkleNode::all_zeros(),
        time: tip.time + 600,
        bits: CompactTarget::from_consensus(bits),
        nonce: 0,
    };
    // Real proof of work at an easy target: the work is genuine, the target is not the rules'.
    let easy = grind(forged(0x207f_ffff));
    assert_eq!(
        chain.extend(&[easy], NOW),
        Err(HeaderChainError::WrongDifficulty {
            height: 830_593,
            block: easy.block_hash(),
            expected: tip.bits.to_consensus(),
            found: 0x207f_ffff
        })
    );
    // Difficulty 1, under mainnet's limit (about 2^32 hashes): refused the same way.
    let difficulty_one = forged(0x1d00_ffff);
    assert!(matches!(
        chain.extend(&[difficulty_one], NOW),
        Err(HeaderChainError::WrongDifficulty {
            found: 0x1d00_ffff,
            ..
        })
    ));
    // The rules' bits without the work.
    let unworked = forged(tip.bits.to_consensus());
    assert_eq!(
        chain.extend(&[unworked], NOW),
        Err(HeaderChainError::InvalidProofOfWork {
            height: 830_593,
            block: unworked.block_hash()
        })
    );
    assert_eq!(chain.tip_height(), 830_592);
}

#[test]
fn a_retarget_boundary_with_the_old_bits_is_refused() {
    let headers = mainnet_headers();
    let mut chain = mainnet_chain(&headers);
    let boundary = (824_544 - FIRST) as usize;
    chain.extend(&headers[1..boundary], NOW).unwrap();
    let mut stale = headers[boundary];
    let required = stale.bits;
    stale.bits = headers[boundary - 1].bits;
    assert_eq!(
        chain.extend(&[stale], NOW),
        Err(HeaderChainError::WrongDifficulty {
            height: 824_544,
            block: stale.block_hash(),
            expected: required.to_consensus(),
            found: stale.bits.to_consensus()
        })
    );
    // A header inside a period may not change the bits either.
    let mut drifted = headers[boundary];
    drifted.bits = CompactTarget::from_consensus(required.to_consensus() + 1);
    assert!(matches!(
        chain.extend(&[drifted], NOW),
        Err(HeaderChainError::WrongDifficulty {
            height: 824_544,
            ..
        })
    ));
}

#[test]
fn checkpoints_are_checked() {
    let headers = mainnet_headers();
    assert_eq!(
        HeaderChain::new(
            Network::Bitcoin,
            Checkpoint {
                height: FIRST + 1,
                hash: headers[1].block_hash()
            },
            headers[1]
        )
        .unwrap_err(),
        HeaderChainError::CheckpointNotAtPeriodStart {
            height: FIRST + 1,
            interval: 2016
        }
    );
    assert_eq!(
        HeaderChain::new(
            Network::Bitcoin,
            Checkpoint {
                height: FIRST,
                hash: headers[1].block_hash()
            },
            headers[0]
        )
        .unwrap_err(),
        HeaderChainError::CheckpointMismatch {
            expected: headers[1].block_hash(),
            found: headers[0].block_hash()
        }
    );
    assert_eq!(
        HeaderChain::new(
            Network::Testnet,
            Checkpoint::genesis(Network::Testnet),
            genesis_block(Network::Testnet).header
        )
        .unwrap_err(),
        HeaderChainError::UnsupportedNetwork(Network::Testnet)
    );
    // The HEIGHT:HASH form of configs and the command line.
    let text = format!("{FIRST}:{}", headers[0].block_hash());
    let parsed: Checkpoint = text.parse().unwrap();
    assert_eq!(parsed.to_string(), text);
    assert_eq!(
        "822528".parse::<Checkpoint>(),
        Err(mainstay::headers::CheckpointParseError::Form(
            "822528".into()
        ))
    );
    assert_eq!(
        "x:00".parse::<Checkpoint>(),
        Err(mainstay::headers::CheckpointParseError::Height("x".into()))
    );
    assert_eq!(
        "1:00".parse::<Checkpoint>(),
        Err(mainstay::headers::CheckpointParseError::Hash("00".into()))
    );
    // A header that builds on nothing the chain holds.
    let mut chain = mainnet_chain(&headers);
    assert_eq!(
        chain.extend(&headers[2..5], NOW),
        Err(HeaderChainError::Unconnected {
            block: headers[2].block_hash(),
            parent: headers[1].block_hash()
        })
    );
    // Genesis as the checkpoint: mainnet's first headers validate from it.
    let genesis = genesis_block(Network::Bitcoin).header;
    let chain = HeaderChain::new(
        Network::Bitcoin,
        Checkpoint::genesis(Network::Bitcoin),
        genesis,
    )
    .unwrap();
    assert_eq!(chain.tip_height(), 0);
}

// ---- regtest chains mined here: time rules and competing branches ----

fn regtest_chain() -> HeaderChain {
    let genesis = genesis_block(Network::Regtest).header;
    HeaderChain::new(
        Network::Regtest,
        Checkpoint::genesis(Network::Regtest),
        genesis,
    )
    .unwrap()
}

fn mine_on(parent: &Header, time: u32, salt: u8) -> Header {
    grind(Header {
        version: Version::TWO,
        prev_blockhash: parent.block_hash(),
        merkle_root: TxMerkleNode::from_byte_array([salt; 32]),
        time,
        bits: parent.bits,
        nonce: 0,
    })
}

fn mine_run(parent: &Header, count: usize, start_time: u32, salt: u8) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::new();
    for i in 0..count {
        let previous = out.last().copied().unwrap_or(*parent);
        out.push(mine_on(&previous, start_time + 600 * i as u32, salt));
    }
    out
}

#[test]
fn a_time_at_or_below_the_median_of_the_last_eleven_is_refused() {
    let mut chain = regtest_chain();
    let genesis = *chain.header_at(0).unwrap();
    let run = mine_run(&genesis, 11, 1_700_000_000, 1);
    chain.extend(&run, NOW).unwrap();
    // The median of heights 1..=11 is height 6's time.
    let median = run[5].time;
    let late = mine_on(&run[10], median, 2);
    assert_eq!(
        chain.extend(&[late], NOW),
        Err(HeaderChainError::TimeTooOld {
            height: 12,
            block: late.block_hash(),
            time: median,
            median_time_past: median
        })
    );
    // One second later is enough, even below the previous header's time.
    let fine = mine_on(&run[10], median + 1, 2);
    assert!(fine.time < run[10].time);
    chain.extend(&[fine], NOW).unwrap();
    assert_eq!(chain.tip_height(), 12);
}

#[test]
fn a_time_beyond_the_clock_plus_two_hours_is_refused() {
    let mut chain = regtest_chain();
    let genesis = *chain.header_at(0).unwrap();
    let now = 1_700_000_000;
    let future = mine_on(&genesis, now + MAX_FUTURE_SECS + 1, 3);
    assert_eq!(
        chain.extend(&[future], now),
        Err(HeaderChainError::TimeTooNew {
            height: 1,
            block: future.block_hash(),
            time: now + MAX_FUTURE_SECS + 1,
            latest: now + MAX_FUTURE_SECS
        })
    );
    let edge = mine_on(&genesis, now + MAX_FUTURE_SECS, 3);
    chain.extend(&[edge], now).unwrap();
}

#[test]
fn the_branch_with_the_most_work_is_the_chain() {
    let mut chain = regtest_chain();
    let genesis = *chain.header_at(0).unwrap();
    let main = mine_run(&genesis, 5, 1_700_000_000, 4);
    chain.extend(&main, NOW).unwrap();
    // A branch from height 2 as long as what it replaces: no more work, refused.
    let short = mine_run(&main[1], 3, 1_700_000_300, 5);
    assert_eq!(
        chain.extend(&short, NOW),
        Err(HeaderChainError::NotMoreWork {
            fork_height: 2,
            branch_tip: short[2].block_hash()
        })
    );
    assert_eq!(chain.tip_hash(), main[4].block_hash());
    // One more header: it wins, and the replaced headers leave the chain.
    let long = mine_run(&main[1], 4, 1_700_000_300, 5);
    let extension = chain.extend(&long, NOW).unwrap();
    assert_eq!(extension.fork_height, 2);
    assert_eq!(extension.replaced, 3);
    assert_eq!(extension.new_tip, (6, long[3].block_hash()));
    assert_eq!(chain.height_of(&main[4].block_hash()), None);
    assert_eq!(chain.confirmations(&main[2].block_hash()), 0);
    assert_eq!(chain.confirmations(&main[1].block_hash()), 5);
    // Headers of one extension must link to each other.
    let mut broken = mine_run(&long[3], 2, 1_700_010_000, 6);
    broken[1].prev_blockhash = BlockHash::all_zeros();
    let broken = [broken[0], grind(broken[1])];
    assert_eq!(
        chain.extend(&broken, NOW),
        Err(HeaderChainError::NotLinked {
            height: 8,
            expected: broken[0].block_hash(),
            found: BlockHash::all_zeros()
        })
    );
}

mod tampering {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any one bit of any of the first 300 mainnet headers after the checkpoint, flipped:
        /// the extension is refused (decoding cannot fail, so the chain must).
        #[test]
        fn a_flipped_bit_in_a_mainnet_header_is_refused(index in 1usize..300, bit in 0usize..640) {
            let headers = mainnet_headers();
            let mut bytes = HEADERS[..(index + 1) * 80].to_vec();
            bytes[index * 80 + bit / 8] ^= 1 << (bit % 8);
            let tampered: Vec<Header> = bytes.chunks(80).map(|c| deserialize(c).unwrap()).collect();
            prop_assert_ne!(tampered[index], headers[index]);
            let mut chain = mainnet_chain(&headers);
            prop_assert!(chain.extend(&tampered[1..], NOW).is_err());
            prop_assert_eq!(chain.tip_height(), FIRST);
        }
    }
}

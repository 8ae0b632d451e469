//! Random operation sequences keep every invariant, and replaying the same blocks from genesis
//! reaches the same state.

use appliance::ledger::state_tree::{MemoryTree, StateKey, TreeKey};
use appliance::ledger::{BlockContext, LedgerState, SignatureCheck};
use lightclient::hash::sha256;
use lightclient::tx::{Decision, Operation, SignedTransaction};
use proptest::prelude::*;

use crate::world::*;

const HOLDERS: [u8; 4] = [20, 21, 22, 23];

/// One random step: which kind of operation, who, and how much.
#[derive(Debug, Clone)]
struct Step {
    kind: u8,
    a: usize,
    b: usize,
    amount: u128,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..8, 0usize..4, 0usize..4, 0u128..3_000).prop_map(|(kind, a, b, amount)| Step {
        kind,
        a,
        b,
        amount,
    })
}

fn operation(step: &Step) -> (u8, Operation) {
    let holder = |i: usize| HOLDERS[i % HOLDERS.len()];
    let bank = |i: usize| if i.is_multiple_of(2) { BANK_A } else { BANK_B };
    match step.kind {
        0 => (
            SETTLEMENT,
            Operation::Deposit {
                asset_holder: id(bank(step.a)),
                asset: usdx(),
                amount: step.amount,
            },
        ),
        1 => (
            SETTLEMENT,
            Operation::Withdraw {
                asset_holder: id(bank(step.a)),
                asset: usdx(),
                amount: step.amount,
            },
        ),
        2 => (
            bank(step.a),
            Operation::Issue {
                to: id(holder(step.a)),
                asset: usdx(),
                amount: step.amount,
            },
        ),
        3 | 4 => (
            holder(step.a),
            Operation::Transfer {
                to: id(holder(step.b)),
                asset: usdx(),
                amount: step.amount,
                expected_fee: 0,
            },
        ),
        5 => (SETTLEMENT, Operation::RunSettlement { asset: usdx() }),
        6 => (
            holder(step.a),
            Operation::RequestRedemption {
                asset: usdx(),
                amount: step.amount,
                expected_fee: 0,
            },
        ),
        _ => {
            let decision = if step.b.is_multiple_of(2) {
                Decision::Approve {}
            } else {
                Decision::Reject {
                    reason: "no".into(),
                }
            };
            (
                ISSUANCE,
                Operation::ReviewRequest {
                    request_id: 1 + (step.amount % 8) as u64,
                    decision,
                },
            )
        }
    }
}

/// A world with four verified holders, two per bank.
fn cast() -> World {
    let mut w = World::new();
    for (i, holder) in HOLDERS.iter().enumerate() {
        w.holder(*holder, if i.is_multiple_of(2) { BANK_A } else { BANK_B });
    }
    // Funded, so that random transfers, redemptions and settlements mostly succeed.
    for bank in [BANK_A, BANK_B] {
        w.run(
            SETTLEMENT,
            Operation::Deposit {
                asset_holder: id(bank),
                asset: usdx(),
                amount: 100_000,
            },
        )
        .unwrap();
    }
    for (i, holder) in HOLDERS.iter().enumerate() {
        let bank = if i.is_multiple_of(2) { BANK_A } else { BANK_B };
        w.run(
            bank,
            Operation::Issue {
                to: id(*holder),
                asset: usdx(),
                amount: 20_000,
            },
        )
        .unwrap();
    }
    w
}

fn replay(blocks: &[(BlockContext, Vec<SignedTransaction>)]) -> LedgerState {
    let mut w = cast();
    for (ctx, txs) in blocks {
        w.state
            .apply_block(txs, *ctx, SignatureCheck::Verify)
            .unwrap();
    }
    // The change log is bookkeeping for the tree, not state; the original run drained it.
    w.state.take_state_changes();
    w.state
}

/// The tree of the whole state as one version.
fn root_from_scratch(state: &LedgerState) -> lightclient::Hash32 {
    let entries = state.all_state_entries();
    MemoryTree::default().commit(0, &entries).unwrap()
}

/// A tree holding the state as it is now (version 0), with the change log cleared.
fn genesis_tree(state: &mut LedgerState) -> MemoryTree {
    state.take_state_changes();
    let entries = state.all_state_entries();
    let mut tree = MemoryTree::default();
    tree.commit(0, &entries).unwrap();
    tree
}

/// The cast after bank A's deposit of 1,000 and an issue of 250 to the first holder, with the
/// tree of its state (genesis as version 0, that block as height 1) and the root.
fn funded_tree() -> (World, MemoryTree, lightclient::Hash32) {
    let mut w = cast();
    let mut tree = genesis_tree(&mut w.state);
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 1_000,
        },
    )
    .unwrap();
    w.run(
        BANK_A,
        Operation::Issue {
            to: id(HOLDERS[0]),
            asset: usdx(),
            amount: 250,
        },
    )
    .unwrap();
    let root = tree.commit(1, &w.state.take_state_changes()).unwrap();
    (w, tree, root)
}

#[test]
fn a_balance_is_proven_against_the_state_root_and_an_absent_one_is_proven_absent() {
    let (w, tree, root) = funded_tree();

    let key = StateKey::Balance(id(HOLDERS[0]), usdx());
    let (value, proof) = tree.prove(&key, 1).unwrap();
    let value = value.unwrap();
    assert_eq!(Some(value.clone()), w.state.state_value(&key));
    // Version byte, then available (u128) and locked (u128).
    assert_eq!(value[0], 1);
    assert_eq!(
        u128::from_be_bytes(value[1..17].try_into().unwrap()),
        20_250
    );
    proof
        .verify(jmt::RootHash(root.0), key.key_hash(), Some(&value))
        .unwrap();
    // A forged value does not verify.
    let mut forged = value;
    forged[16] ^= 1;
    assert!(
        proof
            .verify(jmt::RootHash(root.0), key.key_hash(), Some(&forged))
            .is_err()
    );

    let absent = StateKey::Balance(id(KYC), usdx());
    let (none, proof) = tree.prove(&absent, 1).unwrap();
    assert_eq!(none, None);
    proof
        .verify(jmt::RootHash(root.0), absent.key_hash(), None::<Vec<u8>>)
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_every_invariant_and_replay_deterministically(
        blocks in proptest::collection::vec(proptest::collection::vec(step(), 1..6), 1..12)
    ) {
        let mut w = cast();
        let start = w.height;
        let mut recorded = Vec::new();
        let mut tree = genesis_tree(&mut w.state);
        for (i, steps) in blocks.iter().enumerate() {
            let txs: Vec<SignedTransaction> = steps.iter().map(|s| {
                let (signer, op) = operation(s);
                w.signed(signer, op, 20)
            }).collect();
            let height = start + i as u64;
            let ctx = BlockContext { height, time_ms: 1_795_000_000_000 + height * 60_000, entropy: sha256(&height.to_be_bytes()) };
            // apply_block checks the invariants and fails on any violation.
            let outcomes = w.state.apply_block(&txs, ctx, SignatureCheck::Verify).unwrap();
            prop_assert_eq!(outcomes.len(), txs.len());
            // The root from the block's changes equals the root of the whole state built afresh:
            // a mutation the ledger forgot to mark would make them differ.
            let root = tree.commit(height, &w.state.take_state_changes()).unwrap();
            prop_assert_eq!(root, root_from_scratch(&w.state));
            recorded.push((ctx, txs));
        }
        prop_assert_eq!(replay(&recorded), w.state);
    }
}

/// The admission rule (ADR 0010): whatever a node admits from a stranger — JSON or encoded, with
/// any field changed to any value — decodes from a block's bytes exactly as admitted, and a block
/// holding it applies on every validator's state without breaking an invariant.
mod admission {
    use appliance::admission::decode_submission;
    use appliance::consensus::parts::BlockProposal;
    use appliance::ledger::SignatureCheck;
    use appliance::mempool::{Mempool, MempoolConfig};
    use lightclient::encoding::{Decode, Encode};
    use lightclient::hash::Hash32;
    use lightclient::header::{BlockHeader, HEADER_VERSION};
    use lightclient::keys::ValidatorAddress;
    use lightclient::tx::{ChainBinding, Operation};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::world::*;

    fn header() -> BlockHeader {
        BlockHeader {
            version: HEADER_VERSION,
            chain_id: chain(),
            height: 2,
            time_ms: 1_795_000_002_000,
            previous_block_hash: Hash32::ZERO,
            proposer: ValidatorAddress([7; 20]),
            transactions_root: Hash32::ZERO,
            transaction_count: 1,
            receipts_root: Hash32::ZERO,
            state_root: Hash32::ZERO,
            mapping_hash: Hash32::ZERO,
            validator_set_hash: Hash32::ZERO,
            next_validator_set_hash: Hash32::ZERO,
        }
    }

    /// Values a stranger might put in a field: of the right shape and of the wrong one.
    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(|n| json!(n)),
            (0u16..5).prop_map(|n| json!(n)),
            any::<i64>().prop_map(|n| json!(n)),
            "[0-9]{1,40}".prop_map(|s| json!(s)),
            "[0-9a-f]{0,70}".prop_map(|s| json!(s)),
            Just(json!(null)),
            Just(json!(true)),
            Just(json!([])),
            Just(json!({})),
        ]
    }

    fn operation(kind: u8, amount: u128) -> Operation {
        match kind % 4 {
            0 => Operation::Transfer {
                to: id(21),
                asset: usdx(),
                amount,
                expected_fee: 0,
            },
            1 => Operation::Deposit {
                asset_holder: id(BANK_A),
                asset: usdx(),
                amount,
            },
            2 => Operation::Issue {
                to: id(20),
                asset: usdx(),
                amount,
            },
            _ => Operation::SetKycState {
                account: id(20),
                state: lightclient::tx::KycState::Verified,
            },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn what_the_mempool_admits_every_validator_decodes_and_applies(
            signer in prop_oneof![Just(SETTLEMENT), Just(BANK_A), Just(KYC), Just(20u8)],
            kind in any::<u8>(),
            amount in any::<u128>(),
            field in 0usize..9,
            replacement in value(),
            resign in any::<bool>(),
            encoded in any::<bool>(),
        ) {
            let mut w = World::new();
            let tx = w.signed(signer, operation(kind, amount), 10);
            let mut json = serde_json::to_value(&tx).unwrap();
            let paths: [&[&str]; 9] = [
                &["transaction", "version"], &["transaction", "chain_id"],
                &["transaction", "genesis_hash"], &["transaction", "signer"],
                &["transaction", "salt"], &["transaction", "expires_at_height"],
                &["transaction", "operation", "amount"], &["transaction", "operation", "type"],
                &["signature"],
            ];
            let mut slot = &mut json;
            for key in paths[field] {
                slot = &mut slot[*key];
            }
            *slot = replacement;
            // A stranger who changes a field may sign the result again with the signer's key.
            if resign
                && let Ok(mut changed) =
                    serde_json::from_value::<lightclient::tx::SignedTransaction>(json.clone())
            {
                changed.signature = sign(&key(signer), &changed.txid());
                json = serde_json::to_value(&changed).unwrap();
            }
            let body = if encoded {
                match serde_json::from_value::<lightclient::tx::SignedTransaction>(json.clone()) {
                    Ok(t) => json!({ "encoded": hex::encode(t.to_bytes()) }).to_string(),
                    Err(_) => json.to_string(),
                }
            } else {
                json.to_string()
            };
            let Ok(admitted) = decode_submission(body.as_bytes()) else {
                return Ok(());
            };
            let mut mempool = Mempool::new(
                ChainBinding { chain_id: chain(), genesis_hash: genesis_hash() },
                MempoolConfig::default(),
            );
            if mempool.submit(admitted.clone(), 1).is_err() {
                return Ok(());
            }
            let block = BlockProposal { header: header(), transactions: vec![admitted.clone()] };
            let decoded = BlockProposal::from_bytes(&block.to_bytes());
            prop_assert_eq!(decoded.as_ref().map(|b| &b.transactions), Ok(&vec![admitted]));
            let mut validator = World::new();
            validator.height = 2;
            let ctx = validator.ctx();
            let outcomes = validator
                .state
                .apply_block(&decoded.unwrap().transactions, ctx, SignatureCheck::Verify);
            prop_assert!(outcomes.is_ok(), "{:?}", outcomes.err());
        }
    }
}

/// The light client's own verifier of ADR 0015's proof form agrees with the `jmt` tree the
/// nodes keep: every present key verifies with its value, every absent key verifies absent, and
/// any changed byte of a proof, value or root is refused.
mod state_proofs {
    use appliance::ledger::state_tree::{MemoryTree, StateKey, to_state_proof};
    use lightclient::encoding::{Decode, Encode};
    use lightclient::keys::{AccountId, AssetId};
    use lightclient::state::{StateProof, StateProofError};
    use proptest::prelude::*;

    fn key(n: u8) -> StateKey {
        StateKey::Balance(AccountId([n; 20]), AssetId([7; 32]))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn the_light_client_verifies_what_the_tree_proves_and_nothing_else(
            present in proptest::collection::btree_map(any::<u8>(), proptest::collection::vec(any::<u8>(), 1..40), 1..40),
            flip in any::<(usize, u8)>(),
        ) {
            let entries: Vec<(StateKey, Option<Vec<u8>>)> =
                present.iter().map(|(n, v)| (key(*n), Some(v.clone()))).collect();
            let mut tree = MemoryTree::default();
            let root = tree.commit(1, &entries).unwrap();
            for n in 0..=255u8 {
                let (value, proof) = tree.prove(&key(n), 1).unwrap();
                let proof = to_state_proof(&proof).unwrap();
                // Through the wire form, as a wallet receives it.
                let proof = StateProof::from_bytes(&proof.to_bytes()).unwrap();
                prop_assert_eq!(value.as_ref(), present.get(&n));
                prop_assert_eq!(proof.verify(&root, &key(n), value.as_deref()), Ok(()));
                match &value {
                    Some(v) => {
                        // Claiming absence, or another value, fails.
                        prop_assert!(proof.verify(&root, &key(n), None).is_err());
                        let mut other = v.clone();
                        let i = flip.0 % other.len();
                        other[i] ^= flip.1 | 1;
                        prop_assert!(
                            matches!(
                                proof.verify(&root, &key(n), Some(&other)),
                                Err(StateProofError::ValueMismatch { .. })
                            ),
                            "a changed value verified"
                        );
                    }
                    None => prop_assert!(proof.verify(&root, &key(n), Some(b"x")).is_err()),
                }
                // Any changed byte of the encoded proof is refused by decoding or verification.
                let mut bytes = proof.to_bytes();
                let i = flip.0 % bytes.len();
                bytes[i] ^= flip.1 | 1;
                if let Ok(tampered) = StateProof::from_bytes(&bytes) {
                    prop_assert!(
                        tampered.verify(&root, &key(n), value.as_deref()).is_err(),
                        "a tampered proof verified (byte {i})"
                    );
                }
                // Another root is refused.
                let mut other_root = root;
                other_root.0[flip.0 % 32] ^= flip.1 | 1;
                prop_assert!(proof.verify(&other_root, &key(n), value.as_deref()).is_err());
            }
        }
    }
}

/// `lightclient/tests/vectors/state-proofs.json`: proofs of each documented kind from a real
/// ledger state, for a second implementation of ADR 0015 to check itself against (the light
/// client's own test re-verifies the file). `UPDATE_VECTORS=1` rewrites it.
#[test]
fn state_proof_vectors() {
    use appliance::ledger::state_tree::to_state_proof;
    use lightclient::encoding::Encode;
    use lightclient::state::{AccountEntry, AssetEntry, BalanceEntry, MappingEntry, PositionEntry};
    use serde_json::{Value, json};

    let (_, tree, root) = funded_tree();
    let cases: Vec<(&str, StateKey)> = vec![
        (
            "a holder's balance (present)",
            StateKey::Balance(id(HOLDERS[0]), usdx()),
        ),
        (
            "a balance never credited (absent: zero)",
            StateKey::Balance(id(KYC), usdx()),
        ),
        ("an asset entry: its supply", StateKey::Asset(usdx())),
        (
            "an asset holder's position: coverage",
            StateKey::Position(id(BANK_A), usdx()),
        ),
        ("an account", StateKey::Account(id(HOLDERS[0]))),
        ("the mapping in force", StateKey::Mapping),
    ];
    let proofs: Vec<Value> = cases
        .into_iter()
        .map(|(description, key)| {
            let (value, proof) = tree.prove(&key, 1).unwrap();
            let proof = to_state_proof(&proof).unwrap();
            let decoded = value.as_deref().map(|v| match &key {
                StateKey::Balance(..) => json!(BalanceEntry::from_value(v).unwrap()),
                StateKey::Asset(_) => json!(AssetEntry::from_value(v).unwrap()),
                StateKey::Position(..) => json!(PositionEntry::from_value(v).unwrap()),
                StateKey::Account(_) => json!(AccountEntry::from_value(v).unwrap()),
                StateKey::Mapping => json!(MappingEntry::from_value(v).unwrap()),
                _ => Value::Null,
            });
            json!({
                "description": description,
                "key": hex::encode(key.to_bytes()),
                "key_hash": key.hash(),
                "value": value.as_deref().map(hex::encode),
                "decoded": decoded,
                "proof": hex::encode(proof.to_bytes()),
            })
        })
        .collect();
    let built = json!({
        "description": "state proofs (ADR 0015): key = tag byte + fields; key hash = SHA-256(key); value = format byte 1 + fields; proof = version 1, leaf option (key hash, value hash), siblings bottom-up; verify against state_root",
        "state_root": root,
        "proofs": proofs,
    });
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lightclient/tests/vectors/state-proofs.json");
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        let mut text = serde_json::to_string_pretty(&built).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        file, built,
        "state-proofs.json differs from what this code produces"
    );
}

//! Random operation sequences keep every invariant, and replaying the same blocks from genesis
//! reaches the same state.

use appliance::ledger::state_tree::{MemoryTree, StateKey};
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

#[test]
fn a_balance_is_proven_against_the_state_root_and_an_absent_one_is_proven_absent() {
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

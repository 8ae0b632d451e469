//! Random operation sequences keep every invariant, and replaying the same blocks from genesis
//! reaches the same state.

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
    w
}

fn replay(blocks: &[(BlockContext, Vec<SignedTransaction>)]) -> LedgerState {
    let mut w = cast();
    for (ctx, txs) in blocks {
        w.state
            .apply_block(txs, *ctx, SignatureCheck::Verify)
            .unwrap();
    }
    w.state
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
            recorded.push((ctx, txs));
        }
        prop_assert_eq!(replay(&recorded), w.state);
    }
}

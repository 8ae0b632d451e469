use appliance::ledger::{LedgerError, RequestStatus};
use lightclient::tx::{
    Decision, FeeRule, KycState, LimitPeriod, LimitRule, Operation, OperationKind, Role, Scope,
};

use crate::world::*;

const FEES: u8 = KYC; // the KYC admin also gets the fees and limits roles here
const COLLECTOR: u8 = 50;

/// Alice (bank A) holds 1,000; Bob banks with B; the platform's fee account banks with A.
fn funded() -> World {
    let mut w = World::new();
    w.holder(20, BANK_A);
    w.holder(21, BANK_B);
    w.holder(COLLECTOR, BANK_A);
    w.run(
        SUPER,
        Operation::GrantRole {
            account: id(FEES),
            role: Role::FeesAdmin,
        },
    )
    .unwrap();
    w.run(
        SUPER,
        Operation::GrantRole {
            account: id(FEES),
            role: Role::LimitsAdmin,
        },
    )
    .unwrap();
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 5_000,
        },
    )
    .unwrap();
    w.run(
        BANK_A,
        Operation::Issue {
            to: id(20),
            asset: usdx(),
            amount: 1_000,
        },
    )
    .unwrap();
    w
}

fn fee_rule(scope: Scope, min: u128, max: u128, flat: u128, ppm: u32) -> FeeRule {
    FeeRule {
        scope,
        min_amount: min,
        max_amount: max,
        flat,
        percent_ppm: ppm,
        collector: id(COLLECTOR),
    }
}

fn transfers() -> Scope {
    Scope {
        operation: Some(OperationKind::Transfer),
        ..Scope::default()
    }
}

fn pay(amount: u128, fee: u128) -> Operation {
    Operation::Transfer {
        to: id(21),
        asset: usdx(),
        amount,
        expected_fee: fee,
    }
}

#[test]
fn transfer_fee_is_flat_plus_percent_and_reaches_the_collector() {
    let mut w = funded();
    assert_eq!(
        w.run(
            BANK_A,
            Operation::SetFee {
                id: 1,
                rule: Some(fee_rule(transfers(), 0, 10_000, 2, 10_000))
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: id(BANK_A),
            role: Role::FeesAdmin
        })
    );
    w.run(
        FEES,
        Operation::SetFee {
            id: 1,
            rule: Some(fee_rule(transfers(), 0, 10_000, 2, 10_000)),
        },
    )
    .unwrap();
    // 1 % of 300 is 3, plus 2 flat.
    assert_eq!(
        w.run(20, pay(300, 0)),
        Err(LedgerError::FeeMismatch {
            expected: 0,
            actual: 5
        })
    );
    w.run(20, pay(300, 5)).unwrap();
    assert_eq!(w.state.balance(&id(20), &usdx()).available, 695);
    assert_eq!(w.state.balance(&id(21), &usdx()).available, 300);
    assert_eq!(w.state.balance(&id(COLLECTOR), &usdx()).available, 5);
    // Only the 300 crossed to bank B; the fee stayed with bank A's customers.
    assert_eq!(w.state.position(&id(BANK_B), &usdx()).unsettled, 300);
    assert_eq!(w.state.position(&id(BANK_A), &usdx()).issued, 700);
}

#[test]
fn overlapping_ranges_of_one_scope_are_refused_and_the_most_specific_rule_wins() {
    let mut w = funded();
    w.run(
        FEES,
        Operation::SetFee {
            id: 1,
            rule: Some(fee_rule(transfers(), 0, 1_000, 10, 0)),
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            FEES,
            Operation::SetFee {
                id: 2,
                rule: Some(fee_rule(transfers(), 1_000, 2_000, 1, 0))
            }
        ),
        Err(LedgerError::FeeRangeOverlap { other: 1 })
    );
    w.run(
        FEES,
        Operation::SetFee {
            id: 2,
            rule: Some(fee_rule(transfers(), 1_001, 2_000, 1, 0)),
        },
    )
    .unwrap();
    let alice_only = Scope {
        account: Some(id(20)),
        ..transfers()
    };
    w.run(
        FEES,
        Operation::SetFee {
            id: 3,
            rule: Some(fee_rule(alice_only, 0, 1_000, 1, 0)),
        },
    )
    .unwrap();
    w.run(20, pay(10, 1)).unwrap();
    assert!(matches!(
        w.run(
            FEES,
            Operation::SetFee {
                id: 4,
                rule: Some(fee_rule(transfers(), 5, 1, 0, 0))
            }
        ),
        Err(LedgerError::InvalidArgument(_))
    ));
    // Removing the account rule brings back the general one.
    w.run(FEES, Operation::SetFee { id: 3, rule: None })
        .unwrap();
    w.run(20, pay(10, 10)).unwrap();
}

#[test]
fn limits_accumulate_per_period_and_the_strictest_binds() {
    let mut w = funded();
    let rule = |period, max| {
        Some(LimitRule {
            scope: transfers(),
            period,
            max_amount: max,
            max_per_payment: None,
        })
    };
    assert_eq!(
        w.run(
            BANK_A,
            Operation::SetLimit {
                id: 1,
                rule: rule(LimitPeriod::Daily, 100)
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: id(BANK_A),
            role: Role::LimitsAdmin
        })
    );
    w.run(
        FEES,
        Operation::SetLimit {
            id: 1,
            rule: rule(LimitPeriod::Daily, 100),
        },
    )
    .unwrap();
    w.run(
        FEES,
        Operation::SetLimit {
            id: 2,
            rule: rule(LimitPeriod::Annual, 80),
        },
    )
    .unwrap();
    w.run(20, pay(60, 0)).unwrap();
    assert_eq!(
        w.run(20, pay(30, 0)),
        Err(LedgerError::LimitExceeded {
            rule: 2,
            used: 60,
            amount: 30,
            max: 80
        })
    );
    w.run(20, pay(20, 0)).unwrap();
    assert_eq!(
        w.run(20, pay(1, 0)),
        Err(LedgerError::LimitExceeded {
            rule: 2,
            used: 80,
            amount: 1,
            max: 80
        })
    );
}

#[test]
fn redemption_locks_then_approval_burns_and_reduces_issued() {
    let mut w = funded();
    w.run(
        20,
        Operation::RequestRedemption {
            asset: usdx(),
            amount: 400,
            expected_fee: 0,
        },
    )
    .unwrap();
    let balance = w.state.balance(&id(20), &usdx());
    assert_eq!((balance.available, balance.locked), (600, 400));
    assert_eq!(
        w.run(
            KYC,
            Operation::ReviewRequest {
                request_id: 1,
                decision: Decision::Approve {}
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: id(KYC),
            role: Role::IssuanceAdmin
        })
    );
    // The holder's own bank may decide.
    w.run(
        BANK_A,
        Operation::ReviewRequest {
            request_id: 1,
            decision: Decision::Approve {},
        },
    )
    .unwrap();
    let balance = w.state.balance(&id(20), &usdx());
    assert_eq!((balance.available, balance.locked), (600, 0));
    assert_eq!(w.state.asset(&usdx()).unwrap().issued, 600);
    assert_eq!(w.state.position(&id(BANK_A), &usdx()).issued, 600);
    assert!(matches!(
        w.state.request(1).unwrap().status,
        RequestStatus::Approved { .. }
    ));
    assert_eq!(
        w.run(
            ISSUANCE,
            Operation::ReviewRequest {
                request_id: 1,
                decision: Decision::Approve {}
            }
        ),
        Err(LedgerError::RequestDecided(1))
    );
    assert_eq!(
        w.run(
            ISSUANCE,
            Operation::ReviewRequest {
                request_id: 9,
                decision: Decision::Approve {}
            }
        ),
        Err(LedgerError::UnknownRequest(9))
    );
}

#[test]
fn rejection_unlocks_and_reverts_limit_usage() {
    let mut w = funded();
    let scope = Scope {
        operation: Some(OperationKind::Redemption),
        ..Scope::default()
    };
    w.run(
        FEES,
        Operation::SetLimit {
            id: 7,
            rule: Some(LimitRule {
                scope,
                period: LimitPeriod::Monthly,
                max_amount: 500,
                max_per_payment: None,
            }),
        },
    )
    .unwrap();
    w.run(
        20,
        Operation::RequestRedemption {
            asset: usdx(),
            amount: 400,
            expected_fee: 0,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            20,
            Operation::RequestRedemption {
                asset: usdx(),
                amount: 200,
                expected_fee: 0
            }
        ),
        Err(LedgerError::LimitExceeded {
            rule: 7,
            used: 400,
            amount: 200,
            max: 500
        })
    );
    w.run(
        ISSUANCE,
        Operation::ReviewRequest {
            request_id: 1,
            decision: Decision::Reject {
                reason: "documents missing".into(),
            },
        },
    )
    .unwrap();
    let balance = w.state.balance(&id(20), &usdx());
    assert_eq!((balance.available, balance.locked), (1_000, 0));
    assert_eq!(w.state.asset(&usdx()).unwrap().issued, 1_000);
    assert!(
        matches!(&w.state.request(1).unwrap().status, RequestStatus::Rejected { reason, .. } if reason == "documents missing")
    );
    // The limit has room again.
    w.run(
        20,
        Operation::RequestRedemption {
            asset: usdx(),
            amount: 500,
            expected_fee: 0,
        },
    )
    .unwrap();
}

#[test]
fn redemption_fee_is_paid_on_approval() {
    let mut w = funded();
    let scope = Scope {
        operation: Some(OperationKind::Redemption),
        ..Scope::default()
    };
    w.run(
        FEES,
        Operation::SetFee {
            id: 1,
            rule: Some(fee_rule(scope, 0, 10_000, 7, 0)),
        },
    )
    .unwrap();
    w.run(
        20,
        Operation::RequestRedemption {
            asset: usdx(),
            amount: 100,
            expected_fee: 7,
        },
    )
    .unwrap();
    assert_eq!(w.state.balance(&id(20), &usdx()).locked, 107);
    w.run(
        ISSUANCE,
        Operation::ReviewRequest {
            request_id: 1,
            decision: Decision::Approve {},
        },
    )
    .unwrap();
    assert_eq!(w.state.balance(&id(COLLECTOR), &usdx()).available, 7);
    assert_eq!(w.state.balance(&id(20), &usdx()).available, 893);
    assert_eq!(w.state.asset(&usdx()).unwrap().issued, 900);
}

#[test]
fn replayed_expired_far_future_and_forged_transactions_are_refused() {
    let mut w = funded();
    let tx = w.signed(20, pay(10, 0), 5);
    let first = w.apply(&tx);
    assert_eq!(first.error, None);
    assert_eq!(first.receipt.code, 0);
    let again = w.apply(&tx);
    assert_eq!(again.error, Some(LedgerError::AlreadyIncluded(tx.txid())));
    assert_eq!(again.receipt.code, 35);

    let old = w.signed(20, pay(10, 0), 0);
    w.height += 1;
    let height = w.height;
    assert_eq!(
        w.apply(&old).error,
        Some(LedgerError::Expired {
            expires_at_height: height - 1,
            height
        })
    );

    let far = w.signed(20, pay(10, 0), appliance::ledger::MAX_TX_LIFETIME + 1);
    let limit = w.height + appliance::ledger::MAX_TX_LIFETIME;
    assert_eq!(
        w.apply(&far).error,
        Some(LedgerError::ExpiryTooFar {
            expires_at_height: limit + 1,
            limit
        })
    );

    let mut forged = w.signed(20, pay(10, 0), 5);
    forged.transaction.salt += 1;
    assert_eq!(w.apply(&forged).error, Some(LedgerError::BadSignature));
    assert_eq!(w.state.balance(&id(21), &usdx()).available, 10);
}

#[test]
fn a_refused_transaction_is_remembered_so_it_cannot_succeed_later() {
    let mut w = funded();
    let early = w.signed(20, pay(5_000, 0), 50);
    assert!(matches!(
        w.apply(&early).error,
        Some(LedgerError::InsufficientBalance { .. })
    ));
    w.run(
        BANK_A,
        Operation::Issue {
            to: id(20),
            asset: usdx(),
            amount: 4_000,
        },
    )
    .unwrap();
    assert_eq!(
        w.apply(&early).error,
        Some(LedgerError::AlreadyIncluded(early.txid()))
    );
}

#[test]
fn applied_transactions_enter_the_audit_trail_with_their_authoriser() {
    let mut w = funded();
    let before = w.state.audit().len();
    let tx = w.signed(
        BANK_A,
        Operation::Issue {
            to: id(20),
            asset: usdx(),
            amount: 1,
        },
        5,
    );
    w.apply(&tx);
    let refused = w.signed(
        BANK_A,
        Operation::Issue {
            to: id(20),
            asset: usdx(),
            amount: 0,
        },
        5,
    );
    w.apply(&refused);
    assert_eq!(w.state.audit().len(), before + 1);
    let entry = w.state.audit().last().unwrap();
    assert_eq!(
        (entry.actor, entry.action.as_str(), entry.txid),
        (id(BANK_A), "issue", tx.txid())
    );
}

#[test]
fn expired_txids_are_pruned() {
    let mut w = funded();
    let tx = w.signed(20, pay(1, 0), 2);
    w.apply(&tx);
    let expiry = tx.transaction.expires_at_height;
    w.state.prune_expired_txids(expiry);
    assert_eq!(
        w.apply(&tx).error,
        Some(LedgerError::AlreadyIncluded(tx.txid()))
    );
    w.state.prune_expired_txids(expiry + 1);
    // Once pruned it is refused as expired instead.
    w.height = expiry + 1;
    assert_eq!(
        w.apply(&tx).error,
        Some(LedgerError::Expired {
            expires_at_height: expiry,
            height: expiry + 1
        })
    );
}

/// A fee collector that cannot hold the tokens the rule charges is refused when the rule is set
/// (otherwise every matching transfer would fail with `no_asset_holder`).
#[test]
fn a_fee_rule_whose_collector_cannot_hold_the_asset_is_refused_when_set() {
    let mut w = funded();
    let to_the_bank = FeeRule {
        collector: id(BANK_A),
        ..fee_rule(transfers(), 0, 10_000, 2, 0)
    };
    assert_eq!(
        w.run(
            FEES,
            Operation::SetFee {
                id: 1,
                rule: Some(to_the_bank.clone()),
            }
        ),
        Err(LedgerError::NoAssetHolder(id(BANK_A)))
    );
    // Scoped to an asset that does not exist.
    let unknown = lightclient::genesis::asset_id_for_code("NOPE");
    assert_eq!(
        w.run(
            FEES,
            Operation::SetFee {
                id: 1,
                rule: Some(FeeRule {
                    scope: Scope {
                        asset: Some(unknown),
                        ..transfers()
                    },
                    ..to_the_bank
                }),
            }
        ),
        Err(LedgerError::UnknownAsset(unknown))
    );
    // Nothing was set: transfers still pay no fee.
    w.run(20, pay(10, 0)).unwrap();
}

/// A fee rule for an operation the ledger charges no fee on is refused when set, not kept to
/// charge nothing.
#[test]
fn a_fee_rule_for_an_operation_without_fees_is_refused() {
    let mut w = funded();
    for operation in [
        OperationKind::Issue,
        OperationKind::Deposit,
        OperationKind::Withdraw,
    ] {
        let rule = fee_rule(
            Scope {
                operation: Some(operation),
                ..Scope::default()
            },
            0,
            10_000,
            2,
            0,
        );
        assert_eq!(
            w.run(
                FEES,
                Operation::SetFee {
                    id: 1,
                    rule: Some(rule)
                }
            ),
            Err(LedgerError::FeeNeverCharged { operation })
        );
    }
    assert_eq!(
        appliance::ledger::code_name(
            LedgerError::FeeNeverCharged {
                operation: OperationKind::Issue
            }
            .code()
        ),
        "fee_never_charged"
    );
}

/// The seed's limits on one payment and by KYC state: a per-payment maximum binds a single
/// transfer whatever the period's total, and a rule scoped to a KYC state binds only accounts in
/// that state.
#[test]
fn limits_bind_one_payment_and_accounts_of_one_kyc_state() {
    let mut w = funded();
    w.run(
        FEES,
        Operation::SetLimit {
            id: 1,
            rule: Some(LimitRule {
                scope: Scope {
                    kyc_state: Some(KycState::Verified),
                    ..transfers()
                },
                period: LimitPeriod::Daily,
                max_amount: 1_000,
                max_per_payment: Some(50),
            }),
        },
    )
    .unwrap();
    // Holder 20 is verified: 60 in one payment is too much, two of 50 are fine.
    assert_eq!(
        w.run(20, pay(60, 0)),
        Err(LedgerError::PaymentAboveLimit {
            rule: 1,
            amount: 60,
            max: 50
        })
    );
    w.run(20, pay(50, 0)).unwrap();
    w.run(20, pay(50, 0)).unwrap();
    // A corporate account is outside the rule's scope.
    w.run(
        KYC,
        Operation::SetKycState {
            account: id(20),
            state: KycState::Corporate,
        },
    )
    .unwrap();
    w.run(20, pay(60, 0)).unwrap();
    // A per-payment maximum of nothing is refused: it would refuse every payment.
    assert!(matches!(
        w.run(
            FEES,
            Operation::SetLimit {
                id: 2,
                rule: Some(LimitRule {
                    scope: transfers(),
                    period: LimitPeriod::Daily,
                    max_amount: 1_000,
                    max_per_payment: Some(0),
                }),
            }
        ),
        Err(LedgerError::InvalidArgument(_))
    ));
}

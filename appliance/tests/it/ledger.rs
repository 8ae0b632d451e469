use appliance::ledger::{LedgerError, SettlementEvent};
use lightclient::hash::sha256;
use lightclient::tx::{BackingKind, KycState, Operation, Role, registration_digest};

use crate::world::*;

fn transfer(to: u8, amount: u128) -> Operation {
    Operation::Transfer {
        to: id(to),
        asset: usdx(),
        amount,
        expected_fee: 0,
    }
}

#[test]
fn the_asset_backed_token_process_end_to_end() {
    let mut w = World::new();
    // 1. Holders register with their banks by signing the bank's challenge, then pass KYC.
    let alice = w.holder(20, BANK_A);
    let bob = w.holder(21, BANK_B);
    assert_eq!(
        w.state.account(&alice).unwrap().asset_holder,
        Some(id(BANK_A))
    );
    // 2. The settlement institution records the banks' deposits (settled assets).
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 10_000,
        },
    )
    .unwrap();
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_B),
            asset: usdx(),
            amount: 5_000,
        },
    )
    .unwrap();
    // 3. Bank A issues to Alice within its coverage.
    w.run(
        BANK_A,
        Operation::Issue {
            to: alice,
            asset: usdx(),
            amount: 8_000,
        },
    )
    .unwrap();
    assert_eq!(w.state.position(&id(BANK_A), &usdx()).issued, 8_000);
    // 4. Alice pays Bob, a customer of bank B: the obligation moves between the banks.
    w.run(20, transfer(21, 3_000)).unwrap();
    assert_eq!(w.state.balance(&alice, &usdx()).available, 5_000);
    assert_eq!(w.state.balance(&bob, &usdx()).available, 3_000);
    let a = w.state.position(&id(BANK_A), &usdx());
    let b = w.state.position(&id(BANK_B), &usdx());
    assert_eq!((a.settled, a.unsettled, a.issued), (10_000, -3_000, 5_000));
    assert_eq!((b.settled, b.unsettled, b.issued), (5_000, 3_000, 3_000));
    // 5. Settlement: unsettled becomes settled, one event per bank with a non-zero balance.
    w.run(SETTLEMENT, Operation::RunSettlement { asset: usdx() })
        .unwrap();
    let a = w.state.position(&id(BANK_A), &usdx());
    let b = w.state.position(&id(BANK_B), &usdx());
    assert_eq!((a.settled, a.unsettled), (7_000, 0));
    assert_eq!((b.settled, b.unsettled), (8_000, 0));
    let events: Vec<_> = w
        .state
        .settlement_events()
        .iter()
        .map(|e| (e.asset_holder, e.amount))
        .collect();
    assert_eq!(
        events,
        vec![(id(BANK_A), -3_000), (id(BANK_B), 3_000)]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    // A second run with nothing unsettled emits nothing.
    w.run(SETTLEMENT, Operation::RunSettlement { asset: usdx() })
        .unwrap();
    assert_eq!(w.state.settlement_events().len(), 2);
    // 6. Bob redeems part of his tokens: locked on request, burned on his bank's approval.
    w.run(
        21,
        Operation::RequestRedemption {
            asset: usdx(),
            amount: 1_000,
            expected_fee: 0,
        },
    )
    .unwrap();
    assert_eq!(w.state.balance(&bob, &usdx()).locked, 1_000);
    w.run(
        BANK_B,
        Operation::ReviewRequest {
            request_id: 1,
            decision: lightclient::tx::Decision::Approve {},
        },
    )
    .unwrap();
    assert_eq!(
        w.state.balance(&bob, &usdx()),
        appliance::ledger::Balance {
            available: 2_000,
            locked: 0
        }
    );
    assert_eq!(w.state.position(&id(BANK_B), &usdx()).issued, 2_000);
    assert_eq!(w.state.asset(&usdx()).unwrap().issued, 7_000);
    // 7. Withdrawals only of settled assets, never below coverage.
    w.run(
        SETTLEMENT,
        Operation::Withdraw {
            asset_holder: id(BANK_B),
            asset: usdx(),
            amount: 6_000,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            SETTLEMENT,
            Operation::Withdraw {
                asset_holder: id(BANK_B),
                asset: usdx(),
                amount: 1
            }
        ),
        Err(LedgerError::NotCovered {
            asset_holder: id(BANK_B),
            assets: 1_999,
            issued: 2_000
        })
    );
}

#[test]
fn settlement_event_carries_height_and_asset() {
    let mut w = World::new();
    w.holder(20, BANK_A);
    w.holder(21, BANK_B);
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 100,
        },
    )
    .unwrap();
    w.run(
        BANK_A,
        Operation::Issue {
            to: id(20),
            asset: usdx(),
            amount: 100,
        },
    )
    .unwrap();
    w.run(20, transfer(21, 40)).unwrap();
    let height = w.height;
    w.run(SETTLEMENT, Operation::RunSettlement { asset: usdx() })
        .unwrap();
    let event = w
        .state
        .settlement_events()
        .iter()
        .find(|e| e.asset_holder == id(BANK_A))
        .unwrap();
    assert_eq!(
        *event,
        SettlementEvent {
            height,
            asset: usdx(),
            asset_holder: id(BANK_A),
            amount: -40
        }
    );
    assert_eq!(w.state.settlement_events().len(), 2);
}

#[test]
fn registration_errors() {
    let mut w = World::new();
    let challenge = sha256(b"c");
    let digest = registration_digest(&chain(), &id(BANK_A), &challenge);
    // Signed for bank B's challenge, presented by bank A.
    let wrong = registration_digest(&chain(), &id(BANK_B), &challenge);
    assert_eq!(
        w.run(
            BANK_A,
            Operation::RegisterHolder {
                public_key: public(&key(30)),
                challenge,
                holder_signature: sign(&key(30), &wrong)
            }
        ),
        Err(LedgerError::BadRegistrationSignature)
    );
    // Only asset holders register holders.
    assert_eq!(
        w.run(
            KYC,
            Operation::RegisterHolder {
                public_key: public(&key(30)),
                challenge,
                holder_signature: sign(&key(30), &digest)
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: id(KYC),
            role: Role::AssetHolder
        })
    );
    w.run(
        BANK_A,
        Operation::RegisterHolder {
            public_key: public(&key(30)),
            challenge,
            holder_signature: sign(&key(30), &digest),
        },
    )
    .unwrap();
    assert_eq!(w.state.account(&id(30)).unwrap().kyc, KycState::Unverified);
    assert_eq!(
        w.run(
            BANK_A,
            Operation::RegisterHolder {
                public_key: public(&key(30)),
                challenge,
                holder_signature: sign(&key(30), &digest)
            }
        ),
        Err(LedgerError::AccountExists(id(30)))
    );
}

#[test]
fn unknown_signer_and_wrong_key_are_refused() {
    let mut w = World::new();
    assert_eq!(
        w.run(77, transfer(BANK_A, 1)),
        Err(LedgerError::UnknownSigner(id(77)))
    );
    assert_eq!(
        w.run_as(&key(78), id(BANK_A), transfer(BANK_B, 1)),
        Err(LedgerError::WrongKey(id(BANK_A)))
    );
}

#[test]
fn kyc_ban_unban_and_their_errors() {
    let mut w = World::new();
    let alice = w.holder(20, BANK_A);
    assert_eq!(
        w.run(
            BANK_A,
            Operation::SetKycState {
                account: alice,
                state: KycState::Corporate
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: id(BANK_A),
            role: Role::KycAdmin
        })
    );
    assert!(matches!(
        w.run(
            KYC,
            Operation::SetKycState {
                account: alice,
                state: KycState::Banned
            }
        ),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert_eq!(
        w.run(KYC, Operation::Unban { account: alice }),
        Err(LedgerError::NotBanned(alice))
    );
    w.run(
        KYC,
        Operation::Ban {
            account: alice,
            reason: "sanctions".into(),
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            KYC,
            Operation::Ban {
                account: alice,
                reason: "again".into()
            }
        ),
        Err(LedgerError::Banned(alice))
    );
    assert_eq!(
        w.run(
            KYC,
            Operation::SetKycState {
                account: alice,
                state: KycState::Verified
            }
        ),
        Err(LedgerError::Banned(alice))
    );
    // A banned holder can neither send nor receive.
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 100,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            BANK_A,
            Operation::Issue {
                to: alice,
                asset: usdx(),
                amount: 1
            }
        ),
        Err(LedgerError::Banned(alice))
    );
    w.run(KYC, Operation::Unban { account: alice }).unwrap();
    assert_eq!(w.state.account(&alice).unwrap().kyc, KycState::Verified);
    w.run(
        BANK_A,
        Operation::Issue {
            to: alice,
            asset: usdx(),
            amount: 1,
        },
    )
    .unwrap();
}

#[test]
fn unverified_holders_cannot_receive() {
    let mut w = World::new();
    let challenge = sha256(b"c");
    let digest = registration_digest(&chain(), &id(BANK_A), &challenge);
    w.run(
        BANK_A,
        Operation::RegisterHolder {
            public_key: public(&key(30)),
            challenge,
            holder_signature: sign(&key(30), &digest),
        },
    )
    .unwrap();
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 100,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            BANK_A,
            Operation::Issue {
                to: id(30),
                asset: usdx(),
                amount: 1
            }
        ),
        Err(LedgerError::KycRequired {
            account: id(30),
            state: KycState::Unverified
        })
    );
}

#[test]
fn key_recovery_rotates_the_key_and_keeps_the_account() {
    let mut w = World::new();
    let alice = w.holder(20, BANK_A);
    assert_eq!(
        w.run(
            KYC,
            Operation::RecoverKey {
                account: alice,
                new_public_key: public(&key(40))
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: id(KYC),
            role: Role::SecurityAdmin
        })
    );
    assert_eq!(
        w.run(
            SECURITY,
            Operation::RecoverKey {
                account: alice,
                new_public_key: public(&key(BANK_B))
            }
        ),
        Err(LedgerError::KeyInUse(id(BANK_B)))
    );
    w.run(
        SECURITY,
        Operation::RecoverKey {
            account: alice,
            new_public_key: public(&key(40)),
        },
    )
    .unwrap();
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 100,
        },
    )
    .unwrap();
    w.run(
        BANK_A,
        Operation::Issue {
            to: alice,
            asset: usdx(),
            amount: 10,
        },
    )
    .unwrap();
    let bob = w.holder(21, BANK_A);
    // The old key no longer works; the new one does.
    assert_eq!(
        w.run_as(&key(20), alice, transfer(21, 1)),
        Err(LedgerError::WrongKey(alice))
    );
    w.run_as(&key(40), alice, transfer(21, 1)).unwrap();
    assert_eq!(w.state.balance(&bob, &usdx()).available, 1);
}

#[test]
fn roles_are_granted_and_revoked_by_super_admins_only() {
    let mut w = World::new();
    assert_eq!(
        w.run(
            KYC,
            Operation::GrantRole {
                account: id(KYC),
                role: Role::FeesAdmin
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: id(KYC),
            role: Role::SuperAdmin
        })
    );
    w.run(
        SUPER,
        Operation::GrantRole {
            account: id(KYC),
            role: Role::FeesAdmin,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            SUPER,
            Operation::GrantRole {
                account: id(KYC),
                role: Role::FeesAdmin
            }
        ),
        Err(LedgerError::RoleUnchanged {
            account: id(KYC),
            role: Role::FeesAdmin,
            has: true
        })
    );
    w.run(
        SUPER,
        Operation::RevokeRole {
            account: id(KYC),
            role: Role::FeesAdmin,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            SUPER,
            Operation::RevokeRole {
                account: id(SUPER),
                role: Role::SuperAdmin
            }
        ),
        Err(LedgerError::LastSuperAdmin(id(SUPER)))
    );
    assert_eq!(
        w.run(
            SUPER,
            Operation::GrantRole {
                account: id(99),
                role: Role::VaultStaff
            }
        ),
        Err(LedgerError::UnknownAccount(id(99)))
    );
}

#[test]
fn asset_creation_rules() {
    let mut w = World::new();
    let create =
        |code: &str, precision: u8, backing: BackingKind, maximum: u128| Operation::CreateAsset {
            code: code.into(),
            precision,
            backing,
            maximum,
        };
    assert_eq!(
        w.run(BANK_A, create("EURX", 2, BackingKind::DepositBacked, 10)),
        Err(LedgerError::NotAuthorised {
            account: id(BANK_A),
            role: Role::IssuanceAdmin
        })
    );
    assert!(matches!(
        w.run(ISSUANCE, create("eur", 2, BackingKind::DepositBacked, 10)),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert!(matches!(
        w.run(ISSUANCE, create("EURX", 19, BackingKind::DepositBacked, 10)),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert!(matches!(
        w.run(
            ISSUANCE,
            create("XAU", 3, BackingKind::AllocatedPhysical, 10)
        ),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert_eq!(
        w.run(ISSUANCE, create("EURX", 2, BackingKind::DepositBacked, 0)),
        Err(LedgerError::ZeroAmount)
    );
    assert_eq!(
        w.run(ISSUANCE, create("USDX", 2, BackingKind::DepositBacked, 10)),
        Err(LedgerError::AssetExists("USDX".into()))
    );
    w.run(ISSUANCE, create("EURX", 2, BackingKind::DepositBacked, 10))
        .unwrap();
    assert_eq!(
        w.state
            .asset(&lightclient::genesis::asset_id_for_code("EURX"))
            .unwrap()
            .maximum,
        10
    );
}

#[test]
fn deposit_withdraw_and_issue_errors() {
    let mut w = World::new();
    let alice = w.holder(20, BANK_A);
    let carol = w.holder(22, BANK_B);
    assert_eq!(
        w.run(
            BANK_A,
            Operation::Deposit {
                asset_holder: id(BANK_A),
                asset: usdx(),
                amount: 1
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: id(BANK_A),
            role: Role::SettlementInstitution
        })
    );
    assert_eq!(
        w.run(
            SETTLEMENT,
            Operation::Deposit {
                asset_holder: alice,
                asset: usdx(),
                amount: 1
            }
        ),
        Err(LedgerError::NotAuthorised {
            account: alice,
            role: Role::AssetHolder
        })
    );
    assert_eq!(
        w.run(
            SETTLEMENT,
            Operation::Deposit {
                asset_holder: id(BANK_A),
                asset: usdx(),
                amount: 0
            }
        ),
        Err(LedgerError::ZeroAmount)
    );
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 100,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            SETTLEMENT,
            Operation::Withdraw {
                asset_holder: id(BANK_A),
                asset: usdx(),
                amount: 101
            }
        ),
        Err(LedgerError::InsufficientSettled {
            asset_holder: id(BANK_A),
            settled: 100,
            amount: 101
        })
    );
    assert_eq!(
        w.run(
            BANK_A,
            Operation::Issue {
                to: alice,
                asset: usdx(),
                amount: 101
            }
        ),
        Err(LedgerError::NotCovered {
            asset_holder: id(BANK_A),
            assets: 100,
            issued: 101
        })
    );
    assert_eq!(
        w.run(
            BANK_A,
            Operation::Issue {
                to: carol,
                asset: usdx(),
                amount: 1
            }
        ),
        Err(LedgerError::NotCustomer {
            holder: carol,
            asset_holder: id(BANK_A)
        })
    );
    let unknown = lightclient::keys::AssetId([9; 32]);
    assert_eq!(
        w.run(
            BANK_A,
            Operation::Issue {
                to: alice,
                asset: unknown,
                amount: 1
            }
        ),
        Err(LedgerError::UnknownAsset(unknown))
    );
    w.run(
        BANK_A,
        Operation::Issue {
            to: alice,
            asset: usdx(),
            amount: 100,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            SETTLEMENT,
            Operation::Withdraw {
                asset_holder: id(BANK_A),
                asset: usdx(),
                amount: 1
            }
        ),
        Err(LedgerError::NotCovered {
            asset_holder: id(BANK_A),
            assets: 99,
            issued: 100
        })
    );
}

#[test]
fn issuance_stops_at_the_asset_maximum() {
    let mut w = World::new();
    let alice = w.holder(20, BANK_A);
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 2_000_000_000,
        },
    )
    .unwrap();
    w.run(
        BANK_A,
        Operation::Issue {
            to: alice,
            asset: usdx(),
            amount: 1_000_000_000,
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            BANK_A,
            Operation::Issue {
                to: alice,
                asset: usdx(),
                amount: 1
            }
        ),
        Err(LedgerError::AboveMaximum {
            asset: usdx(),
            supply: 1_000_000_001,
            maximum: 1_000_000_000
        })
    );
}

#[test]
fn transfer_errors() {
    let mut w = World::new();
    w.holder(20, BANK_A);
    w.holder(21, BANK_B);
    w.run(
        SETTLEMENT,
        Operation::Deposit {
            asset_holder: id(BANK_A),
            asset: usdx(),
            amount: 100,
        },
    )
    .unwrap();
    w.run(
        BANK_A,
        Operation::Issue {
            to: id(20),
            asset: usdx(),
            amount: 50,
        },
    )
    .unwrap();
    assert_eq!(w.run(20, transfer(21, 0)), Err(LedgerError::ZeroAmount));
    assert_eq!(w.run(20, transfer(20, 1)), Err(LedgerError::SelfTransfer));
    assert_eq!(
        w.run(20, transfer(99, 1)),
        Err(LedgerError::UnknownAccount(id(99)))
    );
    assert_eq!(
        w.run(20, transfer(21, 51)),
        Err(LedgerError::InsufficientBalance {
            account: id(20),
            asset: usdx(),
            available: 50,
            needed: 51
        })
    );
    assert_eq!(
        w.run(
            20,
            Operation::Transfer {
                to: id(21),
                asset: usdx(),
                amount: 1,
                expected_fee: 5
            }
        ),
        Err(LedgerError::FeeMismatch {
            expected: 5,
            actual: 0
        })
    );
    // Admin accounts bank nowhere, so cannot hold deposit-backed tokens.
    assert_eq!(
        w.run(20, transfer(KYC, 1)),
        Err(LedgerError::NoAssetHolder(id(KYC)))
    );
    // Nothing moved.
    assert_eq!(w.state.balance(&id(20), &usdx()).available, 50);
}

#[test]
fn exchange_operations_are_unsupported() {
    let mut w = World::new();
    assert!(matches!(
        w.run(
            SUPER,
            Operation::PlaceOffer {
                sell_asset: usdx(),
                sell_amount: 1,
                buy_asset: usdx(),
                buy_amount: 1
            }
        ),
        Err(LedgerError::Unsupported(_))
    ));
    assert!(matches!(
        w.run(SUPER, Operation::CancelOffer { offer_id: 1 }),
        Err(LedgerError::Unsupported(_))
    ));
}

#[test]
fn every_error_code_has_its_name() {
    use appliance::ledger::code_name;
    assert_eq!(code_name(0), "applied");
    assert_eq!(code_name(LedgerError::ZeroAmount.code()), "zero_amount");
    assert_eq!(
        code_name(LedgerError::AlreadyIncluded(lightclient::Hash32::ZERO).code()),
        "already_included"
    );
    assert_eq!(
        code_name(
            LedgerError::BurnExceedsHeld {
                asset: usdx(),
                burn: 1,
                held: 0
            }
            .code()
        ),
        "burn_exceeds_held"
    );
    assert_eq!(
        code_name(
            LedgerError::FeeMismatch {
                expected: 0,
                actual: 1
            }
            .code()
        ),
        "fee_mismatch"
    );
    assert_eq!(
        code_name(
            LedgerError::WrongChain {
                chain_id: chain(),
                genesis_hash: lightclient::Hash32::ZERO
            }
            .code()
        ),
        "wrong_chain"
    );
    assert_eq!(
        code_name(
            LedgerError::EffectiveHeightOutOfRange {
                effective_height: 1,
                earliest: 3,
                latest: 9
            }
            .code()
        ),
        "effective_height_out_of_range"
    );
    assert_eq!(code_name(53), "unknown_code");
}

/// Each receipt names its code and says what the transaction did (issue 15 item 2): mint,
/// transfer, settlement per asset holder, bar registered and moved; a refused one carries its
/// code name and message and no events.
#[test]
fn receipts_name_their_code_and_record_what_the_transaction_did() {
    use lightclient::header::Event;
    let mut w = World::new();
    let alice = w.holder(30, BANK_A);
    let bob = w.holder(31, BANK_B);
    for bank in [BANK_A, BANK_B] {
        w.run(
            SETTLEMENT,
            Operation::Deposit {
                asset_holder: id(bank),
                asset: usdx(),
                amount: 1_000,
            },
        )
        .unwrap();
    }
    let tx = w.signed(
        BANK_A,
        Operation::Issue {
            to: alice,
            asset: usdx(),
            amount: 300,
        },
        10,
    );
    let receipt = w.apply(&tx).receipt;
    assert_eq!(
        (
            receipt.code,
            receipt.code_name.as_str(),
            receipt.message.as_str()
        ),
        (0, "applied", "")
    );
    assert_eq!(
        receipt.events,
        vec![Event::Mint {
            asset: usdx(),
            to: alice,
            amount: 300
        }]
    );

    let tx = w.signed(
        30,
        Operation::Transfer {
            to: bob,
            asset: usdx(),
            amount: 120,
            expected_fee: 0,
        },
        10,
    );
    assert_eq!(
        w.apply(&tx).receipt.events,
        vec![Event::Transfer {
            asset: usdx(),
            from: alice,
            to: bob,
            amount: 120
        }]
    );

    // Refused: more than alice holds. The receipt names why, and records nothing done.
    let tx = w.signed(
        30,
        Operation::Transfer {
            to: bob,
            asset: usdx(),
            amount: 1_000_000,
            expected_fee: 0,
        },
        10,
    );
    let outcome = w.apply(&tx);
    let error = outcome.error.unwrap();
    assert_eq!(outcome.receipt.code, error.code());
    assert_eq!(
        outcome.receipt.code_name,
        appliance::ledger::code_name(error.code())
    );
    assert_eq!(outcome.receipt.message, error.to_string());
    assert!(outcome.receipt.events.is_empty());

    let tx = w.signed(SETTLEMENT, Operation::RunSettlement { asset: usdx() }, 10);
    assert_eq!(
        w.apply(&tx).receipt.events,
        vec![
            Event::Settlement {
                asset: usdx(),
                asset_holder: id(BANK_A).min(id(BANK_B)),
                amount: if id(BANK_A) < id(BANK_B) { -120 } else { 120 },
            },
            Event::Settlement {
                asset: usdx(),
                asset_holder: id(BANK_A).max(id(BANK_B)),
                amount: if id(BANK_A) < id(BANK_B) { 120 } else { -120 },
            },
        ]
    );

    let tx = w.signed(
        VAULT,
        Operation::RegisterItem {
            serial: "AB-9".into(),
            refiner: "Valcambi".into(),
            mass: 1_000,
            fineness: 9999,
            location: "London vault 1".into(),
        },
        10,
    );
    assert_eq!(
        w.apply(&tx).receipt.events,
        vec![Event::BarRegistered {
            serial: "AB-9".into(),
            location: "London vault 1".into()
        }]
    );
    let tx = w.signed(
        VAULT,
        Operation::MoveItem {
            serial: "AB-9".into(),
            location: "Zurich vault 2".into(),
        },
        10,
    );
    assert_eq!(
        w.apply(&tx).receipt.events,
        vec![Event::BarMoved {
            serial: "AB-9".into(),
            location: "Zurich vault 2".into()
        }]
    );
}

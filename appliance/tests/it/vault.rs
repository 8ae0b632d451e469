use appliance::ledger::{LedgerError, RequestStatus, allocated_asset_id};
use lightclient::hash::sha256;
use lightclient::mapping::MappingError;
use lightclient::tx::{Decision, Operation, Role};

use crate::world::*;

fn bar(serial: &str, mass: u128) -> Operation {
    Operation::RegisterItem {
        serial: serial.into(),
        refiner: "Valcambi".into(),
        mass,
        fineness: 9999,
        location: "London vault 1".into(),
    }
}

/// Three bars in the vault and an issuance request for two of them; returns the new asset id.
fn issuance(w: &mut World, reissuable: bool) -> lightclient::keys::AssetId {
    w.run(VAULT, bar("AB-1", 400_000)).unwrap();
    w.run(VAULT, bar("AB-2", 12_500)).unwrap();
    w.run(VAULT, bar("AB-3", 100_000)).unwrap();
    let tx = w.signed(
        ISSUANCE,
        Operation::RequestIssuance {
            code: "XAU1".into(),
            precision: 3,
            issuer: id(ISSUANCE),
            serials: vec!["AB-1".into(), "AB-2".into()],
            reissuable,
        },
        10,
    );
    let entropy = sha256(&w.height.to_be_bytes());
    assert_eq!(w.apply(&tx).error, None);
    allocated_asset_id(&entropy, &tx.txid())
}

#[test]
fn items_are_registered_moved_and_retired_by_vault_staff() {
    let mut w = World::new();
    assert_eq!(
        w.run(BANK_A, bar("AB-1", 1)),
        Err(LedgerError::NotAuthorised {
            account: id(BANK_A),
            role: Role::VaultStaff
        })
    );
    w.run(VAULT, bar("AB-1", 400_000)).unwrap();
    assert_eq!(
        w.run(VAULT, bar("AB-1", 5)),
        Err(LedgerError::ItemExists("AB-1".into()))
    );
    assert_eq!(w.run(VAULT, bar("AB-9", 0)), Err(LedgerError::ZeroAmount));
    assert!(matches!(
        w.run(VAULT, bar("", 1)),
        Err(LedgerError::InvalidArgument(_))
    ));
    w.run(
        VAULT,
        Operation::MoveItem {
            serial: "AB-1".into(),
            location: "Zurich vault 2".into(),
        },
    )
    .unwrap();
    assert_eq!(w.state.item("AB-1").unwrap().location, "Zurich vault 2");
    assert_eq!(
        w.run(
            VAULT,
            Operation::MoveItem {
                serial: "AB-7".into(),
                location: "x".into()
            }
        ),
        Err(LedgerError::UnknownItem("AB-7".into()))
    );
    w.run(
        VAULT,
        Operation::RetireItem {
            serial: "AB-1".into(),
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            VAULT,
            Operation::RetireItem {
                serial: "AB-1".into()
            }
        ),
        Err(LedgerError::ItemRetired("AB-1".into()))
    );
}

#[test]
fn issuance_request_fixes_the_asset_id_and_the_signed_mapping_mints_it() {
    let mut w = World::new();
    let asset = issuance(&mut w, false);
    assert_eq!(w.state.asset(&asset).unwrap().issued, 0);
    // Items of a pending issuance cannot be retired or requested again.
    assert_eq!(
        w.run(
            VAULT,
            Operation::RetireItem {
                serial: "AB-2".into()
            }
        ),
        Err(LedgerError::ItemAllocated("AB-2".into()))
    );

    let mapping = signed_mapping(
        1,
        vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-2")],
        &[0, 2],
    );
    w.run(
        BANK_A,
        Operation::UpdateMapping {
            mapping: mapping.clone(),
        },
    )
    .unwrap();
    assert_eq!(w.state.asset(&asset).unwrap().issued, 412_500);
    assert_eq!(w.state.balance(&id(ISSUANCE), &asset).available, 412_500);
    assert_eq!(w.state.mapping().sequence, 1);
    assert_eq!(w.state.mapping().hash, sha256(&mapping));
    assert!(matches!(
        w.state.request(1).unwrap().status,
        RequestStatus::Approved { .. }
    ));
    assert_eq!(
        w.run(
            VAULT,
            Operation::RetireItem {
                serial: "AB-1".into()
            }
        ),
        Err(LedgerError::ItemAllocated("AB-1".into()))
    );
    // The same mapping again is stale.
    assert_eq!(
        w.run(BANK_A, Operation::UpdateMapping { mapping }),
        Err(LedgerError::Mapping(MappingError::StaleSequence {
            sequence: 1,
            current: 1
        }))
    );
}

#[test]
fn mapping_updates_need_n_of_m_and_must_fit_the_items() {
    let mut w = World::new();
    let asset = issuance(&mut w, false);
    let one = signed_mapping(1, vec![entry(asset, "400", "AB-1")], &[1]);
    assert_eq!(
        w.run(BANK_A, Operation::UpdateMapping { mapping: one }),
        Err(LedgerError::Mapping(MappingError::NotEnoughSignatures {
            valid: 1,
            required: 2
        }))
    );
    let too_much = signed_mapping(1, vec![entry(asset, "400.001", "AB-1")], &[0, 1]);
    assert_eq!(
        w.run(BANK_A, Operation::UpdateMapping { mapping: too_much }),
        Err(LedgerError::ItemOverallocated {
            serial: "AB-1".into(),
            allocated: 400_001,
            mass: 400_000
        })
    );
    let missing = signed_mapping(1, vec![entry(asset, "1", "NO-SUCH-BAR")], &[0, 1]);
    assert_eq!(
        w.run(BANK_A, Operation::UpdateMapping { mapping: missing }),
        Err(LedgerError::UnknownItem("NO-SUCH-BAR".into()))
    );
    let stranger = lightclient::keys::AssetId([3; 32]);
    let unknown = signed_mapping(1, vec![entry(stranger, "1", "AB-1")], &[0, 1]);
    assert_eq!(
        w.run(BANK_A, Operation::UpdateMapping { mapping: unknown }),
        Err(LedgerError::UnknownAsset(stranger))
    );
    assert!(matches!(
        w.run(
            BANK_A,
            Operation::UpdateMapping {
                mapping: b"{not json".to_vec()
            }
        ),
        Err(LedgerError::Mapping(MappingError::Json(_)))
    ));
    // Nothing was minted by any refused update.
    assert_eq!(w.state.asset(&asset).unwrap().issued, 0);
}

#[test]
fn a_non_reissuable_asset_cannot_grow_and_a_reissuable_one_can() {
    let mut w = World::new();
    let asset = issuance(&mut w, false);
    w.run(
        BANK_A,
        Operation::UpdateMapping {
            mapping: signed_mapping(
                1,
                vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-2")],
                &[0, 1],
            ),
        },
    )
    .unwrap();
    assert_eq!(
        w.run(
            BANK_A,
            Operation::UpdateMapping {
                mapping: signed_mapping(
                    2,
                    vec![
                        entry(asset, "400", "AB-1"),
                        entry(asset, "12.5", "AB-2"),
                        entry(asset, "100", "AB-3"),
                    ],
                    &[0, 1]
                )
            }
        ),
        Err(LedgerError::NotReissuable(asset))
    );

    let mut w = World::new();
    let asset = issuance(&mut w, true);
    w.run(
        BANK_A,
        Operation::UpdateMapping {
            mapping: signed_mapping(
                1,
                vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-2")],
                &[0, 1],
            ),
        },
    )
    .unwrap();
    w.run(
        BANK_A,
        Operation::UpdateMapping {
            mapping: signed_mapping(
                2,
                vec![
                    entry(asset, "400", "AB-1"),
                    entry(asset, "12.5", "AB-2"),
                    entry(asset, "100", "AB-3"),
                ],
                &[0, 1],
            ),
        },
    )
    .unwrap();
    assert_eq!(w.state.asset(&asset).unwrap().issued, 512_500);
}

#[test]
fn redeemed_tokens_wait_in_the_redemption_account_until_the_mapping_burns_them() {
    use lightclient::keys::AccountId;
    let mut w = World::new();
    let asset = issuance(&mut w, false);
    let both = vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-2")];
    w.run(
        BANK_A,
        Operation::UpdateMapping {
            mapping: signed_mapping(1, both, &[0, 1]),
        },
    )
    .unwrap();
    let holder = w.holder(20, BANK_A);
    w.run(
        ISSUANCE,
        Operation::Transfer {
            to: holder,
            asset,
            amount: 412_500,
            expected_fee: 0,
        },
    )
    .unwrap();
    let without_ab2 = || signed_mapping(2, vec![entry(asset, "400", "AB-1")], &[0, 1]);
    // Nobody asked to redeem: the mapping cannot shrink.
    assert_eq!(
        w.run(
            BANK_A,
            Operation::UpdateMapping {
                mapping: without_ab2()
            }
        ),
        Err(LedgerError::BurnNotRedeemed {
            asset,
            burn: 12_500,
            pending: vec![]
        })
    );
    let redeem = |amount| Operation::RequestRedemption {
        asset,
        amount,
        expected_fee: 0,
    };
    w.run(20, redeem(12_500)).unwrap();
    assert_eq!(w.state.balance(&holder, &asset).available, 400_000);
    assert_eq!(
        w.state.balance(&AccountId::REDEMPTION, &asset).available,
        12_500
    );
    // Only an update that burns whole pending redemptions, oldest first, is accepted.
    let partial = signed_mapping(
        2,
        vec![entry(asset, "400", "AB-1"), entry(asset, "2.5", "AB-2")],
        &[0, 1],
    );
    assert_eq!(
        w.run(BANK_A, Operation::UpdateMapping { mapping: partial }),
        Err(LedgerError::BurnNotRedeemed {
            asset,
            burn: 10_000,
            pending: vec![12_500]
        })
    );
    // An allocated redemption is approved only by the mapping update.
    assert!(matches!(
        w.run(
            ISSUANCE,
            Operation::ReviewRequest {
                request_id: 2,
                decision: Decision::Approve {}
            }
        ),
        Err(LedgerError::InvalidArgument(_))
    ));
    w.state.take_audit();
    w.run(
        BANK_A,
        Operation::UpdateMapping {
            mapping: without_ab2(),
        },
    )
    .unwrap();
    assert_eq!(w.state.asset(&asset).unwrap().issued, 400_000);
    assert_eq!(w.state.balance(&AccountId::REDEMPTION, &asset).available, 0);
    assert!(matches!(
        w.state.request(2).unwrap().status,
        RequestStatus::Approved { .. }
    ));
    // AB-2 left the vault: retired, and the release is in the audit trail with its redeemer.
    assert!(w.state.item("AB-2").unwrap().retired);
    let audit = w.state.take_audit();
    let release = audit.iter().find(|e| e.action == "release_item").unwrap();
    assert!(release.detail.contains("AB-2"), "{}", release.detail);
    assert!(
        release.detail.contains(&holder.to_string()),
        "{}",
        release.detail
    );
    assert_eq!(release.actor, id(BANK_A));
}

#[test]
fn a_rejected_allocated_redemption_returns_the_tokens() {
    use lightclient::keys::AccountId;
    let mut w = World::new();
    let asset = issuance(&mut w, false);
    w.run(
        BANK_A,
        Operation::UpdateMapping {
            mapping: signed_mapping(
                1,
                vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-2")],
                &[0, 1],
            ),
        },
    )
    .unwrap();
    w.run(
        ISSUANCE,
        Operation::RequestRedemption {
            asset,
            amount: 12_500,
            expected_fee: 0,
        },
    )
    .unwrap();
    assert_eq!(w.state.balance(&id(ISSUANCE), &asset).available, 400_000);
    w.run(
        ISSUANCE,
        Operation::ReviewRequest {
            request_id: 2,
            decision: Decision::Reject {
                reason: "no delivery address".into(),
            },
        },
    )
    .unwrap();
    assert_eq!(w.state.balance(&id(ISSUANCE), &asset).available, 412_500);
    assert_eq!(w.state.balance(&AccountId::REDEMPTION, &asset).available, 0);
}

#[test]
fn a_first_mapping_allocates_exactly_the_requested_items() {
    let mut w = World::new();
    let asset = issuance(&mut w, true);
    assert_eq!(
        w.run(
            BANK_A,
            Operation::UpdateMapping {
                mapping: signed_mapping(1, vec![entry(asset, "400", "AB-1")], &[0, 1]),
            }
        ),
        Err(LedgerError::MappedTotalMismatch {
            asset,
            mapped: 400_000,
            expected: 412_500
        })
    );
    assert_eq!(
        w.run(
            BANK_A,
            Operation::UpdateMapping {
                mapping: signed_mapping(
                    1,
                    vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-3")],
                    &[0, 1]
                ),
            }
        ),
        Err(LedgerError::ItemNotRequested {
            asset,
            serial: "AB-3".into()
        })
    );
    assert_eq!(w.state.asset(&asset).unwrap().issued, 0);
}

#[test]
fn issuance_requests_are_checked_and_can_be_rejected() {
    let mut w = World::new();
    w.run(VAULT, bar("AB-1", 1_000)).unwrap();
    let request = |serials: Vec<&str>, precision: u8| Operation::RequestIssuance {
        code: "XAU1".into(),
        precision,
        issuer: id(ISSUANCE),
        serials: serials.into_iter().map(String::from).collect(),
        reissuable: false,
    };
    assert_eq!(
        w.run(BANK_A, request(vec!["AB-1"], 3)),
        Err(LedgerError::NotAuthorised {
            account: id(BANK_A),
            role: Role::IssuanceAdmin
        })
    );
    assert!(matches!(
        w.run(ISSUANCE, request(vec!["AB-1"], 2)),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert_eq!(
        w.run(ISSUANCE, request(vec!["AB-9"], 3)),
        Err(LedgerError::UnknownItem("AB-9".into()))
    );
    assert_eq!(
        w.run(ISSUANCE, request(vec!["AB-1", "AB-1"], 3)),
        Err(LedgerError::ItemAllocated("AB-1".into()))
    );
    w.run(ISSUANCE, request(vec!["AB-1"], 3)).unwrap();
    assert!(matches!(
        w.run(
            ISSUANCE,
            Operation::ReviewRequest {
                request_id: 1,
                decision: Decision::Approve {}
            }
        ),
        Err(LedgerError::InvalidArgument(_))
    ));
    w.run(
        ISSUANCE,
        Operation::ReviewRequest {
            request_id: 1,
            decision: Decision::Reject {
                reason: "assay pending".into(),
            },
        },
    )
    .unwrap();
    // The bar is free for a new request.
    let mut again = request(vec!["AB-1"], 3);
    if let Operation::RequestIssuance { code, .. } = &mut again {
        *code = "XAU2".into();
    }
    w.run(ISSUANCE, again).unwrap();
}

/// Backing, proven (light client `verify_backing`) from proofs of the ledger's own tree.
mod backing {
    use appliance::ledger::state_tree::{MemoryTree, StateKey, to_state_proof};
    use lightclient::backing::{BackingError, BackingEvidence, ProvenEntry, verify_backing};
    use lightclient::header::{BlockHeader, HEADER_VERSION};
    use lightclient::keys::{AccountId, AssetId, ValidatorAddress};
    use lightclient::tx::Operation;

    use super::issuance;
    use crate::world::*;

    /// A header committing to the world's state as one tree version.
    fn header(w: &mut World, tree: &mut MemoryTree) -> BlockHeader {
        w.state.take_state_changes();
        let root = tree.commit(0, &w.state.all_state_entries()).unwrap();
        BlockHeader {
            version: HEADER_VERSION,
            chain_id: chain(),
            height: 9,
            time_ms: 1_795_000_000_000,
            previous_block_hash: lightclient::Hash32([1; 32]),
            proposer: ValidatorAddress([2; 20]),
            transactions_root: lightclient::Hash32([3; 32]),
            transaction_count: 0,
            receipts_root: lightclient::Hash32([4; 32]),
            state_root: root,
            mapping_hash: w.state.mapping().hash,
            validator_set_hash: lightclient::Hash32([5; 32]),
            next_validator_set_hash: lightclient::Hash32([5; 32]),
        }
    }

    fn prove(tree: &MemoryTree, key: &StateKey) -> ProvenEntry {
        let (value, proof) = tree.prove(key, 0).unwrap();
        ProvenEntry {
            value,
            proof: to_state_proof(&proof).unwrap(),
        }
    }

    fn positions(tree: &MemoryTree, holders: &[AccountId], asset: AssetId) -> BackingEvidence {
        BackingEvidence::DepositBacked {
            positions: holders
                .iter()
                .map(|h| (*h, prove(tree, &StateKey::Position(*h, asset))))
                .collect(),
        }
    }

    #[test]
    fn deposit_backed_supply_is_proven_covered_and_complete() {
        let mut w = World::new();
        for (holder, bank, amount) in [(30, BANK_A, 1_000), (31, BANK_B, 500)] {
            w.holder(holder, bank);
            w.run(
                SETTLEMENT,
                Operation::Deposit {
                    asset_holder: id(bank),
                    asset: usdx(),
                    amount,
                },
            )
            .unwrap();
            w.run(
                bank,
                Operation::Issue {
                    to: id(holder),
                    asset: usdx(),
                    amount: amount / 2,
                },
            )
            .unwrap();
        }
        let mut tree = MemoryTree::default();
        let header = header(&mut w, &mut tree);
        let asset = prove(&tree, &StateKey::Asset(usdx()));
        let both = [id(BANK_A), id(BANK_B)];

        let report = verify_backing(
            &genesis(),
            &header,
            &usdx(),
            &asset,
            &positions(&tree, &both, usdx()),
        )
        .unwrap();
        assert_eq!((report.entry.issued, report.backed), (750, 750));
        assert_eq!(report.positions.len(), 2);

        // A node that leaves bank B out cannot make the figures add up.
        let err = verify_backing(
            &genesis(),
            &header,
            &usdx(),
            &asset,
            &positions(&tree, &both[..1], usdx()),
        )
        .unwrap_err();
        assert_eq!(
            err,
            BackingError::Incomplete {
                sum: 500,
                supply: 750
            }
        );
        assert_eq!(err.check(), "holders complete");
        // Nor by listing bank A twice.
        let err = verify_backing(
            &genesis(),
            &header,
            &usdx(),
            &asset,
            &positions(&tree, &[id(BANK_A), id(BANK_A)], usdx()),
        )
        .unwrap_err();
        assert_eq!(err, BackingError::RepeatedHolder(id(BANK_A)));
        // A position whose value was changed is refused by its proof.
        let mut evidence = positions(&tree, &both, usdx());
        if let BackingEvidence::DepositBacked { positions } = &mut evidence {
            let value = positions[1].1.value.as_mut().unwrap();
            value[16] ^= 1;
        }
        let err = verify_backing(&genesis(), &header, &usdx(), &asset, &evidence).unwrap_err();
        assert_eq!(err.check(), "proof value", "{err}");
        // A supply changed by the node is refused by the asset's proof.
        let mut inflated = asset.clone();
        inflated.value.as_mut().unwrap()[40] ^= 1;
        let err = verify_backing(
            &genesis(),
            &header,
            &usdx(),
            &inflated,
            &positions(&tree, &both, usdx()),
        )
        .unwrap_err();
        assert_eq!(err.check(), "proof value", "{err}");
        // Mapping evidence for a deposit-backed asset is the wrong kind.
        let err = verify_backing(
            &genesis(),
            &header,
            &usdx(),
            &asset,
            &BackingEvidence::Allocated { mapping: vec![] },
        )
        .unwrap_err();
        assert_eq!(err.check(), "backing kind", "{err}");
    }

    /// A holder's share of each bar is `allocated × holding ÷ supply`, rounded down, so the
    /// shares never add up to more than the holding; no supply, no bars.
    #[test]
    fn a_holders_bars_are_pro_rata_and_rounded_down() {
        use lightclient::backing::bars_of;
        let asset = AssetId([9; 32]);
        let bytes = signed_mapping(
            1,
            vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-3")],
            &[0, 2],
        );
        let mapping = lightclient::mapping::Mapping::parse(&bytes, 3).unwrap();
        let shares = bars_of(&mapping, &asset, 50_000, 412_500).unwrap();
        let figures: Vec<(&str, u128, u128)> = shares
            .iter()
            .map(|b| (b.serial.as_str(), b.allocated, b.share))
            .collect();
        assert_eq!(
            figures,
            vec![("AB-1", 400_000, 48_484), ("AB-3", 12_500, 1_515)]
        );
        assert!(shares.iter().map(|b| b.share).sum::<u128>() <= 50_000);
        // All of the supply: every bar whole.
        let whole = bars_of(&mapping, &asset, 412_500, 412_500).unwrap();
        assert_eq!(whole[0].share, 400_000);
        assert_eq!(whole[1].share, 12_500);
        assert!(bars_of(&mapping, &asset, 1, 0).unwrap().is_empty());
        assert!(
            bars_of(&mapping, &AssetId([1; 32]), 5, 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn allocated_supply_is_proven_equal_to_the_signed_mapping() {
        let mut w = World::new();
        let asset = issuance(&mut w, false);
        let mapping = signed_mapping(
            1,
            vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-2")],
            &[0, 2],
        );
        w.run(
            BANK_A,
            Operation::UpdateMapping {
                mapping: mapping.clone(),
            },
        )
        .unwrap();
        let mut tree = MemoryTree::default();
        let header = header(&mut w, &mut tree);
        let proven_asset = prove(&tree, &StateKey::Asset(asset));
        let report = verify_backing(
            &genesis(),
            &header,
            &asset,
            &proven_asset,
            &BackingEvidence::Allocated {
                mapping: mapping.clone(),
            },
        )
        .unwrap();
        assert_eq!((report.entry.issued, report.backed), (412_500, 412_500));
        assert_eq!(report.mapping, Some((1, Some(2))));

        // Other bytes than the header commits to.
        let mut other = mapping;
        other.push(b' ');
        let err = verify_backing(
            &genesis(),
            &header,
            &asset,
            &proven_asset,
            &BackingEvidence::Allocated { mapping: other },
        )
        .unwrap_err();
        assert_eq!(err.check(), "mapping_hash", "{err}");

        // A header whose mapping hash names a mapping signed by one controller only.
        let weak = signed_mapping(
            1,
            vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-2")],
            &[1],
        );
        let mut forged = header.clone();
        forged.mapping_hash = lightclient::mapping::published_hash(&weak);
        let err = verify_backing(
            &genesis(),
            &forged,
            &asset,
            &proven_asset,
            &BackingEvidence::Allocated { mapping: weak },
        )
        .unwrap_err();
        assert_eq!(err.check(), "mapping_signatures", "{err}");

        // A mapping that allocates less than the supply.
        let short = signed_mapping(1, vec![entry(asset, "400", "AB-1")], &[0, 2]);
        let mut forged = header;
        forged.mapping_hash = lightclient::mapping::published_hash(&short);
        let err = verify_backing(
            &genesis(),
            &forged,
            &asset,
            &proven_asset,
            &BackingEvidence::Allocated { mapping: short },
        )
        .unwrap_err();
        assert_eq!(
            err,
            BackingError::Unbacked {
                asset,
                supply: 412_500,
                mapped: 400_000
            }
        );
    }
}

/// A signed mapping update's receipt: the mint of the new asset to its issuer and the mapping
/// version now in force.
#[test]
fn a_mapping_update_receipt_records_the_mint_and_the_mapping_version() {
    use lightclient::header::Event;
    let mut w = World::new();
    let asset = issuance(&mut w, false);
    let mapping = signed_mapping(
        1,
        vec![entry(asset, "400", "AB-1"), entry(asset, "12.5", "AB-2")],
        &[0, 2],
    );
    let tx = w.signed(
        BANK_A,
        Operation::UpdateMapping {
            mapping: mapping.clone(),
        },
        10,
    );
    assert_eq!(
        w.apply(&tx).receipt.events,
        vec![
            Event::Mint {
                asset,
                to: id(ISSUANCE),
                amount: 412_500
            },
            Event::MappingVersion {
                sequence: 1,
                hash: lightclient::mapping::published_hash(&mapping)
            },
        ]
    );
}

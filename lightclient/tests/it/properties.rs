//! Property tests: encodings round-trip, any one-bit change to a signed object fails
//! verification, and no decoder panics on arbitrary bytes.

use lightclient::certificate::{CommitCertificate, Vote, VoteKind};
use lightclient::encoding::{Decode, Encode};
use lightclient::genesis::Genesis;
use lightclient::hash::Hash32;
use lightclient::header::{BlockHeader, ChainId, Receipt};
use lightclient::keys::{AccountId, AssetId, PublicKey, Signature};
use lightclient::mapping::Mapping;
use lightclient::merkle::InclusionProof;
use lightclient::tx::{
    BackingKind, Decision, FeeRule, KycState, LimitPeriod, LimitRule, Operation, OperationKind,
    Role, Scope, SignedTransaction, Transaction,
};
use lightclient::validator::{SetApproval, Validator, ValidatorSet};
use proptest::prelude::*;
use proptest::sample::select;

use crate::common::*;

fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}
fn account() -> impl Strategy<Value = AccountId> {
    any::<[u8; 20]>().prop_map(AccountId)
}
fn asset() -> impl Strategy<Value = AssetId> {
    any::<[u8; 32]>().prop_map(AssetId)
}
fn key() -> impl Strategy<Value = PublicKey> {
    (1u8..=64).prop_map(|seed| public_key(&signing_key(seed)))
}
fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(r, s)| Signature::from_scalars(r, s))
}
fn text() -> impl Strategy<Value = String> {
    ".{0,12}"
}
fn role() -> impl Strategy<Value = Role> {
    select(vec![
        Role::SuperAdmin,
        Role::KycAdmin,
        Role::FeesAdmin,
        Role::LimitsAdmin,
        Role::TradeAdmin,
        Role::SecurityAdmin,
        Role::IssuanceAdmin,
        Role::VaultStaff,
        Role::Controller,
        Role::AssetHolder,
        Role::SettlementInstitution,
    ])
}
fn scope() -> impl Strategy<Value = Scope> {
    (
        proptest::option::of(select(vec![
            OperationKind::Issue,
            OperationKind::Transfer,
            OperationKind::Redemption,
            OperationKind::Deposit,
            OperationKind::Withdraw,
        ])),
        proptest::option::of(asset()),
        proptest::option::of(account()),
        proptest::option::of(role()),
        proptest::option::of(select(vec![
            KycState::Unverified,
            KycState::Verified,
            KycState::Corporate,
            KycState::Banned,
        ])),
    )
        .prop_map(|(operation, asset, account, role, kyc_state)| Scope {
            operation,
            asset,
            account,
            role,
            kyc_state,
        })
}

pub fn operation() -> impl Strategy<Value = Operation> {
    let people = prop_oneof![
        (key(), hash(), signature()).prop_map(|(public_key, challenge, holder_signature)| {
            Operation::RegisterHolder {
                public_key,
                challenge,
                holder_signature,
            }
        }),
        (
            account(),
            select(vec![
                KycState::Unverified,
                KycState::Verified,
                KycState::Corporate,
                KycState::Banned
            ])
        )
            .prop_map(|(account, state)| Operation::SetKycState { account, state }),
        (account(), text()).prop_map(|(account, reason)| Operation::Ban { account, reason }),
        account().prop_map(|account| Operation::Unban { account }),
        (account(), key()).prop_map(|(account, new_public_key)| Operation::RecoverKey {
            account,
            new_public_key
        }),
        (account(), role()).prop_map(|(account, role)| Operation::GrantRole { account, role }),
        (account(), role()).prop_map(|(account, role)| Operation::RevokeRole { account, role }),
        (text(), any::<u8>(), any::<bool>(), any::<u128>()).prop_map(
            |(code, precision, physical, maximum)| {
                let backing = if physical {
                    BackingKind::AllocatedPhysical
                } else {
                    BackingKind::DepositBacked
                };
                Operation::CreateAsset {
                    code,
                    precision,
                    backing,
                    maximum,
                }
            }
        ),
    ];
    let money = prop_oneof![
        (account(), asset(), any::<u128>()).prop_map(|(asset_holder, asset, amount)| {
            Operation::Deposit {
                asset_holder,
                asset,
                amount,
            }
        }),
        (account(), asset(), any::<u128>()).prop_map(|(asset_holder, asset, amount)| {
            Operation::Withdraw {
                asset_holder,
                asset,
                amount,
            }
        }),
        (account(), asset(), any::<u128>()).prop_map(|(to, asset, amount)| Operation::Issue {
            to,
            asset,
            amount
        }),
        (account(), asset(), any::<u128>(), any::<u128>()).prop_map(
            |(to, asset, amount, expected_fee)| Operation::Transfer {
                to,
                asset,
                amount,
                expected_fee
            }
        ),
        (asset(), any::<u128>(), any::<u128>()).prop_map(|(asset, amount, expected_fee)| {
            Operation::RequestRedemption {
                asset,
                amount,
                expected_fee,
            }
        }),
        (any::<u64>(), proptest::option::of(text())).prop_map(|(request_id, reject)| {
            Operation::ReviewRequest {
                request_id,
                decision: match reject {
                    Some(reason) => Decision::Reject { reason },
                    None => Decision::Approve {},
                },
            }
        }),
        asset().prop_map(|asset| Operation::RunSettlement { asset }),
        (asset(), any::<u128>(), asset(), any::<u128>()).prop_map(
            |(sell_asset, sell_amount, buy_asset, buy_amount)| {
                Operation::PlaceOffer {
                    sell_asset,
                    sell_amount,
                    buy_asset,
                    buy_amount,
                }
            }
        ),
        any::<u64>().prop_map(|offer_id| Operation::CancelOffer { offer_id }),
    ];
    let vault = prop_oneof![
        (text(), text(), any::<u128>(), any::<u16>(), text()).prop_map(
            |(serial, refiner, mass, fineness, location)| {
                Operation::RegisterItem {
                    serial,
                    refiner,
                    mass,
                    fineness,
                    location,
                }
            }
        ),
        (text(), text()).prop_map(|(serial, location)| Operation::MoveItem { serial, location }),
        text().prop_map(|serial| Operation::RetireItem { serial }),
        (
            text(),
            any::<u8>(),
            account(),
            proptest::collection::vec(text(), 0..4),
            any::<bool>()
        )
            .prop_map(|(code, precision, issuer, serials, reissuable)| {
                Operation::RequestIssuance {
                    code,
                    precision,
                    issuer,
                    serials,
                    reissuable,
                }
            }),
        proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|mapping| Operation::UpdateMapping { mapping }),
        (
            any::<u32>(),
            proptest::option::of((
                scope(),
                any::<u128>(),
                any::<u128>(),
                any::<u128>(),
                any::<u32>(),
                account()
            ))
        )
            .prop_map(|(id, rule)| Operation::SetFee {
                id,
                rule: rule.map(
                    |(scope, min_amount, max_amount, flat, percent_ppm, collector)| FeeRule {
                        scope,
                        min_amount,
                        max_amount,
                        flat,
                        percent_ppm,
                        collector
                    }
                ),
            }),
        (
            any::<u32>(),
            proptest::option::of((
                scope(),
                select(vec![
                    LimitPeriod::Daily,
                    LimitPeriod::Weekly,
                    LimitPeriod::Monthly,
                    LimitPeriod::Annual
                ]),
                any::<u128>(),
                proptest::option::of(any::<u128>())
            ))
        )
            .prop_map(|(id, rule)| Operation::SetLimit {
                id,
                rule: rule.map(|(scope, period, max_amount, max_per_payment)| LimitRule {
                    scope,
                    period,
                    max_amount,
                    max_per_payment
                })
            }),
    ];
    let federation = (
        proptest::collection::btree_map(1u8..=64, 1u64..=1_000, 1..6),
        any::<u64>(),
        proptest::collection::vec((any::<[u8; 20]>(), signature()), 0..4),
    )
        .prop_map(
            |(powers, effective_height, approvals)| Operation::ChangeValidatorSet {
                validators: ValidatorSet::new(
                    powers
                        .into_iter()
                        .map(|(seed, voting_power)| Validator {
                            public_key: public_key(&signing_key(seed)),
                            voting_power,
                        })
                        .collect(),
                )
                .unwrap(),
                effective_height,
                approvals: approvals
                    .into_iter()
                    .map(|(validator, signature)| SetApproval {
                        validator: lightclient::ValidatorAddress(validator),
                        signature,
                    })
                    .collect(),
            },
        );
    prop_oneof![people, money, vault, federation]
}

/// One of each operation, for tests and vectors that must cover every variant.
pub fn sample_operations() -> Vec<Operation> {
    let who = public_key(&signing_key(50)).account_id();
    let scope = Scope {
        operation: Some(OperationKind::Transfer),
        asset: Some(asset_id(1)),
        account: None,
        role: Some(Role::AssetHolder),
        kyc_state: Some(KycState::Verified),
    };
    vec![
        Operation::RegisterHolder {
            public_key: public_key(&signing_key(50)),
            challenge: Hash32([5; 32]),
            holder_signature: Signature([6; 64]),
        },
        Operation::SetKycState {
            account: who,
            state: KycState::Verified,
        },
        Operation::Ban {
            account: who,
            reason: "sanctions list".into(),
        },
        Operation::Unban { account: who },
        Operation::RecoverKey {
            account: who,
            new_public_key: public_key(&signing_key(51)),
        },
        Operation::GrantRole {
            account: who,
            role: Role::VaultStaff,
        },
        Operation::RevokeRole {
            account: who,
            role: Role::VaultStaff,
        },
        Operation::CreateAsset {
            code: "USDX".into(),
            precision: 2,
            backing: BackingKind::DepositBacked,
            maximum: 10u128.pow(20),
        },
        Operation::Deposit {
            asset_holder: who,
            asset: asset_id(1),
            amount: 5_000,
        },
        Operation::Withdraw {
            asset_holder: who,
            asset: asset_id(1),
            amount: 1_000,
        },
        Operation::Issue {
            to: who,
            asset: asset_id(1),
            amount: 2_500,
        },
        Operation::Transfer {
            to: who,
            asset: asset_id(1),
            amount: 100,
            expected_fee: 1,
        },
        Operation::RequestRedemption {
            asset: asset_id(1),
            amount: 50,
            expected_fee: 0,
        },
        Operation::ReviewRequest {
            request_id: 9,
            decision: Decision::Approve {},
        },
        Operation::ReviewRequest {
            request_id: 10,
            decision: Decision::Reject {
                reason: "documents missing".into(),
            },
        },
        Operation::RunSettlement { asset: asset_id(1) },
        Operation::RegisterItem {
            serial: "AB-1001".into(),
            refiner: "Valcambi".into(),
            mass: 400_125,
            fineness: 9999,
            location: "London vault 1".into(),
        },
        Operation::MoveItem {
            serial: "AB-1001".into(),
            location: "Zurich vault 2".into(),
        },
        Operation::RetireItem {
            serial: "AB-1001".into(),
        },
        Operation::RequestIssuance {
            code: "XAU1".into(),
            precision: 3,
            issuer: who,
            serials: vec!["AB-1001".into(), "AB-1002".into()],
            reissuable: false,
        },
        Operation::UpdateMapping {
            mapping: br#"{"assets":[]}"#.to_vec(),
        },
        Operation::SetFee {
            id: 1,
            rule: Some(FeeRule {
                scope: scope.clone(),
                min_amount: 0,
                max_amount: 1_000_000,
                flat: 10,
                percent_ppm: 2_500,
                collector: who,
            }),
        },
        Operation::SetFee { id: 1, rule: None },
        Operation::SetLimit {
            id: 2,
            rule: Some(LimitRule {
                scope,
                period: LimitPeriod::Daily,
                max_amount: 1_000_000,
                max_per_payment: Some(250_000),
            }),
        },
        Operation::PlaceOffer {
            sell_asset: asset_id(1),
            sell_amount: 10,
            buy_asset: asset_id(2),
            buy_amount: 20,
        },
        Operation::CancelOffer { offer_id: 3 },
        Operation::ChangeValidatorSet {
            validators: ValidatorSet::new(
                (51..=53)
                    .map(|seed| Validator {
                        public_key: public_key(&signing_key(seed)),
                        voting_power: u64::from(seed),
                    })
                    .collect(),
            )
            .unwrap(),
            effective_height: 120,
            approvals: vec![SetApproval {
                validator: public_key(&signing_key(51)).validator_address(),
                signature: Signature([7; 64]),
            }],
        },
    ]
}

fn header_strategy() -> impl Strategy<Value = BlockHeader> {
    (
        "[a-z0-9.-]{1,64}",
        any::<u64>(),
        any::<u64>(),
        (hash(), hash(), hash(), hash(), hash(), hash(), hash()),
        any::<[u8; 20]>(),
        any::<u32>(),
    )
        .prop_map(
            |(
                chain,
                height,
                time_ms,
                (prev, txs, receipts, state, mapping, set, next),
                proposer,
                count,
            )| BlockHeader {
                version: 1,
                chain_id: ChainId::new(&chain).unwrap(),
                height,
                time_ms,
                previous_block_hash: prev,
                proposer: lightclient::ValidatorAddress(proposer),
                transactions_root: txs,
                transaction_count: count,
                receipts_root: receipts,
                state_root: state,
                mapping_hash: mapping,
                validator_set_hash: set,
                next_validator_set_hash: next,
            },
        )
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let bit = bit % (out.len() * 8);
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn header_decode_encode_is_identity(header in header_strategy()) {
        prop_assert_eq!(BlockHeader::from_bytes(&header.to_bytes()), Ok(header.clone()));
        let json = serde_json::to_string(&header).unwrap();
        prop_assert_eq!(serde_json::from_str::<BlockHeader>(&json).unwrap(), header);
    }

    #[test]
    fn transaction_decode_encode_is_identity(operation in operation()) {
        let tx = transaction(operation);
        prop_assert_eq!(SignedTransaction::from_bytes(&tx.to_bytes()), Ok(tx.clone()));
        prop_assert_eq!(Transaction::from_bytes(&tx.transaction.to_bytes()), Ok(tx.transaction.clone()));
        let json = serde_json::to_string(&tx).unwrap();
        prop_assert_eq!(serde_json::from_str::<SignedTransaction>(&json).unwrap(), tx);
    }

    #[test]
    fn certificate_vote_receipt_and_proof_round_trip(
        height in any::<u64>(), round in any::<u32>(), block in hash(),
        sigs in proptest::collection::vec((any::<[u8; 20]>(), signature()), 0..6),
        leaf_index in any::<u64>(), tree_size in any::<u64>(), path in proptest::collection::vec(hash(), 0..64),
        code in any::<u32>(), nil in any::<bool>(),
    ) {
        let cert = CommitCertificate {
            version: 1, height, round, block_hash: block,
            signatures: sigs.into_iter().map(|(v, signature)| lightclient::CommitSignature { validator: lightclient::ValidatorAddress(v), signature }).collect(),
        };
        prop_assert_eq!(CommitCertificate::from_bytes(&cert.to_bytes()), Ok(cert));
        let proof = InclusionProof { leaf_index, tree_size, path };
        prop_assert_eq!(InclusionProof::from_bytes(&proof.to_bytes()), Ok(proof));
        let receipt = Receipt {
            txid: block, code, code_name: format!("code_{code}"), message: "m".repeat(usize::from(nil)),
            events: vec![
                lightclient::Event::Settlement { asset: AssetId(block.0), asset_holder: AccountId([2; 20]), amount: -i128::from(code) },
                lightclient::Event::MappingVersion { sequence: height, hash: block },
            ],
        };
        prop_assert_eq!(Receipt::from_bytes(&receipt.to_bytes()), Ok(receipt));
        let vote = Vote { chain_id: chain(), height, round, kind: VoteKind::Prevote, block_hash: (!nil).then_some(block), validator: lightclient::ValidatorAddress([1; 20]) };
        prop_assert_eq!(Vote::from_bytes(&vote.to_bytes()), Ok(vote));
    }

    #[test]
    fn any_bit_flip_in_a_signed_transaction_fails_decoding_or_verification(operation in operation(), bit in any::<usize>()) {
        let bytes = flip(&transaction(operation).to_bytes(), bit);
        let refused = match SignedTransaction::from_bytes(&bytes) {
            Err(_) => true,
            Ok(tx) => tx.verify_signature().is_err(),
        };
        prop_assert!(refused, "bit {} flipped and the transaction still verifies", bit % (bytes.len() * 8));
    }

    #[test]
    fn any_bit_flip_in_a_certified_header_or_its_certificate_fails_verification(bit in any::<usize>(), in_header in any::<bool>()) {
        let (keys, set) = validators();
        let header = header(&set);
        let cert = certify(&header, &keys, &set, &[0, 1, 2, 3]);
        let (header_bytes, cert_bytes) = if in_header {
            (flip(&header.to_bytes(), bit), cert.to_bytes())
        } else {
            (header.to_bytes(), flip(&cert.to_bytes(), bit))
        };
        let refused = match (BlockHeader::from_bytes(&header_bytes), CommitCertificate::from_bytes(&cert_bytes)) {
            (Ok(h), Ok(c)) => c.verify_header(&h, &set).is_err(),
            _ => true,
        };
        prop_assert!(refused, "a flipped bit still certifies the header");
    }

    #[test]
    fn any_bit_flip_in_a_signed_mapping_fails_verification(bit in any::<usize>()) {
        let (mapping, policy) = signed_mapping(5, &[0, 1]);
        let bytes = flip(&mapping.to_json_bytes().unwrap(), bit);
        prop_assert!(policy.parse_and_verify(&bytes, &chain(), Some(4)).is_err());
    }

    #[test]
    fn no_decoder_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = BlockHeader::from_bytes(&bytes);
        let _ = SignedTransaction::from_bytes(&bytes);
        let _ = Transaction::from_bytes(&bytes);
        let _ = CommitCertificate::from_bytes(&bytes);
        let _ = InclusionProof::from_bytes(&bytes);
        let _ = ValidatorSet::from_bytes(&bytes);
        let _ = Vote::from_bytes(&bytes);
        let _ = Receipt::from_bytes(&bytes);
        let _ = Mapping::parse(&bytes, 3);
        let _ = Genesis::from_json(&bytes);
    }

    #[test]
    fn no_decoder_panics_on_damaged_valid_input(operation in operation(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let (mapping, _) = signed_mapping(5, &[0, 1]);
        let (keys, set) = validators();
        let header = header(&set);
        let cert = certify(&header, &keys, &set, &[0, 1, 2]);
        let tx = transaction(operation);
        let vote = cert.precommit(&chain(), set.validators()[0].address());
        let proof = InclusionProof::build(&[b"a".as_slice(), b"b", b"c"], 1).unwrap();
        let genesis = serde_json::to_vec(&crate::genesis::genesis()).unwrap();
        let valid: [(&str, Vec<u8>); 10] = [
            ("signed transaction", tx.to_bytes()),
            ("transaction", tx.transaction.to_bytes()),
            ("transaction json", serde_json::to_vec(&tx).unwrap()),
            ("header", header.to_bytes()),
            ("certificate", cert.to_bytes()),
            ("validator set", set.to_bytes()),
            ("vote", vote.to_bytes()),
            ("inclusion proof", proof.to_bytes()),
            ("mapping", mapping.to_json_bytes().unwrap()),
            ("genesis", genesis),
        ];
        for (what, valid) in valid {
            let mut bytes = valid.clone();
            for (at, value) in &edits {
                let len = bytes.len();
                bytes[at % len] = *value;
            }
            bytes.truncate(cut % (valid.len() + 1));
            let unchanged = bytes == valid;
            let decoded = match what {
                "signed transaction" => SignedTransaction::from_bytes(&bytes).is_ok(),
                "transaction" => Transaction::from_bytes(&bytes).is_ok(),
                "transaction json" => serde_json::from_slice::<SignedTransaction>(&bytes).is_ok(),
                "header" => BlockHeader::from_bytes(&bytes).is_ok(),
                "certificate" => CommitCertificate::from_bytes(&bytes).is_ok(),
                "validator set" => ValidatorSet::from_bytes(&bytes).is_ok(),
                "vote" => Vote::from_bytes(&bytes).is_ok(),
                "inclusion proof" => InclusionProof::from_bytes(&bytes).is_ok(),
                "mapping" => Mapping::parse(&bytes, 3).is_ok(),
                _ => Genesis::from_json(&bytes).is_ok(),
            };
            // The untouched input is the control: each decoder takes its own valid encoding.
            if unchanged {
                prop_assert!(decoded, "{what}: the valid input does not decode");
            }
        }
    }
}

/// Finding (issue 14): the bit-flip properties above passed without checking anything whenever
/// decoding failed. Over every byte of real transactions, flips that still decode are many, and
/// each is caught by the signature check.
#[test]
fn byte_flips_that_still_decode_are_caught_by_the_signature() {
    let kinds = [
        Operation::Transfer {
            to: AccountId([2; 20]),
            asset: AssetId([3; 32]),
            amount: 5,
            expected_fee: 1,
        },
        Operation::Ban {
            account: AccountId([4; 20]),
            reason: "test".into(),
        },
    ];
    for operation in kinds {
        let valid = transaction(operation).to_bytes();
        let mut decoded = 0;
        for at in 0..valid.len() {
            let mut bytes = valid.clone();
            bytes[at] ^= 0x01;
            if let Ok(tx) = SignedTransaction::from_bytes(&bytes) {
                decoded += 1;
                assert!(
                    tx.verify_signature().is_err(),
                    "byte {at} flipped and the transaction verifies"
                );
            }
        }
        // Every fixed-width field decodes when damaged: the check above ran for most positions.
        assert!(
            decoded * 2 > valid.len(),
            "only {decoded} of {} flips decoded",
            valid.len()
        );
    }
}

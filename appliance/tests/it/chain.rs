use appliance::chain::{BlockInput, Chain};
use appliance::ledger::SignatureCheck;
use appliance::ledger::state_tree::StateKey;
use appliance::store::StoreError;
use lightclient::encoding::Encode;
use lightclient::genesis::Genesis;
use lightclient::keys::ValidatorAddress;
use lightclient::merkle::root;
use lightclient::tx::Operation;

use crate::world::*;

/// Signs transactions the way the world does, but applies them through a chain.
fn input(w: &mut World, ops: Vec<(u8, Operation)>, time_ms: u64) -> BlockInput {
    let transactions = ops
        .into_iter()
        .map(|(seed, op)| w.signed(seed, op, 50))
        .collect();
    BlockInput {
        time_ms,
        proposer: ValidatorAddress([7; 20]),
        transactions,
    }
}

fn fund_ops() -> Vec<(u8, Operation)> {
    vec![
        (
            SETTLEMENT,
            Operation::Deposit {
                asset_holder: id(BANK_A),
                asset: usdx(),
                amount: 1_000,
            },
        ),
        (
            KYC,
            Operation::Deposit {
                asset_holder: id(BANK_A),
                asset: usdx(),
                amount: 1,
            },
        ), // refused: not the settlement institution
        (
            BANK_A,
            Operation::CreateAsset {
                code: "EURX".into(),
                precision: 2,
                backing: lightclient::tx::BackingKind::DepositBacked,
                maximum: 5,
            },
        ), // refused: not an issuance admin
    ]
}

#[test]
fn a_block_header_commits_to_transactions_receipts_state_and_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), genesis(), 10).unwrap();
    let mut w = World::new();
    w.height = 1;
    let input = input(&mut w, fund_ops(), 1_795_000_000_000);
    let tx_bytes: Vec<Vec<u8>> = input.transactions.iter().map(Encode::to_bytes).collect();
    let (block, outcomes) = chain.execute(input, SignatureCheck::Verify).unwrap();
    let header = &block.header;
    assert_eq!(header.height, 1);
    assert_eq!(header.previous_block_hash, chain.genesis_hash());
    assert_eq!(header.transaction_count, 3);
    assert_eq!(header.transactions_root, root(&tx_bytes));
    let codes: Vec<u32> = outcomes.iter().map(|o| o.receipt.code).collect();
    assert_eq!(codes[0], 0);
    assert!(codes[1] != 0 && codes[2] != 0, "{codes:?}");
    let receipts: Vec<Vec<u8>> = block.receipts.iter().map(Encode::to_bytes).collect();
    assert_eq!(header.receipts_root, root(&receipts));
    assert_eq!(header.mapping_hash, chain.state().mapping().hash);
    assert_eq!(chain.state().position(&id(BANK_A), &usdx()).settled, 1_000);

    // The position is proven against the header's state root.
    let key = StateKey::Position(id(BANK_A), usdx());
    let (value, proof) = chain.prove(&key).unwrap();
    proof
        .verify(&header.state_root, &key, value.as_deref())
        .unwrap();
    let position =
        lightclient::state::PositionEntry::from_value(value.as_deref().unwrap()).unwrap();
    assert_eq!(position.settled, 1_000);
    assert!(position.is_covered());
    assert_eq!(value, chain.state().state_value(&key));
    // Every transaction is indexed, refused ones too.
    for (i, tx) in block.transactions.iter().enumerate() {
        assert_eq!(
            chain.store().find_transaction(&tx.txid()).unwrap(),
            Some((1, i as u32))
        );
    }
    assert_eq!(
        chain
            .store()
            .find_transaction(&lightclient::Hash32([9; 32]))
            .unwrap(),
        None
    );
    // Blocks and audit entries are in the store.
    assert_eq!(chain.store().block(1).unwrap().unwrap(), block);
    let audit = chain.store().audit_of(1).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "deposit");
}

#[test]
fn a_proposal_is_refused_unless_it_commits_to_the_current_mapping() {
    use appliance::chain::{HeaderMismatch, compare_headers};
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::open(dir.path(), genesis(), 10).unwrap();
    let mut w = World::new();
    w.height = 1;
    let prepared = chain
        .prepare(
            input(&mut w, fund_ops(), 1_795_000_000_000),
            SignatureCheck::Verify,
        )
        .unwrap();
    let derived = prepared.block.header;
    assert_eq!(compare_headers(&derived, &derived), Ok(()));
    let mut proposed = derived.clone();
    proposed.mapping_hash = lightclient::Hash32([7; 32]);
    assert_eq!(
        compare_headers(&derived, &proposed),
        Err(HeaderMismatch::MappingHash {
            expected: chain.state().mapping().hash,
            proposed: lightclient::Hash32([7; 32]),
        })
    );
    let mut proposed = derived.clone();
    proposed.time_ms += 1;
    assert_eq!(
        compare_headers(&derived, &proposed),
        Err(HeaderMismatch::Other {
            expected: derived.hash(),
            proposed: proposed.hash(),
        })
    );
}

#[test]
fn reopening_restores_the_same_state_from_snapshot_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new();
    w.height = 1;
    let mut headers = Vec::new();
    {
        let mut node = Chain::open(dir.path(), genesis(), 3).unwrap();
        let challenge = lightclient::hash::sha256(b"alice");
        let digest = lightclient::tx::registration_digest(&chain(), &id(BANK_A), &challenge);
        let blocks = vec![
            fund_ops(),
            vec![(
                BANK_A,
                Operation::RegisterHolder {
                    public_key: public(&key(20)),
                    challenge,
                    holder_signature: sign(&key(20), &digest),
                },
            )],
            vec![(
                KYC,
                Operation::SetKycState {
                    account: id(20),
                    state: lightclient::tx::KycState::Verified,
                },
            )],
            vec![(
                BANK_A,
                Operation::Issue {
                    to: id(20),
                    asset: usdx(),
                    amount: 700,
                },
            )],
            vec![],
            vec![(
                20,
                Operation::RequestRedemption {
                    asset: usdx(),
                    amount: 100,
                    expected_fee: 0,
                },
            )],
            vec![(
                BANK_A,
                Operation::ReviewRequest {
                    request_id: 1,
                    decision: lightclient::tx::Decision::Approve {},
                },
            )],
        ];
        for (i, ops) in blocks.into_iter().enumerate() {
            let input = input(&mut w, ops, 1_795_000_000_000 + i as u64 * 1_000);
            let (block, outcomes) = node.execute(input, SignatureCheck::Verify).unwrap();
            assert!(
                outcomes
                    .iter()
                    .skip(if i == 0 { 3 } else { 0 })
                    .all(|o| o.error.is_none()),
                "block {i}: {outcomes:?}"
            );
            headers.push(block.header);
        }
        assert_eq!(node.state().asset(&usdx()).unwrap().issued, 600);
    }
    let mut reopened = Chain::open(dir.path(), genesis(), 3).unwrap();
    assert_eq!(reopened.height(), 7);
    assert_eq!(reopened.tip(), headers.last());
    assert_eq!(reopened.state().asset(&usdx()).unwrap().issued, 600);
    assert_eq!(reopened.state().balance(&id(20), &usdx()).available, 600);
    // It goes on from where it stopped, chained to the stored tip.
    let input = input(
        &mut w,
        vec![(
            20,
            Operation::Transfer {
                to: id(BANK_A),
                asset: usdx(),
                amount: 1,
                expected_fee: 0,
            },
        )],
        1_795_000_100_000,
    );
    let (block, _) = reopened.execute(input, SignatureCheck::Verify).unwrap();
    assert_eq!(
        block.header.previous_block_hash,
        headers.last().unwrap().hash()
    );
    assert_eq!(block.header.height, 8);
}

/// A snapshot that does not hold the state the stored root commits to (here: the next request
/// id moved by one) is refused at open, naming both roots, instead of proposing other roots.
#[test]
fn opening_refuses_a_loaded_state_whose_root_is_not_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new();
    w.height = 1;
    let tip_root = {
        let mut node = Chain::open(dir.path(), genesis(), 100).unwrap();
        let input = input(&mut w, fund_ops(), 1_795_000_000_000);
        let (block, _) = node.execute(input, SignatureCheck::Verify).unwrap();
        block.header.state_root
    };
    {
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        let snapshots = db
            .keyspace("snapshots", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        let key = 0u64.to_be_bytes();
        let record = snapshots.get(key).unwrap().unwrap();
        let mut state: ciborium::Value = ciborium::from_reader(&record[1..]).unwrap();
        let fields = state.as_map_mut().unwrap();
        let (_, next) = fields
            .iter_mut()
            .find(|(name, _)| name.as_text() == Some("next_request_id"))
            .unwrap();
        *next = ciborium::Value::Integer(2.into());
        let mut tampered = vec![record[0]];
        ciborium::into_writer(&state, &mut tampered).unwrap();
        snapshots.insert(key, tampered).unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    match Chain::open(dir.path(), genesis(), 100).unwrap_err() {
        appliance::chain::ChainError::StateRootMismatch {
            height,
            stored,
            recomputed,
        } => {
            assert_eq!(height, 1);
            assert_eq!(stored, tip_root);
            assert_ne!(recomputed, tip_root);
        }
        other => panic!("expected a state root mismatch, got {other:?}"),
    }
}

#[test]
fn a_store_refuses_another_chains_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let ours = genesis();
    drop(Chain::open(dir.path(), ours.clone(), 10).unwrap());
    let mut other: Genesis = ours.clone();
    other.genesis_time_ms += 1;
    let err = Chain::open(dir.path(), other.clone(), 10).unwrap_err();
    match err {
        appliance::chain::ChainError::Store(StoreError::GenesisMismatch { stored, given }) => {
            assert_eq!(stored, ours.hash().unwrap());
            assert_eq!(given, other.hash().unwrap());
        }
        other => panic!("expected a genesis mismatch, got {other:?}"),
    }
}

#[test]
fn two_nodes_prepare_the_same_block_and_prepare_changes_nothing_until_commit() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Chain::open(a_dir.path(), genesis(), 10).unwrap();
    let mut b = Chain::open(b_dir.path(), genesis(), 10).unwrap();
    let mut w = World::new();
    w.height = 1;
    let proposal = input(&mut w, fund_ops(), 1_795_000_000_000);
    let on_a = a.prepare(proposal.clone(), SignatureCheck::Verify).unwrap();
    let on_b = b.prepare(proposal, SignatureCheck::Verify).unwrap();
    assert_eq!(on_a.block.header, on_b.block.header);
    assert_eq!(on_a.hash(), on_b.hash());
    // Nothing moved yet.
    assert_eq!(a.height(), 0);
    assert_eq!(a.state().position(&id(BANK_A), &usdx()).settled, 0);
    let certificate = lightclient::CommitCertificate {
        version: 1,
        height: 1,
        round: 0,
        block_hash: on_a.hash(),
        signatures: vec![],
    };
    let hash = on_a.hash();
    let stored = a.commit(on_a, Some(certificate.clone())).unwrap();
    assert_eq!(stored.certificate, Some(certificate));
    assert_eq!(a.tip().unwrap().hash(), hash);
    assert_eq!(a.state().position(&id(BANK_A), &usdx()).settled, 1_000);
    // A block for a height that is not next is refused.
    assert!(matches!(
        a.commit(on_b, None),
        Err(appliance::chain::ChainError::Inconsistent { height: 1, .. })
    ));
    b.execute(
        input(&mut w, vec![], 1_795_000_001_000),
        SignatureCheck::Verify,
    )
    .unwrap();
}

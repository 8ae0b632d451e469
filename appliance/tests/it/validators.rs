//! Validator-set changes (ADR 0016): approved by more than 2/3 of the current set's power in its
//! validators' keys, announced by the header before the effective height, in force from it.

use appliance::chain::{BlockInput, Chain};
use appliance::ledger::state_tree::StateKey;
use appliance::ledger::{LedgerError, SignatureCheck};
use lightclient::encoding::Encode;
use lightclient::genesis::Genesis;
use lightclient::header::Event;
use lightclient::keys::ValidatorAddress;
use lightclient::state::PendingValidatorsEntry;
use lightclient::tx::Operation;
use lightclient::validator::{
    SetApproval, SetChangeError, Validator, ValidatorSet, set_change_digest,
};

use crate::world::*;

/// The four genesis validators' key seeds, and a fifth custodian's.
const VALIDATORS: [u8; 4] = [90, 94, 95, 96];
const FIFTH: u8 = 97;

fn set_of(seeds: &[u8]) -> ValidatorSet {
    ValidatorSet::new(
        seeds
            .iter()
            .map(|seed| Validator {
                public_key: public(&key(*seed)),
                voting_power: 1,
            })
            .collect(),
    )
    .unwrap()
}

fn four_validator_genesis() -> Genesis {
    let mut genesis = genesis();
    genesis.validators = set_of(&VALIDATORS);
    genesis
}

/// Approvals of `next` at `effective_height` by the validators seeded `approvers`, each signing
/// the digest over `current`.
fn approvals(
    genesis: &Genesis,
    current: &ValidatorSet,
    next: &ValidatorSet,
    effective_height: u64,
    approvers: &[u8],
) -> Vec<SetApproval> {
    let digest = set_change_digest(
        &genesis.chain_id,
        &genesis.hash().unwrap(),
        current,
        next,
        effective_height,
    );
    approvers
        .iter()
        .map(|seed| SetApproval {
            validator: public(&key(*seed)).validator_address(),
            signature: sign(&key(*seed), &digest),
        })
        .collect()
}

fn change(
    genesis: &Genesis,
    next: &ValidatorSet,
    effective_height: u64,
    approvers: &[u8],
) -> Operation {
    Operation::ChangeValidatorSet {
        validators: next.clone(),
        effective_height,
        approvals: approvals(
            genesis,
            &genesis.validators,
            next,
            effective_height,
            approvers,
        ),
    }
}

fn block(w: &mut World, ops: Vec<Operation>, height: u64) -> BlockInput {
    BlockInput {
        time_ms: 1_795_000_000_000 + height * 1_000,
        proposer: ValidatorAddress([7; 20]),
        // Any account may submit a change: the approvals authorise it.
        transactions: ops.into_iter().map(|op| w.signed(BANK_A, op, 50)).collect(),
    }
}

#[test]
fn a_change_is_announced_by_the_block_before_its_effective_height_and_in_force_from_it() {
    let genesis = four_validator_genesis();
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), genesis.clone(), 2).unwrap();
    let mut w = World::with_genesis(&genesis);
    let old = genesis.validators.clone();
    let new = set_of(&[90, 94, 95, 96, FIFTH]);

    let input = block(&mut w, vec![change(&genesis, &new, 4, &[90, 95, 96])], 1);
    let (first, outcomes) = chain.execute(input, SignatureCheck::Verify).unwrap();
    assert_eq!(outcomes[0].error, None);
    assert_eq!(
        first.receipts[0].events,
        vec![Event::ValidatorSetChanged {
            hash: new.hash(),
            effective_height: 4
        }]
    );
    // The pending change is state under the root, and the approved set is kept by its hash.
    let (value, proof) = chain.prove(&StateKey::PendingValidators).unwrap();
    let value = value.unwrap();
    assert_eq!(
        PendingValidatorsEntry::from_value(&value).unwrap(),
        PendingValidatorsEntry {
            validators: new.clone(),
            effective_height: 4
        }
    );
    proof
        .verify(
            &first.header.state_root,
            &StateKey::PendingValidators,
            Some(&value),
        )
        .unwrap();
    assert_eq!(chain.validator_set(&new.hash()).unwrap(), Some(new.clone()));

    let mut headers = vec![first.header];
    for height in 2..=5 {
        let input = block(&mut w, vec![], height);
        headers.push(
            chain
                .execute(input, SignatureCheck::Verify)
                .unwrap()
                .0
                .header,
        );
    }
    let sets: Vec<_> = headers
        .iter()
        .map(|h| (h.height, h.validator_set_hash, h.next_validator_set_hash))
        .collect();
    assert_eq!(
        sets,
        vec![
            (1, old.hash(), old.hash()),
            (2, old.hash(), old.hash()),
            (3, old.hash(), new.hash()),
            (4, new.hash(), new.hash()),
            (5, new.hash(), new.hash()),
        ]
    );
    assert_eq!(chain.validators_at(3).unwrap(), Some(old.clone()));
    assert_eq!(chain.validators_at(4).unwrap(), Some(new.clone()));
    assert_eq!(chain.next_validators(), &new);
    // In force, the entry is gone and the set under the root is the new one.
    let (pending, proof) = chain.prove(&StateKey::PendingValidators).unwrap();
    assert_eq!(pending, None);
    proof
        .verify(&headers[4].state_root, &StateKey::PendingValidators, None)
        .unwrap();
    let (validators, _) = chain.prove(&StateKey::Validators).unwrap();
    let mut expected = vec![lightclient::state::STATE_VALUE_VERSION];
    new.encode(&mut expected);
    assert_eq!(validators, Some(expected));

    // A restart replays the blocks after the snapshot (height 4) to the same sets.
    drop(chain);
    let chain = Chain::open(dir.path(), genesis, 2).unwrap();
    assert_eq!(chain.next_validators(), &new);
    assert_eq!(chain.validators_at(2).unwrap(), Some(old));
}

/// Runs `operation` in block 1 of a fresh four-validator chain and returns the ledger's verdict.
fn refusal(operation: impl FnOnce(&Genesis) -> Operation) -> Option<LedgerError> {
    let genesis = four_validator_genesis();
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), genesis.clone(), 10).unwrap();
    let mut w = World::with_genesis(&genesis);
    let input = block(&mut w, vec![operation(&genesis)], 1);
    let (_, outcomes) = chain.execute(input, SignatureCheck::Verify).unwrap();
    outcomes[0].error.clone()
}

#[test]
fn a_change_needs_more_than_two_thirds_of_the_current_power() {
    let next = set_of(&[90, 94, 95, 96, FIFTH]);
    assert_eq!(
        refusal(|g| change(g, &next, 3, &[90, 94])),
        Some(LedgerError::ValidatorSetChange(
            SetChangeError::Insufficient {
                approved: 2,
                total: 4
            }
        ))
    );
    // The joining custodian's own approval does not count: it is not a validator yet.
    assert_eq!(
        refusal(|g| change(g, &next, 3, &[90, 94, FIFTH])),
        Some(LedgerError::ValidatorSetChange(
            SetChangeError::UnknownValidator(public(&key(FIFTH)).validator_address())
        ))
    );
    assert_eq!(
        refusal(|g| change(g, &next, 3, &[90, 94, 94])),
        Some(LedgerError::ValidatorSetChange(
            SetChangeError::RepeatedApproval(public(&key(94)).validator_address())
        ))
    );
    assert_eq!(
        refusal(|g| change(g, &g.validators.clone(), 3, &[90, 94, 95])),
        Some(LedgerError::ValidatorSetChange(SetChangeError::Unchanged))
    );
}

#[test]
fn an_approval_is_for_one_effective_height_and_one_new_set() {
    let next = set_of(&[90, 94, 95, 96, FIFTH]);
    // Approved for height 9, submitted for height 3.
    let bad = public(&key(90)).validator_address();
    assert_eq!(
        refusal(|g| Operation::ChangeValidatorSet {
            validators: next.clone(),
            effective_height: 3,
            approvals: approvals(g, &g.validators, &next, 9, &[90, 94, 95]),
        }),
        Some(LedgerError::ValidatorSetChange(
            SetChangeError::BadSignature(bad)
        ))
    );
    // Approved for adding the fifth custodian, submitted with another set.
    let other = set_of(&[90, 94, 95]);
    assert_eq!(
        refusal(|g| Operation::ChangeValidatorSet {
            validators: other.clone(),
            effective_height: 3,
            approvals: approvals(g, &g.validators, &next, 3, &[90, 94, 95]),
        }),
        Some(LedgerError::ValidatorSetChange(
            SetChangeError::BadSignature(bad)
        ))
    );
}

#[test]
fn the_effective_height_leaves_one_block_to_announce_the_set_and_is_bounded() {
    let next = set_of(&[90, 94, 95, 96, FIFTH]);
    let range = |effective_height| {
        Some(LedgerError::EffectiveHeightOutOfRange {
            effective_height,
            earliest: 3,
            latest: 1 + appliance::ledger::MAX_VALIDATOR_CHANGE_DELAY,
        })
    };
    assert_eq!(refusal(|g| change(g, &next, 2, &[90, 94, 95])), range(2));
    assert_eq!(refusal(|g| change(g, &next, 1, &[90, 94, 95])), range(1));
    let too_far = 2 + appliance::ledger::MAX_VALIDATOR_CHANGE_DELAY;
    assert_eq!(
        refusal(|g| change(g, &next, too_far, &[90, 94, 95])),
        range(too_far)
    );
    assert_eq!(refusal(|g| change(g, &next, 3, &[90, 94, 95])), None);
}

#[test]
fn one_change_at_a_time_and_approvals_are_single_use() {
    let genesis = four_validator_genesis();
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), genesis.clone(), 10).unwrap();
    let mut w = World::with_genesis(&genesis);
    let five = set_of(&[90, 94, 95, 96, FIFTH]);
    let three = set_of(&[90, 94, 95]);
    let input = block(
        &mut w,
        vec![
            change(&genesis, &five, 4, &[90, 94, 95]),
            change(&genesis, &three, 5, &[90, 94, 95]),
        ],
        1,
    );
    let (_, outcomes) = chain.execute(input, SignatureCheck::Verify).unwrap();
    assert_eq!(outcomes[0].error, None);
    assert_eq!(
        outcomes[1].error,
        Some(LedgerError::ValidatorChangePending {
            effective_height: 4
        })
    );
    for height in 2..=4 {
        let input = block(&mut w, vec![], height);
        chain.execute(input, SignatureCheck::Verify).unwrap();
    }
    assert_eq!(chain.state().validators(), &five);
    // The same approvals again, now that the set they named is no longer in force.
    let input = block(&mut w, vec![change(&genesis, &three, 8, &[90, 94, 95])], 5);
    let (_, outcomes) = chain.execute(input, SignatureCheck::Verify).unwrap();
    assert_eq!(
        outcomes[0].error,
        Some(LedgerError::ValidatorSetChange(
            SetChangeError::BadSignature(public(&key(90)).validator_address())
        ))
    );
    // Approved over the set in force by four of its five, the removal goes through.
    let input = block(
        &mut w,
        vec![Operation::ChangeValidatorSet {
            validators: three.clone(),
            effective_height: 8,
            approvals: approvals(&genesis, &five, &three, 8, &[90, 94, 95, FIFTH]),
        }],
        6,
    );
    let (_, outcomes) = chain.execute(input, SignatureCheck::Verify).unwrap();
    assert_eq!(outcomes[0].error, None);
    assert_eq!(outcomes[0].receipt.code_name, "applied");
}

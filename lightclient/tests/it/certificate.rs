use lightclient::certificate::{CertificateError, CommitSignature};
use lightclient::hash::sha256;
use lightclient::keys::KeyError;
use lightclient::validator::{Validator, ValidatorSet, ValidatorSetError};

use crate::common::*;

#[test]
fn three_of_four_signatures_certify_the_header() {
    let (keys, set) = validators();
    let header = header(&set);
    let cert = certify(&header, &keys, &set, &[0, 1, 3]);
    assert_eq!(cert.verify_header(&header, &set), Ok(3));
}

#[test]
fn two_of_four_is_not_a_quorum() {
    let (keys, set) = validators();
    let header = header(&set);
    let cert = certify(&header, &keys, &set, &[0, 2]);
    assert_eq!(
        cert.verify_header(&header, &set),
        Err(CertificateError::InsufficientVotingPower {
            signed: 2,
            total: 4
        })
    );
}

#[test]
fn a_signer_listed_twice_counts_once() {
    let (keys, set) = validators();
    let header = header(&set);
    let cert = certify(&header, &keys, &set, &[0, 1, 1]);
    assert_eq!(
        cert.verify(&header.chain_id, &set),
        Err(CertificateError::InsufficientVotingPower {
            signed: 2,
            total: 4
        })
    );
}

#[test]
fn a_signer_outside_the_set_is_refused() {
    let (keys, set) = validators();
    let header = header(&set);
    let mut cert = certify(&header, &keys, &set, &[0, 1, 2]);
    let outsider = public_key(&signing_key(99)).validator_address();
    cert.signatures[2].validator = outsider;
    assert_eq!(
        cert.verify(&header.chain_id, &set),
        Err(CertificateError::UnknownValidator(outsider))
    );
}

#[test]
fn a_signature_moved_to_another_validator_is_invalid() {
    let (keys, set) = validators();
    let header = header(&set);
    let mut cert = certify(&header, &keys, &set, &[0, 1, 2]);
    cert.signatures[2] = CommitSignature {
        validator: set.validators()[3].address(),
        signature: cert.signatures[1].signature,
    };
    assert_eq!(
        cert.verify(&header.chain_id, &set),
        Err(CertificateError::InvalidSignature {
            validator: set.validators()[3].address(),
            reason: KeyError::BadSignature
        })
    );
}

#[test]
fn signatures_for_another_chain_do_not_verify() {
    let (keys, set) = validators();
    let header = header(&set);
    let cert = certify(&header, &keys, &set, &[0, 1, 2]);
    let other = lightclient::ChainId::new("abt-other-1").unwrap();
    assert!(matches!(
        cert.verify(&other, &set),
        Err(CertificateError::InvalidSignature {
            reason: KeyError::BadSignature,
            ..
        })
    ));
}

#[test]
fn certificate_for_another_block_does_not_certify_the_header() {
    let (keys, set) = validators();
    let header = header(&set);
    let mut other = header.clone();
    other.state_root = sha256(b"other state");
    let cert = certify(&other, &keys, &set, &[0, 1, 2]);
    assert_eq!(
        cert.verify_header(&header, &set),
        Err(CertificateError::HeaderMismatch {
            cert_height: 42,
            cert_hash: other.hash(),
            header_height: 42,
            header_hash: header.hash(),
        })
    );
}

#[test]
fn header_names_the_validator_set_that_must_certify_it() {
    let (keys, set) = validators();
    let mut header = header(&set);
    header.validator_set_hash = sha256(b"another set");
    let cert = certify(&header, &keys, &set, &[0, 1, 2]);
    assert_eq!(
        cert.verify_header(&header, &set),
        Err(CertificateError::ValidatorSetMismatch {
            expected: header.validator_set_hash,
            given: set.hash()
        })
    );
}

#[test]
fn validator_set_rules() {
    let key = public_key(&signing_key(1));
    assert_eq!(ValidatorSet::new(vec![]), Err(ValidatorSetError::Empty));
    assert_eq!(
        ValidatorSet::new(vec![Validator {
            public_key: key,
            voting_power: 0
        }]),
        Err(ValidatorSetError::ZeroPower(key.validator_address()))
    );
    assert_eq!(
        ValidatorSet::new(vec![
            Validator {
                public_key: key,
                voting_power: 1
            },
            Validator {
                public_key: key,
                voting_power: 2
            }
        ]),
        Err(ValidatorSetError::Duplicate(key.validator_address()))
    );
    let other = public_key(&signing_key(2));
    assert_eq!(
        ValidatorSet::new(vec![
            Validator {
                public_key: key,
                voting_power: u64::MAX
            },
            Validator {
                public_key: other,
                voting_power: 1
            }
        ]),
        Err(ValidatorSetError::PowerOverflow)
    );
}

#[test]
fn quorum_is_strictly_more_than_two_thirds_of_power() {
    let keys: Vec<_> = (1..=3).map(signing_key).collect();
    let set = ValidatorSet::new(vec![
        Validator {
            public_key: public_key(&keys[0]),
            voting_power: 2,
        },
        Validator {
            public_key: public_key(&keys[1]),
            voting_power: 2,
        },
        Validator {
            public_key: public_key(&keys[2]),
            voting_power: 2,
        },
    ])
    .unwrap();
    assert!(!set.is_quorum(4));
    assert!(set.is_quorum(5));
}

/// ADR 0016: a validator-set change needs approvals, signed by current validators, carrying more
/// than 2/3 of the current power; each approval is bound to the chain, the current set, the new
/// set and the height it takes effect.
mod set_change {
    use lightclient::validator::{
        SetApproval, SetChangeError, set_change_digest, verify_set_change,
    };

    use crate::common::*;

    #[test]
    fn three_of_four_current_validators_approve_a_fifth_and_fewer_do_not() {
        let (keys, current) = set_of(&[1, 2, 3, 4]);
        let (_, next) = set_of(&[1, 2, 3, 4, 5]);
        let digest = set_change_digest(&chain(), &test_genesis_hash(), &current, &next, 100);
        let approve = |i: usize| SetApproval {
            validator: current.validators()[i].address(),
            signature: sign(&keys[i], &digest),
        };
        let verify = |approvals: &[SetApproval]| {
            verify_set_change(
                &chain(),
                &test_genesis_hash(),
                &current,
                &next,
                100,
                approvals,
            )
        };
        assert_eq!(verify(&[approve(0), approve(2), approve(3)]), Ok(3));
        assert_eq!(
            verify(&[approve(0), approve(2)]),
            Err(SetChangeError::Insufficient {
                approved: 2,
                total: 4
            })
        );
        assert_eq!(
            verify(&[approve(0), approve(0), approve(1)]),
            Err(SetChangeError::RepeatedApproval(
                current.validators()[0].address()
            ))
        );
        // The fifth validator is not current: its approval does not count.
        let (newcomer, _) = set_of(&[5]);
        let outsider = SetApproval {
            validator: next
                .validators()
                .iter()
                .find(|v| current.get(&v.address()).is_none())
                .unwrap()
                .address(),
            signature: sign(&newcomer[0], &digest),
        };
        assert!(matches!(
            verify(&[approve(0), approve(1), outsider]),
            Err(SetChangeError::UnknownValidator(_))
        ));
        // A signature under another key than the named validator's.
        let forged = SetApproval {
            validator: current.validators()[1].address(),
            signature: sign(&keys[2], &digest),
        };
        assert_eq!(
            verify(&[approve(0), approve(2), forged]),
            Err(SetChangeError::BadSignature(
                current.validators()[1].address()
            ))
        );
    }

    #[test]
    fn an_approval_is_bound_to_the_height_the_sets_and_the_chain() {
        let (keys, current) = set_of(&[1, 2, 3, 4]);
        let (_, next) = set_of(&[1, 2, 3]);
        let digest = set_change_digest(&chain(), &test_genesis_hash(), &current, &next, 100);
        let approvals: Vec<SetApproval> = (0..3)
            .map(|i| SetApproval {
                validator: current.validators()[i].address(),
                signature: sign(&keys[i], &digest),
            })
            .collect();
        assert_eq!(
            verify_set_change(
                &chain(),
                &test_genesis_hash(),
                &current,
                &next,
                100,
                &approvals
            ),
            Ok(3)
        );
        // Another height, another new set, or another chain: every signature fails.
        let (_, other_next) = set_of(&[1, 2, 4]);
        for (next, height, genesis) in [
            (&next, 101, test_genesis_hash()),
            (&other_next, 100, test_genesis_hash()),
            (&next, 100, lightclient::Hash32([9; 32])),
        ] {
            assert!(matches!(
                verify_set_change(&chain(), &genesis, &current, next, height, &approvals),
                Err(SetChangeError::BadSignature(_))
            ));
        }
        // The current set itself is no change.
        assert_eq!(
            verify_set_change(
                &chain(),
                &test_genesis_hash(),
                &current,
                &current,
                100,
                &approvals
            ),
            Err(SetChangeError::Unchanged)
        );
    }
}

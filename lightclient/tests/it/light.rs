//! The light-client state machine on chains built here: sequential and skipping verification
//! through validator-set changes, each refusal by its check, witnesses and attack evidence.

use std::collections::BTreeMap;

use k256::ecdsa::SigningKey;
use lightclient::certificate::{
    CERTIFICATE_VERSION, CertificateError, CommitCertificate, CommitSignature,
};
use lightclient::hash::{Hash32, sha256};
use lightclient::header::{BlockHeader, ChainId, HEADER_VERSION};
use lightclient::light::{
    LightBlock, LightClient, LightClientError, LightStore, MemoryStore, Options, Provider,
    ProviderError, Status, TrustThreshold, TrustedState, Verdict, VerificationError, verify,
};
use lightclient::validator::ValidatorSet;
use proptest::prelude::*;

use crate::common::*;

const GENESIS_MS: u64 = 1_700_000_000_000;
const NOW_MS: u64 = 1_800_000_000_000;

fn certify(header: &BlockHeader, signers: &[SigningKey]) -> CommitCertificate {
    let mut certificate = CommitCertificate {
        version: CERTIFICATE_VERSION,
        height: header.height,
        round: 0,
        block_hash: header.hash(),
        signatures: Vec::new(),
    };
    for key in signers {
        let validator = public_key(key).validator_address();
        let digest = certificate
            .precommit(&header.chain_id, validator)
            .signing_digest();
        certificate.signatures.push(CommitSignature {
            validator,
            signature: sign(key, &digest),
        });
    }
    certificate
}

/// A chain of `length` blocks; `schedule[h]` is the index into `sets` of the set certifying
/// height h (h from 1; the last entry also names the set after the tip).
struct TestChain {
    chain_id: ChainId,
    root: TrustedState,
    blocks: Vec<LightBlock>,
    sets: Vec<(Vec<SigningKey>, ValidatorSet)>,
}

impl TestChain {
    fn new(sets: Vec<(Vec<SigningKey>, ValidatorSet)>, schedule: &[usize]) -> TestChain {
        TestChain::on(chain(), sets, schedule, b"state")
    }

    fn on(
        chain_id: ChainId,
        sets: Vec<(Vec<SigningKey>, ValidatorSet)>,
        schedule: &[usize],
        salt: &[u8],
    ) -> TestChain {
        let set_at = |h: usize| &sets[schedule[h.min(schedule.len() - 1)]];
        let genesis_hash = sha256(b"genesis");
        let root = TrustedState {
            chain_id: chain_id.clone(),
            height: 0,
            hash: genesis_hash,
            time_ms: GENESIS_MS,
            next_validators: set_at(1).1.clone(),
        };
        let mut blocks: Vec<LightBlock> = Vec::new();
        for h in 1..schedule.len() {
            let (keys, validators) = set_at(h);
            let next = set_at(h + 1).1.clone();
            let header = BlockHeader {
                version: HEADER_VERSION,
                chain_id: chain_id.clone(),
                height: h as u64,
                time_ms: GENESIS_MS + 1_000 * h as u64,
                previous_block_hash: blocks.last().map_or(genesis_hash, LightBlock::hash),
                proposer: validators.validators()[0].address(),
                transactions_root: sha256(b"transactions"),
                transaction_count: 0,
                receipts_root: sha256(b"receipts"),
                state_root: sha256(&[salt, &h.to_be_bytes()].concat()),
                mapping_hash: sha256(b"mapping"),
                validator_set_hash: validators.hash(),
                next_validator_set_hash: next.hash(),
            };
            let certificate = certify(&header, keys);
            blocks.push(LightBlock {
                header,
                certificate,
                validators: validators.clone(),
                next_validators: next,
            });
        }
        TestChain {
            chain_id,
            root,
            blocks,
            sets,
        }
    }

    fn block(&self, height: u64) -> &LightBlock {
        &self.blocks[height as usize - 1]
    }

    fn provider(&self, id: &str) -> TestProvider {
        TestProvider {
            id: id.into(),
            blocks: self.blocks.clone(),
            replaced: BTreeMap::new(),
            down: false,
        }
    }

    /// `block` re-certified by the keys of set `set` (as a lying majority would).
    fn recertify(&self, mut block: LightBlock, set: usize) -> LightBlock {
        block.certificate = certify(&block.header, &self.sets[set].0);
        block
    }
}

/// A provider serving a chain, with some heights replaced (a lying node) or down altogether.
#[derive(Debug, Clone)]
struct TestProvider {
    id: String,
    blocks: Vec<LightBlock>,
    replaced: BTreeMap<u64, LightBlock>,
    down: bool,
}

impl Provider for TestProvider {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn light_block(&mut self, height: Option<u64>) -> Result<LightBlock, ProviderError> {
        if self.down {
            return Err(ProviderError::Unreachable("connection refused".into()));
        }
        let height = height.unwrap_or(self.blocks.len() as u64);
        if let Some(block) = self.replaced.get(&height) {
            return Ok(block.clone());
        }
        self.blocks
            .get(usize::try_from(height).unwrap().wrapping_sub(1))
            .cloned()
            .ok_or(ProviderError::NotFound(height))
    }
}

fn client(
    chain: &TestChain,
    primary: TestProvider,
    witnesses: Vec<TestProvider>,
) -> LightClient<MemoryStore, TestProvider> {
    LightClient::new(
        chain.root.clone(),
        Options::default(),
        MemoryStore::new(),
        primary,
        witnesses,
    )
}

fn four() -> (Vec<SigningKey>, ValidatorSet) {
    set_of(&[1, 2, 3, 4])
}

#[test]
fn a_constant_set_is_skipped_to_the_target_in_one_step() {
    let chain = TestChain::new(vec![four()], &[0; 21]);
    let mut client = client(&chain, chain.provider("primary"), vec![]);
    let verified = client.verify_to_target(20, NOW_MS).unwrap();
    assert_eq!(verified.steps, [20]);
    assert_eq!(verified.block, *chain.block(20));
    assert_eq!(verified.status, Status::Verified);
    assert!(verified.set_changes.is_empty());
    // Then sequentially: the next block is checked by linkage.
    let next = TestChain::new(vec![four()], &[0; 22]);
    let mut client2 = client_with_store(&next, client.store().clone());
    let verified = client2.verify_to_target(21, NOW_MS).unwrap();
    assert_eq!(verified.steps, [21]);
}

fn client_with_store(
    chain: &TestChain,
    store: MemoryStore,
) -> LightClient<MemoryStore, TestProvider> {
    LightClient::new(
        chain.root.clone(),
        Options::default(),
        store,
        chain.provider("primary"),
        vec![],
    )
}

#[test]
fn disjoint_validator_sets_are_followed_by_bisection() {
    // A for 1..=10, B (shares two of A's four) for 11..=20, C (shares none) for 21..=30.
    let sets = vec![
        set_of(&[1, 2, 3, 4]),
        set_of(&[3, 4, 5, 6]),
        set_of(&[7, 8, 9, 10]),
    ];
    let mut schedule = vec![0; 11];
    schedule.extend([1; 10]);
    schedule.extend([2; 11]);
    let chain = TestChain::new(sets.clone(), &schedule);
    let mut client = client(&chain, chain.provider("primary"), vec![]);
    let verified = client.verify_to_target(30, NOW_MS).unwrap();
    assert_eq!(verified.block, *chain.block(30));
    assert!(
        verified.steps.windows(2).all(|w| w[0] < w[1]),
        "{:?}",
        verified.steps
    );
    assert_eq!(*verified.steps.last().unwrap(), 30);
    let changes: Vec<(Hash32, Hash32)> = verified
        .set_changes
        .iter()
        .map(|c| (c.from, c.to))
        .collect();
    assert_eq!(
        changes,
        [
            (sets[0].1.hash(), sets[1].1.hash()),
            (sets[1].1.hash(), sets[2].1.hash())
        ]
    );
    // C shares nothing with B: it is reached only through block 20, the last one B certified,
    // which names C as the next set.
    assert!(verified.steps.contains(&20), "{:?}", verified.steps);
    assert_eq!(verified.set_changes[1].height, 30);
}

#[test]
fn four_validators_become_five_then_four_again() {
    let sets = vec![
        set_of(&[1, 2, 3, 4]),
        set_of(&[1, 2, 3, 4, 5]),
        set_of(&[1, 2, 3, 5]),
    ];
    let mut schedule = vec![0; 6];
    schedule.extend([1; 5]);
    schedule.extend([2; 6]);
    let chain = TestChain::new(sets, &schedule);
    let mut client = client(&chain, chain.provider("primary"), vec![]);
    for target in [3, 8, 16] {
        client.verify_to_target(target, NOW_MS).unwrap();
    }
    let (tip, status) = client.store().get(16).unwrap();
    assert_eq!((tip, status), (chain.block(16).clone(), Status::Verified));
    assert_eq!(client.latest_trusted().height, 16);
}

/// The primary serves `block` at its height; the client verifying up to `target` refuses it.
fn refused(chain: &TestChain, block: LightBlock, target: u64) -> VerificationError {
    let mut primary = chain.provider("liar");
    primary.replaced.insert(block.height(), block);
    let mut client = client(chain, primary, vec![]);
    match client.verify_to_target(target, NOW_MS) {
        Err(LightClientError::Invalid { error, .. }) => error,
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_lie_of_a_primary_is_refused_by_its_check() {
    let chain = TestChain::new(vec![four(), set_of(&[5, 6, 7, 8])], &[0; 11]);

    // A tampered header: the certificate certifies another hash.
    let mut tampered = chain.block(5).clone();
    tampered.header.state_root = sha256(b"another state");
    let error = refused(&chain, tampered, 5);
    assert!(
        matches!(
            error,
            VerificationError::Certificate(CertificateError::HeaderMismatch { .. })
        ),
        "{error:?}"
    );
    assert_eq!(error.check(), "certificate");

    // A certificate of another chain (its header names it, its votes are for it).
    let other = TestChain::on(
        ChainId::new("abt-other-1").unwrap(),
        vec![four()],
        &[0; 11],
        b"state",
    );
    let error = refused(&chain, other.block(5).clone(), 5);
    assert_eq!(
        error,
        VerificationError::WrongChain {
            expected: chain.chain_id.clone(),
            found: other.chain_id
        }
    );

    // A conflicting header signed by a minority (two of four).
    let mut minority = chain.block(5).clone();
    minority.header.state_root = sha256(b"minority");
    minority.certificate = certify(&minority.header, &chain.sets[0].0[..2]);
    let error = refused(&chain, minority, 5);
    assert_eq!(
        error,
        VerificationError::Certificate(CertificateError::InsufficientVotingPower {
            signed: 2,
            total: 4
        })
    );

    // The next block, certified by the right set, but naming another parent.
    let mut unlinked = chain.block(1).clone();
    unlinked.header.previous_block_hash = sha256(b"elsewhere");
    let unlinked = chain.recertify(unlinked, 0);
    let error = refused(&chain, unlinked, 1);
    assert_eq!(error.check(), "previous_block_hash");

    // The next block certified by a set the trusted state never named.
    let mut usurped = chain.block(1).clone();
    usurped.validators = chain.sets[1].1.clone();
    usurped.header.validator_set_hash = chain.sets[1].1.hash();
    let usurped = chain.recertify(usurped, 1);
    let error = refused(&chain, usurped, 1);
    assert_eq!(
        error,
        VerificationError::UnexpectedValidatorSet {
            height: 1,
            expected: chain.sets[0].1.hash(),
            found: chain.sets[1].1.hash()
        }
    );

    // Validators that are not the set the header names.
    let mut swapped = chain.block(5).clone();
    swapped.validators = chain.sets[1].1.clone();
    let error = refused(&chain, swapped, 5);
    assert_eq!(error.check(), "validator_set_hash");
    let mut swapped = chain.block(5).clone();
    swapped.next_validators = chain.sets[1].1.clone();
    assert_eq!(
        refused(&chain, swapped, 5).check(),
        "next_validator_set_hash"
    );

    // Time going back, and time beyond the clock.
    let mut early = chain.block(1).clone();
    early.header.time_ms = GENESIS_MS;
    let early = chain.recertify(early, 0);
    assert_eq!(
        refused(&chain, early, 1),
        VerificationError::TimeNotIncreasing {
            trusted_ms: GENESIS_MS,
            target_ms: GENESIS_MS
        }
    );
    let mut late = chain.block(5).clone();
    late.header.time_ms = NOW_MS + 10_001;
    let late = chain.recertify(late, 0);
    assert_eq!(
        refused(&chain, late, 5),
        VerificationError::TimeInFuture {
            target_ms: NOW_MS + 10_001,
            latest_ms: NOW_MS + 10_000
        }
    );
}

#[test]
fn a_provider_serving_another_height_or_nothing_is_named() {
    let chain = TestChain::new(vec![four()], &[0; 11]);
    let mut primary = chain.provider("liar");
    primary.replaced.insert(5, chain.block(4).clone());
    let mut client = client(&chain, primary, vec![]);
    assert_eq!(
        client.verify_to_target(5, NOW_MS),
        Err(LightClientError::WrongHeight {
            provider: "liar".into(),
            asked: 5,
            served: 4
        })
    );
    let mut down = chain.provider("down");
    down.down = true;
    let mut client = self::client(&chain, down, vec![]);
    let error = client.verify_to_target(5, NOW_MS).unwrap_err();
    assert_eq!(error.check(), "network");
}

#[test]
fn a_witness_that_agrees_makes_the_block_trusted() {
    let chain = TestChain::new(vec![four()], &[0; 11]);
    let mut client = client(
        &chain,
        chain.provider("primary"),
        vec![chain.provider("witness")],
    );
    let verified = client.verify_to_target(10, NOW_MS).unwrap();
    assert_eq!(verified.status, Status::Trusted);
    assert_eq!(client.store().get(10).unwrap().1, Status::Trusted);
}

#[test]
fn two_certified_blocks_of_one_height_are_attack_evidence_and_the_client_halts() {
    let chain = TestChain::new(vec![four()], &[0; 11]);
    // The same validators certified another history (a fork signed by all four).
    let fork = TestChain::on(chain.chain_id.clone(), vec![four()], &[0; 11], b"fork");
    let mut client = client(
        &chain,
        chain.provider("primary"),
        vec![fork.provider("witness")],
    );
    let error = client.verify_to_target(10, NOW_MS).unwrap_err();
    let LightClientError::Attack(evidence) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(evidence.height, 10);
    assert_eq!(evidence.common_height, 0);
    assert_eq!(evidence.primary, *chain.block(10));
    assert_eq!(evidence.conflicting, *fork.block(10));
    assert_eq!(evidence.double_signers.len(), 4);
    assert_eq!(error.check(), "witness_agreement");
    // Halted: nothing more is verified.
    assert!(matches!(
        client.verify_to_target(3, NOW_MS),
        Err(LightClientError::Halted(_))
    ));
    assert!(client.halted().is_some());
}

#[test]
fn a_witness_whose_conflicting_block_does_not_verify_is_dropped() {
    let chain = TestChain::new(vec![four()], &[0; 11]);
    let mut liar = chain.provider("liar");
    let mut minority = chain.block(10).clone();
    minority.header.state_root = sha256(b"minority");
    minority.certificate = certify(&minority.header, &chain.sets[0].0[..1]);
    liar.replaced.insert(10, minority);
    let mut client = client(
        &chain,
        chain.provider("primary"),
        vec![liar, chain.provider("honest")],
    );
    let verified = client.verify_to_target(10, NOW_MS).unwrap();
    assert_eq!(verified.faulty_witnesses, ["liar"]);
    assert_eq!(verified.status, Status::Trusted);
    // Witnesses that cannot be reached leave the block unconfirmed, by name.
    let mut down = chain.provider("down");
    down.down = true;
    let mut client = self::client(&chain, chain.provider("primary"), vec![down]);
    assert!(matches!(
        client.verify_to_target(10, NOW_MS),
        Err(LightClientError::NoWitness { height: 10, .. })
    ));
}

#[test]
fn trust_comes_from_a_checkpoint_and_expires_with_its_period() {
    let chain = TestChain::new(vec![four()], &[0; 11]);
    let block = chain.block(4);
    let root = TrustedState::from_checkpoint(block, &chain.chain_id, 4, block.hash()).unwrap();
    assert_eq!(root.height, 4);
    assert_eq!(
        TrustedState::from_checkpoint(block, &chain.chain_id, 4, sha256(b"other"))
            .unwrap_err()
            .check(),
        "checkpoint"
    );
    let options = Options {
        trusting_period_ms: Some(3_600_000),
        ..Options::default()
    };
    assert_eq!(
        verify(
            chain.block(10),
            &root,
            &options,
            block.header.time_ms + 1_000
        ),
        Verdict::Success
    );
    assert_eq!(
        verify(
            chain.block(10),
            &root,
            &options,
            block.header.time_ms + 3_600_000
        ),
        Verdict::Invalid(VerificationError::TrustExpired {
            trusted_ms: block.header.time_ms,
            period_ms: 3_600_000,
            now_ms: block.header.time_ms + 3_600_000
        })
    );
    // Below the trusted height there is nothing to verify forwards.
    let mut client = LightClient::new(
        root,
        Options::default(),
        MemoryStore::new(),
        chain.provider("p"),
        vec![],
    );
    assert_eq!(
        client.verify_to_target(3, NOW_MS),
        Err(LightClientError::BelowTrusted {
            target: 3,
            trusted: 4
        })
    );
}

#[test]
fn trust_thresholds_lie_between_a_third_and_all() {
    assert!(TrustThreshold::new(1, 3).is_ok());
    assert!(TrustThreshold::new(2, 3).is_ok());
    assert!(TrustThreshold::new(1, 1).is_ok());
    assert!(TrustThreshold::new(1, 4).is_err());
    assert!(TrustThreshold::new(4, 3).is_err());
    assert!(TrustThreshold::new(0, 0).is_err());
    // Exactly a third is not more than a third.
    assert!(!TrustThreshold::ONE_THIRD.is_met(1, 3));
    assert!(TrustThreshold::ONE_THIRD.is_met(2, 4));
}

#[test]
fn skipping_needs_more_than_a_third_of_the_trusted_set() {
    // B shares exactly one of A's three validators: 1/3 is not enough to skip to block 5.
    let sets = vec![set_of(&[1, 2, 3]), set_of(&[3, 4, 5])];
    let chain = TestChain::new(sets, &[0, 0, 0, 1, 1, 1, 1]);
    let trusted = TrustedState::after(chain.block(1));
    assert_eq!(
        verify(chain.block(5), &trusted, &Options::default(), NOW_MS),
        Verdict::NotEnoughTrust {
            signed: 1,
            total: 3
        }
    );
    // The client gets there through block 2, the last one A certified, which names B next.
    let mut client = client(&chain, chain.provider("primary"), vec![]);
    let verified = client.verify_to_target(5, NOW_MS).unwrap();
    assert_eq!(verified.steps, [2, 5]);
    assert_eq!(verified.set_changes.len(), 1);
    assert_eq!(verified.set_changes[0].height, 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any schedule of three sets over 30 blocks: the client reaches any target, and what it
    /// holds is the chain's block.
    #[test]
    fn any_schedule_of_set_changes_is_followed(
        changes in proptest::collection::vec(0usize..3, 31),
        target in 1u64..=30,
    ) {
        let sets = vec![set_of(&[1, 2, 3, 4]), set_of(&[3, 4, 5, 6]), set_of(&[7, 8, 9])];
        let chain = TestChain::new(sets, &changes);
        let mut client = client(&chain, chain.provider("primary"), vec![chain.provider("witness")]);
        let verified = client.verify_to_target(target, NOW_MS).unwrap();
        prop_assert_eq!(&verified.block, chain.block(target));
        prop_assert_eq!(verified.status, Status::Trusted);
    }

    /// One bit of the target's header, flipped: the block is refused (decoding is not involved,
    /// so verification must refuse it).
    #[test]
    fn a_flipped_bit_in_the_served_header_is_refused(byte in 0usize..400, bit in 0u8..8, target in 1u64..=10) {
        use lightclient::encoding::{Decode, Encode};
        let chain = TestChain::new(vec![four()], &[0; 11]);
        let mut bytes = chain.block(target).header.to_bytes();
        let at = byte % bytes.len();
        bytes[at] ^= 1 << bit;
        let Ok(header) = BlockHeader::from_bytes(&bytes) else {
            return Ok(());
        };
        prop_assume!(header != chain.block(target).header);
        let mut block = chain.block(target).clone();
        block.header = header;
        let mut primary = chain.provider("liar");
        primary.replaced.insert(target, block);
        let mut client = client(&chain, primary, vec![]);
        let verdict = client.verify_to_target(target, NOW_MS);
        prop_assert!(verdict.is_err(), "a tampered header verified");
    }
}

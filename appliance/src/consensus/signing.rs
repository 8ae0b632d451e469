//! Malachite's signer and verifier over the `signer` crate: every vote and proposal is signed in
//! the validator's HSM, behind the persisted watermark that refuses to sign two different
//! messages at one (height, round, step).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lightclient::hash::{Hash32, tagged_hash, tags};
use lightclient::header::ChainId;
use lightclient::keys::{PublicKey, Signature};
use malachitebft_app_channel::app::types::core::{
    Round, SignedMessage, ValidatorProof, VoteExtensionScope, VoteType,
};
use malachitebft_signing::{Error, Signer, VerificationResult, Verifier};
use signer::SignerError;
use signer::watermark::{Position, Step, WatermarkedSigner};

use super::context::{Ctx, Proposal, Vote};
use crate::node::actors::Metrics;

/// Attempts at one signature before the error is handed to the engine (which then stops: a
/// validator that cannot sign is better restarted than half-alive).
/// First wait before asking the HSM again.
const RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest wait between attempts.
const RETRY_MAX: Duration = Duration::from_secs(2);
/// How often a long outage is logged again.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Signs consensus messages in the HSM.
pub struct HsmSigner {
    chain_id: ChainId,
    consensus: Arc<WatermarkedSigner>,
    identity: Arc<dyn signer::Signer>,
    metrics: Arc<Metrics>,
}

impl HsmSigner {
    /// `consensus` signs votes and proposals; `identity` (the same key, without the watermark)
    /// signs the one-off binding of this node's network identity to its key.
    pub fn new(
        chain_id: ChainId,
        consensus: Arc<WatermarkedSigner>,
        identity: Arc<dyn signer::Signer>,
        metrics: Arc<Metrics>,
    ) -> Self {
        HsmSigner {
            chain_id,
            consensus,
            identity,
            metrics,
        }
    }

    /// Signs at `position`, waiting out an HSM that does not answer for as long as it takes
    /// (capped back-off), so that a validator whose HSM is away stays up and votes again when it
    /// returns. Only the watermark's refusals (a regression or an equivocation) are final.
    async fn sign_with_retry(
        &self,
        position: Position,
        digest: &Hash32,
    ) -> Result<Signature, SignerError> {
        let mut delay = RETRY_FIRST;
        let mut failed_since: Option<std::time::Instant> = None;
        let mut last_report = std::time::Instant::now();
        loop {
            match self.consensus.sign_at(position, digest).await {
                Err(e @ SignerError::Watermark(_)) => return Err(e),
                Err(e) => {
                    self.metrics.hsm_errors.fetch_add(1, Ordering::SeqCst);
                    self.metrics.hsm_available.store(false, Ordering::SeqCst);
                    let since = *failed_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() < RETRY_FIRST || last_report.elapsed() >= REPORT_EVERY {
                        tracing::warn!(error = %e, height = position.height, waited_ms = since.elapsed().as_millis(), "HSM not answering; waiting for it to sign");
                        last_report = std::time::Instant::now();
                    }
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2).min(RETRY_MAX);
                }
                Ok(signature) => {
                    if let Some(since) = failed_since {
                        tracing::info!(
                            waited_ms = since.elapsed().as_millis(),
                            "HSM answering again"
                        );
                    }
                    self.metrics.hsm_available.store(true, Ordering::SeqCst);
                    return Ok(signature);
                }
            }
        }
    }
}

fn position(height: u64, round: Round, step: Step) -> Result<Position, Error> {
    let round = round
        .as_u32()
        .ok_or_else(|| Error::from_source("refusing to sign at an undefined round"))?;
    Ok(Position {
        height,
        round,
        step,
    })
}

/// The digest a validator signs to bind its libp2p peer id to its consensus key. Tagged, so the
/// signature can never pass for a vote or a transaction.
pub fn peer_proof_digest(public_key: &[u8], peer_id: &[u8]) -> Hash32 {
    tagged_hash(
        tags::PEER_PROOF,
        &ValidatorProof::<Ctx>::signing_bytes(public_key, peer_id),
    )
}

#[async_trait::async_trait]
impl Signer<Ctx> for HsmSigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<Ctx, Vote>, Error> {
        let step = match vote.vote_type {
            VoteType::Prevote => Step::Prevote,
            VoteType::Precommit => Step::Precommit,
        };
        let at = position(vote.height.0, vote.round, step)?;
        let digest = vote.to_light_client(&self.chain_id).signing_digest();
        let signature = self
            .sign_with_retry(at, &digest)
            .await
            .map_err(|e| Error::from_source(e.to_string()))?;
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<Ctx, Proposal>, Error> {
        let at = position(proposal.height.0, proposal.round, Step::Propose)?;
        let digest = proposal.to_light_client(&self.chain_id).signing_digest();
        let signature = self
            .sign_with_retry(at, &digest)
            .await
            .map_err(|e| Error::from_source(e.to_string()))?;
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        _scope: VoteExtensionScope<Ctx>,
        _extension: (),
    ) -> Result<SignedMessage<Ctx, ()>, Error> {
        Err(Error::from_source("vote extensions are disabled"))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<Ctx>, Error> {
        let digest = peer_proof_digest(&public_key, &peer_id);
        let signature = self
            .identity
            .sign_digest(digest.as_bytes())
            .await
            .map_err(|e| Error::from_source(e.to_string()))?;
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

/// Checks consensus signatures with the light client's rules.
#[derive(Debug, Clone)]
pub struct SignatureVerifier {
    chain_id: ChainId,
}

impl SignatureVerifier {
    /// A verifier for votes and proposals of `chain_id`.
    pub fn new(chain_id: ChainId) -> Self {
        SignatureVerifier { chain_id }
    }

    /// Whether `signature` is `public_key`'s over `vote`.
    pub fn vote_is_signed(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> bool {
        let digest = vote.to_light_client(&self.chain_id).signing_digest();
        public_key
            .verify_digest(digest.as_bytes(), signature)
            .is_ok()
    }
}

#[async_trait::async_trait]
impl Verifier<Ctx> for SignatureVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::from_bool(
            self.vote_is_signed(vote, signature, public_key),
        ))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        let digest = proposal.to_light_client(&self.chain_id).signing_digest();
        Ok(VerificationResult::from_bool(
            public_key
                .verify_digest(digest.as_bytes(), signature)
                .is_ok(),
        ))
    }

    async fn verify_signed_vote_extension(
        &self,
        _scope: &VoteExtensionScope<Ctx>,
        _extension: &(),
        _signature: &Signature,
        _public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::Invalid)
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<Ctx>,
    ) -> Result<VerificationResult, Error> {
        let Ok(public_key) = proof.decoded_public_key() else {
            return Ok(VerificationResult::Invalid);
        };
        let digest = peer_proof_digest(&proof.public_key, &proof.peer_id);
        Ok(VerificationResult::from_bool(
            public_key
                .verify_digest(digest.as_bytes(), &proof.signature)
                .is_ok(),
        ))
    }
}

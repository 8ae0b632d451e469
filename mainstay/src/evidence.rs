//! The evidence that a commitment is attested to Bitcoin, and its verification from headers only:
//! slot proof → pay-to-contract output → staychain from the initial transaction → the block's
//! headers on the chain the verifier follows from its checkpoint under the full difficulty rules
//! → merkle proof into a block of that chain with enough confirmations. Each check fails with its
//! own error.

use bitcoin::block::Header;
use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{BlockHash, MerkleBlock, Network, Transaction, Txid};

use crate::contract::{ContractError, ContractKey, ContractScheme};
use crate::headers::{Checkpoint, Extension, HeaderChain, HeaderChainError};
use crate::inclusion::{InclusionError, verify_inclusion};
use crate::slot::{SlotProof, SlotProofError};
use crate::staychain::{StaychainError, verify_staychain};

/// Everything a verifier needs besides the staychain configuration (all Bitcoin data as hex in
/// consensus encoding, as Bitcoin Core's RPC gives it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationEvidence {
    /// The client's slot.
    pub position: u64,
    /// The slot proof (its `txid` is the attestation transaction).
    pub slot_proof: SlotProof,
    /// Every attestation transaction from the one spending the initial transaction up to and
    /// including this attestation, oldest first.
    pub staychain: Vec<String>,
    /// The BIP 37 merkle block proving the attestation is in a block (`gettxoutproof`).
    pub merkle_block: String,
    /// Headers after that block, oldest first: offered to the verifier's header chain, which
    /// checks them under the full difficulty rules before counting them.
    pub confirmations: Vec<String>,
}

/// Confirmations required when a spec does not say.
pub const DEFAULT_MIN_CONFIRMATIONS: u32 = 6;

fn default_min_confirmations() -> u32 {
    DEFAULT_MIN_CONFIRMATIONS
}

/// What a verifier must know in advance: how outputs are locked and where the chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaychainConfig {
    /// The output scheme.
    pub scheme: ContractScheme,
    /// The transaction the staychain starts from (its output 0 is the first one spent).
    pub initial_txid: Txid,
    /// The Bitcoin network whose header rules apply.
    pub network: Network,
    /// The confirmations the attestation's block needs on the followed chain.
    pub min_confirmations: u32,
}

/// The serialised form of [`StaychainConfig`] (config files, the CLI).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaychainSpec {
    /// `bitcoin`, `testnet`, `signet` or `regtest`.
    pub network: String,
    /// Display hex.
    pub initial_txid: String,
    /// The base keys with their chain codes; one key means P2WPKH.
    pub keys: Vec<ContractKeySpec>,
    /// For more than one key: signatures required (P2SH multisig).
    #[serde(default)]
    pub required: Option<u8>,
    /// The confirmations an attestation's block needs (default 6).
    #[serde(default = "default_min_confirmations")]
    pub min_confirmations: u32,
}

/// One base key in hex.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractKeySpec {
    /// Compressed public key, 33 bytes hex.
    pub public_key: String,
    /// Chain code, 32 bytes hex.
    pub chain_code: String,
}

/// Why evidence does not verify; each check has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// A field is not what it claims to be.
    #[error("{what} cannot be decoded: {reason}")]
    Decode {
        /// Which field.
        what: String,
        /// Why.
        reason: String,
    },
    /// The commitment is not the one the verifier asked about.
    #[error("the proof is for commitment {found}, not {expected}")]
    CommitmentMismatch {
        /// What the verifier expected.
        expected: String,
        /// What the proof holds.
        found: String,
    },
    /// The slot proof fails.
    #[error("slot proof: {0}")]
    Slot(#[from] SlotProofError),
    /// No staychain transactions were given.
    #[error("the evidence holds no attestation transaction")]
    EmptyStaychain,
    /// The last staychain transaction is not the one the slot proof names.
    #[error("the slot proof names attestation {proof}, but the staychain ends with {transaction}")]
    TxidMismatch {
        /// The txid in the slot proof.
        proof: String,
        /// The txid of the last staychain transaction.
        transaction: Txid,
    },
    /// The output is not the root's pay-to-contract output.
    #[error("pay-to-contract: {0}")]
    Contract(#[from] ContractError),
    /// The transactions do not form the staychain.
    #[error("staychain: {0}")]
    Staychain(#[from] StaychainError),
    /// The evidence's headers do not extend the followed chain under the difficulty rules.
    #[error("bitcoin header chain: {0}")]
    HeaderChain(#[from] HeaderChainError),
    /// The evidence is for another Bitcoin network than the followed chain's.
    #[error("the staychain is on {config}, but the followed header chain is {chain}")]
    NetworkMismatch {
        /// The staychain's network.
        config: Network,
        /// The header chain's.
        chain: Network,
    },
    /// The block inclusion or its confirmations fail.
    #[error("bitcoin inclusion: {0}")]
    Inclusion(#[from] InclusionError),
}

/// The checks of [`AttestationEvidence::verify`], in the order they run.
pub const CHECKS: [&str; 7] = [
    "commitment",
    "slot proof",
    "attestation txid",
    "pay-to-contract",
    "staychain",
    "bitcoin header chain",
    "bitcoin inclusion",
];

impl AttestationError {
    /// Which of [`CHECKS`] failed.
    pub fn check(&self) -> &'static str {
        match self {
            AttestationError::CommitmentMismatch { .. } => "commitment",
            AttestationError::Slot(_) => "slot proof",
            AttestationError::EmptyStaychain | AttestationError::TxidMismatch { .. } => {
                "attestation txid"
            }
            AttestationError::Contract(_) => "pay-to-contract",
            AttestationError::Staychain(_) => "staychain",
            AttestationError::HeaderChain(_) | AttestationError::NetworkMismatch { .. } => {
                "bitcoin header chain"
            }
            AttestationError::Inclusion(_) => "bitcoin inclusion",
            AttestationError::Decode { what, .. } => match what.split('[').next() {
                Some("staychain") => "attestation txid",
                Some("slot_proof.txid") => "attestation txid",
                Some("confirmations") => "bitcoin header chain",
                _ => "bitcoin inclusion",
            },
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationReport {
    /// The commitment (display hex).
    pub commitment: String,
    /// The root it is under (display hex).
    pub merkle_root: String,
    /// Steps in the slot proof.
    pub slot_path_length: usize,
    /// The attestation transaction.
    pub txid: Txid,
    /// Its single output's script (hex).
    pub output_script: String,
    /// Attestations from the initial transaction to this one.
    pub staychain_length: usize,
    /// The block holding it.
    pub block: BlockHash,
    /// That block's height.
    pub height: u32,
    /// Its confirmations on the followed chain (the block and the headers after it).
    pub confirmations: u32,
    /// The checkpoint the followed chain starts from.
    pub checkpoint: Checkpoint,
}

fn decode<T: bitcoin::consensus::Decodable>(what: &str, hex: &str) -> Result<T, AttestationError> {
    deserialize_hex(hex).map_err(|e| AttestationError::Decode {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

fn bad(what: &str, reason: impl std::fmt::Display) -> AttestationError {
    AttestationError::Decode {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// A network by the names configs use: `bitcoin` (or `mainnet`), `testnet`, `signet`, `regtest`.
pub fn parse_network(name: &str) -> Option<Network> {
    match name {
        "bitcoin" | "mainnet" => Some(Network::Bitcoin),
        "testnet" => Some(Network::Testnet),
        "signet" => Some(Network::Signet),
        "regtest" => Some(Network::Regtest),
        _ => None,
    }
}

impl StaychainSpec {
    /// Parses the keys, network and txid.
    pub fn to_config(&self) -> Result<StaychainConfig, AttestationError> {
        let network = parse_network(&self.network)
            .ok_or_else(|| bad("network", format!("unknown network {:?}", self.network)))?;
        let initial_txid = self
            .initial_txid
            .parse::<Txid>()
            .map_err(|e| bad("initial_txid", e))?;
        let mut keys = Vec::with_capacity(self.keys.len());
        for (i, key) in self.keys.iter().enumerate() {
            let public_key = key
                .public_key
                .parse::<PublicKey>()
                .map_err(|e| bad(&format!("keys[{i}].public_key"), e))?;
            let mut chain_code = [0u8; 32];
            hex::decode_to_slice(&key.chain_code, &mut chain_code)
                .map_err(|e| bad(&format!("keys[{i}].chain_code"), e))?;
            keys.push(ContractKey {
                public_key,
                chain_code,
            });
        }
        let scheme = match (keys.as_slice(), self.required) {
            ([only], None) => ContractScheme::P2wpkh(*only),
            ([], _) => return Err(bad("keys", "no key given")),
            (_, Some(required)) => ContractScheme::P2shMultisig { required, keys },
            (_, None) => return Err(bad("required", "several keys need `required`")),
        };
        Ok(StaychainConfig {
            scheme,
            initial_txid,
            network,
            min_confirmations: self.min_confirmations,
        })
    }
}

impl AttestationEvidence {
    /// The block's header and the confirmations after it, oldest first, as a verifier offers
    /// them to its [`HeaderChain`].
    pub fn headers(&self) -> Result<Vec<Header>, AttestationError> {
        let merkle_block: MerkleBlock = decode("merkle_block", &self.merkle_block)?;
        let mut headers = Vec::with_capacity(self.confirmations.len().saturating_add(1));
        headers.push(merkle_block.header);
        for (i, hex) in self.confirmations.iter().enumerate() {
            headers.push(decode::<Header>(&format!("confirmations[{i}]"), hex)?);
        }
        Ok(headers)
    }

    /// Offers the evidence's headers to `chain` (checked under the full difficulty rules; headers
    /// the chain holds already change nothing), then verifies the evidence against it. `now` is
    /// the verifier's clock in Unix seconds.
    pub fn verify_extending(
        &self,
        config: &StaychainConfig,
        chain: &mut HeaderChain,
        now: u32,
        expected_commitment: Option<&str>,
    ) -> Result<(AttestationReport, Extension), AttestationError> {
        let attested = self.verify_attestation(config, expected_commitment)?;
        check_network(config, chain)?;
        let extension = chain.extend(&self.headers()?, now)?;
        Ok((self.verify_on_chain(attested, config, chain)?, extension))
    }

    /// Verifies every check in order against the header chain the verifier follows;
    /// `expected_commitment` (display hex), when given, must be the commitment the proof is for.
    /// The block must be on `chain` with at least `config.min_confirmations`.
    pub fn verify(
        &self,
        config: &StaychainConfig,
        chain: &HeaderChain,
        expected_commitment: Option<&str>,
    ) -> Result<AttestationReport, AttestationError> {
        let attested = self.verify_attestation(config, expected_commitment)?;
        check_network(config, chain)?;
        self.verify_on_chain(attested, config, chain)
    }

    fn verify_on_chain(
        &self,
        attested: Attested,
        config: &StaychainConfig,
        chain: &HeaderChain,
    ) -> Result<AttestationReport, AttestationError> {
        let merkle_block: MerkleBlock = decode("merkle_block", &self.merkle_block)?;
        let inclusion = verify_inclusion(
            attested.txid,
            &merkle_block,
            chain,
            config.min_confirmations,
        )?;
        let proof = &self.slot_proof;
        Ok(AttestationReport {
            commitment: proof.commitment.clone(),
            merkle_root: proof.merkle_root.clone(),
            slot_path_length: proof.ops.len(),
            txid: attested.txid,
            output_script: attested.output_script,
            staychain_length: attested.staychain_length,
            block: inclusion.block,
            height: inclusion.height,
            confirmations: inclusion.confirmations,
            checkpoint: chain.checkpoint(),
        })
    }

    /// The checks before Bitcoin: commitment, slot proof, attestation txid, pay-to-contract and
    /// staychain.
    fn verify_attestation(
        &self,
        config: &StaychainConfig,
        expected_commitment: Option<&str>,
    ) -> Result<Attested, AttestationError> {
        let proof = &self.slot_proof;
        if let Some(expected) = expected_commitment
            && !expected.eq_ignore_ascii_case(&proof.commitment)
        {
            return Err(AttestationError::CommitmentMismatch {
                expected: expected.to_string(),
                found: proof.commitment.clone(),
            });
        }
        proof.verify_at(self.position)?;
        let root = proof.root_internal()?;

        let chain = self
            .staychain
            .iter()
            .enumerate()
            .map(|(i, hex)| decode::<Transaction>(&format!("staychain[{i}]"), hex))
            .collect::<Result<Vec<_>, _>>()?;
        let attestation = chain.last().ok_or(AttestationError::EmptyStaychain)?;
        let txid = attestation.compute_txid();
        let named = proof
            .txid
            .parse::<Txid>()
            .map_err(|e| bad("slot_proof.txid", e))?;
        if named != txid {
            return Err(AttestationError::TxidMismatch {
                proof: proof.txid.clone(),
                transaction: txid,
            });
        }
        config.scheme.check_transaction(attestation, &root)?;
        verify_staychain(config.initial_txid, &chain)?;
        let output_script = attestation
            .output
            .first()
            .map(|o| hex::encode(o.script_pubkey.as_bytes()))
            .unwrap_or_default();
        Ok(Attested {
            txid,
            staychain_length: chain.len(),
            output_script,
        })
    }
}

/// What the checks before Bitcoin established.
struct Attested {
    txid: Txid,
    staychain_length: usize,
    output_script: String,
}

fn check_network(config: &StaychainConfig, chain: &HeaderChain) -> Result<(), AttestationError> {
    if config.network == chain.network() {
        Ok(())
    } else {
        Err(AttestationError::NetworkMismatch {
            config: config.network,
            chain: chain.network(),
        })
    }
}

//! The evidence that a commitment is attested to Bitcoin, and its verification from headers only:
//! slot proof → pay-to-contract output → staychain from the initial transaction → merkle proof
//! into a block → confirmations with valid proof of work. Each check fails with its own error.

use bitcoin::block::Header;
use bitcoin::consensus::encode::deserialize_hex;
use bitcoin::secp256k1::PublicKey;
use bitcoin::{BlockHash, MerkleBlock, Network, Transaction, Txid};

use crate::contract::{ContractError, ContractKey, ContractScheme};
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
    /// Headers after that block, oldest first.
    pub confirmations: Vec<String>,
}

/// What a verifier must know in advance: how outputs are locked and where the chain starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaychainConfig {
    /// The output scheme.
    pub scheme: ContractScheme,
    /// The transaction the staychain starts from (its output 0 is the first one spent).
    pub initial_txid: Txid,
    /// The Bitcoin network whose proof-of-work limit applies.
    pub network: Network,
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
    /// The block inclusion or its confirmations fail.
    #[error("bitcoin inclusion: {0}")]
    Inclusion(#[from] InclusionError),
}

/// The checks of [`AttestationEvidence::verify`], in the order they run.
pub const CHECKS: [&str; 6] = [
    "commitment",
    "slot proof",
    "attestation txid",
    "pay-to-contract",
    "staychain",
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
            AttestationError::Inclusion(_) => "bitcoin inclusion",
            AttestationError::Decode { what, .. } => match what.split('[').next() {
                Some("staychain") => "attestation txid",
                Some("slot_proof.txid") => "attestation txid",
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
    /// Its confirmations (the block and the headers after it).
    pub confirmations: usize,
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
        })
    }
}

impl AttestationEvidence {
    /// Verifies every check in order; `expected_commitment` (display hex), when given, must be
    /// the commitment the proof is for.
    pub fn verify(
        &self,
        config: &StaychainConfig,
        expected_commitment: Option<&str>,
    ) -> Result<AttestationReport, AttestationError> {
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

        let merkle_block: MerkleBlock = decode("merkle_block", &self.merkle_block)?;
        let headers = self
            .confirmations
            .iter()
            .enumerate()
            .map(|(i, hex)| decode::<Header>(&format!("confirmations[{i}]"), hex))
            .collect::<Result<Vec<_>, _>>()?;
        let inclusion = verify_inclusion(txid, &merkle_block, &headers, config.network)?;

        let output_script = attestation
            .output
            .first()
            .map(|o| hex::encode(o.script_pubkey.as_bytes()))
            .unwrap_or_default();
        Ok(AttestationReport {
            commitment: proof.commitment.clone(),
            merkle_root: proof.merkle_root.clone(),
            slot_path_length: proof.ops.len(),
            txid,
            output_script,
            staychain_length: chain.len(),
            block: inclusion.block,
            confirmations: inclusion.confirmations,
        })
    }
}

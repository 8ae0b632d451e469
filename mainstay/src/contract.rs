//! Pay-to-contract: the attestation output pays to keys tweaked by the commitment-tree root.
//!
//! The root's 32 internal-order bytes (the reverse of the hex the API shows) are read as 16
//! big-endian two-byte indices; each is one non-hardened BIP32 public derivation step from the
//! base key and its chain code. The attestation transaction has exactly one output: P2WPKH of the
//! tweaked key (the current Mainstay form) or, in the older form, P2SH of an m-of-n multisig whose
//! keys are each tweaked along their own chain code, kept in configured order. An all-zero root
//! means "no commitment yet": the untweaked keys, as in the staychain's initial output.

use bitcoin::bip32::{ChainCode, ChildNumber, Xpub};
use bitcoin::secp256k1::{PublicKey, Secp256k1};
use bitcoin::{CompressedPublicKey, NetworkKind, ScriptBuf, Transaction};

/// Number of derivation steps taken from a root.
pub const PATH_STEPS: usize = 16;

/// One base key of the staychain with its BIP32 chain code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractKey {
    /// The untweaked public key.
    pub public_key: PublicKey,
    /// The chain code it is derived with.
    pub chain_code: [u8; 32],
}

/// The key after the 16 steps, with the per-step scalar tweaks that let the key's owner derive
/// the matching private key (each step adds its tweak to the private key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TweakedKey {
    /// The tweaked public key.
    pub public_key: PublicKey,
    /// The final chain code.
    pub chain_code: [u8; 32],
    /// The scalar added at each step, in order (public data: derived from public values).
    pub step_tweaks: Vec<[u8; 32]>,
}

/// How the staychain's outputs are locked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContractScheme {
    /// One key, pay-to-witness-public-key-hash.
    P2wpkh(ContractKey),
    /// `required`-of-`keys.len()` bare multisig wrapped in P2SH, keys in configured order.
    P2shMultisig {
        /// Signatures required.
        required: u8,
        /// The keys, in script order.
        keys: Vec<ContractKey>,
    },
}

/// Why an attestation output does not match the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The transaction does not have exactly one output.
    #[error("the attestation transaction has {count} outputs; it must have exactly one")]
    NotSingleOutput {
        /// How many it has.
        count: usize,
    },
    /// The output pays to another script than the root's tweaked key(s).
    #[error(
        "the attestation output pays to script {found}, not to {expected} (the key tweaked by the root)"
    )]
    OutputScriptMismatch {
        /// The script the root requires (hex).
        expected: String,
        /// The script in the transaction (hex).
        found: String,
    },
    /// A derivation step produced an invalid key (probability about 2^-127 per step).
    #[error("derivation step {step} from the root gives an invalid key")]
    DerivationFailed {
        /// Which step (0-based).
        step: usize,
    },
    /// The multisig parameters cannot form a script.
    #[error("a {required}-of-{keys} multisig cannot be scripted (need 1 ≤ required ≤ keys ≤ 15)")]
    BadMultisig {
        /// Signatures required.
        required: u8,
        /// Keys given.
        keys: usize,
    },
}

/// The 16 derivation indices taken from a root in internal byte order.
pub fn derivation_path(root_internal: &[u8; 32]) -> [u16; PATH_STEPS] {
    let mut path = [0u16; PATH_STEPS];
    for (index, pair) in path.iter_mut().zip(root_internal.chunks_exact(2)) {
        if let [high, low] = pair {
            *index = u16::from_be_bytes([*high, *low]);
        }
    }
    path
}

impl ContractKey {
    /// Derives the key for a root (internal byte order); the all-zero root leaves it untweaked.
    pub fn tweak(&self, root_internal: &[u8; 32]) -> Result<TweakedKey, ContractError> {
        if root_internal == &[0u8; 32] {
            return Ok(TweakedKey {
                public_key: self.public_key,
                chain_code: self.chain_code,
                step_tweaks: Vec::new(),
            });
        }
        let secp = Secp256k1::verification_only();
        let mut extended = Xpub {
            network: NetworkKind::Main,
            depth: 0,
            parent_fingerprint: Default::default(),
            child_number: ChildNumber::Normal { index: 0 },
            public_key: self.public_key,
            chain_code: ChainCode::from(self.chain_code),
        };
        let mut step_tweaks = Vec::with_capacity(PATH_STEPS);
        for (step, index) in derivation_path(root_internal).into_iter().enumerate() {
            let child = ChildNumber::Normal {
                index: u32::from(index),
            };
            let (tweak, _) = extended
                .ckd_pub_tweak(child)
                .map_err(|_| ContractError::DerivationFailed { step })?;
            step_tweaks.push(tweak.secret_bytes());
            extended = extended
                .ckd_pub(&secp, child)
                .map_err(|_| ContractError::DerivationFailed { step })?;
        }
        Ok(TweakedKey {
            public_key: extended.public_key,
            chain_code: extended.chain_code.to_bytes(),
            step_tweaks,
        })
    }
}

impl ContractScheme {
    /// The output script an attestation of this root must pay to.
    pub fn script_pubkey(&self, root_internal: &[u8; 32]) -> Result<ScriptBuf, ContractError> {
        match self {
            ContractScheme::P2wpkh(key) => {
                let tweaked = key.tweak(root_internal)?;
                Ok(ScriptBuf::new_p2wpkh(
                    &CompressedPublicKey(tweaked.public_key).wpubkey_hash(),
                ))
            }
            ContractScheme::P2shMultisig { required, keys } => Ok(ScriptBuf::new_p2sh(
                &multisig_script(*required, keys, root_internal)?.script_hash(),
            )),
        }
    }

    /// Checks that `transaction` has exactly one output, paying to this root's script.
    pub fn check_transaction(
        &self,
        transaction: &Transaction,
        root_internal: &[u8; 32],
    ) -> Result<(), ContractError> {
        let [output] = transaction.output.as_slice() else {
            return Err(ContractError::NotSingleOutput {
                count: transaction.output.len(),
            });
        };
        let expected = self.script_pubkey(root_internal)?;
        if output.script_pubkey == expected {
            Ok(())
        } else {
            Err(ContractError::OutputScriptMismatch {
                expected: hex::encode(expected.as_bytes()),
                found: hex::encode(output.script_pubkey.as_bytes()),
            })
        }
    }
}

/// The m-of-n redeem script of the keys tweaked by a root, keys in configured order.
fn multisig_script(
    required: u8,
    keys: &[ContractKey],
    root_internal: &[u8; 32],
) -> Result<ScriptBuf, ContractError> {
    if required == 0 || usize::from(required) > keys.len() || keys.len() > 15 {
        return Err(ContractError::BadMultisig {
            required,
            keys: keys.len(),
        });
    }
    let mut builder = bitcoin::script::Builder::new().push_int(i64::from(required));
    for key in keys {
        let tweaked = key.tweak(root_internal)?;
        builder = builder.push_slice(tweaked.public_key.serialize());
    }
    let count = i64::try_from(keys.len()).unwrap_or(15);
    Ok(builder
        .push_int(count)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script())
}

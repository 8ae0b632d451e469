//! The keystore: account keys sealed with a password, in one JSON file.
//!
//! Each key's 32 secret bytes are encrypted with ChaCha20-Poly1305 under a key that Argon2id
//! (RFC 9106, 64 MiB, 3 passes) derives from the password and a random salt. The name and the
//! public key are authenticated data, so an entry moved under another name, or given another
//! public key, fails to open. Nothing secret is written in the clear or printed; an opened key
//! lives in memory only, and is wiped when dropped. ADR 0017.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use k256::ecdsa::SigningKey;
use lightclient::encoding::Encode;
use lightclient::keys::{AccountId, PublicKey, Signature};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The keystore format this build reads and writes.
pub const KEYSTORE_VERSION: u32 = 1;

/// Argon2id cost: 64 MiB and three passes (RFC 9106's second recommended option).
pub const KDF_MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id passes.
pub const KDF_ITERATIONS: u32 = 3;
/// Argon2id lanes.
pub const KDF_PARALLELISM: u32 = 1;

const AAD_TAG: &[u8] = b"ABT/keystore/v1";

/// Why the keystore refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a keystore this build reads.
    #[error("{path} is not a keystore: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No key by that name.
    #[error("no key named {0:?} in the keystore")]
    NoSuchKey(String),
    /// A key by that name exists already.
    #[error("a key named {0:?} exists already")]
    Exists(String),
    /// The name is not 1 to 64 of `a-z 0-9 - _ .`.
    #[error("key name {0:?} must be 1 to 64 of a-z, 0-9, '-', '_' and '.'")]
    BadName(String),
    /// The password does not open the key (or the entry was altered).
    #[error("the password does not open key {0:?} (or its entry was altered)")]
    WrongPassword(String),
    /// The secret is not a valid secp256k1 private key.
    #[error("the secret is not a valid secp256k1 private key")]
    InvalidSecret,
    /// The password is empty.
    #[error("the password is empty")]
    EmptyPassword,
    /// Argon2 refused its parameters.
    #[error("key derivation: {0}")]
    Kdf(String),
}

/// How a key's encryption key is derived from the password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Kdf {
    /// Argon2id, version 0x13.
    Argon2id {
        /// Memory, KiB.
        memory_kib: u32,
        /// Passes.
        iterations: u32,
        /// Lanes.
        parallelism: u32,
        /// 16 random bytes, hex.
        salt: String,
    },
}

/// One sealed key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedKey {
    /// Its public key (authenticated, not secret).
    pub public_key: PublicKey,
    /// How the encryption key is derived.
    pub kdf: Kdf,
    /// `chacha20poly1305`.
    pub cipher: String,
    /// 12 random bytes, hex.
    pub nonce: String,
    /// The sealed secret and its tag, hex.
    pub ciphertext: String,
}

impl SealedKey {
    /// The account this key signs for.
    pub fn account_id(&self) -> AccountId {
        self.public_key.account_id()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeystoreFile {
    version: u32,
    keys: BTreeMap<String, SealedKey>,
}

/// The keystore file and its keys.
#[derive(Debug)]
pub struct Keystore {
    path: PathBuf,
    keys: BTreeMap<String, SealedKey>,
}

/// A key opened with its password: in memory only, wiped on drop.
pub struct OpenedKey {
    name: String,
    key: SigningKey,
    public_key: PublicKey,
}

impl std::fmt::Debug for OpenedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedKey")
            .field("name", &self.name)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl OpenedKey {
    /// Its name in the keystore.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// Signs a 32-byte digest: compact, low-S (what the ledger accepts).
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, KeystoreError> {
        let (signature, _) = self
            .key
            .sign_prehash_recoverable(digest)
            .map_err(|_| KeystoreError::InvalidSecret)?;
        Signature::from(signature)
            .normalize_s()
            .map_err(|_| KeystoreError::InvalidSecret)
    }
}

fn public_of(key: &SigningKey) -> Result<PublicKey, KeystoreError> {
    let point = key.verifying_key().to_encoded_point(true);
    let bytes: [u8; 33] = point
        .as_bytes()
        .try_into()
        .map_err(|_| KeystoreError::InvalidSecret)?;
    PublicKey::from_compressed(bytes).map_err(|_| KeystoreError::InvalidSecret)
}

fn check_name(name: &str) -> Result<(), KeystoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(KeystoreError::BadName(name.to_string()))
    }
}

fn aad(name: &str, public_key: &PublicKey) -> Vec<u8> {
    let mut out = AAD_TAG.to_vec();
    out.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&public_key.to_bytes());
    out
}

fn derive(kdf: &Kdf, password: &SecretString) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let Kdf::Argon2id {
        memory_kib,
        iterations,
        parallelism,
        salt,
    } = kdf;
    let salt = hex::decode(salt).map_err(|e| KeystoreError::Kdf(format!("salt: {e}")))?;
    let params = argon2::Params::new(*memory_kib, *iterations, *parallelism, Some(32))
        .map_err(|e| KeystoreError::Kdf(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password.expose_secret().as_bytes(), &salt, out.as_mut())
        .map_err(|e| KeystoreError::Kdf(e.to_string()))?;
    Ok(out)
}

impl Keystore {
    /// Opens the keystore at `path`; a missing file is an empty keystore (written on the first
    /// key).
    pub fn open(path: &Path) -> Result<Self, KeystoreError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Keystore {
                    path: path.to_path_buf(),
                    keys: BTreeMap::new(),
                });
            }
            Err(source) => {
                return Err(KeystoreError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let corrupt = |reason: String| KeystoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file: KeystoreFile =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.version != KEYSTORE_VERSION {
            return Err(corrupt(format!(
                "format version {}; this build reads {KEYSTORE_VERSION}",
                file.version
            )));
        }
        for name in file.keys.keys() {
            check_name(name).map_err(|e| corrupt(e.to_string()))?;
        }
        Ok(Keystore {
            path: path.to_path_buf(),
            keys: file.keys,
        })
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The keys, by name.
    pub fn keys(&self) -> &BTreeMap<String, SealedKey> {
        &self.keys
    }

    /// The key called `name`.
    pub fn get(&self, name: &str) -> Result<&SealedKey, KeystoreError> {
        self.keys
            .get(name)
            .ok_or_else(|| KeystoreError::NoSuchKey(name.to_string()))
    }

    /// The key whose account is `account`, if the keystore holds one.
    pub fn name_of(&self, account: &AccountId) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, key)| key.account_id() == *account)
            .map(|(name, _)| name.as_str())
    }

    /// Makes a new random key called `name`, sealed with `password`, and saves the file.
    pub fn generate(
        &mut self,
        name: &str,
        password: &SecretString,
    ) -> Result<PublicKey, KeystoreError> {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let secret = Zeroizing::new(<[u8; 32]>::from(key.to_bytes()));
        self.import(name, &secret, password)
    }

    /// Seals the 32 secret bytes `secret` as `name` with `password`, and saves the file.
    pub fn import(
        &mut self,
        name: &str,
        secret: &[u8; 32],
        password: &SecretString,
    ) -> Result<PublicKey, KeystoreError> {
        check_name(name)?;
        if self.keys.contains_key(name) {
            return Err(KeystoreError::Exists(name.to_string()));
        }
        if password.expose_secret().is_empty() {
            return Err(KeystoreError::EmptyPassword);
        }
        let key =
            SigningKey::from_bytes(&(*secret).into()).map_err(|_| KeystoreError::InvalidSecret)?;
        let public_key = public_of(&key)?;
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 12];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        let kdf = Kdf::Argon2id {
            memory_kib: KDF_MEMORY_KIB,
            iterations: KDF_ITERATIONS,
            parallelism: KDF_PARALLELISM,
            salt: hex::encode(salt),
        };
        let sealing = derive(&kdf, password)?;
        let cipher = ChaCha20Poly1305::new(&Key::from(*sealing));
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: &aad(name, &public_key),
                },
            )
            .map_err(|_| KeystoreError::Kdf("encryption failed".into()))?;
        self.keys.insert(
            name.to_string(),
            SealedKey {
                public_key,
                kdf,
                cipher: "chacha20poly1305".into(),
                nonce: hex::encode(nonce),
                ciphertext: hex::encode(ciphertext),
            },
        );
        self.save()?;
        Ok(public_key)
    }

    /// Opens key `name` with `password`.
    pub fn unlock(&self, name: &str, password: &SecretString) -> Result<OpenedKey, KeystoreError> {
        let sealed = self.get(name)?;
        let corrupt = |reason: &str| KeystoreError::Corrupt {
            path: self.path.clone(),
            reason: format!("key {name:?}: {reason}"),
        };
        if sealed.cipher != "chacha20poly1305" {
            return Err(corrupt("unknown cipher"));
        }
        let nonce: [u8; 12] = hex::decode(&sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| corrupt("nonce is not 12 bytes of hex"))?;
        let ciphertext = hex::decode(&sealed.ciphertext).map_err(|_| corrupt("ciphertext"))?;
        let opening = derive(&sealed.kdf, password)?;
        let cipher = ChaCha20Poly1305::new(&Key::from(*opening));
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: &aad(name, &sealed.public_key),
                    },
                )
                .map_err(|_| KeystoreError::WrongPassword(name.to_string()))?,
        );
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(
            plain
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("secret is not 32 bytes"))?,
        );
        let key =
            SigningKey::from_bytes(&(*secret).into()).map_err(|_| KeystoreError::InvalidSecret)?;
        if public_of(&key)? != sealed.public_key {
            return Err(corrupt("the secret is not the public key's"));
        }
        Ok(OpenedKey {
            name: name.to_string(),
            key,
            public_key: sealed.public_key,
        })
    }

    /// Writes the file atomically (a temporary file, fsynced, renamed), readable by its owner
    /// only.
    fn save(&self) -> Result<(), KeystoreError> {
        let io = |source| KeystoreError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let bytes = serde_json::to_vec_pretty(&KeystoreFile {
            version: KEYSTORE_VERSION,
            keys: self.keys.clone(),
        })
        .map_err(|e| KeystoreError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = self.path.with_extension("tmp");
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp).map_err(io)?;
            file.write_all(&bytes).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }
}

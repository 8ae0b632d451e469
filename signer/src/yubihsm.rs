//! YubiHSM 2 backend over the connector HTTP protocol (`yubihsm-connector`, or `hsm-sim`).
//!
//! The `yubihsm` client is blocking; every call runs on tokio's blocking pool. The client
//! re-authenticates a new session by itself after the connector or HSM comes back.

use std::sync::Arc;

use secrecy::ExposeSecret;
use yubihsm::client::ErrorKind;
use yubihsm::object::{self, Filter};
use yubihsm::{Capability, Client, Connector, Credentials, Domain, HttpConfig, asymmetric};

use crate::pin::PinSource;
use crate::{
    PublicKey, Signature, Signer, SignerError, blocking, check_label, compress_point,
    finish_signature,
};

/// How to reach the connector and authenticate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YubiHsmConfig {
    /// Connector host (IP address).
    #[serde(default = "default_addr")]
    pub addr: String,
    /// Connector port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Authentication key id (1 is the factory default).
    #[serde(default = "default_auth_key")]
    pub auth_key_id: u16,
    /// Where the authentication key's password comes from.
    pub password: PinSource,
    /// Timeout of each connector request, milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_addr() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    12345
}
fn default_auth_key() -> u16 {
    1
}
fn default_timeout() -> u64 {
    5_000
}

fn map_error(error: &yubihsm::client::Error) -> SignerError {
    match error.kind() {
        ErrorKind::AuthenticationError => SignerError::WrongPin,
        ErrorKind::ConnectorError | ErrorKind::ClosedSessionError => SignerError::Unavailable {
            reason: error.to_string(),
        },
        // A session error caused by the connector (refused connection, HTTP error status) means
        // the HSM is away, not that it refused.
        _ if caused_by_connector(error) => SignerError::Unavailable {
            reason: error.to_string(),
        },
        _ => SignerError::YubiHsm(error.to_string()),
    }
}

fn caused_by_connector(error: &yubihsm::client::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<yubihsm::connector::Error>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

struct Inner {
    client: Client,
    key_id: object::Id,
    label: String,
    public_key: PublicKey,
}

/// A secp256k1 key in a YubiHSM 2.
#[derive(Clone)]
pub struct YubiHsmSigner {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for YubiHsmSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YubiHsmSigner")
            .field("key_id", &self.inner.key_id)
            .field("label", &self.inner.label)
            .field("public_key", &self.inner.public_key)
            .finish_non_exhaustive()
    }
}

fn connect(config: &YubiHsmConfig) -> Result<Client, SignerError> {
    let password = config.password.read()?;
    let http = HttpConfig {
        addr: config.addr.clone(),
        port: config.port,
        timeout_ms: config.timeout_ms,
    };
    let credentials =
        Credentials::from_password(config.auth_key_id, password.expose_secret().as_bytes());
    Client::open(Connector::http(&http), credentials, true).map_err(|e| map_error(&e))
}

fn label_of(label: &str) -> Result<object::Label, SignerError> {
    check_label(label)?;
    object::Label::from_bytes(label.as_bytes()).map_err(|_| SignerError::BadLabel(label.into()))
}

fn find_key(client: &Client, label: &str) -> Result<Option<object::Id>, SignerError> {
    let filters = [
        Filter::Type(object::Type::AsymmetricKey),
        Filter::Label(label_of(label)?),
    ];
    let entries = client.list_objects(&filters).map_err(|e| map_error(&e))?;
    Ok(entries.first().map(|e| e.object_id))
}

fn open_key(client: Client, label: String) -> Result<YubiHsmSigner, SignerError> {
    let key_id =
        find_key(&client, &label)?.ok_or_else(|| SignerError::KeyNotFound(label.clone()))?;
    let public = client.get_public_key(key_id).map_err(|e| map_error(&e))?;
    if public.algorithm != asymmetric::Algorithm::EcK256 {
        return Err(SignerError::BadPublicKey(format!(
            "key {label:?} is {:?}, not secp256k1",
            public.algorithm
        )));
    }
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(public.as_ref());
    let public_key = compress_point(&point)?;
    Ok(YubiHsmSigner {
        inner: Arc::new(Inner {
            client,
            key_id,
            label,
            public_key,
        }),
    })
}

impl YubiHsmSigner {
    /// Opens the existing asymmetric key labelled `label`.
    pub async fn open(config: YubiHsmConfig, label: &str) -> Result<Self, SignerError> {
        let label = label.to_string();
        blocking(move || open_key(connect(&config)?, label)).await
    }

    /// Generates a secp256k1 key labelled `label` in the HSM (refusing a label in use), able only
    /// to sign ECDSA, and opens it.
    pub async fn generate(config: YubiHsmConfig, label: &str) -> Result<Self, SignerError> {
        let label = label.to_string();
        blocking(move || {
            let client = connect(&config)?;
            if find_key(&client, &label)?.is_some() {
                return Err(SignerError::KeyExists(label));
            }
            // Choose the id ourselves: MockHsm (hsm-sim) does not implement "0 = device picks".
            let used = client
                .list_objects(&[Filter::Type(object::Type::AsymmetricKey)])
                .map_err(|e| map_error(&e))?;
            let id = used
                .iter()
                .map(|e| e.object_id)
                .max()
                .map_or(Some(1), |max| max.checked_add(1));
            let id = id.ok_or_else(|| SignerError::YubiHsm("no free object id".into()))?;
            client
                .generate_asymmetric_key(
                    id,
                    label_of(&label)?,
                    Domain::DOM1,
                    Capability::SIGN_ECDSA,
                    asymmetric::Algorithm::EcK256,
                )
                .map_err(|e| map_error(&e))?;
            open_key(client, label)
        })
        .await
    }
}

#[async_trait::async_trait]
impl Signer for YubiHsmSigner {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key
    }

    fn label(&self) -> &str {
        &self.inner.label
    }

    async fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        let inner = Arc::clone(&self.inner);
        let digest = *digest;
        blocking(move || {
            let der = inner
                .client
                .sign_ecdsa_prehash_raw(inner.key_id, digest.to_vec())
                .map_err(|e| map_error(&e))?;
            let signature = k256::ecdsa::Signature::from_der(&der)
                .map_err(|e| SignerError::BadSignatureFromHsm(format!("not DER: {e}")))?;
            finish_signature(&inner.public_key, &digest, &signature.to_bytes())
        })
        .await
    }
}

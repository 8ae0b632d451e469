//! PKCS#11 backend (cryptoki). SoftHSM2 in development and CI; any PKCS#11 HSM in production.
//!
//! Keys are generated inside the token on secp256k1 as token objects that are sensitive,
//! non-extractable and cannot derive, so the private key can be used but never read or exported.
//! Calls run on tokio's blocking pool, off the async executor. A session that dies (token removed,
//! HSM restarted, session closed) is reopened on the next call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;

use crate::pin::PinSource;
use crate::{
    PublicKey, Signature, Signer, SignerError, blocking, check_label, compress_point,
    finish_signature,
};

/// DER of the secp256k1 OID 1.3.132.0.10, the value of `CKA_EC_PARAMS`.
pub const SECP256K1_EC_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];

/// Debian's SoftHSM2 module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Where the token is and how to log in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module.
    #[serde(default = "default_module")]
    pub module: PathBuf,
    /// Label of the token.
    pub token_label: String,
    /// Where the user PIN comes from.
    pub pin: PinSource,
}

fn default_module() -> PathBuf {
    PathBuf::from(DEFAULT_MODULE)
}

/// `C_Initialize` may run once per module per process; every signer shares its module's context.
fn context(module: &Path) -> Result<Pkcs11, SignerError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| SignerError::Pkcs11("module table poisoned".into()))?;
    if let Some(ctx) = modules.get(module) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        SignerError::Pkcs11(format!("cannot load module {}: {e}", module.display()))
    })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(map_error)?;
    modules.insert(module.to_path_buf(), ctx.clone());
    Ok(ctx)
}

fn map_error(error: CkError) -> SignerError {
    match error {
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _) => {
            SignerError::WrongPin
        }
        CkError::Pkcs11(
            rv @ (RvError::DeviceRemoved
            | RvError::DeviceError
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::UserNotLoggedIn
            | RvError::CryptokiNotInitialized
            // Private objects vanish from view when the login is lost; re-find them.
            | RvError::KeyHandleInvalid
            | RvError::ObjectHandleInvalid),
            function,
        ) => SignerError::Unavailable { reason: format!("{function}: {rv}") },
        other => SignerError::Pkcs11(other.to_string()),
    }
}

fn find_slot(ctx: &Pkcs11, token_label: &str) -> Result<Slot, SignerError> {
    for slot in ctx.get_slots_with_token().map_err(map_error)? {
        // A token another process is creating can be unreadable for a moment; it is not ours
        // to fail on.
        match ctx.get_token_info(slot) {
            Ok(info) if info.label().trim_end() == token_label => return Ok(slot),
            Ok(_) => {}
            Err(e) => tracing::debug!(?slot, error = %e, "skipping an unreadable token"),
        }
    }
    Err(SignerError::TokenNotFound(token_label.to_string()))
}

fn open_session(config: &Pkcs11Config, pin: &SecretString) -> Result<Session, SignerError> {
    let ctx = context(&config.module)?;
    let slot = find_slot(&ctx, &config.token_label)?;
    let session = ctx.open_rw_session(slot).map_err(map_error)?;
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(e) => Err(map_error(e)),
    }
}

fn find_key(
    session: &Session,
    class: ObjectClass,
    label: &str,
) -> Result<Option<ObjectHandle>, SignerError> {
    let template = [
        Attribute::Class(class),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let found = session.find_objects(&template).map_err(map_error)?;
    Ok(found.into_iter().next())
}

fn read_public_key(session: &Session, handle: ObjectHandle) -> Result<PublicKey, SignerError> {
    let attributes = session
        .get_attributes(handle, &[AttributeType::EcPoint])
        .map_err(map_error)?;
    let point = attributes
        .into_iter()
        .find_map(|a| {
            if let Attribute::EcPoint(p) = a {
                Some(p)
            } else {
                None
            }
        })
        .ok_or_else(|| SignerError::BadPublicKey("no CKA_EC_POINT".into()))?;
    // CKA_EC_POINT is a DER OCTET STRING around the SEC1 point: 04 <len> <point>.
    let inner = match point.as_slice() {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => point.as_slice(),
    };
    compress_point(inner)
}

/// Protection attributes of a private key, as the token reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProtection {
    /// `CKA_SENSITIVE`.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`.
    pub extractable: bool,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: bool,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: bool,
    /// `CKA_DERIVE`.
    pub derive: bool,
    /// Whether reading `CKA_VALUE` returned any bytes.
    pub value_readable: bool,
}

struct Live {
    session: Session,
    private_key: ObjectHandle,
}

struct Inner {
    config: Pkcs11Config,
    pin: SecretString,
    label: String,
    public_key: PublicKey,
    live: Mutex<Option<Live>>,
}

/// A secp256k1 key in a PKCS#11 token.
#[derive(Clone)]
pub struct Pkcs11Signer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("token", &self.inner.config.token_label)
            .field("label", &self.inner.label)
            .field("public_key", &self.inner.public_key)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Opens the existing key labelled `label`.
    pub async fn open(config: Pkcs11Config, label: &str) -> Result<Self, SignerError> {
        check_label(label)?;
        let pin = config.pin.read()?;
        let label = label.to_string();
        blocking(move || {
            let session = open_session(&config, &pin)?;
            let private_key = find_key(&session, ObjectClass::PRIVATE_KEY, &label)?
                .ok_or_else(|| SignerError::KeyNotFound(label.clone()))?;
            let public = find_key(&session, ObjectClass::PUBLIC_KEY, &label)?
                .ok_or_else(|| SignerError::KeyNotFound(label.clone()))?;
            let public_key = read_public_key(&session, public)?;
            let live = Mutex::new(Some(Live {
                session,
                private_key,
            }));
            Ok(Pkcs11Signer {
                inner: Arc::new(Inner {
                    config,
                    pin,
                    label,
                    public_key,
                    live,
                }),
            })
        })
        .await
    }

    /// Generates a new key labelled `label` inside the token (refusing a label in use) and opens it.
    pub async fn generate(config: Pkcs11Config, label: &str) -> Result<Self, SignerError> {
        check_label(label)?;
        let pin = config.pin.read()?;
        let owned = label.to_string();
        let config_for_open = config.clone();
        blocking(move || {
            let session = open_session(&config, &pin)?;
            if find_key(&session, ObjectClass::PRIVATE_KEY, &owned)?.is_some() {
                return Err(SignerError::KeyExists(owned));
            }
            let id = lightclient::hash::sha256(owned.as_bytes()).0.to_vec();
            let public_template = [
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(SECP256K1_EC_PARAMS.to_vec()),
                Attribute::Verify(true),
                Attribute::Label(owned.as_bytes().to_vec()),
                Attribute::Id(id.clone()),
            ];
            let private_template = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::KeyType(KeyType::EC),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Derive(false),
                Attribute::Sign(true),
                Attribute::Label(owned.as_bytes().to_vec()),
                Attribute::Id(id),
            ];
            session
                .generate_key_pair(
                    &Mechanism::EccKeyPairGen,
                    &public_template,
                    &private_template,
                )
                .map_err(map_error)?;
            Ok(())
        })
        .await?;
        Self::open(config_for_open, label).await
    }

    /// The private key's protection attributes, read from the token.
    pub async fn protection(&self) -> Result<KeyProtection, SignerError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            with_live(&inner, |live| {
                let wanted = [
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Derive,
                ];
                let mut protection = KeyProtection {
                    sensitive: false,
                    extractable: true,
                    always_sensitive: false,
                    never_extractable: false,
                    derive: true,
                    value_readable: false,
                };
                for attribute in live.session.get_attributes(live.private_key, &wanted)? {
                    match attribute {
                        Attribute::Sensitive(v) => protection.sensitive = v,
                        Attribute::Extractable(v) => protection.extractable = v,
                        Attribute::AlwaysSensitive(v) => protection.always_sensitive = v,
                        Attribute::NeverExtractable(v) => protection.never_extractable = v,
                        Attribute::Derive(v) => protection.derive = v,
                        _ => {}
                    }
                }
                // SoftHSM answers a sensitive CKA_VALUE with an empty list rather than an error.
                let value = live
                    .session
                    .get_attributes(live.private_key, &[AttributeType::Value])
                    .unwrap_or_default();
                protection.value_readable = value
                    .iter()
                    .any(|a| matches!(a, Attribute::Value(bytes) if !bytes.is_empty()));
                Ok(protection)
            })
        })
        .await
    }

    /// Logs this process out of the token: every session loses its login, as when the HSM
    /// restarts. The signer logs in again on its next call.
    pub async fn logout_token(&self) -> Result<(), SignerError> {
        let config = self.inner.config.clone();
        let pin = self.inner.pin.clone();
        blocking(move || open_session(&config, &pin)?.logout().map_err(map_error)).await
    }
}

/// Runs `f` on the live session, opening one if there is none, and reopening once if the session
/// turns out to be dead.
fn with_live<T>(inner: &Inner, f: impl Fn(&Live) -> Result<T, CkError>) -> Result<T, SignerError> {
    let mut guard = inner
        .live
        .lock()
        .map_err(|_| SignerError::Pkcs11("session lock poisoned".into()))?;
    for attempt in 0..2 {
        if guard.is_none() {
            let session = open_session(&inner.config, &inner.pin)?;
            let private_key = find_key(&session, ObjectClass::PRIVATE_KEY, &inner.label)?
                .ok_or_else(|| SignerError::KeyNotFound(inner.label.clone()))?;
            *guard = Some(Live {
                session,
                private_key,
            });
        }
        let Some(live) = guard.as_ref() else { continue };
        match f(live).map_err(map_error) {
            Err(SignerError::Unavailable { reason }) if attempt == 0 => {
                tracing::warn!(label = %inner.label, %reason, "PKCS#11 session lost; reconnecting");
                *guard = None;
            }
            result => return result,
        }
    }
    Err(SignerError::Unavailable {
        reason: "session could not be re-established".into(),
    })
}

#[async_trait::async_trait]
impl Signer for Pkcs11Signer {
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
            let raw = with_live(&inner, |live| {
                live.session
                    .sign(&Mechanism::Ecdsa, live.private_key, &digest)
            })?;
            finish_signature(&inner.public_key, &digest, &raw)
        })
        .await
    }
}

/// Development helper: initialises a free SoftHSM slot as a token `label` with the given SO and
/// user PINs. Tokens live under the `directories.tokendir` of the file `SOFTHSM2_CONF` names.
pub fn init_token(
    module: &Path,
    label: &str,
    so_pin: &SecretString,
    user_pin: &SecretString,
) -> Result<(), SignerError> {
    // Two initialisations at once would both pick the same free slot.
    static INIT: Mutex<()> = Mutex::new(());
    let _serialised = INIT
        .lock()
        .map_err(|_| SignerError::Pkcs11("init lock poisoned".into()))?;
    let ctx = context(module)?;
    if find_slot(&ctx, label).is_ok() {
        return Err(SignerError::Pkcs11(format!(
            "a token labelled {label:?} already exists"
        )));
    }
    let mut free = None;
    for slot in ctx.get_slots_with_token().map_err(map_error)? {
        if ctx
            .get_token_info(slot)
            .is_ok_and(|info| !info.token_initialized())
        {
            free = Some(slot);
            break;
        }
    }
    let slot = free.ok_or_else(|| SignerError::Pkcs11("no free slot for a new token".into()))?;
    ctx.init_token(slot, so_pin, label).map_err(map_error)?;
    // SoftHSM gives the new token a new slot id; find it again by label.
    let slot = find_slot(&ctx, label)?;
    let session = ctx.open_rw_session(slot).map_err(map_error)?;
    session
        .login(UserType::So, Some(so_pin))
        .map_err(map_error)?;
    session.init_pin(user_pin).map_err(map_error)?;
    session.logout().map_err(map_error)?;
    Ok(())
}

/// For other crates' tests (feature `dev`): makes sure the SoftHSM2 store that `SOFTHSM2_CONF`
/// names exists (its configuration file and token directory), creates a fresh token labelled
/// `label` in it with user PIN `1234`, and returns the configuration to reach it, with the PIN in
/// a file beside the store. SoftHSM reads `SOFTHSM2_CONF` at initialisation, so the variable must
/// be set before the process starts (this workspace's `.cargo/config.toml` does so).
#[cfg(feature = "dev")]
pub fn dev_test_token(label: &str) -> Result<Pkcs11Config, SignerError> {
    use secrecy::SecretString;
    let conf = std::env::var("SOFTHSM2_CONF")
        .map(PathBuf::from)
        .map_err(|_| SignerError::Pkcs11("SOFTHSM2_CONF is not set".into()))?;
    let dir = conf.parent().map(Path::to_path_buf).unwrap_or_default();
    let tokens = dir.join("tokens");
    let io = |e: std::io::Error| SignerError::Pkcs11(format!("preparing {}: {e}", dir.display()));
    // Threads and test processes may prepare the store at once; SoftHSM must never read a
    // half-written configuration, so write it aside and rename it into place.
    static PREPARE: Mutex<()> = Mutex::new(());
    {
        let _one_at_a_time = PREPARE
            .lock()
            .map_err(|_| SignerError::Pkcs11("store lock poisoned".into()))?;
        std::fs::create_dir_all(&tokens).map_err(io)?;
        if !conf.exists() {
            let text = format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            );
            let tmp = conf.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, text).map_err(io)?;
            std::fs::rename(&tmp, &conf).map_err(io)?;
        }
    }
    let pin_file = dir.join(format!("{label}.pin"));
    std::fs::write(&pin_file, "1234\n").map_err(io)?;
    let module = PathBuf::from(DEFAULT_MODULE);
    init_token(
        &module,
        label,
        &SecretString::from("5678"),
        &SecretString::from("1234"),
    )?;
    Ok(Pkcs11Config {
        module,
        token_label: label.to_string(),
        pin: PinSource::File(pin_file),
    })
}

//! The simulated YubiHSM 2 device: its command frames, SCP03 sessions and the objects it holds.
//!
//! It implements, after Yubico's published command reference and `GlobalPlatform` SCP03, what a
//! YubiHSM 2 does for the commands this project's clients send: `CreateSession`,
//! `AuthenticateSession`, and inside a session `Echo`, `CloseSession`, `ListObjects`,
//! `GenerateAsymmetricKey` (secp256k1), `GetPublicKey`, `SignEcdsa` and `DeleteObject`. Like the
//! device it holds at most 16 sessions and closes one that has been idle for 30 seconds, so
//! clients that vanish without closing theirs (a node killed with -9) never exhaust it. Anything
//! malformed is answered with the device's error frame; nothing a client sends can make it panic.
//!
//! Keys live in this process's memory only: it is a test double of the device, never for real
//! keys.

// The RustCrypto cipher crates yubihsm pins (aes 0.8, cbc 0.1, cmac 0.7) take generic-array 0.14,
// whose constructors are marked deprecated in favour of a version those crates do not use yet.
#![allow(deprecated)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aes::Aes128;
use aes::cipher::block_padding::Iso7816;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
use cmac::{Cmac, Mac};
use k256::ecdsa::SigningKey;
use k256::ecdsa::signature::hazmat::PrehashSigner;

/// Sessions a YubiHSM 2 holds at once.
pub(crate) const MAX_SESSIONS: usize = 16;

const CMD_ECHO: u8 = 0x01;
const CMD_CREATE_SESSION: u8 = 0x03;
const CMD_AUTHENTICATE_SESSION: u8 = 0x04;
const CMD_SESSION_MESSAGE: u8 = 0x05;
const CMD_CLOSE_SESSION: u8 = 0x40;
const CMD_GENERATE_ASYMMETRIC_KEY: u8 = 0x46;
const CMD_LIST_OBJECTS: u8 = 0x48;
const CMD_GET_PUBLIC_KEY: u8 = 0x54;
const CMD_SIGN_ECDSA: u8 = 0x56;
const CMD_DELETE_OBJECT: u8 = 0x58;
const RESPONSE_ERROR: u8 = 0x7f;

const TYPE_AUTHENTICATION_KEY: u8 = 0x02;
const TYPE_ASYMMETRIC_KEY: u8 = 0x03;
const ALGORITHM_EC_K256: u8 = 0x0f;
const ALGORITHM_AES128_YUBICO_AUTH: u8 = 0x26;
const CAPABILITY_SIGN_ECDSA: u64 = 0x80;
const LABEL_SIZE: usize = 40;

/// The device's error codes (Yubico's `YHR_DEVICE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum DeviceError {
    /// Unknown command.
    InvalidCommand = 0x01,
    /// Malformed command data.
    InvalidData = 0x02,
    /// No such session, or it failed authentication.
    InvalidSession = 0x03,
    /// The host cryptogram or a MAC is wrong.
    AuthenticationFailed = 0x04,
    /// All sessions are in use.
    SessionsFull = 0x05,
    /// The key lacks the capability.
    InsufficientPermissions = 0x09,
    /// No such object.
    ObjectNotFound = 0x0b,
    /// An id or algorithm the device cannot use.
    InvalidId = 0x0c,
    /// An object with that id exists.
    ObjectExists = 0x11,
}

fn error_frame(error: DeviceError) -> Vec<u8> {
    vec![RESPONSE_ERROR, 0, 1, error as u8]
}

fn frame(code: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len().saturating_add(3));
    out.push(code);
    out.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn success(command: u8, body: &[u8]) -> Vec<u8> {
    frame(command | 0x80, body)
}

/// An authentication key: the SCP03 static encryption and MAC keys.
#[derive(Clone)]
struct AuthKey {
    enc: [u8; 16],
    mac: [u8; 16],
}

struct AsymmetricKey {
    label: [u8; LABEL_SIZE],
    capabilities: u64,
    key: SigningKey,
}

struct Session {
    enc: [u8; 16],
    mac: [u8; 16],
    rmac: [u8; 16],
    context: [u8; 16],
    chaining: [u8; 16],
    counter: u32,
    authenticated: bool,
    last_active: Instant,
}

/// The simulated device (the YubiHSM 2's 30 s idle timeout is `hsm-sim`'s default).
pub(crate) struct Device {
    auth_keys: BTreeMap<u16, AuthKey>,
    keys: BTreeMap<u16, AsymmetricKey>,
    sessions: [Option<Session>; MAX_SESSIONS],
    timeout: Duration,
}

/// SCP03's key derivation (NIST SP 800-108 in counter mode with AES-CMAC), `length` ≤ 16 bytes.
fn kdf(key: &[u8; 16], constant: u8, context: &[u8; 16], length: usize) -> Vec<u8> {
    let mut data = [0u8; 32];
    data[11] = constant;
    let bits = u16::try_from(length.saturating_mul(8)).unwrap_or(0);
    data[13..15].copy_from_slice(&bits.to_be_bytes());
    data[15] = 0x01;
    data[16..].copy_from_slice(context);
    let mut mac = <Cmac<Aes128> as KeyInit>::new(GenericArray::from_slice(key));
    mac.update(&data);
    mac.finalize()
        .into_bytes()
        .iter()
        .take(length)
        .copied()
        .collect()
}

/// The first 16 bytes of `bytes` (zero-filled if shorter; callers pass 16 or more).
fn key16(bytes: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

impl Session {
    fn new(auth: &AuthKey, host: &[u8], card: &[u8; 8], now: Instant) -> Self {
        let mut context = [0u8; 16];
        context[..8].copy_from_slice(host);
        context[8..].copy_from_slice(card);
        Session {
            enc: key16(&kdf(&auth.enc, 0b100, &context, 16)),
            mac: key16(&kdf(&auth.mac, 0b110, &context, 16)),
            rmac: key16(&kdf(&auth.mac, 0b111, &context, 16)),
            context,
            chaining: [0u8; 16],
            counter: 0,
            authenticated: false,
            last_active: now,
        }
    }

    fn cryptogram(&self, constant: u8) -> Vec<u8> {
        kdf(&self.mac, constant, &self.context, 8)
    }

    /// Checks a command's C-MAC (over the chaining value, the header and the data) and moves
    /// the chaining value on.
    fn verify_cmac(&mut self, code: u8, id: u8, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = <Cmac<Aes128> as KeyInit>::new(GenericArray::from_slice(&self.mac));
        mac.update(&self.chaining);
        mac.update(&[code]);
        let length = u16::try_from(data.len().saturating_add(9)).unwrap_or(u16::MAX);
        mac.update(&length.to_be_bytes());
        mac.update(&[id]);
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let ok = full.get(..8) == Some(tag);
        if ok {
            self.chaining.copy_from_slice(&full);
        }
        ok
    }

    fn icv(&self) -> GenericArray<u8, aes::cipher::consts::U16> {
        let cipher = Aes128::new(GenericArray::from_slice(&self.enc));
        let mut block = GenericArray::clone_from_slice(&[0u8; 16]);
        for (b, c) in block.iter_mut().skip(12).zip(self.counter.to_be_bytes()) {
            *b = c;
        }
        cipher.encrypt_block(&mut block);
        block
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        let decryptor =
            cbc::Decryptor::<Aes128>::new(GenericArray::from_slice(&self.enc), &self.icv());
        let mut buffer = ciphertext.to_vec();
        let plain = decryptor.decrypt_padded_mut::<Iso7816>(&mut buffer).ok()?;
        Some(plain.to_vec())
    }

    /// Encrypts an inner response, adds the R-MAC and moves the counter on.
    fn seal(&mut self, id: u8, inner: &[u8]) -> Vec<u8> {
        let encryptor =
            cbc::Encryptor::<Aes128>::new(GenericArray::from_slice(&self.enc), &self.icv());
        let mut buffer = inner.to_vec();
        buffer.extend_from_slice(&[0u8; 16]);
        let ciphertext = encryptor
            .encrypt_padded_mut::<Iso7816>(&mut buffer, inner.len())
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let code = CMD_SESSION_MESSAGE | 0x80;
        let mut mac = <Cmac<Aes128> as KeyInit>::new(GenericArray::from_slice(&self.rmac));
        mac.update(&self.chaining);
        mac.update(&[code]);
        let length = u16::try_from(ciphertext.len().saturating_add(9)).unwrap_or(u16::MAX);
        mac.update(&length.to_be_bytes());
        mac.update(&[id]);
        mac.update(&ciphertext);
        let tag = mac.finalize().into_bytes();
        self.counter = self.counter.saturating_add(1);
        let mut body = vec![id];
        body.extend_from_slice(&ciphertext);
        body.extend(tag.iter().take(8));
        frame(code, &body)
    }
}

/// A reader over command data that fails softly.
struct Data<'a>(&'a [u8]);

impl<'a> Data<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DeviceError> {
        if self.0.len() < n {
            return Err(DeviceError::InvalidData);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DeviceError> {
        self.take(1)?
            .first()
            .copied()
            .ok_or(DeviceError::InvalidData)
    }

    fn u16(&mut self) -> Result<u16, DeviceError> {
        let bytes: [u8; 2] = self
            .take(2)?
            .try_into()
            .map_err(|_| DeviceError::InvalidData)?;
        Ok(u16::from_be_bytes(bytes))
    }

    fn u64(&mut self) -> Result<u64, DeviceError> {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(bytes))
    }
}

impl Device {
    /// A device holding only authentication key `auth_key_id` derived from `password` (the
    /// factory state is key 1 with password "password").
    pub(crate) fn new(auth_key_id: u16, password: &[u8], timeout: Duration) -> Self {
        let derived = yubihsm::authentication::Key::derive_from_password(password);
        let secret = derived.as_secret_slice();
        let mut auth_keys = BTreeMap::new();
        auth_keys.insert(
            auth_key_id,
            AuthKey {
                enc: key16(secret),
                mac: key16(secret.get(16..).unwrap_or_default()),
            },
        );
        Device {
            auth_keys,
            keys: BTreeMap::new(),
            sessions: std::array::from_fn(|_| None),
            timeout,
        }
    }

    /// Sessions open now (after closing idle ones).
    pub(crate) fn open_sessions(&mut self, now: Instant) -> usize {
        self.expire(now);
        self.sessions.iter().flatten().count()
    }

    fn expire(&mut self, now: Instant) {
        for slot in &mut self.sessions {
            if slot
                .as_ref()
                .is_some_and(|s| now.saturating_duration_since(s.last_active) >= self.timeout)
            {
                *slot = None;
            }
        }
    }

    /// Answers one command frame as the device would.
    pub(crate) fn handle(&mut self, request: &[u8], now: Instant) -> Vec<u8> {
        self.expire(now);
        let Some((&code, rest)) = request.split_first() else {
            return error_frame(DeviceError::InvalidData);
        };
        let mut data = Data(rest);
        let body = match data
            .u16()
            .and_then(|len| data.take(usize::from(len)))
            .and_then(|body| {
                if data.0.is_empty() {
                    Ok(body)
                } else {
                    Err(DeviceError::InvalidData)
                }
            }) {
            Ok(body) => body,
            Err(e) => return error_frame(e),
        };
        let answer = match code {
            CMD_CREATE_SESSION => self.create_session(body, now),
            CMD_AUTHENTICATE_SESSION => self.authenticate_session(body, now),
            CMD_SESSION_MESSAGE => self.session_message(body, now),
            CMD_ECHO => Ok(success(CMD_ECHO, body)),
            _ => Err(DeviceError::InvalidCommand),
        };
        answer.unwrap_or_else(error_frame)
    }

    fn create_session(&mut self, body: &[u8], now: Instant) -> Result<Vec<u8>, DeviceError> {
        let mut data = Data(body);
        let key_id = data.u16()?;
        let host = data.take(8)?.to_vec();
        let auth = self
            .auth_keys
            .get(&key_id)
            .cloned()
            .ok_or(DeviceError::ObjectNotFound)?;
        let slot = self
            .sessions
            .iter()
            .position(Option::is_none)
            .ok_or(DeviceError::SessionsFull)?;
        let card: [u8; 8] = rand::random();
        let session = Session::new(&auth, &host, &card, now);
        let mut reply = vec![u8::try_from(slot).map_err(|_| DeviceError::SessionsFull)?];
        reply.extend_from_slice(&card);
        reply.extend_from_slice(&session.cryptogram(0));
        if let Some(free) = self.sessions.get_mut(slot) {
            *free = Some(session);
        }
        Ok(success(CMD_CREATE_SESSION, &reply))
    }

    fn end_session(&mut self, id: u8) {
        if let Some(slot) = self.sessions.get_mut(usize::from(id)) {
            *slot = None;
        }
    }

    fn session_at(&mut self, id: u8) -> Result<&mut Session, DeviceError> {
        self.sessions
            .get_mut(usize::from(id))
            .and_then(Option::as_mut)
            .ok_or(DeviceError::InvalidSession)
    }

    fn authenticate_session(&mut self, body: &[u8], now: Instant) -> Result<Vec<u8>, DeviceError> {
        let (&id, rest) = body.split_first().ok_or(DeviceError::InvalidData)?;
        if rest.len() != 16 {
            return Err(DeviceError::InvalidData);
        }
        let (cryptogram, tag) = rest.split_at(8);
        let session = self.session_at(id)?;
        if session.authenticated {
            return Err(DeviceError::InvalidSession);
        }
        let verified = session.cryptogram(1) == cryptogram
            && session.verify_cmac(CMD_AUTHENTICATE_SESSION, id, cryptogram, tag);
        if !verified {
            self.end_session(id);
            return Err(DeviceError::AuthenticationFailed);
        }
        session.authenticated = true;
        session.counter = 1;
        session.last_active = now;
        Ok(success(CMD_AUTHENTICATE_SESSION, &[]))
    }

    fn session_message(&mut self, body: &[u8], now: Instant) -> Result<Vec<u8>, DeviceError> {
        let (&id, rest) = body.split_first().ok_or(DeviceError::InvalidData)?;
        if rest.len() < 8 {
            return Err(DeviceError::InvalidData);
        }
        let (ciphertext, tag) = rest.split_at(rest.len().saturating_sub(8));
        let session = self.session_at(id)?;
        if !session.authenticated || !session.verify_cmac(CMD_SESSION_MESSAGE, id, ciphertext, tag)
        {
            self.end_session(id);
            return Err(DeviceError::InvalidSession);
        }
        session.last_active = now;
        let inner = session
            .decrypt(ciphertext)
            .ok_or(DeviceError::InvalidData)?;
        let (answer, close) = self.execute(&inner);
        let session = self.session_at(id)?;
        let sealed = session.seal(id, &answer);
        if close {
            self.end_session(id);
        }
        Ok(sealed)
    }

    /// Runs an inner command; the answer and whether the session ends with it.
    fn execute(&mut self, inner: &[u8]) -> (Vec<u8>, bool) {
        let Some((&code, rest)) = inner.split_first() else {
            return (error_frame(DeviceError::InvalidData), false);
        };
        let mut data = Data(rest);
        let body = match data.u16().and_then(|len| data.take(usize::from(len))) {
            Ok(body) => body,
            Err(e) => return (error_frame(e), false),
        };
        let result = match code {
            CMD_CLOSE_SESSION => return (success(CMD_CLOSE_SESSION, &[]), true),
            CMD_ECHO => Ok(success(CMD_ECHO, body)),
            CMD_LIST_OBJECTS => self.list_objects(body),
            CMD_GENERATE_ASYMMETRIC_KEY => self.generate(body),
            CMD_GET_PUBLIC_KEY => self.public_key(body),
            CMD_SIGN_ECDSA => self.sign(body),
            CMD_DELETE_OBJECT => self.delete(body),
            _ => Err(DeviceError::InvalidCommand),
        };
        (result.unwrap_or_else(error_frame), false)
    }

    fn list_objects(&self, body: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let mut filters = Data(body);
        let (mut id, mut kind, mut label, mut algorithm) = (None, None, None, None);
        while !filters.0.is_empty() {
            match filters.u8()? {
                0x01 => id = Some(filters.u16()?),
                0x02 => kind = Some(filters.u8()?),
                0x03 => {
                    filters.u16()?;
                }
                0x04 => {
                    filters.u64()?;
                }
                0x05 => algorithm = Some(filters.u8()?),
                0x06 => label = Some(filters.take(LABEL_SIZE)?.to_vec()),
                _ => return Err(DeviceError::InvalidData),
            }
        }
        let mut out = Vec::new();
        let auth = self.auth_keys.keys().map(|k| {
            (
                *k,
                TYPE_AUTHENTICATION_KEY,
                ALGORITHM_AES128_YUBICO_AUTH,
                [0u8; LABEL_SIZE],
            )
        });
        let asymmetric = self
            .keys
            .iter()
            .map(|(k, v)| (*k, TYPE_ASYMMETRIC_KEY, ALGORITHM_EC_K256, v.label));
        for (object_id, object_type, object_algorithm, object_label) in auth.chain(asymmetric) {
            if id.is_some_and(|i| i != object_id)
                || kind.is_some_and(|t| t != object_type)
                || algorithm.is_some_and(|a| a != object_algorithm)
                || label.as_ref().is_some_and(|l| l.as_slice() != object_label)
            {
                continue;
            }
            out.extend_from_slice(&object_id.to_be_bytes());
            out.push(object_type);
            out.push(0);
        }
        Ok(success(CMD_LIST_OBJECTS, &out))
    }

    fn generate(&mut self, body: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let mut data = Data(body);
        let requested = data.u16()?;
        let mut label = [0u8; LABEL_SIZE];
        label.copy_from_slice(data.take(LABEL_SIZE)?);
        let _domains = data.u16()?;
        let capabilities = data.u64()?;
        if data.u8()? != ALGORITHM_EC_K256 {
            return Err(DeviceError::InvalidData);
        }
        let id = match requested {
            0 => (1..=u16::MAX)
                .find(|i| !self.keys.contains_key(i))
                .ok_or(DeviceError::InvalidId)?,
            id if self.keys.contains_key(&id) => return Err(DeviceError::ObjectExists),
            id => id,
        };
        let key = loop {
            if let Ok(key) = SigningKey::from_bytes(&rand::random::<[u8; 32]>().into()) {
                break key;
            }
        };
        self.keys.insert(
            id,
            AsymmetricKey {
                label,
                capabilities,
                key,
            },
        );
        Ok(success(CMD_GENERATE_ASYMMETRIC_KEY, &id.to_be_bytes()))
    }

    fn key(&self, id: u16) -> Result<&AsymmetricKey, DeviceError> {
        self.keys.get(&id).ok_or(DeviceError::ObjectNotFound)
    }

    fn public_key(&self, body: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let id = Data(body).u16()?;
        let point = self.key(id)?.key.verifying_key().to_encoded_point(false);
        let mut out = vec![ALGORITHM_EC_K256];
        out.extend_from_slice(point.as_bytes().get(1..).ok_or(DeviceError::InvalidData)?);
        Ok(success(CMD_GET_PUBLIC_KEY, &out))
    }

    fn sign(&self, body: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let mut data = Data(body);
        let key = self.key(data.u16()?)?;
        if key.capabilities & CAPABILITY_SIGN_ECDSA == 0 {
            return Err(DeviceError::InsufficientPermissions);
        }
        let signature: k256::ecdsa::Signature = key
            .key
            .sign_prehash(data.0)
            .map_err(|_| DeviceError::InvalidData)?;
        Ok(success(CMD_SIGN_ECDSA, signature.to_der().as_bytes()))
    }

    fn delete(&mut self, body: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let mut data = Data(body);
        let id = data.u16()?;
        let removed = match data.u8()? {
            TYPE_ASYMMETRIC_KEY => self.keys.remove(&id).is_some(),
            TYPE_AUTHENTICATION_KEY => self.auth_keys.remove(&id).is_some(),
            _ => false,
        };
        if removed {
            Ok(success(CMD_DELETE_OBJECT, &[]))
        } else {
            Err(DeviceError::ObjectNotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    fn device() -> Device {
        Device::new(1, b"password", Duration::from_secs(30))
    }

    #[test]
    fn a_create_session_for_an_unknown_key_is_object_not_found_and_the_17th_is_sessions_full() {
        let mut d = device();
        let now = Instant::now();
        let create = |key: u16| {
            let mut body = key.to_be_bytes().to_vec();
            body.extend_from_slice(&[7u8; 8]);
            frame(CMD_CREATE_SESSION, &body)
        };
        assert_eq!(
            d.handle(&create(9), now),
            error_frame(DeviceError::ObjectNotFound)
        );
        for id in 0..MAX_SESSIONS {
            let answer = d.handle(&create(1), now);
            assert_eq!(answer[0], CMD_CREATE_SESSION | 0x80);
            assert_eq!(usize::from(answer[3]), id, "the lowest free session id");
        }
        assert_eq!(
            d.handle(&create(1), now),
            error_frame(DeviceError::SessionsFull)
        );
        // Unauthenticated sessions left idle are closed like any other.
        assert_eq!(d.open_sessions(now + Duration::from_secs(31)), 0);
    }

    proptest! {
        // Each case derives the factory key (PBKDF2, 10,000 rounds): fewer cases, still varied.
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any bytes get an answer frame (code, two length bytes); nothing panics.
        #[test]
        fn any_frame_gets_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let answer = device().handle(&bytes, Instant::now());
            prop_assert!(answer.len() >= 3);
        }

        /// Shaped like the real thing: a session is created, then session messages and
        /// authentications with random bodies for it are refused, never fatal.
        #[test]
        fn forged_session_traffic_is_refused(
            code in prop_oneof![Just(CMD_AUTHENTICATE_SESSION), Just(CMD_SESSION_MESSAGE)],
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut d = device();
            let now = Instant::now();
            let mut create = 1u16.to_be_bytes().to_vec();
            create.extend_from_slice(&[1u8; 8]);
            let answer = d.handle(&frame(CMD_CREATE_SESSION, &create), now);
            let mut forged = vec![answer[3]];
            forged.extend_from_slice(&body);
            let reply = d.handle(&frame(code, &forged), now);
            prop_assert_eq!(reply[0], RESPONSE_ERROR);
        }
    }
}

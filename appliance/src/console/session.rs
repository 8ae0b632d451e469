//! One console connection's state: its login challenge, its staff session with idle logout and
//! an absolute lifetime, and its rate limit. Pure: the time is passed in (ms since the Unix
//! epoch), so every expiry is tested without waiting.

use lightclient::console::LoginChallenge;
use lightclient::hash::Hash32;
use lightclient::keys::{AccountId, PublicKey, Signature};
use lightclient::tx::{KycState, Role};

use super::protocol::ConsoleError;

/// How long challenges and sessions last, and how many requests a connection may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A login challenge is accepted for this long.
    pub challenge_ms: u64,
    /// A session with no request for this long is logged out.
    pub idle_ms: u64,
    /// A session ends this long after login, active or not.
    pub lifetime_ms: u64,
    /// Requests a connection may make in a burst.
    pub burst: u64,
    /// Requests per second it may make after a burst.
    pub per_second: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            challenge_ms: 60_000,
            idle_ms: 10 * 60_000,
            lifetime_ms: 8 * 60 * 60_000,
            burst: 40,
            per_second: 20,
        }
    }
}

/// What the ledger says about the key that logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAccount {
    /// The account.
    pub id: AccountId,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Its KYC state.
    pub kyc: KycState,
}

/// A logged-in staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account.
    pub account: AccountId,
    /// The key it logged in with.
    pub public_key: PublicKey,
    /// Its console roles (vault staff, issuance admin).
    pub roles: Vec<Role>,
    /// Login time.
    pub started_ms: u64,
    /// The last request.
    pub last_active_ms: u64,
}

/// A connection.
#[derive(Debug, Clone)]
pub struct Connection {
    id: u64,
    limits: Limits,
    challenge: Option<LoginChallenge>,
    /// A login used up this connection's challenge: the same login again is a replay.
    challenge_spent: bool,
    session: Option<Session>,
    /// Rate limit: thousandths of a request available, and when they were counted.
    allowance_milli: u64,
    counted_ms: u64,
}

impl Connection {
    /// A new connection, number `id` (random, so challenges name it unguessably).
    pub fn new(id: u64, limits: Limits, now_ms: u64) -> Self {
        Connection {
            id,
            limits,
            challenge: None,
            challenge_spent: false,
            session: None,
            allowance_milli: limits.burst.saturating_mul(1000),
            counted_ms: now_ms,
        }
    }

    /// Its number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Takes one request from the allowance, or says how long to wait.
    pub fn admit_request(&mut self, now_ms: u64) -> Result<(), ConsoleError> {
        let elapsed = now_ms.saturating_sub(self.counted_ms);
        self.counted_ms = now_ms;
        // per_second requests per 1000 ms = per_second thousandths per ms.
        let earned = elapsed.saturating_mul(self.limits.per_second);
        let cap = self.limits.burst.saturating_mul(1000);
        self.allowance_milli = self.allowance_milli.saturating_add(earned).min(cap);
        if self.allowance_milli >= 1000 {
            self.allowance_milli = self.allowance_milli.saturating_sub(1000);
            Ok(())
        } else {
            let missing = 1000u64.saturating_sub(self.allowance_milli);
            let retry_after_ms = missing
                .checked_div(self.limits.per_second)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            Err(ConsoleError::RateLimited { retry_after_ms })
        }
    }

    /// A new login challenge for this connection; it replaces any earlier one.
    pub fn challenge(
        &mut self,
        genesis_hash: Hash32,
        node: &str,
        nonce: Hash32,
        now_ms: u64,
    ) -> LoginChallenge {
        let challenge = LoginChallenge {
            genesis_hash,
            node: node.to_string(),
            connection: self.id,
            nonce,
            expires_at_ms: now_ms.saturating_add(self.limits.challenge_ms),
        };
        self.challenge = Some(challenge.clone());
        challenge
    }

    /// Logs in with `signature` over this connection's challenge, by a key `lookup` knows as a
    /// vault-staff or issuance-admin account. The challenge is used up whatever the outcome.
    pub fn login(
        &mut self,
        public_key: &PublicKey,
        signature: &Signature,
        now_ms: u64,
        lookup: impl FnOnce(&PublicKey) -> Option<StaffAccount>,
    ) -> Result<&Session, ConsoleError> {
        let Some(challenge) = self.challenge.take() else {
            return Err(if self.challenge_spent {
                ConsoleError::ChallengeUsed
            } else {
                ConsoleError::NoChallenge
            });
        };
        self.challenge_spent = true;
        if now_ms > challenge.expires_at_ms {
            return Err(ConsoleError::ChallengeExpired);
        }
        public_key
            .verify_digest(challenge.digest().as_bytes(), signature)
            .map_err(|_| ConsoleError::BadLoginSignature)?;
        let account = lookup(public_key).ok_or(ConsoleError::UnknownKey)?;
        if account.kyc == KycState::Banned {
            return Err(ConsoleError::Banned(account.id.to_string()));
        }
        let roles: Vec<Role> = account
            .roles
            .iter()
            .copied()
            .filter(|r| matches!(r, Role::VaultStaff | Role::IssuanceAdmin))
            .collect();
        if roles.is_empty() {
            return Err(ConsoleError::RoleMissing(account.id.to_string()));
        }
        Ok(self.session.insert(Session {
            account: account.id,
            public_key: *public_key,
            roles,
            started_ms: now_ms,
            last_active_ms: now_ms,
        }))
    }

    /// The session, if it is still alive at `now_ms`; a request keeps it from idling out. An
    /// expired session is dropped and named.
    pub fn active_session(&mut self, now_ms: u64) -> Result<&Session, ConsoleError> {
        let ended = match &self.session {
            None => return Err(ConsoleError::NotLoggedIn),
            Some(s) if now_ms.saturating_sub(s.last_active_ms) > self.limits.idle_ms => {
                Some("idle for too long")
            }
            Some(s) if now_ms.saturating_sub(s.started_ms) > self.limits.lifetime_ms => {
                Some("the session's lifetime is over")
            }
            Some(_) => None,
        };
        if let Some(why) = ended {
            self.session = None;
            return Err(ConsoleError::SessionExpired(why));
        }
        let session = self.session.as_mut().ok_or(ConsoleError::NotLoggedIn)?;
        session.last_active_ms = now_ms;
        Ok(session)
    }

    /// When the session will idle out or end, whichever is first (for the server's timer).
    pub fn session_deadline(&self) -> Option<u64> {
        self.session.as_ref().map(|s| {
            s.last_active_ms
                .saturating_add(self.limits.idle_ms)
                .min(s.started_ms.saturating_add(self.limits.lifetime_ms))
        })
    }

    /// Ends the session.
    pub fn logout(&mut self) -> bool {
        self.session.take().is_some()
    }
}

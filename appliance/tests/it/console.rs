//! The vault console's protocol and sessions: every frame decoded once into a call or a named
//! error; login by signed challenge and each refusal by name; idle logout, lifetime, replay and
//! the rate limit, with the time passed in.

use appliance::console::protocol::{self, ConsoleError, MAX_FRAME_BYTES, Method, RequestId, Topic};
use appliance::console::session::{Connection, Limits, StaffAccount};
use lightclient::console::LoginChallenge;
use lightclient::hash::Hash32;
use lightclient::tx::{KycState, Role};
use proptest::prelude::*;
use serde_json::json;

use crate::world::*;

fn decoded(frame: &str) -> Result<Method, (Option<RequestId>, &'static str)> {
    protocol::decode(frame)
        .map(|c| c.method)
        .map_err(|(id, e)| (id, e.name()))
}

#[test]
fn frames_decode_into_calls_or_named_errors() {
    assert_eq!(
        decoded(r#"{"jsonrpc":"2.0","id":1,"method":"console.challenge"}"#),
        Ok(Method::Challenge)
    );
    assert_eq!(
        decoded(r#"{"jsonrpc":"2.0","id":"a","method":"subscribe","params":{"topic":"bars"}}"#),
        Ok(Method::Subscribe { topic: Topic::Bars })
    );
    let text = |s: &str| Some(RequestId::Text(s.into()));
    assert_eq!(decoded("{not json"), Err((None, "parse_error")));
    assert_eq!(
        decoded(r#"{"jsonrpc":"2.0","method":"console.challenge"}"#),
        Err((None, "invalid_request"))
    );
    assert_eq!(
        decoded(r#"{"jsonrpc":"1.0","id":"x","method":"console.challenge"}"#),
        Err((text("x"), "invalid_request"))
    );
    assert_eq!(
        decoded(r#"{"jsonrpc":"2.0","id":"x","method":"console.challenge","extra":1}"#),
        Err((text("x"), "invalid_request"))
    );
    assert_eq!(
        decoded(r#"{"jsonrpc":"2.0","id":"x","method":"vault.open"}"#),
        Err((text("x"), "method_not_found"))
    );
    assert_eq!(
        decoded(r#"{"jsonrpc":"2.0","id":"x","method":"console.challenge","params":{"a":1}}"#),
        Err((text("x"), "invalid_params"))
    );
    assert_eq!(
        decoded(
            r#"{"jsonrpc":"2.0","id":"x","method":"console.login","params":{"public_key":"02","signature":"00"}}"#
        ),
        Err((text("x"), "invalid_params"))
    );
    assert_eq!(
        decoded(r#"{"jsonrpc":"2.0","id":"x","method":"subscribe","params":{"topic":"vaults"}}"#),
        Err((text("x"), "invalid_params"))
    );
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tx.submit","params":{{"encoded":"{}"}}}}"#,
        "00".repeat(MAX_FRAME_BYTES)
    );
    assert_eq!(decoded(&huge), Err((None, "frame_too_large")));
}

#[test]
fn every_error_answer_carries_its_code_name_and_the_request_id() {
    let answer =
        ConsoleError::RateLimited { retry_after_ms: 50 }.answer(Some(&RequestId::Number(7)));
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["error"]["code"], -32009);
    assert_eq!(answer["error"]["data"]["name"], "rate_limited");
    assert_eq!(answer["error"]["data"]["retry_after_ms"], 50);
    assert_eq!(ConsoleError::NotLoggedIn.answer(None)["id"], json!(null));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever a stranger sends, decoding answers: a call, or a named error.
    #[test]
    fn decoding_never_panics(frame in ".{0,300}") {
        let _ = protocol::decode(&frame);
    }

    /// A request written by a client decodes to what it says, whatever its id.
    #[test]
    fn written_requests_decode_to_what_they_say(
        id in prop_oneof![any::<i64>().prop_map(RequestId::Number), "[a-z0-9]{0,12}".prop_map(RequestId::Text)],
        subscription in any::<u64>(),
        serial in "[A-Z0-9-]{1,20}",
    ) {
        let cases = [
            (json!({"jsonrpc": "2.0", "id": id, "method": "unsubscribe", "params": {"subscription": subscription}}),
             Method::Unsubscribe { subscription }),
            (json!({"jsonrpc": "2.0", "id": id, "method": "bars.history", "params": {"serial": serial}}),
             Method::BarHistory { serial }),
            (json!({"jsonrpc": "2.0", "id": id, "method": "requests.list"}), Method::Requests),
        ];
        for (frame, method) in cases {
            let call = protocol::decode(&frame.to_string()).unwrap();
            prop_assert_eq!(&call.id, &id);
            prop_assert_eq!(call.method, method);
        }
    }
}

const NOW: u64 = 1_800_000_000_000;

fn staff(kyc: KycState, roles: Vec<Role>) -> StaffAccount {
    StaffAccount {
        id: id(VAULT),
        roles,
        kyc,
    }
}

fn vault_staff() -> Option<StaffAccount> {
    Some(staff(KycState::Corporate, vec![Role::VaultStaff]))
}

/// A connection with a challenge issued at `NOW`, and vault staff's signature over it.
fn challenged(limits: Limits) -> (Connection, LoginChallenge, lightclient::keys::Signature) {
    let mut connection = Connection::new(42, limits, NOW);
    let challenge = connection.challenge(Hash32([7; 32]), "custodian-a", Hash32([9; 32]), NOW);
    let signature = sign(&key(VAULT), &challenge.digest());
    (connection, challenge, signature)
}

#[test]
fn vault_staff_log_in_by_signing_the_connections_challenge() {
    let (mut connection, challenge, signature) = challenged(Limits::default());
    assert_eq!(challenge.connection, 42);
    assert_eq!(challenge.expires_at_ms, NOW + 60_000);
    let session = connection
        .login(&public(&key(VAULT)), &signature, NOW + 1, |_| vault_staff())
        .unwrap();
    assert_eq!(session.account, id(VAULT));
    assert_eq!(session.roles, vec![Role::VaultStaff]);
    assert_eq!(
        connection.active_session(NOW + 2).unwrap().account,
        id(VAULT)
    );
}

#[test]
fn each_refused_login_is_named() {
    let vault = public(&key(VAULT));
    let login = |connection: &mut Connection, signature, at, account: Option<StaffAccount>| {
        connection
            .login(&vault, &signature, at, |_| account)
            .map(|s| s.account)
            .map_err(|e| e.name())
    };

    let mut fresh = Connection::new(1, Limits::default(), NOW);
    let (_, _, signature) = challenged(Limits::default());
    assert_eq!(
        login(&mut fresh, signature, NOW, vault_staff()),
        Err("no_challenge")
    );

    let (mut c, _, signature) = challenged(Limits::default());
    assert_eq!(
        login(&mut c, signature, NOW + 60_001, vault_staff()),
        Err("challenge_expired")
    );

    // A replay of a login that worked, on the same connection.
    let (mut c, _, signature) = challenged(Limits::default());
    assert_eq!(login(&mut c, signature, NOW, vault_staff()), Ok(id(VAULT)));
    assert_eq!(
        login(&mut c, signature, NOW, vault_staff()),
        Err("challenge_used")
    );

    // The same signature on another connection: its challenge names another connection.
    let mut other = Connection::new(43, Limits::default(), NOW);
    other.challenge(Hash32([7; 32]), "custodian-a", Hash32([9; 32]), NOW);
    assert_eq!(
        login(&mut other, signature, NOW, vault_staff()),
        Err("bad_login_signature")
    );

    // Signed by another key than the one named.
    let (mut c, challenge, _) = challenged(Limits::default());
    let forged = sign(&key(ISSUANCE), &challenge.digest());
    assert_eq!(
        login(&mut c, forged, NOW, vault_staff()),
        Err("bad_login_signature")
    );

    let (mut c, _, signature) = challenged(Limits::default());
    assert_eq!(login(&mut c, signature, NOW, None), Err("unknown_key"));

    let (mut c, _, signature) = challenged(Limits::default());
    let holder = Some(staff(KycState::Verified, vec![Role::AssetHolder]));
    assert_eq!(login(&mut c, signature, NOW, holder), Err("role_missing"));

    let (mut c, _, signature) = challenged(Limits::default());
    let banned = Some(staff(KycState::Banned, vec![Role::VaultStaff]));
    assert_eq!(login(&mut c, signature, NOW, banned), Err("banned"));
}

#[test]
fn sessions_idle_out_and_end_at_their_lifetime() {
    let limits = Limits {
        idle_ms: 1_000,
        lifetime_ms: 5_000,
        ..Limits::default()
    };
    let (mut c, _, signature) = challenged(limits);
    let vault = public(&key(VAULT));
    c.login(&vault, &signature, NOW, |_| vault_staff()).unwrap();
    // Activity keeps it alive until its lifetime.
    for t in [900, 1_800, 2_700, 3_600, 4_500] {
        assert!(c.active_session(NOW + t).is_ok(), "at +{t} ms");
    }
    assert_eq!(c.session_deadline(), Some(NOW + 5_000));
    assert_eq!(
        c.active_session(NOW + 5_001)
            .map(|_| ())
            .map_err(|e| e.name()),
        Err("session_expired")
    );
    assert_eq!(
        c.active_session(NOW + 5_002)
            .map(|_| ())
            .map_err(|e| e.name()),
        Err("not_logged_in")
    );

    let (mut c, _, signature) = challenged(limits);
    c.login(&vault, &signature, NOW, |_| vault_staff()).unwrap();
    assert_eq!(
        c.active_session(NOW + 1_001)
            .map(|_| ())
            .map_err(|e| e.name()),
        Err("session_expired")
    );
    assert!(!c.logout(), "the idle session was already dropped");
}

#[test]
fn a_connection_gets_its_burst_then_its_rate() {
    let limits = Limits {
        burst: 4,
        per_second: 2,
        ..Limits::default()
    };
    let mut c = Connection::new(1, limits, NOW);
    for _ in 0..4 {
        c.admit_request(NOW).unwrap();
    }
    let Err(ConsoleError::RateLimited { retry_after_ms }) = c.admit_request(NOW) else {
        panic!("a fifth request at once was admitted");
    };
    assert_eq!(retry_after_ms, 501);
    // Two a second: one more after half a second.
    c.admit_request(NOW + 500).unwrap();
    assert!(c.admit_request(NOW + 500).is_err());
}

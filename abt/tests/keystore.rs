//! The keystore against its promises: a key opens only with its password and under its own
//! name and public key, nothing secret is in the file, and the file is its owner's alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use abt::keystore::{Keystore, KeystoreError};
use secrecy::SecretString;

fn password(text: &str) -> SecretString {
    SecretString::from(text.to_string())
}

const SECRET: [u8; 32] = [0x42; 32];

#[test]
fn a_key_opens_with_its_password_and_signs_for_its_account() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore.json");
    let mut keystore = Keystore::open(&path).unwrap();
    let public_key = keystore
        .import("alice", &SECRET, &password("pw-1"))
        .unwrap();
    // Reopened from the file.
    let keystore = Keystore::open(&path).unwrap();
    assert_eq!(keystore.get("alice").unwrap().public_key, public_key);
    assert_eq!(keystore.name_of(&public_key.account_id()), Some("alice"));
    let key = keystore.unlock("alice", &password("pw-1")).unwrap();
    let digest = [9u8; 32];
    let signature = key.sign_digest(&digest).unwrap();
    public_key.verify_digest(&digest, &signature).unwrap();
    // Debug output names the key, never the secret.
    assert!(!format!("{key:?}").contains(&hex::encode(SECRET)));
}

#[test]
fn the_wrong_password_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore.json");
    let mut keystore = Keystore::open(&path).unwrap();
    keystore.generate("bob", &password("right")).unwrap();
    assert!(matches!(
        keystore.unlock("bob", &password("wrong")),
        Err(KeystoreError::WrongPassword(name)) if name == "bob"
    ));
    assert!(matches!(
        keystore.unlock("carol", &password("right")),
        Err(KeystoreError::NoSuchKey(name)) if name == "carol"
    ));
}

#[test]
fn the_file_holds_no_secret_in_the_clear_and_only_its_owner_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore.json");
    let mut keystore = Keystore::open(&path).unwrap();
    keystore.import("alice", &SECRET, &password("pw")).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&hex::encode(SECRET)), "{text}");
    assert!(!text.contains("pw\""), "{text}");
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["keys"]["alice"]["kdf"]["algorithm"], "argon2id");
    assert_eq!(file["keys"]["alice"]["kdf"]["memory_kib"], 65536);
    assert_eq!(file["keys"]["alice"]["cipher"], "chacha20poly1305");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Edits the file's JSON with `edit` and returns what unlocking `name` then says.
fn after_editing(
    edit: impl FnOnce(&mut serde_json::Value),
    name: &str,
) -> Result<(), KeystoreError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore.json");
    let mut keystore = Keystore::open(&path).unwrap();
    keystore.import("alice", &SECRET, &password("pw")).unwrap();
    keystore
        .import("bob", &[0x43; 32], &password("pw"))
        .unwrap();
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut file);
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    Keystore::open(&path)?
        .unlock(name, &password("pw"))
        .map(|_| ())
}

#[test]
fn an_altered_entry_does_not_open() {
    // A flipped ciphertext bit.
    let result = after_editing(
        |file| {
            let text = file["keys"]["alice"]["ciphertext"]
                .as_str()
                .unwrap()
                .to_string();
            let flipped = if text.starts_with('0') { "1" } else { "0" };
            file["keys"]["alice"]["ciphertext"] = (flipped.to_string() + &text[1..]).into();
        },
        "alice",
    );
    assert!(
        matches!(result, Err(KeystoreError::WrongPassword(_))),
        "{result:?}"
    );
    // Bob's sealed secret under alice's name: the name is authenticated.
    let result = after_editing(
        |file| {
            let mut bob = file["keys"]["bob"].clone();
            bob["public_key"] = file["keys"]["alice"]["public_key"].clone();
            file["keys"]["alice"] = bob;
        },
        "alice",
    );
    assert!(
        matches!(result, Err(KeystoreError::WrongPassword(_))),
        "{result:?}"
    );
    // Alice's entry claiming bob's public key: the public key is authenticated.
    let result = after_editing(
        |file| file["keys"]["alice"]["public_key"] = file["keys"]["bob"]["public_key"].clone(),
        "alice",
    );
    assert!(
        matches!(result, Err(KeystoreError::WrongPassword(_))),
        "{result:?}"
    );
    // A format this build does not know.
    let result = after_editing(|file| file["version"] = 2.into(), "alice");
    assert!(
        matches!(result, Err(KeystoreError::Corrupt { .. })),
        "{result:?}"
    );
}

#[test]
fn names_are_unique_and_plain_and_passwords_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut keystore = Keystore::open(&dir.path().join("k.json")).unwrap();
    keystore.import("alice", &SECRET, &password("pw")).unwrap();
    assert!(matches!(
        keystore.import("alice", &SECRET, &password("pw")),
        Err(KeystoreError::Exists(name)) if name == "alice"
    ));
    assert!(matches!(
        keystore.import("Alice", &SECRET, &password("pw")),
        Err(KeystoreError::BadName(_))
    ));
    assert!(matches!(
        keystore.import("", &SECRET, &password("pw")),
        Err(KeystoreError::BadName(_))
    ));
    assert!(matches!(
        keystore.import("carol", &SECRET, &password("")),
        Err(KeystoreError::EmptyPassword)
    ));
    assert!(matches!(
        keystore.import("carol", &[0; 32], &password("pw")),
        Err(KeystoreError::InvalidSecret)
    ));
}

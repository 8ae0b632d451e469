//! What a vault-staff member signs to log in to a node's console: the node's challenge bound to
//! the chain (genesis hash), the node and the connection, with its expiry. A browser page or a
//! terminal client computes the digest itself from those parts (never signs a digest the server
//! hands it), so a console can never obtain a signature over anything else — a transaction's
//! txid carries another tag.

use crate::encoding::Encode;
use crate::hash::{Hash32, tagged_hash, tags};

/// The parts of a console login challenge, as the node sends them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginChallenge {
    /// The chain's genesis hash.
    pub genesis_hash: Hash32,
    /// The node's name (its configured console name), so a login cannot be replayed to another
    /// node.
    pub node: String,
    /// The websocket connection it was issued on.
    pub connection: u64,
    /// 32 random bytes.
    pub nonce: Hash32,
    /// When the challenge stops being accepted, ms since the Unix epoch.
    pub expires_at_ms: u64,
}

impl LoginChallenge {
    /// The digest the staff member's key signs (low-S ECDSA, like a transaction).
    pub fn digest(&self) -> Hash32 {
        let mut bytes = Vec::new();
        self.genesis_hash.encode(&mut bytes);
        self.node.encode(&mut bytes);
        self.connection.encode(&mut bytes);
        self.nonce.encode(&mut bytes);
        self.expires_at_ms.encode(&mut bytes);
        tagged_hash(tags::CONSOLE_LOGIN, &bytes)
    }
}

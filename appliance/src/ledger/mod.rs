//! The ledger state machine: a pure function of (state, block). No I/O, no clock, no randomness;
//! every node that applies the same blocks to the same genesis reaches the same state.

pub mod draft;
mod error;
mod ops;
pub mod remap;
mod rules;
mod state;
pub mod state_tree;
mod table;
mod vault;

pub use error::{LedgerError, code_name};
pub use ops::{
    BlockContext, MAX_TX_LIFETIME, MAX_VALIDATOR_CHANGE_DELAY, MIN_VALIDATOR_CHANGE_DELAY, Outcome,
    SignatureCheck, operation_name,
};
pub use state::{
    Account, Asset, AuditEntry, Balance, InvariantViolation, Item, LedgerState, MappingRecord,
    Position, Request, RequestKind, RequestStatus, SettlementEvent,
};
pub use vault::allocated_asset_id;

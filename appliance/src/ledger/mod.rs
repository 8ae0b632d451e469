//! The ledger state machine: a pure function of (state, block). No I/O, no clock, no randomness;
//! every node that applies the same blocks to the same genesis reaches the same state.

mod error;
mod ops;
mod state;

pub use error::LedgerError;
pub use ops::BlockContext;
pub use state::{
    Account, Asset, Balance, InvariantViolation, LedgerState, Position, SettlementEvent,
};

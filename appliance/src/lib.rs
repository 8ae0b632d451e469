//! The appliance node: ledger state machine, fjall storage, BFT consensus, HTTP API, websocket
//! console, Mainstay attestor and IPFS publisher.
//!
//! Not built yet: the ledger arrives with the ledger issue, the node with the federation issue.

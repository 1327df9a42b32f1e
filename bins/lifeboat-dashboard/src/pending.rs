//! Restore confirmations waiting for the owner's second press: the rules
//! every chat shares, in lifeboat-core.

pub use lifeboat_engine::restore::pending::*;

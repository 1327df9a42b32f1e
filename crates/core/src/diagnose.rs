//! `lifeboat diagnose`: integrity of the live databases (checked on
//! snapshots), storage, state, scheduler; what is wrong and what to do.
//! OWNER: H4.

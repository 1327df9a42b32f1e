//! Lifeboat's Telegram side. OWNER: H3 (delivery), H5 (cycle).
//!
//! Planned modules: `api` (bots with the right clients, error
//! classification), `delivery` (outbox draining: upload once, then
//! `file_id`; retry with backon), `caption`, `alert`, `cycle` (backup →
//! verify → deliver → retention, under the cycle lock).

pub mod cycle;

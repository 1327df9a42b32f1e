//! A restore asked for from a chat (the Telegram dashboard, the Discord
//! bot): the rules both share. Only live restores of archives named in
//! `output_dir` (never an arbitrary path), never over a schema difference
//! (replacing a database with another application's is decided at the
//! server, with the plan in front of the operator), executed under the
//! cycle lock with the same safety snapshot as the CLI.

use super::{RestoreError, RestoreOutcome, RestorePlan, RestoreRequest};
use crate::Config;
use lifeboat_core::CancellationToken;
use lifeboat_core::lock::{CycleLock, LockError};
use lifeboat_core::seal::KeyError;
use lifeboat_core::state::StateError;
use lifeboat_core::verify::VerifyError;

/// How a restore asked for from a chat ended.
#[derive(Debug)]
pub enum ChatRestore {
    /// Restored; what was done.
    Done(RestoreOutcome),
    /// A cycle (or another restore) holds the lock: who.
    Busy(String),
    /// Not restored (or partly: the error says).
    Failed(ChatRestoreError),
}

/// Why a confirmed restore from a chat did not run, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ChatRestoreError {
    /// The cycle lock could not be taken (other than held by someone).
    #[error(transparent)]
    Lock(LockError),
    /// The state database did not open.
    #[error(transparent)]
    State(#[from] StateError),
    /// The restore itself failed; its words say what was written.
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// Why a restore asked for from a chat cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum ChatPlanError {
    /// An age archive: the server holds only the public keys, by design,
    /// so the restore is done where the private key is.
    #[error(
        "{archive} is sealed with age, and this server holds no key to open it (by design: only the public keys are here). Restore it from the server's command line with the private key: lifeboat restore {archive} --identity key.txt"
    )]
    NoKeyHere { archive: String },
    /// Any other reason the plan could not be made.
    #[error(transparent)]
    Plan(RestoreError),
}

impl From<RestoreError> for ChatPlanError {
    fn from(e: RestoreError) -> ChatPlanError {
        match e {
            RestoreError::Verify(VerifyError::Key(KeyError::NoIdentity { archive })) => {
                ChatPlanError::NoKeyHere { archive }
            }
            e => ChatPlanError::Plan(e),
        }
    }
}

/// What restoring `archive` ("latest" or a name in `output_dir`) into the
/// live databases would do; `only` limits it to those databases (empty:
/// every one). An age archive says the server holds no key, by design.
/// Blocking.
pub fn plan(cfg: &Config, archive: &str, only: Vec<String>) -> Result<RestorePlan, ChatPlanError> {
    let request = RestoreRequest { archive: archive.to_string(), only, to: None, force_schema: false };
    Ok(super::plan(cfg, &request)?)
}

/// Carries out the plan the owner confirmed, under the cycle lock (no
/// backup reads the databases meanwhile). If the archive changed since the
/// plan was made, `execute` refuses. `who` names the holder in the lock.
/// Blocking.
pub fn execute(cfg: &Config, plan: &RestorePlan, who: &str, cancel: &CancellationToken) -> ChatRestore {
    let _lock = match CycleLock::try_acquire(&cfg.lock_path(), who) {
        Ok(lock) => lock,
        Err(LockError::Busy { holder }) => return ChatRestore::Busy(holder),
        Err(e) => return ChatRestore::Failed(ChatRestoreError::Lock(e)),
    };
    let state = match cfg.open_state() {
        Ok(s) => s,
        Err(e) => return ChatRestore::Failed(e.into()),
    };
    match super::execute(cfg, &state, plan, cancel) {
        Ok(outcome) => ChatRestore::Done(outcome),
        Err(e) => ChatRestore::Failed(e.into()),
    }
}

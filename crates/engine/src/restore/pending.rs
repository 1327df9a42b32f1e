//! Restore confirmations waiting for the owner's second press, in a chat
//! (the Telegram dashboard, the Discord bot).
//!
//! The data of the "Yes, restore" button names the archive and a nonce, but
//! that alone restores nothing: the server must be holding a confirmation
//! for this user, for this archive, with this nonce, not yet expired. Each
//! confirmation is used at most once; a new request replaces the old one.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// How long a confirmation stays valid.
pub const VALID_FOR_SECS: i64 = 60;

#[derive(Debug, Clone)]
struct Pending<T> {
    payload: T,
    archive: String,
    nonce: u64,
    expires: DateTime<Utc>,
}

/// Why a "Yes, restore" press is not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Nothing is waiting for this user (never asked, already used).
    NoneWaiting,
    /// Asked more than a minute ago.
    Expired,
    /// A different archive or nonce than the one waiting: forged or stale.
    Mismatch,
}

/// The confirmations, in memory (a restart forgets them, which is safe).
/// `T` is what was shown for confirmation (the restore plan), handed back
/// on confirmation so exactly that is carried out.
#[derive(Debug)]
pub struct PendingRestores<T> {
    by_user: Mutex<HashMap<i64, Pending<T>>>,
}

impl<T> Default for PendingRestores<T> {
    fn default() -> Self {
        PendingRestores { by_user: Mutex::new(HashMap::new()) }
    }
}

impl<T> PendingRestores<T> {
    /// Records that `user` was asked to confirm restoring `archive` (as
    /// `payload` describes) at `now`; returns the nonce the confirmation
    /// button must carry.
    pub fn offer(&self, user: i64, archive: &str, payload: T, now: DateTime<Utc>) -> u64 {
        let nonce = self.fresh_nonce();
        let expires = now + Duration::seconds(VALID_FOR_SECS);
        let pending = Pending { payload, archive: archive.to_string(), nonce, expires };
        self.lock().insert(user, pending);
        nonce
    }

    /// Consumes the confirmation if it matches; any attempt uses it up, so
    /// a wrong guess cannot be followed by another.
    pub fn take(&self, user: i64, archive: &str, nonce: u64, now: DateTime<Utc>) -> Result<T, Refused> {
        let pending = self.lock().remove(&user).ok_or(Refused::NoneWaiting)?;
        if pending.archive != archive || pending.nonce != nonce {
            return Err(Refused::Mismatch);
        }
        if now > pending.expires {
            return Err(Refused::Expired);
        }
        Ok(pending.payload)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Pending<T>>> {
        // A panic while holding it cannot leave the map half-updated.
        self.by_user.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unpredictable: from the operating system's random source.
    fn fresh_nonce(&self) -> u64 {
        rand::random()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0).unwrap() + Duration::seconds(s as i64)
    }

    #[test]
    fn only_the_matching_fresh_confirmation_counts_once() {
        let p = PendingRestores::<()>::default();
        let n = p.offer(7, "a.zip", (), t(0));
        assert_eq!(p.take(7, "a.zip", n, t(59)), Ok(()));
        assert_eq!(p.take(7, "a.zip", n, t(59)), Err(Refused::NoneWaiting), "used once");

        let n = p.offer(7, "a.zip", (), t(0));
        assert_eq!(p.take(7, "a.zip", n, t(61)), Err(Refused::Expired));

        let n = p.offer(7, "a.zip", (), t(0));
        assert_eq!(p.take(8, "a.zip", n, t(1)), Err(Refused::NoneWaiting), "another user");
        assert_eq!(p.take(7, "b.zip", n, t(1)), Err(Refused::Mismatch), "another archive");
        assert_eq!(p.take(7, "a.zip", n, t(1)), Err(Refused::NoneWaiting), "a wrong try used it up");

        let n = p.offer(7, "a.zip", (), t(0));
        assert_eq!(p.take(7, "a.zip", n ^ 1, t(1)), Err(Refused::Mismatch), "wrong nonce");

        let old = p.offer(7, "a.zip", (), t(0));
        let new = p.offer(7, "a.zip", (), t(1));
        assert_ne!(old, new);
        assert_eq!(p.take(7, "a.zip", old, t(2)), Err(Refused::Mismatch), "replaced by the newer request");
    }
}

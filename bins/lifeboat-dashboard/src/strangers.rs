//! How often a stranger hears from the bot. Each refusal is a message sent
//! and an event stored; someone writing to the bot in a loop must cost
//! neither Telegram's rate limits nor the disk. One refusal per user per
//! window; what comes in between is dropped silently.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// One refusal per user per this long.
pub const WINDOW_SECS: i64 = 600;
/// Beyond this many remembered users, the expired ones are forgotten.
const REMEMBERED: usize = 10_000;

/// The last refusal to each stranger.
#[derive(Debug, Default)]
pub struct Strangers {
    last: Mutex<HashMap<i64, DateTime<Utc>>>,
}

impl Strangers {
    /// True when `user` may be answered (and logged) at `now`; records it.
    pub fn may_answer(&self, user: i64, now: DateTime<Utc>) -> bool {
        let window = Duration::seconds(WINDOW_SECS);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.get(&user).is_some_and(|&at| now < at + window && now >= at) {
            return false;
        }
        if last.len() >= REMEMBERED {
            last.retain(|_, at| now < *at + window);
        }
        last.insert(user, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_answer_per_user_per_window() {
        let s = Strangers::default();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        assert!(s.may_answer(1, t0));
        assert!(!s.may_answer(1, t0 + Duration::seconds(1)));
        assert!(s.may_answer(2, t0 + Duration::seconds(1)), "another user is not held up");
        assert!(!s.may_answer(1, t0 + Duration::seconds(WINDOW_SECS - 1)));
        assert!(s.may_answer(1, t0 + Duration::seconds(WINDOW_SECS)));
        // A clock that went backwards does not silence anyone for good.
        assert!(s.may_answer(2, t0 - Duration::hours(1)));
    }

    #[test]
    fn memory_stays_bounded() {
        let s = Strangers::default();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        for u in 0..REMEMBERED as i64 {
            s.may_answer(u, t0);
        }
        let later = t0 + Duration::seconds(WINDOW_SECS + 1);
        assert!(s.may_answer(-1, later));
        assert_eq!(s.last.lock().unwrap().len(), 1, "expired users forgotten");
    }
}

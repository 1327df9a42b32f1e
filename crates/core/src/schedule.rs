//! The cron schedule: parsing and next/previous fire times, as pure
//! functions of a given instant (UTC) so tests fix the clock.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed crontab expression (`schedule.cron`, `schedule.full_cron`).
/// It shows and serializes as the expression configured.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
}

/// Why a text is not a crontab expression Lifeboat runs on.
#[derive(Debug, thiserror::Error)]
#[error("{expr:?} is not a 5-field crontab expression ({source}); for example \"0 * * * *\" is hourly on the hour")]
pub struct ScheduleError {
    /// The expression as given.
    pub expr: String,
    #[source]
    source: croner::errors::CronError,
}

/// Parses a standard 5-field crontab expression (minute hour day month
/// weekday). The error says what is wrong in words.
pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
    let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    let cron = parser.parse(expr.trim()).map_err(|source| ScheduleError { expr: expr.to_string(), source })?;
    Ok(Schedule { cron, text: expr.trim().to_string() })
}

impl Schedule {
    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// The last fire time at or before `at`.
    pub fn previous_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&at, true).ok()
    }

    /// The expression as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(expr: &str) -> Result<Schedule, ScheduleError> {
        parse(expr)
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Two schedules are equal when their expressions are.
impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.text == other.text
    }
}

impl PartialEq<&str> for Schedule {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hourly_on_the_hour() {
        let s = parse("0 * * * *").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 10, 15, 30).unwrap();
        assert_eq!(s.next_after(t), Some(Utc.with_ymd_and_hms(2026, 11, 22, 11, 0, 0).unwrap()));
        assert_eq!(s.previous_at_or_before(t), Some(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()));
        let on = Utc.with_ymd_and_hms(2026, 11, 22, 11, 0, 0).unwrap();
        assert_eq!(s.next_after(on), Some(Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()));
    }

    #[test]
    fn rejects_garbage_and_seconds() {
        assert!(parse("every hour").is_err());
        assert!(parse("0 0 * * * *").is_err());
        assert!(parse("61 * * * *").is_err());
    }
}

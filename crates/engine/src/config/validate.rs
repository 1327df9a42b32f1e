//! Checking every value after the sources are merged: each error names its
//! key and says what is allowed.

use super::checks::{self, check_apart};
use lifeboat_core::destination::Section;

use super::{
    Config, ConfigError, MAX_AGE_DAYS, MAX_CONTINUOUS_INTERVAL_SECS, MAX_RETRY_DELAY_SECS, MAX_TIMEOUT_SECS, invalid,
};

impl Config {
    /// Checks every value; the first problem is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let b = &self.backup;
        if b.databases.is_empty() && self.sources.is_empty() {
            return Err(invalid(
                "backup.databases",
                "is empty and no [[sources.*]] is configured; list the database file names inside backup.source_dir",
            ));
        }
        checks::check_sources(self)?;
        for (i, name) in b.databases.iter().enumerate() {
            if let Some(why) = lifeboat_core::manifest::database_name_problem(name) {
                return Err(invalid(
                    "backup.databases",
                    format!("{name:?} {why}; give database file names inside backup.source_dir"),
                ));
            }
            if b.databases[..i].contains(name) {
                return Err(invalid("backup.databases", format!("{name:?} is listed twice")));
            }
        }
        if b.source_dir.as_os_str().is_empty() {
            return Err(invalid("backup.source_dir", "is empty; give the folder holding the databases"));
        }
        if b.output_dir.as_os_str().is_empty() {
            return Err(invalid("backup.output_dir", "is empty; give the folder for archives"));
        }
        // A file where a folder is expected would otherwise surface later as
        // "Not a directory" deep inside some path (the lock, the state).
        for (key, dir) in [("backup.source_dir", &b.source_dir), ("backup.output_dir", &b.output_dir)] {
            if dir.exists() && !dir.is_dir() {
                return Err(invalid(key, format!("{} is a file, not a folder; give a folder", dir.display())));
            }
        }
        check_apart(&b.source_dir, &b.output_dir)?;
        if !(0..=9).contains(&b.compression_level) {
            return Err(invalid(
                "backup.compression_level",
                format!("is {}; allowed: 0 (store) to 9 (smallest)", b.compression_level),
            ));
        }
        let r = &self.retention;
        if !(1..=MAX_AGE_DAYS).contains(&r.max_age_days) {
            return Err(invalid(
                "retention.max_age_days",
                format!("is {}; allowed: 1 to {MAX_AGE_DAYS} days", r.max_age_days),
            ));
        }
        if !(1..=1_000_000).contains(&r.max_count) {
            return Err(invalid("retention.max_count", format!("is {}; allowed: 1 to 1000000 archives", r.max_count)));
        }
        self.telegram.validate()?;
        self.bots.validate()?;
        let y = &self.retry;
        if !(1..=100).contains(&y.attempts) {
            return Err(invalid("retry.attempts", format!("is {}; allowed: 1 to 100", y.attempts)));
        }
        for (key, secs) in
            [("retry.initial_delay_secs", y.initial_delay_secs), ("retry.max_delay_secs", y.max_delay_secs)]
        {
            if secs > MAX_RETRY_DELAY_SECS {
                return Err(invalid(
                    key,
                    format!("is {secs}; allowed: 0 to {MAX_RETRY_DELAY_SECS} seconds (a longer wait stalls the cycle)"),
                ));
            }
        }
        if y.max_delay_secs < y.initial_delay_secs {
            return Err(invalid(
                "retry.max_delay_secs",
                format!("({}) is below retry.initial_delay_secs ({})", y.max_delay_secs, y.initial_delay_secs),
            ));
        }
        for (key, n) in [
            ("retention.keep_hourly", r.keep_hourly),
            ("retention.keep_daily", r.keep_daily),
            ("retention.keep_weekly", r.keep_weekly),
            ("retention.keep_monthly", r.keep_monthly),
        ] {
            if n > 100_000 {
                return Err(invalid(key, format!("is {n}; allowed: 0 (off) to 100000")));
            }
        }
        self.validate_monitoring()?;
        self.validate_continuous()?;
        self.validate_deadlines()
    }

    /// Every external tool's and server's `timeout_secs`: 0 would fail every
    /// call, more than a day would let one hung call stop backups for days.
    /// Each kind of destination checks its own section here, its deadlines
    /// among them.
    fn validate_deadlines(&self) -> Result<(), ConfigError> {
        let sections: Vec<lifeboat_core::source::Section<'_>> =
            lifeboat_core::source::KINDS.iter().flat_map(|k| k.sections(&self.sources)).collect();
        let servers = sections.iter().filter_map(|s| Some((s.key, s.name, s.timeout_secs?)));
        for (key, name, secs) in servers {
            if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
                return Err(invalid(
                    key,
                    format!("\"{name}\": timeout_secs is {secs}; allowed: 1 to {MAX_TIMEOUT_SECS} seconds"),
                ));
            }
        }
        self.destinations.validate()?;
        self.validate_hooks()
    }

    /// `[hooks]`: a deadline within bounds, and no empty command line (it
    /// would run nothing and always succeed).
    fn validate_hooks(&self) -> Result<(), ConfigError> {
        let h = &self.hooks;
        if !(1..=MAX_TIMEOUT_SECS).contains(&h.timeout_secs) {
            return Err(invalid(
                "hooks.timeout_secs",
                format!("is {}; allowed: 1 to {MAX_TIMEOUT_SECS} seconds", h.timeout_secs),
            ));
        }
        for (key, commands) in
            [("hooks.before", &h.before), ("hooks.after", &h.after), ("hooks.on_failure", &h.on_failure)]
        {
            if commands.iter().any(|c| c.trim().is_empty()) {
                return Err(invalid(
                    key,
                    "holds an empty command; give a command line, e.g. \"systemctl stop bot-worker\"",
                ));
            }
        }
        Ok(())
    }

    /// `[continuous]`: its ranges, and a seal it can keep.
    fn validate_continuous(&self) -> Result<(), ConfigError> {
        let c = &self.continuous;
        if !(1..=MAX_CONTINUOUS_INTERVAL_SECS).contains(&c.interval_secs) {
            return Err(invalid(
                "continuous.interval_secs",
                format!("is {}; allowed: 1 to {MAX_CONTINUOUS_INTERVAL_SECS} seconds", c.interval_secs),
            ));
        }
        if !(1..=MAX_AGE_DAYS).contains(&c.keep_days) {
            return Err(invalid(
                "continuous.keep_days",
                format!("is {}; allowed: 1 to {MAX_AGE_DAYS} days", c.keep_days),
            ));
        }
        if c.enabled && self.encryption.mode == lifeboat_core::seal::Mode::ZipAes {
            return Err(invalid(
                "continuous.enabled",
                "is true with encryption.mode = \"zip-aes\", which seals ZIP archives only; the continuous \
                 increments would be stored unsealed. Use encryption.mode = \"age\" (increments are sealed to \
                 the same recipients) or \"none\", or set continuous.enabled = false",
            ));
        }
        if c.enabled && self.backup.databases.is_empty() {
            return Err(invalid(
                "continuous.enabled",
                "is true but backup.databases is empty: continuous protection covers SQLite databases only",
            ));
        }
        Ok(())
    }

    fn validate_monitoring(&self) -> Result<(), ConfigError> {
        let m = &self.monitoring;
        if m.stale_after_minutes > 60 * 24 * 366 {
            return Err(invalid(
                "monitoring.stale_after_minutes",
                format!("is {}; allowed: 0 (off) to 527040 (a year)", m.stale_after_minutes),
            ));
        }
        if !m.metrics_file.as_os_str().is_empty() {
            crate::metrics::check_target(&m.metrics_file)
                .map_err(|why| invalid("monitoring.metrics_file", why.to_string()))?;
        }
        if m.shrink_alert_percent > 100 {
            return Err(invalid(
                "monitoring.shrink_alert_percent",
                format!("is {}; allowed: 0 (off) to 100", m.shrink_alert_percent),
            ));
        }
        Ok(())
    }
}

//! The shipped example config and systemd units stay in step with the code.

use lifeboat_engine::config::Config;

const EXAMPLE: &str = include_str!("../../../config/example.toml");
const DAEMON: &str = include_str!("../../../config/systemd/lifeboat-scheduler.service");
const ONESHOT: &str = include_str!("../../../config/systemd/lifeboat-backup.service");
const TIMER: &str = include_str!("../../../config/systemd/lifeboat-backup.timer");
const DASHBOARD: &str = include_str!("../../../config/systemd/lifeboat-dashboard.service");
const DISCORD: &str = include_str!("../../../config/systemd/lifeboat-discord.service");

fn value<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).collect()
}

#[test]
fn example_config_is_valid_and_matches_the_units_paths() {
    let cfg = Config::from_toml(EXAMPLE).unwrap();
    assert!(!cfg.telegram.admin_ids.is_empty());
    assert!(!cfg.delivery_enabled(), "the example must not carry a token");
    for unit in [DAEMON, ONESHOT, DASHBOARD, DISCORD] {
        let rw = value(unit, "ReadWritePaths").join(" ");
        for w in rw.split(' ') {
            assert!(w.starts_with('-'), "{w}: a missing folder must not fail the unit (write it -{w})");
        }
        for path in [&cfg.backup.output_dir, &cfg.backup.source_dir] {
            let p = path.display().to_string();
            assert!(
                rw.split(' ').any(|w| p.starts_with(w.trim_start_matches('-'))),
                "{p} is not writable under ProtectSystem=strict: {rw}"
            );
        }
    }
}

#[test]
fn units_pass_the_token_as_a_credential_and_are_hardened() {
    for unit in [DAEMON, ONESHOT, DASHBOARD] {
        assert_eq!(value(unit, "LoadCredential"), ["telegram-token:/etc/lifeboat/token"]);
        assert_eq!(
            value(unit, "Environment")
                .iter()
                .filter(|e| e.starts_with("LIFEBOAT__TELEGRAM__TOKEN_FILE=%d/telegram-token"))
                .count(),
            1
        );
        for (k, v) in
            [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"), ("ProtectHome", "yes")]
        {
            assert_eq!(value(unit, k), [v], "{k}");
        }
    }
    for daemon in [DAEMON, DASHBOARD, DISCORD] {
        assert_eq!(value(daemon, "Restart"), ["on-failure"]);
        // A bad configuration (exit 2) is not restarted forever.
        assert_eq!(value(daemon, "RestartPreventExitStatus"), ["2"]);
        // The daemons speak sd_notify (READY=1, WATCHDOG=1).
        assert_eq!(value(daemon, "Type"), ["notify"]);
        assert_eq!(value(daemon, "WatchdogSec").len(), 1);
    }
    for unit in [DAEMON, ONESHOT, DASHBOARD, DISCORD] {
        assert_eq!(value(unit, "IOSchedulingClass"), ["idle"], "backups must yield the disk to the bot");
        assert_eq!(value(unit, "Nice"), ["10"]);
    }
    assert!(value(DAEMON, "ExecStart")[0].ends_with("lifeboat-scheduler --config /etc/lifeboat/lifeboat.toml"));
    // The Discord bot's token comes the same way, and nothing else differs
    // from the dashboard's unit but its binary and its token.
    assert_eq!(
        value(DISCORD, "LoadCredential"),
        ["telegram-token:/etc/lifeboat/token", "discord-token:/etc/lifeboat/discord-token"]
    );
    assert!(value(DISCORD, "Environment").contains(&"LIFEBOAT__TELEGRAM__TOKEN_FILE=%d/telegram-token"));
    assert!(value(DISCORD, "Environment").contains(&"LIFEBOAT__DISCORD__TOKEN_FILE=%d/discord-token"));
    assert!(value(DISCORD, "ExecStart")[0].ends_with("lifeboat-discord --config /etc/lifeboat/lifeboat.toml"));
    let hardening = |unit: &str| -> Vec<String> {
        unit.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("ExecStart") && !l.starts_with("Description"))
            .filter(|l| !l.contains("token") && !l.contains("TOKEN"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(hardening(DISCORD), hardening(DASHBOARD), "the Discord unit is hardened exactly as the dashboard's");
    assert_eq!(value(ONESHOT, "Type"), ["oneshot"]);
    assert!(value(ONESHOT, "ExecStart")[0].ends_with("--once"));
    // `--once` exits 4 when another cycle holds the lock: not a failure.
    assert_eq!(value(ONESHOT, "SuccessExitStatus"), ["4"]);
    assert_eq!(value(TIMER, "OnCalendar"), ["hourly"]);
    assert_eq!(value(TIMER, "Persistent"), ["true"]);
}

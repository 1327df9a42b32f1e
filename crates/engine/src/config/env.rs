//! Environment variables that look like Lifeboat's but are not: the
//! `config` crate reads only `LIFEBOAT__SECTION__KEY`, so
//! `LIFEBOAT_TELEGRAM_TOKEN` (one underscore) would be ignored without a word.

use std::ffi::OsString;

use super::{CONFIG_ENV, DEFAULT_TOML};

/// The variables Lifeboat reads besides `LIFEBOAT__SECTION__KEY`.
const KNOWN: [&str; 3] = [CONFIG_ENV, lifeboat_core::seal::PASSWORD_ENV, lifeboat_core::logging::FORMAT_ENV];

/// One warning for each `LIFEBOAT_…` name in `names` that Lifeboat does not
/// read, with the right spelling when it is plain which key was meant.
/// Values are never looked at: they may be secrets.
pub(super) fn misspelled(names: impl IntoIterator<Item = OsString>) -> Vec<String> {
    let mut warnings: Vec<String> = names
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.starts_with("LIFEBOAT_") && !n.starts_with("LIFEBOAT__") && !KNOWN.contains(&n.as_str()))
        .map(|name| match meant(&name) {
            Some(right) => format!("environment variable {name} is not read by Lifeboat; did you mean {right}?"),
            None => format!(
                "environment variable {name} is not read by Lifeboat; settings are LIFEBOAT__SECTION__KEY \
                 (two underscores, e.g. LIFEBOAT__TELEGRAM__TOKEN), or {}",
                KNOWN.join(", ")
            ),
        })
        .collect();
    warnings.sort();
    warnings
}

/// The `LIFEBOAT__SECTION__KEY` spelling of a key of the defaults that `name`
/// spells with single underscores or the wrong case, if any.
fn meant(name: &str) -> Option<String> {
    let wanted = name.trim_start_matches("LIFEBOAT").trim_start_matches('_').to_ascii_uppercase();
    let defaults: toml::Table = toml::from_str(DEFAULT_TOML).ok()?;
    defaults.iter().filter_map(|(section, keys)| Some((section, keys.as_table()?))).find_map(|(section, keys)| {
        keys.keys().find_map(|key| {
            let joined = format!("{section}_{key}").to_ascii_uppercase();
            let right = format!("LIFEBOAT__{}__{}", section.to_ascii_uppercase(), key.to_ascii_uppercase());
            (joined == wanted.replace("__", "_")).then_some(right)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::misspelled;

    fn names(n: &[&str]) -> Vec<std::ffi::OsString> {
        n.iter().map(Into::into).collect()
    }

    #[test]
    fn a_single_underscore_name_is_warned_about_with_the_right_spelling() {
        let w = misspelled(names(&["LIFEBOAT_TELEGRAM_TOKEN", "LIFEBOAT_RETRY_MAX_DELAY_SECS"]));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("LIFEBOAT_RETRY_MAX_DELAY_SECS") && w[0].contains("LIFEBOAT__RETRY__MAX_DELAY_SECS"));
        assert!(w[1].contains("LIFEBOAT_TELEGRAM_TOKEN") && w[1].contains("LIFEBOAT__TELEGRAM__TOKEN"), "{w:?}");
    }

    #[test]
    fn known_names_and_other_programs_are_left_alone() {
        let known = [
            "LIFEBOAT_CONFIG",
            "LIFEBOAT_ENCRYPTION_PASSWORD",
            "LIFEBOAT_LOG_FORMAT",
            "LIFEBOAT__TELEGRAM__TOKEN",
            "HOME",
            "LIFEBOATS",
        ];
        assert!(misspelled(names(&known)).is_empty());
        let w = misspelled(names(&["LIFEBOAT_SOMETHING"]));
        assert!(w.len() == 1 && w[0].contains("LIFEBOAT__SECTION__KEY"), "{w:?}");
    }
}

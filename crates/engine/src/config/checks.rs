//! The checks `config` does not make: TOML syntax errors that name their
//! line and key, values of the wrong kind (the `config` crate would coerce
//! them), and the source and output folders kept apart.

use std::path::{Path, PathBuf};

use super::{ConfigError, DEFAULT_TOML, invalid};

/// A folder as it will be once it exists: the longest existing ancestor
/// resolved through symbolic links, the rest appended.
fn resolved(dir: &Path) -> PathBuf {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for ancestor in abs.ancestors() {
        if let Ok(real) = ancestor.canonicalize() {
            let rest = abs.strip_prefix(ancestor).unwrap_or(Path::new(""));
            return real.join(rest);
        }
    }
    abs
}

/// The bot's folder and Lifeboat's must not contain each other: output_dir
/// is made private and fills with archives and state, which must never mix
/// with (or re-permission) the live databases.
pub(super) fn check_apart(source: &Path, output: &Path) -> Result<(), ConfigError> {
    let (s, o) = (resolved(source), resolved(output));
    let problem = if s == o {
        "is the same folder as backup.source_dir"
    } else if o.starts_with(&s) {
        "is inside backup.source_dir"
    } else if s.starts_with(&o) {
        "contains backup.source_dir"
    } else {
        return Ok(());
    };
    Err(invalid(
        "backup.output_dir",
        format!(
            "{} {problem} ({}); archives and Lifeboat's state need a folder of their own, beside the bot's data, e.g. {}",
            output.display(),
            source.display(),
            s.with_file_name("backups").display()
        ),
    ))
}

/// What a key's value must be, from its default (arrays: their elements).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Text,
    Bool,
    Float,
    List(Option<&'static Kind>),
}

/// Element kinds of lists whose default is empty.
const LIST_ELEMENTS: &[(&str, Kind)] = &[
    ("encryption.recipients", Kind::Text),
    ("hooks.before", Kind::Text),
    ("hooks.after", Kind::Text),
    ("hooks.on_failure", Kind::Text),
];

fn kind_of(v: &config::ValueKind) -> Option<Kind> {
    use config::ValueKind as V;
    Some(match v {
        V::I64(_) | V::I128(_) | V::U64(_) | V::U128(_) => Kind::Int,
        V::String(_) => Kind::Text,
        V::Boolean(_) => Kind::Bool,
        V::Float(_) => Kind::Float,
        V::Array(_) => Kind::List(None),
        V::Nil | V::Table(_) => return None,
    })
}

fn describe_value(v: &config::ValueKind) -> String {
    use config::ValueKind as V;
    match v {
        V::String(s) => format!("the text {s:?}"),
        V::Float(f) => format!("the fraction {f}"),
        V::Boolean(b) => format!("{b}"),
        V::Array(_) => "a list".to_string(),
        V::Table(_) => "a section".to_string(),
        other => format!("{other}"),
    }
}

fn expectation(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "a whole number, without quotes",
        Kind::Text => "text in quotes",
        Kind::Bool => "true or false",
        Kind::Float => "a number",
        Kind::List(_) => "a list in [ ]",
    }
}

/// Keys that take one of a few words, and the words. Checked before serde,
/// whose own message would name the Rust type instead of the choices.
const CHOICES: &[(&str, &[&str])] =
    &[("encryption.mode", <lifeboat_core::seal::Mode as strum::VariantNames>::VARIANTS)];

/// A key of [`CHOICES`] holding another word is an error listing the words
/// (exact spelling: keys and values are case-sensitive everywhere).
pub(super) fn check_choices(raw: &config::Config) -> Result<(), ConfigError> {
    for &(key, words) in CHOICES {
        let Ok(value) = raw.get::<config::Value>(key) else { continue };
        if let config::ValueKind::String(s) = &value.kind
            && !words.contains(&s.as_str())
        {
            let allowed = words.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", ");
            return Err(invalid(key, format!("{s:?} is not one of {allowed}")));
        }
    }
    Ok(())
}

/// The `config` crate quietly turns "111" into 111 and 5.7 into 5; a typo
/// must be an error naming its key instead. Each key of the defaults must
/// keep its default's kind; values from the environment are text by nature,
/// so there only what does not parse as the kind is refused.
pub(super) fn check_kinds(raw: &config::Config, from_env: &[String]) -> Result<(), ConfigError> {
    let defaults: toml::Table = toml::from_str(DEFAULT_TOML).expect("the built-in defaults parse");
    for (section, keys) in &defaults {
        let Some(keys) = keys.as_table() else { continue };
        for (key, default) in keys {
            let path = format!("{section}.{key}");
            let want = match default {
                toml::Value::Integer(_) => Kind::Int,
                toml::Value::String(_) => Kind::Text,
                toml::Value::Boolean(_) => Kind::Bool,
                toml::Value::Float(_) => Kind::Float,
                toml::Value::Array(a) => Kind::List(match a.first() {
                    Some(toml::Value::Integer(_)) => Some(&Kind::Int),
                    Some(toml::Value::String(_)) => Some(&Kind::Text),
                    _ => LIST_ELEMENTS
                        .iter()
                        .find(|(k, _)| *k == path)
                        .map(|(_, kind)| kind)
                        .or_else(|| super::int_list_keys().any(|k| k == path).then_some(&Kind::Int)),
                }),
                _ => continue,
            };
            let Ok(value) = raw.get::<config::Value>(&path) else { continue };
            check_value(&path, &value, want, from_env.contains(&path))?;
        }
    }
    Ok(())
}

fn check_value(path: &str, value: &config::Value, want: Kind, from_env: bool) -> Result<(), ConfigError> {
    let leak = |key: &str| key.ends_with("token");
    let fail = |what: String| {
        // The key is named; a token's value never is.
        let what = if leak(path) { "a value of the wrong kind".to_string() } else { what };
        Err(ConfigError::Parse(format!("key `{path}` is {what}; give {}", expectation(want))))
    };
    let found = kind_of(&value.kind);
    match (want, found) {
        (Kind::List(elem), Some(Kind::List(_))) => {
            let config::ValueKind::Array(items) = &value.kind else { unreachable!() };
            if let Some(elem) = elem {
                for item in items {
                    check_value(path, item, *elem, from_env).map_err(|_| {
                        ConfigError::Parse(format!(
                            "key `{path}` holds {}; each item must be {}",
                            describe_value(&item.kind),
                            expectation(*elem)
                        ))
                    })?;
                }
            }
            Ok(())
        }
        // One value from the environment is a list of one.
        (Kind::List(Some(elem)), Some(_)) if from_env => check_value(path, value, *elem, from_env),
        (want, Some(found)) if want == found => Ok(()),
        (Kind::Text, Some(_)) if from_env => Ok(()),
        (Kind::Int, Some(Kind::Text)) if from_env => match &value.kind {
            config::ValueKind::String(s) if s.trim().parse::<i64>().is_ok() => Ok(()),
            _ => fail(describe_value(&value.kind)),
        },
        (Kind::Int, Some(Kind::Float)) => match &value.kind {
            config::ValueKind::Float(f) if f.fract() == 0.0 => fail(format!("{f}, too large (at most {})", i64::MAX)),
            _ => fail(describe_value(&value.kind)),
        },
        _ => fail(describe_value(&value.kind)),
    }
}

/// TOML syntax errors from `config` lose the line; this names the line and
/// its key (never its value: it may be a token).
pub(super) fn check_syntax(text: &str, file: Option<&Path>) -> Result<toml::Table, ConfigError> {
    let e = match toml::from_str::<toml::Table>(text) {
        Ok(table) => return Ok(table),
        Err(e) => e,
    };
    let place = match e.span() {
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("");
            let section = text
                .lines()
                .take(line_no)
                .filter_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
                .last()
                .map(|s| format!("{}.", s.trim()))
                .unwrap_or_default();
            match line.split_once('=') {
                Some((key, _)) => format!("line {line_no}, key `{section}{}`", key.trim()),
                None => format!("line {line_no}"),
            }
        }
        None => "somewhere".to_string(),
    };
    let file = file.map(|f| format!(" of {}", f.display())).unwrap_or_default();
    Err(ConfigError::Parse(format!("{place}{file}: {}", e.message().trim())))
}

/// `[[sources.*]]`: names plain and unique among all sources (their entries
/// cannot collide either), then each kind's own settings (URLs of the right
/// scheme without a password in them, file paths absolute and never
/// Lifeboat's own secrets).
pub(super) fn check_sources(cfg: &super::Config) -> Result<(), ConfigError> {
    let mut names: Vec<&str> = cfg.backup.databases.iter().map(String::as_str).collect();
    let mut entries: Vec<String> = cfg.backup.databases.clone();
    let sections: Vec<lifeboat_core::source::Section<'_>> =
        lifeboat_core::source::KINDS.iter().flat_map(|k| k.sections(&cfg.sources)).collect();
    for lifeboat_core::source::Section { key, name, entry, .. } in sections {
        if !lifeboat_core::manifest::is_plain_name(name) || name.starts_with('.') {
            return Err(invalid(
                key,
                format!("name {name:?} must be a plain name (letters, digits, '_', '-'), e.g. \"main\""),
            ));
        }
        if names.contains(&name) {
            return Err(invalid(
                key,
                format!("name {name:?} is used by another source; give each source its own name"),
            ));
        }
        names.push(name);
        if entries
            .iter()
            .any(|e| *e == entry || e.starts_with(&format!("{name}/")) || entry.starts_with(&format!("{e}/")))
        {
            return Err(invalid(key, format!("{name:?} would be stored as {entry}, which another source already is")));
        }
        entries.push(entry);
    }
    let setup = cfg.source_setup();
    lifeboat_core::source::KINDS.iter().try_for_each(|k| k.validate(&setup))
}

//! A kind of source keeps its facts in its own folder
//! (`crates/core/src/source/<kind>/`): the rest of Lifeboat asks the
//! registry (`source/mod.rs`) and never names a kind. This reads the code of
//! every production file and fails when a kind's name shows outside its
//! folder, the registry and the short list below.
//!
//! A kind of destination is fenced the same way: its name shows only in its
//! home (its folder, config section included, and a binary of its own), the
//! destination registries (`destination/id.rs` in core, the engine's
//! registry of sections, the list of kinds the cycle opens) and a list
//! giving for each other file the kinds it may name and why.
//!
//! Comments are not read: they may give a kind as an example. Test code
//! (`tests.rs` files, a file's `#[cfg(test)] mod tests`) is not read either.

use std::path::{Path, PathBuf};

/// A kind's folder, what names it inside any word (`RedisSource`), and
/// what names it only as a word of its own (`rdb`, not in `wordbook`);
/// matched case-insensitively.
const KINDS: &[(&str, &[&str], &[&str])] = &[
    ("postgres", &["postgres", "pg_dump", "pg_restore", "pgdump", "libpq", "pgpass"], &["psql"]),
    ("redis", &["redis"], &["rdb"]),
    ("files", &["sources.files", "filesource", "filesconfig"], &["kind::file"]),
    ("sqlite", &["sqlitesource"], &[]),
];

/// Files outside the kinds' folders allowed to name them, and why.
const ALLOWED: &[(&str, &str)] = &[
    ("crates/core/src/manifest.rs", "the manifest's `Kind` enum: the archive format names every kind"),
    ("crates/testkit/", "test support that runs the real servers; never part of a release binary"),
];

/// The registry: the one place listing the kinds.
const REGISTRY: &str = "crates/core/src/source/mod.rs";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    for e in read.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && p.file_name().is_some_and(|n| n != "tests.rs") {
            out.push(p);
        }
    }
}

/// The production code of `text`: comments and the test module dropped.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") && lines.peek().is_some_and(|l| l.trim_start().starts_with("mod tests")) {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        // A trailing comment, when its `//` is outside any string.
        let code = match line.find("// ") {
            Some(i) if line[..i].matches('"').count() % 2 == 0 => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out.to_lowercase()
}

/// True when `word` occurs in `text` with neither a letter nor a digit
/// on either side.
fn names_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Every production file of the workspace, as its path from the root and
/// its code (see [`code`]).
fn production_code(root: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for top in ["crates", "bins"] {
        for krate in std::fs::read_dir(root.join(top)).unwrap().flatten() {
            rust_files(&krate.path().join("src"), &mut files);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            (rel, code(&std::fs::read_to_string(&file).unwrap()))
        })
        .collect()
}

/// The words of `inside` found anywhere in `text`, then those of `whole`
/// found as words of their own.
fn hits<'a>(text: &str, inside: &[&'a str], whole: &[&'a str]) -> Vec<&'a str> {
    inside
        .iter()
        .copied()
        .filter(|w| text.contains(w))
        .chain(whole.iter().copied().filter(|w| names_word(text, w)))
        .collect()
}

/// Every production file naming a kind where it should not, and what it names.
fn leaks(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (rel, text) in production_code(root) {
        if rel == REGISTRY || ALLOWED.iter().any(|(p, _)| rel.starts_with(p)) {
            continue;
        }
        for (kind, inside, whole) in KINDS {
            if rel.starts_with(&format!("crates/core/src/source/{kind}/")) {
                continue;
            }
            let hits = hits(&text, inside, whole);
            if !hits.is_empty() {
                found.push(format!("{rel} names the {kind} kind: {hits:?}"));
            }
        }
    }
    found
}

/// A kind of destination, fenced in its home.
struct Fence {
    /// As its ids begin (`DestinationKind::as_str`).
    kind: &'static str,
    /// The files and folders that are its own code.
    home: &'static [&'static str],
    /// What names it inside any word, case-insensitively.
    inside: &'static [&'static str],
    /// What names it only as a word of its own.
    whole: &'static [&'static str],
}

/// The fenced kinds of destination. Telegram is not fenced: it is the
/// first destination and the dashboard is a Telegram bot, so the engine's
/// own words (captions, acknowledgements, the admins' chats) are Telegram's.
const DESTINATIONS: &[Fence] = &[
    Fence {
        kind: "s3",
        home: &["crates/s3/"],
        inside: &["seaweed", "s3config", "s3destination"],
        whole: &["s3", "aws"],
    },
    Fence {
        kind: "email",
        home: &["crates/messaging/src/email/"],
        inside: &["smtp", "lettre", "mailbox", "emailconfig", "emaildestination", "destinations.email"],
        whole: &["email"],
    },
    Fence {
        kind: "webhook",
        home: &["crates/messaging/src/webhook/"],
        inside: &["ntfy", "hooks.slack", "webhookconfig", "webhookdestination", "destinations.webhook", "webhook::"],
        whole: &[],
    },
    Fence {
        kind: "discord",
        home: &["crates/messaging/src/discord/", "bins/lifeboat-discord/"],
        inside: &["discord"],
        whole: &[],
    },
];

/// The destination registries: the kinds' ids (`DestinationKind`, as
/// outbox rows and `--from` name them), and the engine's registry of kinds
/// (`destinations.rs`: each kind's section in the configuration and how it
/// opens). Core's `destination/mod.rs` is not one: it holds the seams and
/// names no kind.
const DESTINATION_REGISTRY: &[&str] = &["crates/core/src/destination/id.rs", "crates/engine/src/destinations.rs"];

/// Files outside a destination kind's home allowed to name it: the file
/// (or folder), the kinds it may name, and why.
const DESTINATION_ALLOWED: &[(&[&str], &[&str], &str)] = &[
    (
        &["crates/messaging/src/lib.rs"],
        &["email", "webhook", "discord"],
        "the crate's root declares each kind's module",
    ),
    (
        &[
            "bins/lifeboat/src/main.rs",
            "bins/lifeboat/src/json.rs",
            "bins/lifeboat/src/commands/fetch.rs",
            "bins/lifeboat/src/commands/restore.rs",
            "bins/lifeboat/src/manual.rs",
        ],
        &["s3"],
        "`fetch`, `list --remote` and `restore --from` (and the man page's example of `fetch`) read archives back \
         from a bucket, the one destination that can give them back",
    ),
    (
        &["bins/lifeboat-scheduler/src/continuous.rs"],
        &["s3"],
        "continuous increments are copied to the buckets and nowhere else",
    ),
    (&["crates/cycle/src/watch.rs"], &["s3"], "the watch says which bucket is behind on continuous increments"),
    (&["crates/core/src/state/mod.rs"], &["s3"], "the schema's SQL comments show an outbox id"),
    (
        &["crates/testkit/"],
        &["s3", "email", "webhook", "discord"],
        "test support that runs the real servers; never part of a release binary",
    ),
];

/// Every production file naming a destination kind where it should not.
fn destination_leaks(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (rel, text) in production_code(root) {
        if DESTINATION_REGISTRY.contains(&rel.as_str()) {
            continue;
        }
        for Fence { kind, home, inside, whole } in DESTINATIONS {
            let allowed = DESTINATION_ALLOWED
                .iter()
                .any(|(paths, kinds, _)| kinds.contains(kind) && paths.iter().any(|p| rel.starts_with(p)));
            if allowed || home.iter().any(|h| rel.starts_with(h)) {
                continue;
            }
            let hits = hits(&text, inside, whole);
            if !hits.is_empty() {
                found.push(format!("{rel} names the {kind} destination: {hits:?}"));
            }
        }
    }
    found
}

#[test]
fn a_destination_kind_is_named_only_in_its_home_and_the_registry() {
    let found = destination_leaks(&workspace());
    assert!(
        found.is_empty(),
        "a destination kind's facts belong in its own code (reached through destination::DestinationKind):\n{}",
        found.join("\n")
    );
}

#[test]
fn a_kind_is_named_only_in_its_folder_and_the_registry() {
    let found = leaks(&workspace());
    assert!(
        found.is_empty(),
        "a kind's facts belong in crates/core/src/source/<kind>/ (reached through source::KINDS):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_guard_reads_code_not_comments() {
    let text = code("// Redis is fine in a comment\nlet x = \"redis-cli\"; // and here: postgres\n");
    assert!(text.contains("redis-cli") && !text.contains("postgres"));
    assert!(!names_word("the wordbook", "rdb") && names_word("name.rdb", "rdb") && names_word("rdb_suffix", "rdb"));
    assert!(code("fn a() {}\n#[cfg(test)]\nmod tests {\n    redis\n}\n").trim() == "fn a() {}");
}

/// S3, Discord and email use only their own settings: none borrows
/// Telegram's timeouts or sizes.
#[test]
fn other_destinations_read_no_telegram_setting() {
    let needle = [".", "telegram", "."].concat();
    let mut files = Vec::new();
    for dir in ["crates/s3/src", "crates/messaging/src"] {
        rust_files(&workspace().join(dir), &mut files);
    }
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let text = code(&std::fs::read_to_string(&path).unwrap());
        assert!(!text.contains(&needle), "{} reads a telegram setting", path.display());
    }
}

/// Every kind of destination but Telegram is fenced, and every home and
/// allow-list entry still exists.
#[test]
fn every_destination_kind_is_fenced() {
    use lifeboat_core::destination::DestinationKind;
    use strum::VariantArray;
    for kind in DestinationKind::VARIANTS.iter().filter(|k| **k != DestinationKind::Telegram) {
        assert!(DESTINATIONS.iter().any(|f| f.kind == kind.as_str()), "{kind:?} is not fenced");
    }
    let root = workspace();
    let homes = DESTINATIONS.iter().flat_map(|f| f.home.iter());
    for path in homes.chain(DESTINATION_REGISTRY).chain(DESTINATION_ALLOWED.iter().flat_map(|(paths, ..)| paths.iter()))
    {
        assert!(root.join(path).exists(), "{path} is gone");
    }
}

/// Every kind of destination but Telegram (whose section is `[telegram]`)
/// has its config section in its fenced home: a file there implements the
/// `Section` trait the loading goes through.
#[test]
fn every_destination_kind_has_its_section_at_home() {
    use lifeboat_core::destination::DestinationKind;
    use strum::VariantArray;
    let root = workspace();
    let code = production_code(&root);
    for kind in DestinationKind::VARIANTS.iter().filter(|k| **k != DestinationKind::Telegram) {
        let fence = DESTINATIONS.iter().find(|f| f.kind == kind.as_str()).expect("fenced");
        let at_home = |rel: &str| fence.home.iter().any(|h| rel == *h || (h.ends_with('/') && rel.starts_with(h)));
        assert!(
            code.iter().any(|(rel, text)| at_home(rel) && text.contains("impl section for")),
            "{kind:?} has no section (an `impl Section for`) in its home {:?}",
            fence.home
        );
    }
}

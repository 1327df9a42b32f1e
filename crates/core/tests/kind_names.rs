//! A kind of source keeps its facts in its own folder
//! (`crates/core/src/source/<kind>/`): the rest of Lifeboat asks the
//! registry (`source/mod.rs`) and never names a kind. This reads the code of
//! every production file and fails when a kind's name shows outside its
//! folder, the registry and the short list below.
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
    ("bins/lifeboat/src/manual.rs", "the man page lists the [[sources.*]] tables a user can write"),
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

/// Every production file naming a kind where it should not, and what it names.
fn leaks(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for top in ["crates", "bins"] {
        for krate in std::fs::read_dir(root.join(top)).unwrap().flatten() {
            rust_files(&krate.path().join("src"), &mut files);
        }
    }
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if rel == REGISTRY || ALLOWED.iter().any(|(p, _)| rel.starts_with(p)) {
            continue;
        }
        let text = code(&std::fs::read_to_string(&file).unwrap());
        for (kind, inside, whole) in KINDS {
            if rel.starts_with(&format!("crates/core/src/source/{kind}/")) {
                continue;
            }
            let hits: Vec<&str> = inside
                .iter()
                .copied()
                .filter(|w| text.contains(w))
                .chain(whole.iter().copied().filter(|w| names_word(&text, w)))
                .collect();
            if !hits.is_empty() {
                found.push(format!("{rel} names the {kind} kind: {hits:?}"));
            }
        }
    }
    found
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

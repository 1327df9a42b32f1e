//! `verify`: good archives pass; each kind of damage is named.

mod common;

use std::path::Path;

use common::*;
use lifeboat_core::catalog;
use lifeboat_core::manifest::{INFO_NAME, MANIFEST_NAME};
use lifeboat_core::parts;
use lifeboat_core::verify::{self, VerifyError, VerifyOptions};

const FULL: VerifyOptions = VerifyOptions { integrity_check: true };
const QUICK: VerifyOptions = VerifyOptions { integrity_check: false };

fn scratch(dir: &Path) -> std::path::PathBuf {
    dir.join("scratch")
}

/// A manual backup run by the library, as `lifeboat backup` does.
fn backup_at(
    cfg: &lifeboat_engine::Config,
    now: chrono::DateTime<chrono::Utc>,
) -> lifeboat_engine::backup::BackupOutcome {
    let state = lifeboat_core::state::State::open(&cfg.state_path()).unwrap();
    let opts = lifeboat_engine::backup::BackupOptions {
        trigger: lifeboat_core::Trigger::Manual,
        only: None,
        progress: None,
        cancel: lifeboat_core::CancellationToken::new(),
        now,
    };
    lifeboat_engine::backup::run(cfg, &state, opts).unwrap()
}

#[test]
fn good_archive_verifies_with_and_without_integrity() {
    let d = tempfile::tempdir().unwrap();
    let (_, zip) = fixture(d.path());
    let a = stored(&zip);
    let r = verify::verify(&a, &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.databases.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["a.db", "b.db", "c.db"]);
    assert!(r.databases.iter().all(|v| v.checksum_ok && v.integrity == "ok"));
    assert_eq!(r.manifest.as_ref().unwrap().databases.len(), 3);
    // Extracted copies are cleaned up.
    assert_eq!(std::fs::read_dir(scratch(d.path())).unwrap().count(), 0);
    let q = verify::verify(&a, &lifeboat_core::seal::Keys::none(), &d.path().join("unused"), QUICK).unwrap();
    assert!(q.is_ok());
    assert!(q.databases.iter().all(|v| v.integrity == "skipped"));
    assert!(!d.path().join("unused").exists(), "a quick verify writes nothing");
    let m = verify::read_manifest(&a, &lifeboat_core::seal::Keys::none()).unwrap();
    assert_eq!(m.database("b.db").unwrap().tables.iter().find(|t| t.name == "items").unwrap().rows, 75);
}

#[test]
fn corrupted_byte_in_an_entry_fails_its_crc() {
    let d = tempfile::tempdir().unwrap();
    let (_, zip) = fixture(d.path());
    // Store (not deflate) one db so a flipped byte is a clean CRC error.
    let snap = d.path().join("snap/b.db");
    let (mut entries, _) = good_entries(&[("b.db", snap.as_path())]);
    let zip2 = d.path().join("stored.zip");
    {
        let f = std::fs::File::create(&zip2).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for e in entries.drain(..) {
            if let Entry::File(n, data) = e {
                z.start_file(n, opts).unwrap();
                std::io::Write::write_all(&mut z, &data).unwrap();
            }
        }
        z.finish().unwrap();
    }
    // Flip a byte in the middle of the stored database.
    let mut bytes = std::fs::read(&zip2).unwrap();
    let mid = 100 + 4096;
    bytes[mid] ^= 0xff;
    std::fs::write(&zip2, &bytes).unwrap();
    let r = verify::verify(&stored(&zip2), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap();
    assert!(!r.is_ok());
    let b = &r.databases[0];
    assert!(!b.checksum_ok, "{r}");
    assert!(b.integrity.contains("damaged") || b.integrity.contains("sha256"), "{}", b.integrity);
    // And a deflated archive with a byte flipped in the compressed data.
    let mut bytes = std::fs::read(&zip).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(&zip, &bytes).unwrap();
    match verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), QUICK) {
        Ok(r) => assert!(!r.is_ok(), "{r}"),
        Err(e) => assert!(matches!(e, VerifyError::NotZip(..)), "{e}"),
    }
}

#[test]
fn sha_mismatch_with_valid_crc_is_caught() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let snap = d.path().join("snap/a.db");
    let (mut entries, _) = good_entries(&[("a.db", snap.as_path())]);
    // Replace the db's bytes with other (valid) bytes: CRC fine, sha not.
    let mut other = std::fs::read(d.path().join("snap/b.db")).unwrap();
    other.truncate(std::fs::metadata(&snap).unwrap().len() as usize);
    entries[0] = Entry::File("a.db".into(), other);
    let zip = d.path().join("x.zip");
    write_zip(&zip, &entries);
    let r = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), QUICK).unwrap();
    assert!(!r.is_ok());
    assert!(r.databases[0].integrity.contains("sha256"), "{r}");
}

#[test]
fn missing_and_extra_entries_are_named() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let a = d.path().join("snap/a.db");
    let b = d.path().join("snap/b.db");
    let (entries, _) = good_entries(&[("a.db", a.as_path()), ("b.db", b.as_path())]);
    let without_b: Vec<Entry> =
        entries.into_iter().filter(|e| !matches!(e, Entry::File(n, _) if n == "b.db")).collect();
    let zip = d.path().join("missing.zip");
    write_zip(&zip, &without_b);
    let r = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap();
    assert!(!r.is_ok());
    assert!(r.problems.iter().any(|p| p.contains("b.db") && p.contains("missing")), "{r}");
    assert!(r.databases.iter().any(|v| v.name == "a.db" && v.ok));

    let (mut entries, _) = good_entries(&[("a.db", a.as_path())]);
    entries.push(Entry::File("notes.txt".into(), b"hello".to_vec()));
    let zip = d.path().join("extra.zip");
    write_zip(&zip, &entries);
    let r = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), QUICK).unwrap();
    assert!(!r.is_ok());
    assert!(r.problems.iter().any(|p| p.contains("unexpected entry \"notes.txt\"")), "{r}");
}

#[test]
fn missing_or_bad_manifest() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let a = d.path().join("snap/a.db");
    let (entries, m) = good_entries(&[("a.db", a.as_path())]);
    let no_manifest: Vec<Entry> =
        entries.into_iter().filter(|e| !matches!(e, Entry::File(n, _) if n == MANIFEST_NAME)).collect();
    let zip = d.path().join("nomanifest.zip");
    write_zip(&zip, &no_manifest);
    let r = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), QUICK).unwrap();
    assert!(!r.is_ok());
    assert!(r.manifest.is_none());
    assert!(r.problems.iter().any(|p| p.contains("manifest.json is missing")), "{r}");
    assert!(matches!(
        verify::read_manifest(&stored(&zip), &lifeboat_core::seal::Keys::none()),
        Err(VerifyError::Manifest(..))
    ));

    let mut future = m.clone();
    future.version = 99;
    let zip = d.path().join("future.zip");
    write_zip(
        &zip,
        &[
            Entry::File("a.db".into(), std::fs::read(&a).unwrap()),
            Entry::File(INFO_NAME.into(), b"x".to_vec()),
            Entry::File(MANIFEST_NAME.into(), serde_json::to_vec(&future).unwrap()),
        ],
    );
    let e = verify::read_manifest(&stored(&zip), &lifeboat_core::seal::Keys::none()).unwrap_err();
    assert!(e.to_string().contains("version 99 is not supported"), "{e}");
    let zip = d.path().join("garbage.zip");
    write_zip(&zip, &[Entry::File(MANIFEST_NAME.into(), b"{not json".to_vec())]);
    let e = verify::read_manifest(&stored(&zip), &lifeboat_core::seal::Keys::none()).unwrap_err();
    assert!(e.to_string().contains("does not parse"), "{e}");
}

#[test]
fn truncated_zip_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let (_, zip) = fixture(d.path());
    let len = std::fs::metadata(&zip).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&zip).unwrap();
    f.set_len(len / 2).unwrap();
    let e = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap_err();
    assert!(matches!(e, VerifyError::NotZip(..)), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    let empty = d.path().join("empty.zip");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        verify::verify(&stored(&empty), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), QUICK),
        Err(VerifyError::NotZip(..))
    ));
}

#[test]
fn split_archive_verifies_as_a_set_and_from_its_first_part() {
    let d = tempfile::tempdir().unwrap();
    let (_, zip) = fixture(d.path());
    let out = zip.parent().unwrap().to_path_buf();
    let name = zip.file_name().unwrap().to_str().unwrap().to_string();
    let size = std::fs::metadata(&zip).unwrap().len();
    let parts = parts::split(&zip, &out, &name, size / 3 + 1).unwrap();
    assert_eq!(parts.len(), 3);
    let set = catalog::resolve(&out, "latest").unwrap();
    assert!(set.is_split());
    let r = verify::verify(&set, &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap();
    assert!(r.is_ok(), "{r}");
    let first = catalog::resolve(&out, parts[0].to_str().unwrap()).unwrap();
    assert_eq!(first.files, parts);
    assert!(verify::verify(&first, &lifeboat_core::seal::Keys::none(), &scratch(d.path()), QUICK).unwrap().is_ok());
    // The concatenation is the ZIP the system unzip reads.
    let joined = d.path().join("joined.zip");
    let mut all = Vec::new();
    for p in &parts {
        all.extend(std::fs::read(p).unwrap());
    }
    std::fs::write(&joined, all).unwrap();
    if let Ok(out) = std::process::Command::new("unzip").arg("-tq").arg(&joined).output() {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
    // 7-Zip (p7zip-full in CI) opens the first part of a plain byte split.
    if let Ok(out) = std::process::Command::new("7z").arg("t").arg(&parts[0]).output() {
        assert!(out.status.success(), "7z: {}", String::from_utf8_lossy(&out.stdout));
    }
    // Without its last part, the set no longer reads as a ZIP.
    std::fs::remove_file(&parts[2]).unwrap();
    let broken = catalog::resolve(&out, "latest").unwrap();
    assert!(matches!(
        verify::verify(&broken, &lifeboat_core::seal::Keys::none(), &scratch(d.path()), QUICK),
        Err(VerifyError::NotZip(..))
    ));
}

#[test]
fn hostile_entries_are_reported() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let a = d.path().join("snap/a.db");
    let cases: Vec<(&str, Entry, &str)> = vec![
        ("dotdot", Entry::File("../evil.db".into(), b"x".to_vec()), "not a plain file name"),
        ("absolute", Entry::File("/tmp/evil.db".into(), b"x".to_vec()), "not a plain file name"),
        ("nested", Entry::File("sub/evil.db".into(), b"x".to_vec()), "not a plain file name"),
        ("symlink", Entry::Symlink("link.db".into(), "/etc/passwd".into()), "symbolic link"),
    ];
    for (label, extra, want) in cases {
        let (mut entries, _) = good_entries(&[("a.db", a.as_path())]);
        entries.push(extra);
        let zip = d.path().join(format!("{label}.zip"));
        write_zip(&zip, &entries);
        let scratch = d.path().join(format!("scratch-{label}"));
        let r = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch, FULL).unwrap();
        assert!(!r.is_ok(), "{label}: {r}");
        assert!(r.problems.iter().any(|p| p.contains(want)), "{label}: {r}");
        assert!(!d.path().join("evil.db").exists());
        assert!(!scratch.join("link.db").exists());
    }
}

#[test]
fn duplicate_entry_names_are_refused() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let a = d.path().join("snap/a.db");
    let (mut entries, _) = good_entries(&[("a.db", a.as_path())]);
    // "a.dX" becomes a second "a.db" once the name bytes are patched.
    entries.insert(1, Entry::File("a.dX".into(), b"not the real database".to_vec()));
    let zip = d.path().join("dup.zip");
    write_zip(&zip, &entries);
    assert_eq!(patch_bytes(&zip, b"a.dX", b"a.db"), 2);
    let r = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap();
    assert!(!r.is_ok());
    assert!(r.problems.iter().any(|p| p.contains("same name")), "{r}");
}

#[test]
fn manifest_naming_an_unsafe_path_is_refused() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let a = d.path().join("snap/a.db");
    let mut e = entry_for("../a.db", &a);
    e.name = "../a.db".into();
    let m = manifest(vec![e]);
    let zip = d.path().join("m.zip");
    write_zip(
        &zip,
        &[
            Entry::File("../a.db".into(), std::fs::read(&a).unwrap()),
            Entry::File(MANIFEST_NAME.into(), serde_json::to_vec(&m).unwrap()),
        ],
    );
    let r = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap();
    assert!(!r.is_ok());
    assert!(r.problems.iter().any(|p| p.contains("unsafe entry")), "{r}");
    assert!(!d.path().join("a.db").exists());
}

#[test]
fn a_file_entry_climbing_out_of_its_folder_is_refused() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let a = d.path().join("snap/a.db");
    let bytes = std::fs::read(&a).unwrap();
    for name in ["config/../../a.db", "config//a.db", "/config/a.db", "other/a.db"] {
        let mut e = entry_for(name, &a);
        e.kind = lifeboat_core::manifest::Kind::File;
        e.source = Some("config".into());
        e.tables.clear();
        let m = manifest(vec![e]);
        let zip = d.path().join("f.zip");
        let _ = std::fs::remove_file(&zip);
        write_zip(
            &zip,
            &[
                Entry::File(name.into(), bytes.clone()),
                Entry::File(MANIFEST_NAME.into(), serde_json::to_vec(&m).unwrap()),
            ],
        );
        let r = verify::verify(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap();
        assert!(r.problems.iter().any(|p| p.contains("unsafe entry")), "{name}: {r}");
        assert!(!d.path().join("a.db").exists());
    }
}

#[test]
fn archives_written_by_backup_verify_and_unzip() {
    use chrono::TimeZone;
    let d = tempfile::tempdir().unwrap();
    let (live, _) = fixture(d.path());
    let out = d.path().join("backups");
    let cfg = lifeboat_engine::Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"a.db\", \"b.db\", \"c.db\"]\n",
        live.to_str().unwrap(),
        out.to_str().unwrap()
    ))
    .unwrap();
    let b = backup_at(&cfg, chrono::Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, 0).unwrap());
    let r = verify::verify(&b.archive, &lifeboat_core::seal::Keys::none(), &scratch(d.path()), FULL).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.databases.len(), 3);
    assert_eq!(verify::read_manifest(&b.archive, &lifeboat_core::seal::Keys::none()).unwrap(), b.manifest);
    if let Ok(o) = std::process::Command::new("unzip").arg("-tq").arg(&b.archive.files[0]).output() {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn entry_larger_than_the_manifest_says_is_not_extracted_past_it() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let a = d.path().join("snap/a.db");
    let mut e = entry_for("a.db", &a);
    e.size = 1024;
    let m = manifest(vec![e]);
    let zip = d.path().join("big.zip");
    write_zip(
        &zip,
        &[
            Entry::File("a.db".into(), std::fs::read(&a).unwrap()),
            Entry::File(MANIFEST_NAME.into(), serde_json::to_vec(&m).unwrap()),
        ],
    );
    let (r, kept) =
        verify::verify_and_extract(&stored(&zip), &lifeboat_core::seal::Keys::none(), &scratch(d.path())).unwrap();
    assert!(!r.is_ok());
    assert!(r.databases[0].integrity.contains("more than the 1024 bytes"), "{r}");
    assert!(kept.is_empty());
    assert!(!scratch(d.path()).join("a.db").exists(), "a refused database is not left in scratch");
}

/// A zip-aes archive is sealed throughout: a plaintext entry slipped in
/// beside the encrypted manifest is refused, and the right password opens
/// the rest.
#[test]
fn a_plain_entry_in_an_encrypted_archive_is_refused() {
    use std::io::Read;
    let d = tempfile::tempdir().unwrap();
    let (live, _) = fixture(d.path());
    let pass = d.path().join("pass");
    std::fs::write(&pass, "s3cret-Pa55\n").unwrap();
    let cfg = lifeboat_engine::Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"a.db\", \"b.db\"]\n[encryption]\nmode = \"zip-aes\"\npassword_file = {:?}\n",
        live.to_str().unwrap(),
        d.path().join("backups").to_str().unwrap(),
        pass.to_str().unwrap()
    ))
    .unwrap();
    let keys = &cfg.encryption.keys;
    let b = backup_at(&cfg, chrono::Utc::now());
    assert!(verify::verify(&b.archive, keys, &scratch(d.path()), FULL).unwrap().is_ok());
    assert_eq!(verify::seal_mode(&b.archive), lifeboat_core::seal::Mode::ZipAes);

    // Copy every entry raw, except a.db, which goes in as plaintext.
    let mut src = zip::ZipArchive::new(std::fs::File::open(&b.archive.files[0]).unwrap()).unwrap();
    let mut plain_db = Vec::new();
    src.by_name_decrypt("a.db", b"s3cret-Pa55").unwrap().read_to_end(&mut plain_db).unwrap();
    let tampered = d.path().join(test_archive_name());
    let mut w = zip::ZipWriter::new(std::fs::File::create(&tampered).unwrap());
    for i in 0..src.len() {
        let e = src.by_index_raw(i).unwrap();
        if e.name_raw() == b"a.db" {
            drop(e);
            w.start_file("a.db", zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut w, &plain_db).unwrap();
        } else {
            w.raw_copy_file(e).unwrap();
        }
    }
    w.finish().unwrap();
    let r = verify::verify(&stored(&tampered), keys, &scratch(d.path()), FULL).unwrap();
    assert!(!r.is_ok());
    assert!(r.problems.iter().any(|p| p.contains("\"a.db\" is not encrypted while manifest.json is")), "{r}");
}

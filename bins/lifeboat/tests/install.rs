//! docs/operations.md's install section, run word for word: its package
//! block, with `R` set to a scratch root and its `apt install` line
//! standing for `dpkg --root` into that root (as `config/debian/check-deb`
//! installs the package), then what landed checked: binaries, units,
//! config, the `lifeboat` user in the bot's group, the folders with their
//! owners and modes, the units verified, `--version` from the installed
//! tree.
//!
//! It needs the built package, so it is ignored by a plain `cargo test`:
//! `config/debian/check-deb` builds the package and runs it as
//! `LIFEBOAT_DEB=target/debian/lifeboat_….deb cargo test --workspace --test
//! install -- --ignored`. The tests run as root, as CI does: the block
//! changes owners and groups inside the scratch root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The shell block of docs/operations.md's "1. Install" that starts with
/// `R=`, a line each.
fn install_block() -> Vec<String> {
    let ops = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md")).unwrap();
    let section = ops.split("\n## 1. Install\n").nth(1).expect("docs/operations.md has the install section");
    let section = section.split("\n## ").next().unwrap();
    let block = section
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.starts_with("R="))
        .expect("a shell block starting with R=");
    block.lines().map(str::to_string).collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

/// `name`'s line of the root's `file` (`etc/passwd`, `etc/group`), split.
fn entry(root: &Path, file: &str, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let line = text.lines().find(|l| l.split(':').next() == Some(name));
    line.unwrap_or_else(|| panic!("no {name} in {file}:\n{text}")).split(':').map(str::to_string).collect()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}: {said}");
    said
}

#[test]
#[ignore = "needs the package: config/debian/check-deb builds it and runs this test"]
fn the_install_section_installs_the_package_word_for_word_into_a_scratch_root() {
    let deb = PathBuf::from(std::env::var_os("LIFEBOAT_DEB").expect("LIFEBOAT_DEB names the .deb to install"));
    let deb = std::fs::canonicalize(&deb).unwrap_or_else(|e| panic!("{}: {e}", deb.display()));
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();

    // The machine before the install: a base system (users, dpkg's
    // database, systemd's own units) and the bot, its group owning its
    // database folder.
    for (file, text) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
        ("etc/shadow", "root:*:19000:0:99999:7:::\n"),
        ("etc/gshadow", "root:*::\n"),
        ("var/lib/dpkg/status", ""),
        ("var/lib/dpkg/available", ""),
    ] {
        std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
        std::fs::write(root.join(file), text).unwrap();
    }
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    std::fs::create_dir_all(root.join("lib/systemd")).unwrap();
    run(Command::new("cp").arg("-r").arg("/usr/lib/systemd/system").arg(root.join("lib/systemd/")));
    run(Command::new("groupadd").arg("--prefix").arg(root).args(["--system", "bot"]));
    let bot_gid: u32 = entry(root, "etc/group", "bot")[2].parse().unwrap();
    let data = root.join("srv/bot/sqlite_data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("app.db"), b"").unwrap();
    for p in [&data, &data.join("app.db")] {
        std::os::unix::fs::chown(p, Some(0), Some(bot_gid)).unwrap();
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("app.db"), std::fs::Permissions::from_mode(0o644)).unwrap();

    // The section's block, word for word but for R and the package's
    // install, which goes into the scratch root (it has no libc6 package:
    // the binaries run against this machine's).
    let block = install_block();
    assert_eq!(block[0].split_whitespace().next(), Some("R="), "{block:?}");
    let apt = block
        .iter()
        .position(|l| l.starts_with("sudo apt install ./target/debian/lifeboat_"))
        .unwrap_or_else(|| panic!("the package's install line: {block:?}"));
    let mut script = vec![
        "set -eu".to_string(),
        // The tests run as root.
        "sudo() { \"$@\"; }".to_string(),
        format!("R={}", root.display()),
    ];
    for (i, line) in block.iter().enumerate().skip(1) {
        if i == apt {
            script.push(format!(
                "dpkg --root=\"$R\" --force-script-chrootless --force-depends --log=/dev/null -i {}",
                deb.display()
            ));
        } else {
            script.push(line.clone());
        }
    }
    let out = Command::new("sh").arg("-c").arg(script.join("\n")).current_dir(root).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{}\n{stdout}{stderr}", script.join("\n"));
    // The units are sound: systemd-analyze says nothing about them.
    assert!(!stderr.contains("lifeboat-"), "systemd-analyze verify: {stderr}");
    // The last line: the installed binary runs and names its commit.
    let version = stdout.lines().last().unwrap_or_default();
    assert!(version.starts_with("lifeboat ") && version.contains("commit "), "{stdout}");

    // What landed, with its owners and modes.
    for b in ["lifeboat", "lifeboat-scheduler", "lifeboat-dashboard", "lifeboat-discord"] {
        let p = root.join("usr/bin").join(b);
        assert_eq!((mode(&p), owner(&p)), (0o755, (0, 0)), "{b}");
    }
    for u in ["lifeboat-scheduler.service", "lifeboat-backup.service", "lifeboat-backup.timer"] {
        assert_eq!(mode(&root.join("lib/systemd/system").join(u)), 0o644, "{u}");
    }
    let user = entry(root, "etc/passwd", "lifeboat");
    assert_eq!((user[5].as_str(), user[6].as_str()), ("/var/lib/lifeboat", "/usr/sbin/nologin"), "{user:?}");
    let (uid, gid): (u32, u32) = (user[2].parse().unwrap(), user[3].parse().unwrap());
    assert_eq!(entry(root, "etc/group", "lifeboat")[2], gid.to_string());
    let bot = entry(root, "etc/group", "bot");
    assert!(bot[3].split(',').any(|m| m == "lifeboat"), "lifeboat is in the bot's group: {bot:?}");
    let config = root.join("etc/lifeboat/lifeboat.toml");
    assert_eq!((mode(&config), owner(&config)), (0o640, (0, gid)), "the config: root:lifeboat 0640");
    for d in ["var/lib/lifeboat", "var/lib/lifeboat/backups"] {
        let p = root.join(d);
        assert_eq!((mode(&p), owner(&p)), (0o700, (uid, gid)), "{d}");
    }
    assert_eq!(mode(&data), 0o2775, "the bot's folder: group-writable, new files get its group");
    assert_eq!(mode(&data.join("app.db")), 0o664, "a database already there is group-writable");
    for f in ["usr/share/man/man1/lifeboat.1.gz", "usr/share/doc/lifeboat/operations.md"] {
        assert!(root.join(f).is_file(), "{f}");
    }
}

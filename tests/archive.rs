//! End-to-end tests of `host::archive`: select → write → restore round trips, GNU tar
//! compatibility, hand-made malicious archives (each refused, with the target tree unchanged),
//! and rollback of a promotion that fails half-way.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use runbook::host::archive::{self, restore_into, select, write_tar, FileRecord, SourceSpec};
use tar::{EntryType, Header};

/// What a tree looks like: paths, kinds, contents and link targets.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(String),
}

fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    if std::fs::symlink_metadata(root).is_err() {
        return out;
    }
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(root).unwrap();
        let key: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let ft = entry.file_type();
        let node = if ft.is_symlink() {
            Node::Link(
                std::fs::read_link(entry.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if ft.is_dir() {
            Node::Dir
        } else {
            Node::File(std::fs::read(entry.path()).unwrap())
        };
        out.insert(key.join("/"), node);
    }
    out
}

/// Names in `dir` containing `needle` (staging or aside folders left behind).
fn leftovers(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(needle))
        .collect()
}

fn write(path: &Path, content: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A source tree with nested and empty folders, a long name and (on Unix) a link.
fn make_source(root: &Path) -> String {
    let long = format!("{}/{}.txt", "deep".repeat(30), "n".repeat(120));
    write(&root.join("app/config.toml"), b"port = 8080\n");
    write(&root.join("app/data/one.bin"), &vec![1u8; 300_000]);
    write(&root.join("app/data").join(&long), b"long name");
    std::fs::create_dir_all(root.join("app/empty")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("config.toml", root.join("app/current")).unwrap();
    format!("app/data/{long}")
}

fn backup(root: &Path, paths: &[&str]) -> (Vec<u8>, Vec<FileRecord>) {
    let spec = SourceSpec {
        root: Some(root.to_path_buf()),
        paths: paths.iter().map(PathBuf::from).collect(),
        ..Default::default()
    };
    let sel = select(&spec, SystemTime::now()).unwrap();
    write_tar(&sel, Vec::new(), &mut |_| {}).unwrap()
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[test]
fn round_trip_keeps_uncovered_files_and_sets_previous_ones_aside() {
    let src = tempfile::tempdir().unwrap();
    let long = make_source(src.path());
    let (tar, records) = backup(src.path(), &["app"]);
    assert!(records.iter().any(|r| r.path == long));

    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("restored");
    write(&target.join("app/config.toml"), b"port = 1\n");
    write(&target.join("app/local-only.txt"), b"stays");
    let report = restore_into(tar.as_slice(), &target, &records, None, now()).unwrap();

    let mut want = snapshot(src.path());
    want.insert("app/local-only.txt".into(), Node::File(b"stays".to_vec()));
    assert_eq!(snapshot(&target), want);
    assert_eq!(report.promoted.moved_aside, ["app/config.toml"]);
    let aside = report.promoted.aside.clone().unwrap();
    assert_eq!(aside, archive::aside_dir(&target, now()));
    assert_eq!(
        std::fs::read(aside.join("app/config.toml")).unwrap(),
        b"port = 1\n"
    );
    assert_eq!(report.extracted.files, 3);
    assert!(leftovers(work.path(), "restore-staging").is_empty());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let f = target.join("app/data/one.bin");
        let rec = records
            .iter()
            .find(|r| r.path == "app/data/one.bin")
            .unwrap();
        let meta = std::fs::metadata(&f).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, rec.mode & 0o777);
        let mtime = filetime::FileTime::from_last_modification_time(&meta);
        assert_eq!(mtime.unix_seconds(), rec.mtime);
    }
}

#[test]
fn only_restores_the_named_paths() {
    let src = tempfile::tempdir().unwrap();
    make_source(src.path());
    let (tar, records) = backup(src.path(), &["app"]);
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("t");
    let only = vec!["app/config.toml".to_string(), "app/empty".to_string()];
    let report = restore_into(tar.as_slice(), &target, &records, Some(&only), now()).unwrap();
    let got: Vec<String> = snapshot(&target).into_keys().collect();
    assert_eq!(got, ["", "app", "app/config.toml", "app/empty"]);
    assert!(report.extracted.skipped > 0);

    let bad = vec!["app/nope".to_string()];
    let err = restore_into(tar.as_slice(), &target, &records, Some(&bad), now()).unwrap_err();
    assert!(err.message().contains("app/nope"), "{err}");
}

#[test]
fn gnu_tar_lists_what_write_tar_produced() {
    let Ok(version) = std::process::Command::new("tar").arg("--version").output() else {
        eprintln!("no system tar; skipped");
        return;
    };
    assert!(version.status.success());
    let src = tempfile::tempdir().unwrap();
    let long = make_source(src.path());
    let (tar, records) = backup(src.path(), &["app"]);
    let file = src.path().join("out.tar");
    std::fs::write(&file, &tar).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tvf")
        .arg(&file)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for r in &records {
        assert!(listing.contains(&r.path), "{} not in\n{listing}", r.path);
    }
    assert!(listing.contains(&long));
    assert!(listing.contains("300000"), "{listing}");
    #[cfg(unix)]
    assert!(listing.contains("app/current -> config.toml"), "{listing}");
    // And GNU tar extracts identical content.
    let x = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&file)
        .arg("-C")
        .arg(x.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        snapshot(&x.path().join("app")),
        snapshot(&src.path().join("app"))
    );
}

#[test]
fn the_reader_is_read_to_its_end() {
    struct Tail<R> {
        inner: R,
        eof: bool,
    }
    impl<R: Read> Read for Tail<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            if n == 0 && !buf.is_empty() {
                self.eof = true;
            }
            Ok(n)
        }
    }
    let src = tempfile::tempdir().unwrap();
    make_source(src.path());
    let (mut tar, records) = backup(src.path(), &["app"]);
    tar.extend(vec![0u8; 20_000]); // record padding, as GNU tar writes
    let staging = tempfile::tempdir().unwrap();
    let mut reader = Tail {
        inner: tar.as_slice(),
        eof: false,
    };
    archive::extract_to_staging(&mut reader, staging.path(), &records, None).unwrap();
    assert!(reader.eof);
}

// ---- malicious archives -------------------------------------------------------------------

/// Appends one entry with raw header fields (so `..` and absolute paths can be written).
fn raw_entry(out: &mut Vec<u8>, path: &[u8], kind: EntryType, size: u64, link: &[u8], body: &[u8]) {
    let mut h = Header::new_gnu();
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_600_000_000);
    h.set_uid(0);
    h.set_gid(0);
    if kind == EntryType::Char {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    }
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(body);
    let pad = (512 - body.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn end(mut out: Vec<u8>) -> Vec<u8> {
    out.extend(vec![0u8; 1024]);
    out
}

fn file_record(path: &str, content: &[u8]) -> FileRecord {
    use sha2::Digest;
    FileRecord {
        path: path.into(),
        kind: "file".into(),
        size: content.len() as u64,
        sha256: Some(hex::encode(sha2::Sha256::digest(content))),
        mode: 0o644,
        mtime: 1_600_000_000,
        link_target: None,
    }
}

fn link_record(path: &str, target: &str) -> FileRecord {
    FileRecord {
        path: path.into(),
        kind: "symlink".into(),
        size: 0,
        sha256: None,
        mode: 0o777,
        mtime: 1_600_000_000,
        link_target: Some(target.into()),
    }
}

/// A good entry first, so a partial extraction exists when the bad one is refused.
fn good_first() -> (Vec<u8>, FileRecord) {
    let mut out = Vec::new();
    raw_entry(&mut out, b"good.txt", EntryType::Regular, 3, b"", b"new");
    (out, file_record("good.txt", b"new"))
}

/// Restores `tar` into a prepared target and checks it is refused with `expect` in the message,
/// the target and its surroundings are unchanged and no staging folder is left.
fn assert_refused(tar: &[u8], records: &[FileRecord], expect: &str) {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    write(&target.join("good.txt"), b"old");
    write(&target.join("keep/me.txt"), b"mine");
    let before_target = snapshot(&target);
    let before_work = snapshot(work.path());
    let err = restore_into(tar, &target, records, None, now()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(expect), "expected {expect:?} in: {text}");
    assert!(err.hint().is_some(), "no hint: {text}");
    assert_eq!(snapshot(&target), before_target, "target changed: {text}");
    assert_eq!(
        snapshot(work.path()),
        before_work,
        "surroundings changed: {text}"
    );
    assert!(leftovers(work.path(), "restore-staging").is_empty());
    assert!(leftovers(work.path(), "pre-restore").is_empty());
}

#[test]
fn parent_dir_paths_are_refused() {
    let (mut tar, good) = good_first();
    raw_entry(
        &mut tar,
        b"../evil.txt",
        EntryType::Regular,
        4,
        b"",
        b"evil",
    );
    assert_refused(
        &end(tar),
        &[good.clone(), file_record("evil.txt", b"evil")],
        "`..`",
    );
    let (mut tar, _) = good_first();
    raw_entry(
        &mut tar,
        b"a/../../evil.txt",
        EntryType::Regular,
        4,
        b"",
        b"evil",
    );
    assert_refused(&end(tar), &[good, file_record("evil.txt", b"evil")], "`..`");
}

#[test]
fn absolute_paths_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let abs = outside.path().join("evil.txt");
    let (mut tar, good) = good_first();
    raw_entry(
        &mut tar,
        abs.to_str().unwrap().as_bytes(),
        EntryType::Regular,
        4,
        b"",
        b"evil",
    );
    assert_refused(&end(tar), &[good], "absolute");
    assert!(!abs.exists());
}

#[test]
fn backslash_tricks_are_refused() {
    let (mut tar, good) = good_first();
    raw_entry(
        &mut tar,
        b"..\\evil.txt",
        EntryType::Regular,
        4,
        b"",
        b"evil",
    );
    assert_refused(&end(tar), &[good], "backslash");
}

#[test]
fn escaping_symlinks_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap();
    let (mut tar, good) = good_first();
    raw_entry(
        &mut tar,
        b"out",
        EntryType::Symlink,
        0,
        target.as_bytes(),
        b"",
    );
    raw_entry(&mut tar, b"out/x.txt", EntryType::Regular, 4, b"", b"evil");
    let records = [
        good.clone(),
        link_record("out", target),
        file_record("out/x.txt", b"evil"),
    ];
    assert_refused(&end(tar), &records, "leads outside");

    let (mut tar, _) = good_first();
    raw_entry(&mut tar, b"a/up", EntryType::Symlink, 0, b"../../x", b"");
    assert_refused(
        &end(tar),
        &[good, link_record("a/up", "../../x")],
        "leads outside",
    );
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
}

#[test]
fn files_through_an_extracted_symlink_are_refused() {
    let (mut tar, good) = good_first();
    raw_entry(&mut tar, b"sub", EntryType::Directory, 0, b"", b"");
    raw_entry(&mut tar, b"l", EntryType::Symlink, 0, b"sub", b"");
    raw_entry(&mut tar, b"l/x.txt", EntryType::Regular, 4, b"", b"evil");
    let mut dir = link_record("sub", "");
    dir.kind = "dir".into();
    dir.link_target = None;
    let records = [
        good,
        dir,
        link_record("l", "sub"),
        file_record("l/x.txt", b"evil"),
    ];
    assert_refused(&end(tar), &records, "written through l, which is a link");
}

#[test]
fn hard_links_are_refused() {
    let (mut tar, good) = good_first();
    raw_entry(
        &mut tar,
        b"h",
        EntryType::Link,
        0,
        b"../../../etc/passwd",
        b"",
    );
    assert_refused(&end(tar), std::slice::from_ref(&good), "hard links");
    let (mut tar, _) = good_first();
    raw_entry(&mut tar, b"h", EntryType::Link, 0, b"good.txt", b"");
    assert_refused(&end(tar), &[good], "hard links");
}

#[test]
fn device_nodes_and_fifos_are_refused() {
    let (mut tar, good) = good_first();
    raw_entry(&mut tar, b"null", EntryType::Char, 0, b"", b"");
    assert_refused(&end(tar), std::slice::from_ref(&good), "device nodes");
    let (mut tar, _) = good_first();
    raw_entry(&mut tar, b"pipe", EntryType::Fifo, 0, b"", b"");
    assert_refused(&end(tar), &[good], "FIFO");
}

#[test]
fn a_huge_declared_size_is_refused_before_reading() {
    let (mut tar, good) = good_first();
    raw_entry(
        &mut tar,
        b"big.bin",
        EntryType::Regular,
        1 << 40,
        b"",
        b"tiny",
    );
    assert_refused(
        &end(tar),
        &[good, file_record("big.bin", b"tiny")],
        "declares 1099511627776 bytes",
    );
}

#[test]
fn entries_not_in_the_manifest_are_refused() {
    let (mut tar, good) = good_first();
    raw_entry(&mut tar, b"extra.sh", EntryType::Regular, 4, b"", b"evil");
    assert_refused(&end(tar), &[good], "not in the backup's manifest");
}

#[test]
fn content_mismatch_is_refused() {
    let (mut tar, good) = good_first();
    raw_entry(&mut tar, b"x.txt", EntryType::Regular, 4, b"", b"evil");
    assert_refused(
        &end(tar),
        &[good, file_record("x.txt", b"good")],
        "content differs",
    );
}

#[test]
fn missing_entries_and_trailing_data_are_refused() {
    let (tar, good) = good_first();
    assert_refused(
        &end(tar),
        &[good.clone(), file_record("gone.txt", b"x")],
        "missing from the archive: gone.txt",
    );
    let (tar, _) = good_first();
    let mut tar = end(tar);
    tar.extend_from_slice(b"smuggled");
    assert_refused(&tar, &[good], "after the end of the archive");
}

#[test]
fn a_failed_promotion_rolls_back() {
    let src = tempfile::tempdir().unwrap();
    write(&src.path().join("a.txt"), b"backup a");
    write(&src.path().join("b"), b"backup b is a file");
    write(&src.path().join("c.txt"), b"backup c");
    let (tar, records) = backup(src.path(), &["a.txt", "b", "c.txt"]);

    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("target");
    write(&target.join("a.txt"), b"live a"); // moved aside, then must come back
    write(&target.join("b/inside.txt"), b"live b is a folder"); // where the backup has a file
    let before = snapshot(&target);
    let err = restore_into(tar.as_slice(), &target, &records, None, now()).unwrap_err();
    assert!(
        err.message().contains("is a folder with files in it"),
        "{err}"
    );
    assert!(err.message().contains("rolled back"), "{err}");
    assert_eq!(snapshot(&target), before);
    assert!(leftovers(work.path(), "restore-staging").is_empty());
    assert!(leftovers(work.path(), "pre-restore").is_empty());
}

#[test]
fn restoring_into_a_missing_target_creates_it_and_a_failure_removes_it() {
    let src = tempfile::tempdir().unwrap();
    write(&src.path().join("a.txt"), b"a");
    let (tar, records) = backup(src.path(), &["a.txt"]);
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("new/target");
    let mut bad = records.clone();
    bad[0].sha256 = Some("00".repeat(32));
    assert!(restore_into(tar.as_slice(), &target, &bad, None, now()).is_err());
    assert_eq!(
        snapshot(work.path()).len(),
        1,
        "{:?}",
        snapshot(work.path())
    );
    restore_into(tar.as_slice(), &target, &records, None, now()).unwrap();
    assert_eq!(std::fs::read(target.join("a.txt")).unwrap(), b"a");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn tree() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
        let name = "[a-c]{1,2}";
        let path = prop::collection::vec(name, 1..4).prop_map(|v| v.join("/"));
        prop::collection::btree_map(path, prop::collection::vec(any::<u8>(), 0..2000), 1..8)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_tree_round_trips(files in tree()) {
            let src = tempfile::tempdir().unwrap();
            let root = src.path().join("r");
            std::fs::create_dir(&root).unwrap();
            for (path, content) in &files {
                let p = root.join(path);
                // Skip paths that clash with a file already written as a folder or vice versa.
                if std::fs::create_dir_all(p.parent().unwrap()).is_err() || p.is_dir() {
                    continue;
                }
                std::fs::write(&p, content).unwrap();
            }
            let (tar, records) = backup(&root, &["."]);
            let work = tempfile::tempdir().unwrap();
            let target = work.path().join("t");
            restore_into(tar.as_slice(), &target, &records, None, now()).unwrap();
            prop_assert_eq!(snapshot(&target), snapshot(&root));
        }
    }
}

#[cfg(unix)]
#[test]
fn links_in_the_target_are_never_followed() {
    let src = tempfile::tempdir().unwrap();
    write(&src.path().join("app/x.txt"), b"x");
    let (tar, records) = backup(src.path(), &["app"]);
    let outside = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("t");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(outside.path(), target.join("app")).unwrap();

    // Only the file, not its folder: the link is in the way and is refused.
    let before = snapshot(&target);
    let only = vec!["app/x.txt".to_string()];
    let err = restore_into(tar.as_slice(), &target, &records, Some(&only), now()).unwrap_err();
    assert!(err.message().contains("is a file or link"), "{err}");
    assert_eq!(snapshot(&target), before);

    // The whole backup: the link is set aside and a real folder takes its place.
    let report = restore_into(tar.as_slice(), &target, &records, None, now()).unwrap();
    assert_eq!(report.promoted.moved_aside, ["app"]);
    assert_eq!(std::fs::read(target.join("app/x.txt")).unwrap(), b"x");
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
}

//! The root filesystem checked by e2fsprogs' `e2fsck -fn` and read back with `debugfs`.

#[path = "support/oracle.rs"]
mod oracle;
use oracle::{noise, tool};

use std::path::Path;

use forja::fs::ext4::{self, Ext4Params};

const EPOCH: i64 = 1_700_000_000;

const FILES: &[(&str, u64, usize)] = &[
    ("etc/hostname", 1, 7),
    ("etc/fstab", 2, 300),
    ("usr/lib/libbig.so", 3, 2_500_000),
    ("usr/share/doc/a/README", 4, 5000),
    ("boot/vmlinuz-6.1.0-28-amd64", 5, 800_000),
];

fn make_tree(root: &Path) {
    for (path, seed, len) in FILES {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, noise(*seed, *len)).unwrap();
    }
    for i in 0..200 {
        let p = root.join(format!("usr/share/many/file{i:03}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("{i}\n")).unwrap();
    }
    std::os::unix::fs::symlink("../usr/lib/libbig.so", root.join("etc/link")).unwrap();
    std::fs::create_dir_all(root.join("var/empty")).unwrap();
    // A file from the future, as a clock-skewed build host leaves them.
    let f = std::fs::File::options()
        .write(true)
        .open(root.join("etc/fstab"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(86_400 * 365))
        .unwrap();
}

fn params(epoch: i64, size: u64) -> Ext4Params {
    Ext4Params {
        uuid: forja::ids::guid("test", "fs/root"),
        label: "root".into(),
        epoch,
        size,
    }
}

#[test]
fn e2fsck_is_clean_and_debugfs_reads_files_back_with_clamped_times() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("root");
    make_tree(&tree);
    let usage = ext4::measure_tree(&tree).unwrap();
    let size = usage.filesystem_size();
    // Inside a larger file at a 1 MiB offset, as in disk.raw.
    let disk = dir.path().join("disk.raw");
    let offset = 3 << 20;
    let f = std::fs::File::create(&disk).unwrap();
    f.set_len(offset + size + (1 << 20)).unwrap();
    drop(f);
    ext4::build_at(
        &tree,
        &disk,
        offset,
        &params(EPOCH, size),
        usage.inode_count(),
    )
    .unwrap();
    let dev = ext4::device(&disk, offset);

    let (ok, text, _) = tool("e2fsck", &["-fn", &dev]);
    assert!(ok, "e2fsck -fn:\n{text}");

    for (path, seed, len) in FILES {
        let (ok, text, out) = tool("debugfs", &["-R", &format!("cat /{path}"), &dev]);
        assert!(ok, "{text}");
        assert!(out == noise(*seed, *len), "{path} differs when read back");
    }
    let (_, stat, _) = tool("debugfs", &["-R", "stat /etc/fstab", &dev]);
    for field in ["ctime", "atime", "mtime", "crtime"] {
        let line = stat
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in\n{stat}"));
        assert!(line.contains("0x6553f100:00000000"), "{field}: {line}");
    }
    let (_, link, _) = tool("debugfs", &["-R", "stat /etc/link", &dev]);
    assert!(
        link.contains("Fast link dest: \"../usr/lib/libbig.so\""),
        "{link}"
    );

    // The filesystem stayed inside its region.
    let bytes = std::fs::read(&disk).unwrap();
    assert!(bytes[..offset as usize].iter().all(|&b| b == 0));
    assert!(bytes[(offset + size) as usize..].iter().all(|&b| b == 0));
}

#[test]
fn rebuilds_are_byte_identical_and_the_epoch_shows() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("root");
    make_tree(&tree);
    let usage = ext4::measure_tree(&tree).unwrap();
    let size = usage.filesystem_size();
    let a = dir.path().join("a.img");
    ext4::build_image(&tree, &a, &params(EPOCH, size), &usage).unwrap();
    // New ctimes and atimes on every source file, a second later.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for (path, ..) in FILES {
        let p = tree.join(path);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
    let b = dir.path().join("b.img");
    ext4::build_image(&tree, &b, &params(EPOCH, size), &usage).unwrap();
    let c = dir.path().join("c.img");
    ext4::build_image(&tree, &c, &params(EPOCH + 86_400, size), &usage).unwrap();
    let (a, b, c) = (
        std::fs::read(a).unwrap(),
        std::fs::read(b).unwrap(),
        std::fs::read(c).unwrap(),
    );
    assert!(a == b, "two builds of the same tree differ");
    assert!(a != c, "SOURCE_DATE_EPOCH does not reach the filesystem");
}

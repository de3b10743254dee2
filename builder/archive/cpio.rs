//! A deterministic `newc` cpio writer for the installer's early initramfs: entries in the order given (callers
//! sort them), owner 0:0, one fixed mtime, inode numbers counted from 1. Directories, regular files and symbolic
//! links.
//! The Linux kernel unpacks concatenated archives, so this archive goes first and Debian's own initrd follows.

/// One archive member.
#[derive(Debug, Clone)]
pub enum Member {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    /// A symbolic link to `target` (newc stores the target as the member's data).
    Symlink {
        path: String,
        target: String,
    },
}

/// The archive bytes, padded to a multiple of 512 so the next archive starts aligned.
pub fn archive(members: &[Member], mtime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for (ino, m) in (1u32..).zip(members) {
        let (path, mode, data): (&str, u32, &[u8]) = match m {
            Member::Dir { path, mode } => (path, 0o040000 | mode, &[]),
            Member::File { path, mode, data } => (path, 0o100000 | mode, data),
            Member::Symlink { path, target } => (path, 0o120777, target.as_bytes()),
        };
        header(&mut out, ino, mode, mtime, path, data);
    }
    header(&mut out, 0, 0, 0, "TRAILER!!!", &[]);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn header(out: &mut Vec<u8>, ino: u32, mode: u32, mtime: u64, name: &str, data: &[u8]) {
    let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        u32::try_from(mtime).unwrap_or(u32::MAX),
        u32::try_from(data.len()).expect("initrd members are small"),
        0,
        0,
        0,
        0,
        u32::try_from(name.len() + 1).expect("short names"),
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(4) * 4, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_tool_reads_it_back() {
        let a = archive(
            &[
                Member::Dir {
                    path: "forja".into(),
                    mode: 0o755,
                },
                Member::File {
                    path: "forja/init".into(),
                    mode: 0o755,
                    data: b"#!/bin/sh\necho hi\n".to_vec(),
                },
            ],
            1_700_000_000,
        );
        assert_eq!(a.len() % 512, 0);
        assert_eq!(a[..6], *b"070701");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.cpio"), &a).unwrap();
        let out = std::process::Command::new("cpio")
            .args(["-t", "-v", "-F"])
            .arg(dir.path().join("a.cpio"))
            .output();
        let Ok(out) = out else { return }; // cpio is an oracle, not a dependency
        let list = String::from_utf8_lossy(&out.stdout);
        assert!(list.contains("forja/init"), "{list}");
        assert!(list.contains("rwxr-xr-x"), "{list}");
    }
}

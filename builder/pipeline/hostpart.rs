//! The build side of a site host's part ([`crate::plan::HostPart`]): its files are written into a tree of their
//! own instead of the root, the root gets the links, and the tree becomes the archive the host's unified kernel
//! images carry ahead of Debian's initrd.

use std::path::{Path, PathBuf};

use crate::archive::cpio::{self, Member};
use crate::compose::tree;
use crate::plan::{GenFile, HostPart};

/// The host part's tree in the work folder: `run/...`, as the files are at run time.
const TREE: &str = "host";
/// The host archive the host's images carry ahead of Debian's initrd.
const ARCHIVE: &str = "initrd-host.cpio";

/// A generated file and its text (none for links and removals), as the compose stage has them.
pub type Rendered<'a> = (&'a GenFile, Option<String>);

/// The generated files split into what the root keeps and the host's own (moved to their run-time paths).
pub fn split<'a>(
    part: &HostPart,
    files: &[Rendered<'a>],
) -> (Vec<Rendered<'a>>, Vec<(GenFile, Option<String>)>) {
    let mut shared: Vec<Rendered<'a>> = Vec::new();
    let mut own: Vec<(GenFile, Option<String>)> = Vec::new();
    for (f, text) in files {
        match part.place(&f.path) {
            Some((_, at)) => own.push((
                GenFile {
                    path: at,
                    ..(*f).clone()
                },
                text.clone(),
            )),
            None => shared.push((*f, text.clone())),
        }
    }
    (shared, own)
}

/// Writes the host's own files into the host tree in `work`, at their run-time paths.
pub fn write_own(own: &[(GenFile, Option<String>)], work: &Path) -> anyhow::Result<()> {
    let host = work.join(TREE);
    fs_err::create_dir_all(&host)?;
    let own: Vec<Rendered<'_>> = own.iter().map(|(f, t)| (f, t.clone())).collect();
    tree::write_generated(&host, &own)
}

/// Writes what the root keeps into `root`, then the root's links for the linked moves. Every host of a site gets
/// every link, whether or not it has the file, so the roots stay the same bytes.
pub fn write_shared(part: &HostPart, root: &Path, shared: &[Rendered<'_>]) -> anyhow::Result<()> {
    tree::write_generated(root, shared)?;
    let links: Vec<GenFile> = part
        .moves
        .iter()
        .filter(|m| m.link)
        .map(|m| GenFile::symlink(&m.path, &m.to))
        .collect();
    let links: Vec<Rendered<'_>> = links.iter().map(|l| (l, None)).collect();
    tree::write_generated(root, &links)
}

/// The host tree as the initrd archive: a `newc` cpio holding one member, the archive of `run/` (unpacked by the
/// `forja-host` initramfs script with klibc's `cpio -i`, which makes no folders itself: they come first).
pub fn archive(part: &HostPart, work: &Path, epoch: u64) -> anyhow::Result<Vec<u8>> {
    let run = work.join(TREE).join("run");
    let mut members = Vec::new();
    if run.is_dir() {
        walk(&run, "", &mut members)?;
    }
    let inner = cpio::archive(&members, epoch);
    Ok(cpio::archive(
        &[Member::File {
            path: part.archive.trim_start_matches('/').to_owned(),
            mode: 0o600,
            data: inner,
        }],
        epoch,
    ))
}

/// `dir`'s members under `prefix`, sorted by name, each folder before what it holds.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<Member>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = fs_err::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs_err::symlink_metadata(e.path())?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
        if meta.file_type().is_symlink() {
            let target = fs_err::read_link(e.path())?;
            out.push(Member::Symlink {
                path,
                target: target.to_string_lossy().into_owned(),
            });
        } else if meta.is_dir() {
            out.push(Member::Dir {
                path: path.clone(),
                mode,
            });
            walk(&e.path(), &path, out)?;
        } else {
            let data = fs_err::read(e.path())?;
            out.push(Member::File { path, mode, data });
        }
    }
    Ok(())
}

/// The host's initrd as its pieces: its archive, written into the work folder, then `base_initrd` (the unified
/// kernel image concatenates them, so the whole initrd is never written on its own). Both slots' images carry the
/// same one, so the second call finds the archive made (the work folder is new for every build).
pub fn initrd(
    part: &HostPart,
    base_initrd: &Path,
    work: &Path,
    epoch: u64,
) -> anyhow::Result<[PathBuf; 2]> {
    let out = work.join(ARCHIVE);
    if !out.is_file() {
        fs_err::write(&out, archive(part, work, epoch)?)?;
    }
    Ok([out, base_initrd.to_owned()])
}

/// Debian's initrd out of a host's image initrd: the bytes after a leading host archive (a `newc` archive whose one
/// member is `archive`), or all of them when there is none. The installers boot with it: every host of a site
/// then has the same one, and no host's files reach an installer.
pub fn without_host_archive<'a>(initrd: &'a [u8], archive: &str) -> &'a [u8] {
    let name = archive.trim_start_matches('/');
    let mut at = 0usize;
    let mut members = 0;
    loop {
        let Some((member, next)) = newc_member(initrd, at) else {
            return initrd;
        };
        if member == "TRAILER!!!" {
            // The writer pads an archive to 512 bytes ([`cpio::archive`]).
            let end = next.div_ceil(512) * 512;
            return if members == 1 && end <= initrd.len() {
                &initrd[end..]
            } else {
                initrd
            };
        }
        if member != name || members > 0 {
            return initrd;
        }
        members += 1;
        at = next;
    }
}

/// The name of the `newc` member at `at` and where the next one starts.
fn newc_member(b: &[u8], at: usize) -> Option<(&str, usize)> {
    let h = b.get(at..at + 110)?;
    if &h[..6] != b"070701" {
        return None;
    }
    let field = |i: usize| -> Option<usize> {
        let s = std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).ok()?;
        usize::from_str_radix(s, 16).ok()
    };
    let (size, namesize) = (field(6)?, field(11)?);
    let name = b.get(at + 110..at + 110 + namesize.checked_sub(1)?)?;
    let data = (at + 110 + namesize).div_ceil(4) * 4;
    let next = data.checked_add(size)?.div_ceil(4) * 4;
    Some((std::str::from_utf8(name).ok()?, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::HostMove;

    fn part() -> HostPart {
        let mv = |path: &str, to: &str, link| HostMove {
            path: path.into(),
            to: to.into(),
            link,
        };
        HostPart {
            archive: "/forja-host.cpio".into(),
            moves: vec![
                mv("/etc/hostname", "/run/forja/host/etc/hostname", true),
                mv("/etc/hosts", "/run/forja/host/etc/hosts", true),
                mv("/etc/systemd/network", "/run/systemd/network", false),
                mv(
                    "/etc/systemd/system/timers.target.wants/x.timer",
                    "/run/systemd/system/timers.target.wants/x.timer",
                    false,
                ),
            ],
        }
    }

    /// klibc's `cpio -i` (what the initrd runs) reading `archive` in `dir`.
    fn klibc_unpack(archive: &Path, dir: &Path) {
        let cpio = Path::new("/usr/lib/klibc/bin/cpio");
        assert!(
            cpio.exists(),
            "{} is missing: install klibc-utils (ci/packages.txt)",
            cpio.display()
        );
        let st = std::process::Command::new(cpio)
            .arg("-i")
            .current_dir(dir)
            .stdin(std::fs::File::open(archive).unwrap())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "klibc cpio -i failed on {}",
            archive.display()
        );
    }

    #[test]
    fn host_files_leave_the_root_and_unpack_with_the_initrds_cpio() {
        let d = tempfile::tempdir().unwrap();
        let (root, work) = (d.path().join("root"), d.path().join("work"));
        fs_err::create_dir_all(root.join("etc")).unwrap();
        // The base has its own /etc/hostname: the link replaces it.
        fs_err::write(root.join("etc/hostname"), "debian\n").unwrap();
        let files = [
            GenFile::text("/etc/hostname", 0o644, "kvm-lab-2\n", &[]),
            GenFile::text("/etc/nftables.conf", 0o600, "table inet x {}\n", &[]),
            GenFile::text("/etc/systemd/network/10-mgmt.link", 0o644, "[Match]\n", &[]),
            GenFile::wants("timers.target", "x.timer", "/usr/lib/systemd/system"),
        ];
        let rendered: Vec<Rendered<'_>> = files
            .iter()
            .map(|f| match &f.kind {
                crate::plan::GenKind::File(t) => (f, Some(t.clone())),
                _ => (f, None),
            })
            .collect();
        let (shared, own) = split(&part(), &rendered);
        write_own(&own, &work).unwrap();
        write_shared(&part(), &root, &shared).unwrap();
        // The root: the shared file, links for every linked move (this host has no /etc/hosts: a link anyway),
        // nothing where systemd also looks in /run.
        assert!(root.join("etc/nftables.conf").is_file());
        for (at, to) in [
            ("etc/hostname", "/run/forja/host/etc/hostname"),
            ("etc/hosts", "/run/forja/host/etc/hosts"),
        ] {
            assert_eq!(fs_err::read_link(root.join(at)).unwrap(), Path::new(to));
        }
        assert!(!root.join("etc/systemd").exists());
        // The archive, unpacked as the initrd does: the outer member, then the inner archive in /run.
        let bytes = archive(&part(), &work, 1_700_000_000).unwrap();
        assert_eq!(
            bytes,
            archive(&part(), &work, 1_700_000_000).unwrap(),
            "deterministic"
        );
        let (outer, run) = (d.path().join("initrd"), d.path().join("run"));
        fs_err::create_dir_all(&outer).unwrap();
        fs_err::create_dir_all(run.join("systemd")).unwrap(); // a folder /run may have already
        fs_err::write(d.path().join("a.cpio"), &bytes).unwrap();
        klibc_unpack(&d.path().join("a.cpio"), &outer);
        klibc_unpack(&outer.join("forja-host.cpio"), &run);
        assert_eq!(
            fs_err::read_to_string(run.join("forja/host/etc/hostname")).unwrap(),
            "kvm-lab-2\n"
        );
        let link = run.join("systemd/network/10-mgmt.link");
        assert_eq!(fs_err::read_to_string(&link).unwrap(), "[Match]\n");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs_err::metadata(&link).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(
            fs_err::read_link(run.join("systemd/system/timers.target.wants/x.timer")).unwrap(),
            Path::new("/usr/lib/systemd/system/x.timer")
        );
        // The installers take Debian's initrd back out of the host's.
        let debian = b"\x28\xb5\x2f\xfd not a host archive".to_vec();
        let mut joined = bytes.clone();
        joined.extend(&debian);
        assert_eq!(
            without_host_archive(&joined, "/forja-host.cpio"),
            &debian[..]
        );
        assert_eq!(
            without_host_archive(&debian, "/forja-host.cpio"),
            &debian[..]
        );
        // An archive with other members (the installer's own) is not a host archive.
        let other = cpio::archive(
            &[Member::Dir {
                path: "forja".into(),
                mode: 0o755,
            }],
            1,
        );
        assert_eq!(without_host_archive(&other, "/forja-host.cpio"), &other[..]);
    }
}

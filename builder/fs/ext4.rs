//! The root filesystem: ext4 made by `mkfs.ext4 -d DIR` (the reference implementation) into a plain file, with
//! every source of non-determinism pinned.
//!
//! - UUID and directory hash seed from the profile (`-U`, `-E hash_seed=`); metadata checksums follow from them.
//! - `E2FSPROGS_FAKE_TIME=SOURCE_DATE_EPOCH` for superblock times and every inode's crtime.
//! - Features, block and inode size from a config forja writes (`MKE2FS_CONFIG`), not the host's
//!   `/etc/mke2fs.conf`; the inode count is explicit (`-N`).
//! - `mkfs -d` copies host atimes and ctimes into the inodes. ctime cannot be set from user space, so after mkfs
//!   a `debugfs -w` pass sets atime and ctime of every in-use inode (found by parsing `dumpe2fs`) to the epoch.
//!   Before mkfs, mtimes newer than the epoch are clamped in the source tree ([`clamp_tree_mtimes`]).
//!
//! The filesystem is written straight into `disk.raw` at the partition's offset (`mkfs -E offset=`, and the
//! `FILE?offset=N` device syntax of debugfs, dumpe2fs and e2fsck), so it is never copied. Patching the inode
//! tables in Rust (and recomputing the crc32c inode checksums) was considered and not done: measured on a
//! 688 MB tree of 51k inodes, dumpe2fs + script took 0.5 s and the debugfs pass 0.3 s, against about a minute
//! for `mkfs.ext4 -d` itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Exit, fail};
use crate::exec::Task;

/// Filesystem block size.
pub const BLOCK: u64 = 4096;
const INODE_SIZE: u64 = 256;

/// Pinned mke2fs defaults (Debian 12's ext4 feature set, without `orphan_file`, which older kernels lack).
const MKE2FS_CONF: &str = "\
[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384
\treserved_ratio = 5.0
\tlazy_itable_init = false
\tlazy_journal_init = false
[fs_types]
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
";

/// The filesystem's identity and size.
#[derive(Debug, Clone, Serialize)]
pub struct Ext4Params {
    pub uuid: Uuid,
    /// Up to 16 bytes.
    pub label: String,
    /// SOURCE_DATE_EPOCH.
    pub epoch: i64,
    /// Bytes, a multiple of [`BLOCK`].
    pub size: u64,
}

/// What a source tree needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TreeUsage {
    /// Bytes in blocks of [`BLOCK`] (files rounded up, directories one block each).
    pub block_bytes: u64,
    pub inodes: u64,
}

impl TreeUsage {
    /// Filesystem size with headroom: 30% on data and inode tables, plus 64 MiB for the journal and metadata,
    /// rounded up to 1 MiB.
    pub fn filesystem_size(&self) -> u64 {
        let need = self.block_bytes + self.inode_count() * INODE_SIZE;
        let size = need + need * 3 / 10 + (64 << 20);
        size.div_ceil(1 << 20) << 20
    }

    /// Inodes to create: the tree's with 50% headroom, at least the mke2fs default for the size.
    pub fn inode_count(&self) -> u64 {
        (self.inodes * 3 / 2 + 1024).max(16_384)
    }
}

/// Walks `tree` (without following symlinks) and measures it.
pub fn measure_tree(tree: &Path) -> anyhow::Result<TreeUsage> {
    let mut u = TreeUsage {
        block_bytes: 0,
        inodes: 0,
    };
    walk(tree, &mut |_, meta| {
        u.inodes += 1;
        u.block_bytes += if meta.is_dir() {
            BLOCK
        } else {
            meta.len().div_ceil(BLOCK) * BLOCK
        };
        Ok(())
    })?;
    Ok(u)
}

/// Sets the mtime (and atime) of every entry newer than `epoch` to `epoch`; returns how many changed.
pub fn clamp_tree_mtimes(tree: &Path, epoch: i64) -> anyhow::Result<u64> {
    let t = filetime::FileTime::from_unix_time(epoch, 0);
    let mut changed = 0;
    walk(tree, &mut |path, meta| {
        let m = filetime::FileTime::from_last_modification_time(meta);
        if m > t {
            filetime::set_symlink_file_times(path, t, t)
                .with_context(|| format!("clamping the mtime of {}", path.display()))?;
            changed += 1;
        }
        Ok(())
    })?;
    Ok(changed)
}

fn walk(
    path: &Path,
    f: &mut dyn FnMut(&Path, &std::fs::Metadata) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let meta =
        fs_err::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    f(path, &meta)?;
    if meta.is_dir() {
        let mut children: Vec<PathBuf> = fs_err::read_dir(path)
            .with_context(|| format!("listing {}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("listing {}", path.display()))?;
        children.sort();
        for c in children {
            walk(&c, f)?;
        }
    }
    Ok(())
}

/// The device string e2fsprogs tools take for a filesystem at `offset` bytes into `file`.
pub fn device(file: &Path, offset: u64) -> String {
    if offset == 0 {
        file.display().to_string()
    } else {
        format!("{}?offset={offset}", file.display())
    }
}

/// Builds the filesystem from `tree` at byte `offset` of `file`, which must exist and be at least
/// `offset + params.size` bytes long (the region is overwritten), with `inodes` inodes
/// ([`TreeUsage::inode_count`]). Source mtimes are clamped first.
pub fn build_at(
    tree: &Path,
    file: &Path,
    offset: u64,
    params: &Ext4Params,
    inodes: u64,
) -> anyhow::Result<()> {
    if params.size % BLOCK != 0 || offset % BLOCK != 0 {
        return Err(fail(
            Exit::Internal,
            format!(
                "ext4 size {} and offset {offset} must be multiples of {BLOCK}",
                params.size
            ),
        ));
    }
    if params.label.len() > 16 {
        return Err(fail(
            Exit::Input,
            format!("ext4 label {:?} is longer than 16 bytes", params.label),
        ));
    }
    clamp_tree_mtimes(tree, params.epoch)?;
    let conf_dir = tempfile::tempdir().context("creating a temporary folder")?;
    let conf = conf_dir.path().join("mke2fs.conf");
    fs_err::write(&conf, MKE2FS_CONF).context("writing mke2fs.conf")?;
    let epoch = params.epoch.to_string();
    let mut extended = format!("hash_seed={},root_owner=0:0", params.uuid);
    if offset > 0 {
        write!(extended, ",offset={offset}").expect("string write");
    }
    Task::new("creating the root filesystem (mkfs.ext4 -d)", "mkfs.ext4")
        .env("MKE2FS_CONFIG", &conf)
        .env("E2FSPROGS_FAKE_TIME", &epoch)
        .args(["-q", "-F", "-t", "ext4", "-L", &params.label])
        .args(["-U", &params.uuid.to_string()])
        .args(["-N", &inodes.to_string()])
        .args(["-E", &extended, "-d"])
        .arg(tree)
        .arg(file)
        .arg(format!("{}k", params.size / 1024))
        .run()?;
    clamp_inode_times(&device(file, offset), params.epoch)
}

/// Builds the filesystem as a standalone file of `params.size` bytes.
pub fn build_image(
    tree: &Path,
    path: &Path,
    params: &Ext4Params,
    usage: &TreeUsage,
) -> anyhow::Result<()> {
    let f = fs_err::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    f.set_len(params.size)?;
    drop(f);
    build_at(tree, path, 0, params, usage.inode_count())
}

/// Sets atime and ctime of every in-use inode to `epoch` with one `debugfs -w` run.
pub fn clamp_inode_times(dev: &str, epoch: i64) -> anyhow::Result<()> {
    let out = Task::new("listing in-use inodes (dumpe2fs)", "dumpe2fs")
        .arg(dev)
        .run()?;
    let inodes = used_inodes(&out.stdout_str())?;
    let mut script = String::with_capacity(inodes.len() * 48);
    for i in inodes {
        writeln!(script, "sif <{i}> ctime @{epoch}\nsif <{i}> atime @{epoch}")
            .expect("string write");
    }
    let script_file = tempfile::NamedTempFile::new().context("creating the debugfs script")?;
    fs_err::write(script_file.path(), script).context("writing the debugfs script")?;
    let out = Task::new("clamping inode times (debugfs)", "debugfs")
        .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
        .args(["-w", "-f"])
        .arg(script_file.path())
        .arg(dev)
        .run()?;
    // debugfs reports command errors on stderr but exits 0.
    let errors: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if !errors.is_empty() {
        return Err(fail(
            Exit::Tool,
            format!(
                "clamping inode times (debugfs): {}",
                errors[..errors.len().min(5)].join("; ")
            ),
        ));
    }
    Ok(())
}

/// In-use inode numbers from `dumpe2fs` output: every inode of an initialised group not listed as free.
pub fn used_inodes(dumpe2fs: &str) -> anyhow::Result<Vec<u64>> {
    let bad = |what: &str| fail(Exit::Tool, format!("unexpected dumpe2fs output: {what}"));
    let per_group: u64 = dumpe2fs
        .lines()
        .find_map(|l| l.strip_prefix("Inodes per group:"))
        .ok_or_else(|| bad("no 'Inodes per group'"))?
        .trim()
        .parse()
        .map_err(|_| bad("'Inodes per group' is not a number"))?;
    let mut used = Vec::new();
    let mut group: Option<(u64, bool)> = None; // (number, inodes initialised)
    for line in dumpe2fs.lines() {
        let group_line = line
            .strip_prefix("Group ")
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        if let Some(rest) = group_line {
            let (n, tail) = rest.split_once(':').ok_or_else(|| bad(line))?;
            let n: u64 = n.trim().parse().map_err(|_| bad(line))?;
            group = Some((n, !tail.contains("INODE_UNINIT")));
        } else if let Some(list) = line.trim_start().strip_prefix("Free inodes:") {
            // Also matches the superblock's "Free inodes: N" before any group: no group yet, skipped.
            let Some((n, initialised)) = group.take() else {
                continue;
            };
            if !initialised {
                continue;
            }
            let mut free = Vec::new();
            for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                let a: u64 = a.parse().map_err(|_| bad(line))?;
                let b: u64 = b.parse().map_err(|_| bad(line))?;
                free.push((a, b));
            }
            let first = n * per_group + 1;
            for i in first..first + per_group {
                if !free.iter().any(|&(a, b)| (a..=b).contains(&i)) {
                    used.push(i);
                }
            }
        }
    }
    if used.is_empty() {
        return Err(bad("no in-use inodes"));
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_inodes_skip_free_and_uninitialised_groups() {
        let text = "\
Free inodes:              5099
Inodes per group:         8
Group descriptor size:    64
Group 0: (Blocks 1-8192) csum 0x3ce1 [ITABLE_ZEROED]
  Free blocks: 1-3
  Free inodes: 4-5, 8
Group 1: (Blocks 8193-16384) csum 0x1f9d [INODE_UNINIT, ITABLE_ZEROED]
  Free inodes: 9-16
Group 2: (Blocks 16385-20479) csum 0xef00 [ITABLE_ZEROED]
  Free inodes: 
";
        assert_eq!(
            used_inodes(text).unwrap(),
            vec![1, 2, 3, 6, 7, 17, 18, 19, 20, 21, 22, 23, 24]
        );
    }

    #[test]
    fn size_has_headroom() {
        let u = TreeUsage {
            block_bytes: 100 << 20,
            inodes: 1000,
        };
        let s = u.filesystem_size();
        assert!(s > 130 << 20 && s % (1 << 20) == 0, "{s}");
        assert_eq!(u.inode_count(), 16_384);
    }
}

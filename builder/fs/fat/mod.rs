//! A write-once FAT32 writer for the ESP: a file list in, a complete filesystem out, deterministic by construction.
//!
//! Why our own: the `fatfs` crate (0.3.6, its latest release) writes subdirectories whose `.`/`..` entries
//! `fsck.fat -n` rejects (`tests/disk_fatfs_proof.rs` keeps the evidence), and a mutable filesystem library is
//! more than we need. This writer lays everything out contiguously in one pass: the root directory at cluster 2,
//! then, depth first in byte order of names, each directory followed by its files and subdirectories. All
//! timestamps are `SOURCE_DATE_EPOCH`, the volume id comes from the profile ([`crate::ids::volume_id`]).
//!
//! Names that are not upper-case 8.3 get VFAT long-name entries plus a `~N` short alias. Names that differ only
//! in case are refused (FAT is case-insensitive). Not supported, on purpose: modifying an existing volume,
//! FAT12/16, attributes other than directory/archive, sizes below the FAT32 minimum of 65525 clusters.
//!
//! The writer writes only non-zero structures (boot sectors, FSInfo, the used part of both FATs, directories,
//! file data), so the target region must read as zeros: a fresh sparse `disk.raw` does.

use fs_err::File;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::error::{Exit, fail};

mod dirent;
use dirent::{Stamp, dos_datetime, lfn_entries, short_entry, short_name};

const SECTOR: u64 = 512;
const RESERVED_SECTORS: u64 = 32;
const NUM_FATS: u64 = 2;
const MIN_CLUSTERS: u64 = 65525;
const MAX_CLUSTERS: u64 = 0x0FFF_FFF5 - 2;
const EOC: u32 = 0x0FFF_FFFF;
const ROOT_CLUSTER: u32 = 2;
const ATTR_DIR: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_LFN: u8 = 0x0F;
const DIRENT: usize = 32;

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    Bytes(Vec<u8>),
    /// Read when the volume is written; its length is taken when the file is added and checked again.
    File(PathBuf),
}

#[derive(Debug)]
enum Node {
    Dir(BTreeMap<String, Node>),
    File { source: Source, len: u64 },
}

/// The volume's parameters.
#[derive(Debug, Clone)]
pub struct FatParams {
    /// Bytes, a multiple of 512.
    pub size: u64,
    pub volume_id: u32,
    /// Up to 11 characters, upper-case ASCII letters, digits, space, `_` and `-`.
    pub label: String,
    /// Every timestamp in the volume (SOURCE_DATE_EPOCH), between 1980 and 2107.
    pub epoch: i64,
    /// Sectors before the volume on the disk (the partition's first LBA), stored in the boot sector.
    pub hidden_sectors: u32,
}

/// What was written, for the plan and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FatLayout {
    pub cluster_size: u64,
    pub clusters: u64,
    pub fat_sectors: u64,
    pub used_clusters: u64,
}

/// The file list of a FAT volume: directories and files with their contents.
#[derive(Debug)]
pub struct FatTree {
    root: BTreeMap<String, Node>,
}

impl Default for FatTree {
    fn default() -> Self {
        Self::new()
    }
}

impl FatTree {
    pub fn new() -> Self {
        FatTree {
            root: BTreeMap::new(),
        }
    }

    /// Adds a directory (and its parents). `path` uses `/`, e.g. `EFI/BOOT`.
    pub fn add_dir(&mut self, path: &str) -> anyhow::Result<()> {
        self.dir_mut(&components(path)?).map(|_| ())
    }

    /// Adds a file with the given bytes, creating parent directories.
    pub fn add_bytes(&mut self, path: &str, bytes: impl Into<Vec<u8>>) -> anyhow::Result<()> {
        let bytes = bytes.into();
        let len = bytes.len() as u64;
        self.add(path, Source::Bytes(bytes), len)
    }

    /// Adds a file copied from `source` on the host, creating parent directories.
    pub fn add_file(&mut self, path: &str, source: impl AsRef<Path>) -> anyhow::Result<()> {
        let source = source.as_ref().to_owned();
        let meta = fs_err::metadata(&source)
            .with_context(|| format!("reading {} for the ESP", source.display()))?;
        if !meta.is_file() {
            return Err(fail(
                Exit::Input,
                format!("{}: not a regular file", source.display()),
            ));
        }
        self.add(path, Source::File(source), meta.len())
    }

    fn add(&mut self, path: &str, source: Source, len: u64) -> anyhow::Result<()> {
        if len > u64::from(u32::MAX) {
            return Err(fail(
                Exit::Input,
                format!("ESP file {path}: {len} bytes is over the FAT32 limit of 4 GiB - 1"),
            ));
        }
        let mut parts = components(path)?;
        let name = parts.pop().expect("components are never empty");
        let dir = self.dir_mut(&parts)?;
        insert(dir, path, name, Node::File { source, len })
    }

    fn dir_mut(&mut self, parts: &[String]) -> anyhow::Result<&mut BTreeMap<String, Node>> {
        let mut dir = &mut self.root;
        for (i, p) in parts.iter().enumerate() {
            let shown = parts[..=i].join("/");
            if !dir.contains_key(p) {
                insert(dir, &shown, p.clone(), Node::Dir(BTreeMap::new()))?;
            }
            dir = match dir.get_mut(p) {
                Some(Node::Dir(d)) => d,
                _ => {
                    return Err(fail(
                        Exit::Input,
                        format!("ESP path {shown} is a file, not a directory"),
                    ));
                }
            };
        }
        Ok(dir)
    }

    /// Writes the volume at byte `base` of `out`; the region `base..base + params.size` must read as zeros.
    pub fn write<W: Write + Seek>(
        &self,
        out: &mut W,
        base: u64,
        params: &FatParams,
    ) -> anyhow::Result<FatLayout> {
        let geo = Geometry::for_size(params.size)?;
        let label = label_bytes(&params.label)?;
        let (date, time) = dos_datetime(params.epoch)?;
        let stamp = Stamp { date, time };

        // Plan: cluster chains for every directory and file, depth first.
        let mut plan = Plan {
            next: ROOT_CLUSTER,
            cluster_size: geo.cluster_size,
            extents: Vec::new(),
        };
        let root = plan_dir(&mut plan, &self.root, None, Some(label), stamp)?;
        let used = u64::from(plan.next - ROOT_CLUSTER);
        if used > geo.clusters {
            return Err(fail(
                Exit::Input,
                format!(
                    "ESP of {} MiB is too small: its files need {} of {} clusters of {} bytes",
                    params.size >> 20,
                    used,
                    geo.clusters,
                    geo.cluster_size
                ),
            ));
        }

        // Boot sector, FSInfo and their backups at sectors 6 and 7.
        let boot = boot_sector(&geo, params, &label);
        let free = geo.clusters - used;
        let next_free = if free > 0 { plan.next } else { u32::MAX };
        let info = fsinfo(free as u32, next_free);
        for first in [0, 6] {
            put(out, base + first * SECTOR, &boot)?;
            put(out, base + (first + 1) * SECTOR, &info)?;
        }

        // Both FATs: only the used entries (the rest is zero = free).
        let mut fat = Vec::with_capacity((used as usize + 2) * 4);
        fat.extend_from_slice(&0x0FFF_FFF8u32.to_le_bytes());
        fat.extend_from_slice(&EOC.to_le_bytes());
        for e in &plan.extents {
            for i in 0..e.clusters {
                let c = e.first + i;
                let v = if i + 1 == e.clusters { EOC } else { c + 1 };
                fat.extend_from_slice(&v.to_le_bytes());
            }
        }
        for n in 0..NUM_FATS {
            put(
                out,
                base + (RESERVED_SECTORS + n * geo.fat_sectors) * SECTOR,
                &fat,
            )?;
        }

        // Directories and file data.
        let data = base + geo.data_start();
        let cluster_offset = |c: u32| data + u64::from(c - ROOT_CLUSTER) * geo.cluster_size;
        let mut buf = vec![0u8; 1 << 20];
        for e in &plan.extents {
            match &e.content {
                Content::Dir(bytes) => put(out, cluster_offset(e.first), bytes)?,
                Content::File(node) => {
                    copy_file(out, cluster_offset(e.first), node, &mut buf)?;
                }
            }
        }
        debug_assert_eq!(root, ROOT_CLUSTER);
        Ok(FatLayout {
            cluster_size: geo.cluster_size,
            clusters: geo.clusters,
            fat_sectors: geo.fat_sectors,
            used_clusters: used,
        })
    }

    /// Writes the volume as a standalone image file of `params.size` bytes (sparse).
    pub fn write_image(&self, path: &Path, params: &FatParams) -> anyhow::Result<FatLayout> {
        let mut f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        f.set_len(params.size)
            .with_context(|| format!("sizing {}", path.display()))?;
        let layout = self.write(&mut f, 0, params)?;
        f.sync_all()?;
        Ok(layout)
    }
}

fn components(path: &str) -> anyhow::Result<Vec<String>> {
    let parts: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if parts.is_empty() {
        return Err(fail(Exit::Input, format!("ESP path {path:?} is empty")));
    }
    for p in &parts {
        let bad = p == "."
            || p == ".."
            || p.encode_utf16().count() > 255
            || p.ends_with('.')
            || p.ends_with(' ')
            || p.chars()
                .any(|c| (c as u32) < 0x20 || "\"*/:<>?\\|".contains(c));
        if bad {
            return Err(fail(
                Exit::Input,
                format!("ESP path {path:?}: {p:?} is not a valid FAT long file name"),
            ));
        }
    }
    Ok(parts)
}

fn insert(
    dir: &mut BTreeMap<String, Node>,
    shown: &str,
    name: String,
    node: Node,
) -> anyhow::Result<()> {
    let folded = name.to_uppercase();
    if dir.keys().any(|k| k.to_uppercase() == folded) {
        return Err(fail(
            Exit::Input,
            format!("ESP path {shown} is added twice (FAT names ignore case)"),
        ));
    }
    dir.insert(name, node);
    Ok(())
}

struct Geometry {
    total_sectors: u64,
    sectors_per_cluster: u64,
    cluster_size: u64,
    fat_sectors: u64,
    clusters: u64,
}

impl Geometry {
    /// The largest cluster (up to 4 KiB) that still gives the FAT32 minimum of 65525 clusters.
    fn for_size(size: u64) -> anyhow::Result<Self> {
        if size % SECTOR != 0 {
            return Err(fail(
                Exit::Input,
                format!("ESP size {size} is not a multiple of 512"),
            ));
        }
        let total_sectors = size / SECTOR;
        if total_sectors > u64::from(u32::MAX) {
            return Err(fail(Exit::Input, "ESP larger than 2 TiB"));
        }
        let mut spc = 8;
        loop {
            let avail = total_sectors.saturating_sub(RESERVED_SECTORS);
            // Entries for every cluster the data area could hold, plus the two reserved ones.
            let fat_sectors = ((avail / spc + 2) * 4).div_ceil(SECTOR);
            let clusters = avail.saturating_sub(NUM_FATS * fat_sectors) / spc;
            if (MIN_CLUSTERS..=MAX_CLUSTERS).contains(&clusters) {
                return Ok(Geometry {
                    total_sectors,
                    sectors_per_cluster: spc,
                    cluster_size: spc * SECTOR,
                    fat_sectors,
                    clusters,
                });
            }
            if spc == 1 || clusters > MAX_CLUSTERS {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "ESP of {size} bytes cannot hold a valid FAT32 (needs at least 65525 clusters: about 33 MiB)"
                    ),
                ));
            }
            spc /= 2;
        }
    }

    fn data_start(&self) -> u64 {
        (RESERVED_SECTORS + NUM_FATS * self.fat_sectors) * SECTOR
    }
}

fn boot_sector(geo: &Geometry, params: &FatParams, label: &[u8; 11]) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[0..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
    b[3..11].copy_from_slice(b"FORJA1.0");
    b[11..13].copy_from_slice(&(SECTOR as u16).to_le_bytes());
    b[13] = geo.sectors_per_cluster as u8;
    b[14..16].copy_from_slice(&(RESERVED_SECTORS as u16).to_le_bytes());
    b[16] = NUM_FATS as u8;
    b[21] = 0xF8; // fixed disk
    b[24..26].copy_from_slice(&32u16.to_le_bytes()); // sectors per track (CHS is unused)
    b[26..28].copy_from_slice(&64u16.to_le_bytes()); // heads
    b[28..32].copy_from_slice(&params.hidden_sectors.to_le_bytes());
    b[32..36].copy_from_slice(&(geo.total_sectors as u32).to_le_bytes());
    b[36..40].copy_from_slice(&(geo.fat_sectors as u32).to_le_bytes());
    b[44..48].copy_from_slice(&ROOT_CLUSTER.to_le_bytes());
    b[48..50].copy_from_slice(&1u16.to_le_bytes()); // FSInfo sector
    b[50..52].copy_from_slice(&6u16.to_le_bytes()); // backup boot sector
    b[64] = 0x80; // drive number
    b[66] = 0x29; // extended boot signature
    b[67..71].copy_from_slice(&params.volume_id.to_le_bytes());
    b[71..82].copy_from_slice(label);
    b[82..90].copy_from_slice(b"FAT32   ");
    // Not bootable: a firmware that jumps here halts (cli; hlt; jmp $-1) instead of running zeros.
    b[90..94].copy_from_slice(&[0xFA, 0xF4, 0xEB, 0xFD]);
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

fn fsinfo(free: u32, next_free: u32) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[0..4].copy_from_slice(&0x4161_5252u32.to_le_bytes());
    b[484..488].copy_from_slice(&0x6141_7272u32.to_le_bytes());
    b[488..492].copy_from_slice(&free.to_le_bytes());
    b[492..496].copy_from_slice(&next_free.to_le_bytes());
    b[508..512].copy_from_slice(&0xAA55_0000u32.to_le_bytes());
    b
}

fn label_bytes(label: &str) -> anyhow::Result<[u8; 11]> {
    let ok = !label.is_empty()
        && label.len() <= 11
        && label
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || b" _-".contains(&c));
    if !ok {
        return Err(fail(
            Exit::Input,
            format!(
                "ESP label {label:?}: use 1 to 11 upper-case ASCII letters, digits, space, '_' or '-'"
            ),
        ));
    }
    let mut out = [b' '; 11];
    out[..label.len()].copy_from_slice(label.as_bytes());
    Ok(out)
}

enum Content<'a> {
    Dir(Vec<u8>),
    File(&'a Node),
}

struct Extent<'a> {
    first: u32,
    clusters: u32,
    content: Content<'a>,
}

struct Plan<'a> {
    next: u32,
    cluster_size: u64,
    extents: Vec<Extent<'a>>,
}

impl Plan<'_> {
    fn take(&mut self, bytes: u64) -> anyhow::Result<(u32, u32)> {
        let n = bytes.div_ceil(self.cluster_size).max(1);
        let n = u32::try_from(n).map_err(|_| fail(Exit::Input, "ESP contents too large"))?;
        let first = self.next;
        self.next = first
            .checked_add(n)
            .ok_or_else(|| fail(Exit::Input, "ESP contents too large"))?;
        Ok((first, n))
    }
}

/// Allocates `dir` (at `parent`'s child position), then its children depth first; returns its first cluster.
fn plan_dir<'a>(
    plan: &mut Plan<'a>,
    dir: &'a BTreeMap<String, Node>,
    parent: Option<u32>,
    label: Option<[u8; 11]>,
    stamp: Stamp,
) -> anyhow::Result<u32> {
    // Short names first: they decide how many entries each child takes.
    let mut shorts: Vec<[u8; 11]> = Vec::new();
    let mut names: Vec<(&String, &Node, [u8; 11], bool)> = Vec::new();
    for (name, node) in dir {
        let (short, exact) = short_name(name, &shorts);
        shorts.push(short);
        names.push((name, node, short, exact));
    }
    let mut slots = usize::from(label.is_some()) + if parent.is_some() { 2 } else { 0 };
    for (name, _, _, exact) in &names {
        slots += 1 + if *exact {
            0
        } else {
            name.encode_utf16().count().div_ceil(13)
        };
    }
    let bytes = (slots * DIRENT) as u64;
    let (me, n) = plan.take(bytes)?;
    let index = plan.extents.len();
    plan.extents.push(Extent {
        first: me,
        clusters: n,
        content: Content::Dir(Vec::new()),
    });

    let mut entries = Vec::with_capacity(slots * DIRENT);
    if let Some(l) = label {
        entries.extend_from_slice(&short_entry(&l, ATTR_VOLUME, 0, 0, stamp));
    }
    if let Some(p) = parent {
        let mut dot = [b' '; 11];
        dot[0] = b'.';
        entries.extend_from_slice(&short_entry(&dot, ATTR_DIR, me, 0, stamp));
        dot[1] = b'.';
        // `..` of a directory in the root points at cluster 0, not the root's cluster (fatfs gets this wrong).
        let up = if p == ROOT_CLUSTER { 0 } else { p };
        entries.extend_from_slice(&short_entry(&dot, ATTR_DIR, up, 0, stamp));
    }
    for (name, node, short, exact) in names {
        let (first, attr, size) = match node {
            Node::Dir(children) => {
                let c = plan_dir(plan, children, Some(me), None, stamp)?;
                (c, ATTR_DIR, 0)
            }
            Node::File { len, .. } => {
                if *len == 0 {
                    (0, ATTR_ARCHIVE, 0)
                } else {
                    let (c, k) = plan.take(*len)?;
                    plan.extents.push(Extent {
                        first: c,
                        clusters: k,
                        content: Content::File(node),
                    });
                    (c, ATTR_ARCHIVE, *len as u32)
                }
            }
        };
        if !exact {
            entries.extend_from_slice(&lfn_entries(name, &short));
        }
        entries.extend_from_slice(&short_entry(&short, attr, first, size, stamp));
    }
    debug_assert_eq!(entries.len(), slots * DIRENT);
    plan.extents[index].content = Content::Dir(entries);
    Ok(me)
}

fn put<W: Write + Seek>(out: &mut W, at: u64, bytes: &[u8]) -> anyhow::Result<()> {
    out.seek(SeekFrom::Start(at))?;
    out.write_all(bytes).context("writing the ESP")?;
    Ok(())
}

/// Copies a file's bytes to `at`, skipping all-zero chunks (the target is already zero).
fn copy_file<W: Write + Seek>(
    out: &mut W,
    at: u64,
    node: &Node,
    buf: &mut [u8],
) -> anyhow::Result<()> {
    let Node::File { source, len } = node else {
        return Ok(());
    };
    match source {
        Source::Bytes(b) => put(out, at, b),
        Source::File(path) => {
            let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let mut done = 0u64;
            loop {
                let n = f
                    .read(buf)
                    .with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                if done + n as u64 > *len {
                    break;
                }
                if buf[..n].iter().any(|&b| b != 0) {
                    put(out, at + done, &buf[..n])?;
                }
                done += n as u64;
            }
            if done != *len {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{} changed size while the ESP was written ({len} bytes expected)",
                        path.display()
                    ),
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;

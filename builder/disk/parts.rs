//! A disk image kept as parts: what a site host's build folder holds instead of `disk.raw` and `disk.raw.zst`.
//!
//! ```text
//! disk.parts.json   the disk's size and its parts, each a byte range with the SHA-256 of its raw bytes
//! disk-head.zst     one zstd frame: bytes 0 .. the end of the ESP's data (GPT, ESP)
//! (zeros)           the rest of the ESP
//! disk-root-a.zst   one zstd frame: slot A's root image and hash tree, the same bytes on every host of a site
//! (a hole)          slot B's partitions: nothing until the first update
//! disk-state.zst    one zstd frame: the state partition's data
//! (zeros)           the rest of the state partition
//! disk-payload.zst  one zstd frame: the payload partition's data
//! (zeros)           the rest of it
//! (a hole)          vmstore's placeholder: formatted at first boot
//! disk-end.zst      one zstd frame: the backup GPT
//! ```
//! A hole is a range of partitions the plan leaves empty: it has no file and is not written by the installer
//! (as the installer never writes the zeros of an empty partition of a whole image either). A run of zeros is the
//! unused end of a host's own partition (a file system's free space, [`data_end`]): it has no file either, but the
//! installer writes it, so the target holds exactly the disk the list describes. Zeros are neither hashed nor
//! compressed at build time: most of a host's own bytes are such free space.
//! The hosts of a site run one root, so `disk-root-a.zst` is compressed once per site and hard-linked into every
//! host's folder: the site holds one full image and small per-host parts, while each host's folder is still
//! whole (its signed `SHA256SUMS` lists every part, `signify -C` and `forja verify` check it, and the media copy
//! it). The parts tile the disk with no gap or overlap; each part's compressed file is hashed in `SHA256SUMS`
//! and its decompressed bytes here, and holes and zeros are zeros by definition, so the list's signature covers
//! every byte of the disk. The installer writes the parts in order (one decoder per part; zeros written, holes
//! not).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};
use crate::hashio::{HashingReader, Sha256, read_full};

/// The list's file name.
pub const FILE: &str = "disk.parts.json";
/// Its format tag.
pub const FORMAT: &str = "forja-disk-parts/1";
/// The first part (GPT, ESP).
pub const HEAD: &str = "disk-head.zst";
/// The shared region: slot A's root image and its hash tree.
pub const ROOT_A: &str = "disk-root-a.zst";
/// The last part (after the last partition: the backup GPT).
pub const END: &str = "disk-end.zst";
/// Cap on the list's size when it is read.
const CAP: u64 = 1 << 20;

/// The parts of one disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskParts {
    pub format: String,
    /// The disk's size in bytes.
    pub size: u64,
    pub parts: Vec<Part>,
}

/// One part: bytes `offset .. offset + len` of the disk, compressed as one zstd frame in `file`; or a hole
/// (no file: zeros the installer leaves unwritten); or, with `zeros`, zeros the installer writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub offset: u64,
    pub len: u64,
    /// SHA-256 of the part's decompressed bytes (none for a hole or zeros).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_sha256: Option<Sha256>,
    /// Zeros to write (no file): the free end of a partition that holds data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zeros: bool,
}

/// Whether `name` can be a part's file: `disk-NAME.zst`, NAME lower-case letters, digits and dashes.
pub fn is_part_name(name: &str) -> bool {
    name.strip_prefix("disk-")
        .and_then(|n| n.strip_suffix(".zst"))
        .is_some_and(|n| {
            (1..=40).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

impl DiskParts {
    /// The list, checked: the parts tile `0 .. size` in order, and each file is one of the part names.
    pub fn parse(bytes: &[u8]) -> Result<DiskParts, String> {
        let p: DiskParts = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        p.check()?;
        Ok(p)
    }

    /// Reads and checks `dir/disk.parts.json` (a regular file, capped).
    pub fn load(dir: &Path) -> anyhow::Result<DiskParts> {
        let path = dir.join(FILE);
        let bytes = crate::inbound::read_capped(&path, CAP)?;
        DiskParts::parse(&bytes).map_err(|e| fail(Exit::Input, format!("{}: {e}", path.display())))
    }

    /// The checks [`DiskParts::parse`] makes (a build makes them too, before it writes the list).
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("format {:?}, expected {FORMAT:?}", self.format));
        }
        let mut at = 0u64;
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.parts {
            match (&p.file, &p.raw_sha256) {
                (Some(f), Some(_)) if p.zeros => {
                    return Err(format!("part file {f:?}: zeros have no file"));
                }
                (Some(f), Some(_)) if is_part_name(f) && seen.insert(f.as_str()) => {}
                (None, None) => {}
                (Some(f), Some(_)) => {
                    return Err(format!(
                        "part file {f:?}: not a disk-NAME.zst name, or named twice"
                    ));
                }
                _ => {
                    return Err(format!(
                        "part at byte {}: a file needs its raw SHA-256, a hole or zeros have neither",
                        p.offset
                    ));
                }
            }
            if p.offset != at || p.len == 0 {
                return Err(format!(
                    "part {} covers {}+{} bytes; the parts must tile the disk in order (next byte: {at})",
                    p.name(),
                    p.offset,
                    p.len
                ));
            }
            at = p.offset.checked_add(p.len).ok_or("part end overflows")?;
        }
        if at != self.size || self.parts.is_empty() {
            return Err(format!(
                "the parts end at byte {at}; the disk has {} bytes",
                self.size
            ));
        }
        Ok(())
    }

    /// The files, in disk order.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| p.file.as_deref())
    }
}

impl Part {
    /// Its file, "zeros" or "a hole".
    pub fn name(&self) -> &str {
        match (&self.file, self.zeros) {
            (Some(f), _) => f,
            (None, true) => "zeros",
            (None, false) => "a hole",
        }
    }
}

/// What a partition is to the parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Slot A's root image and hash tree: the same bytes on every host of a site, one part of their own.
    Shared,
    /// Left empty by the plan: a hole.
    Hole,
    /// The host's own bytes.
    Own,
}

/// The parts of a disk whose partitions, in disk order, are `classes` (name and class), as each part's file name
/// (none for a hole) and the range of partition indexes it covers: the leading own partitions and the primary GPT
/// before them are the head; then each run of shared or empty partitions is one part, and each own partition one
/// part of its own (its free end can then be zeros, [`data_end`]); a last part of no partition ([`END`]) holds the
/// backup GPT after the last.
pub fn runs(classes: &[(&str, Class)]) -> Vec<(Option<String>, std::ops::Range<usize>)> {
    let head = classes.iter().take_while(|(_, c)| *c == Class::Own).count();
    let mut out = vec![(Some(HEAD.to_owned()), 0..head)];
    let mut i = head;
    while i < classes.len() {
        let (name, class) = classes[i];
        let end = match class {
            Class::Own => i + 1,
            _ => i + classes[i..].iter().take_while(|(_, c)| *c == class).count(),
        };
        let file = match class {
            Class::Shared => Some(ROOT_A.to_owned()),
            Class::Hole => None,
            Class::Own => Some(format!("disk-{name}.zst")),
        };
        out.push((file, i..end));
        i = end;
    }
    out.push((Some(END.to_owned()), classes.len()..classes.len()));
    out
}

/// Where the bytes `range` of `disk` become zeros to their end: one past the last non-zero byte (`range.start` when
/// all are zeros). Decided by the bytes alone, so every build machine cuts the same parts; the file's holes
/// (`SEEK_DATA`, `SEEK_HOLE`) only spare reading what is known to be zeros, and a file system that reports none
/// gives the same answer more slowly.
pub fn data_end(disk: &Path, range: std::ops::Range<u64>) -> anyhow::Result<u64> {
    use rustix::fs::SeekFrom as Seek;
    let mut f = crate::inbound::open_regular(disk)?;
    // The extents that may hold data, in order.
    let mut extents = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let data = match rustix::fs::seek(&f, Seek::Data(at)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .context(format!("seeking data in {}", disk.display()));
            }
        };
        if data >= range.end {
            break;
        }
        let hole = rustix::fs::seek(&f, Seek::Hole(data)).map_err(std::io::Error::from)?;
        extents.push(data..hole.min(range.end));
        at = hole;
    }
    // The last non-zero byte: the extents from the end, each read backwards in blocks.
    const BLOCK: u64 = 1 << 20;
    let zeros = vec![0u8; BLOCK as usize];
    let mut buf = vec![0u8; BLOCK as usize];
    for e in extents.iter().rev() {
        let mut end = e.end;
        while end > e.start {
            let from = end.saturating_sub(BLOCK).max(e.start);
            let n = (end - from) as usize;
            f.seek(SeekFrom::Start(from))?;
            f.read_exact(&mut buf[..n])
                .with_context(|| format!("reading {}", disk.display()))?;
            // A slice comparison is a memcmp: fast for the zeros that are most of what is read here.
            if buf[..n] != zeros[..n] {
                let last = buf[..n].iter().rposition(|&b| b != 0).unwrap_or(0);
                return Ok(from + last as u64 + 1);
            }
            end = from;
        }
    }
    Ok(range.start)
}

/// Decompresses `part` (read from `input`) into `dst` at its offset, leaving zero blocks as holes; refuses bytes
/// that are not the part's (a different length or SHA-256).
fn write_part(part: &Part, input: impl Read, dst: &mut std::fs::File) -> anyhow::Result<()> {
    let name = part.name();
    const BLOCK: usize = 64 << 10;
    let mut raw =
        HashingReader::new(zstd::stream::read::Decoder::new(input).context("starting zstd")?);
    let mut buf = vec![0u8; 64 * BLOCK];
    let mut done = 0u64;
    loop {
        let n = read_full(&mut raw, &mut buf)
            .map_err(|e| fail(Exit::HashMismatch, format!("decompressing {name}: {e}")))?;
        if n == 0 {
            break;
        }
        if done + n as u64 > part.len {
            break;
        }
        for (i, chunk) in buf[..n].chunks(BLOCK).enumerate() {
            if chunk.iter().any(|&b| b != 0) {
                dst.seek(SeekFrom::Start(part.offset + done + (i * BLOCK) as u64))?;
                dst.write_all(chunk)?;
            }
        }
        done += n as u64;
    }
    let (got, len) = raw.finish();
    if len != part.len || Some(got) != part.raw_sha256 {
        return Err(fail(
            Exit::HashMismatch,
            format!(
                "{name}: decompresses to {len} bytes with SHA-256 {got}; the list says {} bytes, {}",
                part.len,
                part.raw_sha256.map(|h| h.hex()).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Writes the disk the parts in `dir` describe to `dst` (sparse, atomically), checking each part's bytes; with
/// `only`, just the parts whose file is named there (the rest stays zeros). The caller has checked the files'
/// signed hashes, or uses the result only to read what it then checks itself.
pub fn assemble(dir: &Path, parts: &DiskParts, dst: &Path, only: &[&str]) -> anyhow::Result<()> {
    let mut staged = crate::artifact::Staged::create(dst)?;
    staged.file().set_len(parts.size)?;
    for p in &parts.parts {
        let Some(file) = &p.file else { continue };
        if !only.is_empty() && !only.contains(&file.as_str()) {
            continue;
        }
        let f = crate::inbound::open_regular(&dir.join(file))?;
        write_part(p, f, staged.file().file_mut())
            .with_context(|| format!("assembling {} from {}", dst.display(), dir.display()))?;
    }
    staged.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list of parts; "" is a hole.
    fn list(parts: &[(&str, u64, u64)], size: u64) -> DiskParts {
        DiskParts {
            format: FORMAT.into(),
            size,
            parts: parts
                .iter()
                .map(|&(file, offset, len)| Part {
                    file: (!file.is_empty()).then(|| file.into()),
                    offset,
                    len,
                    raw_sha256: (!file.is_empty()).then(|| Sha256::of(b"")),
                    zeros: false,
                })
                .collect(),
        }
    }

    #[test]
    fn runs_of_one_class_are_one_part() {
        use Class::*;
        let lab = [
            ("esp", Own),
            ("root-a", Shared),
            ("root-a-verity", Shared),
            ("root-b", Hole),
            ("root-b-verity", Hole),
            ("state", Own),
            ("payload", Own),
            ("vmstore", Hole),
        ];
        let got = runs(&lab);
        let want = [
            (Some(HEAD), 0..1),
            (Some(ROOT_A), 1..3),
            (None, 3..5),
            (Some("disk-state.zst"), 5..6),
            (Some("disk-payload.zst"), 6..7),
            (None, 7..8),
            (Some(END), 8..8),
        ];
        assert_eq!(got.len(), want.len());
        for ((f, r), (wf, wr)) in got.iter().zip(want) {
            assert_eq!((f.as_deref(), r.clone()), (wf, wr));
        }
        // A disk that starts with the root still has a head (the primary GPT).
        assert_eq!(
            runs(&[("root-a", Shared)])[0],
            (Some(HEAD.to_owned()), 0..0)
        );
        assert!(
            runs(&lab)
                .iter()
                .filter_map(|(f, _)| f.as_deref())
                .all(is_part_name)
        );
    }

    #[test]
    fn data_ends_at_the_last_non_zero_byte_whatever_is_a_hole() {
        use std::os::unix::fs::FileExt;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("disk");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(64 << 20).unwrap();
        // Data at 1 MiB + 3; written zeros (not a hole) from 8 to 10 MiB; data at 20 MiB + 99; the rest holes.
        f.write_all_at(b"x", (1 << 20) + 3).unwrap();
        f.write_all_at(&vec![0u8; 2 << 20], 8 << 20).unwrap();
        f.write_all_at(b"y", (20 << 20) + 99).unwrap();
        drop(f);
        let end = |a: u64, b: u64| data_end(&path, a..b).unwrap();
        assert_eq!(end(0, 64 << 20), (20 << 20) + 100);
        assert_eq!(
            end(0, 16 << 20),
            (1 << 20) + 4,
            "written zeros count as zeros"
        );
        assert_eq!(
            end(2 << 20, 16 << 20),
            2 << 20,
            "all zeros: the range's start"
        );
        assert_eq!(
            end(0, (20 << 20) + 50),
            (1 << 20) + 4,
            "data beyond the range is not the range's"
        );
        assert_eq!(end((20 << 20) + 99, (20 << 20) + 100), (20 << 20) + 100);
    }

    #[test]
    fn parts_must_tile_the_disk_in_order() {
        assert!(
            list(
                &[(HEAD, 0, 10), (ROOT_A, 10, 5), ("", 15, 2), (END, 17, 3)],
                20
            )
            .check()
            .is_ok()
        );
        let gap = list(&[(HEAD, 0, 10), (END, 11, 9)], 20)
            .check()
            .unwrap_err();
        assert!(gap.contains("tile"), "{gap}");
        let overlap = list(&[(HEAD, 0, 10), (END, 9, 11)], 20)
            .check()
            .unwrap_err();
        assert!(overlap.contains("tile"), "{overlap}");
        let short = list(&[(HEAD, 0, 10)], 20).check().unwrap_err();
        assert!(short.contains("has 20 bytes"), "{short}");
        for bad in [
            "../disk.raw",
            "disk-/x.zst",
            "disk.raw.zst",
            "disk-A.zst",
            "disk-.zst",
        ] {
            let e = list(&[(bad, 0, 20)], 20).check().unwrap_err();
            assert!(e.contains("not a disk-NAME.zst"), "{bad}: {e}");
        }
        let twice = list(&[(HEAD, 0, 10), (HEAD, 10, 10)], 20)
            .check()
            .unwrap_err();
        assert!(twice.contains("named twice"), "{twice}");
        let mut zeros_with_file = list(&[(HEAD, 0, 20)], 20);
        zeros_with_file.parts[0].zeros = true;
        let e = zeros_with_file.check().unwrap_err();
        assert!(e.contains("zeros have no file"), "{e}");
        let mut hole_with_hash = list(&[("", 0, 20)], 20);
        hole_with_hash.parts[0].raw_sha256 = Some(Sha256::of(b""));
        assert!(hole_with_hash.check().is_err());
        assert!(list(&[], 0).check().is_err());
    }

    #[test]
    fn assembles_the_disk_and_refuses_a_part_that_is_not_its_bytes() {
        let d = tempfile::tempdir().unwrap();
        let disk: Vec<u8> = (0..3 << 20).map(|i| (i % 253) as u8).collect();
        let cuts = [
            (HEAD, 0u64, 1u64 << 20),
            (ROOT_A, 1 << 20, 1 << 20),
            (END, 2 << 20, 1 << 20),
        ];
        let mut parts = list(&cuts, 3 << 20);
        for (p, &(file, off, len)) in parts.parts.iter_mut().zip(&cuts) {
            let bytes = &disk[off as usize..(off + len) as usize];
            p.raw_sha256 = Some(Sha256::of(bytes));
            std::fs::write(d.path().join(file), zstd::encode_all(bytes, 3).unwrap()).unwrap();
        }
        let out = d.path().join("disk.raw");
        assemble(d.path(), &parts, &out, &[]).unwrap();
        assert!(std::fs::read(&out).unwrap() == disk);
        // Only the head: the rest stays zeros.
        assemble(d.path(), &parts, &out, &[HEAD]).unwrap();
        let head = std::fs::read(&out).unwrap();
        assert!(head[..1 << 20] == disk[..1 << 20] && head[1 << 20..].iter().all(|&b| b == 0));
        // Another part's frame under the root's name: refused, and nothing is left under the output's name.
        std::fs::copy(d.path().join(END), d.path().join(ROOT_A)).unwrap();
        std::fs::remove_file(&out).unwrap();
        let e = assemble(d.path(), &parts, &out, &[]).unwrap_err();
        assert_eq!(crate::error::exit_of(&e), Exit::HashMismatch, "{e:#}");
        assert!(!out.exists());
    }
}

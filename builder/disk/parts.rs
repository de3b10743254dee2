//! A disk image kept as parts: what a site host's build folder holds instead of `disk.raw` and `disk.raw.zst`.
//!
//! ```text
//! disk.parts.json   the disk's size and its parts, each a byte range with the SHA-256 of its raw bytes
//! disk-head.zst     one zstd frame: bytes 0 .. slot A's root (GPT, ESP)
//! disk-root-a.zst   one zstd frame: slot A's root image and hash tree, the same bytes on every host of a site
//! (a hole)          slot B's partitions: nothing until the first update
//! disk-state.zst    one zstd frame: the state and payload partitions
//! (a hole)          vmstore's placeholder: formatted at first boot
//! disk-end.zst      one zstd frame: the backup GPT
//! ```
//! A hole is a range of partitions the plan leaves empty: it has no file and is not written by the installer
//! (as the installer never writes the zeros of an empty partition of a whole image either).
//! The hosts of a site run one root, so `disk-root-a.zst` is compressed once per site and hard-linked into every
//! host's folder: the site holds one full image and small per-host parts, while each host's folder is still
//! whole (its signed `SHA256SUMS` lists every part, `signify -C` and `forja verify` check it, and the media copy
//! it). The parts tile the disk with no gap or overlap; each part's compressed file is hashed in `SHA256SUMS`
//! and its decompressed bytes here, so the list's signature covers every byte of the disk. The installer writes
//! the parts in order (one decoder per part), and `cat disk-*.zst` in the listed order is the whole disk's
//! `disk.raw.zst`: zstd decoders read concatenated frames.

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
/// (no file: zeros the installer leaves unwritten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub offset: u64,
    pub len: u64,
    /// SHA-256 of the part's decompressed bytes (none for a hole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_sha256: Option<Sha256>,
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
                (Some(f), Some(_)) if is_part_name(f) && seen.insert(f.as_str()) => {}
                (None, None) => {}
                (Some(f), Some(_)) => {
                    return Err(format!(
                        "part file {f:?}: not a disk-NAME.zst name, or named twice"
                    ));
                }
                _ => {
                    return Err(format!(
                        "part at byte {}: a file needs its raw SHA-256, a hole has neither",
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
    /// Its file, or "a hole".
    pub fn name(&self) -> &str {
        self.file.as_deref().unwrap_or("a hole")
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

/// The parts of a disk whose partitions, in disk order, are `classes` (name and class): each run of partitions of
/// one class is one part, as its file name (none for a hole) and the range of partition indexes it covers. The
/// first part also covers the primary GPT before the first partition, and a last part of no partition ([`END`])
/// the backup GPT after the last.
pub fn runs(classes: &[(&str, Class)]) -> Vec<(Option<String>, std::ops::Range<usize>)> {
    let head = classes.iter().take_while(|(_, c)| *c == Class::Own).count();
    let mut out = vec![(Some(HEAD.to_owned()), 0..head)];
    let mut i = head;
    while i < classes.len() {
        let (name, class) = classes[i];
        let end = i + classes[i..].iter().take_while(|(_, c)| *c == class).count();
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
            (Some("disk-state.zst"), 5..7),
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

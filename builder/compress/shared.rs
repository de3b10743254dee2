//! The frame a site's disks share. Every host of a site runs the same verified root, so the same bytes (slot A's
//! root image and its hash tree) sit at the same place in every host's `disk.raw`: compressing them again for
//! each host was most of a host's build time. The first host's `disk.raw.zst` gets that region as a zstd frame
//! of its own, kept in the site's work folder; every later host whose region holds the same bytes gets a copy of
//! that frame instead of a new compression.
//!
//! Why a copy is the same file: a zstd file may hold several frames one after the other, and every decoder (the
//! `zstd` tool, the installer's `zstd` crate) gives back their contents one after the other, so the file still
//! decompresses to exactly `disk.raw`; and the compression is deterministic ([`super`]), so the copied frame has
//! the bytes the host would have compressed itself (a host built alone with `--host` gets the same file).
//!
//! Nothing is assumed from names or hashes in the plan: the region is compared byte for byte with the disk the
//! frame was made from (cheaper than hashing it), and a region that differs gets its own compression. The frame
//! file's digest is recorded when it is made and checked while it is copied.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;

use super::{compress, workers};
use crate::artifact::Staged;
use crate::hashio::{HashingWriter, Sha256, read_full};

/// Comparison size.
const CHUNK: usize = 4 << 20;

/// The frames made so far in one site build, in a folder of their own that is removed when this is dropped.
#[derive(Debug)]
pub struct SharedFrames {
    dir: PathBuf,
    made: Mutex<Vec<Frame>>,
    /// How many regions were served by a copy (for the log and the tests).
    copied: AtomicU32,
}

/// A region compressed once: where its bytes came from, and the frame.
#[derive(Debug)]
struct Frame {
    source: PathBuf,
    at: u64,
    len: u64,
    path: PathBuf,
    sha256: Sha256,
}

impl SharedFrames {
    /// Frames kept in `dir` (made empty; a folder left by an interrupted build is removed first).
    pub fn new(dir: &Path) -> anyhow::Result<SharedFrames> {
        if dir.exists() {
            fs_err::remove_dir_all(dir)?;
        }
        fs_err::create_dir_all(dir)?;
        Ok(SharedFrames {
            dir: dir.to_owned(),
            made: Mutex::new(Vec::new()),
            copied: AtomicU32::new(0),
        })
    }

    /// How many regions were copied from an earlier frame rather than compressed.
    pub fn copies(&self) -> u32 {
        self.copied.load(Ordering::Relaxed)
    }

    /// Reads `region` of `src` from `input` (positioned at its start) and writes its frame to `output`: a copy of
    /// a frame made earlier from the same bytes, or a new one, kept for the next disk.
    pub(super) fn put(
        &self,
        src: &Path,
        region: Range<u64>,
        input: &mut impl Read,
        mut output: impl Write,
    ) -> anyhow::Result<()> {
        let len = region.end - region.start;
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = made.iter().find(|f| f.len == len) {
            if same_bytes(input, &f.source, f.at, len)? {
                copy_frame(f, &mut output)?;
                self.copied.fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "{}: the shared region's frame copied from {}",
                    src.display(),
                    f.source.display()
                );
            } else {
                // The input is past the region now (its bytes are in the caller's digest): compress it again from
                // the file.
                log::info!(
                    "{}: its region differs from {}'s: compressed on its own",
                    src.display(),
                    f.source.display()
                );
                let mut again =
                    File::open(src).with_context(|| format!("opening {}", src.display()))?;
                again.seek(SeekFrom::Start(region.start))?;
                compress(&mut again.take(len), output, len, workers())?;
            }
            return Ok(());
        }
        let path = self.dir.join(format!("frame-{}.zst", made.len()));
        let mut staged = Staged::create(&path)?;
        let mut tee = HashingWriter::new(Tee(&mut output, staged.file()));
        compress(input, &mut tee, len, workers())?;
        let (sha256, _) = tee.finish();
        staged.commit()?;
        made.push(Frame {
            source: src.to_owned(),
            at: region.start,
            len,
            path,
            sha256,
        });
        Ok(())
    }
}

impl Drop for SharedFrames {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the next `len` bytes of `input` equal `len` bytes of `source` at `at`. Reads all `len` bytes of
/// `input` either way.
fn same_bytes(input: &mut impl Read, source: &Path, at: u64, len: u64) -> anyhow::Result<bool> {
    let mut other = File::open(source).with_context(|| format!("opening {}", source.display()))?;
    other.seek(SeekFrom::Start(at))?;
    let (mut a, mut b) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut same = true;
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let got = read_full(input, &mut a[..want])?;
        anyhow::ensure!(got == want, "input ended inside the shared region");
        if same {
            same = read_full(&mut other, &mut b[..want])? == want && a[..want] == b[..want];
        }
        left -= want as u64;
    }
    Ok(same)
}

/// Copies the frame's file to `output`, checking it is still the frame that was made.
fn copy_frame(f: &Frame, output: &mut impl Write) -> anyhow::Result<()> {
    let mut file = File::open(&f.path).with_context(|| format!("opening {}", f.path.display()))?;
    let mut hashed = HashingWriter::new(output);
    io::copy(&mut file, &mut hashed)?;
    let (sha256, _) = hashed.finish();
    anyhow::ensure!(
        sha256 == f.sha256,
        "{} changed after it was made (sha256 {sha256}, made as {})",
        f.path.display(),
        f.sha256
    );
    Ok(())
}

/// Writes everything to both.
struct Tee<A, B>(A, B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::zstd_disk_hashed;

    /// A disk-like image: a per-disk head, a shared middle, a per-disk tail.
    fn disk(dir: &Path, name: &str, head: u8, middle: &[u8], tail: u8) -> PathBuf {
        let mut bytes = vec![head; 3 << 20];
        bytes.extend_from_slice(middle);
        bytes.extend(std::iter::repeat_n(tail, 2 << 20));
        let p = dir.join(name);
        fs_err::write(&p, bytes).unwrap();
        p
    }

    fn middle(seed: u8) -> Vec<u8> {
        (0..(9u32 << 20))
            .map(|i| ((i / 7) as u8).wrapping_mul(31) ^ seed ^ (i % 251) as u8)
            .collect()
    }

    #[test]
    fn a_shared_region_is_compressed_once_and_every_file_decompresses_to_its_disk() {
        let dir = tempfile::tempdir().unwrap();
        let frames = SharedFrames::new(&dir.path().join("frames")).unwrap();
        let region = (3 << 20)..(12 << 20);
        let one = disk(dir.path(), "one", 1, &middle(0), 2);
        let two = disk(dir.path(), "two", 3, &middle(0), 4);
        let mut other = middle(0);
        other[5 << 20] ^= 1;
        let three = disk(dir.path(), "three", 1, &other, 2);
        for d in [&one, &two, &three] {
            let zst = d.with_extension("zst");
            let h = zstd_disk_hashed(d, &zst, Some((region.clone(), &frames))).unwrap();
            let raw = fs_err::read(d).unwrap();
            assert_eq!(h.input, (Sha256::of(&raw), raw.len() as u64));
            // Several frames, one stream back: both the crate and the zstd tool.
            let packed = fs_err::read(&zst).unwrap();
            assert!(
                zstd::decode_all(&packed[..]).unwrap() == raw,
                "{}",
                d.display()
            );
            let tool = std::process::Command::new("zstd")
                .args(["-dc", "--"])
                .arg(&zst)
                .output()
                .unwrap();
            assert!(tool.status.success(), "{tool:?}");
            assert!(tool.stdout == raw, "zstd -d of {}", zst.display());
            // And the same bytes as a compression without the cache (a host built alone).
            let alone = SharedFrames::new(&dir.path().join("alone")).unwrap();
            let again = d.with_extension("alone.zst");
            zstd_disk_hashed(d, &again, Some((region.clone(), &alone))).unwrap();
            assert!(fs_err::read(&again).unwrap() == packed, "{}", d.display());
        }
        // Only the second disk matched the first one's region; the third differs by one bit.
        assert_eq!(frames.copies(), 1);
    }

    #[test]
    fn a_frame_changed_after_it_was_made_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let frames = SharedFrames::new(&dir.path().join("frames")).unwrap();
        let region = (3 << 20)..(12 << 20);
        let one = disk(dir.path(), "one", 1, &middle(0), 2);
        let two = disk(dir.path(), "two", 3, &middle(0), 4);
        zstd_disk_hashed(
            &one,
            &dir.path().join("one.zst"),
            Some((region.clone(), &frames)),
        )
        .unwrap();
        let frame = dir.path().join("frames/frame-0.zst");
        let mut bytes = fs_err::read(&frame).unwrap();
        bytes[100] ^= 1;
        fs_err::write(&frame, bytes).unwrap();
        let err = zstd_disk_hashed(&two, &dir.path().join("two.zst"), Some((region, &frames)))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("changed after it was made"),
            "{err:#}"
        );
    }

    #[test]
    fn the_folder_goes_with_the_frames() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("frames");
        fs_err::create_dir_all(at.join("left-over")).unwrap();
        let frames = SharedFrames::new(&at).unwrap();
        assert!(!at.join("left-over").exists());
        drop(frames);
        assert!(!at.exists());
    }
}

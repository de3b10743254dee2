//! Deterministic multi-threaded zstd for `disk.raw.zst`, and for the parts of a site host's disk
//! ([`crate::disk::parts`]), whose shared root is compressed once per site.
//!
//! Two facts about zstd's streaming multi-threaded mode (measured by the tests below, zstd 1.5.7):
//! - the input is cut into jobs whose size follows the parameters, not the worker count, so any count of one
//!   or more workers yields the same bytes (zstd#2238, #2327). The count therefore follows the machine, as
//!   `zstd -T0` does; 0 workers would select the single-threaded format, which differs, and is never used.
//! - which job carries the end-of-frame mark is decided by timing when the input ends exactly on a job boundary
//!   and the input is fed as "continue" then "end" with nothing: if the job queue is full at that moment the
//!   last job is marked final, otherwise a 3-byte empty last block follows. Passing the final bytes with the
//!   end directive removes the race, so the stream is fed that way.

use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, anyhow};
use zstd::zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd::zstd_safe::{CCtx, CParameter, InBuffer, OutBuffer};

use crate::artifact::Staged;
use crate::hashio::{HashingReader, HashingWriter, Sha256};
use crate::ui::{Progress, ProgressReader};

/// zstd level: 3 (zstd's default) balances speed and size for sparse disk images.
pub const LEVEL: i32 = 3;
/// Upper bound on workers: each holds a job (~8 MiB at level 3) plus its tables; 8 keeps a build well under
/// its memory target on a large machine.
const MAX_WORKERS: u32 = 8;
/// Read size: several MiB per read keeps the workers fed.
const CHUNK: usize = 4 << 20;

/// Workers for this machine: one per core, at least one, at most [`MAX_WORKERS`].
pub fn workers() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(MAX_WORKERS))
        .unwrap_or(1)
        .clamp(1, MAX_WORKERS)
}

/// Compresses `src` into `dst` atomically.
pub fn zstd_file(src: &Path, dst: &Path) -> anyhow::Result<()> {
    let (len, progress, input, mut out) = open(src, dst)?;
    let mut input = ProgressReader::new(input, &progress);
    compress(&mut input, out.file(), len, workers())
        .and_then(|()| at_end(&mut input))
        .with_context(|| format!("compressing {}", src.display()))?;
    done(out, progress, len)
}

/// The SHA-256 and length of each side of a compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashed {
    pub input: (Sha256, u64),
    pub output: (Sha256, u64),
}

/// [`zstd_file`], also hashing `src` and `dst` on the read and write it does anyway: a build lists both in
/// `SHA256SUMS`, and reading them again costs as much as the compression's own read.
pub fn zstd_file_hashed(src: &Path, dst: &Path) -> anyhow::Result<Hashed> {
    let len = fs_err::metadata(src)?.len();
    hashed(src, 0..len, dst, true)
}

/// [`zstd_file_hashed`] for the bytes `range` of `src` only: one part of a disk ([`crate::disk::parts`]).
pub fn zstd_range_hashed(src: &Path, range: Range<u64>, dst: &Path) -> anyhow::Result<Hashed> {
    anyhow::ensure!(
        range.start < range.end,
        "{}: an empty range {range:?} has no frame",
        src.display()
    );
    hashed(src, range, dst, false)
}

/// Compresses `range` of `src` into `dst` (atomically) as one frame, hashing both sides; `whole`: the range is
/// the whole file, which must not have grown meanwhile.
fn hashed(src: &Path, range: Range<u64>, dst: &Path, whole: bool) -> anyhow::Result<Hashed> {
    let len = range.end - range.start;
    let progress = Progress::bytes(format!("compressing {}", src.display()), len);
    let mut input =
        fs_err::File::open(src).with_context(|| format!("opening {}", src.display()))?;
    input.seek(SeekFrom::Start(range.start))?;
    let mut reader = HashingReader::new(ProgressReader::new(input, &progress));
    let mut out = Staged::create(dst)?;
    let mut writer = HashingWriter::new(out.file());
    compress(&mut reader, &mut writer, len, workers())
        .and_then(|()| match whole {
            true => at_end(&mut reader),
            false => Ok(()),
        })
        .with_context(|| format!("compressing bytes {range:?} of {}", src.display()))?;
    let hashed = Hashed {
        input: reader.finish(),
        output: writer.finish(),
    };
    done(out, progress, len)?;
    Ok(hashed)
}

/// `src`'s length, a progress bar, `src` opened, and `dst` staged.
fn open(src: &Path, dst: &Path) -> anyhow::Result<(u64, Progress, fs_err::File, Staged)> {
    let len = fs_err::metadata(src)?.len();
    let progress = Progress::bytes(format!("compressing {}", src.display()), len);
    let input = fs_err::File::open(src).with_context(|| format!("opening {}", src.display()))?;
    Ok((len, progress, input, Staged::create(dst)?))
}

fn done(out: Staged, progress: Progress, len: u64) -> anyhow::Result<()> {
    out.commit()?;
    progress.finish(format!("{len} bytes in"));
    Ok(())
}

fn zerr(code: usize) -> anyhow::Error {
    anyhow!("zstd: {}", zstd::zstd_safe::get_error_name(code))
}

/// The input must end where its recorded size said: an image that grew while it was read is an error.
fn at_end(input: &mut impl Read) -> anyhow::Result<()> {
    let mut byte = [0u8; 1];
    if input.read(&mut byte)? != 0 {
        anyhow::bail!("input grew while it was compressed");
    }
    Ok(())
}

/// Exactly `len` bytes from `input` into one frame with content size and checksum; `workers` >= 1. What follows
/// in `input` is left unread.
fn compress(
    input: &mut impl Read,
    mut output: impl Write,
    len: u64,
    workers: u32,
) -> anyhow::Result<()> {
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::CompressionLevel(LEVEL))
        .map_err(zerr)?;
    cctx.set_parameter(CParameter::NbWorkers(workers.max(1)))
        .map_err(zerr)?;
    cctx.set_parameter(CParameter::ContentSizeFlag(true))
        .map_err(zerr)?;
    cctx.set_parameter(CParameter::ChecksumFlag(true))
        .map_err(zerr)?;
    cctx.set_pledged_src_size(Some(len)).map_err(zerr)?;

    let mut buf = vec![0u8; CHUNK];
    let mut out = vec![0u8; CCtx::out_size()];
    let mut left = len;
    loop {
        // Whole chunks: chunk sizes do not change the output (zstd buffers its jobs), and the last one is known.
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        input
            .read_exact(&mut buf[..want])
            .context("input ended before its recorded size")?;
        left -= want as u64;
        let last = left == 0;
        let directive = if last {
            ZSTD_EndDirective::ZSTD_e_end
        } else {
            ZSTD_EndDirective::ZSTD_e_continue
        };
        let mut inb = InBuffer::around(&buf[..want]);
        loop {
            let mut outb = OutBuffer::around(&mut out[..]);
            let remaining = cctx
                .compress_stream2(&mut outb, &mut inb, directive)
                .map_err(zerr)?;
            let produced = outb.pos();
            output.write_all(&out[..produced])?;
            let consumed = inb.pos == want;
            if (last && remaining == 0) || (!last && consumed) {
                break;
            }
        }
        if last {
            break;
        }
    }
    output.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compressible, non-trivial input of exactly five zstd jobs at level 3 (8 MiB each): the end falls on a
    /// job boundary, where the end-of-frame race lives.
    fn sample(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Runs of noise between runs of text, like a filesystem image.
                if (i / 4096) % 3 == 0 {
                    (state & 0xff) as u8
                } else {
                    b"forja image "[i % 12]
                }
            })
            .collect()
    }

    fn run(data: &[u8], workers: u32) -> Vec<u8> {
        let mut out = Vec::new();
        compress(&mut &data[..], &mut out, data.len() as u64, workers).unwrap();
        out
    }

    #[test]
    fn output_depends_on_neither_worker_count_nor_timing() {
        let data = sample(40 << 20);
        let first = run(&data, 1);
        // One worker makes the job queue fill up most often, which is when the old feeding raced; repeat it.
        for w in [1, 1, 1, 1, 2, 2, 3, 8] {
            assert!(run(&data, w) == first, "{w} worker(s) gave different bytes");
        }
        assert_eq!(zstd::decode_all(&first[..]).unwrap(), data);
        // The last job carries the end mark: no empty last block (header 01 00 00) before the 4-byte checksum.
        assert_ne!(
            first[first.len() - 7..first.len() - 4],
            [1, 0, 0],
            "frame ends with an empty last block"
        );
    }

    #[test]
    fn short_input_is_an_error_not_a_short_frame() {
        let data = sample(1 << 20);
        let err = compress(&mut &data[..], Vec::new(), data.len() as u64 + 1, 2).unwrap_err();
        assert!(
            format!("{err:#}").contains("before its recorded size"),
            "{err:#}"
        );
    }

    #[test]
    fn hashes_both_files_on_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("in"), dir.path().join("in.zst"));
        fs_err::write(&src, sample(3 << 20)).unwrap();
        let h = zstd_file_hashed(&src, &dst).unwrap();
        assert_eq!(h.input, (Sha256::of_file(&src).unwrap(), 3 << 20));
        let out_len = fs_err::metadata(&dst).unwrap().len();
        assert_eq!(h.output, (Sha256::of_file(&dst).unwrap(), out_len));
    }

    #[test]
    fn a_range_is_one_frame_of_those_bytes_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("in"), dir.path().join("part.zst"));
        let data = sample(3 << 20);
        fs_err::write(&src, &data).unwrap();
        let range = (1 << 20)..(2 << 20) + 5;
        let h = zstd_range_hashed(&src, range.clone(), &dst).unwrap();
        let want = &data[range.start as usize..range.end as usize];
        let frame = fs_err::read(&dst).unwrap();
        assert!(zstd::decode_all(&frame[..]).unwrap() == want);
        assert_eq!(h.input, (Sha256::of(want), want.len() as u64));
        assert_eq!(h.output, (Sha256::of(&frame), frame.len() as u64));
        assert!(zstd_range_hashed(&src, 5..5, &dst).is_err());
    }

    #[test]
    fn workers_follow_the_machine_within_bounds() {
        assert!((1..=MAX_WORKERS).contains(&workers()));
    }
}

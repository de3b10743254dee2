//! The root image's way into its slot: read in 4 MiB chunks, every 4 KiB block of a chunk checked against the
//! proven dm-verity tree before that chunk is written, on one hashing thread per core while the reader goes on.
//!
//! Each worker proves a whole chunk and then writes it itself (`pwrite` at the chunk's offset, so chunks may land
//! in any order; direct I/O from the pool's 4 KiB-aligned buffers where the target takes it): while one worker writes, the other hashes and the reader fills the next buffer, which is what
//! lets the hashing hide behind the I/O on two cores. A fixed pool of buffers bounds memory (and makes the
//! reader wait for the slowest stage). The first mismatch stops everything: the reader reads no further, the
//! workers write nothing more, and the caller zeroes what was written.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

use super::slot::DIRECT_ALIGN;
use crate::error::{Exit, fail};
use crate::fs::verity::{BLOCK, CheckedTree};
use crate::hashio::read_full;

/// The chunk the root image is read, proven and written in.
pub const CHUNK: usize = 4 << 20;

/// Where proven chunks go: `put(offset in the image, bytes)`. A dry run passes one that writes nothing.
pub type Put<'a> = dyn Fn(u64, &[u8]) -> anyhow::Result<()> + Sync + 'a;

/// A chunk read from the image, on its way to a worker.
struct Job {
    at: u64,
    len: usize,
    buf: Buf,
}

/// A pooled buffer whose usable part starts at a [`DIRECT_ALIGN`] boundary, so a chunk can go to the disk with
/// direct I/O as it is (a `Vec`'s heap block never moves while it is not resized).
struct Buf(Vec<u8>);

impl Buf {
    fn new() -> Buf {
        Buf(vec![0u8; CHUNK + DIRECT_ALIGN])
    }

    fn bytes(&mut self) -> &mut [u8] {
        let off = self.0.as_ptr().align_offset(DIRECT_ALIGN);
        &mut self.0[off..off + CHUNK]
    }
}

/// What the workers share.
struct Shared<'a> {
    jobs: Mutex<Receiver<Job>>,
    tree: &'a CheckedTree<'a>,
    put: &'a Put<'a>,
    name: &'a str,
    stop: AtomicBool,
    failed: Mutex<Option<anyhow::Error>>,
}

/// Threads that hash: one per core (at most 8; the reader shares the cores, it mostly waits on `read`).
fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

/// Streams `size` bytes of `src` (the member `name`) through the tree's check into `put`. A block that differs
/// from its level-0 entry is [`Exit::HashMismatch`]; an image that ends early or cannot be read is
/// [`Exit::BadArchive`]; an error from `put` is returned as it is. `on_read` is told each chunk's length.
pub fn root(
    src: &mut impl Read,
    size: u64,
    name: &str,
    tree: &CheckedTree,
    put: &Put,
    mut on_read: impl FnMut(u64),
) -> anyhow::Result<()> {
    let n = workers();
    let (free_tx, free_rx) = sync_channel::<Buf>(2 * n + 2);
    for _ in 0..2 * n + 2 {
        free_tx.send(Buf::new()).expect("the pool is open");
    }
    let (job_tx, job_rx) = sync_channel::<Job>(2 * n + 2);
    let shared = Shared {
        jobs: Mutex::new(job_rx),
        tree,
        put,
        name,
        stop: AtomicBool::new(false),
        failed: Mutex::new(None),
    };
    let read = std::thread::scope(|s| {
        for _ in 0..n {
            let (shared, free) = (&shared, free_tx.clone());
            s.spawn(move || work(shared, free));
        }
        // Only the workers return buffers now: if they all ended, the reader's wait ends too.
        drop(free_tx);
        let read = read_chunks(src, size, name, &shared, &free_rx, job_tx, &mut on_read);
        if read.is_err() {
            shared.stop.store(true, Ordering::SeqCst);
        }
        read
    });
    let failed = shared
        .failed
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    // A worker's refusal is the cause; a read error after it (the reader stopped) is not.
    match failed {
        Some(e) => Err(e),
        None => read,
    }
}

/// The reader: fills pooled buffers in order and hands them to the workers; `jobs` is dropped on return, which
/// ends the workers once they drained it.
fn read_chunks(
    src: &mut impl Read,
    size: u64,
    name: &str,
    shared: &Shared,
    free: &Receiver<Buf>,
    jobs: SyncSender<Job>,
    on_read: &mut impl FnMut(u64),
) -> anyhow::Result<()> {
    let mut at = 0u64;
    while at < size && !shared.stop.load(Ordering::SeqCst) {
        let Ok(mut buf) = free.recv() else {
            return Err(fail(Exit::Internal, "every hashing thread ended"));
        };
        let len = (size - at).min(CHUNK as u64) as usize;
        let got = read_full(src, &mut buf.bytes()[..len]).map_err(|e| {
            fail(
                Exit::BadArchive,
                format!("bundle: reading {name} at byte {at}: {e}"),
            )
        })?;
        if got != len {
            return Err(fail(
                Exit::BadArchive,
                format!("bundle: {name} ends at byte {}", at + got as u64),
            ));
        }
        if jobs.send(Job { at, len, buf }).is_err() {
            return Err(fail(Exit::Internal, "every hashing thread ended"));
        }
        at += len as u64;
        on_read(len as u64);
    }
    Ok(())
}

/// A worker: proves each chunk it takes, then writes it; after a refusal it only returns buffers.
fn work(shared: &Shared, free: SyncSender<Buf>) {
    loop {
        let job = {
            let jobs = shared.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            jobs.recv()
        };
        let Ok(mut job) = job else { return };
        if !shared.stop.load(Ordering::SeqCst)
            && let Err(e) = prove_and_put(shared, &mut job)
        {
            shared.stop.store(true, Ordering::SeqCst);
            let mut failed = shared.failed.lock().unwrap_or_else(PoisonError::into_inner);
            failed.get_or_insert(e);
        }
        // The reader may have stopped waiting for buffers; a closed pool is fine.
        let _ = free.send(job.buf);
    }
}

fn prove_and_put(shared: &Shared, job: &mut Job) -> anyhow::Result<()> {
    let bytes = &job.buf.bytes()[..job.len];
    let first = job.at / BLOCK;
    if let Err(b) = shared.tree.check_blocks(first, bytes) {
        return Err(fail(
            Exit::HashMismatch,
            format!(
                "bundle: {} block {b} (bytes {}..{}) does not match the signed hash tree",
                shared.name,
                b * BLOCK,
                (b + 1) * BLOCK
            ),
        ));
    }
    (shared.put)(job.at, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;
    use crate::fs::verity::{self, VerityParams};
    use std::collections::BTreeMap;

    /// Three full chunks and a partial one, and its tree (written by [`verity::build`], which tests/verity.rs
    /// proves byte-identical to `veritysetup format`).
    fn image() -> (Vec<u8>, Vec<u8>, crate::hashio::Sha256) {
        let data: Vec<u8> = (0..3 * CHUNK as u64 + 10 * BLOCK)
            .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 11) as u8)
            .collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("d"), &data).unwrap();
        let mut out = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("h"))
            .unwrap();
        let p = VerityParams {
            salt: [1; 32],
            uuid: uuid::Uuid::from_u128(2),
        };
        let src = std::fs::File::open(dir.path().join("d")).unwrap();
        let t = verity::build(&src, 0, data.len() as u64, &mut out, 0, 1 << 30, &p).unwrap();
        (
            data,
            std::fs::read(dir.path().join("h")).unwrap(),
            t.root_hash,
        )
    }

    /// Runs the stream into a recording sink: what was put, by offset.
    fn run(
        input: &[u8],
        size: u64,
        area: &[u8],
        root: &crate::hashio::Sha256,
    ) -> (anyhow::Result<()>, BTreeMap<u64, Vec<u8>>) {
        let tree = verity::check_tree(area, size.div_ceil(BLOCK), &[1; 32], root).unwrap();
        let got = Mutex::new(BTreeMap::new());
        let put = |at: u64, bytes: &[u8]| {
            got.lock().unwrap().insert(at, bytes.to_vec());
            Ok(())
        };
        let mut read = 0;
        let r = root_stream(input, size, &tree, &put, &mut read);
        assert!(read <= size);
        (r, got.into_inner().unwrap())
    }

    fn root_stream(
        mut input: &[u8],
        size: u64,
        tree: &CheckedTree,
        put: &Put,
        read: &mut u64,
    ) -> anyhow::Result<()> {
        root(&mut input, size, "root.erofs", tree, put, |n| *read += n)
    }

    #[test]
    fn every_chunk_is_proven_then_put_once() {
        let (data, area, root) = image();
        let (r, got) = run(&data, data.len() as u64, &area, &root);
        r.unwrap();
        assert_eq!(got.len(), 4);
        let joined: Vec<u8> = got.into_values().flatten().collect();
        assert!(joined == data, "the chunks put are not the image");
    }

    #[test]
    fn no_chunk_holding_a_bad_block_is_ever_put() {
        let (mut data, area, root) = image();
        // Block 1030: the third 4 KiB block of the second chunk.
        data[(1030 * BLOCK + 99) as usize] ^= 0x40;
        let (r, got) = run(&data, data.len() as u64, &area, &root);
        let err = r.unwrap_err();
        assert_eq!(exit_of(&err), Exit::HashMismatch, "{err}");
        assert!(
            err.to_string().contains(
                "root.erofs block 1030 (bytes 4218880..4222976) does not match the signed hash tree"
            ),
            "{err}"
        );
        assert!(!got.contains_key(&(CHUNK as u64)), "the bad chunk was put");
        for (at, bytes) in &got {
            assert!(bytes[..] == data[*at as usize..][..bytes.len()]);
        }
    }

    #[test]
    fn a_short_image_or_a_failing_write_stops_the_stream() {
        let (data, area, root) = image();
        let (r, _) = run(&data[..CHUNK + 5], data.len() as u64, &area, &root);
        let err = r.unwrap_err();
        assert_eq!(exit_of(&err), Exit::BadArchive, "{err}");
        assert!(err.to_string().contains("root.erofs ends at byte"), "{err}");
        let tree = verity::check_tree(&area, data.len() as u64 / BLOCK, &[1; 32], &root).unwrap();
        let put = |_: u64, _: &[u8]| Err(fail(Exit::Io, "disk full"));
        let err = root_stream(&data, data.len() as u64, &tree, &put, &mut 0).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Io, "{err}");
    }
}

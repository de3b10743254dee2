//! dm-verity hash trees, written by forja in the format `veritysetup format` writes (hash type 1, SHA-256,
//! 4096-byte data and hash blocks, a superblock at the start of the hash area), so the kernel, `veritysetup
//! verify` and systemd-veritysetup read them.
//!
//! Why not run `veritysetup format`: it takes its data from a file or block device of its own, while forja
//! builds the root filesystem straight into `disk.raw` at its partition's offset and this kernel has no loop or
//! device-mapper to lend it one. Here the data is read once, in place, and the tree is written straight into the
//! verity partition's region: no copy of the root. `tests/verity.rs` checks every tree with `veritysetup verify`
//! and compares bytes with `veritysetup format` on the same data; `ci/bench-verity` times both.
//!
//! Format (cryptsetup's on-disk description of verity): digest of a block = SHA-256(salt ‖ block); level 0 holds
//! the digests of the data blocks, 128 per hash block (zero-padded); each level above holds the digests of the
//! one below, until a level fits one block; the root hash is the digest of that block (of the data block itself
//! when there is only one). On disk the superblock
//! comes first (in its own hash block), then the levels from the top (one block) down to level 0.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Exit, fail};
use crate::hashio::Sha256 as Digest256;

/// Data and hash block size.
pub const BLOCK: u64 = 4096;
const DIGEST: usize = 32;
const PER_BLOCK: u64 = BLOCK / DIGEST as u64;

/// What identifies a tree: its salt and UUID (both decided by the plan, so trees are reproducible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityParams {
    pub salt: [u8; 32],
    pub uuid: Uuid,
}

/// The result: what goes on the kernel command line and into the plan's record of the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityTree {
    pub root_hash: Digest256,
    pub data_blocks: u64,
    /// Bytes of the hash area (superblock and every level).
    pub hash_size: u64,
}

/// Hash blocks per level for `data_blocks` blocks of data, level 0 first. A single data block has no level: its
/// digest is the root hash.
fn levels(data_blocks: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut n = data_blocks;
    while n > 1 {
        n = n.div_ceil(PER_BLOCK);
        out.push(n);
    }
    out
}

/// Size of the hash area for `data_bytes` of data: what the verity partition must hold.
pub fn hash_size(data_bytes: u64) -> u64 {
    BLOCK + levels(data_bytes.div_ceil(BLOCK)).iter().sum::<u64>() * BLOCK
}

fn superblock(p: &VerityParams, data_blocks: u64) -> [u8; 512] {
    let mut sb = [0u8; 512];
    sb[0..8].copy_from_slice(b"verity\0\0");
    sb[8..12].copy_from_slice(&1u32.to_le_bytes()); // version
    sb[12..16].copy_from_slice(&1u32.to_le_bytes()); // hash type: salt first
    sb[16..32].copy_from_slice(p.uuid.as_bytes());
    sb[32..38].copy_from_slice(b"sha256");
    sb[64..68].copy_from_slice(&(BLOCK as u32).to_le_bytes());
    sb[68..72].copy_from_slice(&(BLOCK as u32).to_le_bytes());
    sb[72..80].copy_from_slice(&data_blocks.to_le_bytes());
    sb[80..82].copy_from_slice(&(p.salt.len() as u16).to_le_bytes());
    sb[88..88 + p.salt.len()].copy_from_slice(&p.salt);
    sb
}

fn digest(salt: &[u8], block: &[u8]) -> [u8; DIGEST] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(block);
    h.finalize().into()
}

/// Hashes `data_bytes` of `src` starting at `src_offset` (a multiple of [`BLOCK`] bytes) and writes the tree
/// into `dst` at `dst_offset`. `dst_room` is the space there; a tree that does not fit is refused.
pub fn build(
    src: &File,
    src_offset: u64,
    data_bytes: u64,
    dst: &mut File,
    dst_offset: u64,
    dst_room: u64,
    p: &VerityParams,
) -> anyhow::Result<VerityTree> {
    if data_bytes == 0 || data_bytes % BLOCK != 0 {
        return Err(fail(
            Exit::Internal,
            format!("verity: {data_bytes} bytes of data is not a whole number of 4 KiB blocks"),
        ));
    }
    let size = hash_size(data_bytes);
    if size > dst_room {
        return Err(fail(
            Exit::Input,
            format!("verity: the hash tree needs {size} bytes, its partition holds {dst_room}"),
        ));
    }
    let data_blocks = data_bytes / BLOCK;
    let mut level = hash_data(src, src_offset, data_blocks, &p.salt)?;
    let counts = levels(data_blocks);
    // Level offsets: the top level right after the superblock, level 0 last.
    let mut offset_of = vec![0u64; counts.len()];
    let mut at = dst_offset + BLOCK;
    for (i, n) in counts.iter().enumerate().rev() {
        offset_of[i] = at;
        at += n * BLOCK;
    }
    for (i, &n) in counts.iter().enumerate() {
        let blocks = pack(&level, n);
        dst.seek(SeekFrom::Start(offset_of[i]))?;
        dst.write_all(&blocks)?;
        level = blocks
            .chunks(BLOCK as usize)
            .map(|b| digest(&p.salt, b))
            .collect();
    }
    dst.seek(SeekFrom::Start(dst_offset))?;
    let mut first = vec![0u8; BLOCK as usize];
    first[..512].copy_from_slice(&superblock(p, data_blocks));
    dst.write_all(&first)?;
    Ok(VerityTree {
        root_hash: Digest256(level[0]),
        data_blocks,
        hash_size: size,
    })
}

/// Digests of `n` blocks packed 128 to a block, zero-padded, `blocks` blocks in all.
fn pack(digests: &[[u8; DIGEST]], blocks: u64) -> Vec<u8> {
    let mut out = vec![0u8; (blocks * BLOCK) as usize];
    for (i, d) in digests.iter().enumerate() {
        let b = i / PER_BLOCK as usize;
        let o = b * BLOCK as usize + (i % PER_BLOCK as usize) * DIGEST;
        out[o..o + DIGEST].copy_from_slice(d);
    }
    out
}

/// Level 0: the digest of every data block, read in large chunks and hashed on every core.
fn hash_data(
    src: &File,
    offset: u64,
    blocks: u64,
    salt: &[u8],
) -> anyhow::Result<Vec<[u8; DIGEST]>> {
    const CHUNK: u64 = 1024; // blocks per read: 4 MiB
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8) as u64;
    let mut out = vec![[0u8; DIGEST]; blocks as usize];
    let per = blocks.div_ceil(threads).div_ceil(CHUNK) * CHUNK;
    std::thread::scope(|s| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        for (t, part) in out.chunks_mut(per.max(1) as usize).enumerate() {
            let first = t as u64 * per;
            handles.push(s.spawn(move || -> std::io::Result<()> {
                let mut buf = vec![0u8; (CHUNK * BLOCK) as usize];
                for (c, digests) in part.chunks_mut(CHUNK as usize).enumerate() {
                    let at = offset + (first + c as u64 * CHUNK) * BLOCK;
                    let bytes = &mut buf[..digests.len() * BLOCK as usize];
                    src.read_exact_at(bytes, at)?;
                    for (d, block) in digests.iter_mut().zip(bytes.chunks(BLOCK as usize)) {
                        *d = digest(salt, block);
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a verity hashing thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_counts_follow_the_fan_out() {
        assert_eq!(levels(1), Vec::<u64>::new());
        assert_eq!(levels(128), vec![1]);
        assert_eq!(levels(129), vec![2, 1]);
        assert_eq!(levels(128 * 128 + 1), vec![129, 2, 1]);
        assert_eq!(hash_size(4096), 4096);
        assert_eq!(hash_size(2 * 4096), 2 * 4096);
    }

    #[test]
    fn superblock_has_veritysetups_layout() {
        let p = VerityParams {
            salt: [7; 32],
            uuid: Uuid::from_u128(1),
        };
        let sb = superblock(&p, 5);
        assert_eq!(&sb[..8], b"verity\0\0");
        assert_eq!(u64::from_le_bytes(sb[72..80].try_into().unwrap()), 5);
        assert_eq!(u16::from_le_bytes(sb[80..82].try_into().unwrap()), 32);
        assert_eq!(&sb[88..120], &[7; 32]);
    }
}

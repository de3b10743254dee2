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

/// Where each level starts in the hash area, level 0 first: the top level right after the superblock's block,
/// level 0 last.
fn level_offsets(counts: &[u64]) -> Vec<u64> {
    let mut offset_of = vec![0u64; counts.len()];
    let mut at = BLOCK;
    for (i, n) in counts.iter().enumerate().rev() {
        offset_of[i] = at;
        at += n * BLOCK;
    }
    offset_of
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
    let offset_of = level_offsets(&counts);
    for (i, &n) in counts.iter().enumerate() {
        let blocks = pack(&level, n);
        dst.seek(SeekFrom::Start(dst_offset + offset_of[i]))?;
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

/// The superblock fields forja reads back: it writes and checks only version 1, hash type 1, SHA-256, 4 KiB
/// data and hash blocks and a 32-byte salt, so any other value is refused by [`read_superblock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    pub salt: [u8; 32],
    pub uuid: Uuid,
    pub data_blocks: u64,
}

/// Parses the superblock at the start of a hash area; the error names the field and what was expected.
pub fn read_superblock(b: &[u8]) -> Result<Superblock, String> {
    if b.len() < 512 || &b[..8] != b"verity\0\0" {
        return Err("no verity superblock (magic \"verity\")".into());
    }
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let algorithm = &b[32..64];
    let salt_len = u16::from_le_bytes([b[80], b[81]]) as usize;
    for (field, got, want) in [
        ("version", u32_at(8) as u64, 1),
        ("hash type", u32_at(12) as u64, 1),
        ("data block size", u32_at(64) as u64, BLOCK),
        ("hash block size", u32_at(68) as u64, BLOCK),
        ("salt size", salt_len as u64, 32),
    ] {
        if got != want {
            return Err(format!("superblock {field} {got}, expected {want}"));
        }
    }
    if algorithm[..6] != *b"sha256" || algorithm[6..].iter().any(|&c| c != 0) {
        return Err(format!(
            "superblock algorithm {:?}, expected \"sha256\"",
            String::from_utf8_lossy(algorithm).trim_end_matches('\0')
        ));
    }
    Ok(Superblock {
        salt: b[88..120].try_into().expect("32 bytes"),
        uuid: Uuid::from_bytes(b[16..32].try_into().expect("16 bytes")),
        data_blocks: u64::from_le_bytes(b[72..80].try_into().expect("8 bytes")),
    })
}

/// Why a hash area was refused by [`check_tree`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("the hash area is {got} bytes, {want} for {data_blocks} data blocks")]
    Size {
        got: u64,
        want: u64,
        data_blocks: u64,
    },
    #[error("{0}")]
    Superblock(String),
    #[error("the superblock's {field} differs from the signed one")]
    Mismatch { field: &'static str },
    #[error("block {block} of level {level} does not hash to its entry in level {}", level + 1)]
    Level { level: usize, block: u64 },
    #[error("the top level does not hash to the root hash")]
    Root,
}

/// A hash area proven to hash up to a root hash exactly as the kernel walks it (salt and sizes from its own
/// superblock, every level's blocks hashing to the entries of the level above, the top block to the root hash),
/// kept to check data blocks against its level 0.
#[derive(Debug)]
pub struct CheckedTree<'a> {
    /// The whole hash area, superblock first, as proven.
    area: &'a [u8],
    salt: [u8; 32],
    data_blocks: u64,
    /// Level 0's blocks; `None` for one data block, whose digest is the root hash itself.
    level0: Option<&'a [u8]>,
    root: [u8; DIGEST],
}

/// Checks `area` (a whole hash area, superblock first) against the signed `root_hash`, `salt` and data block
/// count, before a single data block is trusted to it.
pub fn check_tree<'a>(
    area: &'a [u8],
    data_blocks: u64,
    salt: &[u8; 32],
    root_hash: &Digest256,
) -> Result<CheckedTree<'a>, TreeError> {
    let want = hash_size(data_blocks * BLOCK);
    if data_blocks == 0 || area.len() as u64 != want {
        return Err(TreeError::Size {
            got: area.len() as u64,
            want,
            data_blocks,
        });
    }
    let sb = read_superblock(area).map_err(TreeError::Superblock)?;
    if sb.data_blocks != data_blocks {
        return Err(TreeError::Mismatch {
            field: "data block count",
        });
    }
    if sb.salt != *salt {
        return Err(TreeError::Mismatch { field: "salt" });
    }
    let counts = levels(data_blocks);
    let offsets = level_offsets(&counts);
    let level = |i: usize| &area[offsets[i] as usize..(offsets[i] + counts[i] * BLOCK) as usize];
    // From the top down, as the kernel trusts it: once a level is proven, all its bytes are (padding included),
    // so each block below needs only to hash to its entry there.
    if let Some(top) = counts.len().checked_sub(1)
        && digest(salt, level(top)) != root_hash.0
    {
        return Err(TreeError::Root);
    }
    for i in (0..counts.len().saturating_sub(1)).rev() {
        let above = level(i + 1);
        for (b, block) in level(i).chunks(BLOCK as usize).enumerate() {
            if digest(salt, block) != above[b * DIGEST..][..DIGEST] {
                return Err(TreeError::Level {
                    level: i,
                    block: b as u64,
                });
            }
        }
    }
    Ok(CheckedTree {
        area,
        salt: *salt,
        data_blocks,
        level0: (!counts.is_empty()).then(|| level(0)),
        root: root_hash.0,
    })
}

impl<'a> CheckedTree<'a> {
    pub fn data_blocks(&self) -> u64 {
        self.data_blocks
    }

    /// The proven hash area (what goes into the slot's verity partition).
    pub fn area(&self) -> &'a [u8] {
        self.area
    }

    /// Checks whole data blocks starting with block number `first` (dm-verity's digest: SHA-256 of salt and
    /// block) against level 0; the error is the first block that differs (or lies beyond the data).
    ///
    /// The blocks are independent messages with a common prefix (the salt), so they are hashed [`LANES`] at a
    /// time by `tape-sha256`'s multi-buffer kernels (AVX-512, AVX2 or interleaved SHA-NI, chosen at run time):
    /// about twice `sha2`'s one-message-at-a-time speed on the build machine, for the same digests (checked
    /// against `sha2` in the tests). The tree itself is proven with `sha2` ([`check_tree`]).
    pub fn check_blocks(&self, first: u64, data: &[u8]) -> Result<(), u64> {
        let whole = data.len() / BLOCK as usize;
        // Blocks past the data, or a partial block, fail where they start, after every block before them.
        let checkable = (self.data_blocks.saturating_sub(first) as usize).min(whole);
        let mut sums = [[0u8; DIGEST]; LANES];
        for (g, group) in data[..checkable * BLOCK as usize]
            .chunks(LANES * BLOCK as usize)
            .enumerate()
        {
            let blocks: Vec<&[u8]> = group.chunks(BLOCK as usize).collect();
            let sums = &mut sums[..blocks.len()];
            tape_sha256::hash_many_prefixed(&self.salt, &blocks, sums);
            for (j, sum) in sums.iter().enumerate() {
                let i = first + (g * LANES + j) as u64;
                let want = match self.level0 {
                    Some(l0) => &l0[i as usize * DIGEST..][..DIGEST],
                    None => &self.root[..],
                };
                if sum[..] != *want {
                    return Err(i);
                }
            }
        }
        if checkable < data.len().div_ceil(BLOCK as usize) {
            return Err(first + checkable as u64);
        }
        Ok(())
    }
}

/// Blocks hashed in one call of the multi-buffer kernel: a few times the widest kernel's 16 lanes.
const LANES: usize = 64;

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

    /// A tree written by [`build`] (byte-identical to `veritysetup format`'s, tests/verity.rs) over `blocks`
    /// blocks of patterned data: the data and the hash area.
    fn tree_of(blocks: u64, salt: [u8; 32]) -> (Vec<u8>, Vec<u8>, VerityTree) {
        use std::io::Read;
        let data: Vec<u8> = (0..blocks * BLOCK)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data"), &data).unwrap();
        let mut out = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("hash"))
            .unwrap();
        let p = VerityParams {
            salt,
            uuid: Uuid::from_u128(7),
        };
        let src = File::open(dir.path().join("data")).unwrap();
        let tree = build(&src, 0, data.len() as u64, &mut out, 0, 1 << 30, &p).unwrap();
        let mut area = Vec::new();
        out.seek(SeekFrom::Start(0)).unwrap();
        out.read_to_end(&mut area).unwrap();
        assert_eq!(area.len() as u64, tree.hash_size);
        (data, area, tree)
    }

    #[test]
    fn multi_buffer_digests_are_sha2s_and_miss_no_byte() {
        // Level 0 made with `sha2` (the `digest` the tree builder uses) over pseudo-random blocks and salt, in
        // counts around the kernels' lane widths (8, 16) and a call's batch ([`LANES`]).
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        let salt: [u8; 32] = std::array::from_fn(|_| next());
        for blocks in [1usize, 7, 16, 17, 63, 64, 65, 200] {
            let mut data: Vec<u8> = (0..blocks * BLOCK as usize).map(|_| next()).collect();
            let l0: Vec<u8> = data
                .chunks(BLOCK as usize)
                .flat_map(|b| digest(&salt, b))
                .collect();
            let t = CheckedTree {
                area: &[],
                salt,
                data_blocks: blocks as u64 + 5,
                level0: Some(&l0),
                root: [0; DIGEST],
            };
            t.check_blocks(0, &data).unwrap();
            t.check_blocks(1, &data[BLOCK as usize..]).unwrap();
            // One flipped bit in any part of a block (the salt's first SHA-256 block, the middle, the last byte
            // before the padding) of any lane: refused, naming that block.
            for j in [0, blocks / 2, blocks - 1] {
                for at in [0, 1, 31, 32, 63, 64, 2047, 4032, 4095] {
                    let k = j * BLOCK as usize + at;
                    data[k] ^= 0x80;
                    assert_eq!(
                        t.check_blocks(0, &data),
                        Err(j as u64),
                        "{blocks} blocks, byte {k}"
                    );
                    data[k] ^= 0x80;
                }
            }
        }
    }

    #[test]
    fn a_built_tree_checks_and_proves_each_data_block() {
        let salt = [3; 32];
        // 1 block (no level), 128 (one level), 129 and 128 * 128 + 1 (two and three levels).
        for blocks in [1, 128, 129, 128 * 128 + 1] {
            let (mut data, area, tree) = tree_of(blocks, salt);
            let t = check_tree(&area, blocks, &salt, &tree.root_hash).unwrap();
            t.check_blocks(0, &data).unwrap();
            let half = (blocks / 2) * BLOCK;
            t.check_blocks(blocks / 2, &data[half as usize..]).unwrap();
            // One flipped data byte: that block, and only from there on.
            let bad = blocks - 1;
            data[(bad * BLOCK + 17) as usize] ^= 1;
            assert_eq!(t.check_blocks(0, &data), Err(bad), "{blocks} blocks");
            // A block beyond the data, or a partial block, never passes.
            assert_eq!(t.check_blocks(blocks, &data[..BLOCK as usize]), Err(blocks));
            assert_eq!(t.check_blocks(0, &data[..100]), Err(0));
        }
    }

    #[test]
    fn a_tree_that_does_not_hash_to_the_root_is_refused_at_each_level() {
        let salt = [9; 32];
        let blocks = 128 * 128 + 1;
        let (_, area, tree) = tree_of(blocks, salt);
        let offsets = level_offsets(&levels(blocks));
        // Level 0 (the last region), level 1, the top block: each flip is caught where it breaks the chain.
        for (at, want) in [
            (
                area.len() - 1,
                TreeError::Level {
                    level: 0,
                    block: 128,
                },
            ),
            (
                offsets[1] as usize + 5,
                TreeError::Level { level: 1, block: 0 },
            ),
            (offsets[2] as usize + 40, TreeError::Root),
        ] {
            let mut bad = area.clone();
            bad[at] ^= 0x80;
            assert_eq!(
                check_tree(&bad, blocks, &salt, &tree.root_hash).unwrap_err(),
                want
            );
        }
        let mut other_root = tree.root_hash;
        other_root.0[0] ^= 1;
        assert_eq!(
            check_tree(&area, blocks, &salt, &other_root).unwrap_err(),
            TreeError::Root
        );
        assert_eq!(
            check_tree(&area, blocks, &[0; 32], &tree.root_hash).unwrap_err(),
            TreeError::Mismatch { field: "salt" }
        );
        assert!(matches!(
            check_tree(&area[..area.len() - 4096], blocks, &salt, &tree.root_hash),
            Err(TreeError::Size { .. })
        ));
        let mut sb = area.clone();
        sb[65] = 0x02; // data block size 0x1000 -> 0x0200

        assert_eq!(
            check_tree(&sb, blocks, &salt, &tree.root_hash).unwrap_err(),
            TreeError::Superblock("superblock data block size 512, expected 4096".into())
        );
    }
}

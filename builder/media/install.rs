//! What the installer does on the machine being installed (`forja media install`, run from the installer's
//! initramfs): verify, then write, never the other way round.
//!
//! 1. `SHA256SUMS.sig` (signify, embedded) is checked against the public key built into the installer, never a
//!    key that travels with the payload. The list inside it is the only source of trusted hashes.
//! 2. `disk.raw.zst` is hashed in full before any disk is opened for writing: a tampered or damaged payload
//!    stops here with nothing written. A network payload (PXE) is therefore fetched twice, once to hash it and
//!    once to write it: inside a site's LAN a second transfer costs seconds, and it keeps "nothing is written
//!    from an unverified payload" true for both media without holding gigabytes in the installer's memory.
//! 3. The image is decompressed while it is written, hashing both the compressed and the decompressed stream.
//!    The first MiB (protective MBR, primary GPT, the start of nothing else) is held back in memory and the
//!    target's first MiB is zeroed first, so until the very last write the target has no partition table that
//!    firmware could boot, whatever it held before. Only when both hashes equal the signed ones is the first
//!    MiB written and the disk flushed. This catches a payload that changed between step 2 and step 3 (a
//!    server that serves different bytes the second time): the target is then left without a partition table.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::disk::parts;
use crate::error::{Exit, fail};
use crate::hashio::{HashingReader, HashingWriter, Sha256};
use crate::sign::{PublicKey, SUMS_SIG, Sums, signify};

/// Bytes at the start of the image that are written last.
pub const HOLD_BACK: usize = 1 << 20;
/// The compressed image in the payload.
pub const IMAGE_ZST: &str = "disk.raw.zst";
/// The name its decompressed hash has in `SHA256SUMS`.
pub const IMAGE_RAW: &str = "disk.raw";

/// Where the payload comes from.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A mounted folder (the USB payload partition).
    Dir(PathBuf),
    /// An HTTP(S) base URL (PXE); names are appended after a `/`.
    Http(String),
}

impl Payload {
    fn open(&self, name: &str) -> anyhow::Result<Box<dyn Read>> {
        match self {
            Payload::Dir(d) => {
                let p = d.join(name);
                Ok(Box::new(crate::inbound::open_regular(&p)?))
            }
            Payload::Http(base) => {
                let url = format!("{}/{name}", base.trim_end_matches('/'));
                let resp = ureq::get(&url)
                    .call()
                    .map_err(|e| fail(Exit::Remote, format!("GET {url}: {e}")))?;
                Ok(Box::new(resp.into_body().into_reader()))
            }
        }
    }
}

/// What a part of the image is on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A compressed file, decompressed onto the disk.
    Frame,
    /// Zeros written onto the disk (the free end of a partition with data).
    Zeros,
    /// Left unwritten (an empty partition): what the disk held there stays.
    Hole,
}

/// One compressed file of the image and its trusted hashes: the whole `disk.raw.zst`, or a part of a site
/// host's disk ([`crate::disk::parts`]); or zeros or a hole of such a disk (no file, its hashes unused; zeros in
/// the image hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedPart {
    pub file: String,
    pub kind: PartKind,
    /// Where its bytes go on the disk.
    pub offset: u64,
    /// How many bytes it decompresses to (unknown for a whole image: up to its end).
    pub len: Option<u64>,
    pub zst: Sha256,
    pub raw: Sha256,
}

/// The trusted hashes, from a verified `SHA256SUMS.sig`: the image's files in disk order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trusted {
    pub parts: Vec<TrustedPart>,
}

impl Trusted {
    /// For the log: the whole image's signed hash, or its parts.
    pub fn describe(&self) -> String {
        match self.parts.as_slice() {
            [one] if one.len.is_none() => format!("signed image SHA-256 {}", one.raw.hex()),
            _ => format!(
                "signed image in parts ({})",
                self.files().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .filter(|p| p.kind == PartKind::Frame)
            .map(|p| p.file.as_str())
    }
}

/// Step 1: the signature over the list, and the image's hashes from it: `disk.raw.zst` and `disk.raw`, or for a
/// site host `disk.parts.json` (checked against its signed hash) and each part it names.
pub fn verify_list(payload: &Payload, key: &PublicKey) -> anyhow::Result<Trusted> {
    let mut sig = Vec::new();
    payload
        .open(SUMS_SIG)?
        .take(1 << 20)
        .read_to_end(&mut sig)
        .with_context(|| format!("reading {SUMS_SIG}"))?;
    let message = signify::verify(key, &sig, &[])
        .map_err(|e| fail(Exit::BadSignature, format!("{SUMS_SIG}: {e}")))?;
    let sums = Sums::parse(message).map_err(|e| fail(Exit::Input, format!("{SUMS_SIG}: {e}")))?;
    let get = |name: &str| {
        sums.get(name).ok_or_else(|| {
            fail(
                Exit::Unverified,
                format!("the signed list has no entry for {name}"),
            )
        })
    };
    if sums.get(IMAGE_ZST).is_some() || sums.get(parts::FILE).is_none() {
        return Ok(Trusted {
            parts: vec![TrustedPart {
                file: IMAGE_ZST.into(),
                kind: PartKind::Frame,
                offset: 0,
                len: None,
                zst: get(IMAGE_ZST)?,
                raw: get(IMAGE_RAW)?,
            }],
        });
    }
    let want = get(parts::FILE)?;
    let mut bytes = Vec::new();
    payload
        .open(parts::FILE)?
        .take(1 << 20)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", parts::FILE))?;
    if Sha256::of(&bytes) != want {
        return Err(fail(
            Exit::HashMismatch,
            format!("{}: differs from its signed SHA-256", parts::FILE),
        ));
    }
    let list = parts::DiskParts::parse(&bytes)
        .map_err(|e| fail(Exit::Input, format!("{}: {e}", parts::FILE)))?;
    let mut out = Vec::new();
    for p in list.parts {
        let (file, zst, raw) = match (p.file, p.raw_sha256) {
            (Some(f), Some(raw)) => (f.clone(), get(&f)?, raw),
            _ => (String::new(), Sha256([0; 32]), Sha256([0; 32])),
        };
        out.push(TrustedPart {
            kind: match (file.is_empty(), p.zeros) {
                (false, _) => PartKind::Frame,
                (true, true) => PartKind::Zeros,
                (true, false) => PartKind::Hole,
            },
            file,
            zst,
            raw,
            offset: p.offset,
            len: Some(p.len),
        });
    }
    Ok(Trusted { parts: out })
}

/// Step 2: the compressed files' hashes, before any disk is touched.
pub fn verify_image(payload: &Payload, trusted: &Trusted) -> anyhow::Result<()> {
    for p in trusted.parts.iter().filter(|p| p.kind == PartKind::Frame) {
        let mut r = HashingReader::new(payload.open(&p.file)?);
        io::copy(&mut r, &mut io::sink()).with_context(|| format!("reading {}", p.file))?;
        let (got, _) = r.finish();
        if got != p.zst {
            return Err(fail(
                Exit::HashMismatch,
                format!(
                    "{}: SHA-256 {} differs from the signed {}",
                    p.file,
                    got.hex(),
                    p.zst.hex()
                ),
            ));
        }
    }
    Ok(())
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    pub bytes: u64,
    pub image_sha256: Sha256,
}

/// Step 3: stream the image to `target`, first MiB last. `target` must already be the chosen disk. Zero blocks
/// inside `skip` (partitions the image leaves empty: slot B, vmstore) are hashed but not written: whatever the
/// disk held there stays (nothing boots from or trusts those regions before they are written on the target).
pub fn write_image(
    payload: &Payload,
    trusted: &Trusted,
    target: &Path,
    skip: &[super::Region],
) -> anyhow::Result<Written> {
    let mut disk = OpenOptions::new()
        .write(true)
        .open(target)
        .with_context(|| format!("opening {} for writing", target.display()))?;
    // No old partition table may describe the new bytes while they are incomplete.
    disk.write_all(&vec![0u8; HOLD_BACK])
        .with_context(|| format!("clearing the first MiB of {}", target.display()))?;
    disk.sync_all()?;

    stream_body(payload, trusted, target, &mut disk, skip).map_err(|e| {
        // Whatever failed, the target has no partition table now: say so, keeping the cause's exit code.
        fail(
            crate::error::exit_of(&e),
            format!(
                "{e:#}: the first MiB was not written, {} is not bootable",
                target.display()
            ),
        )
    })
}

/// Step 3's body: every part in disk order, each decompressed and hashed on the way and checked when it ends; the
/// first part's first MiB held back and written last, when every part has checked out.
fn stream_body(
    payload: &Payload,
    trusted: &Trusted,
    target: &Path,
    disk: &mut File,
    skip: &[super::Region],
) -> anyhow::Result<Written> {
    let mut image = HashingWriter::new(io::sink());
    let mut first = vec![0u8; HOLD_BACK];
    let mut held = 0;
    let mut buf = vec![0u8; 4 << 20];
    for (i, part) in trusted.parts.iter().enumerate() {
        if part.kind != PartKind::Frame {
            // Zeros are written (a hole is not); the image hash counts them either way.
            let mut left = part.len.unwrap_or(0);
            buf.fill(0);
            while left > 0 {
                let k = left.min(buf.len() as u64) as usize;
                let at = part.offset + part.len.unwrap_or(0) - left;
                if part.kind == PartKind::Zeros {
                    write_chunk(disk, &buf[..k], at, skip).with_context(|| {
                        format!("writing zeros to {} at byte {at}", target.display())
                    })?;
                }
                image.write_all(&buf[..k])?;
                left -= k as u64;
            }
            continue;
        }
        let mut zst = HashingReader::new(payload.open(&part.file)?);
        let mut raw = HashingReader::new(
            zstd::stream::read::Decoder::new(&mut zst).context("starting zstd")?,
        );
        let limit = part.len.unwrap_or(u64::MAX);
        if i == 0 {
            held = crate::hashio::read_full(&mut raw, &mut first).map_err(undecodable)?;
            image.write_all(&first[..held])?;
        }
        loop {
            let k = crate::hashio::read_full(&mut raw, &mut buf).map_err(undecodable)?;
            if k == 0 || HashingReader::bytes(&raw) > limit {
                break;
            }
            let at = part.offset + HashingReader::bytes(&raw) - k as u64;
            write_chunk(disk, &buf[..k], at, skip)
                .with_context(|| format!("writing {} at byte {at}", target.display()))?;
            image.write_all(&buf[..k])?;
        }
        let (raw_got, bytes) = raw.finish();
        io::copy(&mut zst, &mut io::sink())
            .with_context(|| format!("reading the rest of {}", part.file))?;
        let (zst_got, _) = zst.finish();
        let ok = |good: bool| if good { "ok" } else { "differs" };
        let len_ok = part.len.is_none_or(|l| l == bytes);
        if zst_got != part.zst || raw_got != part.raw || !len_ok {
            return Err(fail(
                Exit::HashMismatch,
                format!(
                    "the image read does not match the signed list ({}: compressed {}, decompressed {})",
                    part.file,
                    ok(zst_got == part.zst),
                    ok(raw_got == part.raw && len_ok),
                ),
            ));
        }
    }
    let (image_sha256, bytes) = image.finish();
    disk.sync_all()?;
    disk.seek(SeekFrom::Start(0))?;
    disk.write_all(&first[..held])?;
    disk.sync_all()
        .with_context(|| format!("flushing {}", target.display()))?;
    Ok(Written {
        bytes,
        image_sha256,
    })
}

/// Writes `chunk` at byte `at`, leaving out 64 KiB blocks of zeros that lie wholly inside a skipped region.
fn write_chunk(disk: &File, chunk: &[u8], at: u64, skip: &[super::Region]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    const BLOCK: usize = 64 << 10;
    let skipped = |a: u64, b: u64| skip.iter().any(|r| a >= r.offset && b <= r.offset + r.len);
    let mut pending: Option<usize> = None; // start of a run of blocks to write
    for (i, block) in chunk.chunks(BLOCK).enumerate() {
        let a = at + (i * BLOCK) as u64;
        let leave = skipped(a, a + block.len() as u64) && block.iter().all(|&x| x == 0);
        match (leave, pending) {
            (false, None) => pending = Some(i * BLOCK),
            (true, Some(p)) => {
                disk.write_all_at(&chunk[p..i * BLOCK], at + p as u64)?;
                pending = None;
            }
            _ => {}
        }
    }
    if let Some(p) = pending {
        disk.write_all_at(&chunk[p..], at + p as u64)?;
    }
    Ok(())
}

/// A stream that does not decompress is not the signed image (its hash was checked before): a hash failure.
fn undecodable(e: io::Error) -> anyhow::Error {
    fail(Exit::HashMismatch, format!("decompressing the image: {e}"))
}

/// Verify everything that can be verified before writing, then write: steps 1 to 3.
pub fn install(payload: &Payload, key: &PublicKey, target: &Path) -> anyhow::Result<Written> {
    let trusted = verify_list(payload, key)?;
    verify_image(payload, &trusted)?;
    write_image(payload, &trusted, target, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::SigningKey;

    /// A payload folder with a signed list over a small image whose first MiB is non-zero.
    fn payload(key: &SigningKey) -> (tempfile::TempDir, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let mut img: Vec<u8> = (0..3 * HOLD_BACK + 12345)
            .map(|i| (i % 251) as u8)
            .collect();
        img[..8].copy_from_slice(b"BOOTABLE");
        std::fs::write(dir.path().join(IMAGE_RAW), &img).unwrap();
        crate::compress::zstd_file(&dir.path().join(IMAGE_RAW), &dir.path().join(IMAGE_ZST))
            .unwrap();
        crate::sign::sign_dir(dir.path(), key, &[IMAGE_RAW, IMAGE_ZST]).unwrap();
        std::fs::remove_file(dir.path().join(IMAGE_RAW)).unwrap();
        (dir, img)
    }

    /// A payload folder holding the image as parts (head, zeros, shared root, a hole, end), signed.
    fn parts_payload(key: &SigningKey) -> (tempfile::TempDir, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let mut img: Vec<u8> = (0..5 * HOLD_BACK).map(|i| (i % 249) as u8).collect();
        img[..8].copy_from_slice(b"BOOTABLE");
        img[HOLD_BACK..2 * HOLD_BACK].fill(0);
        img[3 * HOLD_BACK..4 * HOLD_BACK].fill(0);
        // (file, offset, len, zeros)
        let cuts = [
            (Some(parts::HEAD), 0, HOLD_BACK, false),
            (None, HOLD_BACK, HOLD_BACK, true),
            (Some(parts::ROOT_A), 2 * HOLD_BACK, HOLD_BACK, false),
            (None, 3 * HOLD_BACK, HOLD_BACK, false),
            (Some(parts::END), 4 * HOLD_BACK, HOLD_BACK, false),
        ];
        let mut list = parts::DiskParts {
            format: parts::FORMAT.into(),
            size: img.len() as u64,
            parts: Vec::new(),
        };
        let mut names = vec![parts::FILE];
        for (file, at, len, zeros) in cuts {
            let bytes = &img[at..at + len];
            if let Some(f) = file {
                std::fs::write(dir.path().join(f), zstd::encode_all(bytes, 3).unwrap()).unwrap();
                names.push(f);
            }
            list.parts.push(parts::Part {
                file: file.map(str::to_owned),
                offset: at as u64,
                len: len as u64,
                raw_sha256: file.map(|_| Sha256::of(bytes)),
                zeros,
            });
        }
        std::fs::write(
            dir.path().join(parts::FILE),
            serde_json::to_vec(&list).unwrap(),
        )
        .unwrap();
        crate::sign::sign_dir(dir.path(), key, &names).unwrap();
        (dir, img)
    }

    #[test]
    fn an_image_in_parts_is_written_part_by_part_and_a_bad_part_writes_nothing() {
        let key = SigningKey::from_seed([3; 32]);
        let (dir, img) = parts_payload(&key);
        let payload = Payload::Dir(dir.path().into());
        let trusted = verify_list(&payload, &key.public()).unwrap();
        assert_eq!(
            trusted.files().collect::<Vec<_>>(),
            [parts::HEAD, parts::ROOT_A, parts::END]
        );
        // Zeros are written, the hole is not: what the target held there stays; the image hash counts both.
        let t = blank(6 * HOLD_BACK);
        std::fs::write(t.path(), vec![0xAA; 6 * HOLD_BACK]).unwrap();
        let w = install(&payload, &key.public(), t.path()).unwrap();
        assert_eq!(
            (w.bytes, w.image_sha256),
            (img.len() as u64, Sha256::of(&img))
        );
        let got = std::fs::read(t.path()).unwrap();
        assert!(got[..3 * HOLD_BACK] == img[..3 * HOLD_BACK]);
        assert!(got[3 * HOLD_BACK..4 * HOLD_BACK].iter().all(|&b| b == 0xAA));
        assert!(got[4 * HOLD_BACK..5 * HOLD_BACK] == img[4 * HOLD_BACK..]);
        // One flipped byte in the shared part: refused before the target is touched.
        let root = dir.path().join(parts::ROOT_A);
        let mut z = std::fs::read(&root).unwrap();
        let i = z.len() / 2;
        z[i] ^= 1;
        std::fs::write(&root, z).unwrap();
        let t = blank(6 * HOLD_BACK);
        let err = install(&payload, &key.public(), t.path()).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::HashMismatch, "{err:#}");
        assert!(format!("{err:#}").contains(parts::ROOT_A), "{err:#}");
        assert!(std::fs::read(t.path()).unwrap().iter().all(|&b| b == 0));
        // A list changed after signing: refused.
        std::fs::write(dir.path().join(parts::FILE), b"{}").unwrap();
        let err = verify_list(&payload, &key.public()).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::HashMismatch, "{err:#}");
    }

    #[test]
    fn a_part_whose_bytes_change_between_the_passes_leaves_the_target_unbootable() {
        let key = SigningKey::from_seed([3; 32]);
        let (dir, _) = parts_payload(&key);
        let payload = Payload::Dir(dir.path().into());
        let trusted = verify_list(&payload, &key.public()).unwrap();
        // The end part's raw hash is not what its frame holds: found only after the body was written.
        let mut wrong = trusted.clone();
        let end = wrong
            .parts
            .iter_mut()
            .find(|p| p.file == parts::END)
            .unwrap();
        end.raw = Sha256([9; 32]);
        let t = blank(6 * HOLD_BACK);
        std::fs::write(t.path(), vec![0xAA; 6 * HOLD_BACK]).unwrap();
        let err = write_image(&payload, &wrong, t.path(), &[]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("not bootable") && msg.contains(parts::END),
            "{msg}"
        );
        assert!(
            std::fs::read(t.path()).unwrap()[..HOLD_BACK]
                .iter()
                .all(|&b| b == 0)
        );
    }

    fn blank(len: usize) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(len as u64).unwrap();
        f
    }

    #[test]
    fn writes_the_image_and_its_hash_matches() {
        let key = SigningKey::from_seed([3; 32]);
        let (dir, img) = payload(&key);
        let t = blank(8 * HOLD_BACK);
        let w = install(&Payload::Dir(dir.path().into()), &key.public(), t.path()).unwrap();
        assert_eq!(w.bytes, img.len() as u64);
        assert_eq!(w.image_sha256, Sha256::of(&img));
        let got = std::fs::read(t.path()).unwrap();
        assert_eq!(&got[..img.len()], &img[..]);
    }

    #[test]
    fn zeros_of_empty_partitions_are_left_out_and_the_rest_is_written() {
        let t = blank(8 * HOLD_BACK);
        std::fs::write(t.path(), vec![0xAA; 8 * HOLD_BACK]).unwrap();
        let f = OpenOptions::new().write(true).open(t.path()).unwrap();
        let mut chunk = vec![0u8; 4 * HOLD_BACK];
        // The chunk covers bytes 1..5 MiB of the disk; the region 2..4 MiB. Non-zero data inside it (at 3 MiB + 5) is
        // written anyway.
        chunk[2 * HOLD_BACK + 5] = 7;
        let skip = [crate::media::Region {
            offset: 2 * HOLD_BACK as u64,
            len: 2 * HOLD_BACK as u64,
        }];
        write_chunk(&f, &chunk, HOLD_BACK as u64, &skip).unwrap();
        let disk = std::fs::read(t.path()).unwrap();
        assert!(
            disk[HOLD_BACK..2 * HOLD_BACK].iter().all(|&b| b == 0),
            "zeros outside the region are written"
        );
        assert!(
            disk[2 * HOLD_BACK..3 * HOLD_BACK]
                .iter()
                .all(|&b| b == 0xAA),
            "zeros inside are left out"
        );
        let block = (3 * HOLD_BACK) / (64 << 10) * (64 << 10);
        assert_eq!(disk[3 * HOLD_BACK + 5], 7);
        assert!(
            disk[block..block + (64 << 10)]
                .iter()
                .filter(|&&b| b == 0xAA)
                .count()
                == 0
        );
        assert!(
            disk[4 * HOLD_BACK..5 * HOLD_BACK].iter().all(|&b| b == 0),
            "zeros after the region are written"
        );
        assert!(
            disk[5 * HOLD_BACK..].iter().all(|&b| b == 0xAA),
            "nothing past the chunk"
        );
    }

    #[test]
    fn a_tampered_image_writes_nothing() {
        let key = SigningKey::from_seed([3; 32]);
        let (dir, _) = payload(&key);
        let p = dir.path().join(IMAGE_ZST);
        let mut z = std::fs::read(&p).unwrap();
        let i = z.len() / 2;
        z[i] ^= 1;
        std::fs::write(&p, z).unwrap();
        let t = blank(8 * HOLD_BACK);
        let err = install(&Payload::Dir(dir.path().into()), &key.public(), t.path()).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::HashMismatch, "{err:#}");
        assert!(std::fs::read(t.path()).unwrap().iter().all(|&b| b == 0));
    }

    #[test]
    fn another_key_writes_nothing() {
        let key = SigningKey::from_seed([3; 32]);
        let (dir, _) = payload(&key);
        let t = blank(8 * HOLD_BACK);
        let other = SigningKey::from_seed([4; 32]).public();
        let err = install(&Payload::Dir(dir.path().into()), &other, t.path()).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::BadSignature, "{err:#}");
        assert!(std::fs::read(t.path()).unwrap().iter().all(|&b| b == 0));
    }

    /// Serves `dir` over HTTP on 127.0.0.1; `flip` makes it flip one byte of every `disk.raw.zst` it sends
    /// after the first, i.e. a server that changes the payload between the hashing and the writing fetch.
    fn serve(dir: PathBuf, flip_after_first: bool) -> String {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut zst_served = 0;
            for mut s in l.incoming().flatten() {
                let mut req = Vec::new();
                let mut b = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                    req.push(b[0]);
                }
                let req = String::from_utf8_lossy(&req).into_owned();
                let name = req
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/');
                let Ok(mut body) = std::fs::read(dir.join(name)) else {
                    let _ = s.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    continue;
                };
                if name == IMAGE_ZST {
                    zst_served += 1;
                    if flip_after_first && zst_served > 1 {
                        let i = body.len() / 2;
                        body[i] ^= 1;
                    }
                }
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = s
                    .write_all(head.as_bytes())
                    .and_then(|()| s.write_all(&body));
            }
        });
        url
    }

    #[test]
    fn network_payloads_are_hashed_before_writing_too() {
        let key = SigningKey::from_seed([3; 32]);
        let (dir, img) = payload(&key);
        // Good payload over HTTP: installed.
        let url = serve(dir.path().into(), false);
        let t = blank(8 * HOLD_BACK);
        let w = install(&Payload::Http(url), &key.public(), t.path()).unwrap();
        assert_eq!(w.image_sha256, Sha256::of(&img));
        // A tampered payload on the server: refused before the target is opened.
        let p = dir.path().join(IMAGE_ZST);
        let good = std::fs::read(&p).unwrap();
        let mut z = good.clone();
        let i = z.len() / 3;
        z[i] ^= 0x10;
        std::fs::write(&p, z).unwrap();
        let t = blank(8 * HOLD_BACK);
        let err = install(
            &Payload::Http(serve(dir.path().into(), false)),
            &key.public(),
            t.path(),
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::HashMismatch, "{err:#}");
        assert!(
            std::fs::read(t.path()).unwrap().iter().all(|&b| b == 0),
            "bytes were written"
        );
        // A server that sends good bytes to be hashed and other bytes to be written: the target is left
        // without its first MiB (not bootable).
        std::fs::write(&p, good).unwrap();
        let t = blank(8 * HOLD_BACK);
        std::fs::write(t.path(), vec![0xAA; 8 * HOLD_BACK]).unwrap();
        let err = install(
            &Payload::Http(serve(dir.path().into(), true)),
            &key.public(),
            t.path(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("not bootable"), "{err:#}");
        assert!(
            std::fs::read(t.path()).unwrap()[..HOLD_BACK]
                .iter()
                .all(|&b| b == 0)
        );
    }

    #[test]
    fn a_stream_that_fails_late_leaves_the_first_mib_zero() {
        // The payload changed after it was hashed: the mismatch is found after the body was written.
        let key = SigningKey::from_seed([3; 32]);
        let (dir, _) = payload(&key);
        let trusted = verify_list(&Payload::Dir(dir.path().into()), &key.public()).unwrap();
        let mut wrong = trusted.clone();
        wrong.parts[0].raw = Sha256([9; 32]);
        let t = blank(8 * HOLD_BACK);
        std::fs::write(t.path(), vec![0xAA; 8 * HOLD_BACK]).unwrap();
        let err = write_image(&Payload::Dir(dir.path().into()), &wrong, t.path(), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("not bootable"), "{err:#}");
        let got = std::fs::read(t.path()).unwrap();
        assert!(
            got[..HOLD_BACK].iter().all(|&b| b == 0),
            "old table cleared, new one held back"
        );
    }
}

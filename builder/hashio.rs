//! One way to hash while reading or writing: [`Sha256`] digests and the [`HashingReader`] and [`HashingWriter`]
//! adapters.
//!
//! Large inputs (vendor images of several GB) are hashed on the same read that consumes them, and large outputs
//! (the compressed disk) on the write that produces them, so nothing is read twice. The adapters are a plain
//! `Read` and `Write`, so they stack with limiting, progress and tar parsing.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use sha2::Digest;

/// A SHA-256 digest. Parsed from and shown as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    pub fn of(bytes: &[u8]) -> Self {
        Sha256(sha2::Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Hashes a whole file in one streaming pass (bounded memory).
    pub fn of_file(path: &Path) -> io::Result<Self> {
        hash_file(path, &mut vec![0u8; READ_BUF], |_| {}).map(|(digest, _)| digest)
    }
}

/// Read size for whole files: at 1 MiB per read the hash, not the system calls, sets the rate (ci/bench-verify).
pub const READ_BUF: usize = 1 << 20;

/// Hashes the whole file at `path` in one streaming pass with reads into `buf` (reused across files by callers
/// that hash many), telling `on_read` each read's length. Returns the digest and the byte count.
pub fn hash_file(
    path: &Path,
    buf: &mut [u8],
    mut on_read: impl FnMut(u64),
) -> io::Result<(Sha256, u64)> {
    // Only a regular file: a FIFO or device (a listed file swapped for one) must not hang or never end.
    let mut f = crate::inbound::open_regular_io(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut total = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
        on_read(n as u64);
    }
    Ok((Sha256(hasher.finalize().into()), total))
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.hex())
    }
}

/// Why a string is not a SHA-256 digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Sha256ParseError {
    #[error("expected 64 hex digits, found {0} characters")]
    Length(usize),
    #[error("expected hex digits only")]
    NotHex,
}

impl FromStr for Sha256 {
    type Err = Sha256ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(Sha256ParseError::Length(s.len()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| Sha256ParseError::NotHex)?;
        Ok(Sha256(out))
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A reader that hashes everything read through it and counts the bytes.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: sha2::Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The digest of everything read, and the byte count.
    pub fn finish(self) -> (Sha256, u64) {
        (Sha256(self.hasher.finalize().into()), self.bytes)
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A writer that hashes everything written through it and counts the bytes.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: sha2::Sha256::new(),
            bytes: 0,
        }
    }

    /// The digest of everything written, and the byte count.
    pub fn finish(self) -> (Sha256, u64) {
        (Sha256(self.hasher.finalize().into()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Only what the inner writer accepted is in the output, so only that is hashed.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads until `buf` is full or the input ends (retrying interrupted reads); returns the bytes read. Fixed-size
/// chunks keep what is written, and where, independent of how the reader splits its reads.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_it_reads() {
        // FIPS 180-2 test vector "abc".
        let mut r = HashingReader::new(&b"abc"[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        let (digest, n) = r.finish();
        assert_eq!(n, 3);
        assert_eq!(
            digest.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(digest, Sha256::of(b"abc"));
    }

    #[test]
    fn hashes_what_it_writes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"a").unwrap();
        w.write_all(b"bc").unwrap();
        let (digest, n) = w.finish();
        assert_eq!(n, 3);
        assert_eq!(digest, Sha256::of(b"abc"));
    }

    #[test]
    fn hashes_whole_files_across_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        fs_err::write(&path, &data).unwrap();
        let mut reads = Vec::new();
        let (digest, n) = hash_file(&path, &mut [0u8; 4096], |k| reads.push(k)).unwrap();
        assert_eq!((digest, n), (Sha256::of(&data), 10_000));
        assert_eq!(reads, [4096, 4096, 1808]);
        assert_eq!(Sha256::of_file(&path).unwrap(), digest);
    }

    #[test]
    fn parses_and_rejects_hex() {
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hex.parse::<Sha256>().unwrap().hex(), hex);
        assert_eq!("abc".parse::<Sha256>(), Err(Sha256ParseError::Length(3)));
        assert_eq!(
            "zz".repeat(32).parse::<Sha256>(),
            Err(Sha256ParseError::NotHex)
        );
    }
}

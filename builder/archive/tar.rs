//! A defensive, streaming tar reader for vendor archives (OVA files are tar archives).
//!
//! It reads each byte once, in order, and never seeks, so the caller can hash the archive on the same read.
//! Accepted: ustar/GNU headers with regular-file members, PAX extended headers (`path`, `size`) and GNU long
//! names. Refused with [`Exit::BadArchive`] and the member's name and offset: absolute paths, `..` components,
//! hard and symbolic links, device files, FIFOs, directories, duplicate names, a PAX size that disagrees with the
//! ustar size field, bad header checksums, truncated members or headers, a missing end-of-archive marker and
//! anything but zero bytes after it. Header and size fields never drive an allocation: metadata records are
//! capped before they are read, member data is streamed.

use std::collections::HashSet;
use std::io::{self, Read};

use crate::error::{Exit, Fail, fail};

const BLOCK: usize = 512;
/// Largest PAX or GNU long-name record accepted (real ones are a few hundred bytes).
const MAX_META: u64 = 64 << 10;

/// A regular-file member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Normalised name (a leading `./` removed).
    pub name: String,
    pub size: u64,
    /// Offset of the member's header in the archive.
    pub offset: u64,
}

/// Streams the members of a tar archive; see the module comment for what is refused.
#[derive(Debug)]
pub struct TarReader<R> {
    inner: R,
    label: String,
    /// Bytes consumed so far.
    pos: u64,
    /// Data bytes of the current member not yet read.
    remaining: u64,
    /// Zero padding after the current member's data.
    padding: u64,
    current: String,
    names: HashSet<String>,
    done: bool,
}

impl<R: Read> TarReader<R> {
    /// `label` names the archive in error messages.
    pub fn new(inner: R, label: impl Into<String>) -> Self {
        TarReader {
            inner,
            label: label.into(),
            pos: 0,
            remaining: 0,
            padding: 0,
            current: String::new(),
            names: HashSet::new(),
            done: false,
        }
    }

    fn bad(&self, msg: impl std::fmt::Display) -> anyhow::Error {
        fail(Exit::BadArchive, format!("{}: {msg}", self.label))
    }

    /// Reads exactly `buf.len()` bytes; a short read is a truncated archive.
    fn read_exact_or_truncated(&mut self, buf: &mut [u8], what: &str) -> anyhow::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(self.bad(format!(
                        "truncated: the archive ends at offset {} inside {what}",
                        self.pos + got as u64
                    )));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(crate::error::from_io(e)),
            }
        }
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Reads and discards `n` bytes (rest of a member, padding), streaming.
    fn skip(&mut self, mut n: u64, what: &str) -> anyhow::Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let chunk = n.min(buf.len() as u64) as usize;
            self.read_exact_or_truncated(&mut buf[..chunk], what)?;
            n -= chunk as u64;
        }
        Ok(())
    }

    /// Reads a metadata record (PAX header, GNU long name) of `size` bytes, capped before allocating.
    fn read_meta(&mut self, size: u64, what: &str) -> anyhow::Result<Vec<u8>> {
        if size > MAX_META {
            return Err(self.bad(format!(
                "{what} at offset {} claims {size} bytes (at most {MAX_META} accepted)",
                self.pos - BLOCK as u64
            )));
        }
        let mut data = vec![0u8; size as usize];
        self.read_exact_or_truncated(&mut data, what)?;
        self.skip(pad(size), what)?;
        Ok(data)
    }

    /// Advances to the next regular-file member, skipping what is left of the current one. `None` at the end of
    /// the archive, after checking that only zero bytes follow the end marker.
    pub fn next_member(&mut self) -> anyhow::Result<Option<Member>> {
        if self.done {
            return Ok(None);
        }
        let rest = self.remaining + self.padding;
        let current = self.current.clone();
        self.skip(rest, &format!("member {current}"))?;
        self.remaining = 0;
        self.padding = 0;

        let mut pax_path: Option<String> = None;
        let mut pax_size: Option<u64> = None;
        let mut long_name: Option<String> = None;
        let mut header = [0u8; BLOCK];
        loop {
            let offset = self.pos;
            self.read_exact_or_truncated(
                &mut header,
                "a member header (no end-of-archive marker)",
            )?;
            if header.iter().all(|&b| b == 0) {
                self.read_exact_or_truncated(&mut header, "the end-of-archive marker")?;
                if header.iter().any(|&b| b != 0) {
                    return Err(self.bad(format!(
                        "a lone zero block at offset {offset} inside the archive"
                    )));
                }
                if pax_path.is_some() || pax_size.is_some() || long_name.is_some() {
                    return Err(self.bad("an extended header with no member after it"));
                }
                self.check_trailer()?;
                self.done = true;
                return Ok(None);
            }
            check_checksum(&header)
                .map_err(|e| self.bad(format!("header at offset {offset}: {e}")))?;
            let ustar_size = parse_number(&header[124..136])
                .map_err(|e| self.bad(format!("header at offset {offset}: size field {e}")))?;
            let typeflag = header[156];
            match typeflag {
                b'x' => {
                    let data = self.read_meta(ustar_size, "a PAX extended header")?;
                    let (p, s) = parse_pax(&data)
                        .map_err(|e| self.bad(format!("PAX header at offset {offset}: {e}")))?;
                    pax_path = p.or(pax_path);
                    pax_size = s.or(pax_size);
                    continue;
                }
                b'L' => {
                    let data = self.read_meta(ustar_size, "a GNU long name")?;
                    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                    let name = String::from_utf8(data[..end].to_vec()).map_err(|_| {
                        self.bad(format!("GNU long name at offset {offset} is not UTF-8"))
                    })?;
                    long_name = Some(name);
                    continue;
                }
                _ => {}
            }
            let name = match pax_path.take().or(long_name.take()) {
                Some(n) => n,
                None => ustar_name(&header)
                    .map_err(|e| self.bad(format!("header at offset {offset}: {e}")))?,
            };
            let kind = match typeflag {
                b'0' | 0 | b'7' => None,
                b'1' => Some("a hard link"),
                b'2' => Some("a symbolic link"),
                b'3' => Some("a character device"),
                b'4' => Some("a block device"),
                b'5' => Some("a directory"),
                b'6' => Some("a FIFO"),
                b'K' => Some("a GNU long link"),
                b'g' => Some("a PAX global header"),
                _ => Some("an unknown member type"),
            };
            if let Some(kind) = kind {
                return Err(self.bad(format!(
                    "member {name:?} at offset {offset} is {kind} (type {:?}); only regular files are accepted",
                    typeflag as char
                )));
            }
            let name = check_name(&name).map_err(|e| self.bad(format!("member {name:?}: {e}")))?;
            let size = match pax_size {
                Some(p) if ustar_size != 0 && ustar_size != p => {
                    return Err(self.bad(format!(
                        "member {name:?}: size fields disagree (PAX says {p}, ustar header says {ustar_size})"
                    )));
                }
                Some(p) => p,
                None => ustar_size,
            };
            if !self.names.insert(name.clone()) {
                return Err(self.bad(format!("member {name:?} appears twice")));
            }
            self.remaining = size;
            self.padding = pad(size);
            self.current = name.clone();
            return Ok(Some(Member { name, size, offset }));
        }
    }

    /// After the end marker only zero bytes (record padding) may follow.
    fn check_trailer(&mut self) -> anyhow::Result<()> {
        let mut buf = [0u8; 8192];
        loop {
            let n = match self.inner.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(crate::error::from_io(e)),
            };
            if n == 0 {
                return Ok(());
            }
            if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
                return Err(self.bad(format!(
                    "trailing garbage after the end-of-archive marker at offset {}",
                    self.pos + i as u64
                )));
            }
            self.pos += n as u64;
        }
    }

    /// A reader over the current member's data. Reading past a truncated end fails with [`Exit::BadArchive`].
    pub fn member_reader(&mut self) -> MemberReader<'_, R> {
        MemberReader { tar: self }
    }

    /// Gives back the underlying reader (e.g. to finish hashing).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// The data of one member; see [`TarReader::member_reader`].
#[derive(Debug)]
pub struct MemberReader<'a, R> {
    tar: &'a mut TarReader<R>,
}

impl<R: Read> Read for MemberReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tar.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.tar.remaining).unwrap_or(usize::MAX));
        let n = self.tar.inner.read(&mut buf[..want])?;
        if n == 0 {
            let msg = format!(
                "{}: truncated: member {:?} ends at offset {} with {} of its bytes missing",
                self.tar.label, self.tar.current, self.tar.pos, self.tar.remaining
            );
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                Fail::new(Exit::BadArchive, msg),
            ));
        }
        self.tar.remaining -= n as u64;
        self.tar.pos += n as u64;
        Ok(n)
    }
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn check_checksum(h: &[u8; BLOCK]) -> Result<(), String> {
    let stored = parse_number(&h[148..156]).map_err(|e| format!("checksum field {e}"))?;
    let unsigned: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    let signed: i64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(format!(
            "header checksum is {stored}, the header sums to {unsigned} (corrupt or not a tar archive)"
        ))
    }
}

/// An octal numeric field (NUL/space terminated, leading spaces allowed) or GNU base-256.
fn parse_number(field: &[u8]) -> Result<u64, String> {
    if field[0] & 0x80 != 0 {
        if field[0] == 0xff {
            return Err("is negative (base-256)".into());
        }
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or("overflows 64 bits (base-256)")?;
        }
        return Ok(v);
    }
    let text: &[u8] = {
        let start = field.iter().position(|&b| b != b' ').unwrap_or(field.len());
        let rest = &field[start..];
        let end = rest
            .iter()
            .position(|&b| b == 0 || b == b' ')
            .unwrap_or(rest.len());
        if rest[end..].iter().any(|&b| b != 0 && b != b' ') {
            return Err(format!(
                "{:?} is not an octal number",
                String::from_utf8_lossy(field)
            ));
        }
        &rest[..end]
    };
    let mut v: u64 = 0;
    for &b in text {
        if !(b'0'..=b'7').contains(&b) {
            return Err(format!(
                "{:?} is not an octal number",
                String::from_utf8_lossy(field)
            ));
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or("overflows 64 bits")?;
    }
    Ok(v)
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn ustar_name(h: &[u8; BLOCK]) -> Result<String, String> {
    let name = cstr(&h[0..100]);
    let is_ustar = &h[257..263] == b"ustar\0";
    let prefix = if is_ustar { cstr(&h[345..500]) } else { &[] };
    let mut full = Vec::with_capacity(prefix.len() + 1 + name.len());
    if !prefix.is_empty() {
        full.extend_from_slice(prefix);
        full.push(b'/');
    }
    full.extend_from_slice(name);
    String::from_utf8(full).map_err(|_| "member name is not UTF-8".into())
}

/// PAX records `LEN key=value\n`; returns (`path`, `size`).
fn parse_pax(mut data: &[u8]) -> Result<(Option<String>, Option<u64>), String> {
    let (mut path, mut size) = (None, None);
    while !data.is_empty() {
        let sp = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("record without a length")?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("record length is not a number")?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(format!("record length {len} does not match the record"));
        }
        let record = &data[sp + 1..len - 1];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("record without '='")?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => {
                path = Some(String::from_utf8(value.to_vec()).map_err(|_| "path is not UTF-8")?)
            }
            b"size" => {
                let v = std::str::from_utf8(value)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        format!("size {:?} is not a number", String::from_utf8_lossy(value))
                    })?;
                size = Some(v);
            }
            _ => {}
        }
        data = &data[len..];
    }
    Ok((path, size))
}

/// Refuses names that could escape an extraction folder or confuse a reader.
fn check_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.starts_with('/') {
        return Err("absolute path".into());
    }
    if name.contains('\\') || name.chars().any(char::is_control) {
        return Err("backslash or control character in the name".into());
    }
    let trimmed = name.trim_start_matches("./");
    let mut parts = Vec::new();
    for part in trimmed.split('/') {
        match part {
            ".." => return Err("path with a '..' component".into()),
            "" | "." => {}
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("empty name".into());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"00000001750\0"), Ok(1000));
        assert_eq!(parse_number(b"     1750 \0\0"), Ok(1000));
        assert_eq!(parse_number(b"\0\0\0\0\0\0\0\0\0\0\0\0"), Ok(0));
        let mut b256 = [0u8; 12];
        b256[0] = 0x80;
        b256[11] = 5;
        b256[10] = 1;
        assert_eq!(parse_number(&b256), Ok(261));
        assert!(parse_number(b"0000000175x\0").is_err());
        assert!(parse_number(b"17 5\0\0\0\0\0\0\0\0").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(check_name("./a.ovf"), Ok("a.ovf".into()));
        assert!(check_name("/etc/passwd").is_err());
        assert!(check_name("a/../../b").is_err());
        assert!(check_name("./").is_err());
    }

    #[test]
    fn pax_records() {
        let rec = b"15 path=a.vmdk\n13 size=1234\n";
        assert_eq!(parse_pax(rec), Ok((Some("a.vmdk".into()), Some(1234))));
        assert!(parse_pax(b"99 path=a\n").is_err());
        assert!(parse_pax(b"12 size=-1\n").is_err());
    }
}

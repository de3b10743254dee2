//! `SHA256SUMS` in BSD tag format: `SHA256 (disk.raw) = <64 hex>`, one line per artifact, sorted by name.
//!
//! This is the format `signify -C` and `sha256sum -c` both read. Names are paths relative to the folder that
//! holds `SHA256SUMS`; they may not be absolute, contain `..`, or contain `)` or control characters (signify's
//! parser stops a name at the first `)`). The parser is strict: every line must have exactly this shape, and an
//! error names the line.

use std::fmt;
use std::io;
use std::path::{Component, Path};

use anyhow::Context;

use crate::artifact::write_atomic;
use crate::error::{Exit, fail};
use crate::hashio::{self, Sha256};
use crate::ui::Progress;

/// One artifact and its digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub name: String,
    pub sha256: Sha256,
}

/// The parsed or computed contents of a `SHA256SUMS` file: entries sorted by name, names unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sums {
    entries: Vec<Entry>,
}

/// Why a `SHA256SUMS` line is unusable. `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Why a name cannot be listed in `SHA256SUMS`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty file name".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || *c == ')') {
        return Err(format!("file name {name:?} contains {c:?}"));
    }
    if name.len() > 1023 {
        return Err(format!(
            "file name is {} bytes long (at most 1023)",
            name.len()
        ));
    }
    let path = Path::new(name);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) || name.ends_with('/') {
        return Err(format!(
            "file name {name:?} must be a plain relative path (no leading /, no . or .. parts)"
        ));
    }
    Ok(())
}

impl Sums {
    /// Builds the list from entries in any order; refuses duplicate or unusable names.
    pub fn new(mut entries: Vec<Entry>) -> Result<Self, String> {
        for e in &entries {
            check_name(&e.name)?;
        }
        entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(format!("{} is listed twice", w[0].name));
        }
        Ok(Sums { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, name: &str) -> Option<Sha256> {
        self.entries
            .binary_search_by(|e| e.name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| self.entries[i].sha256)
    }

    /// The exact bytes of the file (the signed message).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Parses a whole `SHA256SUMS` file. Every line ends with `\n`; an empty list is refused (it would verify
    /// nothing).
    pub fn parse(text: &[u8]) -> Result<Self, ParseError> {
        let err = |line: usize, message: String| ParseError { line, message };
        let text = std::str::from_utf8(text).map_err(|e| {
            let line = 1 + text[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            err(line, "not UTF-8 text".into())
        })?;
        let mut entries: Vec<Entry> = Vec::new();
        let mut lines = text.split('\n').enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            let n = i + 1;
            if lines.peek().is_none() {
                if !line.is_empty() {
                    return Err(err(n, "missing newline at the end of the file".into()));
                }
                break;
            }
            let entry = parse_line(line).map_err(|m| err(n, m))?;
            if let Some(prev) = entries.last()
                && prev.name.as_bytes() >= entry.name.as_bytes()
            {
                let m = if prev.name == entry.name {
                    format!("{} is listed twice", entry.name)
                } else {
                    format!("{} is out of order (names are sorted)", entry.name)
                };
                return Err(err(n, m));
            }
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(err(1, "lists no files".into()));
        }
        Ok(Sums { entries })
    }
}

fn parse_line(line: &str) -> Result<Entry, String> {
    let expected = "expected `SHA256 (NAME) = <64 hex digits>`";
    let rest = line
        .strip_prefix("SHA256 (")
        .ok_or_else(|| format!("{expected}, found {line:?}"))?;
    let (name, hex) = rest
        .rsplit_once(") = ")
        .ok_or_else(|| format!("{expected}, found {line:?}"))?;
    check_name(name)?;
    let sha256 = hex
        .parse::<Sha256>()
        .map_err(|e| format!("digest of {name}: {e}"))?;
    Ok(Entry {
        name: name.to_owned(),
        sha256,
    })
}

impl fmt::Display for Sums {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(f, "SHA256 ({}) = {}", e.name, e.sha256)?;
        }
        Ok(())
    }
}

/// Hashes one file in a single streaming pass, advancing `progress`.
pub fn hash_file(path: &Path, progress: &Progress) -> io::Result<Sha256> {
    let mut buf = vec![0u8; hashio::READ_BUF];
    hashio::hash_file(path, &mut buf, |n| progress.inc(n)).map(|(digest, _)| digest)
}

/// Hashes `names` (relative to `dir`), each in one streaming pass, without writing anything.
pub fn hash_files(dir: &Path, names: &[&str]) -> anyhow::Result<Sums> {
    hash_files_with(dir, names, &[])
}

/// [`hash_files`], taking the digests in `known` as given instead of reading those files: for artifacts whose
/// writer already hashed them. Every known entry must be one of `names`.
pub fn hash_files_with(dir: &Path, names: &[&str], known: &[Entry]) -> anyhow::Result<Sums> {
    if let Some(e) = known.iter().find(|e| !names.contains(&e.name.as_str())) {
        return Err(fail(
            Exit::Internal,
            format!("{} has a digest but is not an artifact", e.name),
        ));
    }
    let given = |name: &str| known.iter().find(|e| e.name == name).map(|e| e.sha256);
    for name in names {
        check_name(name).map_err(|m| fail(Exit::Input, format!("cannot list artifact: {m}")))?;
        if super::SIGNING_OUTPUTS.contains(name) {
            return Err(fail(
                Exit::Input,
                format!("cannot list artifact {name}: the signing step writes that name itself"),
            ));
        }
    }
    let mut total = 0u64;
    for name in names.iter().filter(|n| given(n).is_none()) {
        let path = dir.join(name);
        let meta =
            fs_err::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        total = total.saturating_add(meta.len());
    }
    let progress = Progress::bytes("hashing artifacts", total);
    let mut entries = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(name);
        let sha256 = match given(name) {
            Some(sha256) => sha256,
            None => hash_file(&path, &progress)
                .with_context(|| format!("hashing {}", path.display()))?,
        };
        entries.push(Entry {
            name: (*name).to_owned(),
            sha256,
        });
    }
    progress.finish(format!("{} files", names.len()));
    Sums::new(entries).map_err(|m| fail(Exit::Input, format!("cannot list artifacts: {m}")))
}

/// Hashes `names` (relative to `dir`) and writes `dir/SHA256SUMS` atomically.
pub fn write_sums(dir: &Path, names: &[&str]) -> anyhow::Result<Sums> {
    let sums = hash_files(dir, names)?;
    write_atomic(dir.join(super::SUMS), &sums.to_bytes())?;
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn writes_sorted_bsd_tag_lines() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("disk.raw"), b"abc").unwrap();
        fs_err::write(dir.path().join("b.json"), b"").unwrap();
        let sums = write_sums(dir.path(), &["disk.raw", "b.json"]).unwrap();
        let text = fs_err::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
        assert_eq!(
            text,
            format!(
                "SHA256 (b.json) = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
                 SHA256 (disk.raw) = {ABC}\n"
            )
        );
        assert_eq!(Sums::parse(text.as_bytes()).unwrap(), sums);
        assert_eq!(sums.get("disk.raw").unwrap().hex(), ABC);
        assert_eq!(sums.get("nope"), None);
    }

    #[test]
    fn malformed_lines_are_named_by_number() {
        let good = format!("SHA256 (a) = {ABC}\n");
        let cases = [
            (
                format!("{good}MD5 (b) = {ABC}\n"),
                2,
                "expected `SHA256 (NAME) = <64 hex digits>`",
            ),
            (
                format!("{good}SHA256 (b) = abc\n"),
                2,
                "digest of b: expected 64 hex digits",
            ),
            (format!("{good}{good}"), 2, "a is listed twice"),
            (
                format!("SHA256 (b) = {ABC}\n{good}"),
                2,
                "a is out of order",
            ),
            (
                format!("SHA256 (../etc/passwd) = {ABC}\n"),
                1,
                "plain relative path",
            ),
            (
                format!("SHA256 (/etc/passwd) = {ABC}\n"),
                1,
                "plain relative path",
            ),
            (format!("{good}\n"), 2, "expected"),
            (format!("SHA256 (a) = {ABC}"), 1, "missing newline"),
            (String::new(), 1, "lists no files"),
            (format!("{good}SHA256 (b) = {ABC}\r\n"), 2, "digest of b"),
        ];
        for (text, line, msg) in cases {
            let e = Sums::parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(msg), "{text:?}: {e}");
        }
    }

    #[test]
    fn refuses_names_signify_cannot_read() {
        for bad in ["a)b", "a\nb", "", "../x", "/x", "./x", "dir/"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["disk.raw", "pxe/vmlinuz", "name with space"] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn known_digests_are_taken_as_given() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("disk.raw"), b"abc").unwrap();
        fs_err::write(dir.path().join("b.json"), b"").unwrap();
        let given = Sha256([7; 32]);
        let known = [Entry {
            name: "disk.raw".into(),
            sha256: given,
        }];
        let sums = hash_files_with(dir.path(), &["disk.raw", "b.json"], &known).unwrap();
        assert_eq!(sums.get("disk.raw"), Some(given));
        assert_eq!(sums.get("b.json"), Some(Sha256::of(b"")));
        let err = hash_files_with(dir.path(), &["b.json"], &known).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::Internal);
    }

    #[test]
    fn refuses_to_list_its_own_outputs() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("SHA256SUMS"), b"x").unwrap();
        let err = hash_files(dir.path(), &["SHA256SUMS"]).unwrap_err();
        assert_eq!(crate::error::exit_of(&err), Exit::Input);
    }
}

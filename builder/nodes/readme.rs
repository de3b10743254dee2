//! README.TXT: the vendor's list of SHA-256 hashes, the only thing node images are trusted against.
//!
//! Pexip's exact README.TXT layout is not public (PEXIP.md), so this accepts the two layouts every checksum tool
//! writes, and prose around them:
//! - GNU: `<hex>  name` or `<hex> *name` (`sha256sum`, including its `\`-escaped names);
//! - BSD tag: `SHA256 (name) = <hex>` (`sha256sum --tag`; also `SHA256(name)= <hex>` as OpenSSL writes it).
//!
//! A line is a *checksum line* when its first word is 32 or more hex digits, or when it has the BSD tag shape
//! `WORD (name) = ...`. Checksum lines of other algorithms (MD5, SHA1, SHA512, ...) are counted and ignored, never
//! trusted. A checksum line that is broken (wrong digest length, one space, no name, bad hex) is an error naming
//! its line, because a typo there would otherwise turn a verified file into an unverified one. Any other line is
//! prose and is skipped (counted in [`Readme::prose_lines`]). The same name listed twice with different SHA-256
//! values is an error; listed twice with the same value is fine.
//!
//! Names are matched against a file's last path component; a leading `./` in README.TXT is dropped.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::error::{Exit, fail};
use crate::hashio::Sha256;

/// Largest README.TXT accepted: it is a short text file, and it is read whole.
const MAX_README: u64 = 4 << 20;

/// One trusted SHA-256 entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub sha256: Sha256,
    /// 1-based line in README.TXT.
    pub line: usize,
}

/// A parsed README.TXT.
#[derive(Debug, Clone)]
pub struct Readme {
    /// How README.TXT is named in messages (its path as given).
    pub label: String,
    /// SHA-256 of README.TXT itself, recorded in `nodes.lock`.
    pub sha256: Sha256,
    pub entries: BTreeMap<String, Entry>,
    /// Checksum lines of other algorithms (ignored, never trusted).
    pub other_algorithms: usize,
    /// Lines that are not checksum lines at all.
    pub prose_lines: usize,
}

impl Readme {
    /// Reads and parses README.TXT; an unreadable or malformed file is [`Exit::Input`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let label = path.display().to_string();
        // A regular file only, read through the cap (a device or FIFO reports no honest length).
        let bytes = crate::inbound::read_capped(path, MAX_README)
            .with_context(|| format!("reading the README.TXT {label}"))?;
        Self::parse(&label, &bytes).with_context(|| format!("reading {label}"))
    }

    /// Parses README.TXT bytes. `label` names the file in messages.
    pub fn parse(label: &str, bytes: &[u8]) -> anyhow::Result<Self> {
        let sha256 = Sha256::of(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            fail(
                Exit::Input,
                format!("{label}:{line}: not UTF-8 text (a README.TXT must be text)"),
            )
        })?;
        let mut readme = Readme {
            label: label.to_owned(),
            sha256,
            entries: BTreeMap::new(),
            other_algorithms: 0,
            prose_lines: 0,
        };
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim_end_matches('\r');
            match parse_line(line) {
                Ok(Line::Sha256 { name, sha256 }) => readme.add(label, line_no, name, sha256)?,
                Ok(Line::OtherAlgorithm) => readme.other_algorithms += 1,
                Ok(Line::Prose) => readme.prose_lines += 1,
                Err(why) => {
                    return Err(fail(
                        Exit::Input,
                        format!("{label}:{line_no}: malformed checksum line: {why}"),
                    ));
                }
            }
        }
        Ok(readme)
    }

    fn add(
        &mut self,
        label: &str,
        line: usize,
        name: String,
        sha256: Sha256,
    ) -> anyhow::Result<()> {
        let name = name.strip_prefix("./").map(str::to_owned).unwrap_or(name);
        if let Some(prev) = self.entries.get(&name) {
            if prev.sha256 != sha256 {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{label}:{line}: {name} is listed again with a different SHA-256 ({sha256}; line {} says {})",
                        prev.line, prev.sha256
                    ),
                ));
            }
            return Ok(());
        }
        self.entries.insert(name, Entry { sha256, line });
        Ok(())
    }

    /// The trusted entry for a file, looked up by its last path component.
    pub fn entry_for(&self, file: &Path) -> Option<(&str, Entry)> {
        let name = super::file_name(file);
        self.entries
            .get_key_value(name.as_str())
            .map(|(k, v)| (k.as_str(), *v))
    }
}

/// What one line of README.TXT is.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Sha256 { name: String, sha256: Sha256 },
    OtherAlgorithm,
    Prose,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_line(line: &str) -> Result<Line, String> {
    if let Some(l) = parse_bsd(line) {
        return l;
    }
    parse_gnu(line)
}

/// Hex lengths of the common digests other than SHA-256: MD5, SHA1, SHA224, SHA384, SHA512.
const OTHER_LENGTHS: [usize; 5] = [32, 40, 56, 96, 128];

/// GNU layout, or prose.
fn parse_gnu(line: &str) -> Result<Line, String> {
    // sha256sum writes a leading backslash when the name contains `\` or a newline, and escapes them.
    let (escaped, body) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let digest_end = body
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(body.len());
    let digest = &body[..digest_end];
    if digest.len() < 32 {
        return Ok(Line::Prose);
    }
    let rest = &body[digest_end..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        // Hex followed by something else: a word that merely starts with hex, e.g. prose.
        if digest.len() != 64 {
            return Ok(Line::Prose);
        }
        return Err(format!(
            "the 64-digit digest must be followed by two spaces or ' *', found {:?}",
            rest.chars().next().unwrap_or(' ')
        ));
    }
    let name = match rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *")) {
        Some(n) => n,
        None if rest.is_empty() => return Err("a digest with no file name".into()),
        None => {
            return Err(
                "the digest must be followed by two spaces or ' *' and the file name".into(),
            );
        }
    };
    if name.is_empty() {
        return Err("a digest with no file name".into());
    }
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_owned()
    };
    match digest.len() {
        64 => Ok(Line::Sha256 {
            name,
            sha256: digest.parse().map_err(|e| format!("{e}"))?,
        }),
        n if OTHER_LENGTHS.contains(&n) => Ok(Line::OtherAlgorithm),
        n => Err(format!(
            "a digest of {n} hex digits (SHA-256 has 64; MD5 32, SHA1 40, SHA512 128)"
        )),
    }
}

fn unescape(name: &str) -> Result<String, String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// BSD tag layout `ALG (name) = hex`; `None` when the line does not have that shape.
fn parse_bsd(line: &str) -> Option<Result<Line, String>> {
    let open = line.find('(')?;
    let alg = line[..open].trim_end();
    if alg.is_empty()
        || !alg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'/')
        || !alg.bytes().any(|b| b.is_ascii_digit())
    {
        // Algorithm names all carry a digit (MD5, SHA1, SHA256, SHA2-256, BLAKE2b): prose like "Note (x) = y"
        // does not.
        return None;
    }
    let close = line.rfind(") ").or_else(|| line.rfind(")="))?;
    if close < open {
        return None;
    }
    let after = line[close + 1..].trim_start();
    let value = after.strip_prefix('=')?.trim();
    let name = &line[open + 1..close];
    let is_sha256 = matches!(
        alg.to_ascii_uppercase().as_str(),
        "SHA256" | "SHA2-256" | "SHA-256"
    );
    if !is_sha256 {
        return Some(Ok(Line::OtherAlgorithm));
    }
    if name.is_empty() {
        return Some(Err("a SHA256 tag line with no file name".into()));
    }
    if !is_hex(value) || value.len() != 64 {
        return Some(Err(format!(
            "SHA256 ({name}) needs 64 hex digits, found {value:?}"
        )));
    }
    Some(Ok(Line::Sha256 {
        name: name.to_owned(),
        sha256: value.parse().ok()?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    const A: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(text: &str) -> anyhow::Result<Readme> {
        Readme::parse("README.TXT", text.as_bytes())
    }

    #[test]
    fn reads_gnu_bsd_and_prose() {
        let text = format!(
            "Pexip Infinity v25.4\r\n\nSHA256 checksums:\n{A}  a.ova\n{B} *b.qcow2\nSHA256 (c.ova) = {A}\n\
             SHA2-256(d.ova)= {B}\nMD5 (a.ova) = d41d8cd98f00b204e9800998ecf8427e\n\
             d41d8cd98f00b204e9800998ecf8427e  a.ova\n"
        );
        let r = parse(&text).unwrap();
        let names: Vec<&str> = r.entries.keys().map(String::as_str).collect();
        assert_eq!(names, ["a.ova", "b.qcow2", "c.ova", "d.ova"]);
        assert_eq!(r.entries["b.qcow2"].line, 5);
        assert_eq!(r.entries["c.ova"].sha256.hex(), A);
        assert_eq!(r.other_algorithms, 2);
        assert_eq!(r.prose_lines, 3);
    }

    #[test]
    fn other_algorithms_are_never_trusted() {
        let r = parse("da39a3ee5e6b4b0d3255bfef95601890afd80709  a.ova\n").unwrap();
        assert!(r.entry_for(Path::new("/x/a.ova")).is_none());
    }

    #[test]
    fn malformed_lines_name_their_line() {
        for (bad, why) in [
            (format!("{A} a.ova"), "two spaces"),
            (format!("{}  a.ova", &A[..63]), "63 hex digits"),
            (format!("{A}  "), "no file name"),
            ("SHA256 (a.ova) = xyz".to_owned(), "64 hex digits"),
            (format!("{A}x  a.ova"), "followed by"),
        ] {
            let err = parse(&format!("title\n{bad}\n")).unwrap_err();
            assert_eq!(exit_of(&err), Exit::Input);
            let msg = format!("{err:#}");
            assert!(msg.starts_with("README.TXT:2: malformed"), "{msg}");
            assert!(msg.contains(why), "{msg} lacks {why}");
        }
    }

    #[test]
    fn conflicting_duplicates_are_an_error_identical_ones_are_not() {
        parse(&format!("{A}  a.ova\nSHA256 (./a.ova) = {A}\n")).unwrap();
        let err = parse(&format!("{A}  a.ova\n{B}  a.ova\n")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("README.TXT:2: a.ova is listed again"), "{msg}");
        assert!(msg.contains("line 1 says"), "{msg}");
    }

    #[test]
    fn gnu_escaped_names() {
        let r = parse(&format!("\\{A}  odd\\\\name\n")).unwrap();
        assert!(r.entries.contains_key("odd\\name"));
    }

    #[test]
    fn lookup_uses_the_last_path_component() {
        let r = parse(&format!("{A}  ./a.ova\n")).unwrap();
        let (name, e) = r.entry_for(Path::new("downloads/a.ova")).unwrap();
        assert_eq!((name, e.line), ("a.ova", 1));
    }
}

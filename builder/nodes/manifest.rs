//! An OVA's `.mf` manifest: `SHA256(file)= hex` lines (OVF spec DSP0243), checked against the member bytes.
//!
//! The manifest travels inside the OVA it describes, so it proves consistency, not origin: README.TXT is the
//! trust anchor. SHA1 lines (older VMware exports) are recorded but never trusted.

use std::collections::BTreeMap;

use crate::error::{Exit, fail};
use crate::hashio::Sha256;

/// Parsed manifest: SHA-256 per member name, and names that only have a weaker digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub sha256: BTreeMap<String, Sha256>,
    pub weak_only: Vec<String>,
}

impl Manifest {
    /// Parses manifest text; `label` (e.g. `x.ova:x.mf`) names it in messages. Errors are [`Exit::BadArchive`].
    pub fn parse(label: &str, bytes: &[u8]) -> anyhow::Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            fail(
                Exit::BadArchive,
                format!("{label}: manifest is not UTF-8 text"),
            )
        })?;
        let mut m = Manifest::default();
        let mut weak = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: &str| {
                fail(
                    Exit::BadArchive,
                    format!(
                        "{label}:{}: malformed manifest line ({why}): {line:?}",
                        i + 1
                    ),
                )
            };
            let open = line
                .find('(')
                .ok_or_else(|| bad("expected ALG(file)= hex"))?;
            let close = line
                .rfind(")=")
                .ok_or_else(|| bad("expected ALG(file)= hex"))?;
            if close < open {
                return Err(bad("expected ALG(file)= hex"));
            }
            let alg = line[..open].trim();
            let name = &line[open + 1..close];
            let value = line[close + 2..].trim();
            if name.is_empty() {
                return Err(bad("no file name"));
            }
            match alg {
                "SHA256" => {
                    let digest: Sha256 = value
                        .to_ascii_lowercase()
                        .parse()
                        .map_err(|e| bad(&format!("SHA256 {e}")))?;
                    if let Some(prev) = m.sha256.insert(name.to_owned(), digest) {
                        if prev != digest {
                            return Err(bad(
                                "the file is listed twice with different SHA256 values",
                            ));
                        }
                    }
                }
                "SHA1" | "SHA512" | "MD5" => {
                    weak.insert(name.to_owned(), ());
                }
                other => return Err(bad(&format!("unknown algorithm {other:?}"))),
            }
        }
        m.weak_only = weak
            .into_keys()
            .filter(|n| !m.sha256.contains_key(n))
            .collect();
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    #[test]
    fn parses_vmware_lines() {
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let text = format!(
            "SHA256(a.ovf)= {hex}\nSHA1(a-disk1.vmdk)= da39a3ee5e6b4b0d3255bfef95601890afd80709\n"
        );
        let m = Manifest::parse("x.mf", text.as_bytes()).unwrap();
        assert_eq!(m.sha256["a.ovf"].hex(), hex);
        assert_eq!(m.weak_only, ["a-disk1.vmdk"]);
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = Manifest::parse("x.mf", b"\nSHA256(a.ovf)= 12\n").unwrap_err();
        assert_eq!(exit_of(&err), Exit::BadArchive);
        assert!(
            format!("{err:#}").starts_with("x.mf:2: malformed"),
            "{err:#}"
        );
    }
}

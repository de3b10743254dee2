//! The values of a production secrets file are the site's own (§31): none equals a value forja ships (the
//! production example's, the lab's published test values), none looks like a placeholder, and the build seed
//! holds at least 32 random bytes. Passwords (§52) and PINs (§98) are judged by their own rules
//! (`1616-4.6.d`, `1616-5.4.4.b`, `1616-5.15.c`).
//!
//! Every problem names the secret and the profile field that uses it, never the value.

use std::collections::BTreeSet;

use crate::profile::Loaded;
use crate::profile::load::secret_refs;
use crate::profile::secrets::Secrets;

// The secrets files forja ships, as the SHA-256 of each value (`SHIPPED_SHA256`, written by build.rs): a production
// file must share no value with them, and the binary, which every host image carries in its root, holds none of
// those values in clear.
include!(concat!(env!("OUT_DIR"), "/shipped_secrets.rs"));

/// Words that mark a value nobody chose: compared case-insensitively, with `-`, `_` and spaces removed.
const PLACEHOLDERS: [&str; 10] = [
    "replace",
    "changeme",
    "placeholder",
    "example",
    "fixme",
    "todo",
    "dummy",
    "labtest",
    "xxxx",
    "testvalue",
];

/// The build seed's floor: 32 random bytes (CCN-STIC-807's 256-bit symmetric strength).
pub const SEED_BYTES: usize = 32;

/// One thing wrong with a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The profile field that names the secret (`profile.secrets` for a value no field uses).
    pub field: String,
    /// What is wrong, naming the secret and never quoting its value.
    pub what: String,
}

/// Every problem of the loaded secrets file's values, in profile order.
pub fn problems(l: &Loaded, s: &Secrets) -> Vec<Problem> {
    let shipped = SHIPPED_SHA256;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let refs = secret_refs(&l.profile);
    let seed = l.profile.profile.build_seed.as_ref().map(|r| r.name());
    for (field, r) in &refs {
        let Some(secret) = s.get(r) else { continue };
        if !seen.insert(r.name().to_owned()) {
            continue;
        }
        let field = field.to_string();
        for what in judge(r.name(), secret.expose(), Some(r.name()) == seed, shipped) {
            out.push(Problem {
                field: field.clone(),
                what,
            });
        }
    }
    for secret in s.values().filter(|v| !seen.contains(v.name())) {
        for what in judge(secret.name(), secret.expose(), false, shipped) {
            out.push(Problem {
                field: "profile.secrets".into(),
                what,
            });
        }
    }
    out
}

fn judge(name: &str, value: &str, is_seed: bool, shipped: &[(&str, [u8; 32])]) -> Vec<String> {
    let mut out = Vec::new();
    let hash = crate::hashio::Sha256::of(value.as_bytes()).0;
    if let Some((file, _)) = shipped.iter().find(|(_, h)| *h == hash) {
        out.push(format!(
            "secret `{name}` has the value forja ships in {file}: published, so never the site's own; choose a new one"
        ));
    } else if let Some(word) = placeholder(value) {
        out.push(format!(
            "secret `{name}` looks like a placeholder (it contains \"{word}\"): replace it with the site's own value"
        ));
    }
    if is_seed && seed_bytes(value) < SEED_BYTES {
        out.push(format!(
            "secret `{name}` holds fewer than {SEED_BYTES} random bytes: write the output of `openssl rand -hex 32` (64 hex digits) or `openssl rand -base64 32`"
        ));
    }
    out
}

fn placeholder(value: &str) -> Option<&'static str> {
    let squashed: String = value
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    if value.trim().is_empty() || (value.starts_with('<') && value.ends_with('>')) {
        return Some("<...>");
    }
    PLACEHOLDERS.iter().copied().find(|w| squashed.contains(w))
}

/// How many random bytes a seed written as hex or base64 carries; 0 for anything else (a passphrase someone
/// typed is not random bytes), or when one character makes up most of it.
pub fn seed_bytes(value: &str) -> usize {
    let v = value.trim();
    let distinct: BTreeSet<char> = v.chars().collect();
    if distinct.len() < 8 {
        return 0;
    }
    if v.len() % 2 == 0 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return v.len() / 2;
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .map(|b| b.len())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_without_regard_to_case_or_dashes() {
        assert_eq!(placeholder("Replace-Me-Root-2026!"), Some("replace"));
        assert_eq!(placeholder("REPLACE-ntp-key-1"), Some("replace"));
        assert_eq!(placeholder("Change_Me_Now"), Some("changeme"));
        assert_eq!(placeholder("<the site's password>"), Some("<...>"));
        assert_eq!(placeholder("Tq8#vLm2!pRz9@wK"), None);
    }

    #[test]
    fn a_seed_needs_32_bytes_of_hex_or_base64() {
        assert_eq!(seed_bytes(&"a1b2c3d4e5f60718".repeat(4)), 32);
        assert_eq!(seed_bytes(&"a1b2c3d4".repeat(4)), 16);
        assert_eq!(
            seed_bytes("dGhpcyBpcyBub3QgcmFuZG9tIGF0IGFsbCBidXQgbG9uZyA="),
            35
        );
        // Long, but typed by a person: not random bytes.
        assert_eq!(seed_bytes("my very long build seed phrase for the site"), 0);
        assert_eq!(seed_bytes(&"a".repeat(64)), 0);
    }

    /// Every value of the shipped secrets files as the TOML parser reads them, with the file it comes from.
    fn shipped_values() -> Vec<(&'static str, String)> {
        let files = [
            (
                "profiles/ccn-stic-1616.secrets.example.toml",
                include_str!("../../profiles/ccn-stic-1616.secrets.example.toml"),
            ),
            (
                "profiles/lab.secrets.toml",
                include_str!("../../profiles/lab.secrets.toml"),
            ),
        ];
        let mut out = Vec::new();
        for (file, text) in files {
            let v: toml::Table = toml::from_str(text).expect("the shipped secrets files parse");
            if let Some(t) = v.get("secrets").and_then(|s| s.as_table()) {
                out.extend(
                    t.values()
                        .filter_map(|x| x.as_str())
                        .map(|x| (file, x.to_owned())),
                );
            }
        }
        out
    }

    #[test]
    fn the_build_script_hashed_every_shipped_value_as_toml_reads_it() {
        let v = shipped_values();
        assert!(v.iter().any(|(f, _)| f.ends_with("example.toml")));
        assert!(v.len() > 30, "{}", v.len());
        // The parser's table is sorted by name, the build script reads in file order: compare as sorted lists.
        let mut from_toml: Vec<(&str, [u8; 32])> = v
            .iter()
            .map(|(f, x)| (*f, crate::hashio::Sha256::of(x.as_bytes()).0))
            .collect();
        let mut built = SHIPPED_SHA256.to_vec();
        from_toml.sort();
        built.sort();
        assert_eq!(built, from_toml);
        let (file, value) = &v[0];
        assert!(judge("x", value, false, SHIPPED_SHA256)[0].contains(file));
    }
}

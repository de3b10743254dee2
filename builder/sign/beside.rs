//! What lies beside the signed list in a folder `forja verify` checks, which the signature does not vouch for:
//! files the list does not name, the key copies that travel with the files (`forja.pub`, `forja.pub.ssh`,
//! `allowed_signers`) when they do not hold the key the signature was checked with, and a missing
//! `SHA256SUMS.sshsig` or key copy.
//!
//! None of these changes what the listed files are, so by default they are reported, not failed; `--strict`
//! makes any of them [`crate::error::Exit::Unverified`]. They matter because the next person may check with the
//! copies: a swapped `forja.pub` beside genuine artifacts would make a later `signify -C -p forja.pub` trust
//! whatever was re-signed with the swapped key.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::{
    ALLOWED_SIGNERS, PUB, PUB_SSH, PublicKey, SIGNING_OUTPUTS, SUMS_SSHSIG, Sums, signify,
};
use crate::lock::LOCK_FILE;

/// How many findings are listed at most; a folder with more is reported as "and N more".
pub const MAX_LISTED: usize = 200;
/// How deep the walk for unlisted files goes (deeper folders are reported as one unlisted entry).
const MAX_DEPTH: usize = 16;
/// Cap for a key copy: a few hundred bytes in practice.
const MAX_KEY_COPY: u64 = 64 << 10;

/// One thing beside the signed files that the signature does not vouch for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// A file, link or folder (name ending in `/`) that `SHA256SUMS` does not list.
    Extra { name: String },
    /// A key copy that does not hold the key the signature was checked with.
    Replaced { name: String, reason: String },
    /// `SHA256SUMS.sshsig` or a key copy that a build always writes is not there.
    Missing { name: String },
    /// More findings than [`MAX_LISTED`]; the rest are counted, not named.
    More { count: usize },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Extra { name } => {
                write!(f, "{name}: not listed in SHA256SUMS (not vouched for)")
            }
            Finding::Replaced { name, reason } => write!(f, "{name}: {reason}"),
            Finding::Missing { name } => write!(f, "{name}: missing"),
            Finding::More { count } => write!(f, "and {count} more"),
        }
    }
}

/// Everything beside the listed files in `dir` that the signature does not vouch for. `key` is the key the
/// signature was checked with; `pinned` is false when that key is `dir/forja.pub` itself.
pub fn findings(dir: &Path, sums: &Sums, key: &PublicKey, pinned: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    if !dir.join(SUMS_SSHSIG).exists() {
        out.push(Finding::Missing {
            name: SUMS_SSHSIG.into(),
        });
    }
    out.extend(key_copies(dir, key, pinned));
    let listed: BTreeSet<&str> = sums.entries().iter().map(|e| e.name.as_str()).collect();
    let mut extra = Vec::new();
    walk(dir, "", &listed, 0, &mut extra);
    out.extend(extra.into_iter().map(|name| Finding::Extra { name }));
    if out.len() > MAX_LISTED {
        let count = out.len() - MAX_LISTED;
        out.truncate(MAX_LISTED);
        out.push(Finding::More { count });
    }
    out
}

/// The three key copies: each must hold `key`, or be reported.
fn key_copies(dir: &Path, key: &PublicKey, pinned: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, want) in [
        (PUB, key.to_signify()),
        (PUB_SSH, key.to_openssh()),
        (ALLOWED_SIGNERS, key.allowed_signers()),
    ] {
        let path = dir.join(name);
        if path
            .symlink_metadata()
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
        {
            out.push(Finding::Missing { name: name.into() });
            continue;
        }
        let bytes = match crate::inbound::read_capped(&path, MAX_KEY_COPY) {
            Ok(b) => b,
            Err(e) => {
                out.push(Finding::Replaced {
                    name: name.into(),
                    reason: format!("cannot be read: {e:#}"),
                });
                continue;
            }
        };
        let holds = if name == PUB {
            // Compared as a key, so a comment line that differs does not count; without a pinned key this file
            // is the key itself.
            !pinned || signify::decode_public(&bytes).is_ok_and(|k| k == *key)
        } else {
            bytes == want.as_bytes()
        };
        if !holds {
            out.push(Finding::Replaced {
                name: name.into(),
                reason: format!(
                    "does not hold the key the signature was checked with ({})",
                    key.fingerprint()
                ),
            });
        }
    }
    out
}

/// Collects the unlisted entries under `dir/prefix`, without following links. A folder holding no listed file
/// is one entry (`name/`), not each file in it.
fn walk(dir: &Path, prefix: &str, listed: &BTreeSet<&str>, depth: usize, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir.join(prefix)) else {
        return;
    };
    let mut names: Vec<(String, bool)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (
                format!("{prefix}{}", e.file_name().to_string_lossy()),
                is_dir,
            )
        })
        .collect();
    names.sort();
    for (name, is_dir) in names {
        if prefix.is_empty() && (SIGNING_OUTPUTS.contains(&name.as_str()) || name == LOCK_FILE) {
            continue;
        }
        if !is_dir {
            if !listed.contains(name.as_str()) {
                out.push(name);
            }
            continue;
        }
        let sub = format!("{name}/");
        let holds_listed = listed
            .range(sub.as_str()..)
            .next()
            .is_some_and(|l| l.starts_with(&sub));
        if holds_listed && depth < MAX_DEPTH {
            walk(dir, &sub, listed, depth + 1, out);
        } else {
            out.push(sub);
        }
    }
}

//! Self-check (§77–80): a manifest of the critical configuration, signed at build time.
//!
//! The manifest is in signify's checksum format with paths relative to `/`, so on the host
//! `cd / && signify-openbsd -C -p forja.pub -x manifest.sig` verifies the signature and every file in one step.
//! The factory copies sit under `/usr/share/forja/factory/`; `forja-selfcheck` (overlay) raises an alarm and
//! restores a file whose hash no longer matches, at boot and on a timer.

use super::{GenFile, GenKind};
use crate::hashio::Sha256;

pub const MANIFEST: &str = "/usr/share/forja/selfcheck.manifest";
pub const FACTORY: &str = "/usr/share/forja/factory";

/// The manifest text (BSD tag lines, sorted) for the protected files.
pub fn manifest(protected: &[&GenFile]) -> String {
    let mut lines: Vec<String> = protected
        .iter()
        .filter_map(|f| match &f.kind {
            GenKind::File(b) => Some(format!(
                "SHA256 ({}) = {}\n",
                f.path.trim_start_matches('/'),
                Sha256::of(b)
            )),
            GenKind::Symlink(_) | GenKind::Absent => None,
        })
        .collect();
    lines.sort();
    lines.concat()
}

/// The factory copies of the protected files.
pub fn factory_copies(protected: &[&GenFile]) -> Vec<GenFile> {
    protected
        .iter()
        .map(|f| GenFile {
            path: format!("{FACTORY}{}", f.path),
            mode: 0o600,
            kind: f.kind.clone(),
            rules: vec!["1616-5.10"],
        })
        .collect()
}

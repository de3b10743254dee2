//! `nodes.lock`: what was staged from which verified vendor file, so a build can be audited and repeated.
//!
//! JSON, pretty-printed with a trailing newline, keys in a fixed order and images sorted by source name. It holds
//! no timestamps and no absolute paths (file names only), so two runs over the same inputs write the same bytes.

use std::path::Path;

use serde::Serialize;

use super::ova::OvaFacts;
use crate::hashio::Sha256;

/// The file name of the lock inside the staging folder.
pub const FILE_NAME: &str = "nodes.lock";
/// Bumped when the format changes incompatibly.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct NodesLock {
    pub version: u32,
    pub readme: ReadmeRef,
    /// `qemu-img --version`'s first line: the converter is part of what made the staged bytes.
    pub qemu_img: String,
    pub images: Vec<StagedImage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadmeRef {
    pub name: String,
    pub sha256: Sha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Ova,
    Qcow2,
}

/// One verified vendor file and what was staged from it.
#[derive(Debug, Clone, Serialize)]
pub struct StagedImage {
    pub source: String,
    pub kind: SourceKind,
    pub sha256: Sha256,
    pub bytes: u64,
    /// The README.TXT line that vouched for it.
    pub readme_line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ova: Option<OvaFacts>,
    pub staged: Vec<StagedDisk>,
}

/// A qcow2 written to the staging folder.
#[derive(Debug, Clone, Serialize)]
pub struct StagedDisk {
    pub file: String,
    pub sha256: Sha256,
    pub bytes: u64,
    pub virtual_size: u64,
    /// The OVA member it was converted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_member: Option<String>,
}

impl NodesLock {
    /// The exact bytes written to `nodes.lock`.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("lock serialises");
        s.push('\n');
        s
    }

    /// Writes `DIR/nodes.lock` atomically.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        crate::artifact::write_atomic(dir.join(FILE_NAME), self.to_json().as_bytes())
    }
}

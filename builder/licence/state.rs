//! The site's record of the licence requests it issued: `STATE/licence-requests.json`.
//!
//! One entry per outbound bundle: its SHA-256 (the key an inbound bundle must name), the request's reference and
//! sequence number, the manager, when it was generated and created, and whether it is `pending` or `applied`.
//! `apply` accepts only an inbound bundle that answers a pending entry, then marks it applied: that is the
//! replay protection on the site's side (the manager's own status is the second one). Changes are written
//! atomically under the folder's lock.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::{OutputLock, write_atomic};
use crate::error::{Exit, fail};
use crate::hashio::Sha256;

pub const STATE_FILE: &str = "licence-requests.json";
/// The state file holds one short entry per request; far below this in any real use.
const MAX_STATE: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Applied,
}

/// One issued request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issued {
    pub bundle_sha256: Sha256,
    pub reference: String,
    pub sequence_number: u64,
    pub entitlement_id: String,
    pub manager_url: String,
    pub generation_time_utc: String,
    pub created_at: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_sha256: Option<Sha256>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    requests: Vec<Issued>,
}

/// The state folder, locked while open.
#[derive(Debug)]
pub struct State {
    path: PathBuf,
    file: File,
    _lock: OutputLock,
}

impl State {
    /// Locks `dir` (creating it) and reads its state file (empty when missing).
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let lock = OutputLock::acquire(dir)?;
        let path = dir.join(STATE_FILE);
        // A missing state file is an empty one; anything else is read as a regular file through a cap.
        let file = if path.symlink_metadata().is_err() {
            File::default()
        } else {
            let bytes = crate::inbound::read_capped(&path, MAX_STATE)?;
            serde_json::from_slice(&bytes).map_err(|e| {
                fail(
                    Exit::Input,
                    format!("{}: not a forja licence state file: {e}", path.display()),
                )
            })?
        };
        Ok(State {
            path,
            file,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn find(&self, bundle: &Sha256) -> Option<&Issued> {
        self.file
            .requests
            .iter()
            .find(|r| &r.bundle_sha256 == bundle)
    }

    /// Records a new request (replacing an entry for the same bundle) and saves.
    pub fn add(&mut self, issued: Issued) -> anyhow::Result<()> {
        self.file
            .requests
            .retain(|r| r.bundle_sha256 != issued.bundle_sha256);
        self.file.requests.push(issued);
        self.save()
    }

    /// Marks a request applied and saves.
    pub fn mark_applied(
        &mut self,
        bundle: &Sha256,
        at: String,
        response: Sha256,
    ) -> anyhow::Result<()> {
        let r = self
            .file
            .requests
            .iter_mut()
            .find(|r| &r.bundle_sha256 == bundle)
            .ok_or_else(|| fail(Exit::Internal, "marking an unknown request applied"))?;
        r.status = Status::Applied;
        r.applied_at = Some(at);
        r.response_sha256 = Some(response);
        self.save()
    }

    fn save(&self) -> anyhow::Result<()> {
        write_atomic(&self.path, &crate::artifact::json_lines(&self.file)?)
    }
}

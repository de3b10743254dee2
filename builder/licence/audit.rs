//! The licence audit trail: one JSON line per step (request, inspect, response, apply), appended, never
//! rewritten. A line holds the time, the step, the bundle's SHA-256, the request's reference and sequence
//! number, the result (`ok`, `refused`, `error`) with its exit code, and a short detail. No secret ever enters
//! it: the only texts are forja's own messages, whose HTTP parts the client has already scrubbed.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::error::{Exit, exit_of};
use crate::hashio::Sha256;

/// Default file name, in the site's state folder.
pub const AUDIT_FILE: &str = "licence-audit.log";

/// What a step learnt so far; filled in as the step runs, written when it ends (successfully or not).
#[derive(Debug, Clone, Default)]
pub struct Trail {
    pub step: &'static str,
    pub bundle_sha256: Option<Sha256>,
    pub reference: Option<String>,
    pub sequence_number: Option<u64>,
    /// The request bundle an inbound bundle answers.
    pub request_bundle_sha256: Option<Sha256>,
    pub detail: Option<String>,
    /// A safety check the operator switched off for this step (e.g. `--accept-unsigned-response`).
    pub override_used: Option<&'static str>,
}

impl Trail {
    pub fn new(step: &'static str) -> Self {
        Trail {
            step,
            ..Trail::default()
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    step: &'a str,
    result: &'a str,
    exit: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle_sha256: Option<Sha256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_bundle_sha256: Option<Sha256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(rename = "override", skip_serializing_if = "Option::is_none")]
    override_used: Option<&'a str>,
}

/// The audit file for a run.
#[derive(Debug, Clone)]
pub struct Audit {
    pub path: PathBuf,
}

impl Audit {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Audit { path: path.into() }
    }

    /// Appends the line for a finished step: `outcome` is the exit it ended with, or its error.
    pub fn record(
        &self,
        trail: &Trail,
        outcome: Result<Exit, &anyhow::Error>,
        now: i64,
    ) -> anyhow::Result<()> {
        let (result, exit, message) = match outcome {
            Ok(Exit::Ok) => ("ok", Exit::Ok, None),
            Ok(Exit::Unverified) => ("unverified", Exit::Unverified, None),
            Ok(other) => ("error", other, None),
            Err(e) => {
                let exit = exit_of(e);
                let result = if exit == Exit::Refused {
                    "refused"
                } else {
                    "error"
                };
                (result, exit, Some(format!("{e:#}")))
            }
        };
        let detail = message.as_deref().or(trail.detail.as_deref());
        let line = Line {
            time: super::time::format(now),
            step: trail.step,
            result,
            exit: exit.code(),
            bundle_sha256: trail.bundle_sha256,
            request_bundle_sha256: trail.request_bundle_sha256,
            reference: trail.reference.as_deref(),
            sequence_number: trail.sequence_number,
            detail,
            override_used: trail.override_used,
        };
        let mut text = serde_json::to_vec(&line).context("serialising an audit line")?;
        text.push(b'\n');
        append(&self.path, &text)
    }
}

fn append(path: &Path, text: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .with_context(|| format!("opening the audit trail {}", path.display()))?;
    // One write of one whole line: concurrent appenders cannot interleave inside it (O_APPEND).
    f.write_all(text)
        .and_then(|()| f.sync_data())
        .with_context(|| format!("appending to the audit trail {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::fail;

    #[test]
    fn lines_are_appended_with_result_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::new(dir.path().join("a/licence-audit.log"));
        let mut t = Trail::new("apply");
        t.reference = Some("REF-1".into());
        audit.record(&t, Ok(Exit::Ok), 0).unwrap();
        audit
            .record(&t, Err(&fail(Exit::Refused, "refused: replay")), 60)
            .unwrap();
        let text = std::fs::read_to_string(&audit.path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["result"], "ok");
        assert_eq!(lines[0]["time"], "1970-01-01T00:00:00Z");
        assert_eq!(lines[1]["result"], "refused");
        assert_eq!(lines[1]["exit"], 10);
        assert_eq!(lines[1]["reference"], "REF-1");
    }
}

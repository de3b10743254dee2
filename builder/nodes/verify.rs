//! `forja nodes verify`: each file's SHA-256 against README.TXT, streamed once, several files in parallel.
//!
//! Memory stays bounded: one reused [`READ_BUF`] buffer per worker, whatever the file sizes. A file without a
//! SHA-256 entry is not even read (it cannot be verified). The overall exit code is the most serious outcome:
//! a mismatch (possible tampering) over a missing entry over an unreadable file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::READ_BUF;
use super::readme::Readme;
use crate::error::Exit;
use crate::hashio::Sha256;
use crate::ui::Progress;

/// The outcome for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Verified,
    Mismatch,
    /// README.TXT has no SHA-256 entry for it.
    Unverified,
    /// It could not be read.
    Unreadable,
}

impl Status {
    pub fn exit(self) -> Exit {
        match self {
            Status::Verified => Exit::Ok,
            Status::Mismatch => Exit::HashMismatch,
            Status::Unverified => Exit::Unverified,
            Status::Unreadable => Exit::Input,
        }
    }

    fn severity(self) -> u8 {
        match self {
            Status::Verified => 0,
            Status::Unreadable => 1,
            Status::Unverified => 2,
            Status::Mismatch => 3,
        }
    }
}

/// One file's report line (also its `--json` form).
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Sha256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Sha256>,
    /// README.TXT line of the expected hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
}

fn check_one(readme: &Readme, path: &Path, buf: &mut [u8], progress: &Progress) -> FileReport {
    let file = path.display().to_string();
    let Some((name, entry)) = readme.entry_for(path) else {
        return FileReport {
            message: format!(
                "{file}: unverified: {} has no SHA-256 entry for {}",
                readme.label,
                super::file_name(path)
            ),
            file,
            status: Status::Unverified,
            bytes: None,
            expected: None,
            actual: None,
            line: None,
        };
    };
    match crate::hashio::hash_file(path, buf, |n| progress.inc(n)) {
        Err(e) => FileReport {
            message: format!("{file}: cannot read: {e}"),
            file,
            status: Status::Unreadable,
            bytes: None,
            expected: Some(entry.sha256),
            actual: None,
            line: Some(entry.line),
        },
        Ok((actual, bytes)) => {
            let ok = actual == entry.sha256;
            FileReport {
                message: if ok {
                    format!("{file}: verified ({name}, {}:{})", readme.label, entry.line)
                } else {
                    format!(
                        "{file}: SHA-256 mismatch: {}:{} expects {}, the file has {actual}",
                        readme.label, entry.line, entry.sha256
                    )
                },
                file,
                status: if ok {
                    Status::Verified
                } else {
                    Status::Mismatch
                },
                bytes: Some(bytes),
                expected: Some(entry.sha256),
                actual: Some(actual),
                line: Some(entry.line),
            }
        }
    }
}

/// Verifies `files` against `readme` with up to `jobs` parallel workers; reports come back in input order.
pub fn verify_files(readme: &Readme, files: &[PathBuf], jobs: usize) -> Vec<FileReport> {
    let total: u64 = files
        .iter()
        .filter(|f| readme.entry_for(f).is_some())
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let progress = Progress::bytes("verifying node images", total);
    let workers = jobs.clamp(1, files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileReport>>> = Mutex::new(vec![None; files.len()]);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut buf = vec![0u8; READ_BUF];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let report = check_one(readme, path, &mut buf, &progress);
                    results.lock().expect("no worker panics holding the lock")[i] = Some(report);
                }
            });
        }
    });
    let reports: Vec<FileReport> = results
        .into_inner()
        .expect("workers finished")
        .into_iter()
        .map(|r| r.expect("every file gets a report"))
        .collect();
    let bad = reports
        .iter()
        .filter(|r| r.status != Status::Verified)
        .count();
    progress.finish(format!("{} verified, {bad} failed", reports.len() - bad));
    reports
}

/// The exit code for a set of reports: the most serious outcome wins.
pub fn overall(reports: &[FileReport]) -> Exit {
    reports
        .iter()
        .map(|r| r.status)
        .max_by_key(|s| s.severity())
        .unwrap_or(Status::Verified)
        .exit()
}

/// Default worker count: the machine's parallelism.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

//! `forja verify DIR`: the offline check a site runs on what it received, with no external tool.
//!
//! Order, and the exit code each step can give:
//! 1. the public key (`--pubkey`, else `DIR/forja.pub`) and `SHA256SUMS` must be readable and well formed, or
//!    [`Exit::Input`] naming the file and line;
//! 2. `SHA256SUMS.sig` (required) and `SHA256SUMS.sshsig` (checked when present) must be valid signatures by
//!    that key over exactly this `SHA256SUMS`, or [`Exit::BadSignature`]; files are not hashed against a list
//!    that is not trusted;
//! 3. every listed file must exist and have its listed SHA-256, or [`Exit::HashMismatch`]. All files are
//!    checked and reported, not just the first bad one;
//! 4. what lies beside them and the signature does not vouch for ([`super::beside`]): unlisted files, key copies
//!    that do not hold the key checked with, a missing `SHA256SUMS.sshsig`. Reported always; with `--strict`
//!    they are [`Exit::Unverified`] (when nothing worse was found).

use fs_err as fs;
use std::io;
use std::path::{Path, PathBuf};

use super::beside::{self, Finding};
use super::sums::{Entry, Sums, hash_file};
use super::{NAMESPACE, PUB, PublicKey, SUMS, SUMS_SIG, SUMS_SSHSIG, signify, sshsig};
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::ui::Progress;

/// The outcome of one signature check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SigCheck {
    Ok,
    /// The optional signature file is not there.
    Absent,
    Bad {
        reason: String,
    },
}

/// The outcome for one listed file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum FileCheck {
    Ok,
    Mismatch { actual: Sha256 },
    Missing { reason: String },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub name: String,
    pub expected: Sha256,
    #[serde(flatten)]
    pub check: FileCheck,
}

/// Which key the signatures were checked against.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyReport {
    pub path: PathBuf,
    /// False when the key was taken from the folder being verified (no `--pubkey`).
    pub pinned: bool,
    pub keynum: String,
    pub fingerprint: String,
}

/// Everything `forja verify` found; `--json` prints this.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub dir: PathBuf,
    pub key: KeyReport,
    pub signify: SigCheck,
    pub sshsig: SigCheck,
    /// `None` when the signatures failed and the files were therefore not checked.
    pub files: Option<Vec<FileReport>>,
    /// What lies beside the listed files that the signature does not vouch for.
    pub findings: Vec<Finding>,
    /// Whether the findings fail the check (`--strict`).
    pub strict: bool,
    pub exit: Exit,
    pub code: i32,
}

impl Report {
    /// A one-line account of what failed, for the error message.
    pub fn summary(&self) -> String {
        let mut problems = Vec::new();
        if let SigCheck::Bad { reason } = &self.signify {
            problems.push(format!("{SUMS_SIG}: {reason}"));
        }
        if let SigCheck::Bad { reason } = &self.sshsig {
            problems.push(format!("{SUMS_SSHSIG}: {reason}"));
        }
        for f in self.files.iter().flatten() {
            match &f.check {
                FileCheck::Ok => {}
                FileCheck::Mismatch { .. } => problems.push(format!("{}: SHA-256 differs", f.name)),
                FileCheck::Missing { reason } => problems.push(format!("{}: {reason}", f.name)),
            }
        }
        if self.strict {
            problems.extend(self.findings.iter().map(Finding::to_string));
        }
        if problems.is_empty() {
            let n = self.files.as_ref().map_or(0, Vec::len);
            format!("signature and {n} files verified")
        } else {
            problems.join("; ")
        }
    }
}

/// Cap for `SHA256SUMS` (one short line per artifact) and for a signature file.
const MAX_SUMS: u64 = 16 << 20;

/// Verifies `dir` against the signify public key at `key` (default `dir/forja.pub`, reported as not pinned).
/// `Err` only for unusable input ([`Exit::Input`]); signature and hash failures are in the [`Report`]. What
/// lies beside the files is reported but does not fail the check (see [`verify_dir_with`]).
pub fn verify_dir(dir: &Path, key: Option<&Path>) -> anyhow::Result<Report> {
    verify_dir_with(dir, key, false)
}

/// [`verify_dir`]; with `strict`, anything beside the listed files that the signature does not vouch for is
/// [`Exit::Unverified`].
pub fn verify_dir_with(dir: &Path, key: Option<&Path>, strict: bool) -> anyhow::Result<Report> {
    if !dir.is_dir() {
        return Err(fail(
            Exit::Input,
            format!("{} is not a folder", dir.display()),
        ));
    }
    let key_path = key.map_or_else(|| dir.join(PUB), Path::to_path_buf);
    if key.is_none() && !key_path.exists() {
        return Err(fail(
            Exit::Input,
            format!(
                "{} has no {PUB}: pass the key your site pinned with --pubkey",
                dir.display()
            ),
        ));
    }
    let public = PublicKey::load(&key_path)?;

    let sums_path = dir.join(SUMS);
    let sums_bytes = crate::inbound::read_capped(&sums_path, MAX_SUMS).map_err(|e| {
        let msg = format!("{e:#}");
        let prefix = format!("{}: ", sums_path.display());
        fail(
            crate::error::exit_of(&e),
            format!(
                "cannot read {}: {} (is {} a forja output folder?)",
                sums_path.display(),
                msg.strip_prefix(&prefix).unwrap_or(&msg),
                dir.display()
            ),
        )
    })?;
    let sums = Sums::parse(&sums_bytes)
        .map_err(|e| fail(Exit::Input, format!("{}: {e}", sums_path.display())))?;

    let signify = check_signify(dir, &public, &sums_bytes);
    let sshsig = check_sshsig(dir, &public, &sums_bytes);
    let trusted = signify == SigCheck::Ok && !matches!(sshsig, SigCheck::Bad { .. });
    let files = trusted.then(|| check_files(dir, &sums));

    let findings = beside::findings(dir, &sums, &public, key.is_some());

    let exit = if !trusted {
        Exit::BadSignature
    } else if files.iter().flatten().any(|f| f.check != FileCheck::Ok) {
        Exit::HashMismatch
    } else if strict && !findings.is_empty() {
        Exit::Unverified
    } else {
        Exit::Ok
    };
    Ok(Report {
        dir: dir.to_owned(),
        key: KeyReport {
            path: key_path,
            pinned: key.is_some(),
            keynum: public.keynum_hex(),
            fingerprint: public.fingerprint(),
        },
        signify,
        sshsig,
        files,
        findings,
        strict,
        exit,
        code: exit.code(),
    })
}

fn check_signify(dir: &Path, key: &PublicKey, sums: &[u8]) -> SigCheck {
    let sig = match crate::inbound::read_capped(&dir.join(SUMS_SIG), MAX_SUMS) {
        Ok(b) => b,
        Err(e) => {
            return SigCheck::Bad {
                reason: format!("cannot read: {e:#}"),
            };
        }
    };
    match signify::verify(key, &sig, sums) {
        Ok(signed) if signed == sums => SigCheck::Ok,
        Ok(_) => SigCheck::Bad {
            reason: format!("{SUMS} differs from the copy signed in {SUMS_SIG}"),
        },
        Err(e) => SigCheck::Bad { reason: e.0 },
    }
}

fn check_sshsig(dir: &Path, key: &PublicKey, sums: &[u8]) -> SigCheck {
    let path = dir.join(SUMS_SSHSIG);
    if path
        .symlink_metadata()
        .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
    {
        return SigCheck::Absent;
    }
    match crate::inbound::read_capped(&path, MAX_SUMS) {
        Ok(sig) => match sshsig::verify(key, NAMESPACE, &sig, sums) {
            Ok(()) => SigCheck::Ok,
            Err(e) => SigCheck::Bad { reason: e.0 },
        },
        Err(e) => SigCheck::Bad {
            reason: format!("cannot read: {e:#}"),
        },
    }
}

fn check_files(dir: &Path, sums: &Sums) -> Vec<FileReport> {
    let total = sums
        .entries()
        .iter()
        .filter_map(|e| fs::metadata(dir.join(&e.name)).ok())
        .fold(0u64, |t, m| t.saturating_add(m.len()));
    let progress = Progress::bytes("checking listed files", total);
    let reports: Vec<FileReport> = sums
        .entries()
        .iter()
        .map(|Entry { name, sha256 }| {
            let check = match hash_file(&dir.join(name), &progress) {
                Ok(actual) if actual == *sha256 => FileCheck::Ok,
                Ok(actual) => FileCheck::Mismatch { actual },
                Err(e) if e.kind() == io::ErrorKind::NotFound => FileCheck::Missing {
                    reason: "missing".into(),
                },
                Err(e) => FileCheck::Missing {
                    reason: format!("cannot read: {e}"),
                },
            };
            FileReport {
                name: name.clone(),
                expected: *sha256,
                check,
            }
        })
        .collect();
    let ok = reports.iter().filter(|r| r.check == FileCheck::Ok).count();
    progress.finish(format!("{ok} of {} files match", reports.len()));
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;
    use crate::sign::{SigningKey, sign_dir};

    fn signed_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("disk.raw"), vec![0xA5; 100_000]).unwrap();
        fs::write(dir.path().join("plan.json"), b"{}\n").unwrap();
        sign_dir(
            dir.path(),
            &SigningKey::from_seed([3; 32]),
            &["plan.json", "disk.raw"],
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_fresh_build_verifies() {
        let dir = signed_dir();
        let r = verify_dir(dir.path(), None).unwrap();
        assert_eq!(r.exit, Exit::Ok, "{}", r.summary());
        assert_eq!(r.sshsig, SigCheck::Ok);
        assert!(!r.key.pinned);
        assert_eq!(r.files.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn a_changed_file_is_a_hash_mismatch_and_all_files_are_reported() {
        let dir = signed_dir();
        fs::write(dir.path().join("plan.json"), b"{ }\n").unwrap();
        fs::remove_file(dir.path().join("disk.raw")).unwrap();
        let r = verify_dir(dir.path(), None).unwrap();
        assert_eq!(r.exit, Exit::HashMismatch);
        assert_eq!(r.summary(), "disk.raw: missing; plan.json: SHA-256 differs");
    }

    #[test]
    fn a_rewritten_list_fails_the_signature() {
        let dir = signed_dir();
        let path = dir.path().join(SUMS);
        let text = fs::read_to_string(&path).unwrap();
        // Drop the first line: still a well-formed list, but not the signed one.
        let (_, rest) = text.split_once('\n').unwrap();
        fs::write(&path, rest).unwrap();
        let r = verify_dir(dir.path(), None).unwrap();
        assert_eq!(r.exit, Exit::BadSignature);
        assert!(r.files.is_none());
        assert!(
            r.summary().contains("differs from the copy signed"),
            "{}",
            r.summary()
        );
    }

    #[test]
    fn another_pinned_key_fails_the_signature() {
        let dir = signed_dir();
        let other = dir.path().join("other.pub");
        fs::write(&other, SigningKey::from_seed([4; 32]).public().to_signify()).unwrap();
        let r = verify_dir(dir.path(), Some(&other)).unwrap();
        assert_eq!(r.exit, Exit::BadSignature);
        assert!(r.key.pinned);
    }

    #[test]
    fn a_missing_signature_is_a_bad_signature_but_a_missing_sshsig_is_not() {
        let dir = signed_dir();
        fs::remove_file(dir.path().join(SUMS_SSHSIG)).unwrap();
        let r = verify_dir(dir.path(), None).unwrap();
        assert_eq!((r.exit, r.sshsig), (Exit::Ok, SigCheck::Absent));
        fs::remove_file(dir.path().join(SUMS_SIG)).unwrap();
        assert_eq!(
            verify_dir(dir.path(), None).unwrap().exit,
            Exit::BadSignature
        );
    }

    #[test]
    fn no_list_or_no_key_is_unusable_input() {
        let dir = signed_dir();
        fs::remove_file(dir.path().join(SUMS)).unwrap();
        let err = verify_dir(dir.path(), None).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        let err = verify_dir(dir.path(), Some(&dir.path().join("nope.pub"))).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        fs::remove_file(dir.path().join(PUB)).unwrap();
        let err = verify_dir(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("--pubkey"), "{err}");
        let err = verify_dir(&dir.path().join("nope"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} is not a folder", dir.path().join("nope").display())
        );
    }
}

//! Signing the artifacts of a build, and checking them offline.
//!
//! The signed object is `SHA256SUMS` (BSD tag format, one line per artifact, sorted by name). It is signed with
//! one ed25519 key in two formats, so a site can check it with a tool it already trusts:
//! - `SHA256SUMS.sig`: signify's *embedded* format (`signify -C -p forja.pub -x SHA256SUMS.sig` checks the
//!   signature and every listed file in one step);
//! - `SHA256SUMS.sshsig`: OpenSSH SSHSIG, namespace `forja`
//!   (`ssh-keygen -Y verify -f allowed_signers -I forja -n forja -s SHA256SUMS.sshsig < SHA256SUMS`).
//!
//! `forja verify` ([`verify`]) does the same checks without either tool. ed25519 is deterministic, so the same key
//! and the same `SHA256SUMS` give byte-identical signature files: signatures are part of the reproducible output.
//!
//! Deliberately not here: encrypted signify secret keys (a build host keeps the key in a 0600 file or gets it from
//! its secret store; `signify -G -n` keys load fine), and any network access (verification is offline).

pub mod beside;
pub mod keys;
pub mod signify;
pub mod sshsig;
pub mod sums;
pub mod verify;

use std::path::Path;

use anyhow::Context;

use crate::artifact::write_atomic;
pub use keys::{PublicKey, SigningKey};
pub use sums::Sums;

/// The signed list of artifacts.
pub const SUMS: &str = "SHA256SUMS";
/// Its signify signature (embedded: the signature lines followed by `SHA256SUMS` itself).
pub const SUMS_SIG: &str = "SHA256SUMS.sig";
/// Its OpenSSH signature (armored SSHSIG).
pub const SUMS_SSHSIG: &str = "SHA256SUMS.sshsig";
/// The signify public key.
pub const PUB: &str = "forja.pub";
/// The same public key as an OpenSSH `authorized_keys`-style line.
pub const PUB_SSH: &str = "forja.pub.ssh";
/// The OpenSSH allowed-signers file for `ssh-keygen -Y verify -I forja`.
pub const ALLOWED_SIGNERS: &str = "allowed_signers";
/// The signify secret key written by `forja keygen`.
pub const SEC: &str = "forja.sec";

/// The SSHSIG namespace and the allowed-signers principal: a signature made for forja is not valid for anything
/// else that trusts the same key (git commits, files signed for another purpose).
pub const NAMESPACE: &str = "forja";

/// Why a signature does not verify. Always maps to [`crate::error::Exit::BadSignature`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SigError(pub String);

impl SigError {
    pub fn new(msg: impl Into<String>) -> Self {
        SigError(msg.into())
    }
}

/// Names that the signing step writes itself; an artifact may not take one of them.
pub const SIGNING_OUTPUTS: [&str; 6] = [SUMS, SUMS_SIG, SUMS_SSHSIG, PUB, PUB_SSH, ALLOWED_SIGNERS];

/// Hashes `artifacts` (relative to `dir`), and writes `SHA256SUMS`, `SHA256SUMS.sig` and `SHA256SUMS.sshsig`
/// into `dir`, each atomically, plus the public key in both formats and an `allowed_signers` file beside them.
///
/// The copied public keys are a convenience: a site should check against the key it pinned when it received it,
/// not the one that travels with the files.
pub fn sign_dir(dir: &Path, key: &SigningKey, artifacts: &[&str]) -> anyhow::Result<Sums> {
    sign_dir_with(dir, key, artifacts, &[])
}

/// [`sign_dir`], with the digests of some artifacts already known (see [`sums::hash_files_with`]).
pub fn sign_dir_with(
    dir: &Path,
    key: &SigningKey,
    artifacts: &[&str],
    known: &[sums::Entry],
) -> anyhow::Result<Sums> {
    let sums = sums::hash_files_with(dir, artifacts, known)?;
    let message = sums.to_bytes();
    let sig = signify::sign_embedded(key, &message, &format!("verify with {PUB}"));
    let sshsig = sshsig::sign(key, NAMESPACE, &message);

    // The signatures first, the list last: a `SHA256SUMS` is never newer than its signatures.
    keys::write_public(dir, &key.public())?;
    write_atomic(dir.join(SUMS_SIG), &sig)?;
    write_atomic(dir.join(SUMS_SSHSIG), sshsig.as_bytes())?;
    write_atomic(dir.join(SUMS), &message).with_context(|| format!("signing {}", dir.display()))?;
    Ok(sums)
}

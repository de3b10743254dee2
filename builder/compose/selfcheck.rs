//! Self-check (§77–80): a manifest of the critical configuration, signed at build time.
//!
//! The manifest is in signify's checksum format with paths relative to `/`, so on the host
//! `cd / && signify-openbsd -C -p forja.pub -x manifest.sig` verifies the signature and every file in one step.
//! The factory copies sit under `/usr/share/forja/factory/`; `forja-selfcheck` (overlay) raises an alarm and
//! restores a file whose hash no longer matches, at boot and on a timer.

use super::GenFile;
use crate::hashio::Sha256;
use crate::plan::SelfcheckPlan;
use crate::profile::Loaded;

pub const MANIFEST: &str = "/usr/share/forja/selfcheck.manifest";
pub const SIGNATURE: &str = "/usr/share/forja/selfcheck.sig";
pub const PUBLIC_KEY: &str = "/usr/share/forja/forja.pub";
pub const FACTORY: &str = "/usr/share/forja/factory";
const R_SELFCHECK: &str = "1616-5.10";

/// The timer's period from `host.self-check-minutes` (§78), as a drop-in over the overlay's unit. The empty
/// `OnUnitActiveSec=` clears the unit's own value, so this one is the only period.
pub const TIMER_DROP_IN: &str = "/etc/systemd/system/forja-selfcheck.timer.d/60-forja.conf";

pub fn timer_files(l: &Loaded) -> Vec<GenFile> {
    vec![GenFile::text(
        TIMER_DROP_IN,
        0o644,
        format!(
            "# forja: the self-check runs at boot and every {m} minutes (§78)\n[Timer]\nOnUnitActiveSec=\nOnUnitActiveSec={m}min\n",
            m = l.profile.host.self_check_minutes
        ),
        &[R_SELFCHECK],
    )]
}

/// What the self-check covers: the protected generated files ([`super::protected`]).
pub fn plan(files: &[GenFile]) -> SelfcheckPlan {
    SelfcheckPlan {
        manifest: MANIFEST.into(),
        signature: SIGNATURE.into(),
        public_key: PUBLIC_KEY.into(),
        factory: FACTORY.into(),
        covers: super::protected(files)
            .iter()
            .map(|f| f.path.clone())
            .collect(),
    }
}

/// The manifest text (BSD tag lines, sorted) for the covered files as built: `(image path, content)`.
pub fn manifest(covered: &[(String, String)]) -> String {
    let mut lines: Vec<String> = covered
        .iter()
        .map(|(path, text)| {
            format!(
                "SHA256 ({}) = {}\n",
                path.trim_start_matches('/'),
                Sha256::of(text.as_bytes())
            )
        })
        .collect();
    lines.sort();
    lines.concat()
}

/// The self-check's files for the covered files as built: factory copies, the manifest, its signature (made by
/// the caller with the build's key) and the public key that checks it.
pub fn files(
    plan: &SelfcheckPlan,
    covered: &[(String, String)],
    signature: String,
    public_key: String,
) -> Vec<GenFile> {
    let mut out: Vec<GenFile> = covered
        .iter()
        .map(|(path, text)| {
            GenFile::text(
                &format!("{}{path}", plan.factory),
                0o600,
                text.clone(),
                &[R_SELFCHECK],
            )
        })
        .collect();
    out.push(GenFile::text(
        &plan.manifest,
        0o644,
        manifest(covered),
        &[R_SELFCHECK],
    ));
    out.push(GenFile::text(
        &plan.signature,
        0o644,
        signature,
        &[R_SELFCHECK],
    ));
    out.push(GenFile::text(
        &plan.public_key,
        0o644,
        public_key,
        &[R_SELFCHECK],
    ));
    out
}

//! What carries each rule out: the rule ids cited by the artifacts a build writes, so the compliance report of a
//! build can say, per rule, which file or request enforces it (issue 6).
//!
//! Resolved into the plan (`enforcement`), so the plan says what the report will say. The sources are the
//! generated host files ([`crate::plan::GenFile::rules`]), the self-check's files, the Pexip plan entries, the securitywizard and
//! installation sheets, and the firmware plan. `forja check` does not use this: it judges the profile alone.

use anyhow::bail;

use crate::compose::bootloader::R_BOOT;
use crate::pexip::{self, sheets};
use crate::plan::{BootPlan, Citation, EspSource, RootPlan};
use crate::policy::Report;
use crate::profile::Loaded;

/// Every citation, in a stable order: host files (sorted by path), the self-check's files, Pexip plan requests
/// (in plan order), sheets, firmware plan.
pub fn citations(l: &Loaded, root: &RootPlan, boot: &BootPlan) -> anyhow::Result<Vec<Citation>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for f in &root.generated {
        for r in &f.rules {
            out.push((r.to_string(), f.path.clone()));
        }
    }
    // The boot lock is the ESP itself: images whose command line is inside, signed; no boot editor.
    for f in &boot.esp {
        let what = match &f.source {
            EspSource::Uki { .. } if boot.signed => {
                "signed unified kernel image, command line inside"
            }
            EspSource::Uki { .. } => {
                "unified kernel image, command line inside (unsigned: no Secure Boot keys)"
            }
            EspSource::Text { .. } => "systemd-boot settings: editor off, no menu",
            EspSource::SystemdBoot => continue,
        };
        out.push((R_BOOT.to_owned(), format!("ESP: {} ({what})", f.path)));
    }
    for i in &boot.artifact_images {
        let signed = if boot.signed { "signed " } else { "unsigned " };
        out.push((
            R_BOOT.to_owned(),
            format!(
                "{} ({signed}unified kernel image of slot {}, command line inside; installed by updates)",
                i.artifact,
                i.slot.name()
            ),
        ));
    }
    let sc = &root.selfcheck;
    let mut selfcheck: Vec<String> = sc
        .covers
        .iter()
        .map(|p| format!("{}{p}", sc.factory))
        .collect();
    selfcheck.extend([
        sc.manifest.clone(),
        sc.signature.clone(),
        sc.public_key.clone(),
    ]);
    out.extend(selfcheck.into_iter().map(|p| ("1616-5.10".to_owned(), p)));
    for e in pexip::plan::plan(l)? {
        let mut by = format!(
            "pexip/{}: {} {}",
            pexip::PLAN_JSON,
            e.method.as_str(),
            e.path
        );
        // A list resource names its object (`name`, `address`, `subject_name`: never a secret; a certificate
        // is named by its kind, not its PEM text).
        if let Some(v) = e.key.as_ref().and_then(|k| e.body[k].as_str()) {
            if v.contains("-----BEGIN ") {
                by.push_str(" (PEM certificate)");
            } else {
                by.push_str(&format!(" ({v})"));
            }
        }
        for r in e.rules {
            out.push((r, by.clone()));
        }
    }
    if !l.profile.pexip.images.is_empty() {
        // Staging verifies every image against README.TXT before use and records it; first boot re-verifies.
        out.push(("1616-4.1.b".into(), crate::nodes::lock::FILE_NAME.into()));
        out.push(("1616-4.6.a".into(), crate::nodes::lock::FILE_NAME.into()));
        out.push((
            "1616-4.6.a".into(),
            "payload: domains/*.xml, imported at first boot".into(),
        ));
    }
    let wizard = format!("pexip/{}", pexip::SECURITYWIZARD_SHEET);
    for q in sheets::securitywizard_answers(&l.profile.pexip.secure_mode) {
        out.push((q.rule.to_owned(), wizard.clone()));
    }
    for r in sheets::INSTALL_RULES {
        for file in [pexip::BOOTSTRAP_JSON, pexip::INSTALL_SHEET] {
            out.push((r.to_string(), format!("pexip/{file}")));
        }
    }
    for r in crate::firmware::RULES {
        out.push(((*r).to_owned(), crate::firmware::PLAN_FILE.to_owned()));
    }
    Ok(out
        .into_iter()
        .map(|(rule, by)| Citation { rule, by })
        .collect())
}

/// Marks in `report` every rule the plan's artifacts carry out. An id the policy table does not know is an
/// error in forja itself (`tests/rule_refs.rs` guards against it).
pub fn mark(report: &mut Report, citations: &[Citation]) -> anyhow::Result<()> {
    let mut unknown = Vec::new();
    for c in citations {
        if !report.mark_enforced(&c.rule, &c.by) {
            unknown.push(format!("{} (cited by {})", c.rule, c.by));
        }
    }
    if !unknown.is_empty() {
        bail!(
            "internal error: rule ids not in the policy table: {}",
            unknown.join(", ")
        );
    }
    Ok(())
}

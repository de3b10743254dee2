//! What carries each rule out: the rule ids cited by the artifacts a build writes, so the compliance report of a
//! build can say, per rule, which file or request enforces it (issue 6).
//!
//! The sources are the generated host files ([`GenFile::rules`]), the Pexip plan entries, the securitywizard and
//! installation sheets, and the firmware plan. `forja check` does not use this: it judges the profile alone.

use anyhow::bail;

use crate::compose::GenFile;
use crate::pexip::{self, sheets};
use crate::policy::Report;
use crate::profile::Loaded;

/// `(rule id, what enforces it)` for every citation, in a stable order: host files (sorted by path), Pexip plan
/// requests (in plan order), sheets, firmware plan. `files` are the host files the build writes.
pub fn citations(l: &Loaded, files: &[GenFile]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for f in files {
        for r in &f.rules {
            out.push((r.to_string(), f.path.clone()));
        }
    }
    for e in pexip::plan::plan(l)? {
        let method = serde_json::to_value(e.method)?;
        let mut by = format!(
            "pexip/{}: {} {}",
            pexip::PLAN_JSON,
            method.as_str().unwrap_or_default(),
            e.path
        );
        // A list resource names its object (`name` or `address`: never a secret).
        if let Some(v) = e.key.as_ref().and_then(|k| e.body[k].as_str()) {
            by.push_str(&format!(" ({v})"));
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
    for r in crate::firmware::plan(l).rules {
        out.push((r.to_owned(), crate::firmware::PLAN_FILE.to_owned()));
    }
    Ok(out)
}

/// Marks in `report` every rule the build's artifacts carry out. An id the policy table does not know is an
/// error in forja itself (`tests/rule_refs.rs` guards against it).
pub fn mark(report: &mut Report, l: &Loaded, files: &[GenFile]) -> anyhow::Result<()> {
    let mut unknown = Vec::new();
    for (id, by) in citations(l, files)? {
        if !report.mark_enforced(&id, &by) {
            unknown.push(format!("{id} (cited by {by})"));
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

//! `forja pexip audit`: proves that the Management Node still does what the plan made it do (§106), with GET
//! requests only.
//!
//! Every plan entry's object is read back and each planned field compared ([`super::remote::same`]); the result
//! is given per guide rule: PASS when every field of every request citing the rule matches, DRIFT with expected
//! and actual values otherwise (an object that is gone is a DRIFT of all its fields), MANUAL or DECLARED (with
//! the step or the declaration) for the rules nothing on the manager can show. Fields the manager never returns
//! (secrets) are listed as not readable, never guessed. Secret values are never printed: a readable secret (a
//! room PIN) shows as `<secret:NAME>` with `matches` or `differs`.
//!
//! The certificate the Management Node really uses is parsed and its end date printed (§106); once the profile
//! names the CA-signed certificate, its key type, size and signature hash are checked against the profile (rules
//! `807-rsa`, `807-ecdsa`, `807-hash`). A CSR still waiting for its CA is printed so the operator can take it to
//! the CA.
//!
//! Rules enforced on the host or while building are not the manager's business: the report says where they are
//! proved (`forja check`, the boot report) and leaves them out. Exit 1 on any DRIFT.

mod certs;
mod render;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::plan::{Entry, Method};
use super::remote::{Missing, Remote, Resolved, same, shorten};
use crate::policy::rule::{Enforcement, Status};
use crate::profile::Loaded;

/// One compared field.
#[derive(Debug, Clone, Serialize)]
pub struct FieldCheck {
    /// The object: its path, and its key for a list object (`configuration/v1/ntp_server/ address=...`).
    pub object: String,
    pub field: String,
    pub expected: String,
    pub actual: String,
}

/// The audit verdict of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Drift,
    Manual,
    Declared,
}

/// One rule as the audit found it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleAudit {
    pub id: &'static str,
    pub paragraph: &'static str,
    pub statement: &'static str,
    pub status: Verdict,
    /// The fields that differ (DRIFT).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<FieldCheck>,
    /// How many fields were read back and matched.
    pub matched: usize,
    /// Write-only fields (secrets) the manager does not return: sent by apply, not readable here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_readable: Vec<String>,
    /// For MANUAL and DECLARED: the operator's step or declaration.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The whole audit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub profile: String,
    pub manager: String,
    pub rules: Vec<RuleAudit>,
    /// The certificates the nodes use, and any CSR waiting for its CA.
    pub certificates: Vec<certs::CertificateSeen>,
    pub summary: AuditSummary,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditSummary {
    pub pass: usize,
    pub drift: usize,
    pub manual: usize,
    pub declared: usize,
    /// Rules proved elsewhere (on the host, while building): see `forja check` and the boot report.
    pub not_on_the_manager: usize,
}

impl AuditReport {
    pub fn drifted(&self) -> bool {
        self.summary.drift > 0
    }
}

/// What the plan's entries found, by rule.
#[derive(Default)]
struct Found {
    matched: BTreeMap<String, usize>,
    drift: BTreeMap<String, Vec<FieldCheck>>,
    not_readable: BTreeMap<String, Vec<String>>,
}

impl Found {
    fn add(&mut self, e: &Entry, check: Option<FieldCheck>) {
        let rules: Vec<&str> = e.rules.iter().map(String::as_str).collect();
        self.add_rules(&rules, check);
    }

    fn add_rules(&mut self, rules: &[&str], check: Option<FieldCheck>) {
        for r in rules {
            match &check {
                None => *self.matched.entry((*r).to_owned()).or_default() += 1,
                Some(c) => self
                    .drift
                    .entry((*r).to_owned())
                    .or_default()
                    .push(c.clone()),
            }
        }
    }
}

/// Audits the manager against the profile's plan.
pub fn audit(l: &Loaded, remote: &Remote) -> anyhow::Result<AuditReport> {
    let plan = super::plan::plan(l)?;
    let mut found = Found::default();
    for e in &plan {
        entry(remote, e, &mut found)?;
    }
    let certificates = certs::check(l, remote, &mut found)?;
    Ok(report(l, remote.manager, found, certificates))
}

/// Reads one entry's object back and compares every planned field.
fn entry(remote: &Remote, e: &Entry, found: &mut Found) -> anyhow::Result<()> {
    let what = format!("GET {}", e.path);
    let want = remote.resolve(&e.body, &what, Missing::Describe)?;
    let (object, current) = match (e.method, &e.key) {
        (Method::Post, Some(key)) => {
            let label = format!("{} {key}={}", e.path, shorten(&want.shown[key]));
            (label, remote.find(&e.path, key, &want.body[key], &what)?)
        }
        _ => (e.path.clone(), Some(remote.object(&e.path, &what)?)),
    };
    let Some(current) = current else {
        found.add(
            e,
            Some(FieldCheck {
                object,
                field: "(the object)".into(),
                expected: "present".into(),
                actual: "missing: run forja pexip apply".into(),
            }),
        );
        return Ok(());
    };
    for (field, value) in &want.body {
        if !e.readable(field) {
            if e.write_only.contains(field) {
                for r in &e.rules {
                    found
                        .not_readable
                        .entry(r.clone())
                        .or_default()
                        .push(format!("{object}: {field}"));
                }
            }
            continue;
        }
        found.add(e, compare(&object, field, value, &current, &want));
    }
    if e.then.is_some() {
        found.add(e, node_sync(remote, e, &object, &current)?);
    }
    Ok(())
}

/// `None` when the manager's value is the planned one.
fn compare(
    object: &str,
    field: &str,
    want: &Value,
    current: &Map<String, Value>,
    resolved: &Resolved,
) -> Option<FieldCheck> {
    let unresolved = resolved.unresolved.iter().any(|f| f == field);
    if !unresolved && same(current.get(field), want) {
        return None;
    }
    let shown = &resolved.shown[field];
    let actual = if shown.starts_with("<secret:") {
        "differs".to_owned()
    } else {
        current
            .get(field)
            .map(|v| shorten(&v.to_string()))
            .unwrap_or_else(|| "(absent)".into())
    };
    Some(FieldCheck {
        object: object.to_owned(),
        field: field.to_owned(),
        expected: shown.clone(),
        actual,
    })
}

/// A registered node must be in sync with the manager.
fn node_sync(
    remote: &Remote,
    e: &Entry,
    object: &str,
    current: &Map<String, Value>,
) -> anyhow::Result<Option<FieldCheck>> {
    let Some(then) = &e.then else { return Ok(None) };
    let id = current
        .get("id")
        .map(|v| v.to_string().trim_matches('"').to_owned())
        .unwrap_or_default();
    let st = remote.get_json(&format!("status/v1/worker_vm/{id}/"), "node status")?;
    let status = st
        .get("sync_status")
        .and_then(Value::as_str)
        .unwrap_or("(none)");
    Ok((status != then.wait_for_sync_status).then(|| FieldCheck {
        object: object.to_owned(),
        field: "sync_status (status/v1/worker_vm)".into(),
        expected: then.wait_for_sync_status.clone(),
        actual: status.to_owned(),
    }))
}

fn report(
    l: &Loaded,
    manager: &str,
    mut found: Found,
    certificates: Vec<certs::CertificateSeen>,
) -> AuditReport {
    let evaluated = crate::policy::evaluate(l);
    let mut rules = Vec::new();
    let mut summary = AuditSummary::default();
    for r in &evaluated.rules {
        let id = r.id.0;
        let cited = found.matched.contains_key(id) || found.drift.contains_key(id);
        let (status, note) = if cited {
            // A rule the plan carries out may still leave the operator a step (e.g. the backup scheme).
            let note = if r.status == Status::Manual {
                r.reason.clone()
            } else {
                String::new()
            };
            if found.drift.contains_key(id) {
                (Verdict::Drift, note)
            } else {
                (Verdict::Pass, note)
            }
        } else {
            match (r.enforcement, r.status) {
                (Enforcement::Manual, _) | (_, Status::Manual) => {
                    (Verdict::Manual, r.reason.clone())
                }
                (Enforcement::Declared, _) => (Verdict::Declared, r.how.to_owned()),
                _ => {
                    summary.not_on_the_manager += 1;
                    continue;
                }
            }
        };
        match status {
            Verdict::Pass => summary.pass += 1,
            Verdict::Drift => summary.drift += 1,
            Verdict::Manual => summary.manual += 1,
            Verdict::Declared => summary.declared += 1,
        }
        rules.push(RuleAudit {
            id,
            paragraph: r.paragraph,
            statement: r.statement,
            status,
            drift: found.drift.remove(id).unwrap_or_default(),
            matched: found.matched.remove(id).unwrap_or_default(),
            not_readable: found.not_readable.remove(id).unwrap_or_default(),
            note,
        });
    }
    AuditReport {
        profile: l
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        manager: manager.to_owned(),
        rules,
        certificates,
        summary,
    }
}

//! The compliance report: every rule with its status and reason, the findings, and a summary. It renders as a
//! plain table (the terminal), JSON (machines, and what `forja build` stores) and Markdown (the auditor's report,
//! mirroring the guide's §7 checklist and then listing every rule).
//!
//! Checklist rows: NO when any of the row's rules FAILs; SÍ when all of them PASS or are WAIVED; both boxes empty
//! while MANUAL steps are open or a rule rests on the operator's declaration (the Observaciones column names
//! them). The report never contains a secret value: reasons name secrets, never their values.
//!
//! The JSON is read by other tools (the HTML report renders it): per rule `id`, `paragraph`, `statement`,
//! `enforcement` (one of `host-artifact`, `pexip-plan`, `build-check`, `manual`, `declared`), `how` (what
//! enforces it, or the operator's step, or what the operator declares), `proof` (the tests that prove it, as
//! `tests/FILE.rs::function`), `status`, `reason`, and for a build `enforced_by`; then `inputs` (every file the
//! profile names, as `forja check` found it), `findings` and `summary` (counts by status and by enforcement).
//!
//! A report made by `forja build` also names, per rule, what the build wrote to carry it out (`enforced_by`,
//! see `build::enforced`); the Markdown lists it under the rule's enforcement kind.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::findings::Finding;
use super::rule::{Checklist, Enforcement, NO_SECRETS, Rule, RuleId, Status, Verdict};
use crate::profile::Loaded;
use crate::profile::model::Purpose;

/// One rule's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    pub id: RuleId,
    pub paragraph: &'static str,
    pub statement: &'static str,
    pub enforcement: Enforcement,
    /// What enforces it, the operator's step, or what the operator declares.
    pub how: &'static str,
    /// The tests that prove it (`tests/FILE.rs::function`).
    pub proof: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checklist: Option<Checklist>,
    pub status: Status,
    /// Why; one line per offending field for a FAIL, the operator's step for MANUAL.
    pub reason: String,
    /// What a build wrote that carries the rule out (a host file path, a Pexip plan request, a sheet). Filled
    /// by `forja build` only; `forja check` judges the profile alone and leaves it empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enforced_by: Vec<String>,
}

impl RuleResult {
    pub fn from_verdict(rule: &Rule, v: Verdict) -> Self {
        let (status, reason) = match v {
            Verdict::Fail(reasons) => (Status::Fail, reasons.join("\n")),
            Verdict::Waived(why) => (Status::Waived, why),
            Verdict::NeedsSecrets => (Status::Manual, NO_SECRETS.to_owned()),
            Verdict::Manual(step) => (Status::Manual, step),
            Verdict::Ok(note) => match rule.enforcement {
                Enforcement::Manual => (Status::Manual, format!("{} [{note}]", rule.how)),
                Enforcement::Declared => (
                    Status::Declared,
                    format!("declared by the operator: {} [{note}]", rule.how),
                ),
                _ => (Status::Pass, note),
            },
        };
        RuleResult {
            id: rule.id,
            paragraph: rule.paragraph,
            statement: rule.statement,
            enforcement: rule.enforcement,
            how: rule.how,
            proof: rule.proof,
            checklist: rule.checklist,
            status,
            reason,
            enforced_by: Vec::new(),
        }
    }
}

/// Counts by status, and of the rules by how they are enforced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub rules: usize,
    pub pass: usize,
    pub fail: usize,
    pub manual: usize,
    pub declared: usize,
    pub waived: usize,
    pub findings: usize,
    /// Rules per enforcement kind (`host-artifact`, `pexip-plan`, `build-check`, `manual`, `declared`).
    pub by_enforcement: BTreeMap<&'static str, usize>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rules: {} PASS, {} FAIL, {} MANUAL, {} DECLARED, {} WAIVED; {} findings",
            self.rules,
            self.pass,
            self.fail,
            self.manual,
            self.declared,
            self.waived,
            self.findings
        )
    }
}

/// A file the profile names, as `forja check` found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFile {
    /// The profile field that names it, e.g. `pexip.certificates.ca-certificate`.
    pub field: String,
    /// The path as written in the profile.
    pub path: String,
    /// `ok` (exists and parses) or `not-here` (a file `forja build` needs that may live on another machine).
    pub status: &'static str,
    /// What was found, or what `forja build` will need.
    pub note: String,
}

/// The compliance report of one profile.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: String,
    pub name: String,
    pub purpose: Purpose,
    pub rules: Vec<RuleResult>,
    /// Every file the profile names, checked by `forja check` (empty when the report was made without looking).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputFile>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Report {
    pub fn new(loaded: &Loaded, rules: Vec<RuleResult>, findings: Vec<Finding>) -> Self {
        let count = |s| rules.iter().filter(|r| r.status == s).count();
        let by_enforcement = Enforcement::ALL
            .iter()
            .map(|e| {
                let n = rules.iter().filter(|r| r.enforcement == *e).count();
                (e.as_str(), n)
            })
            .collect();
        let summary = Summary {
            rules: rules.len(),
            pass: count(Status::Pass),
            fail: count(Status::Fail),
            manual: count(Status::Manual),
            declared: count(Status::Declared),
            waived: count(Status::Waived),
            findings: findings.len(),
            by_enforcement,
        };
        Report {
            // The file name only: a report (signed in a build) must not depend on where the profile lies.
            profile: loaded
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            name: loaded.profile.profile.name.to_string(),
            purpose: loaded.profile.profile.purpose,
            rules,
            inputs: Vec::new(),
            findings,
            summary,
        }
    }

    /// Whether any rule fails (exit 1 for `forja check`).
    pub fn failed(&self) -> bool {
        self.summary.fail > 0
    }

    pub fn get(&self, id: &str) -> Option<&RuleResult> {
        self.rules.iter().find(|r| r.id.0 == id)
    }

    /// Records that `by` (an artifact of the build) carries out rule `id`; once per `by`. False when no rule
    /// has that id.
    pub fn mark_enforced(&mut self, id: &str, by: &str) -> bool {
        let Some(r) = self.rules.iter_mut().find(|r| r.id.0 == id) else {
            return false;
        };
        if !r.enforced_by.iter().any(|b| b == by) {
            r.enforced_by.push(by.to_owned());
        }
        true
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises") + "\n"
    }

    /// The terminal table: rule, paragraph, status, reason; then findings and the summary line.
    pub fn to_table(&self) -> String {
        let w_id = self
            .rules
            .iter()
            .map(|r| r.id.0.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let w_par = self
            .rules
            .iter()
            .map(|r| r.paragraph.chars().count())
            .max()
            .unwrap_or(9)
            .max(9);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:w_id$}  {:w_par$}  {:8}  REASON",
            "RULE", "PARAGRAPH", "STATUS"
        );
        let indent = " ".repeat(w_id + w_par + 14);
        for r in &self.rules {
            let par_pad = w_par - r.paragraph.chars().count();
            let mut lines = r.reason.lines();
            let _ = writeln!(
                out,
                "{:w_id$}  {}{}  {:8}  {}",
                r.id.0,
                r.paragraph,
                " ".repeat(par_pad),
                r.status.as_str(),
                lines.next().unwrap_or("")
            );
            for l in lines {
                let _ = writeln!(out, "{indent}{l}");
            }
        }
        for i in &self.inputs {
            let _ = writeln!(
                out,
                "\nINPUT {} = {} ({}): {}",
                i.field, i.path, i.status, i.note
            );
        }
        for f in &self.findings {
            let _ = writeln!(out, "\nFINDING {} ({}, {}):", f.id, f.paragraph, f.topic);
            let _ = writeln!(out, "  guide: {}", f.guide);
            let _ = writeln!(out, "  other: {}", f.other);
            let _ = writeln!(out, "  forja: {}", f.forja);
        }
        let _ = writeln!(out, "\n{}", self.summary);
        out
    }
}

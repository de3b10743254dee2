//! The compliance report: every rule with its status and reason, the findings, and a summary. It renders as a
//! plain table (the terminal), JSON (machines, and what `forja build` stores) and Markdown (the auditor's report,
//! mirroring the guide's §7 checklist and then listing every rule).
//!
//! Checklist rows: NO when any of the row's rules FAILs; SÍ when all of them PASS or are WAIVED; both boxes empty
//! while MANUAL steps are still open (the Observaciones column names them). The report never contains a secret
//! value: reasons name secrets, never their values.
//!
//! A report made by `forja build` also names, per rule, what the build wrote to carry it out (`enforced_by`,
//! see `build::enforced`); the Markdown lists it under the rule's enforcement kind.

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
            Verdict::Ok(note) if rule.enforcement == Enforcement::Manual => {
                (Status::Manual, format!("{} [{note}]", rule.how))
            }
            Verdict::Ok(note) => (Status::Pass, note),
        };
        RuleResult {
            id: rule.id,
            paragraph: rule.paragraph,
            statement: rule.statement,
            enforcement: rule.enforcement,
            checklist: rule.checklist,
            status,
            reason,
            enforced_by: Vec::new(),
        }
    }
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub rules: usize,
    pub pass: usize,
    pub fail: usize,
    pub manual: usize,
    pub waived: usize,
    pub findings: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rules: {} PASS, {} FAIL, {} MANUAL, {} WAIVED; {} findings",
            self.rules, self.pass, self.fail, self.manual, self.waived, self.findings
        )
    }
}

/// The compliance report of one profile.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: String,
    pub name: String,
    pub purpose: Purpose,
    pub rules: Vec<RuleResult>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Report {
    pub fn new(loaded: &Loaded, rules: Vec<RuleResult>, findings: Vec<Finding>) -> Self {
        let count = |s| rules.iter().filter(|r| r.status == s).count();
        let summary = Summary {
            rules: rules.len(),
            pass: count(Status::Pass),
            fail: count(Status::Fail),
            manual: count(Status::Manual),
            waived: count(Status::Waived),
            findings: findings.len(),
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
            "{:w_id$}  {:w_par$}  {:6}  REASON",
            "RULE", "PARAGRAPH", "STATUS"
        );
        let indent = " ".repeat(w_id + w_par + 12);
        for r in &self.rules {
            let par_pad = w_par - r.paragraph.chars().count();
            let mut lines = r.reason.lines();
            let _ = writeln!(
                out,
                "{:w_id$}  {}{}  {:6}  {}",
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
        for f in &self.findings {
            let _ = writeln!(out, "\nFINDING {} ({}, {}):", f.id, f.paragraph, f.topic);
            let _ = writeln!(out, "  guide: {}", f.guide);
            let _ = writeln!(out, "  other: {}", f.other);
            let _ = writeln!(out, "  forja: {}", f.forja);
        }
        let _ = writeln!(out, "\n{}", self.summary);
        out
    }

    /// The auditor's report in Markdown: the §7 checklist with SÍ/NO, the findings, then every rule.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Informe de cumplimiento CCN-STIC 1616: `{}`\n",
            self.name
        );
        let _ = writeln!(
            out,
            "Profile `{}` (purpose: {}). {}\n",
            self.profile,
            serde_json::to_value(self.purpose)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            self.summary
        );
        let _ = writeln!(out, "## 7. Checklist\n");
        let _ = writeln!(out, "| ACCIONES | SÍ | NO | OBSERVACIONES |");
        let _ = writeln!(out, "|---|---|---|---|");
        let mut heading = "";
        for row in Checklist::ALL {
            if row.heading() != heading {
                heading = row.heading();
                let _ = writeln!(out, "| **{heading}** | | | |");
            }
            let rs: Vec<&RuleResult> = self
                .rules
                .iter()
                .filter(|r| r.checklist == Some(row))
                .collect();
            let any = |s| rs.iter().any(|r| r.status == s);
            let (si, no) = if any(Status::Fail) {
                ("", "X")
            } else if any(Status::Manual) {
                ("", "")
            } else {
                ("X", "")
            };
            let obs: Vec<String> = rs
                .iter()
                .map(|r| format!("{} {}", r.id, r.status))
                .collect();
            let pending = if si.is_empty() && no.is_empty() {
                "pendiente de pasos MANUAL: "
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "| {} | {si} | {no} | {pending}{} |",
                row.action(),
                obs.join(", ")
            );
        }
        let _ = writeln!(out, "\n## Findings\n");
        if self.findings.is_empty() {
            let _ = writeln!(out, "None.");
        }
        for f in &self.findings {
            let _ = writeln!(out, "### {} ({}): {}\n", f.id, f.paragraph, f.topic);
            let _ = writeln!(out, "- **Guide:** {}", f.guide);
            let _ = writeln!(out, "- **Other source:** {}", f.other);
            let _ = writeln!(out, "- **forja:** {}\n", f.forja);
        }
        let _ = writeln!(out, "\n## Rules\n");
        let _ = writeln!(out, "| Rule | § | Status | Enforced | Statement | Reason |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for r in &self.rules {
            // What the build wrote for the rule, under its enforcement kind.
            let by: String = r
                .enforced_by
                .iter()
                .map(|b| format!("<br>· `{}`", cell(b)))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{by} | {} | {} |",
                r.id,
                r.paragraph,
                r.status,
                r.enforcement.as_str(),
                cell(r.statement),
                cell(&r.reason)
            );
        }
        out
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

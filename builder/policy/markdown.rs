//! The auditor's report in Markdown: the guide's §7 checklist with SÍ/NO, the files the profile names, the
//! findings, then every rule with how it is enforced and the tests that prove it.

use std::fmt::Write as _;

use super::report::{Report, RuleResult};
use super::rule::{Checklist, Status};

impl Report {
    /// The auditor's report in Markdown.
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
        checklist(self, &mut out);
        inputs(self, &mut out);
        findings(self, &mut out);
        rules(self, &mut out);
        out
    }
}

/// A row is SÍ only when every rule under it PASSes (or is WAIVED in a lab): a DECLARED rule is the operator's
/// word, so it leaves the row open like a MANUAL step.
fn checklist(r: &Report, out: &mut String) {
    let _ = writeln!(out, "## 7. Checklist\n");
    let _ = writeln!(out, "| ACCIONES | SÍ | NO | OBSERVACIONES |");
    let _ = writeln!(out, "|---|---|---|---|");
    let mut heading = "";
    for row in Checklist::ALL {
        if row.heading() != heading {
            heading = row.heading();
            let _ = writeln!(out, "| **{heading}** | | | |");
        }
        let rs: Vec<&RuleResult> = r
            .rules
            .iter()
            .filter(|x| x.checklist == Some(row))
            .collect();
        let any = |s| rs.iter().any(|x| x.status == s);
        let (si, no) = if any(Status::Fail) {
            ("", "X")
        } else if any(Status::Manual) || any(Status::Declared) {
            ("", "")
        } else {
            ("X", "")
        };
        let obs: Vec<String> = rs
            .iter()
            .map(|x| format!("{} {}", x.id, x.status))
            .collect();
        let pending = if si.is_empty() && no.is_empty() {
            "pendiente de pasos MANUAL o declarado por el operador: "
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
}

fn inputs(r: &Report, out: &mut String) {
    if r.inputs.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Input files\n");
    let _ = writeln!(out, "| Field | File | Status | Note |");
    let _ = writeln!(out, "|---|---|---|---|");
    for i in &r.inputs {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} |",
            i.field,
            cell(&i.path),
            i.status,
            cell(&i.note)
        );
    }
}

fn findings(r: &Report, out: &mut String) {
    let _ = writeln!(out, "\n## Findings\n");
    if r.findings.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for f in &r.findings {
        let _ = writeln!(out, "### {} ({}): {}\n", f.id, f.paragraph, f.topic);
        let _ = writeln!(out, "- **Guide:** {}", f.guide);
        let _ = writeln!(out, "- **Other source:** {}", f.other);
        let _ = writeln!(out, "- **forja:** {}\n", f.forja);
    }
}

fn rules(r: &Report, out: &mut String) {
    let _ = writeln!(out, "\n## Rules\n");
    let _ = writeln!(
        out,
        "| Rule | § | Status | Enforced | Statement | Reason | Proof |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for x in &r.rules {
        // What the build wrote for the rule, under its enforcement kind.
        let by: String = x
            .enforced_by
            .iter()
            .map(|b| format!("<br>· `{}`", cell(b)))
            .collect();
        let proof: Vec<String> = x.proof.iter().map(|p| format!("`{p}`")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}{by} | {} | {} | {} |",
            x.id,
            x.paragraph,
            x.status,
            x.enforcement.as_str(),
            cell(x.statement),
            cell(&x.reason),
            proof.join("<br>")
        );
    }
}

/// A table cell: pipes escaped, line breaks as `<br>`.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

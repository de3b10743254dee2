//! The audit as a table for people (one line per rule, the drifted fields under it) and as JSON.

use std::fmt::Write as _;

use super::{AuditReport, Verdict};

impl AuditReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the audit serialises") + "\n"
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Audit of {} against {}", self.manager, self.profile);
        for r in &self.rules {
            let status = match r.status {
                Verdict::Pass => "PASS",
                Verdict::Drift => "DRIFT",
                Verdict::Manual => "MANUAL",
                Verdict::Declared => "DECLARED",
            };
            let mut detail = match r.status {
                Verdict::Pass => format!("{} field(s) match", r.matched),
                Verdict::Drift => format!("{} field(s) differ", r.drift.len()),
                _ => r.note.clone(),
            };
            if matches!(r.status, Verdict::Pass | Verdict::Drift) && !r.note.is_empty() {
                detail.push_str(&format!("; MANUAL: {}", r.note));
            }
            let _ = writeln!(out, "{:14} {:12} {:8} {detail}", r.id, r.paragraph, status);
            for d in &r.drift {
                let _ = writeln!(
                    out,
                    "{:37}{} {}: expected {}, found {}",
                    "", d.object, d.field, d.expected, d.actual
                );
            }
            if !r.not_readable.is_empty() {
                // The JSON names every object; the table names the fields once.
                let mut fields: Vec<&str> = r
                    .not_readable
                    .iter()
                    .filter_map(|x| x.rsplit(": ").next())
                    .collect();
                fields.sort();
                fields.dedup();
                let _ = writeln!(
                    out,
                    "{:37}not readable back (secrets, sent by apply): {}",
                    "",
                    fields.join(", ")
                );
            }
        }
        for c in &self.certificates {
            if c.csr.is_empty() {
                let _ = writeln!(
                    out,
                    "\nCERTIFICATE {}: {} (issuer {}), {}, {}, valid until {}",
                    c.found, c.subject, c.issuer, c.key, c.signature_hash, c.not_after
                );
            } else {
                let _ = writeln!(
                    out,
                    "\nCSR waiting for the CA, {}:\n{}",
                    c.subject,
                    c.csr.trim_end()
                );
            }
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "\n{} PASS, {} DRIFT, {} MANUAL, {} DECLARED; {} rules are proved on the host or while building (forja check)",
            s.pass, s.drift, s.manual, s.declared, s.not_on_the_manager
        );
        out
    }
}

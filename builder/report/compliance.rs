//! The compliance sections of `report.html`, read from `compliance.json` as a generic value: summary counts,
//! the guide's §7 checklist, the rule table, the findings, the MANUAL steps to sign.

use std::fmt::Write as _;

use serde_json::Value;

use super::esc;
use crate::policy::rule::Checklist;

/// The statuses, in the order the filter offers them.
const STATUSES: [&str; 5] = ["PASS", "FAIL", "MANUAL", "DECLARED", "WAIVED"];
/// Rule fields given a column of their own; every other field is shown under "More".
const COLUMNS: [&str; 8] = [
    "id",
    "paragraph",
    "status",
    "statement",
    "reason",
    "enforcement",
    "enforced_by",
    "checklist",
];

fn rule_list(report: &Value) -> &[Value] {
    report["rules"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A value of any shape as readable HTML: strings as text, lists as lines, objects as `key: value` lines.
fn any(v: &Value) -> String {
    match v {
        Value::Array(a) => a.iter().map(any).collect::<Vec<_>>().join("<br>"),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("<i>{}</i>: {}", esc(k), any(v)))
            .collect::<Vec<_>>()
            .join("<br>"),
        other => esc(&text(other)),
    }
}

pub fn summary(o: &mut String, report: &Value) {
    let s = &report["summary"];
    let _ = writeln!(o, "<section id=\"summary\"><div class=\"summary\">");
    for (key, label) in [
        ("rules", "rules"),
        ("pass", "PASS"),
        ("fail", "FAIL"),
        ("manual", "MANUAL"),
        ("declared", "DECLARED"),
        ("waived", "WAIVED"),
        ("findings", "findings"),
    ] {
        let _ = writeln!(
            o,
            "<div class=\"{label}\" data-count=\"{key}\"><b>{}</b>{label}</div>",
            esc(&text(&s[key]))
        );
    }
    let _ = writeln!(o, "</div></section>");
}

/// The checklist of §7: NO when a row's rule fails; SÍ when all pass or are waived; open while MANUAL steps are.
pub fn checklist(o: &mut String, report: &Value) {
    let _ = writeln!(
        o,
        "<section id=\"checklist\"><h2>7. Checklist</h2>\n<table>\n<thead><tr><th>ACCIONES</th>\
         <th class=\"mark\">SÍ</th><th class=\"mark\">NO</th><th>OBSERVACIONES</th></tr></thead>\n<tbody>"
    );
    let mut heading = "";
    for row in Checklist::ALL {
        if row.heading() != heading {
            heading = row.heading();
            let _ = writeln!(
                o,
                "<tr class=\"heading\"><td colspan=\"4\">{}</td></tr>",
                esc(heading)
            );
        }
        let key = serde_json::to_value(row).unwrap_or_default();
        let rs: Vec<&Value> = rule_list(report)
            .iter()
            .filter(|r| r["checklist"] == key)
            .collect();
        let any_is = |s: &str| rs.iter().any(|r| r["status"] == s);
        let (si, no, pending) = if any_is("FAIL") {
            ("", "X", "")
        } else if any_is("MANUAL") {
            ("", "", "pendiente de pasos MANUAL: ")
        } else {
            ("X", "", "")
        };
        let obs: Vec<String> = rs
            .iter()
            .map(|r| {
                let st = text(&r["status"]);
                format!(
                    "<a href=\"#rule-{id}\">{id}</a> <span class=\"{st}\">{st}</span>",
                    id = esc(&text(&r["id"])),
                    st = esc(&st)
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "<tr data-row=\"{}\"><td>{}</td><td class=\"mark\">{si}</td><td class=\"mark\">{no}</td><td>{pending}{}</td></tr>",
            esc(&text(&key)),
            esc(row.action()),
            obs.join(", ")
        );
    }
    let _ = writeln!(o, "</tbody></table></section>");
}

/// Every rule, filterable: status, paragraph, what it asks, why, how it is enforced and by which files, and
/// any field this renderer does not know.
pub fn rules(o: &mut String, report: &Value) {
    let _ = writeln!(o, "<section id=\"rules-section\"><h2>Rules</h2>");
    let _ = write!(
        o,
        "<div class=\"filters\"><input type=\"search\" id=\"q\" placeholder=\"filter: rule, §, file, text\" aria-label=\"filter\">"
    );
    for s in STATUSES {
        let _ = write!(
            o,
            "<label class=\"{s}\"><input type=\"checkbox\" name=\"status\" value=\"{s}\" checked> {s}</label>"
        );
    }
    let _ = writeln!(
        o,
        "<span><span id=\"shown\">{}</span> of {} shown</span></div>",
        rule_list(report).len(),
        rule_list(report).len()
    );
    let _ = writeln!(
        o,
        "<table id=\"rules\">\n<thead><tr><th>Rule</th><th>§</th><th>Status</th><th>Statement and reason</th>\
         <th>Enforced / proven by</th><th>More</th></tr></thead>\n<tbody>"
    );
    for r in rule_list(report) {
        let id = esc(&text(&r["id"]));
        let status = esc(&text(&r["status"]));
        let by = match &r["enforced_by"] {
            Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|b| format!("<br><code>{}</code>", esc(&text(b))))
                .collect::<String>(),
            _ => String::new(),
        };
        let more: Vec<String> = r
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !COLUMNS.contains(&k.as_str()))
                    .map(|(k, v)| format!("<b>{}</b>: {}", esc(k), any(v)))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "<tr id=\"rule-{id}\" data-status=\"{status}\"><td><code>{id}</code></td><td>{}</td>\
             <td class=\"status {status}\">{status}</td><td>{}<div class=\"reason extra\">{}</div></td>\
             <td>{}{by}</td><td class=\"extra\">{}</td></tr>",
            esc(&text(&r["paragraph"])),
            esc(&text(&r["statement"])),
            esc(&text(&r["reason"])),
            esc(&text(&r["enforcement"])),
            more.join("<br>")
        );
    }
    let _ = writeln!(o, "</tbody></table></section>");
}

/// Where the guide and another source disagree, both sides stated.
pub fn findings(o: &mut String, report: &Value) {
    let _ = writeln!(o, "<section id=\"findings\"><h2>Findings</h2>");
    let fs = report["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if fs.is_empty() {
        let _ = writeln!(o, "<p>None.</p>");
    }
    for f in fs {
        let _ = writeln!(
            o,
            "<h3>{} ({}): {}</h3><dl>",
            esc(&text(&f["id"])),
            esc(&text(&f["paragraph"])),
            esc(&text(&f["topic"]))
        );
        if let Some(m) = f.as_object() {
            // The guide, the other source, forja's answer; then anything newer, by name.
            let first = ["guide", "other", "forja"];
            let rest = m.keys().filter(|k| {
                !first.contains(&k.as_str()) && !["id", "paragraph", "topic"].contains(&k.as_str())
            });
            for k in first
                .iter()
                .copied()
                .filter(|k| m.contains_key(*k))
                .chain(rest.map(String::as_str))
            {
                let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", esc(k), any(&m[k]));
            }
        }
        let _ = writeln!(o, "</dl>");
    }
    let _ = writeln!(o, "</section>");
}

/// The MANUAL rules as a checklist the operator ticks and signs, on a page of its own when printed.
pub fn manual_steps(o: &mut String, report: &Value, name: &str) {
    let manual: Vec<&Value> = rule_list(report)
        .iter()
        .filter(|r| r["status"] == "MANUAL")
        .collect();
    let _ = writeln!(
        o,
        "<section class=\"manual-steps\" id=\"manual\"><h2>MANUAL steps ({}) · {}</h2>\n\
         <p>Steps only a person can carry out. Tick each when done; sign and date the page.</p>\n<ol class=\"manual\">",
        manual.len(),
        esc(name)
    );
    for r in manual {
        let _ = writeln!(
            o,
            "<li data-rule=\"{id}\"><span class=\"box\"></span><b>{id}</b> ({}): {}<div class=\"reason\">{}</div>\
             <div class=\"sign\">Done by: ____________________ Date: ____________ Signature: ____________</div></li>",
            esc(&text(&r["paragraph"])),
            esc(&text(&r["statement"])),
            esc(&text(&r["reason"])),
            id = esc(&text(&r["id"]))
        );
    }
    let _ = writeln!(o, "</ol></section>");
}

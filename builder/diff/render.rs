//! `forja diff` for people: one section per kind of change, `+` added, `-` removed, `~` changed.

use std::fmt::Write as _;

use super::{Change, Diff};

fn section(o: &mut String, title: &str, changes: &[Change], with_detail: bool) {
    if changes.is_empty() {
        let _ = writeln!(o, "{title}: no change");
        return;
    }
    let (add, del) = (
        changes.iter().filter(|c| c.old.is_none()).count(),
        changes.iter().filter(|c| c.new.is_none()).count(),
    );
    let _ = writeln!(
        o,
        "{title}: {} added, {} removed, {} changed",
        add,
        del,
        changes.len() - add - del
    );
    for c in changes {
        match (&c.old, &c.new) {
            (None, Some(n)) => {
                let _ = writeln!(o, "  + {}  {n}", c.name);
            }
            (Some(old), None) => {
                let _ = writeln!(o, "  - {}  {old}", c.name);
            }
            (Some(old), Some(n)) => {
                let how = match (&c.detail, with_detail) {
                    (Some(d), false) => format!(" ({d})"),
                    _ => String::new(),
                };
                let _ = writeln!(o, "  ~ {}  {old} -> {n}{how}", c.name);
                if let (Some(d), true) = (&c.detail, with_detail) {
                    for line in d.lines() {
                        let _ = writeln!(o, "      {line}");
                    }
                }
            }
            (None, None) => {}
        }
    }
}

/// The diff as text, sections in a fixed order.
pub fn text(d: &Diff) -> String {
    let mut o = String::new();
    section(&mut o, "BUILD", &d.identity, false);
    section(&mut o, "RULES", &d.rules, false);
    section(&mut o, "PACKAGES", &d.packages, false);
    section(&mut o, "FILES", &d.files, true);
    section(&mut o, "PARTITIONS", &d.partitions, false);
    section(&mut o, "NODES", &d.nodes, false);
    section(&mut o, "ARTIFACTS", &d.artifacts, false);
    o
}

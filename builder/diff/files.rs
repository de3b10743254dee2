//! Files that changed between two plans: generated host files, output files beside the image, edits of base
//! files, overlay files; text changes as unified diffs (`similar`), which `patch` applies.

use std::collections::BTreeMap;

use similar::TextDiff;

use super::{Change, compare};
use crate::plan::files::{EditOp, GenFile, GenKind, Piece};
use crate::plan::{OverlayFile, Plan};

/// A file's content as the plan states it: text with secrets by name, or what a link points to.
fn content(f: &GenFile) -> String {
    let body = match &f.kind {
        GenKind::File(t) => t.clone(),
        GenKind::Template(pieces) => pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Secret(h) => format!("{{{{secret:{}}}}}", h.secret),
            })
            .collect(),
        GenKind::Symlink(t) => format!("symlink to {t}\n"),
        GenKind::Absent => "(removed from the base)\n".into(),
    };
    format!("mode {:04o}\n{body}", f.mode)
}

fn overlay(o: &OverlayFile) -> String {
    match (&o.symlink, &o.sha256) {
        (Some(t), _) => format!("mode {}\nsymlink to {t}\n", o.mode),
        (None, Some(h)) => format!("mode {}\noverlay file sha256 {h}\n", o.mode),
        (None, None) => format!("mode {}\ndirectory\n", o.mode),
    }
}

fn all(p: &Plan) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for f in &p.root.generated {
        m.insert(f.path.clone(), content(f));
    }
    for o in &p.outputs {
        m.insert(format!("OUT/{}", o.name), content(&o.file));
    }
    for e in &p.root.edits {
        let what = match &e.op {
            EditOp::SetKeys(keys) => keys.iter().map(|(k, v)| format!("{k} {v}\n")).collect(),
            EditOp::ShadowPassword { user, hash } => {
                format!(
                    "password of {user} = {{{{secret:{}}}}} ({:?})\n",
                    hash.secret, hash.scheme
                )
            }
            EditOp::ShadowAgeing {
                user,
                min_days,
                max_days,
                warn_days,
            } => {
                format!("ageing of {user} = min {min_days} max {max_days} warn {warn_days} days\n")
            }
        };
        m.insert(format!("{} (edit)", e.path), what);
    }
    for o in &p.root.overlays {
        m.entry(o.path.clone()).or_insert_with(|| overlay(o));
    }
    m
}

/// A unified diff of two texts, three lines of context.
pub fn unified(name: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{name}"), &format!("b{name}"))
        .to_string()
}

/// A file's content in one line: its mode, length and hash (the whole text is in the unified diff).
fn brief(content: &str) -> String {
    let (mode, body) = content.split_once('\n').unwrap_or((content, ""));
    format!(
        "{mode}, {} lines, sha256 {}",
        body.lines().count(),
        &crate::hashio::Sha256::of(body.as_bytes()).hex()[..16]
    )
}

pub fn changes(a: &Plan, b: &Plan) -> Vec<Change> {
    let (old, new) = (all(a), all(b));
    let mut out = compare(&old, &new, |_, _| None);
    for c in &mut out {
        if let (Some(o), Some(n)) = (&c.old, &c.new) {
            let (om, ob) = o.split_once('\n').unwrap_or((o, ""));
            let (nm, nb) = n.split_once('\n').unwrap_or((n, ""));
            let path = if c.name.starts_with('/') {
                c.name.clone()
            } else {
                format!("/{}", c.name)
            };
            let mut detail = if om != nm {
                format!("{om} -> {nm}\n")
            } else {
                String::new()
            };
            detail.push_str(&unified(&path, ob, nb));
            c.detail = Some(detail);
        }
        c.old = c.old.as_deref().map(brief);
        c.new = c.new.as_deref().map(brief);
    }
    out
}

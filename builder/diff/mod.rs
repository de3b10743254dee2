//! `forja diff OLD_BUILD NEW_BUILD`: what changed between two builds, by meaning rather than by bytes: guide
//! rules whose status moved, Debian packages added, removed, upgraded or downgraded, generated and output files
//! (with a unified diff of their text), overlay files, partitions, Pexip nodes and vendor images, and which
//! signed artifacts differ.
//!
//! It reads what a build folder holds (`plan.json`, `compliance.json`, `sbom.spdx.json`, `SHA256SUMS`) and
//! nothing else; it does not check signatures (run `forja verify` on each folder for that). Templates are
//! compared as written in the plan, secrets shown by name (`{{secret:NAME}}`), so a diff never needs or shows
//! a secret.

mod files;
mod render;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Exit, fail};
use crate::plan::Plan;

pub use render::text;

/// One build folder, as `forja diff` reads it.
#[derive(Debug)]
pub struct Build {
    pub plan: Plan,
    pub compliance: Value,
    pub sbom: Value,
    pub sums: crate::sign::Sums,
}

impl Build {
    pub fn load(dir: &Path) -> anyhow::Result<Build> {
        let read = |name: &str| {
            crate::inbound::read_capped(&dir.join(name), 256 << 20).map_err(|e| {
                fail(
                    Exit::Input,
                    format!("{}: not a forja build folder: {e:#}", dir.display()),
                )
            })
        };
        let json = |name: &str| -> anyhow::Result<Value> {
            serde_json::from_slice(&read(name)?)
                .map_err(|e| fail(Exit::Input, format!("{}: {e}", dir.join(name).display())))
        };
        let plan = Plan::load(&dir.join("plan.json"))?;
        let sums = crate::sign::Sums::parse(&read(crate::sign::SUMS)?).map_err(|e| {
            fail(
                Exit::Input,
                format!("{}: {e}", dir.join(crate::sign::SUMS).display()),
            )
        })?;
        Ok(Build {
            plan,
            compliance: json("compliance.json")?,
            sbom: json(crate::sbom::spdx::FILE)?,
            sums,
        })
    }
}

/// A value that changed: `old` → `new` (absent on one side for additions and removals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// For packages: `upgraded` / `downgraded`; for files: the unified diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Everything that differs, by section. Each list is sorted by name; an empty list means "no change".
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    pub identity: Vec<Change>,
    pub rules: Vec<Change>,
    pub packages: Vec<Change>,
    pub files: Vec<Change>,
    pub partitions: Vec<Change>,
    pub nodes: Vec<Change>,
    pub artifacts: Vec<Change>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.identity.is_empty()
            && self.rules.is_empty()
            && self.packages.is_empty()
            && self.files.is_empty()
            && self.partitions.is_empty()
            && self.nodes.is_empty()
            && self.artifacts.is_empty()
    }
}

/// Compares two maps of name → value; `detail` describes a change.
pub fn compare(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    detail: impl Fn(&str, &str) -> Option<String>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for name in old
        .keys()
        .chain(new.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (o, n) = (old.get(name), new.get(name));
        if o == n {
            continue;
        }
        out.push(Change {
            name: name.clone(),
            old: o.cloned(),
            new: n.cloned(),
            detail: match (o, n) {
                (Some(o), Some(n)) => detail(o, n),
                _ => None,
            },
        });
    }
    out
}

/// What changed from `a` to `b`.
pub fn diff(a: &Build, b: &Build) -> Diff {
    Diff {
        identity: identity(a, b),
        rules: compare(
            &rule_status(&a.compliance),
            &rule_status(&b.compliance),
            |_, _| None,
        ),
        packages: compare(
            &packages(&a.sbom, "deb"),
            &packages(&b.sbom, "deb"),
            version_move,
        ),
        files: files::changes(&a.plan, &b.plan),
        partitions: compare(&partitions(&a.plan), &partitions(&b.plan), |_, _| None),
        nodes: compare(&nodes(a), &nodes(b), |_, _| None),
        artifacts: compare(&artifacts(a), &artifacts(b), |_, _| None),
    }
}

fn identity(a: &Build, b: &Build) -> Vec<Change> {
    let of = |x: &Build| {
        let p = &x.plan;
        BTreeMap::from([
            (
                "profile".to_owned(),
                format!("{} ({})", p.profile.file, p.profile.name),
            ),
            ("profile SHA-256".to_owned(), p.profile.sha256.hex()),
            (
                "SOURCE_DATE_EPOCH".to_owned(),
                format!("{} ({})", p.source_date_epoch, p.epoch_utc()),
            ),
            ("forja".to_owned(), p.forja_version.clone()),
            (
                "kernel".to_owned(),
                p.built
                    .as_ref()
                    .map(|b| b.kernel.clone())
                    .unwrap_or_default(),
            ),
        ])
    };
    compare(&of(a), &of(b), |_, _| None)
}

fn rule_status(report: &Value) -> BTreeMap<String, String> {
    report["rules"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| {
                    Some((
                        r["id"].as_str()?.to_owned(),
                        r["status"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// SPDX packages whose element id starts with `SPDXRef-{prefix}-`: name (with architecture) → version.
fn packages(sbom: &Value, prefix: &str) -> BTreeMap<String, String> {
    let want = format!("SPDXRef-{prefix}-");
    sbom["packages"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["SPDXID"].as_str().is_some_and(|id| id.starts_with(&want)))
                .filter_map(|p| {
                    let name = p["name"].as_str()?.to_owned();
                    let version = p["versionInfo"].as_str().map(str::to_owned).or_else(|| {
                        p["checksums"][0]["checksumValue"]
                            .as_str()
                            .map(|h| format!("sha256 {h}"))
                    })?;
                    Some((name, version))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `upgraded` or `downgraded`, by Debian's version order (`dpkg --compare-versions`).
fn version_move(old: &str, new: &str) -> Option<String> {
    let gt = crate::exec::Task::new("comparing Debian versions", "dpkg")
        .args(["--compare-versions", new, "gt", old])
        .run()
        .is_ok();
    Some(if gt { "upgraded" } else { "downgraded" }.to_owned())
}

fn partitions(p: &Plan) -> BTreeMap<String, String> {
    let Some(b) = &p.built else {
        return BTreeMap::new();
    };
    b.layout
        .partitions
        .iter()
        .map(|x| {
            let kind = serde_json::to_value(x.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            (
                x.name.clone(),
                format!(
                    "#{} {kind}, {} at offset {}, attributes {:#x}",
                    x.number,
                    crate::plan::summary::human_bytes(x.size),
                    x.offset,
                    x.attributes
                ),
            )
        })
        .collect()
}

fn nodes(b: &Build) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = b
        .plan
        .payload
        .nodes
        .iter()
        .map(|n| {
            (
                format!("node {}", n.name),
                format!(
                    "{:?}, {} vCPU on host CPU {:?}, {} MiB, {} GB disk, bridge {}{}",
                    n.role,
                    n.vcpus,
                    n.cpuset,
                    n.memory_mib,
                    n.disk_gb,
                    n.bridge,
                    n.mac
                        .as_deref()
                        .map(|m| format!(", MAC {m}"))
                        .unwrap_or_default()
                ),
            )
        })
        .collect();
    for (name, v) in packages(&b.sbom, "vendor") {
        m.insert(format!("image {name}"), v);
    }
    m
}

fn artifacts(b: &Build) -> BTreeMap<String, String> {
    b.sums
        .entries()
        .iter()
        .map(|e| (e.name.clone(), e.sha256.hex()))
        .collect()
}

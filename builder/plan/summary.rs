//! `forja plan`'s human summary, in the spirit of `mkosi summary`: what will be built, in a few aligned
//! sections a reviewer reads in one screen. The full plan (every file's text) is `forja plan --json`.

use std::fmt::Write as _;

use super::disk::{PartitionContent, SizeRule};
use super::files::{EditOp, GenKind, Piece};
use super::{BaseSource, Plan};

/// `1.5 GiB`, `256 MiB`, `512 B`: binary units, one decimal where it helps.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The secrets the plan's templates and edits name (never their values), sorted.
pub fn secret_names(plan: &Plan) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    let files = plan
        .root
        .generated
        .iter()
        .chain(plan.outputs.iter().map(|o| &o.file));
    for f in files {
        if let GenKind::Template(pieces) = &f.kind {
            for p in pieces {
                if let Piece::Secret(h) = p {
                    names.insert(h.secret.clone());
                }
            }
        }
    }
    for e in &plan.root.edits {
        if let EditOp::ShadowPassword { hash, .. } = &e.op {
            names.insert(hash.secret.clone());
        }
    }
    names.extend(plan.build_seed.clone());
    names.into_iter().collect()
}

/// The partitions: number, name, type, size rule, content.
fn disk(o: &mut String, plan: &Plan) {
    let _ = writeln!(o, "\nDISK");
    let _ = writeln!(
        o,
        "  {:>2}  {:<10} {:<12} {:>12}  CONTENT",
        "#", "NAME", "TYPE", "SIZE"
    );
    for p in &plan.disk {
        let size = match p.size {
            SizeRule::Fixed(b) => human_bytes(b),
            SizeRule::FitContent => "fit content".into(),
        };
        let content = match &p.content {
            PartitionContent::Esp { label, .. } => format!("FAT32 \"{label}\""),
            PartitionContent::RootImage { slot, .. } => {
                format!("erofs, slot {slot:?}: the host root (dm-verity)")
            }
            PartitionContent::Verity { data, .. } => format!("dm-verity hash tree of {data}"),
            PartitionContent::StateTree { label, .. } => {
                format!("ext4 \"{label}\": /var and the writable state")
            }
            PartitionContent::PayloadTree { label, .. } => {
                format!("ext4 \"{label}\": node images")
            }
            PartitionContent::Empty { note } => format!("empty: {note}"),
        };
        let ro = if p.read_only() { ", read-only" } else { "" };
        let kind = serde_json::to_value(p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {:>2}  {:<10} {:<12} {:>12}  {content}{ro}",
            p.number, p.name, kind, size
        );
    }
}

/// The summary text.
pub fn render(plan: &Plan) -> String {
    let mut o = String::new();
    let kv = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, "  {k:>18}: {v}");
    };
    let _ = writeln!(o, "PROFILE");
    kv(&mut o, "Name", &plan.profile.name);
    kv(&mut o, "File", &plan.profile.file);
    kv(&mut o, "SHA-256", &plan.profile.sha256.hex());
    kv(
        &mut o,
        "SOURCE_DATE_EPOCH",
        &format!("{} ({})", plan.source_date_epoch, plan.epoch_utc()),
    );
    kv(&mut o, "Disk seed", &plan.disk_seed);
    let _ = writeln!(o, "\nBASE");
    match &plan.base {
        BaseSource::Mmdebstrap {
            suite,
            mirror,
            packages,
            cache_key,
            ..
        } => {
            kv(
                &mut o,
                "Source",
                &format!("mmdebstrap {suite} from {mirror}"),
            );
            kv(
                &mut o,
                "Packages",
                &format!("{} ({})", packages.len(), packages.join(" ")),
            );
            kv(&mut o, "Cache key", &cache_key.hex()[..16]);
        }
        BaseSource::Tarball { path, sha256 } => {
            kv(&mut o, "Source", &format!("tarball {}", path.display()));
            kv(&mut o, "Pinned SHA-256", &sha256.hex());
        }
    }
    disk(&mut o, plan);
    let _ = writeln!(o, "\nROOT");
    kv(
        &mut o,
        "Overlay files",
        &format!(
            "{} from {}",
            plan.root.overlays.len(),
            plan.root.overlay_layers.join(", ")
        ),
    );
    kv(
        &mut o,
        "Generated files",
        &plan.root.generated.len().to_string(),
    );
    kv(
        &mut o,
        "Edited base files",
        &plan.root.edits.len().to_string(),
    );
    kv(
        &mut o,
        "Self-check covers",
        &format!("{} files", plan.root.selfcheck.covers.len()),
    );
    if let Some(part) = &plan.root.host {
        let own: Vec<&str> = plan
            .root
            .generated
            .iter()
            .filter(|f| part.place(&f.path).is_some())
            .map(|f| f.path.as_str())
            .collect();
        kv(
            &mut o,
            "Host's own files",
            &format!(
                "{} and the self-check manifest, in the signed boot images (unpacked into /run at boot); \
                 the root is the site's, the same for every host: {}",
                own.len(),
                own.join(" ")
            ),
        );
    }
    kv(&mut o, "Kernel command line", &plan.boot.kernel_cmdline);
    let _ = writeln!(o, "\nNODES");
    if plan.payload.nodes.is_empty() {
        let _ = writeln!(o, "  (no Pexip images in the profile)");
    }
    for n in &plan.payload.nodes {
        let cpus: Vec<String> = n.cpuset.iter().map(u32::to_string).collect();
        let _ = writeln!(
            o,
            "  {:<14} {:<12} {} vCPU on host CPU {}, {} MiB locked, {} GB disk",
            n.name,
            format!("{:?}", n.role).to_lowercase(),
            n.vcpus,
            cpus.join(","),
            n.memory_mib,
            n.disk_gb
        );
    }
    let _ = writeln!(o, "\nOUTPUTS");
    kv(&mut o, "Signed artifacts", &plan.artifacts.join(" "));
    kv(&mut o, "Secrets needed", &secret_names(plan).join(" "));
    let _ = writeln!(
        o,
        "\nThe whole plan, every file's text included: forja plan --json"
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_hosts_summary_names_its_own_files() {
        use crate::pipeline::{Environment, resolve};
        use crate::profile::SecretsNeed;
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let site = crate::profile::site::load_site(
            &repo.join("profiles/lab-site.toml"),
            SecretsNeed::Required,
        )
        .unwrap();
        let text = render(&resolve(&site.hosts[1], &Environment::fixture()).unwrap());
        let line = text
            .lines()
            .find(|l| l.contains("Host's own files:"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.contains("/etc/hostname") && line.contains("/etc/systemd/network/10-mgmt.link"),
            "{line}"
        );
        assert!(!line.contains("/etc/nftables.conf"), "{line}");
        let lab =
            crate::profile::load(&repo.join("profiles/lab.toml"), SecretsNeed::Required).unwrap();
        let text = render(&resolve(&lab, &Environment::fixture()).unwrap());
        assert!(!text.contains("Host's own files"), "{text}");
    }

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(256 << 20), "256 MiB");
        assert_eq!(human_bytes(1_610_612_736), "1.5 GiB");
    }
}

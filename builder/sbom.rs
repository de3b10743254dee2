//! The SBOM: every Debian package in the image with its version, every vendor image with its hash, every
//! external tool that took part with its version. JSON, sorted, so it diffs cleanly between builds.

use std::path::Path;

use serde::Serialize;

use crate::hashio::Sha256;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VendorImage {
    pub name: String,
    pub sha256: Sha256,
    pub verified_against: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sbom {
    pub format: &'static str,
    pub base_tarball_sha256: Sha256,
    pub packages: Vec<Package>,
    pub vendor_images: Vec<VendorImage>,
    /// Tool name → the first line of its `--version`.
    pub tools: std::collections::BTreeMap<String, String>,
}

impl Sbom {
    /// The SBOM of a build: the base tarball's hash, the packages installed in `root`, the vendor images staged
    /// (from `nodes.lock`), the tools that took part.
    pub fn of_build(
        base_tarball_sha256: Sha256,
        root: &Path,
        lock: Option<&crate::nodes::lock::NodesLock>,
    ) -> anyhow::Result<Sbom> {
        Ok(Sbom {
            format: "forja-sbom/1",
            base_tarball_sha256,
            packages: packages(root)?,
            vendor_images: lock
                .map(|l| {
                    l.images
                        .iter()
                        .map(|i| VendorImage {
                            name: i.source.clone(),
                            sha256: i.sha256,
                            verified_against: format!("{} line {}", l.readme.name, i.readme_line),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            tools: tool_versions(),
        })
    }
}

/// The first `--version` line of every external tool a build runs, and forja's own version.
pub fn tool_versions() -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    for (tool, flag) in [
        ("mmdebstrap", "--version"),
        ("mkfs.ext4", "-V"),
        ("grub-mkimage", "--version"),
        ("qemu-img", "--version"),
        ("tar", "--version"),
    ] {
        if let Ok(v) = crate::exec::tool_version(tool, flag) {
            m.insert(tool.to_owned(), v);
        }
    }
    m.insert("forja".into(), env!("CARGO_PKG_VERSION").into());
    m
}

/// Installed packages from a root tree's dpkg status file.
pub fn packages(root: &Path) -> anyhow::Result<Vec<Package>> {
    let text = fs_err::read_to_string(root.join("var/lib/dpkg/status"))?;
    Ok(parse_status(&text))
}

/// Parses dpkg's status file, keeping packages whose status is `install ok installed`.
pub fn parse_status(text: &str) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
                .map(str::to_owned)
        };
        if field("Status").as_deref() != Some("install ok installed") {
            continue;
        }
        if let (Some(name), Some(version)) = (field("Package"), field("Version")) {
            out.push(Package {
                name,
                version,
                architecture: field("Architecture").unwrap_or_default(),
            });
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_installed_packages() {
        let s = "Package: a\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 2\n";
        let p = parse_status(s);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "a");
        assert_eq!(p[0].version, "1.0");
    }
}

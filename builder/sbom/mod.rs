//! The SBOM of a build: every Debian package in the image (version, architecture, package URL, the licences
//! Debian states), every vendor image with its hash, every external tool that took part. Written as SPDX 2.3
//! JSON ([`spdx`]), the standard a scanner or an auditor's tool reads; sorted and dated from SOURCE_DATE_EPOCH,
//! so it is byte-identical across rebuilds and diffs cleanly between builds (`forja diff`).

pub mod licence;
pub mod spdx;

use std::path::Path;

use crate::hashio::Sha256;
use licence::Declared;

/// A Debian package installed in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// From `/usr/share/doc/NAME/copyright`, when it is machine-readable.
    pub licence: Option<Declared>,
}

impl Package {
    /// `pkg:deb/debian/NAME@VERSION?arch=ARCH` (the purl spec's deb type; `+` and `:` percent-encoded).
    pub fn purl(&self) -> String {
        let enc = |s: &str| {
            s.replace('%', "%25")
                .replace('+', "%2B")
                .replace(':', "%3A")
        };
        format!(
            "pkg:deb/debian/{}@{}?arch={}",
            enc(&self.name),
            enc(&self.version),
            enc(&self.architecture)
        )
    }
}

/// A verified vendor image and what vouched for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorImage {
    pub name: String,
    pub sha256: Sha256,
    pub verified_against: String,
}

/// An external tool the build ran, with the Debian package that provides it on the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub name: String,
    /// The first line of its `--version`.
    pub version_line: String,
    /// (package, version) per `dpkg-query`, when the builder is a Debian system.
    pub package: Option<(String, String)>,
}

/// A program forja itself put into the image (not from a Debian package): today the update tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Its path in the image.
    pub path: String,
    /// `forja --version` of the build.
    pub version: String,
    pub sha256: Sha256,
}

/// Everything the SBOM says.
#[derive(Debug, Clone)]
pub struct Sbom {
    pub base_tarball_sha256: Sha256,
    pub packages: Vec<Package>,
    /// Programs forja installed, by path.
    pub programs: Vec<Program>,
    pub vendor_images: Vec<VendorImage>,
    pub tools: Vec<Tool>,
}

impl Sbom {
    /// The SBOM of a build: the base tarball's hash, the packages installed in `root` with their licences, the
    /// vendor images staged (from `nodes.lock`), the tools that took part.
    pub fn of_build(
        base_tarball_sha256: Sha256,
        root: &Path,
        lock: Option<&crate::nodes::lock::NodesLock>,
    ) -> anyhow::Result<Sbom> {
        Self::of_build_at(base_tarball_sha256, root, &root.join("var/lib/dpkg"), lock)
    }

    /// [`Sbom::of_build`] with dpkg's database read from `dpkg` (a verity root keeps it under `/usr`, behind a
    /// link from the state partition).
    pub fn of_build_at(
        base_tarball_sha256: Sha256,
        root: &Path,
        dpkg: &Path,
        lock: Option<&crate::nodes::lock::NodesLock>,
    ) -> anyhow::Result<Sbom> {
        let mut packages = packages(dpkg)?;
        for p in &mut packages {
            // A missing or unreadable copyright file asserts nothing (NOASSERTION), it is not an error.
            p.licence =
                std::fs::read_to_string(root.join(format!("usr/share/doc/{}/copyright", p.name)))
                    .ok()
                    .and_then(|t| Declared::from_copyright(&t));
        }
        let tool = root.join(crate::plan::UPDATE_TOOL.trim_start_matches('/'));
        let programs = if tool.is_file() {
            vec![Program {
                path: crate::plan::UPDATE_TOOL.into(),
                version: crate::LONG_VERSION.to_owned(),
                sha256: Sha256::of_file(&tool)?,
            }]
        } else {
            Vec::new()
        };
        Ok(Sbom {
            base_tarball_sha256,
            packages,
            programs,
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
            tools: tools(),
        })
    }
}

/// The tools a build runs and the Debian package of each.
const TOOLS: [(&str, &str, &str); 6] = [
    ("mmdebstrap", "--version", "mmdebstrap"),
    ("mkfs.ext4", "-V", "e2fsprogs"),
    ("grub-mkimage", "--version", "grub-common"),
    ("qemu-img", "--version", "qemu-utils"),
    ("tar", "--version", "tar"),
    ("xorriso", "--version", "xorriso"),
];

/// The external tools of a build with their versions, sorted by name.
pub fn tools() -> Vec<Tool> {
    let mut out: Vec<Tool> = TOOLS
        .iter()
        .filter_map(|(tool, flag, pkg)| {
            let version_line = crate::exec::tool_version(tool, flag).ok()?;
            let package = crate::exec::Task::new("asking dpkg for a tool's version", "dpkg-query")
                .args(["-W", "-f", "${Version}", pkg])
                .run()
                .ok()
                .map(|o| o.stdout_str().trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| ((*pkg).to_owned(), v));
            Some(Tool {
                name: (*tool).to_owned(),
                version_line,
                package,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Installed packages from the status file of a dpkg database folder (`/var/lib/dpkg` of a root tree).
pub fn packages(dpkg: &Path) -> anyhow::Result<Vec<Package>> {
    let text = fs_err::read_to_string(dpkg.join("status"))?;
    Ok(parse_status(&text))
}

/// Parses dpkg's status file, keeping packages whose status is `install ok installed`, sorted by name.
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
                licence: None,
            });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
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

    #[test]
    fn package_urls_follow_the_purl_deb_type() {
        let p = Package {
            name: "libstdc++6".into(),
            version: "1:12.2.0-14+deb12u1".into(),
            architecture: "amd64".into(),
            licence: None,
        };
        assert_eq!(
            p.purl(),
            "pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14%2Bdeb12u1?arch=amd64"
        );
    }
}

//! The SBOM as an SPDX 2.3 JSON document (`sbom.spdx.json`).
//!
//! Deterministic by construction: the document namespace is a UUIDv5 of the build's identity (profile hash,
//! epoch, base hash), `created` is SOURCE_DATE_EPOCH, packages are sorted, keys are sorted (serde_json's map).
//! The image is one package that CONTAINS every Debian package and vendor image; each tool is a BUILD_TOOL_OF
//! it. Debian packages carry their package URL (`pkg:deb/debian/...`) and the licences their copyright file
//! states ([`super::licence`]); licence names SPDX has no id for are declared as `LicenseRef-Debian-*`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::Sbom;
use super::licence::Term;
use crate::hashio::Sha256;

/// The file name in the output folder.
pub const FILE: &str = "sbom.spdx.json";

/// What names the document: the profile, and what makes this build this build.
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    pub profile_name: &'a str,
    /// The seed every id of the build derives from (the plan's disk seed).
    pub seed: &'a str,
    pub profile_sha256: Sha256,
    pub epoch: u64,
}

/// An SPDX element id: letters, digits, `.` and `-` only.
fn spdx_id(prefix: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{prefix}-{clean}")
}

/// Hands out element ids, making a second package that sanitises to the same id unique.
#[derive(Default)]
struct Ids(BTreeSet<String>);

impl Ids {
    fn take(&mut self, prefix: &str, name: &str) -> String {
        let base = spdx_id(prefix, name);
        let mut id = base.clone();
        let mut n = 2;
        while !self.0.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }
}

fn purl_ref(purl: String) -> Value {
    json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}])
}

/// The document's parts while it is put together.
#[derive(Default)]
struct Parts {
    ids: Ids,
    packages: Vec<Value>,
    relationships: Vec<Value>,
    /// `LicenseRef-*` id → the Debian name it stands for.
    extracted: BTreeMap<String, String>,
}

const IMAGE: &str = "SPDXRef-image";

impl Parts {
    fn contains(&mut self, id: &str) {
        self.relationships.push(
            json!({"spdxElementId": IMAGE, "relationshipType": "CONTAINS", "relatedSpdxElement": id}),
        );
    }

    fn debian(&mut self, sbom: &Sbom) {
        for p in &sbom.packages {
            let id = self
                .ids
                .take("deb", &format!("{}-{}", p.name, p.architecture));
            let declared = match &p.licence {
                Some(d) => {
                    for t in d.debian_terms() {
                        if let Term::Debian { name, .. } = t {
                            self.extracted.insert(t.spdx(), name.clone());
                        }
                    }
                    d.expression()
                }
                None => "NOASSERTION".into(),
            };
            self.packages.push(json!({
                "SPDXID": id,
                "name": p.name,
                "versionInfo": p.version,
                "supplier": "Organization: Debian",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "licenseConcluded": "NOASSERTION",
                "licenseDeclared": declared,
                "copyrightText": "NOASSERTION",
                "externalRefs": purl_ref(p.purl()),
            }));
            self.contains(&id);
        }
    }

    fn programs(&mut self, sbom: &Sbom) {
        for p in &sbom.programs {
            let id = self.ids.take("program", &p.path);
            self.packages.push(json!({
                "SPDXID": id,
                "name": p.path.rsplit('/').next().unwrap_or(&p.path),
                "versionInfo": p.version,
                "supplier": "Organization: forja build",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "primaryPackagePurpose": "APPLICATION",
                "checksums": [{"algorithm": "SHA256", "checksumValue": p.sha256.hex()}],
                "comment": format!("{} in the image: the forja that built it, stripped (`forja update apply` on the host)", p.path),
            }));
            self.contains(&id);
        }
    }

    fn vendor(&mut self, sbom: &Sbom) {
        for v in &sbom.vendor_images {
            let id = self.ids.take("vendor", &v.name);
            self.packages.push(json!({
                "SPDXID": id,
                "name": v.name,
                "supplier": "Organization: Pexip",
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "checksums": [{"algorithm": "SHA256", "checksumValue": v.sha256.hex()}],
                "comment": format!("verified against {}", v.verified_against),
            }));
            self.contains(&id);
        }
    }

    fn tools(&mut self, sbom: &Sbom) {
        for t in &sbom.tools {
            let id = self.ids.take("tool", &t.name);
            let mut pkg = json!({
                "SPDXID": id,
                "name": t.name,
                "versionInfo": t.package.as_ref().map(|(_, v)| v.clone()).unwrap_or_else(|| t.version_line.clone()),
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "primaryPackagePurpose": "APPLICATION",
                "comment": t.version_line,
            });
            if let Some((name, version)) = &t.package {
                pkg["externalRefs"] = purl_ref(format!(
                    "pkg:deb/debian/{name}@{}?arch=amd64",
                    version.replace('+', "%2B").replace(':', "%3A")
                ));
            }
            self.packages.push(pkg);
            self.relationships.push(
                json!({"spdxElementId": id, "relationshipType": "BUILD_TOOL_OF", "relatedSpdxElement": IMAGE}),
            );
        }
    }
}

/// The SPDX document.
pub fn document(sbom: &Sbom, who: &Identity) -> Value {
    let uuid = crate::ids::guid(
        who.seed,
        &format!(
            "sbom/{}/{}/{}",
            who.profile_sha256, who.epoch, sbom.base_tarball_sha256
        ),
    );
    let mut parts = Parts::default();
    parts.packages.push(json!({
        "SPDXID": IMAGE,
        "name": format!("{} host image", who.profile_name),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "supplier": "Organization: forja build",
        "comment": format!("Debian base tarball SHA-256 {}", sbom.base_tarball_sha256),
    }));
    parts.relationships.push(json!({
        "spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": IMAGE,
    }));
    parts.debian(sbom);
    parts.programs(sbom);
    parts.vendor(sbom);
    parts.tools(sbom);
    let extracted: Vec<Value> = parts
        .extracted
        .iter()
        .map(|(id, name)| {
            json!({
                "licenseId": id,
                "name": name,
                "extractedText": format!(
                    "Debian licence name `{name}`, as stated in the package's /usr/share/doc/PACKAGE/copyright"
                ),
            })
        })
        .collect();
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("forja-{}", who.profile_name),
        "documentNamespace": format!("https://spdx.forja.invalid/{}/{uuid}", who.profile_name),
        "creationInfo": {
            "created": crate::plan::epoch_utc(who.epoch),
            "creators": [format!("Tool: forja-{}", crate::LONG_VERSION.replace(" (commit ", "+").replace(')', ""))],
        },
        "packages": parts.packages,
        "relationships": parts.relationships,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = Value::Array(extracted);
    }
    doc
}

//! The SBOM is a standard SPDX 2.3 document: checked by the SPDX project's own validator (`pyspdxtools`), with
//! package URLs, the licences Debian states, vendor image hashes, and the tools; and byte-stable.

#[path = "support/spdx.rs"]
mod spdx;

use forja::hashio::Sha256;
use forja::sbom::{Sbom, VendorImage, spdx as doc};

/// A root tree with a dpkg status file and three copyright files: machine-readable, with an odd Debian name,
/// and free-form.
fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        r.join("var/lib/dpkg/status"),
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n\n\
         Package: libstdc++6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.2.0-14+deb12u1\n\n\
         Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2025b-0+deb12u1\n\n\
         Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n",
    )
    .unwrap();
    let copyright = |pkg: &str, text: &str| {
        let d = r.join("usr/share/doc").join(pkg);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("copyright"), text).unwrap();
    };
    copyright(
        "bash",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-3+\n\n\
         Files: lib/*\nLicense: GPL-2+ or Artistic\n",
    );
    copyright(
        "libstdc++6",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\n\
         License: GPL-3+ with GCC-Runtime exception\n",
    );
    copyright(
        "tzdata",
        "This is the Debian prepackaged version of the Time Zone database.\n",
    );
    // The update tool forja installs (issue 16): listed with its hash, not as a Debian package.
    std::fs::create_dir_all(r.join("usr/bin")).unwrap();
    std::fs::write(r.join("usr/bin/forja"), b"forja binary").unwrap();
    dir
}

fn sbom(root: &std::path::Path) -> Sbom {
    let mut s = Sbom::of_build(Sha256::of(b"base"), root, None).unwrap();
    s.vendor_images.push(VendorImage {
        name: "Pexip_Infinity_v25.4_generic_pxMgr_59565.ova".into(),
        sha256: Sha256::of(b"ova"),
        verified_against: "README.TXT line 12".into(),
    });
    s
}

fn identity() -> doc::Identity<'static> {
    doc::Identity {
        profile_name: "lab",
        seed: "lab:kvm-lab.lab.example",
        profile_sha256: Sha256::of(b"profile"),
        epoch: 1_767_225_600,
    }
}

#[test]
fn the_sbom_is_valid_spdx_with_purls_licences_and_hashes() {
    let r = root();
    let v = doc::document(&sbom(r.path()), &identity());
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join(doc::FILE);
    std::fs::write(&file, forja::artifact::json_lines(&v).unwrap()).unwrap();
    spdx::validate(&file);

    assert_eq!(v["spdxVersion"], "SPDX-2.3");
    assert_eq!(v["creationInfo"]["created"], "2026-01-01T00:00:00Z");
    let pkgs = v["packages"].as_array().unwrap();
    let by_name = |n: &str| {
        pkgs.iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("no {n}"))
    };
    assert!(
        pkgs.iter().all(|p| p["name"] != "gone"),
        "a removed package is listed"
    );
    let bash = by_name("bash");
    assert_eq!(
        bash["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64"
    );
    assert_eq!(
        bash["licenseDeclared"],
        "(Artistic-1.0 OR GPL-2.0-or-later) AND GPL-3.0-or-later"
    );
    // A licence SPDX has no id for is declared, with Debian's name, not guessed.
    let lib = by_name("libstdc++6");
    let lref = "LicenseRef-Debian-GPL-3--with-GCC-Runtime-exception";
    assert_eq!(lib["licenseDeclared"], lref);
    let extracted = v["hasExtractedLicensingInfos"].as_array().unwrap();
    assert!(
        extracted
            .iter()
            .any(|e| e["licenseId"] == lref && e["name"] == "GPL-3+ with GCC-Runtime exception")
    );
    assert_eq!(by_name("tzdata")["licenseDeclared"], "NOASSERTION");
    let ova = by_name("Pexip_Infinity_v25.4_generic_pxMgr_59565.ova");
    assert_eq!(
        ova["checksums"][0]["checksumValue"],
        Sha256::of(b"ova").hex()
    );
    let tool = by_name("forja");
    assert_eq!(
        tool["checksums"][0]["checksumValue"],
        Sha256::of(b"forja binary").hex()
    );
    assert_eq!(tool["versionInfo"], forja::LONG_VERSION);
    // The image contains every package; the document describes the image.
    let rels = v["relationships"].as_array().unwrap();
    let contains = rels
        .iter()
        .filter(|r| r["relationshipType"] == "CONTAINS")
        .count();
    assert_eq!(
        contains, 5,
        "3 Debian packages, the update tool and 1 vendor image"
    );
    assert!(rels.iter().any(|r| r["relationshipType"] == "DESCRIBES"));
    // forja names itself with its commit.
    let creator = v["creationInfo"]["creators"][0].as_str().unwrap();
    assert!(
        creator.starts_with("Tool: forja-") && creator.contains(forja::GIT_COMMIT),
        "{creator}"
    );
}

#[test]
fn the_document_is_byte_stable_and_changes_with_the_build() {
    let r = root();
    let s = sbom(r.path());
    let a = forja::artifact::json_lines(&doc::document(&s, &identity())).unwrap();
    let b = forja::artifact::json_lines(&doc::document(&s, &identity())).unwrap();
    assert_eq!(a, b);
    let mut other = identity();
    other.epoch += 1;
    let c = doc::document(&s, &other);
    let va: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_ne!(
        va["documentNamespace"], c["documentNamespace"],
        "a new build needs a new namespace"
    );
    assert!(
        !String::from_utf8_lossy(&a).contains(&r.path().display().to_string()),
        "an absolute path leaked"
    );
}

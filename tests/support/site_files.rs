//! The input files a production profile names, made for tests: the vendor image files (small stand-ins with the
//! vendor's names) and the README.TXT that lists their SHA-256, in `images/` beside the profile. `forja check`
//! needs them to exist and be listed; their content is never a Pexip image.

#![allow(dead_code)]

use std::path::Path;

pub const IMAGES: [&str; 2] = [
    "Pexip_Infinity_v25.4_generic_pxMgr_59565.ova",
    "Pexip_Infinity_v25.4_generic_ConfNode_59565.ova",
];

/// Writes `images/*.ova` and `images/README.TXT` (GNU sha256sum lines) into `dir`.
pub fn vendor_images(dir: &Path) {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let mut readme = String::from("Pexip Infinity v25.4 downloads (test copy)\n\n");
    for name in IMAGES {
        let bytes = format!("not a Pexip image: {name}\n");
        std::fs::write(images.join(name), &bytes).unwrap();
        readme.push_str(&format!(
            "{}  {name}\n",
            forja::hashio::Sha256::of(bytes.as_bytes())
        ));
    }
    std::fs::write(images.join("README.TXT"), readme).unwrap();
}

/// The lab's inputs in `dir`: its test CA (also as `site-ca.pem`, the name older lab copies use) and the
/// stand-in images (made once per run by `ci/make-standin-images`, linked as `standin/`).
pub fn lab_inputs(dir: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["lab-test-ca.pem", "site-ca.pem"] {
        std::fs::copy(repo.join("profiles/lab-test-ca.pem"), dir.join(name)).unwrap();
    }
    let tmp = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&tmp).unwrap();
    let standin = tmp.join("forja-standin");
    if !standin.join("README.TXT").exists() {
        // Tests run in parallel: make the images in a private folder and rename it into place; whoever loses
        // the race drops its copy.
        let mine = tempfile::tempdir_in(&tmp).unwrap();
        let made = mine.path().join("standin");
        let st = std::process::Command::new(repo.join("ci/make-standin-images"))
            .arg(&made)
            .status()
            .unwrap();
        assert!(st.success(), "ci/make-standin-images failed");
        let _ = std::fs::rename(&made, &standin);
        assert!(standin.join("README.TXT").exists());
    }
    let link = dir.join("standin");
    if !link.exists() {
        std::os::unix::fs::symlink(&standin, link).unwrap();
    }
}

/// A folder with a shipped profile (`ccn-stic-1616` or `lab`) and every input it names: the production profile
/// without its secrets file (as an auditor checks it), the lab with its published test secrets.
pub fn shipped(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = tempfile::tempdir().unwrap();
    let profile = d.path().join(format!("{name}.toml"));
    std::fs::copy(repo.join(format!("profiles/{name}.toml")), &profile).unwrap();
    if name == "lab" {
        std::fs::copy(
            repo.join("profiles/lab.secrets.toml"),
            d.path().join("lab.secrets.toml"),
        )
        .unwrap();
        lab_inputs(d.path());
    } else {
        std::fs::copy(
            repo.join("profiles/lab-test-ca.pem"),
            d.path().join("site-ca.pem"),
        )
        .unwrap();
        vendor_images(d.path());
    }
    (d, profile)
}

//! The shipped production profile with its example secrets, as a site would set it up: copied into a temp
//! folder, `test-values-only = false`, mode 0600, and the fixed test Secure Boot certificates as its site keys.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use forja::profile::{Loaded, SecretsNeed, load};

pub struct Prod {
    pub dir: tempfile::TempDir,
    pub profile: PathBuf,
    pub secrets: PathBuf,
}

pub fn prod() -> Prod {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = dir.path().join("ccn-stic-1616.toml");
    std::fs::copy(root.join("profiles/ccn-stic-1616.toml"), &profile).unwrap();
    let example =
        std::fs::read_to_string(root.join("profiles/ccn-stic-1616.secrets.example.toml")).unwrap();
    let secrets = dir.path().join("ccn-stic-1616.secrets.toml");
    std::fs::write(
        &secrets,
        example.replace("test-values-only = true", "test-values-only = false"),
    )
    .unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The site's Secure Boot certificates (`secure-boot-keys = "keys/secure-boot"`): the fixed test ones.
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::os::unix::fs::symlink(
        root.join("tests/fixtures/secure-boot"),
        dir.path().join("keys/secure-boot"),
    )
    .unwrap();
    Prod {
        dir,
        profile,
        secrets,
    }
}

impl Prod {
    pub fn load(&self) -> Loaded {
        load(&self.profile, SecretsNeed::Required).unwrap()
    }

    /// Replaces one secret's value in the secrets file.
    pub fn set_secret(&self, name: &str, value: &str) {
        let text = std::fs::read_to_string(&self.secrets).unwrap();
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{name} = ")) {
                    format!("{name} = \"{value}\"")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(&self.secrets, out.join("\n") + "\n").unwrap();
    }

    /// Every secret value in the secrets file (for leak checks).
    pub fn secret_values(&self) -> Vec<String> {
        let l = self.load();
        l.secrets
            .as_ref()
            .unwrap()
            .values()
            .map(|s| s.expose().to_owned())
            .collect()
    }
}

/// Compares `actual` with `tests/golden/pexip/NAME`; `FORJA_BLESS=1` rewrites the golden file.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/pexip")
        .join(name);
    if std::env::var_os("FORJA_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `FORJA_BLESS=1 cargo test --test pexip_generate` and review the diff",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the generated output; if the change is intended, run with FORJA_BLESS=1 and review \
         the diff.\n--- generated ---\n{actual}",
        path.display()
    );
}

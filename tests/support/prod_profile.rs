//! The shipped production profile as a site sets it up: copied into a temp folder with a secrets file that holds
//! the site's own values (every value of the shipped example replaced, `test-values-only` removed, mode 0600) and
//! the fixed test Secure Boot certificates as its site keys. [`Prod::with_example_values`] keeps the example's
//! values instead, which forja must refuse.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use forja::profile::{Loaded, SecretsNeed, load};

pub struct Prod {
    pub dir: tempfile::TempDir,
    pub profile: PathBuf,
    pub secrets: PathBuf,
}

/// A value a site could have chosen for secret `name`: the right shape for what it is (a 32-byte hex seed, a
/// 40-hex NTP key, a 6-digit PIN, a §52 password), derived from the name so tests are reproducible.
pub fn site_value(name: &str) -> String {
    let h = forja::hashio::Sha256::of(format!("forja test site {name}").as_bytes()).to_string();
    if name == "build-seed" {
        return h;
    }
    if name.starts_with("ntp-key") {
        return h[..40].to_owned();
    }
    if name.starts_with("vmr-") {
        let digits: String = h
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(char::from)
            .take(6)
            .collect();
        return format!("{digits:0>6}");
    }
    format!("Sq{}#{}x9", &h[..6], &h[6..12].to_ascii_uppercase())
}

fn example() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("profiles/ccn-stic-1616.secrets.example.toml")).unwrap()
}

/// Runs openssl (the oracle no one here wrote) in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed for this test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The site's CA (`site-ca.pem`, ECDSA P-384, its key in `site-ca.key`): the checked-in test CA of
/// `tests/fixtures/site-ca/` (made by its `make.sh` with openssl), so plan goldens do not change run to run.
fn site_ca(dir: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/site-ca");
    for f in ["site-ca.pem", "site-ca.key"] {
        std::fs::copy(fixture.join(f), dir.join(f)).unwrap();
    }
}

fn make(secrets_text: &str) -> Prod {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = dir.path().join("ccn-stic-1616.toml");
    std::fs::copy(root.join("profiles/ccn-stic-1616.toml"), &profile).unwrap();
    site_ca(dir.path());
    let secrets = dir.path().join("ccn-stic-1616.secrets.toml");
    std::fs::write(&secrets, secrets_text).unwrap();
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

/// The production profile with the site's own secrets.
pub fn prod() -> Prod {
    let text: String = example()
        .lines()
        .filter(|l| !l.starts_with("test-values-only"))
        .map(|l| match l.split_once(" = \"") {
            Some((name, _)) if !l.starts_with('#') => {
                format!("{name} = \"{}\"\n", site_value(name))
            }
            _ => format!("{l}\n"),
        })
        .collect();
    make(&text)
}

impl Prod {
    /// The production profile with the shipped example's values, `test-values-only` removed: what a careless
    /// site would deploy.
    pub fn with_example_values() -> Prod {
        make(&example().replace("test-values-only = true\n", ""))
    }

    pub fn load(&self) -> Loaded {
        load(&self.profile, SecretsNeed::Required).unwrap()
    }

    /// The value of one secret.
    pub fn secret(&self, name: &str) -> String {
        self.load()
            .secrets
            .unwrap()
            .values()
            .find(|s| s.name() == name)
            .map(|s| s.expose().to_owned())
            .unwrap()
    }

    /// Sets one secret's value in the secrets file (adding it when new).
    pub fn set_secret(&self, name: &str, value: &str) {
        let text = std::fs::read_to_string(&self.secrets).unwrap();
        let mut t: toml::Table = toml::from_str(&text).unwrap();
        t.entry("secrets")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap()
            .insert(name.to_owned(), toml::Value::String(value.to_owned()));
        std::fs::write(&self.secrets, toml::to_string(&t).unwrap()).unwrap();
    }

    /// Rewrites the profile text with `f`.
    pub fn edit(&self, f: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.profile).unwrap();
        std::fs::write(&self.profile, f(text)).unwrap();
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

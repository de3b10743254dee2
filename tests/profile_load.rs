//! The shipped profiles load, and the loader's user-facing refusals name file, line and what to change.

use std::path::Path;

use forja::error::{Exit, exit_of};
use forja::profile::{SecretsNeed, load};

#[test]
fn shipped_profiles_load() {
    let lab = load(Path::new("profiles/lab.toml"), SecretsNeed::Required).unwrap();
    assert!(lab.is_lab());
    // The production profile ships without secrets: `check` judges it anyway.
    let prod = load(
        Path::new("profiles/ccn-stic-1616.toml"),
        SecretsNeed::IfPresent,
    )
    .unwrap();
    assert!(!prod.is_lab());
}

#[test]
fn production_profile_needs_its_secrets_to_build() {
    let err = load(
        Path::new("profiles/ccn-stic-1616.toml"),
        SecretsNeed::Required,
    )
    .unwrap_err();
    assert_eq!(exit_of(&err), Exit::Input);
    assert!(
        format!("{err:#}").contains("ccn-stic-1616.secrets.toml"),
        "{err:#}"
    );
}

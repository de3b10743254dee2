//! `forja init DIR`: a starter profile (the shipped CCN-STIC 1616 profile under the site's name) and a secrets
//! template beside it, mode 0600 from creation, naming every secret the profile refers to.
//!
//! Every template value is `REPLACE-ME-<secret name>`: obviously not a value, so `forja check` can refuse a
//! file that still holds one, and a grep finds what is left to fill in. Nothing is overwritten.

use std::path::{Path, PathBuf};

use crate::error::{Exit, fail};

/// The shipped production profile, the starting point of every site.
pub const STARTER: &str = include_str!("../../profiles/ccn-stic-1616.toml");
/// The prefix of every placeholder value in a secrets template.
pub const PLACEHOLDER: &str = "REPLACE-ME-";

/// What `forja init` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub profile: PathBuf,
    pub secrets: PathBuf,
    /// The secrets the template names, sorted.
    pub secret_names: Vec<String>,
}

/// Every `{ secret = "NAME" }` the profile text refers to, sorted and unique.
pub fn referenced_secrets(profile_text: &str) -> anyhow::Result<Vec<String>> {
    fn walk(v: &toml::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            toml::Value::Table(t) => {
                if t.len() == 1
                    && let Some(toml::Value::String(name)) = t.get("secret")
                {
                    out.insert(name.clone());
                    return;
                }
                t.values().for_each(|v| walk(v, out));
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let v: toml::Value = toml::from_str(profile_text)?;
    let mut out = std::collections::BTreeSet::new();
    walk(&v, &mut out);
    Ok(out.into_iter().collect())
}

/// The starter profile renamed for the site `name`, its secrets file named after it.
pub fn starter_profile(name: &str) -> String {
    let header = format!(
        "# Starter profile for `{name}`, written by `forja init` from forja's CCN-STIC 1616 profile.\n\
         # Replace every example value (addresses, names, MACs, certificates, image files) with the site's,\n\
         # fill in {name}.secrets.toml, then run `forja check {name}.toml` until it reports no FAIL.\n\n"
    );
    let body = STARTER
        .replacen("name = \"ccn-stic-1616\"", &format!("name = \"{name}\""), 1)
        .replacen(
            "secrets = \"ccn-stic-1616.secrets.toml\"",
            &format!("secrets = \"{name}.secrets.toml\""),
            1,
        );
    header + &body
}

/// The secrets template: one placeholder per secret.
pub fn secrets_template(name: &str, secrets: &[String]) -> String {
    let mut s = format!(
        "# Secrets of `{name}.toml`. Replace EVERY value: each `{PLACEHOLDER}...` is a placeholder that `forja check`\n\
         # refuses. Keep this file at mode 0600, outside version control; forja never prints a value.\n\n[secrets]\n"
    );
    for n in secrets {
        s.push_str(&format!("{n} = \"{PLACEHOLDER}{n}\"\n"));
    }
    s
}

/// Writes `DIR/NAME.toml` and `DIR/NAME.secrets.toml` (0600). Refuses when either exists.
pub fn init(dir: &Path, name: &str) -> anyhow::Result<Written> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(fail(
            Exit::Input,
            format!("--name {name:?}: use letters, digits, '-' and '_' only (it names files)"),
        ));
    }
    crate::artifact::create_out_dir(dir, "the profile folder")?;
    let profile = dir.join(format!("{name}.toml"));
    let secrets = dir.join(format!("{name}.secrets.toml"));
    for p in [&profile, &secrets] {
        if p.exists() {
            return Err(fail(
                Exit::Input,
                format!(
                    "{} already exists; forja init never overwrites a file",
                    p.display()
                ),
            ));
        }
    }
    let text = starter_profile(name);
    let names = referenced_secrets(&text)?;
    crate::artifact::write_private_new(&secrets, secrets_template(name, &names).as_bytes())?;
    crate::artifact::write_atomic(&profile, text.as_bytes())?;
    Ok(Written {
        profile,
        secrets,
        secret_names: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_names_every_secret_the_profile_refers_to() {
        let names = referenced_secrets(STARTER).unwrap();
        for n in [
            "bios-admin-password",
            "host-root",
            "pexip-web-admin",
            "build-seed",
            "ntp-key-1",
        ] {
            assert!(names.contains(&n.to_owned()), "{n} missing: {names:?}");
        }
        let t = secrets_template("sede", &names);
        let v: toml::Value = toml::from_str(&t).unwrap();
        let table = v["secrets"].as_table().unwrap();
        assert_eq!(table.len(), names.len());
        for (k, v) in table {
            assert_eq!(v.as_str().unwrap(), format!("{PLACEHOLDER}{k}"));
        }
        assert!(
            !t.contains("test-values-only"),
            "a site's template must not claim test values"
        );
    }
}

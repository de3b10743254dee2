//! Secrets: references in the profile, values in a separate file that only its owner may read.
//!
//! The profile names a secret (`{ secret = "host-root" }`); the value lives in the secrets file. A [`Secret`]
//! never prints its value (`Debug` shows `<secret:name>`), and nothing here implements `Display` or `Serialize`
//! for values, so a secret cannot slip into a log, plan or report by formatting.
//!
//! A secrets file readable by group or others is refused. The one exception is a file that declares
//! `test-values-only = true`, used by a profile with `purpose = "lab"`: git does not keep mode 0600, and the lab
//! profile must build from a fresh clone. A production profile refuses such a file outright, so the exception
//! cannot weaken the check for real secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Exit, fail};

/// A reference to a value in the secrets file: `{ secret = "name" }` in TOML. The name is checked like the
/// secrets file's keys ([`check_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    #[serde(deserialize_with = "secret_name")]
    pub secret: String,
}

fn secret_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_name(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

/// A secret's name: 1-64 letters, digits, `-`, `_` and `.` (it appears in plans and messages, never its value).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a secret name: 1-64 letters, digits, `-`, `_` and `.`",
            name.chars().take(64).collect::<String>()
        ))
    }
}

/// Longest secret value accepted, in characters: far above any password policy, far below anything that could
/// be a file pasted by mistake.
pub const MAX_SECRET_CHARS: usize = 1024;

/// Longest PEM private key accepted (`pexip.certificates.server-key`): an RSA 4096 key is about 3.3 KB.
pub const MAX_PEM_SECRET_BYTES: usize = 16 << 10;

/// A secret value must be one line of printable text: it is hashed into files and sent in API requests, where a
/// newline or NUL would end it early (or start something else). The one exception is a PEM private key (a
/// `-----BEGIN ...` block, e.g. `pexip.certificates.server-key`), whose lines are part of the format: it may hold
/// line breaks and nothing else. An empty value is allowed: it stands for "none" (a firmware that has no
/// administrator password yet); the guide's rules judge the strength of the values that need one. Says what is
/// wrong without showing the value.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.starts_with("-----BEGIN ") {
        if value.len() > MAX_PEM_SECRET_BYTES {
            return Err(format!(
                "is a PEM block longer than {MAX_PEM_SECRET_BYTES} bytes"
            ));
        }
        return match value
            .chars()
            .position(|c| c.is_control() && c != '\n' && c != '\r')
        {
            Some(i) => Err(format!(
                "is a PEM block holding a control character other than a line break at character {}",
                i + 1
            )),
            None => Ok(()),
        };
    }
    if value.chars().count() > MAX_SECRET_CHARS {
        return Err(format!("is longer than {MAX_SECRET_CHARS} characters"));
    }
    match value.chars().position(char::is_control) {
        Some(i) => Err(format!(
            "holds a control character (newline, tab, NUL or similar) at character {}; a secret is one line of printable text (only a PEM private key may span lines)",
            i + 1
        )),
        None => Ok(()),
    }
}

impl SecretRef {
    pub fn name(&self) -> &str {
        &self.secret
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "secret:{}", self.secret)
    }
}

/// A secret value. Deliberately no `Display`/`Serialize`; read it with [`Secret::expose`] where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    name: String,
    value: String,
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.value
    }
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<secret:{}>", self.name)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        // SAFETY-free: we replace the string contents with zeros of the same length via safe APIs.
        let n = self.value.len();
        self.value.clear();
        self.value.extend(std::iter::repeat_n('\0', n));
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SecretsFile {
    #[serde(default)]
    test_values_only: bool,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

/// The loaded secrets file.
#[derive(Debug)]
pub struct Secrets {
    pub path: PathBuf,
    /// The file says its values are for tests only (lab profiles).
    pub test_values_only: bool,
    values: BTreeMap<String, Secret>,
}

impl Secrets {
    /// Loads a secrets file. `lab` says whether the profile is a lab profile (see the module comment).
    pub fn load(path: &Path, lab: bool) -> anyhow::Result<Self> {
        let (bytes, meta) =
            crate::inbound::read_capped_with_meta(path, crate::inbound::MAX_PROFILE)
                .map_err(|e| crate::inbound::reading(e, path, "secrets file"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| fail(Exit::Input, format!("{}: not UTF-8 text", path.display())))?;
        let file: SecretsFile = toml::from_str(&text).map_err(|e| {
            fail(
                Exit::Input,
                super::load::describe_toml_error(path, &text, &e, None),
            )
        })?;
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode()
        };
        if mode & 0o077 != 0 {
            if !(file.test_values_only && lab) {
                let why = if file.test_values_only {
                    "it says test-values-only, which only a profile with purpose = \"lab\" accepts"
                } else {
                    "real secrets must be readable by their owner only"
                };
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{}: the secrets file is readable by group or others (mode {:04o}); {why}: run `chmod 600 {}`",
                        path.display(),
                        mode & 0o7777,
                        path.display()
                    ),
                ));
            }
            log::warn!(
                "{}: readable by others, accepted only because it holds test values for a lab profile",
                path.display()
            );
        }
        if file.test_values_only && !lab {
            return Err(fail(
                Exit::Input,
                format!(
                    "{}: this secrets file holds test values (test-values-only = true); a production profile needs real secrets",
                    path.display()
                ),
            ));
        }
        check_entries(path, &text, &file.secrets)?;
        let values = file
            .secrets
            .into_iter()
            .map(|(name, value)| (name.clone(), Secret { name, value }))
            .collect();
        Ok(Secrets {
            path: path.to_owned(),
            test_values_only: file.test_values_only,
            values,
        })
    }

    /// An empty set, for tests and for commands that never touch secrets.
    pub fn empty() -> Self {
        Secrets {
            path: PathBuf::new(),
            test_values_only: false,
            values: BTreeMap::new(),
        }
    }

    /// Test helper: secrets from pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let values = pairs
            .into_iter()
            .map(|(n, v)| {
                (
                    n.to_owned(),
                    Secret {
                        name: n.to_owned(),
                        value: v.to_owned(),
                    },
                )
            })
            .collect();
        Secrets {
            path: PathBuf::from("<test>"),
            test_values_only: true,
            values,
        }
    }

    pub fn get(&self, r: &SecretRef) -> Option<&Secret> {
        self.values.get(&r.secret)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Every secret value, for tests that grep outputs for leaks.
    pub fn values(&self) -> impl Iterator<Item = &Secret> {
        self.values.values()
    }
}

/// Every name and value of the secrets file, checked: errors name the file, line and key, never the value.
fn check_entries(
    path: &Path,
    text: &str,
    entries: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for (name, value) in entries {
        let at = |field: Option<&str>| {
            let mut f = super::load::FieldPath::parse("secrets");
            if let Some(n) = field {
                f.0.push(super::load::Seg::Key(n.to_owned()));
            }
            match super::load::line_col_of(text, &f) {
                Some((l, c)) => format!("{}:{l}:{c}", path.display()),
                None => path.display().to_string(),
            }
        };
        if let Err(e) = check_name(name) {
            problems.push(format!("{}: {e}", at(None)));
        } else if let Err(e) = check_value(value) {
            problems.push(format!("{}: secret `{name}` {e}", at(Some(name))));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(fail(Exit::Input, problems.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let p = dir.join("s.toml");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn refuses_a_world_readable_secrets_file() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "[secrets]\na = \"x\"\n", 0o644);
        let err = Secrets::load(&p, false).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        assert!(format!("{err}").contains("chmod 600"), "{err}");
        // A lab profile does not change that for a file that holds real secrets.
        assert!(Secrets::load(&p, true).is_err());
    }

    #[test]
    fn test_values_work_from_a_fresh_clone_only_for_lab_profiles() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "test-values-only = true\n[secrets]\na = \"x\"\n",
            0o644,
        );
        assert!(Secrets::load(&p, true).is_ok());
        let err = Secrets::load(&p, false).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        // Even at 0600, test values never serve a production profile.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Secrets::load(&p, false).is_err());
    }

    #[test]
    fn values_with_newlines_or_nul_are_refused_without_showing_them() {
        let d = tempfile::tempdir().unwrap();
        for (value, why) in [
            ("\"hunter2\\nset superusers=x\"", "control character"),
            ("\"hunter2\\u0000\"", "control character"),
            (
                "\"-----BEGIN PRIVATE KEY-----\\nhunter2\\u0000\\n\"",
                "other than a line break",
            ),
        ] {
            let text = format!("[secrets]\nok = \"fine\"\ngrub = {value}\n");
            let p = write(d.path(), &text, 0o600);
            let err = Secrets::load(&p, false).unwrap_err();
            assert_eq!(exit_of(&err), Exit::Input);
            let msg = format!("{err:#}");
            assert!(msg.contains(":3:") && msg.contains("`grub`"), "{msg}");
            assert!(msg.contains(why), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        let long = format!("[secrets]\na = \"{}\"\n", "x".repeat(MAX_SECRET_CHARS + 1));
        let err = Secrets::load(&write(d.path(), &long, 0o600), false).unwrap_err();
        assert!(format!("{err:#}").contains("longer than"), "{err:#}");
        // A PEM private key keeps its line breaks, and an empty value means "none".
        let pem = "[secrets]\nkey = \"\"\"\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\"\"\"\nnone = \"\"\n";
        let ok = Secrets::load(&write(d.path(), pem, 0o600), false).unwrap();
        assert!(ok.names().any(|n| n == "key") && ok.names().any(|n| n == "none"));
        let bad_name = "[secrets]\n\"a b\" = \"x\"\n";
        let err = Secrets::load(&write(d.path(), bad_name, 0o600), false).unwrap_err();
        assert!(format!("{err:#}").contains("not a secret name"), "{err:#}");
    }

    #[test]
    fn a_fifo_or_device_as_secrets_file_is_refused_at_once() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        for p in [fifo.as_path(), Path::new("/dev/zero")] {
            let err = Secrets::load(p, false).unwrap_err();
            assert_eq!(exit_of(&err), Exit::Input);
            assert!(format!("{err:#}").contains("not a regular file"), "{err:#}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secrets::from_pairs([("grub", "hunter2")]);
        let r = SecretRef {
            secret: "grub".into(),
        };
        let shown = format!("{:?} {:?}", s.get(&r).unwrap(), s);
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

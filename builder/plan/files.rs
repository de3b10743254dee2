//! Files the plan puts into the image or the output folder, with their exact content.
//!
//! A generated file's text is in the plan itself, so a reviewer reads every configuration line as a diff of
//! `plan.json`, and the build writes exactly that text. What derives from a secret (a password hash) is never in
//! the plan: such a file is a [`GenKind::Template`] whose [`SecretHash`] pieces name the secret, the hash scheme
//! and the salt's label; the build renders them with the secrets file (see [`crate::crypt`]). So `forja plan`
//! needs no secrets and prints none, and the plan stays the build's only description of what to write.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crypt::{Scheme, Seed};
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::profile::secrets::{SecretRef, Secrets};

/// A Unix file mode, written as four octal digits (`"0644"`) in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:04o}", self.0))
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        u32::from_str_radix(&s, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .map(Mode)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an octal file mode")))
    }
}

/// A secret turned into what a file may carry: its hash in `scheme`, salted for `salt` from the build seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretHash {
    /// The secret's name in the secrets file.
    pub secret: String,
    pub scheme: Scheme,
    /// The label the salt is derived for (two uses of one secret get two salts).
    pub salt: String,
}

impl SecretHash {
    pub fn render(&self, secrets: &Secrets, seed: &Seed) -> anyhow::Result<String> {
        let r = SecretRef {
            secret: self.secret.clone(),
        };
        let value = secrets.get(&r).ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "secret `{}` is not defined in {}",
                    self.secret,
                    secrets.path.display()
                ),
            )
        })?;
        Ok(self.scheme.hash(value.expose(), seed, &self.salt))
    }
}

/// A piece of a template: literal text, or a secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Piece {
    Text(String),
    Secret(SecretHash),
}

/// Renders template pieces into text.
pub fn render(pieces: &[Piece], secrets: &Secrets, seed: &Seed) -> anyhow::Result<String> {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Secret(h) => out.push_str(&h.render(secrets, seed)?),
        }
    }
    Ok(out)
}

/// Splits `text` at the markers [`marker`] wrote into it, giving template pieces (the marker's index picks the
/// secret hash). Lets a generator build a document (e.g. JSON) with a placeholder where a hash goes.
pub fn pieces_from_markers(text: &str, hashes: &[SecretHash]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(MARK) {
        let after = &rest[start + MARK.len()..];
        let Some(end) = after.find(MARK) else { break };
        let Some(h) = after[..end]
            .parse::<usize>()
            .ok()
            .and_then(|i| hashes.get(i))
        else {
            break;
        };
        if start > 0 {
            out.push(Piece::Text(rest[..start].to_owned()));
        }
        out.push(Piece::Secret(h.clone()));
        rest = &after[end + MARK.len()..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    out
}

/// Plain ASCII, so it survives JSON (or any other) escaping unchanged.
const MARK: &str = "@@forja-secret@@";

/// The placeholder for the `i`-th secret hash, for [`pieces_from_markers`].
pub fn marker(i: usize) -> String {
    format!("{MARK}{i}{MARK}")
}

/// What a generated path becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenKind {
    /// A regular file with this text.
    File(String),
    /// A regular file whose text holds secret hashes, rendered by the build.
    Template(Vec<Piece>),
    Symlink(String),
    /// Removed from the base if present (e.g. libvirt's default NAT network autostart link).
    Absent,
}

/// A file generated into the root filesystem (or, for [`OutputFile`], the output folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFile {
    /// Absolute path inside the image, e.g. `/etc/nftables.conf`.
    pub path: String,
    pub mode: u32,
    pub kind: GenKind,
    /// Why the file exists: the guide rules it implements.
    pub rules: Vec<String>,
}

impl GenFile {
    pub fn text(path: &str, mode: u32, body: impl Into<String>, rules: &[&str]) -> Self {
        GenFile {
            path: path.to_owned(),
            mode,
            kind: GenKind::File(body.into()),
            rules: rules.iter().map(|r| r.to_string()).collect(),
        }
    }

    pub fn template(path: &str, mode: u32, pieces: Vec<Piece>, rules: &[&str]) -> Self {
        GenFile {
            path: path.to_owned(),
            mode,
            kind: GenKind::Template(pieces),
            rules: rules.iter().map(|r| r.to_string()).collect(),
        }
    }

    pub fn symlink(path: &str, target: &str) -> Self {
        GenFile {
            path: path.to_owned(),
            mode: 0o777,
            kind: GenKind::Symlink(target.to_owned()),
            rules: Vec::new(),
        }
    }

    pub fn absent(path: &str) -> Self {
        GenFile {
            path: path.to_owned(),
            mode: 0,
            kind: GenKind::Absent,
            rules: Vec::new(),
        }
    }

    /// `RequiredBy=` enabled the way `systemctl enable` would, as a symlink in `<target>.requires/`.
    pub fn requires(target: &str, unit: &str, unit_dir: &str) -> Self {
        GenFile::symlink(
            &format!("/etc/systemd/system/{target}.requires/{unit}"),
            &format!("{unit_dir}/{unit}"),
        )
    }

    /// Enables a unit the way `systemctl enable` would, as a symlink in `<target>.wants/`.
    pub fn wants(target: &str, unit: &str, unit_dir: &str) -> Self {
        GenFile::symlink(
            &format!("/etc/systemd/system/{target}.wants/{unit}"),
            &format!("{unit_dir}/{unit}"),
        )
    }

    /// The file's bytes: its text, or the template rendered with the secrets. `None` for links and removals.
    pub fn render(&self, secrets: &Secrets, seed: &Seed) -> anyhow::Result<Option<String>> {
        Ok(match &self.kind {
            GenKind::File(t) => Some(t.clone()),
            GenKind::Template(p) => Some(render(p, secrets, seed)?),
            GenKind::Symlink(_) | GenKind::Absent => None,
        })
    }
}

/// How a generated file is written in `plan.json`: its text (and that text's SHA-256, for reviewers and for a
/// check when a saved plan is read back), a template, a link target or a removal.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenFileRepr {
    path: String,
    mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Sha256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template: Option<Vec<Piece>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    symlink: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    absent: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rules: Vec<String>,
}

impl Serialize for GenFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut r = GenFileRepr {
            path: self.path.clone(),
            mode: Mode(self.mode),
            sha256: None,
            text: None,
            template: None,
            symlink: None,
            absent: false,
            rules: self.rules.clone(),
        };
        match &self.kind {
            GenKind::File(t) => {
                r.sha256 = Some(Sha256::of(t.as_bytes()));
                r.text = Some(t.clone());
            }
            GenKind::Template(p) => r.template = Some(p.clone()),
            GenKind::Symlink(t) => r.symlink = Some(t.clone()),
            GenKind::Absent => r.absent = true,
        }
        r.serialize(s)
    }
}

impl<'de> Deserialize<'de> for GenFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = GenFileRepr::deserialize(d)?;
        let kind = match (r.text, r.template, r.symlink, r.absent) {
            (Some(t), None, None, false) => {
                if let Some(want) = r.sha256
                    && want != Sha256::of(t.as_bytes())
                {
                    return Err(D::Error::custom(format!(
                        "{}: the sha256 does not match the text",
                        r.path
                    )));
                }
                GenKind::File(t)
            }
            (None, Some(p), None, false) => GenKind::Template(p),
            (None, None, Some(t), false) => GenKind::Symlink(t),
            (None, None, None, true) => GenKind::Absent,
            _ => {
                return Err(D::Error::custom(format!(
                    "{}: exactly one of text, template, symlink or absent",
                    r.path
                )));
            }
        };
        Ok(GenFile {
            path: r.path,
            mode: r.mode.0,
            kind,
            rules: r.rules,
        })
    }
}

/// A change to a file the base already has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub path: String,
    #[serde(flatten)]
    pub op: EditOp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EditOp {
    /// `KEY VALUE` lines (login.defs style): existing keys are replaced, missing ones appended.
    SetKeys(Vec<(String, String)>),
    /// The password field of `user` in a shadow file.
    ShadowPassword { user: String, hash: SecretHash },
    /// The ageing fields of `user` in a shadow file: minimum and maximum age and warning period, in days.
    #[serde(rename_all = "kebab-case")]
    ShadowAgeing {
        user: String,
        min_days: u32,
        max_days: u32,
        warn_days: u32,
    },
}

/// A file of a static overlay tree, as the build copies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayFile {
    /// Path inside the image.
    pub path: String,
    /// Which overlay tree it comes from: 0 is forja's `overlays/`, later ones are `--extra-overlay` trees in
    /// order (see [`super::RootPlan::overlay_layers`]).
    pub layer: usize,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
}

/// A file written into the output folder beside the image (e.g. `pexip/install-sheet.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Path relative to the output folder.
    pub name: String,
    #[serde(flatten)]
    pub file: GenFile,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_a_changed_text_is_caught() {
        let f = GenFile::text("/etc/x", 0o644, "hello\n", &["1616-5.1"]);
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"mode\":\"0644\""), "{json}");
        assert_eq!(serde_json::from_str::<GenFile>(&json).unwrap(), f);
        let tampered = json.replace("hello", "bye");
        let err = serde_json::from_str::<GenFile>(&tampered).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn markers_become_secret_pieces() {
        let h = SecretHash {
            secret: "pw".into(),
            scheme: Scheme::Sha512Crypt,
            salt: "root".into(),
        };
        let text = format!("{{\"a\":\"{}\",\"b\":1}}", marker(0));
        let p = pieces_from_markers(&text, std::slice::from_ref(&h));
        assert_eq!(
            p,
            vec![
                Piece::Text("{\"a\":\"".into()),
                Piece::Secret(h),
                Piece::Text("\",\"b\":1}".into())
            ]
        );
        let secrets = Secrets::from_pairs([("pw", "x")]);
        let seed = Seed::new(&secrets, None);
        let out = render(&p, &secrets, &seed).unwrap();
        assert!(out.starts_with("{\"a\":\"$6$rounds=5000$"), "{out}");
    }
}

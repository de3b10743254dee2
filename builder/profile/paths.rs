//! File references in a profile (the secrets file, CA certificates, vendor images and their README.TXT, a
//! prebuilt base, the signing key): where they may point.
//!
//! A reference is a relative path made of plain names, resolved against the profile's folder: no absolute path,
//! no `..`, so a profile (which may come from someone else) cannot make the build read `/etc/shadow` or
//! `../../root/.ssh/id_ed25519` into a signed image. This module checks the text at load time, with the key's
//! file:line:column; [`crate::inbound::InputRoots`] checks the real file when it is opened (a symlink inside
//! the folder must still end inside it, or inside a folder the operator listed in `FORJA_INPUT_DIRS`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::load::FieldPath;
use super::model::Profile;

/// A file reference from the profile: a relative path of plain names (checked when parsed).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InputPath(PathBuf);

impl InputPath {
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl std::str::FromStr for InputPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match crate::inbound::relative_problem(Path::new(s)) {
            None => Ok(InputPath(PathBuf::from(s))),
            Some(why) => Err(format!(
                "{:?} is not a file inside the profile's folder ({why}): write a path relative to the profile's \
                 folder, without `..`; to use files kept elsewhere, link them into the folder and list their folder \
                 in FORJA_INPUT_DIRS",
                s.chars().take(120).collect::<String>()
            )),
        }
    }
}

impl std::ops::Deref for InputPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for InputPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Debug for InputPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for InputPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for InputPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Every file reference in the profile with the key that holds it, for messages and for the open-time check.
pub fn file_refs(p: &Profile) -> Vec<(FieldPath, &InputPath)> {
    let mut out = vec![
        (FieldPath::parse("profile.secrets"), &p.profile.secrets),
        (FieldPath::parse("signing.key"), &p.signing.key),
    ];
    if let Some(t) = &p.base.tarball {
        out.push((FieldPath::parse("base.tarball.path"), &t.path));
    }
    if let Some(ca) = p
        .host
        .syslog
        .as_ref()
        .and_then(|s| s.ca_certificate.as_ref())
    {
        out.push((FieldPath::parse("host.syslog.ca-certificate"), ca));
    }
    if let Some(ca) = &p.pexip.certificates.ca_certificate {
        out.push((FieldPath::parse("pexip.certificates.ca-certificate"), ca));
    }
    if let Some(cert) = &p.pexip.certificates.server_certificate {
        out.push((
            FieldPath::parse("pexip.certificates.server-certificate"),
            cert,
        ));
    }
    if let Some(keys) = &p.boot.firmware.secure_boot_keys {
        out.push((FieldPath::parse("boot.firmware.secure-boot-keys"), keys));
    }
    for (i, img) in p.pexip.images.iter().enumerate() {
        out.push((
            FieldPath::parse(&format!("pexip.images[{i}].file")),
            &img.file,
        ));
        out.push((
            FieldPath::parse(&format!("pexip.images[{i}].readme")),
            &img.readme,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths_of_plain_names_are_references() {
        for good in ["lab.secrets.toml", "images/README.TXT", "./keys/forja.sec"] {
            assert!(good.parse::<InputPath>().is_ok(), "{good}");
        }
        for (bad, why) in [
            ("/etc/shadow", "absolute"),
            ("../../etc/shadow", "`..`"),
            ("images/../../x", "`..`"),
            ("", "empty"),
            (".", "folder itself"),
        ] {
            let err = bad.parse::<InputPath>().unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}

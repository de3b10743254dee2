//! Licence bundles: small, deterministic tar archives with a `SHA256SUMS` and an optional signify signature.
//!
//! Writing: members sorted by name, regular files only, mode 0644, uid/gid 0 with empty owner names, one fixed
//! mtime (the request's generation time), ustar headers. Same members ⇒ same bytes; `tar -tvf` lists them.
//! `SHA256SUMS` (BSD tags, [`crate::sign::sums`]) lists every payload member; `SHA256SUMS.sig` is signify's
//! embedded format, so after `tar -xf`, `signify -C -p PINNED.pub -x SHA256SUMS.sig` checks everything.
//!
//! Reading goes through the defensive tar reader of [`crate::archive::tar`] (no links, no `..`, no duplicates),
//! with the whole bundle capped at [`MAX_BUNDLE`] bytes: bundles hold a few kilobytes of XML and JSON.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::archive::tar::TarReader;
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::sign::keys::{PublicKey, SigningKey};
use crate::sign::sums::{Entry, Sums};
use crate::sign::{SUMS, SUMS_SIG, signify};

/// Largest bundle accepted (and largest response file packed).
pub const MAX_BUNDLE: u64 = 16 << 20;

/// Names a bundle carries besides its payload.
const ENVELOPE: [&str; 4] = [SUMS, SUMS_SIG, super::SITE_PUB, super::COURIER_PUB];

/// Packs `members` (name → bytes) into a deterministic tar.
pub fn pack(members: &BTreeMap<String, Vec<u8>>, mtime: u64) -> anyhow::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_ustar();
        h.set_path(name)?;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h.set_cksum();
        b.append(&h, data.as_slice())?;
    }
    Ok(b.into_inner()?)
}

/// Adds `SHA256SUMS` over `payload`, and with a key `SHA256SUMS.sig` plus the public key as `pub_name`.
pub fn seal(
    mut payload: BTreeMap<String, Vec<u8>>,
    key: Option<(&SigningKey, &str)>,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let entries = payload
        .iter()
        .map(|(name, data)| Entry {
            name: name.clone(),
            sha256: Sha256::of(data),
        })
        .collect();
    let sums = Sums::new(entries).map_err(|m| fail(Exit::Internal, format!("bundle: {m}")))?;
    let message = sums.to_bytes();
    if let Some((key, pub_name)) = key {
        let sig =
            signify::sign_embedded(key, &message, &format!("verify with the pinned {pub_name}"));
        payload.insert(SUMS_SIG.into(), sig);
        payload.insert(
            pub_name.into(),
            signify::encode_public(&key.public(), "forja licence public key").into_bytes(),
        );
    }
    payload.insert(SUMS.into(), message);
    Ok(payload)
}

/// A bundle read from disk: its SHA-256 and its members.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub label: String,
    pub sha256: Sha256,
    pub members: BTreeMap<String, Vec<u8>>,
}

/// Reads and parses a bundle (refusing anything the defensive tar reader refuses).
pub fn read(path: &Path) -> anyhow::Result<Bundle> {
    let label = path.display().to_string();
    // A regular file only (a FIFO would hang, a device never end), read through the cap below.
    let file = crate::inbound::open_regular(path).context("cannot read the bundle")?;
    let mut bytes = Vec::new();
    file.take(MAX_BUNDLE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(Exit::Input, format!("{label}: cannot read the bundle: {e}")))?;
    if bytes.len() as u64 > MAX_BUNDLE {
        return Err(fail(
            Exit::BadArchive,
            format!("{label}: larger than {MAX_BUNDLE} bytes; not a licence bundle"),
        ));
    }
    parse(&bytes, label)
}

/// Parses bundle bytes.
pub fn parse(bytes: &[u8], label: String) -> anyhow::Result<Bundle> {
    let mut tar = TarReader::new(bytes, label.clone());
    let mut members = BTreeMap::new();
    while let Some(m) = tar.next_member()? {
        let mut data = Vec::new();
        tar.member_reader()
            .read_to_end(&mut data)
            .map_err(crate::error::from_io)?;
        members.insert(m.name, data);
    }
    Ok(Bundle {
        label,
        sha256: Sha256::of(bytes),
        members,
    })
}

impl Bundle {
    /// A member that must be there.
    pub fn get(&self, name: &str) -> anyhow::Result<&[u8]> {
        self.members.get(name).map(Vec::as_slice).ok_or_else(|| {
            fail(
                Exit::BadArchive,
                format!("{}: has no {name}; not a forja licence bundle", self.label),
            )
        })
    }

    /// Checks `SHA256SUMS.sig` against `key` and that it signs exactly the `SHA256SUMS` in the bundle.
    pub fn check_signature(&self, key: &PublicKey) -> anyhow::Result<()> {
        let bad = |m: String| fail(Exit::BadSignature, format!("{}: {m}", self.label));
        let sig = self
            .members
            .get(SUMS_SIG)
            .ok_or_else(|| bad(format!("has no {SUMS_SIG}: the bundle is not signed")))?;
        let signed = signify::verify(key, sig, b"").map_err(|e| {
            bad(format!(
                "{SUMS_SIG} does not verify with the pinned key {}: {e}",
                key.fingerprint()
            ))
        })?;
        if signed != self.get(SUMS)? {
            return Err(bad(format!(
                "{SUMS} differs from the copy {SUMS_SIG} signs: the bundle was altered"
            )));
        }
        Ok(())
    }

    /// Checks every payload member against `SHA256SUMS`: each listed file present with its digest, no unlisted
    /// payload, and every name in `required` listed. Any difference is [`Exit::HashMismatch`].
    pub fn check_sums(&self, required: &[&str]) -> anyhow::Result<()> {
        let bad = |m: String| fail(Exit::HashMismatch, format!("{}: {m}", self.label));
        let sums =
            Sums::parse(self.get(SUMS)?).map_err(|e| bad(format!("{SUMS} is damaged: {e}")))?;
        for e in sums.entries() {
            let data = self
                .members
                .get(&e.name)
                .ok_or_else(|| bad(format!("{SUMS} lists {} but the bundle lacks it", e.name)))?;
            let actual = Sha256::of(data);
            if actual != e.sha256 {
                return Err(bad(format!(
                    "{} has SHA-256 {actual}, but {SUMS} says {}: the file was altered",
                    e.name, e.sha256
                )));
            }
        }
        for name in self.members.keys() {
            if !ENVELOPE.contains(&name.as_str()) && sums.get(name).is_none() {
                return Err(bad(format!("{name} is not listed in {SUMS}")));
            }
        }
        for name in required {
            if sums.get(name).is_none() {
                return Err(bad(format!("{SUMS} does not list {name}")));
            }
        }
        Ok(())
    }

    /// A JSON member parsed into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> anyhow::Result<T> {
        serde_json::from_slice(self.get(name)?).map_err(|e| {
            fail(
                Exit::BadArchive,
                format!(
                    "{}: {name} is not a forja licence document: {e}",
                    self.label
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("b.json".to_string(), b"{}\n".to_vec()),
            ("a.xml".to_string(), b"<a/>".to_vec()),
        ])
    }

    #[test]
    fn packing_is_deterministic_and_sorted() {
        let key = SigningKey::from_seed([3; 32]);
        let one = pack(&seal(members(), Some((&key, "site.pub"))).unwrap(), 1000).unwrap();
        let two = pack(&seal(members(), Some((&key, "site.pub"))).unwrap(), 1000).unwrap();
        assert_eq!(one, two);
        let b = parse(&one, "t".into()).unwrap();
        let names: Vec<&str> = b.members.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "SHA256SUMS",
                "SHA256SUMS.sig",
                "a.xml",
                "b.json",
                "site.pub"
            ]
        );
        b.check_signature(&key.public()).unwrap();
        b.check_sums(&["a.xml", "b.json"]).unwrap();
    }

    #[test]
    fn altered_members_and_foreign_keys_are_refused() {
        let key = SigningKey::from_seed([3; 32]);
        let mut sealed = seal(members(), Some((&key, "site.pub"))).unwrap();
        sealed.insert("a.xml".into(), b"<b/>".to_vec());
        let b = parse(&pack(&sealed, 0).unwrap(), "t".into()).unwrap();
        let e = b.check_sums(&[]).unwrap_err();
        assert_eq!(crate::error::exit_of(&e), Exit::HashMismatch);
        let other = SigningKey::from_seed([4; 32]).public();
        let e = b.check_signature(&other).unwrap_err();
        assert_eq!(crate::error::exit_of(&e), Exit::BadSignature);
    }
}

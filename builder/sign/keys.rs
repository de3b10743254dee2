//! The ed25519 key pair that signs a build, and the files `forja keygen` writes.
//!
//! One key, two public formats: signify (`forja.pub`) and OpenSSH (`forja.pub.ssh`, `allowed_signers`). The secret
//! key is a signify secret key without passphrase (`forja.sec`, mode 0600); [`SigningKey::load`] refuses a file
//! that group or others can access, as ssh does with private keys.

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::Digest;

use super::{ALLOWED_SIGNERS, NAMESPACE, PUB, PUB_SSH, SEC, signify, sshsig};
use crate::artifact::write_atomic;
use crate::error::{Exit, fail};

/// An ed25519 public key with its signify key number.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    pub key: ed25519_dalek::VerifyingKey,
    pub keynum: [u8; 8],
}

/// An ed25519 secret key with its signify key number. `Debug` shows only the public half.
#[derive(Clone)]
pub struct SigningKey {
    pub(super) inner: ed25519_dalek::SigningKey,
    pub(super) keynum: [u8; 8],
}

/// The key number forja gives a key it generates: the first 8 bytes of SHA-256 of the public key, so the whole
/// key pair (and every file `forja keygen` writes) follows from the seed.
pub fn derived_keynum(key: &ed25519_dalek::VerifyingKey) -> [u8; 8] {
    let digest = sha2::Sha256::digest(key.as_bytes());
    digest[..8].try_into().expect("8 of 32 bytes")
}

impl SigningKey {
    /// The key pair for a 32-byte seed (the ed25519 secret key), with a derived key number.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let inner = ed25519_dalek::SigningKey::from_bytes(&seed);
        let keynum = derived_keynum(&inner.verifying_key());
        SigningKey { inner, keynum }
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> anyhow::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| anyhow::anyhow!("reading the system random source: {e}"))?;
        Ok(Self::from_seed(seed))
    }

    /// Loads a signify secret key (unencrypted). Refuses a file that group or others can access, and names the
    /// mix-ups people make: a public key where the secret one belongs, or a key that does not exist yet.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        // Check the mode of the file we read (fstat), not of whatever the path pointed to a moment earlier; a
        // regular file only, read through a cap.
        let (bytes, meta) =
            crate::inbound::read_capped_with_meta(path, MAX_KEY_FILE).map_err(|e| {
                let hint = if path
                    .symlink_metadata()
                    .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
                {
                    "; make a key pair with `forja keygen --out DIR` (it writes DIR/forja.sec and DIR/forja.pub)"
                } else {
                    ""
                };
                fail(
                    crate::error::exit_of(&e),
                    format!("cannot read secret key {}: {e:#}{hint}", path.display()),
                )
            })?;
        let mode = meta.permissions().mode() & 0o777;
        if let Some(kind) = public_kind(&bytes) {
            return Err(fail(
                Exit::Input,
                format!(
                    "{} is {kind}, but a secret (signing) key is needed here: give the forja.sec that \
                     `forja keygen` wrote beside it (`--signing-key`, or `[signing] key` in the profile)",
                    path.display()
                ),
            ));
        }
        if mode & 0o077 != 0 {
            return Err(fail(
                Exit::Input,
                format!(
                    "secret key {} is accessible by group or others (mode {mode:04o}); \
                     it must be private to its owner: chmod 600 {}",
                    path.display(),
                    path.display()
                ),
            ));
        }
        signify::decode_secret(&bytes).map_err(|m| {
            fail(
                Exit::Input,
                format!("{} is not a usable signify secret key: {m}", path.display()),
            )
        })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: self.inner.verifying_key(),
            keynum: self.keynum,
        }
    }

    /// The signify secret key file (`forja.sec`).
    pub fn to_signify(&self) -> String {
        signify::encode_secret(self, "forja secret key")
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Loads a signify public key file; a secret key given by mistake is named as such (and not echoed).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = crate::inbound::read_capped(path, MAX_KEY_FILE).map_err(|e| {
            fail(
                Exit::Input,
                format!("cannot read public key {}: {e:#}", path.display()),
            )
        })?;
        if signify::decode_secret(&bytes).is_ok() || is_signify_secret(&bytes) {
            return Err(fail(
                Exit::Input,
                format!(
                    "{} is a SECRET key, but a public key is needed here (`--pubkey`): give the forja.pub \
                     written beside it, and keep {} private to its owner",
                    path.display(),
                    path.display()
                ),
            ));
        }
        signify::decode_public(&bytes).map_err(|m| {
            fail(
                Exit::Input,
                format!("{} is not a signify public key: {m}", path.display()),
            )
        })
    }

    /// The signify public key file (`forja.pub`).
    pub fn to_signify(&self) -> String {
        signify::encode_public(self, "forja public key")
    }

    /// `ssh-ed25519 AAAA... forja` (`forja.pub.ssh`).
    pub fn to_openssh(&self) -> String {
        format!("{} {NAMESPACE}\n", self.openssh_key())
    }

    /// `forja ssh-ed25519 AAAA...`: the principal `forja` may sign.
    pub fn allowed_signers(&self) -> String {
        format!("{NAMESPACE} {}\n", self.openssh_key())
    }

    fn openssh_key(&self) -> String {
        format!(
            "ssh-ed25519 {}",
            STANDARD.encode(sshsig::public_key_blob(self))
        )
    }

    /// The OpenSSH fingerprint, as `ssh-keygen -l` prints it: `SHA256:<base64>`.
    pub fn fingerprint(&self) -> String {
        let digest = sha2::Sha256::digest(sshsig::public_key_blob(self));
        format!("SHA256:{}", STANDARD_NO_PAD.encode(digest))
    }

    /// The signify key number in hex.
    pub fn keynum_hex(&self) -> String {
        hex::encode(self.keynum)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// A key file is a few hundred bytes; anything larger is not one.
const MAX_KEY_FILE: u64 = 64 << 10;

/// What kind of public key `bytes` hold, if they hold one (signify or OpenSSH).
fn public_kind(bytes: &[u8]) -> Option<&'static str> {
    if signify::decode_public(bytes).is_ok() {
        Some("a signify public key")
    } else if bytes.starts_with(b"ssh-ed25519 ") || bytes.starts_with(b"forja ssh-ed25519 ") {
        Some("an OpenSSH public key")
    } else {
        None
    }
}

/// A signify secret key file, recognised by its comment line even when its body does not decode.
fn is_signify_secret(bytes: &[u8]) -> bool {
    bytes.starts_with(b"untrusted comment: ")
        && bytes
            .split(|&b| b == b'\n')
            .next()
            .is_some_and(|l| String::from_utf8_lossy(l).contains("secret key"))
}

/// Writes `forja.sec` (mode 0600), `forja.pub`, `forja.pub.ssh` and `allowed_signers` into `dir`. Refuses if any
/// of them exists: a key is never overwritten. Returns the paths written.
pub fn write_keypair(dir: &Path, key: &SigningKey) -> anyhow::Result<Vec<PathBuf>> {
    crate::artifact::create_out_dir(dir, "the key folder")?;
    let names = [SEC, PUB, PUB_SSH, ALLOWED_SIGNERS];
    if let Some(existing) = names.iter().map(|n| dir.join(n)).find(|p| p.exists()) {
        return Err(fail(
            Exit::Input,
            format!(
                "{} already exists; forja keygen never overwrites a key (choose another --out, or move the old key away)",
                existing.display()
            ),
        ));
    }
    let sec = dir.join(SEC);
    write_private_new(&sec, key.to_signify().as_bytes())?;
    write_public(dir, &key.public())?;
    Ok(names.iter().map(|n| dir.join(n)).collect())
}

/// Writes the public key into `dir` in every format a site may check with: `forja.pub`, `forja.pub.ssh` and
/// `allowed_signers`, each atomically.
pub fn write_public(dir: &Path, public: &PublicKey) -> anyhow::Result<()> {
    write_atomic(dir.join(PUB), public.to_signify().as_bytes())?;
    write_atomic(dir.join(PUB_SSH), public.to_openssh().as_bytes())?;
    write_atomic(
        dir.join(ALLOWED_SIGNERS),
        public.allowed_signers().as_bytes(),
    )
}

pub use crate::artifact::write_private_new;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;
    use fs_err as fs;

    #[test]
    fn a_seed_determines_every_key_file() {
        let a = SigningKey::from_seed([1; 32]);
        let b = SigningKey::from_seed([1; 32]);
        assert_eq!(a.to_signify(), b.to_signify());
        assert_eq!(a.public().to_signify(), b.public().to_signify());
        assert_eq!(a.keynum, derived_keynum(&a.inner.verifying_key()));
        assert!(
            a.public()
                .to_openssh()
                .starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI")
        );
        assert!(a.public().to_openssh().ends_with(" forja\n"));
        assert!(
            a.public()
                .allowed_signers()
                .starts_with("forja ssh-ed25519 AAAA")
        );
    }

    #[test]
    fn keygen_files_load_back_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        write_keypair(dir.path(), &key).unwrap();
        let sec = dir.path().join(SEC);
        assert_eq!(
            fs::metadata(&sec).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let loaded = SigningKey::load(&sec).unwrap();
        assert_eq!(loaded.public(), key.public());
        assert_eq!(
            PublicKey::load(&dir.path().join(PUB)).unwrap(),
            key.public()
        );
        let before = fs::read(&sec).unwrap();
        let err = write_keypair(dir.path(), &SigningKey::generate().unwrap()).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        assert!(err.to_string().contains("never overwrites"), "{err}");
        assert_eq!(fs::read(&sec).unwrap(), before);
        assert!(!crate::artifact::partial_path(&sec).exists());
    }

    #[test]
    fn refuses_a_secret_key_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let sec = dir.path().join("forja.sec");
        fs::write(&sec, SigningKey::from_seed([2; 32]).to_signify()).unwrap();
        fs::set_permissions(&sec, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SigningKey::load(&sec).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        assert!(err.to_string().contains("mode 0644"), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        fs::set_permissions(&sec, std::fs::Permissions::from_mode(0o600)).unwrap();
        SigningKey::load(&sec).unwrap();
    }

    #[test]
    fn key_mix_ups_are_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed([3; 32]);
        write_keypair(dir.path(), &key).unwrap();
        let public = dir.path().join(PUB);
        fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
        // A public key where the secret key belongs: said so, not "chmod 600 forja.pub".
        for p in [public.clone(), dir.path().join(PUB_SSH)] {
            let err = SigningKey::load(&p).unwrap_err();
            assert_eq!(exit_of(&err), Exit::Input);
            let msg = err.to_string();
            assert!(
                msg.contains("public key") && msg.contains("forja.sec"),
                "{msg}"
            );
            assert!(!msg.contains("chmod"), "{msg}");
        }
        // The secret key where the public one belongs.
        let err = PublicKey::load(&dir.path().join(SEC)).unwrap_err();
        assert_eq!(exit_of(&err), Exit::Input);
        assert!(err.to_string().contains("SECRET key"), "{err}");
        assert!(err.to_string().contains("forja.pub"), "{err}");
        // A key that does not exist yet: the command that makes one.
        let err = SigningKey::load(&dir.path().join("missing.sec")).unwrap_err();
        assert!(err.to_string().contains("forja keygen"), "{err}");
    }

    #[test]
    fn generated_keys_differ() {
        let a = SigningKey::generate().unwrap();
        let b = SigningKey::generate().unwrap();
        assert_ne!(a.public(), b.public());
    }
}

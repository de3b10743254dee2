//! The password hashes forja writes and the deterministic salts they get: one place for every secret-derived
//! value in an image or a first-boot answer.
//!
//! - SHA-512 crypt `$6$rounds=5000$SALT$HASH` for `/etc/shadow` and Pexip's console `admin` (RustCrypto
//!   `sha-crypt`);
//! - Django's `pbkdf2_sha256$36000$SALT$BASE64` for Pexip's web administrator (`pbkdf2` + `base64`: the format
//!   is one line of Django's `make_password`).
//!
//! Salts come from one per-deployment secret [`Seed`]: `HMAC-SHA256(seed, label || counter)` mapped onto the
//! salt's alphabet by rejection sampling (no modulo bias). The same profile and secrets give the same bytes, so
//! builds stay reproducible; another deployment (another seed) never shares a salt.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::profile::secrets::{SecretRef, Secrets};

/// Django's iteration count for `pbkdf2_sha256` in the version Pexip's tooling writes (the Terraform helper).
pub const DJANGO_ITERATIONS: u32 = 36_000;
/// SHA-512 crypt rounds, written out explicitly (`rounds=5000`) as Pexip's helper does.
pub const SHA512_CRYPT_ROUNDS: u32 = 5_000;

/// Django salts: letters and digits.
pub const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// The secret every salt of a deployment derives from.
///
/// It is the profile's `build-seed` secret when it names one, otherwise a hash of every secret value (by name
/// order): secret either way, and changed whenever the secrets change.
#[derive(Clone)]
pub struct Seed([u8; 32]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(<secret>)")
    }
}

impl Seed {
    pub fn new(secrets: &Secrets, build_seed: Option<&SecretRef>) -> Seed {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"forja build seed v1")
            .expect("HMAC takes any key length");
        match build_seed.and_then(|r| secrets.get(r)) {
            Some(s) => mac.update(s.expose().as_bytes()),
            None => {
                for s in secrets.values() {
                    mac.update(s.name().as_bytes());
                    mac.update(&[0]);
                    mac.update(s.expose().as_bytes());
                    mac.update(&[0]);
                }
            }
        }
        Seed(mac.finalize().into_bytes().into())
    }

    #[cfg(test)]
    pub fn from_bytes(b: [u8; 32]) -> Seed {
        Seed(b)
    }

    /// `len` bytes of salt for `label`.
    pub fn salt_bytes(&self, label: &str, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut counter = 0u32;
        while out.len() < len {
            out.extend(self.block(label, counter));
            counter += 1;
        }
        out.truncate(len);
        out
    }

    /// A salt of `len` characters from `alphabet` for `label`.
    pub fn salt_text(&self, label: &str, len: usize, alphabet: &[u8]) -> String {
        // Largest multiple of the alphabet size that fits in a byte: bytes above it are skipped.
        let limit = 256 - 256 % alphabet.len();
        let mut out = String::with_capacity(len);
        let mut counter = 0u32;
        while out.len() < len {
            for b in self.block(label, counter) {
                if usize::from(b) < limit && out.len() < len {
                    out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
                }
            }
            counter += 1;
        }
        out
    }

    fn block(&self, label: &str, counter: u32) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("any key length");
        mac.update(label.as_bytes());
        mac.update(&counter.to_be_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// How a secret is turned into what a file may carry: the plan names the scheme and the salt's label, the
/// build computes the value (see [`crate::plan::files::SecretHash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// `$6$rounds=5000$...` (shadow, Pexip console `admin`).
    Sha512Crypt,
    /// Django `pbkdf2_sha256$36000$...` (Pexip web administrator).
    DjangoPbkdf2Sha256,
}

impl Scheme {
    /// The hash of `password` in this scheme, salted for `label` from `seed`.
    pub fn hash(self, password: &str, seed: &Seed, label: &str) -> String {
        match self {
            // 12 salt bytes are the 16 characters of crypt's longest salt.
            Scheme::Sha512Crypt => {
                sha512_crypt(password, &seed.salt_bytes(label, 12), SHA512_CRYPT_ROUNDS)
            }
            Scheme::DjangoPbkdf2Sha256 => {
                django_pbkdf2_sha256(password, &seed.salt_text(label, 12, ALNUM))
            }
        }
    }
}

/// `$6$rounds=R$SALT$HASH`, SALT being crypt's base64 of `salt` (12 bytes make the full 16 characters).
pub fn sha512_crypt(password: &str, salt: &[u8], rounds: u32) -> String {
    use sha_crypt::{Algorithm, CustomizedPasswordHasher, Params, ShaCrypt};
    let params = Params::new(rounds.clamp(Params::ROUNDS_MIN, Params::ROUNDS_MAX))
        .expect("rounds clamped into range");
    ShaCrypt::new(Algorithm::Sha512Crypt, params)
        .hash_password_customized(password.as_bytes(), salt, None, None, params)
        .expect("SHA-512 crypt takes any password and salt")
        .to_string()
}

/// `pbkdf2_sha256$36000$salt$hash`, as Django's `make_password` writes it.
pub fn django_pbkdf2_sha256(password: &str, salt: &str) -> String {
    use base64::Engine;
    let mut dk = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        salt.as_bytes(),
        DJANGO_ITERATIONS,
        &mut dk,
    );
    format!(
        "pbkdf2_sha256${DJANGO_ITERATIONS}${salt}${}",
        base64::engine::general_purpose::STANDARD.encode(dk)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_crypt_matches_the_specification_vectors() {
        // The 16-character salt "kf8.jB3ZLrhG2/n1" is crypt-base64 of these 12 bytes.
        use base64ct::{Base64ShaCrypt, Encoding};
        let salt = Base64ShaCrypt::decode_vec("kf8.jB3ZLrhG2/n1").unwrap();
        assert_eq!(
            sha512_crypt(&"a".repeat(63), &salt, 5000),
            "$6$rounds=5000$kf8.jB3ZLrhG2/n1$BZk4ni5Rx3KgyM7vd48EpPgr8AoICCq5HRQPu6vNf6t6xnJ3xNu7MMMBXh/3eUZ5ql.mBqjNhlYUWHBqjKRkU/"
        );
    }

    #[test]
    fn django_hash_has_djangos_shape() {
        let h = django_pbkdf2_sha256("pw", "abcdefghijkl");
        assert!(h.starts_with("pbkdf2_sha256$36000$abcdefghijkl$"), "{h}");
        assert_eq!(h.rsplit('$').next().unwrap().len(), 44);
    }

    #[test]
    fn salts_are_stable_per_seed_and_label() {
        let a = Seed::from_bytes([1; 32]);
        let b = Seed::from_bytes([2; 32]);
        assert_eq!(a.salt_bytes("root", 16), a.salt_bytes("root", 16));
        assert_ne!(a.salt_bytes("root", 16), b.salt_bytes("root", 16));
        assert_ne!(a.salt_bytes("root", 16), a.salt_bytes("other", 16));
        assert_eq!(a.salt_bytes("root", 40).len(), 40);
        let t = a.salt_text("web", 12, ALNUM);
        assert_eq!(t.len(), 12);
        assert!(t.bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn seed_follows_the_secrets() {
        let s = |pairs: &[(&str, &str)]| Secrets::from_pairs(pairs.iter().copied());
        let seed_ref = SecretRef {
            secret: "build-seed".into(),
        };
        let one = Seed::new(&s(&[("x", "1")]), None).salt_bytes("l", 8);
        assert_eq!(one, Seed::new(&s(&[("x", "1")]), None).salt_bytes("l", 8));
        assert_ne!(one, Seed::new(&s(&[("x", "2")]), None).salt_bytes("l", 8));
        let explicit = Seed::new(&s(&[("x", "1"), ("build-seed", "s")]), Some(&seed_ref));
        assert_eq!(
            explicit.salt_bytes("l", 8),
            Seed::new(&s(&[("x", "9"), ("build-seed", "s")]), Some(&seed_ref)).salt_bytes("l", 8)
        );
    }
}

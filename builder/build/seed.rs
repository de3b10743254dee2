//! The build seed: secret, per deployment, stable across rebuilds. Salts (GRUB PBKDF2, Pexip password hashes)
//! are derived from it, so a rebuild is byte-identical while two deployments never share a salt.
//!
//! It is the secret `build-seed` when the secrets file defines one, otherwise a hash of every secret value (by
//! name order): secret, and changed whenever any secret changes.

use hmac::{Hmac, KeyInit, Mac};

use crate::profile::secrets::{SecretRef, Secrets};

pub const BUILD_SEED: &str = "build-seed";

pub fn build_seed(secrets: &Secrets) -> [u8; 32] {
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"forja build seed v1").expect("any key");
    let explicit = SecretRef {
        secret: BUILD_SEED.into(),
    };
    match secrets.get(&explicit) {
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
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_follows_the_secrets() {
        let a = build_seed(&Secrets::from_pairs([("x", "1")]));
        assert_eq!(a, build_seed(&Secrets::from_pairs([("x", "1")])));
        assert_ne!(a, build_seed(&Secrets::from_pairs([("x", "2")])));
        let explicit = build_seed(&Secrets::from_pairs([("x", "1"), ("build-seed", "s")]));
        assert_eq!(
            explicit,
            build_seed(&Secrets::from_pairs([("x", "9"), ("build-seed", "s")]))
        );
    }
}

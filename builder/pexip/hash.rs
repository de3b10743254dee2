//! The password hashes Pexip's first-boot answers carry, and the deterministic salts forja gives them.
//!
//! - `pass` (web administrator): Django's `pbkdf2_sha256$36000$<salt>$<base64 PBKDF2-HMAC-SHA256, 32 bytes>`.
//! - `admin_password` (console user `admin`): SHA-512 crypt `$6$rounds=5000$<16-char salt>$<86 chars>`.
//!
//! HMAC and PBKDF2 come from the RustCrypto `hmac` and `pbkdf2` crates (also used for GRUB's hash); SHA-512 crypt
//! is Drepper's short, fully specified algorithm written here on `sha2`. The tests check both hashes against
//! Python's `hashlib` and `mkpasswd`, which no one here wrote.
//!
//! Salts come from a per-deployment secret seed: `HMAC-SHA256(seed, label)` expanded and mapped onto the salt
//! alphabet by rejection sampling (no modulo bias). The same profile and secrets give the same bytes; another
//! deployment (another seed) gets other salts.

use sha2::{Digest, Sha256, Sha512};

/// Django's iteration count for `pbkdf2_sha256` in the version Pexip's tooling writes (the Terraform helper).
pub const DJANGO_ITERATIONS: u32 = 36_000;
/// SHA-512 crypt rounds, written out explicitly (`rounds=5000`) as Pexip's helper does.
pub const SHA512_CRYPT_ROUNDS: u32 = 5_000;

/// Django salts: letters and digits.
pub const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// crypt(3) salts and output alphabet.
pub const CRYPT64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA256 with a 32-byte output (one block).
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

/// `pbkdf2_sha256$36000$salt$hash`, as Django's `make_password` writes it.
pub fn django_pbkdf2_sha256(password: &str, salt: &str) -> String {
    use base64::Engine;
    let dk = pbkdf2_sha256(password.as_bytes(), salt.as_bytes(), DJANGO_ITERATIONS);
    format!(
        "pbkdf2_sha256${DJANGO_ITERATIONS}${salt}${}",
        base64::engine::general_purpose::STANDARD.encode(dk)
    )
}

/// SHA-512 crypt (Ulrich Drepper's specification, glibc `$6$`), with `rounds=` written explicitly.
pub fn sha512_crypt(password: &str, salt: &str, rounds: u32) -> String {
    let pw = password.as_bytes();
    let salt = &salt.as_bytes()[..salt.len().min(16)];
    let rounds = rounds.clamp(1000, 999_999_999);

    let b = Sha512::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut a = Sha512::new().chain_update(pw).chain_update(salt);
    let mut n = pw.len();
    while n > 64 {
        a.update(b);
        n -= 64;
    }
    a.update(&b[..n]);
    let mut bits = pw.len();
    while bits > 0 {
        if bits & 1 == 1 {
            a.update(b);
        } else {
            a.update(pw);
        }
        bits >>= 1;
    }
    let a = a.finalize();

    let mut dp = Sha512::new();
    for _ in 0..pw.len() {
        dp.update(pw);
    }
    let p = repeat_to(&dp.finalize(), pw.len());
    let mut ds = Sha512::new();
    for _ in 0..16 + usize::from(a[0]) {
        ds.update(salt);
    }
    let s = repeat_to(&ds.finalize(), salt.len());

    let mut c: Vec<u8> = a.to_vec();
    for i in 0..rounds {
        let mut h = Sha512::new();
        if i % 2 == 1 {
            h.update(&p);
        } else {
            h.update(&c);
        }
        if i % 3 != 0 {
            h.update(&s);
        }
        if i % 7 != 0 {
            h.update(&p);
        }
        if i % 2 == 1 {
            h.update(&c);
        } else {
            h.update(&p);
        }
        c = h.finalize().to_vec();
    }

    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    let mut out = format!("$6$rounds={rounds}${}$", String::from_utf8_lossy(salt));
    for (x, y, z) in ORDER {
        b64_24(&mut out, c[x], c[y], c[z], 4);
    }
    b64_24(&mut out, 0, 0, c[63], 2);
    out
}

fn repeat_to(block: &[u8], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

fn b64_24(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
    for _ in 0..n {
        out.push(char::from(CRYPT64[(w & 0x3f) as usize]));
        w >>= 6;
    }
}

/// A salt of `len` characters from `alphabet`, derived from the build seed and a label that names its use.
pub fn derive_salt(seed: &[u8], label: &str, len: usize, alphabet: &[u8]) -> String {
    // Largest multiple of the alphabet size that fits in a byte: bytes above it are skipped (no modulo bias).
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    let mut counter = 0u32;
    while out.len() < len {
        let mut msg = label.as_bytes().to_vec();
        msg.extend_from_slice(&counter.to_be_bytes());
        for b in hmac_sha256(seed, &msg) {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
        counter += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn pbkdf2_matches_rfc_7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1 (first 32 bytes).
        let dk = pbkdf2_sha256(b"passwd", b"salt", 1);
        assert_eq!(
            hex::encode(dk),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn sha512_crypt_matches_drepper_vectors() {
        // From the SHA-crypt specification's test vectors.
        assert_eq!(
            sha512_crypt("Hello world!", "saltstring", 5000),
            "$6$rounds=5000$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
        assert_eq!(
            sha512_crypt("Hello world!", "saltstringsaltstring", 10000),
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
        );
    }

    #[test]
    fn salts_are_stable_per_seed_and_differ_between_seeds() {
        let a = derive_salt(b"seed-a", "pexip-web-admin", 12, ALNUM);
        assert_eq!(a, derive_salt(b"seed-a", "pexip-web-admin", 12, ALNUM));
        assert_ne!(a, derive_salt(b"seed-b", "pexip-web-admin", 12, ALNUM));
        assert_ne!(a, derive_salt(b"seed-a", "pexip-console-admin", 12, ALNUM));
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        let c = derive_salt(b"seed-a", "x", 16, CRYPT64);
        assert!(c.bytes().all(|b| CRYPT64.contains(&b)) && c.len() == 16);
    }
}

//! OpenBSD signify's file formats (ed25519 only, as signify itself).
//!
//! Every file is two lines, `untrusted comment: ...\n<base64>\n`; an embedded signature (`signify -S -e`) is
//! followed by the signed message itself. The base64 blobs are:
//! - public key: `"Ed"` + keynum (8) + public key (32);
//! - signature: `"Ed"` + keynum (8) + signature (64), over the raw message;
//! - secret key: `"Ed"` + kdf `"BK"` + kdf rounds (u32 BE, 0 = not encrypted) + salt (16) + checksum (8, the
//!   first bytes of SHA-512 of the secret key) + keynum (8) + secret key (64 = seed || public key).
//!
//! signify refuses a signature whose keynum differs from the public key's. `forja keygen` derives the keynum
//! from the public key (first 8 bytes of its SHA-256) so a key is fully determined by its seed; keys made by
//! `signify -G` carry a random keynum, which is read and reused as is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer;
use sha2::Digest;

use super::SigError;
use super::keys::{PublicKey, SigningKey};

const PKALG: &[u8; 2] = b"Ed";
const KDFALG: &[u8; 2] = b"BK";
const COMMENT_HDR: &str = "untrusted comment: ";
/// signify truncates longer comments; we refuse to write them.
const COMMENT_MAX: usize = 1023;

pub const PUBLIC_LEN: usize = 2 + 8 + 32;
pub const SIGNATURE_LEN: usize = 2 + 8 + 64;
pub const SECRET_LEN: usize = 2 + 2 + 4 + 16 + 8 + 8 + 64;

/// A parsed signify file: its comment, the decoded blob and what follows the two lines.
#[derive(Debug)]
pub struct File<'a> {
    pub comment: &'a str,
    pub blob: Vec<u8>,
    pub rest: &'a [u8],
}

/// Writes `untrusted comment: COMMENT\n<base64 of blob>\n`.
pub fn encode_file(comment: &str, blob: &[u8]) -> String {
    assert!(
        comment.len() <= COMMENT_MAX && !comment.contains('\n'),
        "signify comment must be one short line"
    );
    format!("{COMMENT_HDR}{comment}\n{}\n", STANDARD.encode(blob))
}

/// Reads the two lines of a signify file; the blob must be `len` bytes and start with `"Ed"`, as signify requires.
pub fn parse_file(bytes: &[u8], len: usize) -> Result<File<'_>, String> {
    let comment_end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no comment line")?;
    let comment = std::str::from_utf8(&bytes[..comment_end])
        .ok()
        .and_then(|c| c.strip_prefix(COMMENT_HDR))
        .ok_or_else(|| format!("the first line must start with {COMMENT_HDR:?}"))?;
    let rest = &bytes[comment_end + 1..];
    let b64_end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no newline after the base64 line")?;
    let blob = STANDARD
        .decode(&rest[..b64_end])
        .map_err(|e| format!("the second line is not base64: {e}"))?;
    if blob.len() != len {
        return Err(format!(
            "the base64 line holds {} bytes, expected {len}",
            blob.len()
        ));
    }
    if &blob[..2] != PKALG {
        return Err("not an ed25519 (\"Ed\") signify file".into());
    }
    Ok(File {
        comment,
        blob,
        rest: &rest[b64_end + 1..],
    })
}

pub fn encode_public(key: &PublicKey, comment: &str) -> String {
    let mut blob = Vec::with_capacity(PUBLIC_LEN);
    blob.extend_from_slice(PKALG);
    blob.extend_from_slice(&key.keynum);
    blob.extend_from_slice(key.key.as_bytes());
    encode_file(comment, &blob)
}

pub fn decode_public(bytes: &[u8]) -> Result<PublicKey, String> {
    let file = parse_file(bytes, PUBLIC_LEN)?;
    let keynum: [u8; 8] = file.blob[2..10].try_into().expect("length checked");
    let raw: [u8; 32] = file.blob[10..].try_into().expect("length checked");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map_err(|_| "not a valid ed25519 public key".to_string())?;
    Ok(PublicKey { key, keynum })
}

/// An unencrypted secret key (kdf rounds 0, zero salt: signify ignores the salt when rounds are 0).
pub fn encode_secret(key: &SigningKey, comment: &str) -> String {
    let keypair = key.inner.to_keypair_bytes();
    let checksum = sha2::Sha512::digest(keypair);
    let mut blob = Vec::with_capacity(SECRET_LEN);
    blob.extend_from_slice(PKALG);
    blob.extend_from_slice(KDFALG);
    blob.extend_from_slice(&0u32.to_be_bytes());
    blob.extend_from_slice(&[0u8; 16]);
    blob.extend_from_slice(&checksum[..8]);
    blob.extend_from_slice(&key.keynum);
    blob.extend_from_slice(&keypair);
    encode_file(comment, &blob)
}

pub fn decode_secret(bytes: &[u8]) -> Result<SigningKey, String> {
    let file = parse_file(bytes, SECRET_LEN)?;
    let b = &file.blob;
    if &b[2..4] != KDFALG {
        return Err("unknown key derivation (expected \"BK\")".into());
    }
    let rounds = u32::from_be_bytes(b[4..8].try_into().expect("length checked"));
    if rounds != 0 {
        return Err(
            "the secret key is passphrase-protected; forja needs an unencrypted key \
             (`forja keygen`, or `signify -G -n`) kept in a mode 0600 file"
                .into(),
        );
    }
    let checksum = &b[24..32];
    let keynum: [u8; 8] = b[32..40].try_into().expect("length checked");
    let keypair: [u8; 64] = b[40..104].try_into().expect("length checked");
    if sha2::Sha512::digest(keypair)[..8] != *checksum {
        return Err("checksum mismatch: the secret key is corrupt".into());
    }
    let inner = ed25519_dalek::SigningKey::from_keypair_bytes(&keypair)
        .map_err(|_| "the public half does not match the secret key".to_string())?;
    Ok(SigningKey { inner, keynum })
}

fn signature_blob(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    let sig = key.inner.sign(message);
    let mut blob = Vec::with_capacity(SIGNATURE_LEN);
    blob.extend_from_slice(PKALG);
    blob.extend_from_slice(&key.keynum);
    blob.extend_from_slice(&sig.to_bytes());
    blob
}

/// A detached signature file (`signify -S`).
pub fn sign_detached(key: &SigningKey, message: &[u8], comment: &str) -> Vec<u8> {
    encode_file(comment, &signature_blob(key, message)).into_bytes()
}

/// An embedded signature file (`signify -S -e`): the signature lines followed by the message.
pub fn sign_embedded(key: &SigningKey, message: &[u8], comment: &str) -> Vec<u8> {
    let mut out = sign_detached(key, message, comment);
    out.extend_from_slice(message);
    out
}

/// Checks a signature file against `key`. An embedded signature is checked over the message it carries; a
/// detached one (nothing after the two lines) over `detached`. Returns the message that was verified.
pub fn verify<'a>(
    key: &PublicKey,
    sig_file: &'a [u8],
    detached: &'a [u8],
) -> Result<&'a [u8], SigError> {
    let file = parse_file(sig_file, SIGNATURE_LEN).map_err(SigError)?;
    let keynum: [u8; 8] = file.blob[2..10].try_into().expect("length checked");
    if keynum != key.keynum {
        return Err(SigError(format!(
            "made with another key (key number {}, expected {})",
            hex::encode(keynum),
            hex::encode(key.keynum)
        )));
    }
    let sig =
        ed25519_dalek::Signature::from_bytes(&file.blob[10..].try_into().expect("length checked"));
    let message = if file.rest.is_empty() {
        detached
    } else {
        file.rest
    };
    key.key
        .verify_strict(message, &sig)
        .map_err(|_| SigError::new("the signature does not match the signed data"))?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_seed([7; 32])
    }

    #[test]
    fn blobs_have_signify_sizes() {
        let k = key();
        // 42 bytes → 56 base64 chars, 74 → 100, 104 → 140: what signify writes.
        let public = encode_public(&k.public(), "c");
        assert_eq!(public.lines().nth(1).unwrap().len(), 56);
        let sig = sign_detached(&k, b"m", "c");
        assert_eq!(
            std::str::from_utf8(&sig)
                .unwrap()
                .lines()
                .nth(1)
                .unwrap()
                .len(),
            100
        );
        let secret = encode_secret(&k, "c");
        assert_eq!(secret.lines().nth(1).unwrap().len(), 140);
    }

    #[test]
    fn keys_round_trip() {
        let k = key();
        let back = decode_secret(encode_secret(&k, "forja secret key").as_bytes()).unwrap();
        assert_eq!(back.public(), k.public());
        let public =
            decode_public(encode_public(&k.public(), "forja public key").as_bytes()).unwrap();
        assert_eq!(public, k.public());
    }

    #[test]
    fn embedded_signature_verifies_and_detects_changes() {
        let k = key();
        let mut sig = sign_embedded(&k, b"SHA256 (a) = x\n", "verify with forja.pub");
        assert_eq!(verify(&k.public(), &sig, b"").unwrap(), b"SHA256 (a) = x\n");
        let last = sig.len() - 2;
        sig[last] ^= 1;
        assert!(verify(&k.public(), &sig, b"").is_err());
    }

    #[test]
    fn detached_signature_checks_the_given_message() {
        let k = key();
        let sig = sign_detached(&k, b"msg", "c");
        verify(&k.public(), &sig, b"msg").unwrap();
        assert!(verify(&k.public(), &sig, b"msh").is_err());
    }

    #[test]
    fn another_key_is_named_as_such() {
        let sig = sign_embedded(&key(), b"m", "c");
        let other = SigningKey::from_seed([8; 32]).public();
        let e = verify(&other, &sig, b"").unwrap_err();
        assert!(e.0.contains("another key"), "{e}");
    }

    #[test]
    fn corrupt_secret_keys_are_refused() {
        let text = encode_secret(&key(), "c");
        let mut blob = STANDARD.decode(text.lines().nth(1).unwrap()).unwrap();
        blob[50] ^= 1;
        let e = decode_secret(encode_file("c", &blob).as_bytes()).unwrap_err();
        assert!(e.contains("checksum"), "{e}");
        blob[50] ^= 1;
        blob[7] = 42;
        let e = decode_secret(encode_file("c", &blob).as_bytes()).unwrap_err();
        assert!(e.contains("passphrase"), "{e}");
        assert!(decode_secret(b"untrusted comment: c\nAAAA\n").is_err());
        assert!(decode_secret(b"comment: c\n").is_err());
    }
}

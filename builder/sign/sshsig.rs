//! OpenSSH signatures (`ssh-keygen -Y sign`), as specified in OpenSSH's PROTOCOL.sshsig, for ed25519 keys.
//!
//! The signature covers a small blob, not the message itself:
//! `"SSHSIG" || string(namespace) || string(reserved="") || string(hash_alg) || string(H(message))`,
//! and is stored as `"SSHSIG" || u32(1) || string(public key) || string(namespace) || string(reserved) ||
//! string(hash_alg) || string(signature)`, base64 in 70 columns between `-----BEGIN/END SSH SIGNATURE-----`.
//! We sign with SHA-512 (ssh-keygen's default) and accept SHA-256 or SHA-512 when verifying.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer;
use sha2::Digest;

use super::SigError;
use super::keys::{PublicKey, SigningKey};

const MAGIC: &[u8; 6] = b"SSHSIG";
const VERSION: u32 = 1;
const KEY_TYPE: &str = "ssh-ed25519";
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
/// ssh-keygen wraps the armored base64 at 70 columns.
const WRAP: usize = 70;

fn put_string(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("SSH strings are short");
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
}

/// The SSH wire encoding of an ed25519 public key: `string("ssh-ed25519") || string(32 bytes)`.
pub fn public_key_blob(key: &PublicKey) -> Vec<u8> {
    let mut buf = Vec::with_capacity(51);
    put_string(&mut buf, KEY_TYPE.as_bytes());
    put_string(&mut buf, key.key.as_bytes());
    buf
}

fn hash(alg: &str, message: &[u8]) -> Option<Vec<u8>> {
    match alg {
        "sha512" => Some(sha2::Sha512::digest(message).to_vec()),
        "sha256" => Some(sha2::Sha256::digest(message).to_vec()),
        _ => None,
    }
}

fn signed_data(namespace: &str, reserved: &[u8], hash_alg: &str, digest: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(6 + 4 * 4 + namespace.len() + hash_alg.len() + digest.len());
    buf.extend_from_slice(MAGIC);
    put_string(&mut buf, namespace.as_bytes());
    put_string(&mut buf, reserved);
    put_string(&mut buf, hash_alg.as_bytes());
    put_string(&mut buf, digest);
    buf
}

/// Signs `message` for `namespace`; returns the armored signature file, as `ssh-keygen -Y sign` writes it.
pub fn sign(key: &SigningKey, namespace: &str, message: &[u8]) -> String {
    let digest = hash("sha512", message).expect("known algorithm");
    let sig = key
        .inner
        .sign(&signed_data(namespace, b"", "sha512", &digest));
    let mut sig_blob = Vec::with_capacity(83);
    put_string(&mut sig_blob, KEY_TYPE.as_bytes());
    put_string(&mut sig_blob, &sig.to_bytes());

    let mut blob = Vec::with_capacity(200);
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&VERSION.to_be_bytes());
    put_string(&mut blob, &public_key_blob(&key.public()));
    put_string(&mut blob, namespace.as_bytes());
    put_string(&mut blob, b"");
    put_string(&mut blob, b"sha512");
    put_string(&mut blob, &sig_blob);
    armor(&blob)
}

fn armor(blob: &[u8]) -> String {
    let b64 = STANDARD.encode(blob);
    let mut out = String::with_capacity(b64.len() + b64.len() / WRAP + 64);
    out.push_str(BEGIN);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(WRAP) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

fn dearmor(text: &[u8]) -> Result<Vec<u8>, SigError> {
    let text = std::str::from_utf8(text).map_err(|_| SigError::new("not text"))?;
    let body = text
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|t| t.strip_suffix(END))
        .ok_or_else(|| SigError::new(format!("expected {BEGIN} ... {END}")))?;
    let b64: String = body.split_whitespace().collect();
    STANDARD
        .decode(b64)
        .map_err(|e| SigError::new(format!("not base64: {e}")))
}

/// Reads SSH wire data.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], SigError> {
        if self.0.len() < n {
            return Err(SigError::new("truncated signature"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, SigError> {
        Ok(u32::from_be_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn string(&mut self) -> Result<&'a [u8], SigError> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }
    fn str(&mut self, what: &str) -> Result<&'a str, SigError> {
        std::str::from_utf8(self.string()?)
            .map_err(|_| SigError::new(format!("{what} is not text")))
    }
    fn end(&self) -> Result<(), SigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SigError::new("trailing data in signature"))
        }
    }
}

/// Checks an armored SSHSIG over `message`: made by `key`, for `namespace`.
pub fn verify(
    key: &PublicKey,
    namespace: &str,
    armored: &[u8],
    message: &[u8],
) -> Result<(), SigError> {
    let blob = dearmor(armored)?;
    let mut r = Reader(&blob);
    if r.bytes(6)? != MAGIC {
        return Err(SigError::new("not an SSHSIG signature"));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(SigError::new(format!(
            "unsupported SSHSIG version {version}"
        )));
    }
    let signer = r.string()?;
    let sig_namespace = r.str("namespace")?;
    let reserved = r.string()?;
    let hash_alg = r.str("hash algorithm")?;
    let sig_blob = r.string()?;
    r.end()?;

    if signer != public_key_blob(key).as_slice() {
        return Err(SigError::new(format!(
            "made with another key (expected {})",
            key.fingerprint()
        )));
    }
    if sig_namespace != namespace {
        return Err(SigError::new(format!(
            "made for namespace {sig_namespace:?}, expected {namespace:?}"
        )));
    }
    let digest = hash(hash_alg, message)
        .ok_or_else(|| SigError::new(format!("unsupported hash algorithm {hash_alg:?}")))?;

    let mut s = Reader(sig_blob);
    let sig_type = s.str("signature type")?;
    if sig_type != KEY_TYPE {
        return Err(SigError::new(format!(
            "unsupported signature type {sig_type:?}"
        )));
    }
    let raw: [u8; 64] = s
        .string()?
        .try_into()
        .map_err(|_| SigError::new("ed25519 signature is not 64 bytes"))?;
    s.end()?;
    key.key
        .verify_strict(
            &signed_data(sig_namespace, reserved, hash_alg, &digest),
            &ed25519_dalek::Signature::from_bytes(&raw),
        )
        .map_err(|_| SigError::new("the signature does not match the signed data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_seed([9; 32])
    }

    #[test]
    fn armor_is_wrapped_like_ssh_keygen() {
        let text = sign(&key(), "forja", b"hello\n");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], BEGIN);
        assert_eq!(*lines.last().unwrap(), END);
        assert!(lines[1..lines.len() - 2].iter().all(|l| l.len() == WRAP));
        assert!(lines[lines.len() - 2].len() <= WRAP);
        assert!(text.ends_with("-----\n"));
        // "SSHSIG" + version 1 always encodes to the same prefix.
        assert!(lines[1].starts_with("U1NIU0lHAAAAAQ"));
    }

    #[test]
    fn verifies_and_rejects() {
        let k = key();
        let sig = sign(&k, "forja", b"hello\n");
        verify(&k.public(), "forja", sig.as_bytes(), b"hello\n").unwrap();
        let e = verify(&k.public(), "forja", sig.as_bytes(), b"hellO\n").unwrap_err();
        assert!(e.0.contains("does not match"), "{e}");
        let e = verify(&k.public(), "git", sig.as_bytes(), b"hello\n").unwrap_err();
        assert!(e.0.contains("namespace"), "{e}");
        let other = SigningKey::from_seed([10; 32]).public();
        let e = verify(&other, "forja", sig.as_bytes(), b"hello\n").unwrap_err();
        assert!(e.0.contains("another key"), "{e}");
        assert!(verify(&k.public(), "forja", b"garbage", b"hello\n").is_err());
    }

    #[test]
    fn deterministic() {
        assert_eq!(sign(&key(), "forja", b"m"), sign(&key(), "forja", b"m"));
    }
}

//! The site's own Secure Boot keys: PK, KEK and db as RSA keys with X.509 certificates, their EFI signature
//! lists and the signed `.auth` updates that enrol them, and Authenticode signing of EFI binaries with db.
//!
//! `forja keygen --secure-boot --out DIR` writes them ([`generate`]); a profile names the folder
//! (`boot.firmware.secure-boot-keys`) and the build signs every EFI binary it puts on an ESP with db
//! ([`sign_efi`]). The reference tools do the work: `openssl` makes the keys and certificates, efitools'
//! `cert-to-efi-sig-list` and `sign-efi-sig-list` make the lists and updates (PK signs PK and KEK, KEK signs db,
//! the chain UEFI checks), `osslsigncode` signs with the signing time fixed to the build's epoch, so a signed
//! image is byte-identical across builds (RSA PKCS#1 v1.5 is deterministic; only the PKCS#7 signingTime would
//! change). The tests check the signatures with `sbverify` and by booting OVMF with the keys enrolled.
//!
//! Key type: RSA, 3072 bits by default. The UEFI specification only obliges firmware to verify RSA-2048; OVMF
//! and current vendor firmware verify 3072 and 4096 (measured here: OVMF boots UKIs signed with db keys of all
//! three sizes). CCN-STIC-807 asks RSA ≥ 3072, so 2048 is allowed only for firmware that cannot do more, and the
//! compliance report says so.

use std::path::{Path, PathBuf};

use anyhow::Context;
use uuid::Uuid;

use crate::artifact::write_atomic;
use crate::error::{Exit, fail};
use crate::exec::Task;

/// The three keys, in enrolment order.
pub const KEYS: [&str; 3] = ["PK", "KEK", "db"];
/// The SignatureOwner GUID of the site's certificates, one line.
pub const OWNER_FILE: &str = "owner.guid";
/// Default RSA size (CCN-STIC-807: at least 3072).
pub const DEFAULT_BITS: u32 = 3072;
/// Certificates are valid this long: a site keeps its keys for the life of its hardware.
const DAYS: &str = "7300";

/// What `generate` makes.
#[derive(Debug, Clone)]
pub struct KeygenOptions {
    pub bits: u32,
    /// The certificates' common names start with this (e.g. the site's name).
    pub common_name: String,
}

/// The site's keys as a build uses them.
#[derive(Debug, Clone)]
pub struct SiteKeys {
    pub dir: PathBuf,
    pub owner: Uuid,
}

impl SiteKeys {
    /// Checks that `dir` holds a complete key set and reads the owner GUID.
    pub fn load(dir: &Path) -> anyhow::Result<SiteKeys> {
        let mut missing = Vec::new();
        for k in KEYS {
            for ext in ["crt", "esl", "auth"] {
                let p = dir.join(format!("{k}.{ext}"));
                if !p.is_file() {
                    missing.push(p.display().to_string());
                }
            }
        }
        let db_key = dir.join("db.key");
        if !db_key.is_file() {
            missing.push(db_key.display().to_string());
        }
        if !missing.is_empty() {
            return Err(fail(
                Exit::Input,
                format!(
                    "{}: not a complete Secure Boot key set (missing {}); make one with `forja keygen --secure-boot --out {}`",
                    dir.display(),
                    missing.join(", "),
                    dir.display()
                ),
            ));
        }
        let text = crate::inbound::read_text_capped(&dir.join(OWNER_FILE), 128)?;
        let owner = Uuid::parse_str(text.trim()).map_err(|e| {
            fail(
                Exit::Input,
                format!("{}/{OWNER_FILE}: not a GUID: {e}", dir.display()),
            )
        })?;
        Ok(SiteKeys {
            dir: dir.to_owned(),
            owner,
        })
    }

    pub fn cert(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.crt"))
    }

    pub fn auth(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.auth"))
    }

    pub fn esl(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.esl"))
    }

    fn db_key(&self) -> PathBuf {
        self.dir.join("db.key")
    }
}

/// Writes a new key set into `dir` (created if missing); never overwrites a file. Secret keys are 0600.
pub fn generate(dir: &Path, opts: &KeygenOptions) -> anyhow::Result<Vec<PathBuf>> {
    if ![2048, 3072, 4096].contains(&opts.bits) {
        return Err(fail(
            Exit::Input,
            format!(
                "--bits {}: UEFI firmware verifies RSA 2048, 3072 or 4096 (CCN-STIC-807 asks at least 3072)",
                opts.bits
            ),
        ));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let finals = outputs(dir);
    if let Some(taken) = finals.iter().find(|p| p.exists()) {
        return Err(fail(
            Exit::Input,
            format!(
                "{} exists: forja never overwrites keys; choose another folder",
                taken.display()
            ),
        ));
    }
    // Made in a private folder beside the result, then moved: a half-made set never carries the final names.
    let work = tempfile::Builder::new()
        .prefix(".forja-sb-")
        .tempdir_in(dir)
        .context("creating a private work folder")?;
    let w = work.path();
    let owner = Uuid::from_bytes(random_bytes()?);
    let owner_s = owner.to_string();
    for k in KEYS {
        Task::new(format!("making the {k} key and certificate"), "openssl")
            .args(["req", "-new", "-x509", "-newkey"])
            .arg(format!("rsa:{}", opts.bits))
            .args(["-sha256", "-days", DAYS, "-nodes", "-subj"])
            .arg(format!("/CN={} {k}/", opts.common_name.replace('/', " ")))
            .arg("-keyout")
            .arg(w.join(format!("{k}.key")))
            .arg("-out")
            .arg(w.join(format!("{k}.crt")))
            .run()?;
        Task::new(
            format!("making the {k} signature list"),
            "cert-to-efi-sig-list",
        )
        .args(["-g", &owner_s])
        .arg(w.join(format!("{k}.crt")))
        .arg(w.join(format!("{k}.esl")))
        .run()?;
    }
    // PK signs itself and KEK; KEK signs db: the authority chain a firmware in user mode checks.
    for (k, signer) in [("PK", "PK"), ("KEK", "PK"), ("db", "KEK")] {
        Task::new(format!("signing the {k} update"), "sign-efi-sig-list")
            .args(["-g", &owner_s, "-k"])
            .arg(w.join(format!("{signer}.key")))
            .arg("-c")
            .arg(w.join(format!("{signer}.crt")))
            .arg(k)
            .arg(w.join(format!("{k}.esl")))
            .arg(w.join(format!("{k}.auth")))
            .run()?;
    }
    std::fs::write(w.join(OWNER_FILE), format!("{owner}\n"))?;
    for p in &finals {
        let name = p.file_name().expect("file name");
        let bytes = std::fs::read(w.join(name))?;
        if name.to_string_lossy().ends_with(".key") {
            crate::artifact::write_private_new(p, &bytes)?;
        } else {
            write_atomic(p, &bytes)?;
        }
    }
    Ok(finals)
}

fn outputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = KEYS
        .iter()
        .flat_map(|k| ["key", "crt", "esl", "auth"].map(|e| dir.join(format!("{k}.{e}"))))
        .collect();
    v.push(dir.join(OWNER_FILE));
    v
}

fn random_bytes() -> anyhow::Result<[u8; 16]> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness from the system: {e}"))?;
    // A random (version 4) UUID.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(b)
}

/// Signs the EFI binary `input` into `output` with the site's db key (Authenticode, SHA-256), the signing time
/// fixed at `epoch` so the bytes are reproducible.
pub fn sign_efi(keys: &SiteKeys, input: &Path, output: &Path, epoch: u64) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(output);
    Task::new(
        "signing an EFI binary with the site's db key",
        "osslsigncode",
    )
    .args(["sign", "-h", "sha256", "-time"])
    .arg(epoch.to_string())
    .arg("-certs")
    .arg(keys.cert("db"))
    .arg("-key")
    .arg(keys.db_key())
    .arg("-in")
    .arg(input)
    .arg("-out")
    .arg(output)
    .run()?;
    Ok(())
}

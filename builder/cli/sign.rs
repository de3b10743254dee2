//! `forja keygen` and `forja verify`: arguments and output only; the work is in [`crate::sign`].

use std::path::PathBuf;

use clap::Args;

use crate::error::{Exit, fail};
use crate::sign::verify::{FileCheck, Report, SigCheck};
use crate::sign::{self, SigningKey};

/// Arguments of `forja keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Folder to write forja.sec (mode 0600), forja.pub, forja.pub.ssh and allowed_signers into (created if
    /// missing, its parent must exist); existing keys are never overwritten.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Make the site's Secure Boot keys instead: PK, KEK and db (RSA keys mode 0600, X.509 certificates, EFI
    /// signature lists, signed .auth updates for enrolment) and owner.guid. Name the folder in the profile as
    /// `boot.firmware.secure-boot-keys`.
    #[arg(long)]
    pub secure_boot: bool,
    /// RSA size of the Secure Boot keys: 2048, 3072 or 4096 (CCN-STIC-807 asks at least 3072; use 2048 only for
    /// firmware that verifies nothing larger).
    #[arg(long, default_value_t = crate::secureboot::DEFAULT_BITS, requires = "secure_boot")]
    pub bits: u32,
    /// What the Secure Boot certificates' common names start with, e.g. the site's name.
    #[arg(long, default_value = "forja site", requires = "secure_boot")]
    pub name: String,
    /// Print the files written and the key's fingerprint as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `forja verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Folder holding SHA256SUMS, SHA256SUMS.sig (and optionally SHA256SUMS.sshsig) and the listed files.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The signify public key your site pinned (default: DIR/forja.pub, which travels with the files and so
    /// proves only that they are intact, not who made them).
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
    /// Print the full report as JSON on stdout (the exit code is the same).
    #[arg(long)]
    pub json: bool,
    /// Fail (exit 4) on anything beside the listed files that the signature does not vouch for: files not in
    /// SHA256SUMS, key copies (forja.pub, forja.pub.ssh, allowed_signers) that do not hold the key checked with,
    /// a missing SHA256SUMS.sshsig. Without it they are reported as warnings and the exit code ignores them.
    #[arg(long)]
    pub strict: bool,
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<Exit> {
    if args.secure_boot {
        let opts = crate::secureboot::KeygenOptions {
            bits: args.bits,
            common_name: args.name,
        };
        for path in crate::secureboot::generate(&args.out, &opts)? {
            log::info!("wrote {}", path.display());
        }
        log::info!(
            "Secure Boot keys for the site in {}: name the folder in the profile (boot.firmware.secure-boot-keys); \
             keep the .key files offline",
            args.out.display()
        );
        return Ok(Exit::Ok);
    }
    let key = SigningKey::generate()?;
    let written = sign::keys::write_keypair(&args.out, &key)?;
    let public = key.public();
    if args.json {
        let v = serde_json::json!({
            "fingerprint": public.fingerprint(),
            "keynum": public.keynum_hex(),
            "secret_key": args.out.join(sign::SEC),
            "public_key": args.out.join(sign::PUB),
            "files": written,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for path in &written {
            log::info!("wrote {}", path.display());
        }
        println!("{}", public.fingerprint());
    }
    log::info!(
        "signify key number {}; give {} to the sites over a channel you trust, keep {} secret; \
         name it in the profile's [signing] key, or pass it to `forja media --signing-key`",
        public.keynum_hex(),
        args.out.join(sign::PUB).display(),
        args.out.join(sign::SEC).display()
    );
    Ok(Exit::Ok)
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<Exit> {
    if args.pubkey.is_none() {
        log::warn!(
            "no --pubkey given: checking against {}, which came with the files; pass the key your site pinned",
            args.dir.join(sign::PUB).display()
        );
    }
    let report = sign::verify::verify_dir_with(&args.dir, args.pubkey.as_deref(), args.strict)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(report.exit);
    }
    print_report(&report);
    match report.exit {
        Exit::Ok => Ok(Exit::Ok),
        exit => Err(fail(
            exit,
            format!(
                "{} does not verify: {}",
                args.dir.display(),
                report.summary()
            ),
        )),
    }
}

fn sig_line(check: &SigCheck) -> String {
    match check {
        SigCheck::Ok => "OK".into(),
        SigCheck::Absent => "absent (not checked)".into(),
        SigCheck::Bad { reason } => format!("FAILED: {reason}"),
    }
}

fn print_report(r: &Report) {
    println!("key {} ({})", r.key.fingerprint, r.key.path.display());
    println!("{}: {}", sign::SUMS_SIG, sig_line(&r.signify));
    println!("{}: {}", sign::SUMS_SSHSIG, sig_line(&r.sshsig));
    match &r.files {
        None => println!("files not checked: the list is not trusted"),
        Some(files) => {
            for f in files {
                match &f.check {
                    FileCheck::Ok => println!("{}: OK", f.name),
                    FileCheck::Mismatch { actual } => println!(
                        "{}: FAILED: SHA-256 is {actual}, expected {}",
                        f.name, f.expected
                    ),
                    FileCheck::Missing { reason } => println!("{}: FAILED: {reason}", f.name),
                }
            }
        }
    }
    let label = if r.strict { "FAILED" } else { "WARNING" };
    for finding in &r.findings {
        println!("{label}: {finding}");
    }
    if !r.strict && !r.findings.is_empty() {
        log::warn!(
            "{} thing(s) beside the signed files are not vouched for by the signature (listed above); \
             --strict makes them an error",
            r.findings.len()
        );
    }
}

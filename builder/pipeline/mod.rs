//! The pipeline: a profile resolved into a [`crate::plan::Plan`] ([`resolve`]), the plan executed into signed
//! artifacts ([`execute`]). This is the only module that knows both the profile and the stages; every stage
//! below it sees the plan (and its own inputs), never the profile.
//!
//! `forja build PROFILE` = check the guide's rules → check the secrets → check the input files → resolve → execute.
//! `forja build PROFILE --plan plan.json` executes a saved plan instead of resolving again (refused when the
//! plan was made from another version of the profile), so what `forja plan` printed is exactly what is built.

pub mod enforced;
pub mod esp;
pub mod execute;
pub mod hostpart;
pub mod layout;
pub mod payload;
pub mod preflight;
pub mod resolve;
pub mod rootfs;
pub mod share;
pub mod site;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use resolve::{Environment, resolve};

use crate::crypt::Seed;
use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::plan::Plan;
use crate::policy::rule::Status;
use crate::profile::Loaded;
use crate::profile::secrets::SecretRef;
use crate::sign::{self, SigningKey};

/// Options that are not in the profile.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Extra overlay trees copied last (the boot test adds its report unit this way; never for sites).
    pub extra_overlays: Vec<PathBuf>,
    /// Keep `OUT/.forja-work` for inspection.
    pub keep_work: bool,
    /// Execute this saved plan instead of resolving the profile again.
    pub plan: Option<PathBuf>,
    /// The base cache folder (`--cache-dir`); `None`: [`crate::inputs::cache::Cache::locate`]'s default.
    pub cache_dir: Option<PathBuf>,
    /// A site build's shared products: the root the first host builds and the others reuse, and its frame
    /// ([`share`]). `None`: a host of its own builds everything.
    pub site: Option<std::sync::Arc<share::SiteShare>>,
}

/// What a build produced: the signed list and the signer's key fingerprint.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub sums: sign::Sums,
    pub signer: String,
}

/// Builds the profile into `out`.
pub fn build(l: &Loaded, out: &Path, opts: &BuildOptions) -> anyhow::Result<Outcome> {
    // The guide first: a profile with a failing rule is never built.
    let report = crate::policy::evaluate(l);
    if report.failed() {
        let failing: Vec<String> = report
            .rules
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(|r| format!("  {} ({}): {}", r.id, r.paragraph, r.reason))
            .collect();
        return Err(fail(
            Exit::PolicyFailed,
            format!(
                "the profile breaks {} rule(s) of the guide; `forja check` explains each:\n{}",
                failing.len(),
                failing.join("\n")
            ),
        ));
    }
    let secrets = l.secrets.as_ref().ok_or_else(|| {
        fail(
            Exit::Input,
            format!("{}: a build needs the secrets file", l.path.display()),
        )
    })?;
    crate::pexip::bootstrap::check_secrets(l)?;
    // A saved plan is outside input too: its names and paths are checked first, before anything else is read.
    let saved = opts
        .plan
        .as_deref()
        .map(|path| saved_plan(l, path))
        .transpose()?;
    preflight::check_inputs(l)?;
    let key = signing_key(l)?;
    let secure_boot = secure_boot_keys(l)?;
    let signer = key.public().fingerprint();
    let cache = crate::inputs::cache::Cache::locate(opts.cache_dir.as_deref())?;
    let env = Environment::detect(opts.extra_overlays.clone());
    let plan = match saved {
        Some(plan) => plan,
        None => resolve(l, &env)?,
    };
    let build_seed = plan.build_seed.clone().map(|secret| SecretRef { secret });
    let ctx = execute::Context {
        secrets,
        seed: Seed::new(secrets, build_seed.as_ref()),
        inputs: l.roots()?,
        overlay_dirs: env.overlay_layers(),
        key,
        secure_boot,
        report,
        keep_work: opts.keep_work,
        cache,
        site: opts.site.clone(),
    };
    let sums = execute::build(&plan, ctx, out)?;
    Ok(Outcome { sums, signer })
}

/// `forja pexip generate`: the Pexip files of the plan (answers, sheets, REST plan, config drive) into
/// `out`, without building the image. Returns the paths written.
pub fn generate_pexip(l: &Loaded, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let secrets = l.secrets.as_ref().ok_or_else(|| {
        fail(
            Exit::Input,
            format!(
                "{}: the Pexip answers need the secrets file",
                l.path.display()
            ),
        )
    })?;
    crate::pexip::bootstrap::check_secrets(l)?;
    let (mut files, mut drive) = crate::pexip::outputs(l)?;
    // A build puts these under OUT/pexip/; here `--out` is the folder itself, as for every other command.
    let unprefix = |n: &mut String| {
        if let Some(rest) = n.strip_prefix("pexip/") {
            *n = rest.to_owned();
        }
    };
    for f in &mut files {
        unprefix(&mut f.name);
    }
    unprefix(&mut drive.name);
    unprefix(&mut drive.user_data);
    let seed = Seed::new(secrets, l.profile.profile.build_seed.as_ref());
    crate::artifact::create_out_dir(out, "the output folder")?;
    execute::write_outputs(
        &files,
        Some(&drive),
        secrets,
        &seed,
        out,
        l.source_date_epoch()?,
    )?;
    let mut written: Vec<PathBuf> = files.iter().map(|f| out.join(&f.name)).collect();
    written.push(out.join(&drive.name));
    Ok(written)
}

/// A plan saved by `forja plan`, refused if it was made from another version of the profile.
fn saved_plan(l: &Loaded, path: &Path) -> anyhow::Result<Plan> {
    let plan = Plan::load(path)?;
    let have = Sha256::of(l.text.as_bytes());
    if plan.profile.sha256 != have {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: made from another version of the profile (profile SHA-256 {} in the plan, {have} now): \
                 run `forja plan {}` again",
                path.display(),
                plan.profile.sha256,
                l.path.display()
            ),
        ));
    }
    if plan.built.is_some() {
        log::info!(
            "{}: the plan of a finished build; its `built` section is measured again",
            path.display()
        );
    }
    Ok(plan)
}

/// The site's Secure Boot keys the profile names (`boot.firmware.secure-boot-keys`); a lab profile gets test
/// keys made on first use, labelled as such in every certificate.
pub fn secure_boot_keys(l: &Loaded) -> anyhow::Result<Option<crate::secureboot::SiteKeys>> {
    let Some(rel) = &l.profile.boot.firmware.secure_boot_keys else {
        return Ok(None);
    };
    let dir = l.resolve(rel);
    if !dir.join("db.crt").exists() && l.is_lab() {
        log::warn!(
            "{}: generating TEST Secure Boot keys for the lab profile (never enrol them in a site's firmware)",
            dir.display()
        );
        let opts = crate::secureboot::KeygenOptions {
            bits: crate::secureboot::DEFAULT_BITS,
            common_name: "forja LAB TEST key, never for a site:".into(),
        };
        crate::secureboot::generate(&dir, &opts)?;
    }
    crate::secureboot::SiteKeys::load(&dir)
        .with_context(|| "boot.firmware.secure-boot-keys".to_string())
        .map(Some)
}

/// The signing key: the profile's, or for a lab profile a test key generated on first use.
pub fn signing_key(l: &Loaded) -> anyhow::Result<SigningKey> {
    let path = l.input_new("signing.key", &l.profile.signing.key)?;
    if !path.exists() && l.is_lab() {
        let dir = path.parent().unwrap_or(Path::new("."));
        log::warn!(
            "{}: generating a TEST signing key for the lab profile (never use it for a site)",
            path.display()
        );
        let key = SigningKey::generate()?;
        fs_err::create_dir_all(dir)?;
        // Two builds starting together both see no key: the second must not replace the first one's.
        sign::keys::write_private_new(&path, key.to_signify().as_bytes())?;
        return Ok(key);
    }
    SigningKey::load(&path).with_context(|| format!("signing.key ({})", path.display()))
}

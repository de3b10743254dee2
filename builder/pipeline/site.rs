//! `forja build SITE --out DIR [--host NAME]`: every host of a site profile (or one), each an ordinary build
//! under `DIR/hosts/NAME/`, then what the site has once: the Pexip configuration plan and `worker_vm` answers
//! (`DIR/pexip/`), `site.json` (hosts and their MACs, for the PXE tree), and one signed `SHA256SUMS` listing
//! every file of every host (`hosts/NAME/disk-head.zst`, ...), so `signify -C` in `DIR` checks the whole site.
//!
//! What the hosts share ([`super::share`]): the first host extracts the Debian base, composes the root, splits the
//! state seed off and makes the verified root image and its hash tree; the other hosts reuse all of it (after
//! checking that their plan asks for the same root) and build only what is theirs: their own files (in their
//! signed unified kernel images, [`crate::plan::HostPart`]), ESP, state and payload. The node images are verified
//! against one README.TXT. A host's disk is kept as parts ([`crate::disk::parts`]), not as `disk.raw`: the
//! root's zstd frame is compressed once and hard-linked into every host's folder, so the site holds one full
//! image and small per-host parts. The site build checks that every host's root hash is the same and records it
//! in `site.json`.
//!
//! A host's build folder keeps its own signed `SHA256SUMS`, so `forja media usb|pxe DIR/hosts/NAME` and
//! `forja verify DIR/hosts/NAME` work on it as on any build. With `--host`, the other hosts' folders are kept and
//! re-listed if their signed lists check out and they were built from this version of the site file.

use std::path::Path;

use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::plan::ConfigDrivePlan;
use crate::plan::files::OutputFile;
use crate::plan::site::{self as manifest, SiteHost, SiteManifest};
use crate::profile::Loaded;
use crate::profile::model::ImageRole;
use crate::profile::site::{Site, hosted_nodes, member};
use crate::sign::{self, sums::Entry};

use super::{BuildOptions, Outcome};

/// The Pexip files a site has once (written at `DIR/pexip/`), not per host.
const SITE_PEXIP: [&str; 2] = [crate::pexip::NODES_JSON, crate::pexip::PLAN_JSON];
/// The Pexip files only the Management Node's host carries: the first-boot answers and the sheets.
const MANAGEMENT_PEXIP: [&str; 3] = [
    crate::pexip::BOOTSTRAP_JSON,
    crate::pexip::INSTALL_SHEET,
    crate::pexip::SECURITYWIZARD_SHEET,
];

fn pexip_name(o: &OutputFile) -> &str {
    o.name.strip_prefix("pexip/").unwrap_or(&o.name)
}

/// A host of a site keeps only its part of the Pexip files: none of the site's (plan, `worker_vm`), and the
/// bootstrap answers, sheets and config drive only on the Management Node's host. An ordinary profile keeps all.
pub fn host_pexip_outputs(
    l: &Loaded,
    outputs: &mut Vec<OutputFile>,
    drive: ConfigDrivePlan,
) -> Option<ConfigDrivePlan> {
    let Some(m) = &l.site else {
        return Some(drive);
    };
    outputs.retain(|o| {
        let n = pexip_name(o);
        !SITE_PEXIP.contains(&n) && (m.runs_management || !MANAGEMENT_PEXIP.contains(&n))
    });
    m.runs_management.then_some(drive)
}

/// Whether the host needs a role's image in its payload (an ordinary profile stages every image it names).
pub fn needs_image(l: &Loaded, role: ImageRole) -> bool {
    if l.site.is_none() {
        return true;
    }
    hosted_nodes(l).iter().any(|n| match role {
        ImageRole::Management => n.management,
        ImageRole::Conferencing => !n.management,
    })
}

/// Builds the site (or the host `only`) into `out`.
pub fn build(
    site: &Site,
    out: &Path,
    only: Option<&str>,
    opts: &BuildOptions,
) -> anyhow::Result<Outcome> {
    crate::policy::site::require_clean(site)?;
    require_shared_root(site)?;
    if opts.plan.is_some() {
        return Err(fail(
            Exit::Input,
            "--plan executes one host's saved plan: build that host's profile, not a site",
        ));
    }
    let selected: Vec<&Loaded> = match only {
        None => site.hosts.iter().collect(),
        Some(name) => vec![site.host(name).ok_or_else(|| {
            let names: Vec<&str> = site.hosts.iter().map(|h| member(h).host.as_str()).collect();
            fail(
                Exit::Input,
                format!(
                    "--host {name}: {} has no such host (hosts: {})",
                    site.path.display(),
                    names.join(", ")
                ),
            )
        })?],
    };
    let _lock = crate::artifact::OutputLock::acquire(out)?;
    let _ = std::fs::remove_file(out.join(sign::SUMS));
    let hosts_dir = out.join(manifest::HOSTS_DIR);
    crate::artifact::create_out_dir(&hosts_dir, "the hosts folder")?;
    {
        // The first host builds the root and its frame, the others reuse them; the folder goes when the hosts
        // are built (or their build failed).
        let share = super::share::SiteShare::new(&out.join(super::share::DIR))?;
        let opts = BuildOptions {
            site: Some(std::sync::Arc::new(share)),
            ..opts.clone()
        };
        let build_host = |h: &&Loaded| -> anyhow::Result<()> {
            let name = &member(h).host;
            log::info!("site {}: building host {name}", site.name());
            super::build(h, &hosts_dir.join(name), &opts)
                .map(|_| ())
                .map_err(|e| e.context(format!("building host {name}")))
        };
        // Whichever host starts first builds the root while the other waits for it; the root's frame likewise.
        each_in_parallel(&selected, host_workers(), build_host)?;
    }
    let mgr = site.management_host();
    let key = super::signing_key(mgr)?;
    let mut names = write_site_pexip(site, out)?;
    let profile_sha256 = Sha256::of(site.text.as_bytes());
    let mut known = Vec::new();
    let mut hosts = Vec::new();
    let mut roots = Vec::new();
    for h in &site.hosts {
        let built = list_host(
            h,
            out,
            &key.public(),
            profile_sha256,
            &mut names,
            &mut known,
        )?;
        hosts.push(site_host(h, built.is_some()));
        if let Some(plan) = built {
            roots.push((member(h).host.clone(), plan));
        }
    }
    let root_hash = shared_root(&roots)?;
    link_root_frames(out, &known)?;
    let m = SiteManifest {
        format: manifest::FORMAT.into(),
        site: site.name().to_owned(),
        profile_sha256,
        root_hash,
        hosts,
    };
    crate::artifact::write_atomic(out.join(manifest::FILE), &crate::artifact::json_lines(&m)?)?;
    names.push(manifest::FILE.into());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let sums = sign::sign_dir_with(out, &key, &refs, &known)?;
    Ok(Outcome {
        sums,
        signer: key.public().fingerprint(),
    })
}

/// Hosts built at once: beyond the shared root, a host is its ESP's two signed images, small file systems and
/// their compression, which two cores run side by side; more would only queue for the disk.
fn host_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 2))
}

/// Runs `f` on every item with up to `workers` threads; stops taking new items after the first error, which it
/// returns.
fn each_in_parallel<T: Sync>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if failed.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                        break;
                    }
                    if let Err(e) = f(item) {
                        failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What a host's root carries from its profile: the generated files outside its host part, and the edits.
fn root_inputs(l: &Loaded) -> anyhow::Result<(Vec<crate::plan::GenFile>, Vec<crate::plan::Edit>)> {
    let disk = super::layout::partitions(
        l,
        &super::layout::disk_seed(l),
        &super::layout::root_seed(l),
    );
    let files = crate::compose::host_files(l, &super::layout::compose_input(&disk))?;
    let part = crate::compose::hostpart::plan(l);
    let shared = files
        .into_iter()
        .filter(|f| part.as_ref().is_none_or(|p| p.place(&f.path).is_none()))
        .collect();
    Ok((shared, crate::compose::access::edits(l)))
}

/// The paths of what is in only one of `a` and `b`.
fn one_side<'a, T: PartialEq>(a: &'a [T], b: &'a [T], path: fn(&T) -> &String) -> Vec<&'a str> {
    a.iter()
        .filter(|x| !b.contains(x))
        .chain(b.iter().filter(|x| !a.contains(x)))
        .map(|x| path(x).as_str())
        .collect()
}

/// Every host of a site runs one root, so what it carries must come out the same for every host. Refuses (exit 2)
/// a site where a host's own `host` or `network` table changes a file of the root (a time zone, resolvers, SSH
/// settings), naming the two hosts and the files, before anything is built.
pub fn require_shared_root(site: &Site) -> anyhow::Result<()> {
    let Some((first, rest)) = site.hosts.split_first() else {
        return Ok(());
    };
    let (files1, edits1) = root_inputs(first)?;
    let mut problems = Vec::new();
    for h in rest {
        let (files, edits) = root_inputs(h)?;
        let mut differ = one_side(&files1, &files, |f| &f.path);
        differ.extend(one_side(&edits1, &edits, |e| &e.path));
        differ.sort_unstable();
        differ.dedup();
        if !differ.is_empty() {
            problems.push(format!(
                "  shared-root: hosts `{}` and `{}` would put different {} into the root every host of the site \
                 runs; set what makes it once, for the site, not in a `[[hosts]]` entry's `host` or `network` table",
                member(first).host,
                member(h).host,
                differ.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(fail(
        Exit::Input,
        format!(
            "{}: site `{}`: {} problem(s) across hosts:\n{}",
            site.path.display(),
            site.name(),
            problems.len(),
            problems.join("\n")
        ),
    ))
}

/// `DIR/pexip/plan.json` and `worker_vm.json` for every node of the site.
fn write_site_pexip(site: &Site, out: &Path) -> anyhow::Result<Vec<String>> {
    let whole = site.whole()?;
    let secrets = whole.secrets.as_ref().ok_or_else(|| {
        fail(
            Exit::Input,
            format!("{}: a build needs the secrets file", site.path.display()),
        )
    })?;
    let (mut files, _) = crate::pexip::outputs(&whole)?;
    files.retain(|o| SITE_PEXIP.contains(&pexip_name(o)));
    let seed = crate::crypt::Seed::new(secrets, whole.profile.profile.build_seed.as_ref());
    super::execute::write_outputs(
        &files,
        None,
        secrets,
        &seed,
        out,
        whole.source_date_epoch()?,
    )?;
    Ok(files.into_iter().map(|f| f.name).collect())
}

/// Adds a host's files to the site list: the entries of its signed `SHA256SUMS` (digests taken from it, after
/// its signature checks out with the site's key) and the signing files beside it. Returns the host's built plan,
/// or `None` when the host has no build in `out`; refuses a build made from another version of the site file.
fn list_host(
    h: &Loaded,
    out: &Path,
    key: &sign::keys::PublicKey,
    profile_sha256: Sha256,
    names: &mut Vec<String>,
    known: &mut Vec<Entry>,
) -> anyhow::Result<Option<crate::plan::Plan>> {
    let name = &member(h).host;
    let rel = format!("{}/{name}", manifest::HOSTS_DIR);
    let dir = out.join(&rel);
    if !dir.join(sign::SUMS).exists() {
        log::warn!("{rel}: not built; the site list leaves it out (build it with --host {name})");
        return Ok(None);
    }
    let sums_bytes = crate::inbound::read_capped(&dir.join(sign::SUMS), 16 << 20)?;
    let sig = crate::inbound::read_capped(&dir.join(sign::SUMS_SIG), 1 << 20)?;
    match sign::signify::verify(key, &sig, &sums_bytes) {
        Ok(signed) if signed == sums_bytes.as_slice() => {}
        Ok(_) | Err(_) => {
            return Err(fail(
                Exit::BadSignature,
                format!(
                    "{rel}/{}: not signed by the site's key over this list; rebuild the host",
                    sign::SUMS_SIG
                ),
            ));
        }
    }
    let sums = sign::sums::Sums::parse(&sums_bytes)
        .map_err(|e| fail(Exit::Input, format!("{rel}/{}: {e}", sign::SUMS)))?;
    let plan = crate::plan::Plan::load(&dir.join("plan.json"))?;
    if sums.get("plan.json") != Some(Sha256::of_file(&dir.join("plan.json"))?) {
        return Err(fail(
            Exit::HashMismatch,
            format!("{rel}/plan.json differs from its signed SHA-256"),
        ));
    }
    if plan.profile.sha256 != profile_sha256 {
        return Err(fail(
            Exit::Input,
            format!(
                "{rel} was built from another version of the site file (SHA-256 {}, now {profile_sha256}): \
                 rebuild it with --host {name}, or the whole site",
                plan.profile.sha256
            ),
        ));
    }
    for e in sums.entries() {
        let n = format!("{rel}/{}", e.name);
        known.push(Entry {
            name: n.clone(),
            sha256: e.sha256,
        });
        names.push(n);
    }
    for f in sign::SIGNING_OUTPUTS {
        if dir.join(f).exists() {
            names.push(format!("{rel}/{f}"));
        }
    }
    Ok(Some(plan))
}

/// Makes every host's root frame with the same signed digest one file again (a host rebuilt alone with `--host`
/// compressed its own copy), after comparing the bytes: the site then holds the frame once.
fn link_root_frames(out: &Path, known: &[Entry]) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let frames: Vec<&Entry> = known
        .iter()
        .filter(|e| {
            e.name
                .ends_with(&format!("/{}", crate::disk::parts::ROOT_A))
        })
        .collect();
    for (i, e) in frames.iter().enumerate() {
        let Some(first) = frames[..i].iter().find(|f| f.sha256 == e.sha256) else {
            continue;
        };
        let (keep, other) = (out.join(&first.name), out.join(&e.name));
        let (a, b) = (fs_err::metadata(&keep)?, fs_err::metadata(&other)?);
        if (a.dev(), a.ino()) == (b.dev(), b.ino()) || !same_bytes(&keep, &other)? {
            continue;
        }
        let tmp = other.with_extension("zst.link");
        let _ = fs_err::remove_file(&tmp);
        fs_err::hard_link(&keep, &tmp)?;
        fs_err::rename(&tmp, &other)?;
        log::info!("{}: one file with {} again", e.name, first.name);
    }
    Ok(())
}

/// Whether two files hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> anyhow::Result<bool> {
    let (mut fa, mut fb) = (fs_err::File::open(a)?, fs_err::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = crate::hashio::read_full(&mut fa, &mut ba)?;
        let m = crate::hashio::read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// The root every built host of the site has: the same root hash, or an error naming two hosts that differ. What
/// a host's profile puts into the root was compared before building ([`require_shared_root`]), so a difference here
/// comes from a host folder built earlier (`--host`) by another forja or from another base.
fn shared_root(roots: &[(String, crate::plan::Plan)]) -> anyhow::Result<Option<Sha256>> {
    let hash = |p: &crate::plan::Plan| p.built.as_ref().map(|b| b.root_hash);
    let Some((first, p1)) = roots.first() else {
        return Ok(None);
    };
    if let Some((name, p)) = roots[1..].iter().find(|(_, p)| hash(p) != hash(p1)) {
        return Err(fail(
            Exit::Internal,
            format!(
                "hosts {first} and {name} were built with different roots (root hash {} and {}), which every host \
                 of a site must share: rebuild the whole site",
                hash(p1).map(|h| h.to_string()).unwrap_or_default(),
                hash(p).map(|h| h.to_string()).unwrap_or_default(),
            ),
        ));
    }
    Ok(hash(p1))
}

fn site_host(h: &Loaded, built: bool) -> SiteHost {
    let m = member(h);
    let n = &h.profile.network;
    SiteHost {
        name: m.host.clone(),
        dir: format!("{}/{}", manifest::HOSTS_DIR, m.host),
        macs: vec![n.management.mac.to_string(), n.vm.mac.to_string()],
        serial: m.serial.clone(),
        management: m.runs_management,
        nodes: hosted_nodes(h).iter().map(|n| n.name.to_owned()).collect(),
        built,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::SecretsNeed;
    use crate::profile::site::load_site;

    fn lab_site() -> Site {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lab-site.toml");
        load_site(&p, SecretsNeed::Required).unwrap()
    }

    fn outputs(l: &Loaded) -> Vec<String> {
        let (mut o, drive) = crate::pexip::outputs(l).unwrap();
        let d = host_pexip_outputs(l, &mut o, drive);
        o.into_iter()
            .map(|f| f.name)
            .chain(d.map(|d| d.name))
            .collect()
    }

    #[test]
    fn bootstrap_answers_go_only_to_the_management_nodes_host() {
        let site = lab_site();
        assert_eq!(
            outputs(&site.hosts[0]),
            [
                "pexip/management_node_config.json",
                "pexip/install-sheet.md",
                "pexip/securitywizard-sheet.md",
                "pexip/config-drive.iso"
            ]
        );
        assert!(outputs(&site.hosts[1]).is_empty());
    }

    #[test]
    fn each_host_stages_only_the_images_its_nodes_need() {
        let site = lab_site();
        let (h1, h2) = (&site.hosts[0], &site.hosts[1]);
        assert!(needs_image(h1, ImageRole::Management) && needs_image(h1, ImageRole::Conferencing));
        assert!(
            !needs_image(h2, ImageRole::Management) && needs_image(h2, ImageRole::Conferencing)
        );
        let plan = super::super::resolve(h2, &super::super::Environment::fixture()).unwrap();
        let nodes: Vec<&str> = plan.payload.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(nodes, ["conf02"]);
        assert_eq!(plan.payload.nodes[0].cpuset, [1, 2, 3, 4]);
        assert!(plan.config_drive.is_none());
        assert!(
            !plan.artifacts.iter().any(|a| a.starts_with("pexip/")),
            "{:?}",
            plan.artifacts
        );
        assert_eq!(plan.disk_seed, "lab-site:kvm-lab-2.lab.example");
    }

    /// A host folder holding only a signed `plan.json` whose profile hash is `sha`.
    fn host_dir(out: &Path, h: &Loaded, sha: Sha256, key: &sign::SigningKey) {
        let dir = out.join("hosts").join(&member(h).host);
        std::fs::create_dir_all(&dir).unwrap();
        let mut plan = super::super::resolve(h, &super::super::Environment::fixture()).unwrap();
        plan.profile.sha256 = sha;
        let bytes = crate::artifact::json_lines(&plan).unwrap();
        std::fs::write(dir.join("plan.json"), bytes).unwrap();
        sign::sign_dir(&dir, key, &["plan.json"]).unwrap();
    }

    #[test]
    fn other_hosts_are_listed_only_if_signed_and_built_from_this_site_file() {
        let site = lab_site();
        let h2 = &site.hosts[1];
        let key = sign::SigningKey::from_seed([3; 32]);
        let now = Sha256::of(site.text.as_bytes());
        let list = |out: &Path, k: &sign::SigningKey| {
            let (mut names, mut known) = (Vec::new(), Vec::new());
            list_host(h2, out, &k.public(), now, &mut names, &mut known).map(|b| (b, names))
        };
        let d = tempfile::tempdir().unwrap();
        assert!(
            list(d.path(), &key).unwrap().0.is_none(),
            "not built: left out"
        );
        host_dir(d.path(), h2, now, &key);
        let (built, names) = list(d.path(), &key).unwrap();
        assert!(built.is_some());
        assert!(
            names.contains(&"hosts/kvm-lab-2/plan.json".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"hosts/kvm-lab-2/SHA256SUMS.sig".to_owned()),
            "{names:?}"
        );
        let other = sign::SigningKey::from_seed([4; 32]);
        let e = list(d.path(), &other).unwrap_err();
        assert_eq!(crate::error::exit_of(&e), Exit::BadSignature, "{e:#}");
        host_dir(d.path(), h2, Sha256::of(b"an older site file"), &key);
        let e = list(d.path(), &key).unwrap_err();
        assert_eq!(crate::error::exit_of(&e), Exit::Input, "{e:#}");
        assert!(
            format!("{e:#}").contains("built from another version of the site file"),
            "{e:#}"
        );
    }

    #[test]
    fn parallel_work_does_every_item_once_and_stops_at_the_first_error() {
        let done = std::sync::Mutex::new(Vec::new());
        each_in_parallel(&[1, 2, 3, 4, 5], 2, |i| {
            done.lock().unwrap().push(*i);
            Ok(())
        })
        .unwrap();
        let mut got = done.into_inner().unwrap();
        got.sort();
        assert_eq!(got, [1, 2, 3, 4, 5]);
        let e = each_in_parallel(&[1, 2, 3], 1, |i| match i {
            2 => anyhow::bail!("host {i} failed"),
            3 => panic!("taken after the error"),
            _ => Ok(()),
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "host 2 failed");
        assert!(each_in_parallel(&[] as &[u8], 2, |_| Ok(())).is_ok());
    }

    #[test]
    fn an_ordinary_profile_keeps_every_pexip_file() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/lab.toml");
        let l = crate::profile::load(&p, SecretsNeed::Required).unwrap();
        assert_eq!(outputs(&l).len(), 6, "5 files and the config drive");
        assert!(needs_image(&l, ImageRole::Management));
    }
}

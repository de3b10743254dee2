//! Issue 5, "Boot proof": build the lab profile, boot `disk.raw` under QEMU (TCG, OVMF, swtpm, two NICs) and check
//! the facts a test-only unit prints on the serial console (`tests/boot/overlay`, added by
//! `forja build --extra-overlay`, never shipped).
//!
//! Boots, each with its own qcow2 overlay over the one image, enlarged so first boot grows vmstore:
//! 1. device A, first boot, TPM A: every check in `support::report::check`, plus the probes of a closed port
//!    and TCP 22 on the management address from the host side (drop, not reject);
//! 2. device B, first boot, TPM B: the same checks, and B's vmstore volume key differs from A's;
//! 3. device A again, TPM A: vmstore unlocks through the TPM without a prompt, first boot is skipped by its
//!    condition, the volume key is A's;
//! 4. device A, a fresh TPM: the console must show systemd-cryptsetup's prompt for the recovery key or
//!    passphrase (no silent unlock); QEMU is then killed.
//!
//! It runs in every `cargo test` (CI included): it builds a private copy of the lab profile with the shared
//! Debian base cache. `FORJA_BOOT_TEST=0` skips it, saying so, for a quick local run;
//! `FORJA_BOOT_DISK=PATH/disk.raw` boots an existing image instead of building one.
//!
//! Other variables: `FORJA_BOOT_PROFILE` (default `profiles/lab.toml`), `FORJA_BOOT_NODES_LOCK` (the build's
//! nodes.lock; default: next to the disk if present), `FORJA_BOOT_WORKDIR` (default
//! `target/tmp/boot-test`; logs stay there), `FORJA_BOOT_GROW_MIB` (default 4096).

#[allow(dead_code)]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use support::qemu::{self, Nic, Probe, Swtpm, Vm, VmConfig};
use support::report::{self, BootKind, Expected, Failure, Report};

const REPORT_TIMEOUT: Duration = Duration::from_secs(12 * 60);
const PROMPT_TIMEOUT: Duration = Duration::from_secs(8 * 60);
const PROBE_WAIT: Duration = Duration::from_secs(8);
/// A port nothing listens on, on the management address (discard).
const CLOSED_PORT: u16 = 9;
const PROMPTS: &[&str] = &[
    "Please enter recovery key for disk",
    "Please enter passphrase for disk",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the lab image with the test overlay: `forja build profiles/lab.toml --out DIR --extra-overlay
/// tests/boot/overlay`. Fails with a clear message while the binary has no `build` subcommand.
fn build_lab_image(profile: &Path, out: &Path) -> Result<PathBuf> {
    let forja = env!("CARGO_BIN_EXE_forja");
    let help = Command::new(forja).arg("--help").output()?;
    let help = String::from_utf8_lossy(&help.stdout);
    if !help.lines().any(|l| l.trim_start().starts_with("build ")) {
        bail!(
            "`forja build` does not exist yet in this binary ({forja}), so the boot test cannot build the lab image; \
             set FORJA_BOOT_DISK=PATH/disk.raw to boot an image built elsewhere"
        );
    }
    let st = Command::new(forja)
        .arg("build")
        .arg(profile)
        .arg("--out")
        .arg(out)
        .arg("--extra-overlay")
        .arg(repo().join("tests/boot/overlay"))
        .env("FORJA_CACHE", support::lab::cache_dir())
        .status()?;
    if !st.success() {
        bail!("forja build {} failed ({st})", profile.display());
    }
    Ok(out.join("disk.raw"))
}

struct Timings(Vec<(String, Duration)>);

impl Timings {
    fn add(&mut self, phase: &str, d: Duration) {
        eprintln!("boot-test: {phase}: {:.1} s", d.as_secs_f64());
        self.0.push((phase.to_owned(), d));
    }
}

/// One device: its disk overlay and its TPM state folder.
struct Device {
    name: &'static str,
    disk: PathBuf,
    tpm_dir: PathBuf,
}

struct Ctx {
    work: PathBuf,
    expected_first: Expected,
    expected_again: Expected,
    mgmt_mac: String,
    vm_mac: String,
    subnet: String,
    gateway: String,
    mgmt_ip: String,
}

impl Ctx {
    fn vm_config(
        &self,
        run: &str,
        dev: &Device,
        tpm: &Swtpm,
        fwd: &[(u16, String, u16)],
    ) -> VmConfig {
        let mut c = VmConfig::new(run, &self.work, &dev.disk);
        c.nics = vec![
            Nic::user(&self.mgmt_mac, &self.subnet, &self.gateway, fwd),
            Nic::isolated(&self.vm_mac),
        ];
        c.tpm_socket = Some(tpm.socket.clone());
        c.timeout = REPORT_TIMEOUT + Duration::from_secs(120);
        c
    }

    /// Boots until the report, probes the management address meanwhile, waits for the power-off.
    fn report_boot(
        &self,
        run: &str,
        dev: &Device,
        kind: BootKind,
        t: &mut Timings,
    ) -> Result<(Report, Vec<Failure>)> {
        let tpm = Swtpm::start(&dev.tpm_dir, &self.work.join(format!("{run}.swtpm.sock")))?;
        let (p_closed, p_ssh) = (qemu::free_port()?, qemu::free_port()?);
        let fwd = [
            (p_closed, self.mgmt_ip.clone(), CLOSED_PORT),
            (p_ssh, self.mgmt_ip.clone(), 22),
        ];
        let mut vm = Vm::start(&self.vm_config(run, dev, &tpm, &fwd))?;
        let start = Instant::now();
        let line = vm
            .wait_for_line(REPORT_TIMEOUT, &[report::MARKER])
            .map_err(|e| {
                anyhow::anyhow!(
                    "{run}: no report on the console: {e}; QEMU said: {:?}; console tail ({}):\n{}",
                    vm.qemu_log().trim(),
                    vm.serial.display(),
                    vm.console_tail(40)
                )
            })?;
        t.add(&format!("{run}: boot to report"), start.elapsed());
        // The guest holds for ~25 s after the report: probe both ports at once.
        let probe = |port: u16| {
            std::thread::spawn(move || {
                qemu::probe_tcp(SocketAddr::from(([127, 0, 0, 1], port)), PROBE_WAIT)
            })
        };
        let (h1, h2) = (probe(p_closed), probe(p_ssh));
        let (closed, ssh) = (
            h1.join().unwrap_or(Probe::Error("probe panicked".into())),
            h2.join().unwrap_or(Probe::Error("probe panicked".into())),
        );
        eprintln!("boot-test: {run}: probe TCP {CLOSED_PORT}: {closed}; probe TCP 22: {ssh}");
        let r = report::parse_console(&line)
            .with_context(|| format!("{run}: {}", vm.serial.display()))?;
        let expected = match kind {
            BootKind::First => &self.expected_first,
            BootKind::Again => &self.expected_again,
        };
        let mut failures = report::check(&r, expected);
        failures.extend(report::check_closed_port(CLOSED_PORT, &closed));
        failures.extend(report::check_ssh_port(expected.ssh_enabled, &ssh));
        let console = vm.console();
        if let Some(p) = PROMPTS.iter().find(|p| console.contains(*p)) {
            failures.push(Failure {
                check: "vmstore",
                message: format!(
                    "{run}: the console asked `{p}`: vmstore did not unlock through the TPM"
                ),
            });
        }
        let st = vm.wait_exit(Duration::from_secs(120))?;
        t.add(&format!("{run}: total until power-off"), start.elapsed());
        if !st.success() {
            failures.push(Failure {
                check: "systemd",
                message: format!("{run}: QEMU exited {st} after the report"),
            });
        }
        std::fs::write(
            self.work.join(format!("{run}.report.json")),
            line.split_once(report::MARKER).map(|x| x.1).unwrap_or(""),
        )?;
        Ok((
            r,
            failures
                .into_iter()
                .map(|f| Failure {
                    check: f.check,
                    message: format!("{run}: {}", f.message),
                })
                .collect(),
        ))
    }

    /// Boots with a fresh TPM: must stop at the unlock prompt.
    fn fresh_tpm_boot(&self, run: &str, dev: &Device, t: &mut Timings) -> Result<Vec<Failure>> {
        let fresh = self.work.join(format!("{run}.tpm"));
        let _ = std::fs::remove_dir_all(&fresh);
        let tpm = Swtpm::start(&fresh, &self.work.join(format!("{run}.swtpm.sock")))?;
        let mut vm = Vm::start(&self.vm_config(
            run,
            &Device {
                name: dev.name,
                disk: dev.disk.clone(),
                tpm_dir: fresh.clone(),
            },
            &tpm,
            &[],
        ))?;
        let start = Instant::now();
        let mut seen = PROMPTS.to_vec();
        seen.push(report::MARKER);
        let res = vm.wait_for_line(PROMPT_TIMEOUT, &seen);
        vm.kill();
        t.add(
            &format!("{run}: boot to the unlock prompt"),
            start.elapsed(),
        );
        Ok(match res {
            Ok(l) if l.contains(report::MARKER) => vec![Failure {
                check: "vmstore",
                message: format!(
                    "{run}: with a fresh TPM the host booted to the report: vmstore unlocked silently"
                ),
            }],
            Ok(l) => {
                eprintln!("boot-test: {run}: prompt seen: {}", l.trim());
                vec![]
            }
            Err(e) => vec![Failure {
                check: "vmstore",
                message: format!(
                    "{run}: no unlock prompt with a fresh TPM ({e}); console tail:\n{}",
                    vm.console_tail(20)
                ),
            }],
        })
    }
}

#[test]
fn boot_proof() -> Result<()> {
    let disk_env = std::env::var_os("FORJA_BOOT_DISK").map(PathBuf::from);
    if disk_env.is_none() && std::env::var("FORJA_BOOT_TEST").is_ok_and(|v| v == "0") {
        eprintln!(
            "boot-test: SKIPPED because FORJA_BOOT_TEST=0 (the QEMU boot proof takes ~10-15 min)"
        );
        return Ok(());
    }
    if let Some(why) = qemu::missing_tools() {
        bail!("boot-test: {why}");
    }
    let total = Instant::now();
    let mut t = Timings(Vec::new());
    let work = std::env::var_os("FORJA_BOOT_WORKDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("boot-test"));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    // A private copy of the lab profile (stand-in images, shared base cache, shared test key).
    let lab = support::lab::LabCopy::new();
    let profile = std::env::var_os("FORJA_BOOT_PROFILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| lab.profile());
    let disk = match disk_env {
        Some(d) => d,
        None => {
            let s = Instant::now();
            let d = build_lab_image(&profile, &work.join("build"))?;
            t.add("build the lab image", s.elapsed());
            d
        }
    };
    let loaded = forja::profile::load(&profile, forja::profile::SecretsNeed::Required)?;
    let nodes_lock = std::env::var_os("FORJA_BOOT_NODES_LOCK")
        .map(PathBuf::from)
        .or_else(|| {
            disk.parent()
                .map(|p| p.join("nodes.lock"))
                .filter(|p| p.is_file())
        });
    let size = std::fs::metadata(&disk)
        .with_context(|| format!("{}", disk.display()))?
        .len();
    let grow: u64 = std::env::var("FORJA_BOOT_GROW_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let disk_bytes = (size + grow * 1024 * 1024).div_ceil(1024 * 1024) * 1024 * 1024;
    let mut expected_first = Expected::from_profile(&loaded, BootKind::First);
    expected_first.disk_bytes = Some(disk_bytes);
    if let Some(p) = &nodes_lock {
        expected_first.nodes_lock = Some(
            serde_json::from_slice(&std::fs::read(p)?)
                .with_context(|| format!("{}", p.display()))?,
        );
    }
    let mut expected_again = expected_first.clone();
    expected_again.boot = BootKind::Again;
    let m = &loaded.profile.network.management;
    let cidr = m
        .address
        .static_cidr()
        .context("the management address must be static")?;
    let mask = cidr
        .netmask_v4()
        .context("the boot test needs an IPv4 management address")?;
    let std::net::IpAddr::V4(ip) = cidr.addr else {
        bail!("IPv4 management address needed")
    };
    let net = std::net::Ipv4Addr::from(u32::from(ip) & u32::from(mask));
    let ctx = Ctx {
        mgmt_mac: m.mac.to_string(),
        vm_mac: loaded.profile.network.vm.mac.to_string(),
        subnet: format!("{net}/{}", cidr.prefix),
        // slirp needs a host address inside the subnet: the profile's gateway, else the first address.
        gateway: m
            .gateway
            .map(|g| g.to_string())
            .unwrap_or_else(|| std::net::Ipv4Addr::from(u32::from(net) + 1).to_string()),
        mgmt_ip: ip.to_string(),
        work: work.clone(),
        expected_first,
        expected_again,
    };
    let dev = |name: &'static str| -> Result<Device> {
        let d = Device {
            name,
            disk: work.join(format!("{name}.qcow2")),
            tpm_dir: work.join(format!("{name}.tpm")),
        };
        qemu::overlay_disk(&disk, &d.disk, disk_bytes)?;
        Ok(d)
    };
    let (a, b) = (dev("device-a")?, dev("device-b")?);
    eprintln!(
        "boot-test: image {} ({} MiB), devices of {} MiB, work folder {}",
        disk.display(),
        size >> 20,
        disk_bytes >> 20,
        work.display()
    );

    let mut failures = Vec::new();
    let (a1, f) = ctx.report_boot("a1-first-boot", &a, BootKind::First, &mut t)?;
    failures.extend(f);
    let (b1, f) = ctx.report_boot("b1-first-boot", &b, BootKind::First, &mut t)?;
    failures.extend(f);
    failures.extend(report::check_keys_differ(&a1, &b1));
    let (a2, f) = ctx.report_boot("a2-second-boot", &a, BootKind::Again, &mut t)?;
    failures.extend(f);
    failures.extend(report::check_same_key(&a1, &a2));
    failures.extend(ctx.fresh_tpm_boot("a3-fresh-tpm", &a, &mut t)?);
    t.add("whole boot test", total.elapsed());

    eprintln!("boot-test: timings:");
    for (p, d) in &t.0 {
        eprintln!("  {:>7.1} s  {p}", d.as_secs_f64());
    }
    if !failures.is_empty() {
        let list: Vec<String> = failures.iter().map(|f| format!("  - {f}")).collect();
        bail!(
            "boot proof: {} check(s) failed (logs in {}):\n{}",
            failures.len(),
            work.display(),
            list.join("\n")
        );
    }
    eprintln!("boot-test: PASS");
    Ok(())
}

//! The boot proof's machinery, shared by `tests/boot_test.rs` (the image itself) and `tests/media_install.rs`
//! (the disks the USB and PXE installers wrote): boot a disk under QEMU (TCG, OVMF, swtpm, the profile's two
//! NICs) until the test-only unit of `tests/boot/overlay` prints its report, probe the management address from
//! the host meanwhile, and check the report against what the profile asks for.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::qemu::{self, Nic, Probe, Swtpm, Vm, VmConfig};
use super::report::{self, BootKind, Expected, Failure, Report};

pub const REPORT_TIMEOUT: Duration = Duration::from_secs(12 * 60);
const PROMPT_TIMEOUT: Duration = Duration::from_secs(8 * 60);
const PROBE_WAIT: Duration = Duration::from_secs(8);
/// A port nothing listens on, on the management address (discard).
const CLOSED_PORT: u16 = 9;
const PROMPTS: &[&str] = &[
    "Please enter recovery key for disk",
    "Please enter passphrase for disk",
];

/// Phase timings, printed as they happen (`LABEL: phase: 1.2 s`) and listed at the end.
pub struct Timings {
    pub label: &'static str,
    pub list: Vec<(String, Duration)>,
}

impl Timings {
    pub fn new(label: &'static str) -> Self {
        Timings {
            label,
            list: Vec::new(),
        }
    }

    pub fn add(&mut self, phase: &str, d: Duration) {
        eprintln!("{}: {phase}: {:.1} s", self.label, d.as_secs_f64());
        self.list.push((phase.to_owned(), d));
    }

    pub fn print(&self) {
        eprintln!("{}: timings:", self.label);
        for (p, d) in &self.list {
            eprintln!("  {:>7.1} s  {p}", d.as_secs_f64());
        }
    }
}

/// One device: its disk (a qcow2 overlay) and its TPM state folder.
pub struct Device {
    pub name: &'static str,
    pub disk: PathBuf,
    pub tpm_dir: PathBuf,
}

/// What a boot of this profile's image must show, and how to wire its VM.
pub struct BootProof {
    pub work: PathBuf,
    pub disk_bytes: u64,
    /// OVMF vars with the site's keys enrolled (Secure Boot enforcing), when the image is signed.
    pub secure_boot_vars: Option<PathBuf>,
    expected_first: Expected,
    expected_again: Expected,
    mgmt_mac: String,
    vm_mac: String,
    subnet: String,
    gateway: String,
    mgmt_ip: String,
}

impl BootProof {
    /// The expectations for `profile`'s image on devices of `disk_bytes`; `build` is the build folder (its
    /// `nodes.lock` and the command line its `plan.json` recorded), when the test has it. A profile with Secure
    /// Boot keys is booted under OVMF's Secure Boot build with those keys enrolled.
    pub fn new(profile: &Path, work: &Path, disk_bytes: u64, build: Option<&Path>) -> Result<Self> {
        let loaded = forja::profile::load(profile, forja::profile::SecretsNeed::Required)?;
        Self::for_host(&loaded, work, disk_bytes, build)
    }

    /// [`Self::new`] for a loaded profile: one host of a site (`forja::profile::site::load_site`), whose own
    /// MACs, addresses and nodes the boot must show.
    pub fn for_host(
        loaded: &forja::profile::Loaded,
        work: &Path,
        disk_bytes: u64,
        build: Option<&Path>,
    ) -> Result<Self> {
        let mut expected_first = Expected::from_profile(loaded, BootKind::First);
        expected_first.disk_bytes = Some(disk_bytes);
        std::fs::create_dir_all(work)?;
        let secure_boot_vars = match &loaded.profile.boot.firmware.secure_boot_keys {
            Some(dir) => {
                let vars = work.join("secure-boot.vars.fd");
                qemu::enrolled_vars(&loaded.resolve(dir), &vars)?;
                Some(vars)
            }
            None => None,
        };
        expected_first.secure_boot = secure_boot_vars.is_some();
        let lock = build.map(|b| b.join("nodes.lock")).filter(|p| p.exists());
        let nodes_lock = lock.as_deref();
        if let Some(b) = build {
            let plan = forja::plan::Plan::load(&b.join("plan.json"))?;
            expected_first.kernel_cmdline = Some(plan.built()?.kernel_cmdline.clone());
        }
        if let Some(p) = nodes_lock {
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
            .context("the boot proof needs an IPv4 management address")?;
        let std::net::IpAddr::V4(ip) = cidr.addr else {
            bail!("IPv4 management address needed")
        };
        let net = std::net::Ipv4Addr::from(u32::from(ip) & u32::from(mask));
        Ok(BootProof {
            work: work.to_owned(),
            disk_bytes,
            secure_boot_vars,
            expected_first,
            expected_again,
            mgmt_mac: m.mac.to_string(),
            vm_mac: loaded.profile.network.vm.mac.to_string(),
            subnet: format!("{net}/{}", cidr.prefix),
            // slirp needs a host address inside the subnet: the profile's gateway, else the first address.
            gateway: m
                .gateway
                .map(|g| g.to_string())
                .unwrap_or_else(|| std::net::Ipv4Addr::from(u32::from(net) + 1).to_string()),
            mgmt_ip: ip.to_string(),
        })
    }

    /// A device whose disk is a qcow2 overlay of `base` (raw), enlarged to `disk_bytes`.
    pub fn device(&self, name: &'static str, base: &Path) -> Result<Device> {
        let d = Device {
            name,
            disk: self.work.join(format!("{name}.qcow2")),
            tpm_dir: self.work.join(format!("{name}.tpm")),
        };
        qemu::overlay_disk(base, &d.disk, self.disk_bytes)?;
        Ok(d)
    }

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
        c.secure_boot_vars = self.secure_boot_vars.clone();
        c
    }

    /// What a boot of `kind` must report (to adjust, e.g. for an update's slot, before [`Self::report_boot_as`]).
    pub fn expected(&self, kind: BootKind) -> Expected {
        match kind {
            BootKind::First => self.expected_first.clone(),
            BootKind::Again => self.expected_again.clone(),
        }
    }

    /// Boots until the report, probes the management address meanwhile, waits for the power-off.
    pub fn report_boot(
        &self,
        run: &str,
        dev: &Device,
        kind: BootKind,
        t: &mut Timings,
    ) -> Result<(Report, Vec<Failure>)> {
        let (r, f, _) = self.report_boot_as(
            run,
            dev,
            &self.expected(kind),
            &[],
            Duration::from_secs(120),
            t,
        )?;
        Ok((r, f))
    }

    /// [`Self::report_boot`] against `expected`, with `extra` QEMU arguments (another disk), waiting up to
    /// `exit_wait` after the report for the power-off; also returns the whole console.
    pub fn report_boot_as(
        &self,
        run: &str,
        dev: &Device,
        expected: &Expected,
        extra: &[String],
        exit_wait: Duration,
        t: &mut Timings,
    ) -> Result<(Report, Vec<Failure>, String)> {
        let tpm = Swtpm::start(&dev.tpm_dir, &self.work.join(format!("{run}.swtpm.sock")))?;
        let (p_closed, p_ssh) = (qemu::free_port()?, qemu::free_port()?);
        let fwd = [
            (p_closed, self.mgmt_ip.clone(), CLOSED_PORT),
            (p_ssh, self.mgmt_ip.clone(), 22),
        ];
        let mut cfg = self.vm_config(run, dev, &tpm, &fwd);
        cfg.extra.extend(extra.iter().cloned());
        cfg.timeout += exit_wait;
        let mut vm = Vm::start(&cfg)?;
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
        eprintln!(
            "{}: {run}: probe TCP {CLOSED_PORT}: {closed}; probe TCP 22: {ssh}",
            t.label
        );
        let r = report::parse_console(&line)
            .with_context(|| format!("{run}: {}", vm.serial.display()))?;
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
        let st = vm.wait_exit(exit_wait)?;
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
            vm.console(),
        ))
    }

    /// Boots `dev` (with `extra` QEMU arguments) and waits, up to `wait`, for QEMU to exit: a power-off or, with
    /// `-no-reboot`, a reboot. Returns the exit status and the console.
    pub fn boot_until_exit(
        &self,
        run: &str,
        dev: &Device,
        extra: &[String],
        wait: Duration,
        t: &mut Timings,
    ) -> Result<(std::process::ExitStatus, String)> {
        let tpm = Swtpm::start(&dev.tpm_dir, &self.work.join(format!("{run}.swtpm.sock")))?;
        let mut cfg = self.vm_config(run, dev, &tpm, &[]);
        cfg.extra.extend(extra.iter().cloned());
        cfg.timeout = wait + Duration::from_secs(30);
        let mut vm = Vm::start(&cfg)?;
        let start = Instant::now();
        let st = vm.wait_exit(wait)?;
        t.add(&format!("{run}: until QEMU exited"), start.elapsed());
        Ok((st, vm.console()))
    }

    /// Boots with a fresh TPM: must stop at the unlock prompt.
    pub fn fresh_tpm_boot(&self, run: &str, dev: &Device, t: &mut Timings) -> Result<Vec<Failure>> {
        let fresh = self.work.join(format!("{run}.tpm"));
        let _ = std::fs::remove_dir_all(&fresh);
        self.prompt_boot(run, dev, &fresh, true, "with a fresh TPM", t)
    }

    /// Boots the device's own TPM with Secure Boot off (plain OVMF, stock vars): PCR 7 differs, so the TPM must
    /// refuse the key and the console must stop at the unlock prompt.
    pub fn secure_boot_off_boot(
        &self,
        run: &str,
        dev: &Device,
        t: &mut Timings,
    ) -> Result<Vec<Failure>> {
        self.prompt_boot(run, dev, &dev.tpm_dir, false, "with Secure Boot off", t)
    }

    fn prompt_boot(
        &self,
        run: &str,
        dev: &Device,
        tpm_dir: &Path,
        secure: bool,
        how: &str,
        t: &mut Timings,
    ) -> Result<Vec<Failure>> {
        let tpm = Swtpm::start(tpm_dir, &self.work.join(format!("{run}.swtpm.sock")))?;
        let device = Device {
            name: dev.name,
            disk: dev.disk.clone(),
            tpm_dir: tpm_dir.to_owned(),
        };
        let mut cfg = self.vm_config(run, &device, &tpm, &[]);
        if !secure {
            cfg.secure_boot_vars = None;
        }
        let mut vm = Vm::start(&cfg)?;
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
                    "{run}: {how} the host booted to the report: vmstore unlocked silently"
                ),
            }],
            Ok(l) => {
                eprintln!("{}: {run}: prompt seen: {}", t.label, l.trim());
                vec![]
            }
            Err(e) => vec![Failure {
                check: "vmstore",
                message: format!(
                    "{run}: no unlock prompt {how} ({e}); console tail:\n{}",
                    vm.console_tail(20)
                ),
            }],
        })
    }

    /// Boots `disk` (a qcow2) under Secure Boot and expects it to stop: the console must show one of `expect`
    /// (firmware refusal, verity error) and never the report or multi-user.
    pub fn refused_boot(
        &self,
        run: &str,
        disk: &Path,
        expect: &[&str],
        t: &mut Timings,
    ) -> Result<Vec<Failure>> {
        let mut cfg = VmConfig::new(run, &self.work, disk);
        cfg.secure_boot_vars = self.secure_boot_vars.clone();
        cfg.timeout = PROMPT_TIMEOUT;
        if disk.extension().is_some_and(|e| e == "raw") {
            cfg.disk_format = "raw".into();
        }
        let mut vm = Vm::start(&cfg)?;
        let start = Instant::now();
        let mut seen: Vec<&str> = expect.to_vec();
        seen.extend([
            report::MARKER,
            "Reached target multi-user",
            "Reached target Multi-User",
        ]);
        let res = vm.wait_for_line(PROMPT_TIMEOUT, &seen);
        vm.kill();
        t.add(&format!("{run}: boot to the refusal"), start.elapsed());
        Ok(match res {
            Ok(l) if expect.iter().any(|e| l.contains(e)) => {
                eprintln!("{}: {run}: refused: {}", t.label, l.trim());
                vec![]
            }
            Ok(l) => vec![Failure {
                check: "boot",
                message: format!("{run}: booted on ({}) instead of being refused", l.trim()),
            }],
            Err(e) => vec![Failure {
                check: "boot",
                message: format!(
                    "{run}: no refusal seen ({e}); console tail:\n{}",
                    vm.console_tail(20)
                ),
            }],
        })
    }
}

/// Ends a proof: every failure listed, or Ok.
pub fn verdict(what: &str, failures: &[Failure], work: &Path) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = failures.iter().map(|f| format!("  - {f}")).collect();
    bail!(
        "{what}: {} check(s) failed (logs in {}):\n{}",
        failures.len(),
        work.display(),
        list.join("\n")
    )
}

/// After a pass only the consoles and boot reports are worth keeping: the disks, sticks and the build
/// (~8 GB) would otherwise stay in `target/tmp` for the rest of the suite (a clean-clone CI run has little
/// disk to spare). A failing run keeps everything for the post-mortem.
pub fn keep_only_logs(work: &Path) {
    for entry in std::fs::read_dir(work).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else if !(name.ends_with(".log") || name.ends_with(".json")) {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

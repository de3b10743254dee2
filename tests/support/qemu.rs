//! A small harness that boots a forja disk image the way DESIGN.md says works on this machine kind: QEMU with
//! `-accel tcg -cpu max` (no usable KVM), q35 + OVMF with a fresh copy of the vars file for every boot, the disk
//! as virtio with `bootindex=0` (so OVMF never falls into its shell), swtpm as the TPM2 (socket, own state folder),
//! two `virtio-net-pci` NICs with the profile's MACs, and the serial console written to a file that the test reads.
//!
//! The management NIC is a user-mode (slirp) network whose subnet is the profile's management subnet and whose
//! host address is the profile's gateway, so the guest's static address and default route just work. Ports on the
//! guest's management address are forwarded to 127.0.0.1 for [`probe_tcp`]. Both NICs use `restrict=on`: nothing
//! the guest sends leaves the host.
//!
//! ## Drop versus reject through slirp
//! With `hostfwd`, the host-side `connect()` always succeeds: slirp itself listens on 127.0.0.1 and accepts at
//! once, and only then sends a SYN to the guest. What the guest does with that SYN shows up afterwards:
//! - the guest rejects (RST, or a closed port without firewall): slirp closes the accepted socket at once, and
//!   `read()` returns EOF or ECONNRESET within milliseconds → [`Probe::Closed`];
//! - the guest drops: slirp keeps retransmitting its SYN (for 75 s) and the accepted socket stays silent, so
//!   `read()` times out → [`Probe::NoReply`];
//! - the guest accepts (e.g. sshd): the connection is spliced through and a banner arrives → [`Probe::Open`].
//!
//! So the probe is "connect, then wait a few seconds for EOF/reset/data". A refused `connect()` means the
//! forwarding itself is missing (QEMU not running) → [`Probe::Refused`], a harness error rather than a verdict.
//! A port that accepts and never talks would also read as `NoReply`; the report's listening-socket list covers that.

use std::fmt;
use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// OVMF built with Secure Boot (needs SMM and a secure pflash).
pub const OVMF_CODE_SECBOOT: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
/// `virt-fw-vars` from PyPI's virt-firmware, in the tests' venv (ci/install-deps).
pub const VIRT_FW_VARS: &str = "/opt/forja-test/redfish-venv/bin/virt-fw-vars";

/// A copy of OVMF's vars with only the site's PK, KEK and db enrolled and Secure Boot on (user mode, enforcing).
/// `keys` is a folder `forja keygen --secure-boot` wrote.
pub fn enrolled_vars(keys: &Path, out: &Path) -> Result<()> {
    let owner = fs::read_to_string(keys.join("owner.guid"))?
        .trim()
        .to_owned();
    let o = Command::new(VIRT_FW_VARS)
        .args(["-i", OVMF_VARS, "--set-pk", &owner])
        .arg(keys.join("PK.crt"))
        .args(["--add-kek", &owner])
        .arg(keys.join("KEK.crt"))
        .args(["--add-db", &owner])
        .arg(keys.join("db.crt"))
        .arg("--sb")
        .arg("-o")
        .arg(out)
        .output()
        .with_context(|| format!("running {VIRT_FW_VARS} (ci/install-deps installs it)"))?;
    if !o.status.success() {
        bail!("virt-fw-vars: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(())
}

/// A swtpm TPM2 serving one QEMU through a unix socket; killed when dropped. The state folder outlives it, so a
/// second boot with the same folder sees the same TPM (and a fresh folder is a fresh TPM).
#[derive(Debug)]
pub struct Swtpm {
    child: Child,
    pub socket: PathBuf,
}

impl Swtpm {
    pub fn start(state_dir: &Path, socket: &Path) -> Result<Swtpm> {
        fs::create_dir_all(state_dir)?;
        let _ = fs::remove_file(socket);
        let log = fs::File::create(state_dir.with_extension("swtpm.log"))?;
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(format!("dir={}", state_dir.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", socket.display()))
            .arg("--terminate")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting swtpm (package swtpm)")?;
        let mut t = Swtpm {
            child,
            socket: socket.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if let Some(st) = t.child.try_wait()? {
                bail!(
                    "swtpm exited at start ({st}); see {}",
                    state_dir.with_extension("swtpm.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!("swtpm did not create {} within 10 s", socket.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(t)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One NIC: a QEMU `-netdev` (without `id=`) and the MAC the guest sees.
#[derive(Debug, Clone)]
pub struct Nic {
    pub netdev: String,
    pub mac: String,
}

impl Nic {
    /// A slirp network on `subnet` (e.g. `192.0.2.0/24`) where slirp answers as `gateway`, with guest ports
    /// forwarded from 127.0.0.1: `(host_port, guest_addr, guest_port)`.
    pub fn user(mac: &str, subnet: &str, gateway: &str, forwards: &[(u16, String, u16)]) -> Nic {
        let mut netdev = format!("user,restrict=on,net={subnet},host={gateway}");
        for (hp, ga, gp) in forwards {
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{hp}-{ga}:{gp}"));
        }
        Nic {
            netdev,
            mac: mac.to_owned(),
        }
    }

    /// A NIC on an isolated slirp network (the guest bridges it; the host never talks to it).
    pub fn isolated(mac: &str) -> Nic {
        Nic {
            netdev: "user,restrict=on".into(),
            mac: mac.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Short name used for the files in `workdir` (`NAME.serial.log`, `NAME.vars.fd`).
    pub name: String,
    pub workdir: PathBuf,
    /// The boot disk (qcow2, see [`overlay_disk`]).
    pub disk: PathBuf,
    pub nics: Vec<Nic>,
    /// The swtpm socket, if the VM has a TPM.
    pub tpm_socket: Option<PathBuf>,
    pub memory_mb: u32,
    pub cpus: u32,
    /// QEMU is killed when this runs out.
    pub timeout: Duration,
    /// The boot disk's format (`qcow2` unless a test says otherwise).
    pub disk_format: String,
    /// Further QEMU arguments (more disks, a network-boot NIC), appended last.
    pub extra: Vec<String>,
    /// Give the disk `bootindex=0` (off when the VM boots from something else, e.g. its NIC).
    pub boot_from_disk: bool,
    /// Boot OVMF's Secure Boot build with a copy of these vars (see [`enrolled_vars`]); `None`: plain OVMF,
    /// stock vars (Secure Boot off).
    pub secure_boot_vars: Option<PathBuf>,
}

impl VmConfig {
    pub fn new(name: &str, workdir: &Path, disk: &Path) -> VmConfig {
        VmConfig {
            name: name.to_owned(),
            workdir: workdir.to_owned(),
            disk: disk.to_owned(),
            nics: Vec::new(),
            tpm_socket: None,
            memory_mb: 3072,
            cpus: 2,
            timeout: Duration::from_secs(900),
            disk_format: "qcow2".into(),
            extra: Vec::new(),
            boot_from_disk: true,
            secure_boot_vars: None,
        }
    }

    /// The QEMU command line (without the program).
    pub fn args(&self, vars: &Path, serial: &Path) -> Vec<String> {
        let secure = self.secure_boot_vars.is_some();
        let mut a: Vec<String> = [
            "-machine",
            if secure { "q35,smm=on" } else { "q35" },
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-nodefaults",
            "-no-reboot",
            "-display",
            "none",
            "-monitor",
            "none",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend([
            "-m".into(),
            self.memory_mb.to_string(),
            "-smp".into(),
            self.cpus.to_string(),
        ]);
        if secure {
            // Without SMM and a secure pflash the Secure Boot build of OVMF prints nothing and never boots.
            a.extend([
                "-global".into(),
                "driver=cfi.pflash01,property=secure,value=on".into(),
            ]);
        }
        let code = if secure { OVMF_CODE_SECBOOT } else { OVMF_CODE };
        a.extend([
            "-drive".into(),
            format!("if=pflash,format=raw,unit=0,readonly=on,file={code}"),
            "-drive".into(),
            format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
            "-drive".into(),
            format!(
                "file={},format={},if=none,id=disk0,discard=unmap",
                self.disk.display(),
                self.disk_format
            ),
            "-device".into(),
            if self.boot_from_disk {
                "virtio-blk-pci,drive=disk0,bootindex=0".into()
            } else {
                "virtio-blk-pci,drive=disk0".into()
            },
        ]);
        for (i, n) in self.nics.iter().enumerate() {
            a.extend([
                "-netdev".into(),
                format!("{},id=net{i}", n.netdev),
                "-device".into(),
                format!("virtio-net-pci,netdev=net{i},mac={}", n.mac),
            ]);
        }
        if let Some(s) = &self.tpm_socket {
            a.extend([
                "-chardev".into(),
                format!("socket,id=chrtpm,path={}", s.display()),
                "-tpmdev".into(),
                "emulator,id=tpm0,chardev=chrtpm".into(),
                "-device".into(),
                "tpm-tis,tpmdev=tpm0".into(),
            ]);
        }
        a.extend(["-serial".into(), format!("file:{}", serial.display())]);
        a.extend(self.extra.iter().cloned());
        a
    }
}

/// A running QEMU; killed when dropped.
#[derive(Debug)]
pub struct Vm {
    child: Child,
    pub serial: PathBuf,
    pub name: String,
    started: Instant,
    deadline: Instant,
}

/// How a wait ended without its match.
#[derive(Debug)]
pub enum WaitError {
    Exited(ExitStatus),
    Timeout(Duration),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Exited(s) => write!(f, "QEMU exited ({s})"),
            WaitError::Timeout(d) => write!(f, "timed out after {} s", d.as_secs()),
        }
    }
}

impl Vm {
    pub fn start(cfg: &VmConfig) -> Result<Vm> {
        fs::create_dir_all(&cfg.workdir)?;
        let vars = cfg.workdir.join(format!("{}.vars.fd", cfg.name));
        let template = cfg
            .secure_boot_vars
            .clone()
            .unwrap_or_else(|| PathBuf::from(OVMF_VARS));
        fs::copy(&template, &vars)
            .with_context(|| format!("copying {} (package ovmf)", template.display()))?;
        let serial = cfg.workdir.join(format!("{}.serial.log", cfg.name));
        let _ = fs::remove_file(&serial);
        let qlog = fs::File::create(cfg.workdir.join(format!("{}.qemu.log", cfg.name)))?;
        let child = Command::new("qemu-system-x86_64")
            .args(cfg.args(&vars, &serial))
            .stdin(Stdio::null())
            .stdout(qlog.try_clone()?)
            .stderr(qlog)
            .spawn()
            .context("starting qemu-system-x86_64 (package qemu-system-x86)")?;
        let now = Instant::now();
        Ok(Vm {
            child,
            serial,
            name: cfg.name.clone(),
            started: now,
            deadline: now + cfg.timeout,
        })
    }

    /// What QEMU itself printed (e.g. `terminating on signal 15 from pid N` when something else killed it).
    pub fn qemu_log(&self) -> String {
        fs::read_to_string(
            self.serial
                .with_file_name(format!("{}.qemu.log", self.name)),
        )
        .unwrap_or_default()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The console output so far (lossy UTF-8).
    pub fn console(&self) -> String {
        fs::read(&self.serial)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the console, for error messages.
    pub fn console_tail(&self, n: usize) -> String {
        let c = self.console();
        let lines: Vec<&str> = c.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Polls the console until `find` returns something, QEMU exits, `timeout` passes or the VM's own deadline
    /// passes (then QEMU is killed).
    pub fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut find: impl FnMut(&str) -> Option<T>,
    ) -> std::result::Result<T, WaitError> {
        let until = (Instant::now() + timeout).min(self.deadline);
        loop {
            if let Some(t) = find(&self.console()) {
                return Ok(t);
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                // One more look: the line may have landed just before the exit.
                return find(&self.console()).ok_or(WaitError::Exited(st));
            }
            if Instant::now() >= until {
                if Instant::now() >= self.deadline {
                    self.kill();
                }
                return Err(WaitError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Waits for a complete console line (newline-terminated) containing any of `needles`; returns that line.
    /// The last line may still be being written while the log is read: a long report line was once taken
    /// half-written, so an unterminated line never counts.
    pub fn wait_for_line(
        &mut self,
        timeout: Duration,
        needles: &[&str],
    ) -> std::result::Result<String, WaitError> {
        self.wait_for(timeout, |c| {
            c.split_inclusive('\n')
                .filter_map(|l| l.strip_suffix('\n'))
                .find(|l| needles.iter().any(|n| l.contains(n)))
                .map(|l| l.trim_end_matches('\r').to_owned())
        })
    }

    /// Waits for QEMU to exit (the guest powers off; `-no-reboot` turns a reboot into an exit too).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let until = (Instant::now() + timeout).min(self.deadline);
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if Instant::now() >= until {
                self.kill();
                bail!(
                    "{}: QEMU still running after {} s: killed",
                    self.name,
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A qcow2 overlay over the built raw image with a larger virtual size, so every device gets its own writable
/// disk (the build's `disk.raw` is never written) and first boot has room to grow vmstore.
pub fn overlay_disk(base: &Path, out: &Path, size_bytes: u64) -> Result<()> {
    let _ = fs::remove_file(out);
    let base = base
        .canonicalize()
        .with_context(|| format!("disk image {}", base.display()))?;
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&base)
        .arg(out)
        .arg(size_bytes.to_string())
        .status()
        .context("running qemu-img (package qemu-utils)")?;
    if !st.success() {
        bail!(
            "qemu-img create {} over {} failed ({st})",
            out.display(),
            base.display()
        );
    }
    Ok(())
}

/// A TCP port on 127.0.0.1 that is free right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What a TCP connection to a forwarded guest port saw (module docs: drop versus reject through slirp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `connect()` refused: nothing forwards this port (a harness problem, not a guest answer).
    Refused,
    /// Accepted, then closed or reset quickly: the guest answered with a reset (reject, or no firewall).
    Closed(Duration),
    /// Accepted, then silence until the timeout: the guest dropped the SYN.
    NoReply(Duration),
    /// The guest's service answered (first bytes, lossy).
    Open(String),
    /// Any other socket error.
    Error(String),
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Refused => {
                f.write_str("connection refused on the host side (no forwarding: is QEMU up?)")
            }
            Probe::Closed(d) => write!(
                f,
                "reset/closed after {} ms (the guest rejected)",
                d.as_millis()
            ),
            Probe::NoReply(d) => write!(f, "no reply for {} s (dropped)", d.as_secs()),
            Probe::Open(b) => write!(f, "open, the service answered {b:?}"),
            Probe::Error(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// Connects to `addr` and waits up to `wait` for EOF, a reset or data.
pub fn probe_tcp(addr: SocketAddr, wait: Duration) -> Probe {
    let start = Instant::now();
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Probe::Refused,
        Err(e) => return Probe::Error(e.to_string()),
    };
    if let Err(e) = s.set_read_timeout(Some(wait)) {
        return Probe::Error(e.to_string());
    }
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => Probe::Closed(start.elapsed()),
        Ok(n) => Probe::Open(String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()),
        Err(e) => match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                Probe::NoReply(start.elapsed())
            }
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                Probe::Closed(start.elapsed())
            }
            _ => Probe::Error(e.to_string()),
        },
    }
}

/// Whether the host has what the boot test runs: a reason when it does not.
pub fn missing_tools() -> Option<String> {
    let mut missing = Vec::new();
    for (tool, pkg) in [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("qemu-img", "qemu-utils"),
        ("swtpm", "swtpm"),
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            missing.push(format!("{tool} ({pkg})"));
        }
    }
    for f in [OVMF_CODE, OVMF_VARS, OVMF_CODE_SECBOOT] {
        if !Path::new(f).is_file() {
            missing.push(format!("{f} (ovmf)"));
        }
    }
    if !Path::new(VIRT_FW_VARS).is_file() {
        missing.push(format!("{VIRT_FW_VARS} (PyPI virt-firmware)"));
    }
    (!missing.is_empty()).then(|| format!("missing: {} — run ci/install-deps", missing.join(", ")))
}

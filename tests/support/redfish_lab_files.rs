//! The Redfish lab's prerequisites and the files it writes: what must be installed, libvirtd's private
//! configuration and mount namespace, the test domain's XML, sushy-emulator's configuration.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where CI installs sushy-tools and virt-firmware (`ci/install-deps`); `FORJA_TEST_VENV` overrides it.
pub const DEFAULT_VENV: &str = "/opt/forja-test/redfish-venv";
pub const OVMF_CODE_SB: &str = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
pub const OVMF_VARS_MS: &str = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd";
pub const BMC_USER: &str = "forja-bmc";
pub const BMC_PASSWORD: &str = "Bmc-Test-Pw-2026!";

pub fn venv() -> PathBuf {
    std::env::var_os("FORJA_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_VENV))
}

/// Everything the lab needs that may be missing, named with where it comes from; empty when all is there.
pub fn missing() -> Vec<String> {
    missing_with(&venv())
}

/// [`missing`] with the venv at `venv`.
pub fn missing_with(venv: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false)
            || Path::new("/usr/sbin").join(tool).is_file()
    };
    for (tool, pkg) in [
        ("libvirtd", "libvirt-daemon"),
        ("virtlogd", "libvirt-daemon"),
        ("virsh", "libvirt-clients"),
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("qemu-img", "qemu-utils"),
        ("unshare", "util-linux"),
        ("setsid", "util-linux"),
    ] {
        if !on_path(tool) {
            out.push(format!("{tool} (package {pkg})"));
        }
    }
    if !Path::new("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so")
        .exists()
    {
        out.push("libvirt's QEMU driver (package libvirt-daemon-driver-qemu)".into());
    }
    for f in [OVMF_CODE_SB, OVMF_VARS, OVMF_VARS_MS] {
        if !Path::new(f).is_file() {
            out.push(format!("{f} (package ovmf)"));
        }
    }
    let user = Command::new("getent")
        .args(["passwd", "libvirt-qemu"])
        .output();
    if !user.is_ok_and(|o| o.status.success()) {
        out.push("the user libvirt-qemu (ci/install-deps creates it)".into());
    }
    if real_uid() != 0 {
        out.push("root (libvirtd and mount namespaces need it)".into());
    }
    let py = venv.join("bin/python");
    let probe = Command::new(&py)
        .args([
            "-c",
            "import sushy_tools, libvirt, virt.firmware, bcrypt, cryptography",
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        out.push(format!(
            "{} with sushy-tools, virt-firmware and python3-libvirt (ci/install-deps makes it; FORJA_TEST_VENV overrides the path)",
            py.display()
        ));
    }
    out
}

fn real_uid() -> u32 {
    // The owner of /proc/self is the process's user id.
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

pub fn write_libvirt_config(dir: &Path) {
    // A private daemon: root-only sockets, no polkit (not installed), logs in the lab's folder.
    fs::write(
        dir.join("etc/libvirtd.conf"),
        "unix_sock_group = \"root\"\nunix_sock_ro_perms = \"0700\"\nunix_sock_rw_perms = \"0700\"\n\
         auth_unix_ro = \"none\"\nauth_unix_rw = \"none\"\nlog_outputs = \"3:file:/var/log/libvirt/libvirtd.log\"\n",
    )
    .unwrap();
    fs::write(
        dir.join("etc/virtlogd.conf"),
        "log_outputs = \"3:file:/var/log/libvirt/virtlogd.log\"\n",
    )
    .unwrap();
    // QEMU runs as root on the lab's own files: no chown, no AppArmor.
    fs::write(
        dir.join("etc/qemu.conf"),
        "user = \"root\"\ngroup = \"root\"\nsecurity_driver = \"none\"\n",
    )
    .unwrap();
}

/// `setsid unshare --mount`: a new session (its pid is the process group to stop) and a private mount namespace
/// where the lab's folders stand in for libvirt's. The shell waits for both daemons, so it lives as long as they.
pub fn spawn_daemons(dir: &Path, caps: &Path) -> Child {
    for d in [
        "/etc/libvirt",
        "/run/libvirt",
        "/var/lib/libvirt",
        "/var/cache/libvirt",
        "/var/log/libvirt",
    ] {
        fs::create_dir_all(d).unwrap(); // mount points only; nothing is written there
    }
    let script = r#"set -e
mount --bind "$1/etc" /etc/libvirt
mount --bind "$1/run" /run/libvirt
mount --bind "$1/lib" /var/lib/libvirt
mount --bind "$2" /var/cache/libvirt
mount --bind "$1/log" /var/log/libvirt
virtlogd -f /etc/libvirt/virtlogd.conf -p /run/libvirt/virtlogd.pid &
libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid &
wait"#;
    let out = fs::File::create(dir.join("log/daemons.out")).unwrap();
    Command::new("setsid")
        .args([
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "ns",
        ])
        .arg(dir)
        .arg(caps)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("setsid unshare (util-linux)")
}

/// A forja-like host as a TCG domain: q35, OVMF with explicit loader and nvram (firmware autoselection keeps a
/// stale nvram when Secure Boot changes), Secure Boot off, boot order network, CD, disk (the unlocked state
/// `apply` must fix). Devices: the SATA system disk, a virtio data disk, an empty CD-ROM, two NICs (user-mode
/// networking: no bridge, no dnsmasq).
pub fn domain_xml(dir: &Path, name: &str, uuid: &str, system: &(PathBuf, &str)) -> String {
    let d = dir.display();
    let (sys, fmt) = (system.0.display(), system.1);
    format!(
        r#"<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' secure='no' type='pflash'>{OVMF_CODE_SB}</loader>
    <nvram template='{OVMF_VARS}'>{d}/nvram/{name}_VARS.fd</nvram>
    <boot dev='network'/>
    <boot dev='cdrom'/>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/><smm state='on'/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{sys}'/>
      <target dev='sda' bus='sata'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{d}/images/{name}-data.qcow2'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='sdc' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='user'><mac address='52:54:00:16:16:01'/><model type='virtio'/></interface>
    <interface type='user'><mac address='52:54:00:16:16:02'/><model type='e1000e'/></interface>
    <serial type='file'><source path='{d}/console/{name}-serial.log'/><target port='0'/></serial>
  </devices>
</domain>
"#
    )
}

/// sushy-emulator's configuration (a Python file). Debian's OVMF file names are required: sushy's defaults do
/// not exist on Debian, and it decides "Secure Boot on" by the nvram template's name.
pub fn sushy_config(dir: &Path, uri: &str, port: u16, uuid: &str) -> String {
    let d = dir.display();
    format!(
        r#"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = {port}
SUSHY_EMULATOR_SSL_CERT = '{d}/bmc/server.pem'
SUSHY_EMULATOR_SSL_KEY = '{d}/bmc/server.key'
SUSHY_EMULATOR_AUTH_FILE = '{d}/bmc/htpasswd'
SUSHY_EMULATOR_LIBVIRT_URI = '{uri}'
SUSHY_EMULATOR_STATE_DIR = '{d}/bmc/state-{uuid}'
SUSHY_EMULATOR_ALLOWED_INSTANCES = ['{uuid}']
SUSHY_EMULATOR_FEATURE_SET = 'full'
SUSHY_EMULATOR_IGNORE_BOOT_DEVICE = False
SUSHY_EMULATOR_STORAGE_POOL = 'default'
SUSHY_EMULATOR_BOOT_LOADER_MAP = {{'UEFI': {{'x86_64': '{OVMF_CODE_SB}'}}, 'Legacy': {{'x86_64': None}}}}
SUSHY_EMULATOR_SECURE_BOOT_ENABLED_NVRAM = '{OVMF_VARS_MS}'
SUSHY_EMULATOR_SECURE_BOOT_DISABLED_NVRAM = '{OVMF_VARS}'
SUSHY_EMULATOR_VMEDIA_VERIFY_SSL = False
"#
    )
}

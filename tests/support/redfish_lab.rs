//! A virtual BMC in front of a real VM, for `tests/firmware_redfish.rs`: a private libvirtd, test domains, and a
//! Redfish service per domain — OpenStack's sushy-emulator as it ships, or the strict stand-in
//! (`tests/support/redfish_standin.py`) that adds what sushy lacks.
//!
//! libvirtd runs without systemd: `libvirtd` and `virtlogd` in the foreground inside a private mount namespace
//! (`unshare --mount`), where the lab's own folders are bind-mounted over `/etc/libvirt`, `/run/libvirt`,
//! `/var/lib/libvirt`, `/var/cache/libvirt` and `/var/log/libvirt`; clients reach it at
//! `qemu:///system?socket=STATE/run/libvirt-sock`. Nothing outside the lab's folder is written, except the
//! QEMU capabilities cache shared by every run (`target/tmp/libvirt-caps-cache`, 8–12 s when cold).
//!
//! Teardown ([`Drop`], so also when a test panics), in the order that leaves nothing behind: the BMC process
//! groups, the running domains (QEMU is daemonised by libvirt and outlives it), libvirtd, virtlogd, the namespace
//! shell's process group. Processes are stopped by the ids this harness recorded, never by name.
//! `FORJA_KEEP_LAB=1` keeps the folder (logs, domain XML, nvram) for a post-mortem.

#![allow(dead_code)]

#[path = "redfish_lab_files.rs"]
mod files;

pub use files::{BMC_PASSWORD, BMC_USER, OVMF_VARS_MS, missing, missing_with, venv};
use files::{domain_xml, spawn_daemons, sushy_config, write_libvirt_config};

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which Redfish service fronts a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// sushy-emulator, unmodified.
    Sushy,
    /// sushy-emulator plus `redfish_standin.py`.
    StandIn,
}

/// One domain and the BMC in front of it.
#[derive(Debug)]
pub struct Bmc {
    pub flavour: Flavour,
    pub domain: String,
    pub uuid: String,
    pub url: String,
    child: Child,
}

#[derive(Debug)]
pub struct Lab {
    pub dir: PathBuf,
    pub uri: String,
    pub ca: PathBuf,
    ns: Child,
    pub bmcs: Vec<Bmc>,
    pub timings: Vec<(String, Duration)>,
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_until(timeout: Duration, what: &str, mut ready: impl FnMut() -> Result<bool, String>) {
    let start = Instant::now();
    loop {
        match ready() {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => panic!("{what}: {e}"),
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: not ready after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal_group(pgid: u32, sig: i32) {
    // A process group id is the leader's pid; negative addresses the whole group.
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stderr(Stdio::null())
        .status();
}

fn stop_child(child: &mut Child, grace: Duration) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    signal_group(child.id(), 15);
    let start = Instant::now();
    while start.elapsed() < grace {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal_group(child.id(), 9);
    let _ = child.wait();
}

impl Lab {
    /// Starts libvirtd in its namespace; panics naming what is missing if the machine lacks a prerequisite.
    pub fn start() -> Lab {
        let missing = missing();
        assert!(
            missing.is_empty(),
            "the Redfish lab cannot run here; missing: {} — run ci/install-deps (as root)",
            missing.join("; ")
        );
        let dir = tempfile::Builder::new()
            .prefix("forja-redfish-lab-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        for d in [
            "etc", "run", "lib", "log", "images", "nvram", "console", "pool", "tmp", "bmc",
        ] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        let caps = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libvirt-caps-cache");
        fs::create_dir_all(&caps).unwrap();
        write_libvirt_config(&dir);
        let t = Instant::now();
        let ns = spawn_daemons(&dir, &caps);
        let uri = format!("qemu:///system?socket={}/run/libvirt-sock", dir.display());
        let mut lab = Lab {
            ca: dir.join("bmc/ca.pem"),
            dir,
            uri,
            ns,
            bmcs: Vec::new(),
            timings: Vec::new(),
        };
        lab.wait_for_libvirtd();
        lab.timings.push(("libvirtd ready".into(), t.elapsed()));
        lab.virsh(&[
            "pool-define-as",
            "default",
            "dir",
            "--target",
            &lab.path("pool"),
        ]);
        lab.virsh(&["pool-start", "default"]);
        lab.write_pki();
        lab
    }

    pub fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }

    fn wait_for_libvirtd(&mut self) {
        let sock = self.dir.join("run/libvirt-sock");
        let uri = self.uri.clone();
        let log = self.dir.join("log");
        let ns = &mut self.ns;
        wait_until(Duration::from_secs(60), "libvirtd", || {
            if let Some(st) = ns.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "the namespace shell exited ({st}); {}",
                    fs::read_to_string(log.join("daemons.out")).unwrap_or_default()
                ));
            }
            Ok(sock.exists()
                && Command::new("virsh")
                    .args(["-c", &uri, "-q", "version"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()))
        });
    }

    /// `virsh -c URI ARGS`: its standard output; panics with its error.
    pub fn virsh(&self, args: &[&str]) -> String {
        run(
            Command::new("virsh")
                .arg("-c")
                .arg(&self.uri)
                .arg("-q")
                .args(args),
            &format!("virsh {}", args.join(" ")),
        )
    }

    /// The persistent definition of a domain, as libvirt holds it.
    pub fn inactive_xml(&self, domain: &str) -> String {
        self.virsh(&["dumpxml", "--inactive", domain])
    }

    fn write_pki(&self) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "forja test BMC CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        fs::write(&self.ca, ca_cert.pem()).unwrap();
        fs::write(self.dir.join("bmc/server.pem"), leaf.pem()).unwrap();
        fs::write(self.dir.join("bmc/server.key"), key.serialize_pem()).unwrap();
        // sushy accepts bcrypt entries only; cost 4 because it checks every request.
        let line = run(
            Command::new(venv().join("bin/python")).args([
                "-c",
                "import sys, bcrypt; print(sys.argv[1] + ':' + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt(rounds=4)).decode())",
                BMC_USER,
                BMC_PASSWORD,
            ]),
            "making the htpasswd file",
        );
        fs::write(self.dir.join("bmc/htpasswd"), line).unwrap();
    }

    /// Defines a test domain (`uuid` must be unique in the lab) and starts its BMC; returns its index. The system
    /// disk is a blank qcow2, or the raw image `system` (for boot proofs).
    pub fn add(
        &mut self,
        flavour: Flavour,
        domain: &str,
        uuid: &str,
        system: Option<&Path>,
    ) -> usize {
        let qcow2 = |name: &str| {
            let p = self.dir.join(format!("images/{domain}-{name}.qcow2"));
            run(
                Command::new("qemu-img")
                    .args(["create", "-q", "-f", "qcow2"])
                    .arg(&p)
                    .arg("1G"),
                "qemu-img create",
            );
            p
        };
        qcow2("data");
        let system = match system {
            Some(p) => (p.to_owned(), "raw"),
            None => (qcow2("system"), "qcow2"),
        };
        let xml = self.dir.join(format!("{domain}.xml"));
        fs::write(&xml, domain_xml(&self.dir, domain, uuid, &system)).unwrap();
        self.virsh(&["define", &xml.display().to_string()]);
        let t = Instant::now();
        let bmc = self.start_bmc(flavour, domain, uuid);
        self.timings
            .push((format!("{domain}: BMC ready"), t.elapsed()));
        self.bmcs.push(bmc);
        self.bmcs.len() - 1
    }

    fn start_bmc(&self, flavour: Flavour, domain: &str, uuid: &str) -> Bmc {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = self.dir.join(format!("bmc/{domain}.conf"));
        fs::write(&conf, sushy_config(&self.dir, &self.uri, port, uuid)).unwrap();
        let py = venv().join("bin/python");
        let mut cmd = match flavour {
            Flavour::Sushy => Command::new(venv().join("bin/sushy-emulator")),
            Flavour::StandIn => {
                let mut c = Command::new(&py);
                c.arg(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/redfish_standin.py"),
                );
                c
            }
        };
        let log = fs::File::create(self.dir.join(format!("log/bmc-{domain}.log"))).unwrap();
        let child = cmd
            .arg("--config")
            .arg(&conf)
            .env("TMPDIR", self.dir.join("tmp"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the BMC for {domain}: {e}"));
        let url = format!("https://127.0.0.1:{port}");
        let mut bmc = Bmc {
            flavour,
            domain: domain.into(),
            uuid: uuid.into(),
            url,
            child,
        };
        let ca = self.ca.clone();
        let logf = self.dir.join(format!("log/bmc-{domain}.log"));
        let root = format!("{}/redfish/v1/", bmc.url);
        let child = &mut bmc.child;
        wait_until(Duration::from_secs(30), "the BMC", || {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!(
                    "it exited ({st}): {}",
                    fs::read_to_string(&logf).unwrap_or_default()
                ));
            }
            Ok(https_get_ok(&root, &ca))
        });
        bmc
    }

    /// Powers a domain on (through libvirt) and waits for the first serial line for which `decisive` holds;
    /// returns the serial log up to then, or panics with it after `timeout`.
    pub fn boot_until(
        &self,
        domain: &str,
        decisive: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        let serial = self.dir.join(format!("console/{domain}-serial.log"));
        let _ = fs::remove_file(&serial);
        self.virsh(&["start", domain]);
        let start = Instant::now();
        loop {
            // OVMF's lines are ASCII; a loader's screen may not be UTF-8.
            let log = String::from_utf8_lossy(&fs::read(&serial).unwrap_or_default()).into_owned();
            if log.lines().any(&decisive) {
                self.virsh(&["destroy", domain]);
                return log;
            }
            if start.elapsed() > timeout {
                self.virsh(&["destroy", domain]);
                panic!(
                    "{domain}: no decisive line on the serial console within {timeout:?}:\n{log}"
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn bmc(&self, i: usize) -> &Bmc {
        &self.bmcs[i]
    }

    /// The domain's nvram file as libvirt names it now.
    pub fn nvram_path(&self, domain: &str) -> PathBuf {
        let xml = self.inactive_xml(domain);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let nv = doc
            .descendants()
            .find(|n| n.has_tag_name("nvram"))
            .expect("an <nvram>");
        PathBuf::from(nv.text().unwrap().trim())
    }

    /// `virt-fw-vars --print [--verbose]` of a domain's nvram file.
    pub fn nvram_dump(&self, domain: &str, verbose: bool) -> String {
        let p = self.nvram_path(domain);
        let mut cmd = Command::new(venv().join("bin/virt-fw-vars"));
        cmd.arg("-i").arg(&p).arg("--print");
        if verbose {
            cmd.arg("--verbose");
        }
        run(&mut cmd, "virt-fw-vars")
    }
}

fn agent(ca: &Path) -> ureq::Agent {
    use std::sync::Arc;
    let pem = fs::read(ca).unwrap();
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Whether `url` answers 200 over HTTPS with the lab's CA.
fn https_get_ok(url: &str, ca: &Path) -> bool {
    agent(ca).get(url).call().is_ok_and(|r| r.status() == 200)
}

impl Lab {
    /// One Redfish request to BMC `b` with the lab's credentials: status and JSON body (`null` if none).
    pub fn request(
        &self,
        b: usize,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        use base64::Engine;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{BMC_USER}:{BMC_PASSWORD}"));
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.bmc(b).url))
            .header("Authorization", format!("Basic {auth}"))
            .header("Content-Type", "application/json");
        let bytes = body.map(|v| v.to_string().into_bytes()).unwrap_or_default();
        let mut resp = agent(&self.ca).run(req.body(bytes).unwrap()).unwrap();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            resp.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for b in &mut self.bmcs {
            stop_child(&mut b.child, Duration::from_secs(5));
        }
        if self.dir.join("run/libvirt-sock").exists() {
            if let Ok(o) = Command::new("virsh")
                .args(["-c", &self.uri, "-q", "list", "--name"])
                .output()
            {
                for d in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("virsh")
                        .args(["-c", &self.uri, "-q", "destroy", d])
                        .output();
                }
            }
        }
        // QEMU that libvirt could not destroy: its pid files are in the lab's run folder.
        if let Ok(rd) = fs::read_dir(self.dir.join("run/qemu")) {
            for e in rd
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
            {
                if let Ok(pid) = fs::read_to_string(e.path()) {
                    let pid = pid.trim();
                    if fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.contains("qemu"))
                    {
                        let _ = Command::new("kill").args(["-TERM", pid]).status();
                    }
                }
            }
        }
        for (pidfile, wait) in [("run/libvirtd.pid", 10), ("run/virtlogd.pid", 5)] {
            if let Ok(pid) = fs::read_to_string(self.dir.join(pidfile)) {
                let pid = pid.trim().to_owned();
                let _ = Command::new("kill").args(["-TERM", &pid]).status();
                let start = Instant::now();
                while Path::new(&format!("/proc/{pid}")).exists()
                    && start.elapsed() < Duration::from_secs(wait)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        stop_child(&mut self.ns, Duration::from_secs(10));
        if std::env::var_os("FORJA_KEEP_LAB").is_some_and(|v| v == "1") {
            eprintln!("redfish lab kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

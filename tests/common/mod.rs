//! Shared helpers for the node-image tests: the stand-in images (made once per test binary by
//! `ci/make-standin-images`), a tiny tar writer for hostile archives, and a runner for the `forja` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const MGR: &str = "Pexip_Infinity_v25.4_generic_pxMgr_STANDIN.ova";
pub const CONF: &str = "Pexip_Infinity_v25.4_generic_ConfNode_STANDIN.ova";
pub const QCOW: &str = "Pexip_Infinity_v25.4_KVM_ConfNode_STANDIN.qcow2";

/// The folder holding the stand-in images and their README.TXT (generated once, read-only by convention).
pub fn standins() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/make-standin-images");
        let out = Command::new("bash")
            .arg(script)
            .arg(dir.path())
            .arg("8")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "make-standin-images: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

/// The members of a stand-in OVA, in archive order, extracted with GNU tar (an independent reader).
pub fn members(ova: &str) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let list = Command::new("tar")
        .arg("-tf")
        .arg(standins().join(ova))
        .output()
        .unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(standins().join(ova))
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(|n| (n.to_owned(), std::fs::read(dir.path().join(n)).unwrap()))
        .collect()
}

pub fn forja(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(args)
        .output()
        .unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A README.TXT in sha256sum's layout for the given files.
pub fn readme_for(dir: &Path, files: &[&Path]) -> PathBuf {
    let mut s = String::from("Test downloads\n\n");
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        let digest = forja::hashio::Sha256::of(&bytes);
        s.push_str(&format!(
            "{digest}  {}\n",
            f.file_name().unwrap().to_string_lossy()
        ));
    }
    let p = dir.join("README.TXT");
    std::fs::write(&p, s).unwrap();
    p
}

/// Files left in a folder (including hidden partial files).
pub fn leftovers(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A minimal ustar writer for building hostile archives by hand.
#[derive(Default)]
pub struct Tar {
    pub bytes: Vec<u8>,
}

pub fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0w$o}\0", v, w = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

pub fn header(name: &str, size: u64, typeflag: u8, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    fix_checksum(&mut h);
    h
}

pub fn fix_checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

impl Tar {
    pub fn raw_header(&mut self, h: [u8; 512]) -> &mut Self {
        self.bytes.extend_from_slice(&h);
        self
    }
    pub fn data(&mut self, data: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        self
    }
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw_header(header(name, data.len() as u64, b'0', ""));
        self.data(data)
    }
    pub fn special(&mut self, name: &str, typeflag: u8, link: &str) -> &mut Self {
        self.raw_header(header(name, 0, typeflag, link))
    }
    /// A PAX extended header with the given records.
    pub fn pax(&mut self, records: &[(&str, &str)]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = format!(" {k}={v}\n");
            let mut len = rest.len() + 1;
            while len != rest.len() + len.to_string().len() {
                len = rest.len() + len.to_string().len();
            }
            body.extend_from_slice(format!("{len}{rest}").as_bytes());
        }
        self.raw_header(header("PaxHeaders/x", body.len() as u64, b'x', ""));
        self.data(&body)
    }
    pub fn end(&mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0u8, 1024));
        std::mem::take(&mut self.bytes)
    }
}

/// Builds a valid OVA from members (descriptor first), exactly as given.
pub fn ova_from(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut t = Tar::default();
    for (n, d) in members {
        t.file(n, d);
    }
    t.end()
}

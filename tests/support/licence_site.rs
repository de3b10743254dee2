//! The licence tests' isolated site: a Management Node stand-in (tests/support/pexip_server.rs), its CA,
//! secrets, site key pair and state folder, and a courier key pair for the connected side (one courier for every
//! site, as one connected machine serves several). By default the connected side signs inbound bundles with the
//! courier key and the site applies them with that key pinned; `respond_unsigned` and `apply_as` do neither.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use forja::sign::keys::{SigningKey, write_keypair};
use serde_json::Value;

use super::pexip_server::Server;
use super::prod_profile::{Prod, prod};

/// The seed of the one courier key every test site trusts.
pub const COURIER_SEED: u8 = 99;

/// One isolated site: its manager, CA, secrets, key pair and state folder; plus a connected-side folder.
pub struct Site {
    pub prod: Prod,
    pub server: Server,
    pub ca: PathBuf,
    pub sec: PathBuf,
    pub public: PathBuf,
    pub state: PathBuf,
    /// The connected side's courier key pair (the site pins the public half).
    pub courier_sec: PathBuf,
    pub courier_pub: PathBuf,
}

pub fn keys(dir: &Path, seed: u8) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    write_keypair(dir, &SigningKey::from_seed([seed; 32])).unwrap();
    (dir.join("forja.sec"), dir.join("forja.pub"))
}

pub fn site(seed: u8) -> Site {
    let prod = prod();
    let server = Server::start("admin", &prod.secret("pexip-web-admin"));
    let ca = prod.dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    let (sec, public) = keys(&prod.dir.path().join("keys"), seed);
    let state = prod.dir.path().join("state");
    let (courier_sec, courier_pub) = keys(&prod.dir.path().join("courier-key"), COURIER_SEED);
    Site {
        prod,
        server,
        ca,
        sec,
        public,
        state,
        courier_sec,
        courier_pub,
    }
}

pub fn forja(args: &[&str]) -> Output {
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

#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    text(o)
}

/// Asserts the exit code and that the message says `what`.
#[track_caller]
pub fn refused(o: &Output, code: i32, what: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    assert!(text(o).contains(what), "expected {what:?} in: {}", text(o));
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Site {
    pub fn dir(&self) -> &Path {
        self.prod.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    pub fn manager_args(&self) -> Vec<String> {
        [
            "--manager",
            &self.server.manager_url,
            "--ca",
            s(&self.ca),
            "--secrets",
            s(&self.prod.secrets),
            "--state",
            s(&self.state),
            "--request-timeout",
            "10",
        ]
        .map(String::from)
        .to_vec()
    }

    pub fn request(&self, entitlement: &str, out: &str) -> Output {
        let mut args = vec!["licence".into(), "request".into()];
        args.extend(self.manager_args());
        args.extend(
            [
                "--entitlement",
                entitlement,
                "--signing-key",
                s(&self.sec),
                "--output",
            ]
            .map(String::from),
        );
        args.push(s(&self.path(out)).into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = forja(&args);
        self.assert_no_secret(&o);
        o
    }

    pub fn inspect(&self, bundle: &str, extra: &[&str]) -> Output {
        let (bundle, audit) = (self.path(bundle), self.path("connected/licence-audit.log"));
        let mut args = vec![
            "licence",
            "inspect",
            s(&bundle),
            "--pubkey",
            s(&self.public),
        ];
        args.extend(["--audit", s(&audit)]);
        args.extend(extra);
        forja(&args)
    }

    /// The connected side: pack a vendor response that names the request's reference, signed by the courier.
    pub fn respond(&self, bundle: &str, reference: &str, out: &str, extra: &[&str]) -> Output {
        let mut with_key = vec!["--signing-key", s(&self.courier_sec)];
        with_key.extend(extra);
        self.respond_unsigned(bundle, reference, out, &with_key)
    }

    /// The connected side without a courier key: the inbound bundle carries no signature.
    pub fn respond_unsigned(
        &self,
        bundle: &str,
        reference: &str,
        out: &str,
        extra: &[&str],
    ) -> Output {
        let response = self.path(&format!("{out}.vendor.xml"));
        std::fs::write(
            &response,
            format!("<licence_response><reference>{reference}</reference><key>AAAA</key></licence_response>\n"),
        )
        .unwrap();
        let audit = self.path("connected/licence-audit.log");
        let mut args = vec![
            "licence".to_owned(),
            "response".into(),
            s(&self.path(bundle)).into(),
            "--response".into(),
            s(&response).into(),
            "--pubkey".into(),
            s(&self.public).into(),
            "--output".into(),
            s(&self.path(out)).into(),
            "--audit".into(),
            s(&audit).into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        forja(&args)
    }

    /// The site applies with the courier key it pinned.
    pub fn apply(&self, inbound: &str, extra: &[&str]) -> Output {
        let mut with_key = vec!["--courier-pubkey", s(&self.courier_pub)];
        with_key.extend(extra);
        self.apply_as(inbound, &with_key)
    }

    /// The site applies with exactly `extra` (no courier key unless given).
    pub fn apply_as(&self, inbound: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "licence".to_owned(),
            "apply".into(),
            s(&self.path(inbound)).into(),
        ];
        args.extend(self.manager_args());
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = forja(&args);
        self.assert_no_secret(&o);
        o
    }

    pub fn report(&self, bundle: &str) -> Value {
        let o = self.inspect(bundle, &["--json"]);
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)))
    }

    pub fn licences(&self) -> Vec<String> {
        self.server
            .all("licence")
            .iter()
            .map(|o| o["entitlement_id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn assert_no_secret(&self, o: &Output) {
        let mut all = text(o);
        all += &std::fs::read_to_string(self.state.join("licence-audit.log")).unwrap_or_default();
        for v in self.prod.secret_values() {
            assert!(!all.contains(&v), "a secret value leaked: {all}");
        }
    }

    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state.join("licence-audit.log"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Flips one byte inside the first occurrence of `needle` in a file.
pub fn flip(path: &Path, needle: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle} not in {}", path.display()));
    bytes[at + needle.len() / 2] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

impl Site {
    pub fn report_with(&self, bundle: &str, max_age: &str) -> String {
        let o = self.inspect(bundle, &["--json", "--max-age-days", max_age]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
        v["reference"].as_str().unwrap().to_owned()
    }
}

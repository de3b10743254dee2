//! `forja licence` against the HTTPS stand-in of the Management Node (tests/support/pexip_server.rs): the full
//! round trip across the air gap, and each refusal with its exit code and message: tampered outbound and
//! inbound bundles, replay, mismatched request, wrong site, expired and future requests. Bundles are plain tar
//! archives (`tar -tvf`) and byte-identical when made twice from the same inputs.

#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/pexip_server/mod.rs"]
mod pexip_server;
#[path = "support/prod_profile.rs"]
mod prod_profile;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use forja::licence::{self, Manager, RESPONSE_FORMAT, ResponseMeta};
use forja::sign::keys::{SigningKey, write_keypair};
use oracle::signify_check;
use pexip_server::Server;
use prod_profile::{Prod, prod};
use serde_json::Value;

/// One isolated site: its manager, CA, secrets, key pair and state folder; plus a connected-side folder.
struct Site {
    prod: Prod,
    server: Server,
    ca: PathBuf,
    sec: PathBuf,
    public: PathBuf,
    state: PathBuf,
}

fn keys(dir: &Path, seed: u8) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    write_keypair(dir, &SigningKey::from_seed([seed; 32])).unwrap();
    (dir.join("forja.sec"), dir.join("forja.pub"))
}

fn site(seed: u8) -> Site {
    let prod = prod();
    let server = Server::start("admin", &prod.secret("pexip-web-admin"));
    let ca = prod.dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    let (sec, public) = keys(&prod.dir.path().join("keys"), seed);
    let state = prod.dir.path().join("state");
    Site {
        prod,
        server,
        ca,
        sec,
        public,
        state,
    }
}

fn forja(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_forja"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    text(o)
}

/// Asserts the exit code and that the message says `what`.
#[track_caller]
fn refused(o: &Output, code: i32, what: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    assert!(text(o).contains(what), "expected {what:?} in: {}", text(o));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Site {
    fn dir(&self) -> &Path {
        self.prod.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    fn manager_args(&self) -> Vec<String> {
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

    fn request(&self, entitlement: &str, out: &str) -> Output {
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

    fn inspect(&self, bundle: &str, extra: &[&str]) -> Output {
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

    /// The connected side: pack a vendor response that names the request's reference.
    fn respond(&self, bundle: &str, reference: &str, out: &str, extra: &[&str]) -> Output {
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

    fn apply(&self, inbound: &str, extra: &[&str]) -> Output {
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

    fn report(&self, bundle: &str) -> Value {
        let o = self.inspect(bundle, &["--json"]);
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)))
    }

    fn licences(&self) -> Vec<String> {
        self.server
            .all("licence")
            .iter()
            .map(|o| o["entitlement_id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn assert_no_secret(&self, o: &Output) {
        let mut all = text(o);
        all += &std::fs::read_to_string(self.state.join("licence-audit.log")).unwrap_or_default();
        for v in self.prod.secret_values() {
            assert!(!all.contains(&v), "a secret value leaked: {all}");
        }
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state.join("licence-audit.log"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Flips one byte inside the first occurrence of `needle` in a file.
fn flip(path: &Path, needle: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle} not in {}", path.display()));
    bytes[at + needle.len() / 2] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn round_trip_request_inspect_response_apply_activates_the_licence() {
    let site = site(1);
    let out = ok(&site.request("ENT-1616-A", "out.tar"));
    assert!(out.contains("REF-0001"), "{out}");

    let shown = ok(&site.inspect("out.tar", &[]));
    for want in [
        "ENT-1616-A",
        "REF-0001",
        "sequence number  1",
        "by the pinned site key",
        "127.0.0.1",
    ] {
        assert!(shown.contains(want), "{want} missing from: {shown}");
    }
    let report = site.report("out.tar");
    assert_eq!(report["entitlement_id"], "ENT-1616-A");
    assert_eq!(report["signature"], "pinned");
    let reference = report["reference"].as_str().unwrap().to_owned();

    ok(&site.respond("out.tar", &reference, "in.tar", &[]));
    assert!(site.licences().is_empty());
    let applied = ok(&site.apply("in.tar", &[]));
    assert!(
        applied.contains("licence active: entitlement ENT-1616-A"),
        "{applied}"
    );
    assert_eq!(site.licences(), ["ENT-1616-A"]);
    let stored = &site.server.all("licence_request")[0];
    assert_eq!(stored["status"], "applied");

    let state: Value =
        serde_json::from_slice(&std::fs::read(site.state.join("licence-requests.json")).unwrap())
            .unwrap();
    assert_eq!(state["requests"][0]["status"], "applied");
    assert_eq!(
        state["requests"][0]["bundle_sha256"],
        report["bundle_sha256"]
    );

    let audit = site.audit();
    let steps: Vec<(&str, &str)> = audit
        .iter()
        .map(|l| (l["step"].as_str().unwrap(), l["result"].as_str().unwrap()))
        .collect();
    assert_eq!(steps, [("request", "ok"), ("apply", "ok")]);
    assert_eq!(audit[0]["bundle_sha256"], report["bundle_sha256"]);
    assert_eq!(audit[1]["request_bundle_sha256"], report["bundle_sha256"]);
    assert_eq!(audit[1]["reference"], reference.as_str());
    let connected = std::fs::read_to_string(site.path("connected/licence-audit.log")).unwrap();
    assert_eq!(connected.lines().count(), 3, "{connected}");
    assert!(connected.contains("\"step\":\"response\""), "{connected}");
}

#[test]
fn bundles_are_plain_tar_and_reproducible() {
    let site = site(2);
    ok(&site.request("ENT-TAR", "out.tar"));
    let list = Command::new("tar")
        .arg("-tvf")
        .arg(site.path("out.tar"))
        .output()
        .unwrap();
    let listing = ok(&list);
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "SHA256SUMS",
            "SHA256SUMS.sig",
            "request.json",
            "request.xml",
            "site.pub"
        ],
        "{listing}"
    );
    for line in listing.lines() {
        assert!(line.starts_with("-rw-r--r-- 0/0"), "{line}");
    }
    // Extracted, the bundle checks with signify itself against the pinned key.
    let x = site.path("x");
    std::fs::create_dir(&x).unwrap();
    ok(&Command::new("tar")
        .arg("-xf")
        .arg(site.path("out.tar"))
        .arg("-C")
        .arg(&x)
        .output()
        .unwrap());
    ok(&signify_check(&x, &site.public));

    // The outbound bundle is a function of the stored request, its metadata and the key.
    let stored = licence::request::Stored {
        id: "7".into(),
        uri: "/api/admin/configuration/v1/licence_request/7/".into(),
        sequence_number: 7,
        reference: "REF-7".into(),
        actions: "<licence_request/>".into(),
        generation_time: "2026-01-02T03:04:05".into(),
        status: "pending".into(),
        response_xml: String::new(),
    };
    let key = SigningKey::from_seed([2; 32]);
    let opts = licence::request::Options {
        manager: Manager::new("https://pexmgr.example", b"ca"),
        entitlement_id: "ENT".into(),
        key: &key,
        out: Path::new("unused"),
        created_at: 1_767_323_045,
    };
    let meta = licence::request::meta_for(&stored, &opts).unwrap();
    let one = licence::request::outbound(&stored, &meta, &key).unwrap();
    assert_eq!(
        one,
        licence::request::outbound(&stored, &meta, &key).unwrap()
    );

    // The inbound bundle from the CLI, twice.
    let reference = site.report("out.tar")["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&site.respond("out.tar", &reference, "in1.tar", &[]));
    ok(&site.respond("out.tar", &reference, "in2.tar", &[]));
    assert_eq!(
        std::fs::read(site.path("in1.tar")).unwrap(),
        std::fs::read(site.path("in2.tar")).unwrap()
    );
    let listing = ok(&Command::new("tar")
        .arg("-tvf")
        .arg(site.path("in1.tar"))
        .output()
        .unwrap());
    assert!(
        listing.contains("response.xml") && listing.contains("response.json"),
        "{listing}"
    );
}

#[test]
fn tampered_outbound_bundle_fails_inspect() {
    let site = site(3);
    ok(&site.request("ENT-T", "out.tar"));
    std::fs::copy(site.path("out.tar"), site.path("sums.tar")).unwrap();
    flip(&site.path("out.tar"), "<entitlement_id>ENT-T<");
    refused(&site.inspect("out.tar", &[]), 3, "request.xml has SHA-256");
    // Changing the list itself breaks the signature.
    flip(&site.path("sums.tar"), "SHA256 (request.xml)");
    refused(
        &site.inspect("sums.tar", &[]),
        5,
        "differs from the copy SHA256SUMS.sig signs",
    );
}

#[test]
fn tampered_inbound_bundle_is_refused_before_the_manager_sees_it() {
    let site = site(4);
    ok(&site.request("ENT-T", "out.tar"));
    let reference = site.report("out.tar")["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&site.respond("out.tar", &reference, "in.tar", &[]));
    flip(&site.path("in.tar"), "<key>AAAA</key>");
    let writes = site.server.writes();
    refused(&site.apply("in.tar", &[]), 3, "response.xml has SHA-256");
    assert_eq!(site.server.writes(), writes);
    assert!(site.licences().is_empty());
    assert_eq!(site.audit().last().unwrap()["result"], "error");
}

#[test]
fn applying_the_same_response_twice_is_a_replay() {
    let site = site(5);
    ok(&site.request("ENT-R", "out.tar"));
    let reference = site.report("out.tar")["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&site.respond("out.tar", &reference, "in.tar", &[]));
    ok(&site.apply("in.tar", &[]));
    let writes = site.server.writes();
    refused(
        &site.apply("in.tar", &[]),
        10,
        "replay: the answer to request",
    );
    assert_eq!(site.server.writes(), writes);
    let last = site.audit().last().unwrap().clone();
    assert_eq!(last["result"], "refused");
    assert_eq!(last["exit"], 10);
}

#[test]
fn a_response_for_another_request_is_a_mismatch() {
    let site = site(6);
    ok(&site.request("ENT-A", "a.tar"));
    ok(&site.request("ENT-B", "b.tar"));
    let a = site.report("a.tar");
    let b = site.report("b.tar");
    // An inbound bundle naming bundle A but carrying request B's reference and sequence number.
    let meta = ResponseMeta {
        format: RESPONSE_FORMAT.into(),
        request_bundle_sha256: a["bundle_sha256"].as_str().unwrap().parse().unwrap(),
        reference: b["reference"].as_str().unwrap().into(),
        sequence_number: b["sequence_number"].as_u64().unwrap(),
        entitlement_id: "ENT-B".into(),
        manager_host: a["manager_host"].as_str().unwrap().into(),
        generation_time_utc: b["generation_time_utc"].as_str().unwrap().into(),
        forja_version: "test".into(),
    };
    let response = format!(
        "<reference>{}</reference>",
        b["reference"].as_str().unwrap()
    );
    let bytes = licence::response::inbound(&meta, response.as_bytes(), None).unwrap();
    std::fs::write(site.path("forged.tar"), bytes).unwrap();
    refused(&site.apply("forged.tar", &[]), 10, "mismatched request");

    // The manager replaced request A: its answer no longer fits anything there.
    ok(&site.respond("a.tar", a["reference"].as_str().unwrap(), "in-a.tar", &[]));
    site.server
        .remove_licence_request(a["reference"].as_str().unwrap());
    refused(
        &site.apply("in-a.tar", &[]),
        10,
        "the manager no longer holds request",
    );
    assert!(site.licences().is_empty());
}

#[test]
fn the_manager_judges_the_vendor_response_and_a_refusal_changes_nothing() {
    let site = site(14);
    ok(&site.request("ENT-V", "out.tar"));
    let reference = site.report("out.tar")["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&site.respond("out.tar", "REF-SOMETHING-ELSE", "wrong.tar", &[]));
    refused(
        &site.apply("wrong.tar", &[]),
        9,
        "the response does not match this request",
    );
    assert!(site.licences().is_empty());
    // Still pending at the site and on the manager: the right answer goes through.
    ok(&site.respond("out.tar", &reference, "right.tar", &[]));
    ok(&site.apply("right.tar", &[]));
    assert_eq!(site.licences(), ["ENT-V"]);
}

#[test]
fn another_sites_bundles_are_refused() {
    let here = site(7);
    let there = site(8);
    ok(&there.request("ENT-X", "out.tar"));
    // Inspecting the other site's outbound bundle with our pinned key.
    std::fs::copy(there.path("out.tar"), here.path("theirs.tar")).unwrap();
    refused(&here.inspect("theirs.tar", &[]), 5, "made with another key");

    // An inbound bundle answering the other site's request, applied here.
    let reference = there.report("out.tar")["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&there.respond("out.tar", &reference, "in.tar", &[]));
    std::fs::copy(there.path("in.tar"), here.path("theirs-in.tar")).unwrap();
    ok(&here.request("ENT-H", "mine.tar"));
    refused(&here.apply("theirs-in.tar", &[]), 10, "wrong site");
    assert!(here.licences().is_empty());
}

#[test]
fn old_and_future_requests_are_refused() {
    let site = site(9);
    let old = licence::now() - 40 * 86_400;
    site.server
        .set_licence_generation_time(licence::time::format(old).trim_end_matches('Z'));
    ok(&site.request("ENT-OLD", "old.tar"));
    refused(&site.inspect("old.tar", &[]), 10, "expired");
    refused(
        &site.inspect("old.tar", &["--max-age-days", "0"]),
        10,
        "more than --max-age-days 0",
    );
    ok(&site.inspect("old.tar", &["--max-age-days", "60"]));
    let reference = site.report_with("old.tar", "60");
    refused(
        &site.respond("old.tar", &reference, "in.tar", &[]),
        10,
        "expired",
    );
    ok(&site.respond("old.tar", &reference, "in.tar", &["--max-age-days", "60"]));
    refused(&site.apply("in.tar", &[]), 10, "expired");
    assert!(site.licences().is_empty());
    ok(&site.apply("in.tar", &["--max-age-days", "60"]));

    site.server
        .set_licence_generation_time(&licence::time::format(licence::now() + 86_400));
    ok(&site.request("ENT-NEW", "future.tar"));
    refused(&site.inspect("future.tar", &[]), 10, "in the future");
}

#[test]
fn inspect_without_a_pinned_key_is_unverified() {
    let site = site(10);
    ok(&site.request("ENT-U", "out.tar"));
    let audit = site.path("connected/licence-audit.log");
    let o = forja(&[
        "licence",
        "inspect",
        s(&site.path("out.tar")),
        "--audit",
        s(&audit),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        text(&o).contains("NOT CHECKED AGAINST A PINNED KEY"),
        "{}",
        text(&o)
    );
    let line = std::fs::read_to_string(&audit).unwrap();
    assert!(
        line.contains("\"result\":\"unverified\",\"exit\":4"),
        "{line}"
    );
}

#[test]
fn a_courier_signature_is_required_when_a_courier_key_is_given() {
    let site = site(11);
    let (csec, cpub) = keys(&site.path("courier"), 12);
    let (_, other) = keys(&site.path("other"), 13);
    ok(&site.request("ENT-C", "out.tar"));
    let reference = site.report("out.tar")["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&site.respond("out.tar", &reference, "plain.tar", &[]));
    refused(
        &site.apply("plain.tar", &["--courier-pubkey", s(&cpub)]),
        5,
        "not signed",
    );
    ok(&site.respond(
        "out.tar",
        &reference,
        "signed.tar",
        &["--signing-key", s(&csec)],
    ));
    refused(
        &site.apply("signed.tar", &["--courier-pubkey", s(&other)]),
        5,
        "another key",
    );
    ok(&site.apply("signed.tar", &["--courier-pubkey", s(&cpub)]));
    assert_eq!(site.licences(), ["ENT-C"]);
}

impl Site {
    fn report_with(&self, bundle: &str, max_age: &str) -> String {
        let o = self.inspect(bundle, &["--json", "--max-age-days", max_age]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
        v["reference"].as_str().unwrap().to_owned()
    }
}

#[test]
fn every_licence_argument_has_help() {
    use clap::CommandFactory;
    let cmd = forja::cli::Cli::command();
    let licence = cmd.find_subcommand("licence").unwrap();
    for sub in licence.get_subcommands() {
        for a in sub.get_arguments() {
            assert!(
                a.get_help().is_some(),
                "licence {}: --{} has no help",
                sub.get_name(),
                a.get_id()
            );
        }
        let o = forja(&["licence", sub.get_name(), "--help"]);
        assert!(ok(&o).contains("Usage: forja licence"), "{}", text(&o));
    }
}

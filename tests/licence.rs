//! `forja licence` against the HTTPS stand-in of the Management Node (tests/support/pexip_server.rs): the full
//! round trip across the air gap, and the refusals about the bundles themselves: tampered outbound and inbound
//! bundles, replay, mismatched request, the manager's own judgement. Bundles are plain tar archives
//! (`tar -tvf`) and byte-identical when made twice from the same inputs. Who must sign what (site key, courier
//! key, the override), another site's bundles and freshness are in `tests/licence_trust.rs`.

#[path = "support/licence_site.rs"]
mod licence_site;
#[path = "support/oracle.rs"]
mod oracle;
#[path = "support/pexip_server/mod.rs"]
mod pexip_server;
#[path = "support/prod_profile.rs"]
mod prod_profile;

use std::path::Path;
use std::process::Command;

use forja::licence::{self, Manager, RESPONSE_FORMAT, ResponseMeta};
use forja::sign::keys::SigningKey;
use licence_site::{COURIER_SEED, flip, ok, refused, site};
use oracle::signify_check;
use serde_json::Value;

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
    let bytes = licence::response::inbound(
        &meta,
        response.as_bytes(),
        Some(&SigningKey::from_seed([COURIER_SEED; 32])),
    )
    .unwrap();
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

//! `forja licence`: who must sign what, and when. The outbound bundle must be signed by the site key the
//! connected side pinned; the inbound bundle by the courier key the site pinned, or it is refused unless the
//! operator passes the explicit, audited `--accept-unsigned-response`. Also: another site's bundles, old and
//! future requests, and help on every argument.

#[path = "support/licence_site.rs"]
mod licence_site;
#[path = "support/pexip_server/mod.rs"]
mod pexip_server;
#[path = "support/prod_profile.rs"]
mod prod_profile;

use forja::licence;
use licence_site::{forja, keys, ok, refused, s, site, text};

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
    ok(&site.respond_unsigned("out.tar", &reference, "plain.tar", &[]));
    refused(
        &site.apply_as("plain.tar", &["--courier-pubkey", s(&cpub)]),
        5,
        "not signed",
    );
    ok(&site.respond_unsigned(
        "out.tar",
        &reference,
        "signed.tar",
        &["--signing-key", s(&csec)],
    ));
    refused(
        &site.apply_as("signed.tar", &["--courier-pubkey", s(&other)]),
        5,
        "another key",
    );
    ok(&site.apply_as("signed.tar", &["--courier-pubkey", s(&cpub)]));
    assert_eq!(site.licences(), ["ENT-C"]);
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

/// The members of a bundle file, for tests that forge one.
fn members(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    licence::bundle::parse(&bytes, "t".into()).unwrap().members
}

fn pending_request(site: &licence_site::Site) -> String {
    ok(&site.request("ENT-S", "out.tar"));
    site.report("out.tar")["reference"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn an_unsigned_answer_is_refused_unless_the_operator_overrides_it() {
    let site = site(15);
    let reference = pending_request(&site);
    ok(&site.respond_unsigned("out.tar", &reference, "in.tar", &[]));
    let writes = site.server.writes();
    let o = site.apply_as("in.tar", &[]);
    refused(&o, 4, "it is not signed");
    assert!(
        text(&o).contains("--accept-unsigned-response"),
        "{}",
        text(&o)
    );
    assert_eq!(
        site.server.writes(),
        writes,
        "the manager saw an unchecked answer"
    );
    assert!(site.licences().is_empty());
    // The explicit override goes through, says so, and the audit trail keeps it.
    let o = site.apply_as("in.tar", &["--accept-unsigned-response"]);
    assert!(
        ok(&o).contains("WITHOUT a courier signature"),
        "{}",
        text(&o)
    );
    assert_eq!(site.licences(), ["ENT-S"]);
    let last = site.audit().last().unwrap().clone();
    assert_eq!(last["result"], "ok");
    assert_eq!(last["override"], "--accept-unsigned-response");
}

#[test]
fn a_replaced_answer_with_recomputed_sums_is_refused() {
    let site = site(16);
    let reference = pending_request(&site);
    ok(&site.respond_unsigned("out.tar", &reference, "in.tar", &[]));
    // Someone on the way swaps the answer and recomputes SHA256SUMS: every hash matches again.
    let mut m = members(&site.path("in.tar"));
    m.retain(|name, _| name != "SHA256SUMS");
    m.insert(
        "response.xml".into(),
        format!("<licence_response><reference>{reference}</reference><key>EVIL</key></licence_response>\n")
            .into_bytes(),
    );
    let forged = licence::bundle::pack(&licence::bundle::seal(m, None).unwrap(), 0).unwrap();
    std::fs::write(site.path("forged.tar"), forged).unwrap();
    refused(&site.apply_as("forged.tar", &[]), 4, "it is not signed");
    refused(&site.apply("forged.tar", &[]), 5, "not signed");
    assert!(site.licences().is_empty());
}

#[test]
fn a_broken_courier_signature_is_never_applied() {
    let site = site(17);
    let reference = pending_request(&site);
    ok(&site.respond("out.tar", &reference, "in.tar", &[]));
    let mut m = members(&site.path("in.tar"));
    let sig = m.get_mut("SHA256SUMS.sig").unwrap();
    let at = sig.iter().position(|b| *b == b'\n').unwrap() + 10;
    sig[at] = if sig[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(
        site.path("broken.tar"),
        licence::bundle::pack(&m, 0).unwrap(),
    )
    .unwrap();
    // Without the courier key it cannot be judged, so it is refused, not applied with a warning.
    refused(
        &site.apply_as("broken.tar", &[]),
        4,
        "carries a courier signature",
    );
    refused(&site.apply("broken.tar", &[]), 5, "does not verify");
    assert!(site.licences().is_empty());
    ok(&site.apply("in.tar", &[]));
    assert_eq!(site.licences(), ["ENT-S"]);
}

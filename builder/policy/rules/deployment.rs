//! Chapter 4 up to §21: secure delivery, installation environment, operational nodes, licences (§10–21).
//!
//! MANUAL rules and their levers:
//! - `1616-4.2` (§14–16, site firewalls between nodes): the node addressing (`gateway` must lie in the node's
//!   own subnet, or the traffic the site must allow cannot even be routed).
//! - `1616-4.4.b` (§18–21, licence upload): `pexip.licence.activation` (`online` fails).
//!
//! DECLARED rules and their levers:
//! - `1616-4.1.a` (§10, images from Pexip): `pexip.images[].source` (`stand-in` fails in production). forja
//!   checks every image against the README.TXT the operator brings; that both come from Pexip is the
//!   operator's word.
//! - `1616-4.4.c` (§19, no internet route from the Management Node): `pexip.licence.management-internet-access`.
//!   Routing lives in the site network, which forja does not build.
//!
//! Lab-only relaxation: stand-in images (`1616-4.1.a`) are WAIVED in a lab profile and FAIL in a production one.

use crate::profile::model::{Activation, ImageSource, NodeRole};
use crate::profile::net::AddressMode;

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};
use super::proof;

pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId("1616-4.1.a"),
        paragraph: "§10",
        statement: "Pexip node images come from Pexip (download site or vendor support), never stand-ins",
        enforcement: Enforcement::Declared,
        how: "pexip.images[].source = \"vendor\": the images and their README.TXT were downloaded from dl.pexip.com or handed over by Pexip support",
        proof: &["tests/policy_deployment.rs::stand_in_images_fail_a_production_profile"],
        checklist: Some(Checklist::Integrity),
        check: images_from_vendor,
    },
    Rule {
        id: RuleId("1616-4.1.b"),
        paragraph: "§11, §13",
        statement: "Every node image's SHA-256 is checked against the vendor's README.TXT before use",
        enforcement: Enforcement::BuildCheck,
        how: "forja build hashes each image while staging it and refuses a mismatch or a missing SHA-256 line (exit 3/4); first boot checks the staged disks again against nodes.lock before defining the VMs",
        proof: &[
            "tests/nodes_cli.rs::a_flipped_byte_is_a_mismatch_naming_file_expected_and_actual",
            "tests/nodes_cli.rs::a_file_missing_from_readme_is_unverified_and_bad_readme_is_input",
            proof::BOOT_NODES,
        ],
        checklist: Some(Checklist::Integrity),
        check: images_verified,
    },
    Rule {
        id: RuleId("1616-4.2"),
        paragraph: "§14–16, §59",
        statement: "Site firewalls and proxies let the Pexip nodes reach each other (docs.pexip.com port_usage)",
        enforcement: Enforcement::Manual,
        how: "On the site firewalls between the node addresses, allow the ports listed at https://docs.pexip.com/admin/port_usage.htm: at least IP protocol 50 (ESP) and UDP/TCP 500 (IKE) between every pair of nodes (§59), and HTTPS 443 to the Management Node from the admin networks. The KVM host does not filter the VMs' bridged traffic (rule 1616-5.6.a).",
        proof: &["tests/policy_deployment.rs::node_gateway_must_lie_in_its_subnet"],
        checklist: None,
        check: nodes_routable,
    },
    Rule {
        id: RuleId("1616-4.3"),
        paragraph: "§17",
        statement: "The deployment has a Management Node and at least one transcoding Conferencing Node",
        enforcement: Enforcement::PexipPlan,
        how: "the plan registers each node: POST worker_vm/ with node_type CONFERENCING (transcoding) or PROXYING",
        proof: &[proof::PLAN_GOLDEN, proof::APPLY, proof::AUDIT],
        checklist: None,
        check: has_transcoding_node,
    },
    Rule {
        id: RuleId("1616-4.4.a"),
        paragraph: "§19",
        statement: "The Management Node sends nothing out: no incident reports, no usage statistics",
        enforcement: Enforcement::PexipPlan,
        how: "the plan PATCHes global/1/ error_reporting_enabled = false, enable_analytics = false (the installation wizard's answers say the same)",
        proof: &[proof::PLAN_GOLDEN, proof::AUDIT],
        checklist: Some(Checklist::Licences),
        check: nothing_sent_out,
    },
    Rule {
        id: RuleId("1616-4.4.c"),
        paragraph: "§19",
        statement: "The Management Node has no route to the internet",
        enforcement: Enforcement::Declared,
        how: "pexip.licence.management-internet-access = false: the site network gives the Management Node no route out",
        proof: &["tests/policy_deployment.rs::management_node_stays_off_the_internet"],
        checklist: Some(Checklist::Licences),
        check: no_internet_route,
    },
    Rule {
        id: RuleId("1616-4.4.b"),
        paragraph: "§18–21",
        statement: "Licences are activated offline through Pexip support",
        enforcement: Enforcement::Manual,
        how: "Run `forja licence request` against the Management Node (offline activation), carry the signed bundle to a connected machine, get the response from Pexip support (§20), then `forja licence response` and `forja licence apply` at the site (docs/licence-runbook.md).",
        proof: &["tests/policy_deployment.rs::licences_are_activated_offline"],
        checklist: Some(Checklist::Licences),
        check: licence_offline,
    },
];

fn images_from_vendor(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let mut standins = 0;
    for (i, img) in ctx.p.pexip.images.iter().enumerate() {
        if img.source == ImageSource::StandIn {
            standins += 1;
            c.expect(
                ctx.lab(),
                &format!("pexip.images[{i}].source"),
                val(&img.source),
                "§10: a production profile installs images from Pexip: set source = \"vendor\" and point file at the vendor's OVA",
            );
        }
    }
    if c.failed() {
        return c.verdict("");
    }
    if standins > 0 {
        return Verdict::Waived(format!(
            "lab profile: {standins} stand-in image(s), never deployed"
        ));
    }
    c.verdict(format!("{} vendor image(s)", ctx.p.pexip.images.len()))
}

fn images_verified(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    for (i, img) in ctx.p.pexip.images.iter().enumerate() {
        c.expect(
            img.verify,
            &format!("pexip.images[{i}].verify"),
            img.verify,
            "§11: the image hash must be checked: remove the line or set verify = true",
        );
        c.expect(
            !img.readme.as_os_str().is_empty(),
            &format!("pexip.images[{i}].readme"),
            "\"\"",
            "§13: name the vendor's README.TXT that carries the SHA-256",
        );
    }
    c.verdict("every image is hashed against its README.TXT when forja build stages it")
}

fn nodes_routable(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let m = &ctx.p.pexip.management;
    if let AddressMode::Static(cidr) = m.address {
        c.expect(
            cidr.contains(m.gateway),
            "pexip.management.gateway",
            val(&m.gateway.to_string()),
            format!("the gateway must lie in {cidr}, or the nodes cannot reach each other through the site network"),
        );
    }
    for (i, n) in ctx.p.pexip.conferencing.iter().enumerate() {
        if let AddressMode::Static(cidr) = n.address {
            c.expect(
                cidr.contains(n.gateway),
                &format!("pexip.conferencing[{i}].gateway"),
                val(&n.gateway.to_string()),
                format!("the gateway must lie in {cidr}, or the node cannot reach the others"),
            );
        }
    }
    c.verdict("node gateways lie in their subnets")
}

fn has_transcoding_node(ctx: &Ctx) -> Verdict {
    // A host of a site: the deployment is the site, whichever host runs its transcoding node.
    let nodes = ctx
        .loaded
        .site
        .as_ref()
        .map_or(&ctx.p.pexip.conferencing, |m| &m.site_conferencing);
    let n = nodes
        .iter()
        .filter(|n| n.role == NodeRole::Transcoding)
        .count();
    let mut c = ctx.checks();
    c.expect(
        n > 0,
        "pexip.conferencing",
        format!("{} node(s), none transcoding", nodes.len()),
        "§17: add a [[pexip.conferencing]] node with role = \"transcoding\" (proxying nodes only forward to one)",
    );
    c.verdict(format!("{n} transcoding node(s) registered by the plan"))
}

fn nothing_sent_out(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let m = &ctx.p.pexip.management;
    c.expect(
        !m.error_reports,
        "pexip.management.error-reports",
        true,
        "§19: an isolated node sends nothing out: set it to false",
    );
    c.expect(
        !m.analytics,
        "pexip.management.analytics",
        true,
        "§19: an isolated node sends nothing out: set it to false",
    );
    c.verdict("incident reports and usage statistics off")
}

fn no_internet_route(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        !ctx.p.pexip.licence.management_internet_access,
        "pexip.licence.management-internet-access",
        true,
        "§19: isolate the Management Node: set it to false and activate licences offline",
    );
    c.verdict("no route out")
}

fn licence_offline(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let a = ctx.p.pexip.licence.activation;
    c.expect(
        a == Activation::Offline,
        "pexip.licence.activation",
        val(&a),
        "§19: an isolated Management Node activates licences offline: set activation = \"offline\"",
    );
    c.verdict("offline activation planned")
}

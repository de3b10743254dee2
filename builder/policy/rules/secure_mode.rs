//! §32–35, the secure operation mode: the fourteen `securitywizard` answers of §34 (`1616-5.1.a`..`n`, one rule
//! per question, in the wizard's order) and running the wizard itself (`1616-5.1.o`).
//!
//! All fifteen are MANUAL: the wizard runs on the Management Node's console, its prompts are not public, and no
//! API reads the answers back, so forja can only hand the operator the answers (the securitywizard sheet) and
//! refuse a profile whose answer contradicts the guide. Each rule's lever is its `pexip.secure-mode` answer; the
//! wizard run's lever is `pexip.version` (the sheet answers the v25.4 wizard the guide describes).

use crate::profile::model::TlsVersion;

use super::super::rule::{Checklist, Ctx, Enforcement, Rule, RuleId, Verdict, val};

const SHEET_GOLDEN: &str = "tests/pexip_generate.rs::generated_files_match_the_golden_files";

macro_rules! answer {
    ($id:literal, $question:literal, $answer:literal, $lever:literal, $check:ident) => {
        Rule {
            id: RuleId($id),
            paragraph: "§34",
            statement: concat!("securitywizard: ", $question, " = ", $answer),
            enforcement: Enforcement::Manual,
            how: concat!(
                "While running `securitywizard` on the Management Node, answer ",
                $answer,
                " to \"",
                $question,
                "\" (forja's securitywizard sheet lists every answer in order); no API reads it back."
            ),
            proof: &[concat!("tests/policy_configuration.rs::", $lever), SHEET_GOLDEN],
            checklist: Some(Checklist::SecureMode),
            check: $check,
        }
    };
}

pub static RULES: &[Rule] = &[
    answer!(
        "1616-5.1.a",
        "Enable FIPS 140-2 compliance mode",
        "YES",
        "fips_mode_is_enabled",
        fips
    ),
    answer!(
        "1616-5.1.b",
        "Disable system administrator account",
        "YES",
        "system_admin_account_is_disabled",
        sysadmin
    ),
    answer!(
        "1616-5.1.c",
        "Accept ICMPv6 redirects",
        "NO",
        "icmpv6_redirects_are_refused",
        icmpv6_redirects
    ),
    answer!(
        "1616-5.1.d",
        "Drop incoming packets to closed ports rather than reject",
        "YES",
        "closed_ports_drop_rather_than_reject",
        drop_closed
    ),
    answer!(
        "1616-5.1.e",
        "Accept multicast ICMPv6 echo requests",
        "NO",
        "multicast_icmpv6_echo_is_refused",
        multicast_echo
    ),
    answer!(
        "1616-5.1.f",
        "Enable IPv6 Duplicate Address Detection",
        "NO",
        "ipv6_duplicate_address_detection_is_off",
        ipv6_dad
    ),
    answer!(
        "1616-5.1.g",
        "Active management web sessions",
        "100",
        "management_web_sessions_are_capped_at_100",
        sessions
    ),
    answer!(
        "1616-5.1.h",
        "Active per-user management web sessions",
        "10",
        "per_user_web_sessions_are_capped_at_10",
        per_user_sessions
    ),
    answer!(
        "1616-5.1.i",
        "Enable TLS < 1.2",
        "NO",
        "rejects_tls_below_1_2",
        tls_min
    ),
    answer!(
        "1616-5.1.j",
        "Enable Anonymous DH for outbound SIP/TLS",
        "NO",
        "anonymous_dh_is_refused_for_outbound_sip",
        anon_dh
    ),
    answer!(
        "1616-5.1.k",
        "Permit TLS < 1.2 for inbound HTTPS",
        "NO",
        "rejects_inbound_https_below_tls_1_2",
        https_tls_min
    ),
    answer!(
        "1616-5.1.l",
        "Enable FIR",
        "YES",
        "full_intra_request_is_enabled",
        fir
    ),
    answer!(
        "1616-5.1.m",
        "Enable AES128-SHA ciphersuite",
        "NO",
        "aes128_sha_is_disabled",
        aes128_sha
    ),
    answer!(
        "1616-5.1.n",
        "Enable AES128-SHA ciphersuite for outbound SIP/TLS",
        "NO",
        "aes128_sha_is_disabled_for_outbound_sip",
        aes128_sha_sip
    ),
    Rule {
        id: RuleId("1616-5.1.o"),
        paragraph: "§32–33, §35",
        statement: "The secure mode is switched on by running securitywizard on the Management Node, which then reboots",
        enforcement: Enforcement::Manual,
        how: "On the Management Node console (or SSH before it is disabled) run `securitywizard`, give the answers from forja's securitywizard sheet in order, and let the node reboot (§35).",
        proof: &["tests/policy_configuration.rs::securitywizard_answers_cover_v25_4"],
        checklist: Some(Checklist::SecureMode),
        check: wizard_version,
    },
];

fn yes_no(ctx: &Ctx, field: &str, got: bool, want: bool) -> Verdict {
    let mut c = ctx.checks();
    let word = if want { "YES" } else { "NO" };
    c.expect(
        got == want,
        field,
        got,
        format!("§34: the wizard answer must be {word}: set it to {want}"),
    );
    c.verdict(format!("answer {word}"))
}

fn number(ctx: &Ctx, field: &str, got: u32, want: u32) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        got == want,
        field,
        got,
        format!("§34: the wizard answer must be {want}: set it to {want}"),
    );
    c.verdict(format!("answer {want}"))
}

fn tls(ctx: &Ctx, field: &str, got: TlsVersion) -> Verdict {
    let mut c = ctx.checks();
    c.expect(
        got >= TlsVersion::V1_2,
        field,
        val(&got),
        "§34, §57: TLS below 1.2 is refused (wizard answer NO): set it to \"1.2\" or \"1.3\"",
    );
    c.verdict(format!("answer NO (minimum TLS {})", got.as_str()))
}

fn fips(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(ctx, "pexip.secure-mode.fips-140-2", s.fips_140_2, true)
}
fn sysadmin(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(
        ctx,
        "pexip.secure-mode.disable-system-admin-account",
        s.disable_system_admin_account,
        true,
    )
}
fn icmpv6_redirects(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(
        ctx,
        "pexip.secure-mode.accept-icmpv6-redirects",
        s.accept_icmpv6_redirects,
        false,
    )
}
fn drop_closed(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(
        ctx,
        "pexip.secure-mode.drop-closed-ports",
        s.drop_closed_ports,
        true,
    )
}
fn multicast_echo(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(
        ctx,
        "pexip.secure-mode.accept-multicast-icmpv6-echo",
        s.accept_multicast_icmpv6_echo,
        false,
    )
}
fn ipv6_dad(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(ctx, "pexip.secure-mode.ipv6-dad", s.ipv6_dad, false)
}
fn sessions(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    number(
        ctx,
        "pexip.secure-mode.max-management-sessions",
        s.max_management_sessions,
        100,
    )
}
fn per_user_sessions(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    number(
        ctx,
        "pexip.secure-mode.max-per-user-sessions",
        s.max_per_user_sessions,
        10,
    )
}
fn tls_min(ctx: &Ctx) -> Verdict {
    tls(
        ctx,
        "pexip.secure-mode.tls-min-version",
        ctx.p.pexip.secure_mode.tls_min_version,
    )
}
fn anon_dh(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(
        ctx,
        "pexip.secure-mode.anonymous-dh-outbound-sip",
        s.anonymous_dh_outbound_sip,
        false,
    )
}
fn https_tls_min(ctx: &Ctx) -> Verdict {
    tls(
        ctx,
        "pexip.secure-mode.inbound-https-tls-min-version",
        ctx.p.pexip.secure_mode.inbound_https_tls_min_version,
    )
}
fn fir(ctx: &Ctx) -> Verdict {
    yes_no(
        ctx,
        "pexip.secure-mode.fir",
        ctx.p.pexip.secure_mode.fir,
        true,
    )
}
fn aes128_sha(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(ctx, "pexip.secure-mode.aes128-sha", s.aes128_sha, false)
}
fn aes128_sha_sip(ctx: &Ctx) -> Verdict {
    let s = &ctx.p.pexip.secure_mode;
    yes_no(
        ctx,
        "pexip.secure-mode.aes128-sha-outbound-sip",
        s.aes128_sha_outbound_sip,
        false,
    )
}

fn wizard_version(ctx: &Ctx) -> Verdict {
    let mut c = ctx.checks();
    let v = &ctx.p.pexip.version;
    c.expect(
        v == "25.4",
        "pexip.version",
        val(v),
        "§6, §33: the guide and forja's answer sheet cover the v25.4 securitywizard: set version = \"25.4\"",
    );
    c.verdict("answer sheet for the v25.4 wizard")
}

//! Human-readable answer sheets (Markdown) for the two console dialogues a build cannot drive itself:
//! the installation wizard (§31) and the `securitywizard` (§33–35).
//!
//! The wizard sheet follows the wizard's order as PEXIP.md gives it. The securitywizard's exact prompt wording is
//! NOT public: the sheet lists the 14 questions as the guide words them in §34, in the guide's order, each with
//! the rule id it satisfies and the related paragraph. Passwords are never written: the sheet points to the
//! sealed envelope by secret name.

use std::fmt::Write;

use super::bootstrap::WizardAnswers;
use crate::profile::Loaded;
use crate::profile::model::{SecureMode, TlsVersion};

fn yes_no(b: bool) -> &'static str {
    if b { "YES" } else { "NO" }
}

fn envelope(name: &str) -> String {
    format!("see sealed envelope (secret: {name})")
}

/// The rules the installation wizard's answers carry out: its passwords are checked against the §52 policy
/// while generating (`bootstrap`), and only their hashes are written.
pub const INSTALL_RULES: &[&str] = &["1616-4.6.d", "1616-5.4.4.b"];

/// The installation-wizard sheet for the Management Node.
pub fn install_sheet(l: &Loaded, a: &WizardAnswers) -> String {
    let m = &l.profile.pexip.management;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Pexip Management Node `{}`: installation wizard answers\n",
        a.fqdn
    );
    let _ = writeln!(
        s,
        "Profile `{}`, Pexip Infinity {}. Type these answers at the console on first boot (CCN-STIC 1616 §31), \
         unless the node took them from its config drive (`config-2`). Passwords are not printed here: take them \
         from the sealed envelopes named below. They meet the password policy of §52 (checked by forja: {}).\n",
        l.profile.profile.name,
        l.profile.pexip.version,
        INSTALL_RULES
            .iter()
            .map(|r| format!("`{r}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(s, "| # | Wizard question | Answer |");
    let _ = writeln!(s, "|---|---|---|");
    for (i, (q, v)) in wizard_rows(a).iter().enumerate() {
        let _ = writeln!(s, "| {} | {q} | `{v}` |", i + 1);
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Console user `admin` password (asked by the wizard with the web password, §31): {}.\n",
        envelope(a.console_password.name())
    );
    after_wizard(a, &mut s);
    let _ = writeln!(
        s,
        "Management Node VM: {} vCPU, {} MB RAM, {} GB disk, reserved (§27). Next: run `securitywizard` \
         (see `securitywizard-sheet.md`), then `forja pexip apply`.",
        m.reservation.vcpus, m.reservation.memory_mb, m.reservation.disk_gb
    );
    s
}

/// The wizard's questions in its order, with the answers.
fn wizard_rows(a: &WizardAnswers) -> [(&'static str, String); 12] {
    let c = &a.config;
    [
        ("IP address", c.ip.clone()),
        ("Network mask", c.mask.clone()),
        ("Gateway", c.gw.clone()),
        ("Hostname", c.hostname.clone()),
        ("Domain suffix", c.domain.clone()),
        ("DNS server", c.dns.clone()),
        ("NTP server", c.ntp.clone()),
        ("Web administration username", c.user.clone()),
        (
            "Web administration password",
            envelope(a.web_password.name()),
        ),
        ("Enable incident reporting", yes_no(c.error_reports).into()),
        (
            "Send deployment and usage statistics to Pexip",
            yes_no(c.enable_analytics).into(),
        ),
        ("Contact e-mail address", c.contact_email_address.clone()),
    ]
}

/// What the wizard cannot take and `apply` or the operator adds afterwards.
fn after_wizard(a: &WizardAnswers, s: &mut String) {
    if a.extra_dns.is_empty() && a.extra_ntp.is_empty() {
        return;
    }
    let _ = writeln!(s, "## After the wizard\n");
    if !a.extra_dns.is_empty() {
        let list: Vec<String> = a.extra_dns.iter().map(|d| format!("`{d}`")).collect();
        let _ = writeln!(
            s,
            "- The wizard takes one DNS server. Add the others under System > DNS servers: {}.",
            list.join(", ")
        );
    }
    if !a.extra_ntp.is_empty() {
        let _ = writeln!(
            s,
            "- The wizard's NTP answer has no key. `forja pexip apply` adds every NTP server with its key (§73): {}.",
            std::iter::once(&a.config.ntp)
                .chain(a.extra_ntp.iter())
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(s);
}

/// One securitywizard question: the guide's wording, the profile's answer, the guide's answer, paragraphs.
#[derive(Debug, Clone)]
pub struct WizardQuestion {
    pub rule: &'static str,
    pub question: &'static str,
    pub answer: String,
    pub guide: &'static str,
    pub paragraphs: &'static str,
}

fn below_1_2_allowed(v: TlsVersion) -> bool {
    v < TlsVersion::V1_2
}

/// One row of the §34 table: rule, question as the guide words it, the guide's answer, paragraphs, and how to
/// read the profile's answer.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    fn(&SecureMode) -> String,
);

/// The fourteen questions of §34 in the guide's order. A data table: one line per question.
const QUESTIONS: [Row; 14] = [
    (
        "1616-5.1.a",
        "Enable FIPS 140-2 compliance mode",
        "YES",
        "§34, §32",
        |m| yn(m.fips_140_2),
    ),
    (
        "1616-5.1.b",
        "Disable system administrator account (this applies to SSH and console access)",
        "YES",
        "§34, §43",
        |m| yn(m.disable_system_admin_account),
    ),
    (
        "1616-5.1.c",
        "Accept ICMPv6 redirects",
        "NO",
        "§34, §53",
        |m| yn(m.accept_icmpv6_redirects),
    ),
    (
        "1616-5.1.d",
        "Drop incoming packets to closed ports rather than reject",
        "YES",
        "§34, §54",
        |m| yn(m.drop_closed_ports),
    ),
    (
        "1616-5.1.e",
        "Accept multicast ICMPv6 echo requests",
        "NO",
        "§34, §53",
        |m| yn(m.accept_multicast_icmpv6_echo),
    ),
    (
        "1616-5.1.f",
        "Enable IPv6 Duplicate Address Detection",
        "NO",
        "§34",
        |m| yn(m.ipv6_dad),
    ),
    (
        "1616-5.1.g",
        "Active management web sessions",
        "100",
        "§34, §51",
        |m| m.max_management_sessions.to_string(),
    ),
    (
        "1616-5.1.h",
        "Active per-user management web sessions",
        "10",
        "§34, §51",
        |m| m.max_per_user_sessions.to_string(),
    ),
    ("1616-5.1.i", "Enable TLS < 1.2", "NO", "§34, §57", |m| {
        yn(below_1_2_allowed(m.tls_min_version))
    }),
    (
        "1616-5.1.j",
        "Enable Anonymous DH for outbound SIP/TLS",
        "NO",
        "§34, §64",
        |m| yn(m.anonymous_dh_outbound_sip),
    ),
    (
        "1616-5.1.k",
        "Permit TLS < 1.2 for inbound HTTPS",
        "NO",
        "§34, §57, §65",
        |m| yn(below_1_2_allowed(m.inbound_https_tls_min_version)),
    ),
    ("1616-5.1.l", "Enable FIR", "YES", "§34", |m| yn(m.fir)),
    (
        "1616-5.1.m",
        "Enable AES128-SHA ciphersuite",
        "NO",
        "§34, §64",
        |m| yn(m.aes128_sha),
    ),
    (
        "1616-5.1.n",
        "Enable AES128-SHA ciphersuite for outbound SIP/TLS",
        "NO",
        "§34, §63",
        |m| yn(m.aes128_sha_outbound_sip),
    ),
];

fn yn(b: bool) -> String {
    yes_no(b).to_owned()
}

/// The 14 §34 questions in the guide's order with the profile's answers.
pub fn securitywizard_answers(m: &SecureMode) -> Vec<WizardQuestion> {
    QUESTIONS
        .iter()
        .map(
            |(rule, question, guide, paragraphs, answer)| WizardQuestion {
                rule,
                question,
                answer: answer(m),
                guide,
                paragraphs,
            },
        )
        .collect()
}

/// The securitywizard answer sheet.
pub fn securitywizard_sheet(l: &Loaded) -> String {
    let mut s = String::new();
    let m = &l.profile.pexip.management;
    let _ = writeln!(
        s,
        "# Pexip Management Node `{}.{}`: securitywizard answers\n",
        m.hostname, m.domain
    );
    let _ = writeln!(
        s,
        "CCN-STIC 1616 §32–35: after installation, log in to the Management Node console as `admin` and run \
         `securitywizard`. Change the defaults below; keep the default for any other question. The exact prompt \
         wording is not public: the questions are given as the guide words them, in the guide's order. The node \
         restarts when the wizard ends (§35).\n"
    );
    let _ = writeln!(
        s,
        "| # | Question (§34) | Answer | Guide | Rule | Paragraphs |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let answers = securitywizard_answers(&l.profile.pexip.secure_mode);
    for (i, q) in answers.iter().enumerate() {
        let flag = if q.answer == q.guide {
            ""
        } else {
            " (differs from the guide)"
        };
        let _ = writeln!(
            s,
            "| {} | {} | **{}**{flag} | {} | `{}` | {} |",
            i + 1,
            q.question,
            q.answer,
            q.guide,
            q.rule,
            q.paragraphs
        );
    }
    let differing = answers.iter().filter(|q| q.answer != q.guide).count();
    let _ = writeln!(s);
    if differing > 0 {
        let _ = writeln!(
            s,
            "WARNING: {differing} answer(s) differ from the guide; `forja check` reports them."
        );
    } else {
        let _ = writeln!(s, "All 14 answers are the guide's.");
    }
    s
}

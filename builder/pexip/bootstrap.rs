//! The Management Node's installation-wizard answers (§31), as the JSON Pexip's own tooling writes
//! (`{"management_node_config": {...}}`, compact, fields in the provider's order) and as data for the install
//! sheet.
//!
//! The provider validates `dns` as ONE address and `ntp` as one string, so the JSON carries the first DNS server
//! and the first NTP server of the profile; the REST plan adds every NTP server with its key (§73), and the
//! install sheet lists the remaining DNS servers for the operator. The wizard's NTP answer is unauthenticated
//! (it has no key field): the authenticated servers replace it when the plan is applied.
//!
//! The two passwords are template pieces ([`SecretHash`]): the build hashes them (Django PBKDF2 for the web
//! administrator, SHA-512 crypt for the console `admin`), so the plan and its golden file hold no secret.
//!
//! The §52 password policy (`host.password-policy`) is enforced by [`check_secrets`] on every password forja
//! hashes or hands to Pexip before a build: a weak one is refused with the secret's name and what it lacks,
//! never its value.

use std::net::IpAddr;

use serde::Serialize;

use super::{secret, secrets};
use crate::crypt::Scheme;
use crate::error::{Exit, fail};
use crate::plan::files::{Piece, SecretHash, marker, pieces_from_markers};
use crate::profile::model::PasswordPolicy;
use crate::profile::net::AddressMode;
use crate::profile::secrets::SecretRef;
use crate::profile::{FieldPath, Loaded};

/// The JSON document, field order as in Pexip's provider.
#[derive(Debug, Clone, Serialize)]
pub struct ManagementNodeConfig {
    pub hostname: String,
    pub domain: String,
    pub ip: String,
    pub mask: String,
    pub gw: String,
    pub dns: String,
    pub ntp: String,
    pub user: String,
    pub pass: String,
    pub admin_password: String,
    pub error_reports: bool,
    pub enable_analytics: bool,
    pub contact_email_address: String,
}

#[derive(Debug, Clone, Serialize)]
struct Outer<'a> {
    management_node_config: &'a ManagementNodeConfig,
}

/// The wizard's answers plus what the sheets need to say about them.
#[derive(Debug, Clone)]
pub struct WizardAnswers {
    pub config: ManagementNodeConfig,
    pub web_password: SecretRef,
    pub console_password: SecretRef,
    /// DNS servers beyond the first (the wizard and the JSON take one).
    pub extra_dns: Vec<IpAddr>,
    /// NTP servers beyond the first.
    pub extra_ntp: Vec<String>,
    /// `hostname.domain`, for the config drive's metadata.
    pub fqdn: String,
}

impl WizardAnswers {
    pub fn from_profile(l: &Loaded) -> anyhow::Result<Self> {
        let m = &l.profile.pexip.management;
        let cidr = match m.address {
            AddressMode::Static(c) if c.addr.is_ipv4() => c,
            other => {
                return Err(fail(
                    Exit::Input,
                    format!(
                        "{}: pexip.management.address is `{other}`; the installation wizard needs a static IPv4 \
                         address with its prefix (§24)",
                        l.locate(&FieldPath::parse("pexip.management.address"))
                    ),
                ));
            }
        };
        let dns = m.dns.first().ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "{}: pexip.management.dns is empty; the wizard needs a DNS server",
                    l.locate(&FieldPath::parse("pexip.management.dns"))
                ),
            )
        })?;
        let ntp = m.ntp.first().ok_or_else(|| {
            fail(
                Exit::Input,
                format!(
                    "{}: pexip.management.ntp is empty; the wizard needs an NTP server (§73)",
                    l.locate(&FieldPath::parse("pexip.management.ntp"))
                ),
            )
        })?;
        let config = ManagementNodeConfig {
            hostname: m.hostname.to_string(),
            domain: m.domain.to_string(),
            ip: cidr.addr.to_string(),
            mask: cidr.netmask_v4().map(|n| n.to_string()).unwrap_or_default(),
            gw: m.gateway.to_string(),
            dns: dns.to_string(),
            ntp: ntp.to_string(),
            user: m.web_admin_user.to_string(),
            pass: marker(0),
            admin_password: marker(1),
            error_reports: m.error_reports,
            enable_analytics: m.analytics,
            contact_email_address: m.contact_email.to_string(),
        };
        Ok(WizardAnswers {
            config,
            web_password: m.web_admin_password.clone(),
            console_password: m.console_admin_password.clone(),
            extra_dns: m.dns.iter().skip(1).copied().collect(),
            extra_ntp: m.ntp.iter().skip(1).map(|s| s.to_string()).collect(),
            fqdn: format!("{}.{}", m.hostname, m.domain),
        })
    }

    /// The hashes the two password markers stand for, in marker order.
    fn hashes(&self) -> [SecretHash; 2] {
        [
            SecretHash {
                secret: self.web_password.name().to_owned(),
                scheme: Scheme::DjangoPbkdf2Sha256,
                salt: format!("forja/pexip/django/{}", self.web_password.name()),
            },
            SecretHash {
                secret: self.console_password.name().to_owned(),
                scheme: Scheme::Sha512Crypt,
                salt: format!("forja/pexip/sha512-crypt/{}", self.console_password.name()),
            },
        ]
    }

    /// The cloud `user_data`: compact JSON, as the provider renders it, with the two password hashes as
    /// template pieces.
    pub fn user_data(&self) -> Vec<Piece> {
        let json = serde_json::to_string(&Outer {
            management_node_config: &self.config,
        })
        .expect("plain strings and booleans serialise");
        pieces_from_markers(&json, &self.hashes())
    }
}

/// Checks every secret the Pexip answers and nodes use, before a build hashes them: each exists and meets
/// `host.password-policy` (§31, §52).
pub fn check_secrets(l: &Loaded) -> anyhow::Result<()> {
    let p = &l.profile.pexip;
    let policy = &l.profile.host.password_policy;
    check_password_policy(l, &p.management.web_admin_password, policy)?;
    check_password_policy(l, &p.management.console_admin_password, policy)?;
    for n in &p.conferencing {
        check_password_policy(l, &n.password, policy)?;
    }
    Ok(())
}

/// The four character classes of §52.
fn classes(pw: &str) -> [(bool, &'static str); 4] {
    [
        (pw.chars().any(|c| c.is_lowercase()), "a lower-case letter"),
        (pw.chars().any(|c| c.is_uppercase()), "an upper-case letter"),
        (pw.chars().any(|c| c.is_ascii_digit()), "a digit"),
        (
            pw.chars()
                .any(|c| !c.is_alphanumeric() && !c.is_whitespace()),
            "a special character",
        ),
    ]
}

/// Refuses a password that breaks `host.password-policy` (§31, §52). The message names the secret and what is
/// missing; it never contains the value or its length.
pub fn check_password_policy(
    l: &Loaded,
    r: &SecretRef,
    policy: &PasswordPolicy,
) -> anyhow::Result<()> {
    let pw = secret(l, r)?.expose();
    let mut problems = Vec::new();
    let len = pw.chars().count();
    if (len as u64) < u64::from(policy.min_length) {
        problems.push(format!("fewer than {} characters", policy.min_length));
    }
    let cls = classes(pw);
    let have = cls.iter().filter(|(ok, _)| *ok).count() as u32;
    if have < policy.min_classes {
        let missing: Vec<&str> = cls.iter().filter(|(ok, _)| !ok).map(|(_, n)| *n).collect();
        problems.push(format!(
            "{have} of the {} required character classes (missing {})",
            policy.min_classes,
            missing.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(fail(
            Exit::Input,
            format!(
                "{}: secret `{}` does not meet host.password-policy (§31, §52): {}; choose another value in {}",
                l.path.display(),
                r.name(),
                problems.join("; "),
                secrets(l)
                    .map(|s| s.path.display().to_string())
                    .unwrap_or_default()
            ),
        ))
    }
}

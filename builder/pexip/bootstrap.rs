//! The Management Node's installation-wizard answers (§31), as the JSON Pexip's own tooling writes
//! (`{"management_node_config": {...}}`, compact, fields in the provider's order) and as data for the install
//! sheet.
//!
//! The provider validates `dns` as ONE address and `ntp` as one string, so the JSON carries the first DNS server
//! and the first NTP server of the profile; the REST plan adds every NTP server with its key (§73), and the
//! install sheet lists the remaining DNS servers for the operator. The wizard's NTP answer is unauthenticated
//! (it has no key field): the authenticated servers replace it when the plan is applied.
//!
//! The §52 password policy (`host.password-policy`) is enforced here on every password forja hashes or hands to
//! Pexip: a weak one is refused with the secret's name and what it lacks, never its value.

use std::net::IpAddr;

use serde::Serialize;

use super::hash::{
    ALNUM, CRYPT64, SHA512_CRYPT_ROUNDS, derive_salt, django_pbkdf2_sha256, sha512_crypt,
};
use super::{secret, secrets};
use crate::error::{Exit, fail};
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
        let policy = &l.profile.host.password_policy;
        check_password_policy(l, &m.web_admin_password, policy)?;
        check_password_policy(l, &m.console_admin_password, policy)?;
        let seed = build_seed(l)?;
        let web = secret(l, &m.web_admin_password)?;
        let console = secret(l, &m.console_admin_password)?;
        let web_salt = derive_salt(
            seed,
            &format!("forja/pexip/django/{}", web.name()),
            12,
            ALNUM,
        );
        let console_salt = derive_salt(
            seed,
            &format!("forja/pexip/sha512-crypt/{}", console.name()),
            16,
            CRYPT64,
        );
        let config = ManagementNodeConfig {
            hostname: m.hostname.clone(),
            domain: m.domain.clone(),
            ip: cidr.addr.to_string(),
            mask: cidr.netmask_v4().map(|n| n.to_string()).unwrap_or_default(),
            gw: m.gateway.to_string(),
            dns: dns.to_string(),
            ntp: ntp.clone(),
            user: m.web_admin_user.clone(),
            pass: django_pbkdf2_sha256(web.expose(), &web_salt),
            admin_password: sha512_crypt(console.expose(), &console_salt, SHA512_CRYPT_ROUNDS),
            error_reports: m.error_reports,
            enable_analytics: m.analytics,
            contact_email_address: m.contact_email.clone(),
        };
        Ok(WizardAnswers {
            config,
            web_password: m.web_admin_password.clone(),
            console_password: m.console_admin_password.clone(),
            extra_dns: m.dns.iter().skip(1).copied().collect(),
            extra_ntp: m.ntp.iter().skip(1).cloned().collect(),
            fqdn: format!("{}.{}", m.hostname, m.domain),
        })
    }

    /// The cloud `user_data`: compact JSON, as the provider renders it.
    pub fn user_data(&self) -> String {
        serde_json::to_string(&Outer {
            management_node_config: &self.config,
        })
        .expect("plain strings and booleans serialise")
    }
}

/// The secret seed the salts derive from (`profile.build-seed`).
fn build_seed(l: &Loaded) -> anyhow::Result<&[u8]> {
    let r = l.profile.profile.build_seed.as_ref().ok_or_else(|| {
        fail(
            Exit::Input,
            format!(
                "{}: profile.build-seed is not set; the Pexip password hashes need a secret per deployment to derive \
                 their salts: add `build-seed = {{ secret = \"build-seed\" }}` under [profile] and a long random \
                 value for it in {}",
                l.path.display(),
                secrets(l)
                    .map(|s| s.path.display().to_string())
                    .unwrap_or_default()
            ),
        )
    })?;
    let s = secret(l, r)?;
    if s.expose().len() < 16 {
        return Err(fail(
            Exit::Input,
            format!(
                "{}: secret `{}` (profile.build-seed) is shorter than 16 characters; use e.g. 32 random bytes in hex",
                l.path.display(),
                r.name()
            ),
        ));
    }
    Ok(s.expose().as_bytes())
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

//! Findings: points where the guide and the vendor (or CCN-STIC-807) disagree. They are not rules and do not
//! fail a profile; the report states both sides and what forja does, so an auditor decides with the facts.

use serde::Serialize;

use crate::profile::model::{NtpKeyType, Profile};

/// One conflict between sources, stated from both sides.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub paragraph: &'static str,
    pub topic: &'static str,
    /// What CCN-STIC 1616 says.
    pub guide: &'static str,
    /// What the other source (vendor API, CCN-STIC-807) says, naming it.
    pub other: &'static str,
    /// What forja does about it, and what is left to the site.
    pub forja: &'static str,
}

const BACKUP_SCHEME: Finding = Finding {
    id: "finding-backup-upload-scheme",
    paragraph: "§95",
    topic: "Backup upload protocol",
    guide: "CCN-STIC 1616 §95: backups are always uploaded over SFTP; FTP is forbidden.",
    other: "Pexip management API (autobackup_upload_url): the schema also accepts FTPS and FTP upload URLs.",
    forja: "forja accepts only sftp:// (rule 1616-5.14.c); an auditor should confirm nobody changes the URL later in the web interface.",
};

const NTP_SHA1: Finding = Finding {
    id: "finding-ntp-sha1-keys",
    paragraph: "§73",
    topic: "NTP authentication keys",
    guide: "CCN-STIC 1616 §73: NTP must be authenticated; Pexip only offers SHA-1 keys.",
    other: "CCN-STIC-807: SHA-1 is allowed only inside HMAC; NTP symmetric-key authentication is a keyed digest, not HMAC.",
    forja: "forja follows the guide (SHA1 keys for servers the nodes use, rule 1616-5.8.a) and reports this conflict; the site's accreditation has to accept the residual risk or use NTP on an isolated management network only.",
};

/// The findings that apply to this profile.
pub fn findings(p: &Profile) -> Vec<Finding> {
    let mut out = Vec::new();
    if p.pexip.backup.enabled || p.pexip.backup.upload_url.is_some() {
        out.push(BACKUP_SCHEME);
    }
    if p.host
        .ntp
        .iter()
        .any(|s| s.key_type == Some(NtpKeyType::Sha1))
    {
        out.push(NTP_SHA1);
    }
    out
}

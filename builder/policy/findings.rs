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
    other: "Pexip's management API documents \"Supported schemes: FTPS, FTP\" for autobackup_upload_url (the API's field table, and pexip/terraform-provider-pexip resource_infinity_autobackup.go); no public Pexip source shows sftp:// accepted, by v25.4 or later.",
    forja: "forja refuses ftp:// and plans the profile's sftp:// or ftps:// URL; either way rule 1616-5.14.c is MANUAL: with sftp:// confirm that the Management Node accepts it (forja pexip apply stops with HTTP 400 otherwise), with ftps:// record the accreditation's acceptance of FTPS in place of SFTP. forja pexip audit reports any later change of the URL.",
};

const HTTP_ACCESS_FIELD: Finding = Finding {
    id: "finding-http-access-field",
    paragraph: "§56",
    topic: "\"Enable HTTP access for external systems\"",
    guide: "CCN-STIC 1616 §56: Platform > Global settings: \"Enable HTTP access for external systems\" is disabled.",
    other: "Pexip's public SDK and Terraform provider name no field with that label; the global resource's legacy_api_http (\"Enable legacy API HTTP access\" in an earlier provider, deprecated and ignored in current versions) is the only match.",
    forja: "forja's plan sets legacy_api_http = false and forja pexip audit reads it back (rule 1616-5.5.b); confirm once in the web interface that the box is unticked.",
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
    let mut out = vec![HTTP_ACCESS_FIELD];
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

//! Time and logs: authenticated NTP (§72–73), forwarding to a remote syslog over TLS (§89), bounded local logs
//! (§85: 10 MB files, 2 GB in all) and an audit trail of changes to the critical configuration (§106).
//!
//! The NTP keys themselves are secrets shared with the NTP servers, so they are NOT in the image (an image may be
//! copied; a key may not): chrony reads them from `/var/lib/forja/etc/chrony.keys` on the writable state
//! partition (the root is read-only), which the operator installs at the
//! site (a MANUAL step in the compliance report). Until then chrony runs and reports the sources unauthenticated.

use std::fmt::Write;

use indoc::formatdoc;

use super::GenFile;
use super::syntax::{rainerscript_string, word};
use crate::profile::model::{NtpKeyType, TlsVersion, Transport};
use crate::profile::{FieldPath, Loaded};

const R_NTP: &str = "1616-5.8.a";
const R_SYSLOG: &str = "1616-5.13.c";
const R_ROTATE: &str = "1616-6.b";

/// Where the image expects the site's NTP keys (installed by the operator, never shipped).
pub const CHRONY_KEYS: &str = "/var/lib/forja/etc/chrony.keys";
/// Where the syslog CA certificate goes.
pub const SYSLOG_CA: &str = "/etc/ssl/forja/syslog-ca.pem";
/// The host's time zone: a link into the base's tz database (the build checks that the zone is there).
pub const LOCALTIME: &str = "/etc/localtime";
/// The base's tz database.
pub const ZONEINFO: &str = "/usr/share/zoneinfo";

/// `/etc/localtime` and `/etc/timezone` for the profile's `host.timezone` (Debian's `dpkg-reconfigure tzdata`
/// writes the same two).
fn time_zone(l: &Loaded) -> anyhow::Result<Vec<GenFile>> {
    let tz = word("host.timezone", &l.profile.host.timezone)?;
    Ok(vec![
        GenFile::symlink(LOCALTIME, &format!("{ZONEINFO}/{tz}")),
        GenFile::text("/etc/timezone", 0o644, format!("{tz}\n"), &[]),
    ])
}

/// The GnuTLS priority string for rsyslog's TLS client: strong suites only, and no protocol version below
/// `host.syslog.tls-min-version` (§89, CCN-STIC-807: TLS 1.2 and 1.3 only).
pub fn gnutls_priority(min: TlsVersion) -> String {
    let versions: &[&str] = match min {
        TlsVersion::V1_3 => &["+VERS-TLS1.3"],
        // The policy refuses anything below 1.2; if it ever got here, 1.2 is still the floor.
        _ => &["+VERS-TLS1.3", "+VERS-TLS1.2"],
    };
    format!("SECURE256:+SECURE128:-VERS-ALL:{}", versions.join(":"))
}

pub fn files(l: &Loaded) -> anyhow::Result<Vec<GenFile>> {
    let mut out = time_files(l)?;
    out.extend(time_zone(l)?);
    out.extend(log_files());
    out.extend(syslog_files(l)?);
    Ok(out)
}

/// chrony's configuration and the template of the key file the operator installs (§72–73).
fn time_files(l: &Loaded) -> anyhow::Result<Vec<GenFile>> {
    let h = &l.profile.host;
    let mut chrony = String::from("# forja: authenticated NTP sources (§73)\n");
    for (i, s) in h.ntp.iter().enumerate() {
        let server = word(&format!("host.ntp[{i}].address"), &s.address)?;
        let _ = write!(chrony, "server {server} iburst");
        if let Some(id) = s.key_id {
            let _ = write!(chrony, " key {id}");
        }
        chrony.push('\n');
    }
    let _ = writeln!(
        chrony,
        "keyfile {CHRONY_KEYS}\nauthselectmode require\ndriftfile /var/lib/chrony/chrony.drift\nmakestep 1.0 3\nrtcsync\ncmdport 0\nlogdir /var/log/chrony"
    );
    let key_hint: String = h
        .ntp
        .iter()
        .filter_map(|s| {
            Some(format!(
                "# {} {} <key for {}>\n",
                s.key_id?,
                match s.key_type? {
                    NtpKeyType::Sha1 => "SHA1",
                    NtpKeyType::Sha256 => "SHA256",
                    NtpKeyType::Sha512 => "SHA512",
                    NtpKeyType::Aes128 => "AES128",
                    NtpKeyType::Md5 => "MD5",
                },
                s.address
            ))
        })
        .collect();
    Ok(vec![
        GenFile::text("/etc/chrony/chrony.conf", 0o644, chrony, &[R_NTP]),
        GenFile::text(
            "/etc/chrony/forja.keys.example",
            0o644,
            format!(
                "# forja: install the site's NTP keys as {CHRONY_KEYS} (mode 0640, root:_chrony), one per line:\n{key_hint}"
            ),
            &[R_NTP],
        ),
    ])
}

/// Bounded local logs (§85) and the audit trail of the critical configuration (§106).
fn log_files() -> Vec<GenFile> {
    vec![
        GenFile::text(
            "/etc/systemd/journald.conf.d/60-forja.conf",
            0o644,
            formatdoc! {"
                # forja: bounded local logs (§85: 10 MB files, 2 GB in all), forwarded to rsyslog
                [Journal]
                Storage=persistent
                SystemMaxUse=2G
                SystemMaxFileSize=10M
                ForwardToSyslog=yes
            "},
            &[R_ROTATE],
        ),
        // Replaces Debian's /etc/logrotate.d/rsyslog rather than adding a file beside it: logrotate refuses a
        // log listed twice ("duplicate log entry") and fails the whole daily run.
        GenFile::text(
            "/etc/logrotate.d/rsyslog",
            0o644,
            formatdoc! {"
                # forja: rotate at 10 MB, keep at most 2 GB (§85); replaces the rsyslog package's file
                /var/log/syslog
                /var/log/mail.log
                /var/log/kern.log
                /var/log/auth.log
                /var/log/user.log
                /var/log/cron.log
                /var/log/forja-alarm.log
                {{
                    size 10M
                    rotate 200
                    compress
                    missingok
                    notifempty
                    sharedscripts
                    postrotate
                        /usr/lib/rsyslog/rsyslog-rotate
                    endscript
                }}
            "},
            &[R_ROTATE],
        ),
        GenFile::text(
            "/etc/audit/rules.d/60-forja.rules",
            0o640,
            formatdoc! {"
                ## forja: watch the critical configuration and the accounts (§77, §106)
                -w /etc/forja/ -p wa -k forja-config
                -w /etc/nftables.conf -p wa -k forja-firewall
                -w /etc/systemd/network/ -p wa -k forja-network
                -w /etc/sysctl.d/ -p wa -k forja-sysctl
                -w /etc/ssh/ -p wa -k forja-ssh
                -w /etc/passwd -p wa -k identity
                -w /etc/shadow -p wa -k identity
                -w /etc/group -p wa -k identity
                -w /etc/crypttab -p wa -k forja-storage
                -w /var/log/audit/ -p wa -k audit-log
            "},
            &[R_ROTATE],
        ),
    ]
}

/// Forwarding to the site's syslog server over TLS (§89).
fn syslog_files(l: &Loaded) -> anyhow::Result<Vec<GenFile>> {
    let h = &l.profile.host;
    let mut out = Vec::new();
    if let Some(sys) = &h.syslog {
        let tls = sys.transport == Transport::Tls;
        let mut conf =
            String::from("# forja: forward every message to the site's syslog server (§89)\n");
        if tls {
            let _ = writeln!(
                conf,
                "global(DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{SYSLOG_CA}\")"
            );
        }
        let addr = rainerscript_string("host.syslog.address", &sys.address)?;
        let _ = writeln!(
            conf,
            "action(type=\"omfwd\" target={addr} port=\"{port}\" protocol=\"tcp\"{tls} queue.type=\"LinkedList\" queue.filename=\"forja-fwd\" queue.maxDiskSpace=\"512m\" queue.saveOnShutdown=\"on\" action.resumeRetryCount=\"-1\")",
            port = sys.port,
            tls = if tls {
                format!(
                    " StreamDriver=\"gtls\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/name\" StreamDriverPermittedPeers={addr} gnutlsPriorityString=\"{}\"",
                    gnutls_priority(sys.tls_min_version)
                )
            } else {
                String::new()
            }
        );
        out.push(GenFile::text(
            "/etc/rsyslog.d/60-forja-forward.conf",
            0o644,
            conf,
            &[R_SYSLOG],
        ));
        if let Some(ca) = &sys.ca_certificate {
            let key = "host.syslog.ca-certificate";
            let path = l.input(key, ca)?;
            let pem =
                crate::inbound::read_text_capped(&path, crate::inbound::MAX_PEM).map_err(|e| {
                    crate::error::fail(
                        crate::error::Exit::Input,
                        format!("{}: {key}: {e:#}", l.locate(&FieldPath::parse(key))),
                    )
                })?;
            out.push(GenFile::text(SYSLOG_CA, 0o644, pem, &[R_SYSLOG]));
        }
    }
    Ok(out)
}

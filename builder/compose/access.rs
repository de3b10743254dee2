//! Who may log in and how: login banner and idle timeout (§51), local password policy (§52), SSH (off unless
//! the profile enables it; then keys only and CCN-STIC-807 algorithms).

use indoc::formatdoc;

use super::GenFile;
use super::syntax::{line, word};
use crate::crypt::Scheme;
use crate::plan::files::{Edit, EditOp, SecretHash};
use crate::profile::Loaded;
use crate::profile::names::SshToken;

const R_BANNER: &str = "1616-5.4.3.a";
const R_TIMEOUT: &str = "1616-5.4.3.b";
const R_PASSWORDS: &str = "1616-5.4.4.a";
const R_SSH: &str = "1616-5.4.1.a";
const R_SSH_807: &str = "807-ssh";

/// CCN-STIC-807 defaults for sshd when the profile enables SSH without naming algorithms.
pub const SSH_KEX: &[&str] = &[
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
];
pub const SSH_CIPHERS: &[&str] = &[
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes128-ctr",
];
pub const SSH_MACS: &[&str] = &[
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
];

pub fn files(l: &Loaded) -> anyhow::Result<Vec<GenFile>> {
    let h = &l.profile.host;
    let pp = &h.password_policy;
    let banner = if h.banner.ends_with('\n') {
        h.banner.to_string()
    } else {
        format!("{}\n", h.banner)
    };
    let mut out = vec![
        GenFile::text("/etc/issue", 0o644, banner.clone(), &[R_BANNER]),
        GenFile::text("/etc/issue.net", 0o644, banner, &[R_BANNER]),
        GenFile::text(
            "/etc/profile.d/forja-tmout.sh",
            0o644,
            format!(
                "# forja: idle shells end after {m} minutes (§51)\nTMOUT={s}\nreadonly TMOUT\nexport TMOUT\n",
                m = h.session_timeout_minutes,
                s = u64::from(h.session_timeout_minutes) * 60
            ),
            &[R_TIMEOUT],
        ),
        GenFile::text(
            "/etc/security/pwquality.conf",
            0o644,
            formatdoc! {"
                # forja: local password policy (§52)
                minlen = {min}
                minclass = {classes}
                dcredit = 0
                ucredit = 0
                lcredit = 0
                ocredit = 0
                enforce_for_root
            ", min = pp.min_length, classes = pp.min_classes},
            &[R_PASSWORDS],
        ),
        GenFile::text(
            "/etc/pam.d/common-password",
            0o644,
            formatdoc! {"
                # forja: password changes must pass the §52 policy and may not reuse the last {hist}
                password\trequisite\tpam_pwquality.so retry=3
                password\trequisite\tpam_pwhistory.so remember={hist} use_authtok enforce_for_root
                password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt
                password\trequisite\tpam_deny.so
                password\trequired\tpam_permit.so
            ", hist = pp.history},
            &[R_PASSWORDS],
        ),
    ];
    if h.ssh.enabled {
        out.extend(ssh_files(l)?);
    }
    Ok(out)
}

/// Days of warning before a password expires.
pub const PASS_WARN_AGE: u32 = 7;

/// The `login.defs` keys forja sets on the base system's file (§52).
pub fn login_defs_keys(l: &Loaded) -> Vec<(String, String)> {
    let pp = &l.profile.host.password_policy;
    vec![
        ("PASS_MAX_DAYS".into(), pp.max_age_days.to_string()),
        ("PASS_MIN_DAYS".into(), pp.min_age_days.to_string()),
        ("PASS_WARN_AGE".into(), PASS_WARN_AGE.to_string()),
    ]
}

/// The changes forja makes to files of the base: login.defs' password ageing (for accounts made later), root's
/// own ageing in /etc/shadow (login.defs does not touch an account that exists already, and root is the host's
/// only login), and root's password hash when the profile gives root a password (§52; otherwise root stays
/// locked and the host has no console login). With a maximum age, a root password set at build time must be
/// changed at the first console login once that many days have passed since the base was made.
pub fn edits(l: &Loaded) -> Vec<Edit> {
    let pp = &l.profile.host.password_policy;
    let mut e = vec![
        Edit {
            path: "/etc/login.defs".into(),
            op: EditOp::SetKeys(login_defs_keys(l)),
        },
        Edit {
            path: "/etc/shadow".into(),
            op: EditOp::ShadowAgeing {
                user: "root".into(),
                min_days: pp.min_age_days,
                max_days: pp.max_age_days,
                warn_days: PASS_WARN_AGE,
            },
        },
    ];
    if let Some(r) = &l.profile.host.root_password {
        e.push(Edit {
            path: "/etc/shadow".into(),
            op: EditOp::ShadowPassword {
                user: "root".into(),
                hash: SecretHash {
                    secret: r.name().to_owned(),
                    scheme: Scheme::Sha512Crypt,
                    salt: "host-root-password".into(),
                },
            },
        });
    }
    e
}

/// Sets `user`'s password hash in a shadow file's text (the line keeps its other fields).
pub fn set_password_hash(shadow: &str, user: &str, hash: &str) -> String {
    shadow
        .lines()
        .map(|l| match l.split_once(':') {
            Some((u, rest)) if u == user => {
                let tail = rest.split_once(':').map_or("", |x| x.1);
                format!("{u}:{hash}:{tail}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

/// Sets `user`'s minimum age, maximum age and warning period (shadow fields 4 to 6) in a shadow file's text.
pub fn set_ageing(shadow: &str, user: &str, days: [u32; 3]) -> String {
    shadow
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split(':').map(str::to_owned).collect();
            if f.first().map(String::as_str) == Some(user) && f.len() >= 6 {
                for (i, d) in days.iter().enumerate() {
                    f[3 + i] = d.to_string();
                }
            }
            format!("{}\n", f.join(":"))
        })
        .collect()
}

/// Rewrites `KEY value` lines of a login.defs-style file, appending keys it lacks.
pub fn set_keys(text: &str, keys: &[(String, String)]) -> String {
    let mut seen = vec![false; keys.len()];
    let mut out = String::new();
    for line in text.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        match keys.iter().position(|(k, _)| *k == word) {
            Some(i) if !line.trim_start().starts_with('#') => {
                out.push_str(&format!("{}\t{}\n", keys[i].0, keys[i].1));
                seen[i] = true;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (i, (k, v)) in keys.iter().enumerate() {
        if !seen[i] {
            out.push_str(&format!("{k}\t{v}\n"));
        }
    }
    out
}

fn ssh_files(l: &Loaded) -> anyhow::Result<Vec<GenFile>> {
    let ssh = &l.profile.host.ssh;
    let pick = |key: &str, given: &[SshToken], default: &[&str]| -> anyhow::Result<String> {
        if given.is_empty() {
            return Ok(default.join(","));
        }
        let words = given
            .iter()
            .enumerate()
            .map(|(i, t)| word(&format!("host.ssh.{key}[{i}]"), t))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(words.join(","))
    };
    let listen = l
        .profile
        .network
        .management
        .address
        .static_cidr()
        .map(|c| format!("ListenAddress {}\n", c.addr))
        .unwrap_or_default();
    let mut keys = String::new();
    for (i, k) in ssh.authorized_keys.iter().enumerate() {
        keys.push_str(&line(&format!("host.ssh.authorized-keys[{i}]"), k)?);
        keys.push('\n');
    }
    Ok(vec![
        GenFile::text(
            "/etc/ssh/sshd_config.d/forja.conf",
            0o644,
            formatdoc! {"
                # forja: SSH keys only, CCN-STIC-807 algorithms, management address only
                {listen}Protocol 2
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                PermitRootLogin prohibit-password
                PubkeyAuthentication yes
                KexAlgorithms {kex}
                Ciphers {ciphers}
                MACs {macs}
                HostKeyAlgorithms ecdsa-sha2-nistp384,ecdsa-sha2-nistp256,rsa-sha2-512
                # The device's own key, made at first boot on the state partition (the image ships none)
                HostKey /var/lib/forja/ssh/ssh_host_ecdsa_key
                Banner /etc/issue.net
                ClientAliveInterval 300
                ClientAliveCountMax 0
            ",
            kex = pick("kex", &ssh.kex, SSH_KEX)?,
            ciphers = pick("ciphers", &ssh.ciphers, SSH_CIPHERS)?,
            macs = pick("macs", &ssh.macs, SSH_MACS)?},
            &[R_SSH, R_SSH_807],
        ),
        GenFile::text("/root/.ssh/authorized_keys", 0o600, keys, &[R_SSH]),
        GenFile::symlink(
            "/etc/systemd/system/ssh.service.requires/forja-ssh-hostkeys.service",
            "/usr/lib/systemd/system/forja-ssh-hostkeys.service",
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_hash_replaces_only_the_password_field() {
        let shadow = "root:*:20454:0:99999:7:::\ndaemon:*:20454:0:99999:7:::\n";
        assert_eq!(
            set_password_hash(shadow, "root", "$6$x$y"),
            "root:$6$x$y:20454:0:99999:7:::\ndaemon:*:20454:0:99999:7:::\n"
        );
    }

    #[test]
    fn root_ageing_sets_min_max_and_warn_only() {
        let shadow = "root:$6$x$y:20454:0:99999:7:::\ndaemon:*:20454:0:99999:7:::\n";
        assert_eq!(
            set_ageing(shadow, "root", [10, 60, 7]),
            "root:$6$x$y:20454:10:60:7:::\ndaemon:*:20454:0:99999:7:::\n"
        );
    }

    /// 807-ssh: with SSH enabled, sshd_config offers nothing CCN-STIC-807 does not allow.
    #[test]
    fn sshd_config_offers_only_807_algorithms() {
        use crate::plan::files::GenKind;
        use crate::policy::rules::crypto807 as c807;
        let mut l = crate::profile::load(
            std::path::Path::new("profiles/lab.toml"),
            crate::profile::SecretsNeed::Required,
        )
        .unwrap();
        l.profile.host.ssh.enabled = true;
        l.profile.host.ssh.authorized_keys = vec!["ssh-ed25519 AAAAC3 admin".parse().unwrap()];
        let f = files(&l)
            .unwrap()
            .into_iter()
            .find(|f| f.path == "/etc/ssh/sshd_config.d/forja.conf")
            .unwrap();
        let GenKind::File(text) = f.kind else {
            panic!("sshd_config is plain text")
        };
        for (key, allowed) in [
            ("KexAlgorithms", c807::SSH_KEX),
            ("Ciphers", c807::SSH_CIPHERS),
            ("MACs", c807::SSH_MACS),
        ] {
            let line = text.lines().find(|l| l.starts_with(key)).unwrap();
            for a in line[key.len()..].trim().split(',') {
                assert!(allowed.contains(&a), "{key} offers {a}");
            }
        }
        assert!(text.contains("PasswordAuthentication no\n"));
    }

    #[test]
    fn sets_existing_keys_and_appends_missing_ones() {
        let base = "# comment PASS_MAX_DAYS\nPASS_MAX_DAYS\t99999\nUMASK 022\n";
        let out = set_keys(
            base,
            &[
                ("PASS_MAX_DAYS".into(), "60".into()),
                ("PASS_MIN_DAYS".into(), "10".into()),
            ],
        );
        assert_eq!(
            out,
            "# comment PASS_MAX_DAYS\nPASS_MAX_DAYS\t60\nUMASK 022\nPASS_MIN_DAYS\t10\n"
        );
    }
}

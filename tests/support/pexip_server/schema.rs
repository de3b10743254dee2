//! The resources the stand-in Management Node knows, with their fields' types, value sets and ranges, and which
//! fields are write-only (never returned) or read-only (computed by the manager). A data table: it is long
//! because the API is.
//!
//! Sources, per resource: pexip/go-infinity-sdk `config/<resource>_model.go` (field names, JSON types, related
//! resources as URIs, nested objects on read) and pexip/terraform-provider-pexip
//! `internal/provider/resource_infinity_<resource>.go` (`OneOf`, `Between`, `LengthAtMost` validators; fields it
//! calls write-only because "the API does not return them"). A field that is in neither is not here, so a plan
//! that sends a wrong name fails a test. The autobackup upload schemes are the API's own field description
//! ("Supported schemes: FTPS, FTP").

/// A field's type, as the manager validates it.
#[derive(Debug, Clone, Copy)]
pub enum T {
    Str(usize),
    Int(i64, i64),
    Bool,
    Choice(&'static [&'static str]),
    /// A string of digits, length within the bounds (a PIN).
    Digits(usize, usize),
    /// A URL whose scheme is one of these.
    Url(&'static [&'static str]),
    /// PEM text holding an X.509 certificate.
    Pem,
    /// The resource URI of an object of this resource.
    Uri(&'static str),
    /// A list of resource URIs of this resource; read back as nested objects.
    UriList(&'static str),
}

/// How the manager treats a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// Accepted on write, never returned.
    WriteOnly,
    /// Returned, never accepted on write.
    ReadOnly,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub t: T,
    pub access: Access,
    /// Needed in a POST.
    pub required: bool,
}

const fn f(name: &'static str, t: T) -> Field {
    Field {
        name,
        t,
        access: Access::ReadWrite,
        required: false,
    }
}
const fn req(name: &'static str, t: T) -> Field {
    Field {
        name,
        t,
        access: Access::ReadWrite,
        required: true,
    }
}
const fn wo(name: &'static str, t: T) -> Field {
    Field {
        name,
        t,
        access: Access::WriteOnly,
        required: false,
    }
}
const fn ro(name: &'static str, t: T) -> Field {
    Field {
        name,
        t,
        access: Access::ReadOnly,
        required: false,
    }
}

#[derive(Debug)]
pub struct Resource {
    pub name: &'static str,
    /// Object 1 only, PATCH and GET, no POST.
    pub singleton: bool,
    pub fields: &'static [Field],
}

impl Resource {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

use T::*;

const ON_OFF: &[&str] = &["OFF", "ON"];
const SSH: &[&str] = &["GLOBAL", "OFF", "ON"];
const SNMP: &[&str] = &["DISABLED", "STANDARD", "AUTHPRIV"];
const CRYPTO: &[&str] = &["besteffort", "on", "off"];

pub static RESOURCES: &[Resource] = &[
    Resource {
        name: "global",
        singleton: true,
        fields: &[
            f("session_timeout_enabled", Bool),
            f("management_session_timeout", Int(5, 1440)),
            f("logon_banner", Str(4096)),
            f("site_banner", Str(255)),
            f("enable_ssh", Bool),
            // GUESS (see builder/policy/rules/session.rs): the SDK's global model carried it until b934af6.
            f("legacy_api_http", Bool),
            f("legacy_api_username", Str(100)),
            wo("legacy_api_password", Str(100)),
            f("error_reporting_enabled", Bool),
            f("error_reporting_url", Str(255)),
            f("enable_analytics", Bool),
            f("enable_sip", Bool),
            f("sip_tls_cert_verify_mode", Choice(ON_OFF)),
            f("crypto_mode", Choice(CRYPTO)),
            f("ocsp_state", Choice(&["OFF", "ON", "OVERRIDE"])),
            f("ocsp_responder_url", Str(255)),
            f("min_pin_length", Int(4, 20)),
            f("pin_entry_timeout", Int(30, 86400)),
            f("bdpm_pin_checks_enabled", Bool),
            f("bdpm_scan_quarantine_enabled", Bool),
            f("bdpm_max_pin_failures_per_window", Int(5, 200)),
            f("bdpm_max_scan_attempts_per_window", Int(5, 200)),
        ],
    },
    Resource {
        name: "authentication",
        singleton: true,
        fields: &[
            f(
                "source",
                Choice(&[
                    "LOCAL",
                    "LDAP",
                    "LDAP+LOCAL",
                    "OIDC",
                    "OIDC+LOCAL",
                    "LDAP+OIDC+LOCAL",
                ]),
            ),
            f("client_certificate", Choice(&["NO", "CN", "UPN"])),
            f("ldap_server", Str(255)),
            f("ldap_base_dn", Str(255)),
            f("ldap_bind_username", Str(255)),
            wo("ldap_bind_password", Str(100)),
            f("ldap_user_filter", Str(1024)),
            f("ldap_group_filter", Str(1024)),
            f("ldap_use_global_catalog", Bool),
            f("ldap_permit_no_tls", Bool),
            f("api_oauth2_disable_basic", Bool),
        ],
    },
    Resource {
        name: "management_vm",
        singleton: true,
        fields: &[
            f("name", Str(32)),
            f("description", Str(250)),
            f("address", Str(255)),
            f("netmask", Str(255)),
            f("gateway", Str(255)),
            f("hostname", Str(255)),
            f("domain", Str(255)),
            f("enable_ssh", Choice(SSH)),
            f("snmp_mode", Choice(SNMP)),
            f("snmp_username", Str(100)),
            wo("snmp_authentication_password", Str(100)),
            wo("snmp_privacy_password", Str(100)),
            f("ntp_servers", UriList("ntp_server")),
            f("syslog_servers", UriList("syslog_server")),
            f("tls_certificate", Uri("tls_certificate")),
            ro("primary", Bool),
        ],
    },
    Resource {
        name: "ntp_server",
        singleton: false,
        fields: &[
            req("address", Str(255)),
            f("description", Str(250)),
            // "Enter the plaintext key; this will be stored as a SHA1 hash": never read back as sent.
            wo("key", Str(100)),
            f("key_id", Int(1, 65535)),
        ],
    },
    Resource {
        name: "syslog_server",
        singleton: false,
        fields: &[
            req("address", Str(255)),
            f("description", Str(250)),
            f("port", Int(1, 65535)),
            f("transport", Choice(&["udp", "tcp", "tls"])),
            f("audit_log", Bool),
            f("support_log", Bool),
            f("web_log", Bool),
            f("proto_format", Str(32)),
        ],
    },
    Resource {
        name: "autobackup",
        singleton: true,
        fields: &[
            f("autobackup_enabled", Bool),
            f("autobackup_interval", Int(1, 24)),
            f("autobackup_start_hour", Int(0, 23)),
            wo("autobackup_passphrase", Str(100)),
            f("autobackup_upload_url", Url(&["ftps", "ftp"])),
            f("autobackup_upload_username", Str(100)),
            wo("autobackup_upload_password", Str(100)),
        ],
    },
    Resource {
        name: "break_in_allow_list_address",
        singleton: false,
        fields: &[
            req("name", Str(100)),
            f("description", Str(500)),
            req("address", Str(255)),
            req("prefix", Int(0, 128)),
            f("allowlist_entry_type", Choice(&["user", "proxy"])),
            f("ignore_incorrect_aliases", Bool),
            f("ignore_incorrect_pins", Bool),
        ],
    },
    Resource {
        name: "conference",
        singleton: false,
        fields: &[
            req("name", Str(250)),
            f("description", Str(250)),
            f(
                "service_type",
                Choice(&[
                    "conference",
                    "lecture",
                    "two_stage_dialing",
                    "test_call",
                    "media_playback",
                ]),
            ),
            f("pin", Digits(4, 20)),
            f("guest_pin", Digits(4, 20)),
            f("allow_guests", Bool),
            f("crypto_mode", Choice(CRYPTO)),
        ],
    },
    Resource {
        name: "system_location",
        singleton: false,
        fields: &[
            req("name", Str(250)),
            f("description", Str(250)),
            f("ntp_servers", UriList("ntp_server")),
            f("syslog_servers", UriList("syslog_server")),
            f("bdpm_pin_checks_enabled", Choice(&["GLOBAL", "OFF", "ON"])),
            f(
                "bdpm_scan_quarantine_enabled",
                Choice(&["GLOBAL", "OFF", "ON"]),
            ),
        ],
    },
    Resource {
        name: "worker_vm",
        singleton: false,
        fields: &[
            req("name", Str(32)),
            f("description", Str(250)),
            req("hostname", Str(63)),
            req("domain", Str(192)),
            req("address", Str(255)),
            req("netmask", Str(255)),
            req("gateway", Str(255)),
            wo("password", Str(100)),
            f("node_type", Choice(&["CONFERENCING", "PROXYING"])),
            req("system_location", Uri("system_location")),
            f("deployment_type", Str(64)),
            f("vm_cpu_count", Int(2, 128)),
            f("vm_system_memory", Int(2000, 64000)),
            f("enable_ssh", Choice(SSH)),
            f("snmp_mode", Choice(SNMP)),
            f("snmp_username", Str(100)),
            wo("snmp_authentication_password", Str(100)),
            wo("snmp_privacy_password", Str(100)),
            f("tls_certificate", Uri("tls_certificate")),
        ],
    },
    Resource {
        name: "ca_certificate",
        singleton: false,
        fields: &[
            req("certificate", Pem),
            f("trusted_intermediate", Bool),
            ro("subject_name", Str(250)),
            ro("issuer_name", Str(250)),
            ro("end_date", Str(64)),
        ],
    },
    Resource {
        name: "certificate_signing_request",
        singleton: false,
        fields: &[
            req("subject_name", Str(250)),
            wo("dn", Str(500)),
            wo("additional_subject_alt_names", Str(500)),
            Field {
                name: "private_key_type",
                t: Choice(&["UPLOAD", "RSA2048", "RSA4096", "ECDSAP256"]),
                access: Access::WriteOnly,
                required: true,
            },
            wo("private_key", Str(12288)),
            wo("private_key_passphrase", Str(250)),
            wo("ad_compatible", Bool),
            f("certificate", Pem),
            f("tls_certificate", Uri("tls_certificate")),
            ro("csr", Str(16384)),
        ],
    },
    Resource {
        name: "tls_certificate",
        singleton: false,
        fields: &[
            req("certificate", Pem),
            Field {
                name: "private_key",
                t: Str(12288),
                access: Access::WriteOnly,
                required: true,
            },
            wo("private_key_passphrase", Str(100)),
            f("parameters", Str(1000)),
            ro("subject_name", Str(250)),
            ro("issuer_name", Str(250)),
            ro("subject_alt_names", Str(1000)),
            ro("end_date", Str(64)),
        ],
    },
];

pub fn resource(name: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.name == name)
}

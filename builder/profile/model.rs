//! The profile: one TOML file that describes a whole deployment (host, network, storage, boot, Pexip nodes and
//! the guide's settings). Keys are kebab-case and unknown keys are errors.
//!
//! The model accepts some values the guide forbids (a DHCP address, TLS 1.0, a 2048-bit RSA key, a 4-digit PIN)
//! on purpose: they parse, and the policy refuses them with the rule and paragraph they break, which tells the
//! user far more than a type error would. Values that are simply malformed (an address that is not an address)
//! fail at parse time with file, line and column.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::net::{AddressMode, Cidr, Mac};
use super::secrets::SecretRef;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    pub profile: Meta,
    pub base: Base,
    pub host: Host,
    pub network: Network,
    pub storage: Storage,
    pub boot: Boot,
    pub pexip: Pexip,
    #[serde(default)]
    pub operation: Operation,
    pub signing: Signing,
    #[serde(default)]
    pub outputs: Outputs,
    /// How the site installer picks the target disk (`forja media`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Install>,
}

/// `[install]`: the installer's rules. Optional; without it the installer takes the only non-removable disk that
/// is not its own medium, and refuses when there are several.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Install {
    /// `target = { min-size = "100G", model = "...", serial = "..." }`: every given field must match, and exactly
    /// one disk may match.
    #[serde(default)]
    pub target: crate::media::target::TargetRule,
}

/// What the profile is for: a production profile gets no test-only shortcuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    Production,
    Lab,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Meta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub purpose: Purpose,
    /// The secrets file, relative to the profile.
    pub secrets: PathBuf,
    /// A secret per deployment from which forja derives the salts of the password hashes it writes (Pexip's
    /// Django and sha512-crypt hashes): builds stay reproducible, and no two deployments share a salt.
    #[serde(default)]
    pub build_seed: Option<SecretRef>,
}

/// The Debian base of the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Base {
    /// Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// Mirror URL (a local mirror for offline builders is fine).
    pub mirror: String,
    /// Packages beyond forja's minimal host set (each one is reported: §28 asks for no extra software).
    #[serde(default)]
    pub extra_packages: Vec<String>,
    /// A prebuilt rootfs tarball with pinned hash, instead of running mmdebstrap.
    #[serde(default)]
    pub tarball: Option<PinnedFile>,
    /// SOURCE_DATE_EPOCH for the build when the environment does not set one.
    pub source_date_epoch: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PinnedFile {
    pub path: PathBuf,
    pub sha256: crate::hashio::Sha256,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Host {
    pub hostname: String,
    pub domain: String,
    pub timezone: String,
    /// Login banner shown before authentication (§51).
    pub banner: String,
    /// Idle shell sessions end after this many minutes (§51).
    pub session_timeout_minutes: u32,
    /// Console password of `root` on the host (§52). The image carries only its SHA-512 crypt hash; absent, root
    /// stays locked and the host has no console login.
    #[serde(default)]
    pub root_password: Option<SecretRef>,
    pub ntp: Vec<NtpServer>,
    pub syslog: Option<Syslog>,
    pub password_policy: PasswordPolicy,
    #[serde(default)]
    pub ssh: Ssh,
    /// Minutes between runs of the host's self-check of critical config files against the signed manifest
    /// (§77–80); it also runs at boot. 0 turns the timer off, which the policy refuses.
    #[serde(default = "sixty")]
    pub self_check_minutes: u32,
}

fn sixty() -> u32 {
    60
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NtpKeyType {
    #[serde(rename = "SHA1")]
    Sha1,
    #[serde(rename = "SHA256")]
    Sha256,
    #[serde(rename = "SHA512")]
    Sha512,
    #[serde(rename = "AES128")]
    Aes128,
    #[serde(rename = "MD5")]
    Md5,
}

/// An authenticated NTP source (§73).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NtpServer {
    pub address: String,
    /// Symmetric key id, 1..65535. Absent = unauthenticated (refused by the policy).
    pub key_id: Option<u32>,
    pub key_type: Option<NtpKeyType>,
    pub key: Option<SecretRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "1.0")]
    V1_0,
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "1.3")]
    V1_3,
}

impl TlsVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::V1_0 => "1.0",
            TlsVersion::V1_1 => "1.1",
            TlsVersion::V1_2 => "1.2",
            TlsVersion::V1_3 => "1.3",
        }
    }
}

/// Remote syslog of the host (§89 spirit, the same server the Pexip nodes use).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Syslog {
    pub address: String,
    pub port: u16,
    pub transport: Transport,
    pub tls_min_version: TlsVersion,
    /// CA certificate (PEM) that signs the syslog server's certificate; copied into the image.
    pub ca_certificate: Option<PathBuf>,
}

/// Local password policy (§52), applied through PAM on the host and checked on the passwords forja hashes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PasswordPolicy {
    pub min_length: u32,
    /// How many of the four classes (lower, upper, digit, special) a password must contain.
    pub min_classes: u32,
    pub history: u32,
    pub max_age_days: u32,
    pub min_age_days: u32,
}

/// SSH on the host: off unless enabled; then keys only, CCN-STIC-807 algorithms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ssh {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub password_authentication: bool,
    #[serde(default)]
    pub authorized_keys: Vec<String>,
    /// Overrides of forja's CCN-STIC-807 defaults; every entry is checked against the allowed list.
    #[serde(default)]
    pub kex: Vec<String>,
    #[serde(default)]
    pub ciphers: Vec<String>,
    #[serde(default)]
    pub macs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Network {
    pub management: ManagementNic,
    pub vm: VmNic,
}

/// The NIC that carries the host's own address (§26).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManagementNic {
    pub mac: Mac,
    pub address: AddressMode,
    pub gateway: Option<std::net::IpAddr>,
    #[serde(default)]
    pub dns: Vec<std::net::IpAddr>,
    /// Networks allowed to reach the host's management services (SSH if enabled). Empty = the management subnet.
    #[serde(default)]
    pub admin_networks: Vec<Cidr>,
}

/// The NIC given to the Pexip VMs: enslaved to a bridge with no host address (§26).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VmNic {
    pub mac: Mac,
    pub bridge: String,
    /// Must stay absent: present only so that the policy can explain why the bridge has no host address.
    #[serde(default)]
    pub address: Option<AddressMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unlock {
    Tpm2,
    Passphrase,
}

/// The LUKS2 key-derivation cost for passphrase keyslots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KdfCost {
    /// cryptsetup's argon2id defaults (about 2 s and 1 GiB on real hardware).
    Default,
    /// A tiny argon2id cost so that QEMU/TCG tests unlock quickly. Lab profiles only.
    TestOnly,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Storage {
    /// Size of the encrypted VM store: `"rest"` (grown to the rest of the disk at first boot) or e.g. `"200G"`.
    pub vmstore_size: VolumeSize,
    pub unlock: Vec<Unlock>,
    /// A recovery key is generated at first boot and shown once on the console (§105).
    pub recovery_key: bool,
    pub passphrase: Option<SecretRef>,
    pub kdf_cost: KdfCost,
    /// Whether the vmstore is encrypted at all (§105 says it must be).
    #[serde(default = "yes")]
    pub encrypted: bool,
}

fn yes() -> bool {
    true
}

/// A volume size: a fixed number of bytes, or the rest of the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeSize {
    Rest,
    Bytes(u64),
}

impl std::str::FromStr for VolumeSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "rest" {
            return Ok(VolumeSize::Rest);
        }
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u64 = num.parse().map_err(|_| {
            format!("`{s}` is not a size: write \"rest\" or a number with M, G or T, e.g. \"200G\"")
        })?;
        let mult: u64 = match unit {
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            "T" | "TiB" => 1 << 40,
            _ => {
                return Err(format!(
                    "`{s}`: unknown unit `{unit}`, expected M, G or T (binary units)"
                ));
            }
        };
        n.checked_mul(mult)
            .map(VolumeSize::Bytes)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

impl std::fmt::Display for VolumeSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VolumeSize::Rest => f.write_str("rest"),
            VolumeSize::Bytes(b) => write!(f, "{}M", b >> 20),
        }
    }
}

impl Serialize for VolumeSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VolumeSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Boot {
    /// GRUB superuser password; the image carries only its PBKDF2 hash.
    pub bootloader_password: Option<SecretRef>,
    pub firmware: Firmware,
}

/// The BIOS/UEFI settings that a disk image cannot carry (§30): emitted as a Redfish plan and a MANUAL step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Firmware {
    /// The BMC's Redfish base URL, if it has one.
    pub redfish_endpoint: Option<String>,
    pub admin_password: Option<SecretRef>,
    pub secure_boot: bool,
    /// Boot order to set, e.g. `["disk"]`: boot only from the installed disk.
    pub boot_order: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pexip {
    /// Pexip Infinity version the profile targets (the guide covers v25.4).
    pub version: String,
    pub images: Vec<NodeImage>,
    pub management: ManagementNode,
    #[serde(default)]
    pub conferencing: Vec<ConferencingNode>,
    pub secure_mode: SecureMode,
    pub admin_auth: AdminAuth,
    pub session: WebSession,
    pub certificates: Certificates,
    pub sip: Sip,
    pub snmp: Snmp,
    #[serde(default)]
    pub syslog: Vec<PexipSyslog>,
    pub backup: Backup,
    pub vmr: Vmr,
    pub break_in: BreakIn,
    pub licence: Licence,
    /// Extra software installed into the Pexip VMs (§28 forbids any).
    #[serde(default)]
    pub extra_software: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageRole {
    Management,
    Conferencing,
}

/// A vendor node image and the README.TXT that carries its hash (§11–13).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeImage {
    pub role: ImageRole,
    pub file: PathBuf,
    pub readme: PathBuf,
    /// Whether forja checks the hash before use. Turning it off is refused (§11).
    #[serde(default = "yes")]
    pub verify: bool,
    /// Where the image comes from: Pexip (§10), or a generated stand-in that only a lab profile may use.
    #[serde(default)]
    pub source: ImageSource,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageSource {
    /// Downloaded from Pexip or handed over by Pexip support (§10).
    #[default]
    Vendor,
    /// Generated by `ci/make-standin-images` for tests: never a real node.
    StandIn,
}

/// vCPU and memory reserved for a VM (§27).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Reservation {
    pub vcpus: u32,
    pub memory_mb: u32,
    pub disk_gb: u32,
    /// Pin vCPUs and lock memory (§27). Turning it off is refused.
    #[serde(default = "yes")]
    pub pinned: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManagementNode {
    pub name: String,
    pub hostname: String,
    pub domain: String,
    pub address: AddressMode,
    pub gateway: std::net::IpAddr,
    pub dns: Vec<std::net::IpAddr>,
    /// NTP servers the node uses: addresses of `host.ntp` entries (keys come from there).
    pub ntp: Vec<String>,
    pub mac: Option<Mac>,
    pub reservation: Reservation,
    /// Web administrator user created by the installation wizard (§31).
    pub web_admin_user: String,
    pub web_admin_password: SecretRef,
    /// Console/SSH `admin` password set by the wizard (§31).
    pub console_admin_password: SecretRef,
    pub contact_email: String,
    pub error_reports: bool,
    pub analytics: bool,
    /// The node's SSH (§45, §56).
    #[serde(default)]
    pub enable_ssh: bool,
    /// HTTP access for external systems (§56).
    #[serde(default)]
    pub http_access_for_external_systems: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    Transcoding,
    Proxying,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConferencingNode {
    pub name: String,
    pub hostname: String,
    pub role: NodeRole,
    pub location: String,
    pub address: AddressMode,
    pub gateway: std::net::IpAddr,
    pub mac: Option<Mac>,
    pub reservation: Reservation,
    /// Password of the node's console `admin` user.
    pub password: SecretRef,
    #[serde(default)]
    pub enable_ssh: bool,
}

/// The answers to the `securitywizard` (§34), named after its questions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecureMode {
    pub fips_140_2: bool,
    pub disable_system_admin_account: bool,
    pub accept_icmpv6_redirects: bool,
    pub drop_closed_ports: bool,
    pub accept_multicast_icmpv6_echo: bool,
    pub ipv6_dad: bool,
    pub max_management_sessions: u32,
    pub max_per_user_sessions: u32,
    /// Lowest TLS version the nodes accept ("Enable TLS < 1.2" = NO means 1.2).
    pub tls_min_version: TlsVersion,
    pub anonymous_dh_outbound_sip: bool,
    /// Lowest TLS version for inbound HTTPS ("Permit TLS < 1.2 for inbound HTTPS").
    pub inbound_https_tls_min_version: TlsVersion,
    pub fir: bool,
    pub aes128_sha: bool,
    pub aes128_sha_outbound_sip: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthSource {
    Local,
    Ldap,
    #[serde(rename = "ldap+local")]
    LdapAndLocal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LdapTransport {
    Starttls,
    Ldaps,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientCertificate {
    NotRequired,
    Cn,
    Upn,
}

/// Administrator authentication (§36–48).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminAuth {
    pub source: AuthSource,
    pub client_certificate: ClientCertificate,
    pub ldap: Option<Ldap>,
    /// Active Directory integration for conference users (§38).
    pub directory_integration: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ldap {
    pub server: String,
    pub port: u16,
    pub transport: LdapTransport,
    pub allow_insecure_transport: bool,
    pub tls_min_version: TlsVersion,
    pub base_dn: String,
    pub bind_user: String,
    pub bind_password: SecretRef,
    /// The bind account is a read-only service account, not an administrator (§40).
    pub bind_account_read_only: bool,
}

/// Web management session parameters (§51).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebSession {
    pub banner: String,
    pub timeout_minutes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    Ecdsa,
    Rsa,
    Dsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Md5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Issuer {
    Ca,
    SelfSigned,
}

/// The node certificates (§66–67).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Certificates {
    pub issuer: Issuer,
    pub key_type: KeyType,
    /// Bits: RSA modulus or ECDSA curve size (256, 384, 521).
    pub key_size: u32,
    pub signature_hash: HashAlg,
    /// The CA certificate (PEM) to import into the nodes; checked for existence.
    pub ca_certificate: Option<PathBuf>,
    /// Renew certificates this many days before they expire (§106).
    pub renew_before_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaEncryption {
    Required,
    BestEffort,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ocsp {
    On,
    Off,
    Override,
}

/// SIP/H.323 signalling and media (§62, §71).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Sip {
    pub tls_verify: bool,
    pub media_encryption: MediaEncryption,
    pub ocsp: Ocsp,
    pub ocsp_responder_url: Option<String>,
    /// DH groups offered for SIP/TLS and SRTP key exchange (§64: 15, 16, 19, 20, 21, 28, 29, 30).
    #[serde(default)]
    pub dh_groups: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnmpMode {
    Off,
    V3ReadOnly,
    /// SNMPv1/v2c community strings: refused (§81).
    V2c,
}

/// SNMP on the nodes (§81–83).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Snmp {
    pub mode: SnmpMode,
    pub username: Option<String>,
    pub auth_password: Option<SecretRef>,
    pub privacy_password: Option<SecretRef>,
}

/// A remote syslog server for the Pexip nodes (§89).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PexipSyslog {
    pub address: String,
    pub port: u16,
    pub transport: Transport,
    pub audit_log: bool,
    pub support_log: bool,
    pub web_log: bool,
}

/// Automatic backups (§92–95).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Backup {
    pub enabled: bool,
    pub passphrase: Option<SecretRef>,
    /// Where backups go: must be `sftp://` (§95).
    pub upload_url: Option<String>,
    pub upload_username: Option<String>,
    pub upload_password: Option<SecretRef>,
    /// Hypervisor-level snapshots of the Management Node (§93), kept encrypted in vmstore.
    pub management_snapshots: bool,
}

/// Virtual Meeting Room policy (§98–101).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Vmr {
    pub min_pin_length: u32,
    #[serde(default)]
    pub rooms: Vec<Room>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Room {
    pub name: String,
    pub host_pin: Option<SecretRef>,
    pub guest_pin: Option<SecretRef>,
    pub allow_guests: bool,
    /// Guests wait until a host has joined (§101).
    pub locked: bool,
}

/// Break-in resistance and VoIP scanner protection (§103–104).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BreakIn {
    pub pin_checks: bool,
    pub scanner_protection: bool,
    pub max_pin_failures: u32,
    pub max_scan_attempts: u32,
    #[serde(default)]
    pub allow_list: Vec<AllowEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AllowEntry {
    pub name: String,
    pub network: Cidr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    Offline,
    Online,
}

/// Licensing (§18–21).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Licence {
    pub activation: Activation,
    /// Whether the Management Node has any route to the internet (§19 prefers none).
    pub management_internet_access: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cadence {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Never,
}

/// The operator's commitments for the operation phase (§106–107), printed in the report as MANUAL steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Operation {
    pub security_updates: Cadence,
    pub audit_log_review: Cadence,
    pub resource_review: Cadence,
    pub bulletin_review: Cadence,
    /// The hash the operator checks update packages with before applying them (§75: SHA-256).
    #[serde(default = "sha256")]
    pub update_verification_hash: HashAlg,
}

fn sha256() -> HashAlg {
    HashAlg::Sha256
}

impl Default for Operation {
    fn default() -> Self {
        Operation {
            security_updates: Cadence::Never,
            audit_log_review: Cadence::Never,
            resource_review: Cadence::Never,
            bulletin_review: Cadence::Never,
            update_verification_hash: HashAlg::Sha256,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Signing {
    /// The ed25519 secret key (signify format) that signs SHA256SUMS. Relative to the profile.
    pub key: PathBuf,
}

/// Which artifacts a build produces beyond `disk.raw` and its signed metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Outputs {
    #[serde(default = "yes")]
    pub compressed: bool,
    #[serde(default)]
    pub usb: bool,
    #[serde(default)]
    pub pxe: bool,
}

impl Default for Outputs {
    fn default() -> Self {
        Outputs {
            compressed: true,
            usb: false,
            pxe: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!("rest".parse::<VolumeSize>().unwrap(), VolumeSize::Rest);
        assert_eq!(
            "200G".parse::<VolumeSize>().unwrap(),
            VolumeSize::Bytes(200 << 30)
        );
        assert!("200GB".parse::<VolumeSize>().unwrap_err().contains("unit"));
        assert!("lots".parse::<VolumeSize>().is_err());
    }

    #[test]
    fn unknown_keys_are_refused_inline() {
        let err = toml::from_str::<Reservation>(
            "vcpus = 4\nmemory-mb = 4096\ndisk-gb = 100\npined = true\n",
        )
        .unwrap_err();
        assert!(err.message().contains("unknown field `pined`"), "{err}");
    }
}

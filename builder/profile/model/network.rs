//! `[network]`: the two NICs by role (§24, §26): management carries the host's address, the VM NIC only a bridge.

use serde::{Deserialize, Serialize};

use crate::profile::names::BridgeName;
use crate::profile::net::{AddressMode, Cidr, Mac};

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
    pub bridge: BridgeName,
    /// Must stay absent: present only so that the policy can explain why the bridge has no host address.
    #[serde(default)]
    pub address: Option<AddressMode>,
}

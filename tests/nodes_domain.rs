//! Domain XML for staged stand-in nodes, validated by libvirt's own schema (`virt-xml-validate`), and the sizing
//! checks that refuse an undersized node before any XML is written.

mod common;

use std::path::Path;
use std::process::Command;

use common::{CONF, MGR, members};
use forja::error::{Exit, exit_of};
use forja::nodes::domain::{ConfigDrive, DomainSpec, DriveMedia, node_domain};
use forja::nodes::ovf;
use forja::nodes::sizing::NodeRole;

const GIB: u64 = 1 << 30;

fn ovf_of(ova: &str) -> ovf::Ovf {
    let m = members(ova);
    ovf::parse(&m[0].0, &m[0].1).unwrap()
}

fn spec(name: &str, vcpus: u32, memory_mib: u64) -> DomainSpec {
    DomainSpec {
        name: name.into(),
        vcpus,
        cpuset: (2..2 + vcpus).collect(),
        memory_mib,
        disk: format!("/var/lib/vmstore/{name}.qcow2").into(),
        bridge: "br-vm".into(),
        mac: Some("52:54:00:ab:cd:01".into()),
        config_drive: Some(ConfigDrive {
            path: format!("/var/lib/vmstore/{name}-config.iso").into(),
            media: DriveMedia::Cdrom,
        }),
    }
}

fn validate(xml: &str, dir: &Path) {
    let f = dir.join("domain.xml");
    std::fs::write(&f, xml).unwrap();
    let o = Command::new("virt-xml-validate")
        .arg(&f)
        .arg("domain")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "virt-xml-validate refused:\n{xml}\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn stand_in_nodes_give_domains_libvirt_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = node_domain(
        &spec("pexip-mgr", 4, 4096),
        NodeRole::Management,
        100 * GIB,
        Some(&ovf_of(MGR)),
        None,
    )
    .unwrap();
    validate(&mgr, dir.path());
    let mut conf_spec = spec("pexip-conf1", 8, 8192);
    conf_spec.config_drive = Some(ConfigDrive {
        path: "/var/lib/vmstore/pexip-conf1-config.img".into(),
        media: DriveMedia::Disk,
    });
    conf_spec.mac = None;
    let conf = node_domain(
        &conf_spec,
        NodeRole::Conferencing,
        50 * GIB,
        Some(&ovf_of(CONF)),
        Some(16),
    )
    .unwrap();
    validate(&conf, dir.path());
    assert!(
        conf.contains("<interface type='bridge'>") && conf.contains("<source bridge='br-vm'/>")
    );
    assert_eq!(
        conf.matches("<interface").count(),
        1,
        "only the VM bridge NIC"
    );
}

#[test]
fn an_undersized_node_is_refused_with_every_reason() {
    let err = node_domain(
        &spec("pexip-mgr", 2, 2048),
        NodeRole::Management,
        100 * GIB,
        Some(&ovf_of(MGR)),
        None,
    )
    .unwrap_err();
    assert_eq!(exit_of(&err), Exit::Input);
    let msg = format!("{err:#}");
    assert!(msg.starts_with("node pexip-mgr is refused: "), "{msg}");
    for needle in [
        "a Management Node needs at least 4 vCPU, 2 reserved",
        "a Management Node needs at least 4096 MiB RAM, 2048 reserved",
        "the image asks for 4 vCPU, 2 reserved",
        "the image asks for 4096 MiB RAM, 2048 reserved",
    ] {
        assert!(msg.contains(needle), "{msg} lacks {needle}");
    }
    // The image's own minimum counts for conferencing nodes too: 2 vCPU is in Pexip's range, below the OVF's 4.
    let err = node_domain(
        &spec("c1", 2, 4096),
        NodeRole::Conferencing,
        50 * GIB,
        Some(&ovf_of(CONF)),
        None,
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("the image asks for 4 vCPU, 2 reserved"),
        "{err:#}"
    );
}

//! The OVF descriptor inside an OVA: the facts forja needs to size and check a node.
//!
//! Parsed namespace-aware (DMTF OVF 1.x/2.x envelope namespace, CIM RASD/EPASD/SASD item namespaces) with
//! `roxmltree`, with DTDs refused and a node limit, so a hostile descriptor cannot expand entities or grow without
//! bound. Read: the single virtual system's name and annotation, vCPU count, memory, disks (capacity, format, file)
//! and network adapters. Everything else in the descriptor (product sections, EULAs, properties) is ignored.

use serde::Serialize;

use crate::error::{Exit, fail};

const OVF_NS: [&str; 2] = [
    "http://schemas.dmtf.org/ovf/envelope/1",
    "http://schemas.dmtf.org/ovf/envelope/2",
];
const ITEM_NS: [&str; 3] = [
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData",
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData",
];
/// Largest descriptor accepted (real ones are tens of KiB).
pub const MAX_OVF: u64 = 4 << 20;
const NODES_LIMIT: u32 = 200_000;

/// What forja uses from an OVF descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ovf {
    /// `VirtualSystem/Name`, or its `ovf:id` when there is no name.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disks: Vec<Disk>,
    /// `References/File`: the members the descriptor expects in the OVA.
    pub files: Vec<FileRef>,
    pub nics: Vec<Nic>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub id: String,
    pub capacity_bytes: u64,
    /// The `ovf:format` URI, e.g. VMware's `...#streamOptimized`.
    pub format: String,
    /// The member holding the disk, resolved through `References`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRef {
    pub id: String,
    pub href: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nic {
    /// `ResourceSubType`, e.g. `VmxNet3` or `E1000`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The OVF network it is connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

impl Disk {
    /// True for a VMDK disk format URI (the only one Pexip's OVAs use).
    pub fn is_vmdk(&self) -> bool {
        self.format
            .contains("vmware.com/interfaces/specifications/vmdk")
    }
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

fn is_ovf(n: &Node, local: &str) -> bool {
    n.is_element()
        && n.tag_name().name() == local
        && n.tag_name()
            .namespace()
            .is_some_and(|ns| OVF_NS.contains(&ns))
}

fn ovf_attr<'a>(n: &Node<'a, '_>, local: &str) -> Option<&'a str> {
    OVF_NS.iter().find_map(|ns| n.attribute((*ns, local)))
}

fn child<'a, 'i>(n: &Node<'a, 'i>, local: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is_ovf(c, local))
}

fn item_field(item: &Node, local: &str) -> Option<String> {
    item.children()
        .find(|c| {
            c.is_element()
                && c.tag_name().name() == local
                && c.tag_name()
                    .namespace()
                    .is_some_and(|ns| ITEM_NS.contains(&ns))
        })
        .map(|c| c.text().unwrap_or("").trim().to_owned())
}

/// Parses a descriptor. `label` (e.g. `x.ova:x.ovf`) names it in messages; errors are [`Exit::BadArchive`].
pub fn parse(label: &str, bytes: &[u8]) -> anyhow::Result<Ovf> {
    let bad = |msg: String| fail(Exit::BadArchive, format!("{label}: {msg}"));
    if bytes.len() as u64 > MAX_OVF {
        return Err(bad(format!(
            "descriptor of {} bytes is too large",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("descriptor is not UTF-8".into()))?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, opts)
        .map_err(|e| bad(format!("not a well-formed OVF descriptor: {e}")))?;
    let env = doc.root_element();
    if !is_ovf(&env, "Envelope") {
        return Err(bad(format!(
            "root element is {:?}, expected an OVF Envelope in namespace {}",
            env.tag_name().name(),
            OVF_NS[0]
        )));
    }

    let mut files = Vec::new();
    if let Some(refs) = child(&env, "References") {
        for f in refs.children().filter(|c| is_ovf(c, "File")) {
            let id =
                ovf_attr(&f, "id").ok_or_else(|| bad("a References/File without ovf:id".into()))?;
            let href = ovf_attr(&f, "href")
                .ok_or_else(|| bad(format!("References/File {id} has no ovf:href")))?;
            let size = ovf_attr(&f, "size")
                .map(|s| {
                    s.parse::<u64>()
                        .map_err(|_| bad(format!("File {id}: ovf:size {s:?} is not a number")))
                })
                .transpose()?;
            if href.contains("://") || href.starts_with('/') || href.split('/').any(|p| p == "..") {
                return Err(bad(format!(
                    "File {id}: ovf:href {href:?} must name a member of the OVA"
                )));
            }
            files.push(FileRef {
                id: id.to_owned(),
                href: href.to_owned(),
                size,
            });
        }
    }

    let mut disks = Vec::new();
    if let Some(section) = child(&env, "DiskSection") {
        for d in section.children().filter(|c| is_ovf(c, "Disk")) {
            let id =
                ovf_attr(&d, "diskId").ok_or_else(|| bad("a Disk without ovf:diskId".into()))?;
            let cap = ovf_attr(&d, "capacity")
                .ok_or_else(|| bad(format!("Disk {id} has no ovf:capacity")))?;
            let cap: u64 = cap
                .parse()
                .map_err(|_| bad(format!("Disk {id}: ovf:capacity {cap:?} is not a number")))?;
            let unit = ovf_attr(&d, "capacityAllocationUnits").unwrap_or("byte");
            let unit = allocation_unit(unit).map_err(|e| bad(format!("Disk {id}: {e}")))?;
            let capacity_bytes = cap
                .checked_mul(unit)
                .ok_or_else(|| bad(format!("Disk {id}: capacity overflows 64 bits")))?;
            let format = ovf_attr(&d, "format")
                .ok_or_else(|| bad(format!("Disk {id} has no ovf:format")))?;
            let href = match ovf_attr(&d, "fileRef") {
                Some(r) => Some(
                    files
                        .iter()
                        .find(|f| f.id == r)
                        .map(|f| f.href.clone())
                        .ok_or_else(|| {
                            bad(format!("Disk {id}: ovf:fileRef {r:?} is not in References"))
                        })?,
                ),
                None => None,
            };
            disks.push(Disk {
                id: id.to_owned(),
                capacity_bytes,
                format: format.to_owned(),
                href,
            });
        }
    }

    let systems: Vec<Node> = env
        .children()
        .filter(|c| is_ovf(c, "VirtualSystem"))
        .collect();
    if env
        .children()
        .any(|c| is_ovf(&c, "VirtualSystemCollection"))
    {
        return Err(bad(
            "a VirtualSystemCollection (multi-VM OVA) is not a Pexip node image".into(),
        ));
    }
    let [vs] = systems.as_slice() else {
        return Err(bad(format!(
            "expected exactly one VirtualSystem, found {}",
            systems.len()
        )));
    };
    let name = child(vs, "Name")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .or_else(|| ovf_attr(vs, "id").map(str::to_owned))
        .ok_or_else(|| bad("the VirtualSystem has neither a Name nor an ovf:id".into()))?;
    let annotation = child(vs, "AnnotationSection")
        .and_then(|s| child(&s, "Annotation"))
        .and_then(|a| a.text())
        .map(|t| t.trim().to_owned());

    let hw = child(vs, "VirtualHardwareSection")
        .ok_or_else(|| bad("the VirtualSystem has no VirtualHardwareSection".into()))?;
    let mut vcpus: Option<u32> = None;
    let mut memory_mib: Option<u64> = None;
    let mut nics = Vec::new();
    for item in hw
        .children()
        .filter(|c| is_ovf(c, "Item") || is_ovf(c, "EthernetPortItem") || is_ovf(c, "StorageItem"))
    {
        let Some(rt) = item_field(&item, "ResourceType") else {
            return Err(bad("a hardware Item without ResourceType".into()));
        };
        let what = item_field(&item, "ElementName").unwrap_or_else(|| format!("ResourceType {rt}"));
        let quantity = || -> anyhow::Result<u64> {
            let q = item_field(&item, "VirtualQuantity")
                .ok_or_else(|| bad(format!("hardware item {what:?} has no VirtualQuantity")))?;
            q.parse().map_err(|_| {
                bad(format!(
                    "hardware item {what:?}: VirtualQuantity {q:?} is not a number"
                ))
            })
        };
        match rt.as_str() {
            "3" => {
                if vcpus.is_some() {
                    return Err(bad("more than one CPU item".into()));
                }
                let q = quantity()?;
                vcpus = Some(
                    u32::try_from(q)
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| bad(format!("CPU count {q} is out of range")))?,
                );
            }
            "4" => {
                if memory_mib.is_some() {
                    return Err(bad("more than one memory item".into()));
                }
                let q = quantity()?;
                let unit =
                    item_field(&item, "AllocationUnits").unwrap_or_else(|| "byte * 2^20".into());
                let unit = allocation_unit(&unit).map_err(|e| bad(format!("memory: {e}")))?;
                let bytes = q
                    .checked_mul(unit)
                    .ok_or_else(|| bad("memory size overflows 64 bits".into()))?;
                memory_mib = Some(bytes / (1 << 20));
            }
            "10" => nics.push(Nic {
                model: item_field(&item, "ResourceSubType").filter(|s| !s.is_empty()),
                network: item_field(&item, "Connection").filter(|s| !s.is_empty()),
            }),
            _ => {}
        }
    }
    Ok(Ovf {
        name,
        annotation,
        vcpus: vcpus.ok_or_else(|| {
            bad("the VirtualHardwareSection declares no CPU (ResourceType 3)".into())
        })?,
        memory_mib: memory_mib.ok_or_else(|| {
            bad("the VirtualHardwareSection declares no memory (ResourceType 4)".into())
        })?,
        disks,
        files,
        nics,
    })
}

/// DMTF programmatic units (`byte * 2^20`) and the names older exporters write (`MegaBytes`, `GB`).
fn allocation_unit(unit: &str) -> Result<u64, String> {
    let compact: String = unit
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let v = match compact.as_str() {
        "byte" | "bytes" => 1,
        "kb" | "kilobyte" | "kilobytes" => 1 << 10,
        "mb" | "megabyte" | "megabytes" => 1 << 20,
        "gb" | "gigabyte" | "gigabytes" => 1 << 30,
        other => {
            let exp = other
                .strip_prefix("byte*2^")
                .and_then(|e| e.parse::<u32>().ok())
                .filter(|&e| e <= 60)
                .ok_or_else(|| {
                    format!("unknown allocation unit {unit:?} (expected e.g. \"byte * 2^20\")")
                })?;
            1u64 << exp
        }
    };
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    pub(crate) const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-1" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="x-disk1.vmdk" ovf:id="file1" ovf:size="1234"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="100" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection><Info>n</Info><Network ovf:name="VM Network"><Description>The VM Network network</Description></Network></NetworkSection>
  <VirtualSystem ovf:id="pxMgr">
    <Info>A virtual machine</Info>
    <Name>Pexip Management Node</Name>
    <AnnotationSection><Info>a</Info><Annotation>STAND-IN</Annotation></AnnotationSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits><rasd:ElementName>4 virtual CPU(s)</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>4</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>4096MB of memory</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>4096</rasd:VirtualQuantity></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>Hard disk 1</rasd:ElementName><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation><rasd:Connection>VM Network</rasd:Connection><rasd:ElementName>Network adapter 1</rasd:ElementName><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#;

    #[test]
    fn reads_a_vmware_descriptor() {
        let ovf = parse("x.ovf", SAMPLE.as_bytes()).unwrap();
        assert_eq!(ovf.name, "Pexip Management Node");
        assert_eq!(ovf.annotation.as_deref(), Some("STAND-IN"));
        assert_eq!((ovf.vcpus, ovf.memory_mib), (4, 4096));
        assert_eq!(ovf.disks.len(), 1);
        assert_eq!(ovf.disks[0].capacity_bytes, 100 << 30);
        assert_eq!(ovf.disks[0].href.as_deref(), Some("x-disk1.vmdk"));
        assert!(ovf.disks[0].is_vmdk());
        assert_eq!(ovf.files[0].size, Some(1234));
        assert_eq!(ovf.nics[0].model.as_deref(), Some("VmxNet3"));
        assert_eq!(ovf.nics[0].network.as_deref(), Some("VM Network"));
    }

    #[test]
    fn elements_outside_the_ovf_namespace_do_not_count() {
        let other = SAMPLE.replace(
            r#"xmlns="http://schemas.dmtf.org/ovf/envelope/1""#,
            r#"xmlns="urn:not-ovf""#,
        );
        let err = parse("x.ovf", other.as_bytes()).unwrap_err();
        assert!(
            format!("{err:#}").contains("expected an OVF Envelope"),
            "{err:#}"
        );
    }

    #[test]
    fn dtds_are_refused() {
        let evil = SAMPLE.replacen(
            "<Envelope",
            "<!DOCTYPE Envelope [<!ENTITY a \"aaaa\">]><Envelope",
            1,
        );
        let err = parse("x.ovf", evil.as_bytes()).unwrap_err();
        assert_eq!(exit_of(&err), Exit::BadArchive);
        assert!(format!("{err:#}").contains("not a well-formed"), "{err:#}");
    }

    #[test]
    fn units() {
        assert_eq!(allocation_unit("byte * 2^30"), Ok(1 << 30));
        assert_eq!(allocation_unit("MegaBytes"), Ok(1 << 20));
        assert!(allocation_unit("byte * 2^99").is_err());
        assert!(allocation_unit("furlongs").is_err());
    }

    #[test]
    fn hrefs_must_stay_inside_the_ova() {
        let evil = SAMPLE.replace(r#"ovf:href="x-disk1.vmdk""#, r#"ovf:href="../etc/x""#);
        assert!(parse("x.ovf", evil.as_bytes()).is_err());
    }
}

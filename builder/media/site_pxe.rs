//! `forja media pxe SITE_BUILD --out DIR`: one PXE tree for every host of a site build, each machine given its
//! own host's installer by the MAC of the NIC it boots from.
//!
//! ```text
//! boot.ipxe                    dispatcher: chains mac/<MAC>.ipxe of the booting NIC; no such file = refused
//! mac/52-54-00-0a-01-01.ipxe   one per NIC of every host (both NICs: either may be the one that boots)
//! hosts/NAME/                  that host's tree, as `forja media pxe` makes it for one build (signed too)
//! SHA256SUMS (+ .sig, ...)     every file of the tree, signed with the site's key
//! ```
//!
//! A machine whose MAC no host declares gets no kernel at all: the dispatcher prints that it is not a host of the
//! site and waits to be powered off. There is no default entry. The MAC only selects; the trust is the key
//! built into each host's installer, which verifies the payload before writing, as for a single host.
//! iPXE's `${netX/mac:hexhyp}` is the MAC of the interface that last got its address, the one that booted.

use std::path::Path;

use crate::error::{Exit, fail};
use crate::hashio::Sha256;
use crate::plan::site::{HOSTS_DIR, SiteManifest};
use crate::sign::{self, SigningKey, sums::Entry};

/// The MAC-keyed script's name: `mac/52-54-00-0a-01-01.ipxe`, as iPXE's `hexhyp` format writes a MAC.
pub fn mac_script_name(mac: &str) -> String {
    format!("mac/{}.ipxe", mac.to_ascii_lowercase().replace(':', "-"))
}

/// The dispatcher: fetch the booting NIC's own script, or refuse.
pub fn dispatcher(site: &str, base: &str) -> String {
    let base = base.trim_end_matches('/');
    format!(
        "#!ipxe\n\
         # forja site {site}: each machine gets its own host's installer, chosen by the MAC of the NIC it boots from.\n\
         # A machine no host of the site declares gets nothing: there is no default.\n\
         dhcp\n\
         chain --autofree {base}/mac/${{netX/mac:hexhyp}}.ipxe || goto unknown\n\
         :unknown\n\
         echo forja: REFUSED: MAC ${{netX/mac}} is not a host of site {site}; nothing is installed. Power off.\n\
         :stop\n\
         sleep 3600\n\
         goto stop\n"
    )
}

/// A host's script: its own kernel, installer and payload under `hosts/NAME/`.
pub fn host_script(site: &str, host: &str, base: &str) -> String {
    let base = base.trim_end_matches('/');
    let inner = super::build::ipxe_script(&format!("{base}/{HOSTS_DIR}/{host}"));
    let body = inner.strip_prefix("#!ipxe\n").unwrap_or(&inner);
    format!("#!ipxe\n# forja site {site}: host {host}\n{body}")
}

/// Builds the site's PXE tree into `out`. Every host in `site.json` must be built and verify with `key`.
pub fn pxe(
    site_dir: &Path,
    manifest: &SiteManifest,
    key: &SigningKey,
    sb: Option<&crate::secureboot::SiteKeys>,
    out: &Path,
    base_url: &str,
) -> anyhow::Result<sign::Sums> {
    check_site_list(site_dir, key)?;
    crate::artifact::create_out_dir(out, "the PXE folder")?;
    let mut names = vec!["boot.ipxe".to_owned()];
    let mut known = Vec::new();
    std::fs::create_dir_all(out.join("mac"))?;
    std::fs::create_dir_all(out.join(HOSTS_DIR))?;
    let base = base_url.trim_end_matches('/');
    for h in &manifest.hosts {
        if !h.built {
            return Err(fail(
                Exit::Input,
                format!(
                    "{}: host {} is not built; a site's PXE tree needs every host (forja build --host {})",
                    site_dir.display(),
                    h.name,
                    h.name
                ),
            ));
        }
        let rel = format!("{HOSTS_DIR}/{}", h.name);
        log::info!("site PXE: host {}", h.name);
        let sums = super::build::pxe(
            &site_dir.join(&h.dir),
            key,
            sb,
            &out.join(&rel),
            &format!("{base}/{rel}"),
        )?;
        for e in sums.entries() {
            known.push(Entry {
                name: format!("{rel}/{}", e.name),
                sha256: e.sha256,
            });
            names.push(format!("{rel}/{}", e.name));
        }
        for f in sign::SIGNING_OUTPUTS {
            names.push(format!("{rel}/{f}"));
        }
        let script = host_script(&manifest.site, &h.name, base);
        for mac in &h.macs {
            let name = mac_script_name(mac);
            crate::artifact::write_atomic(out.join(&name), script.as_bytes())?;
            names.push(name);
        }
    }
    crate::artifact::write_atomic(
        out.join("boot.ipxe"),
        dispatcher(&manifest.site, base).as_bytes(),
    )?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    sign::sign_dir_with(out, key, &refs, &known)
}

/// The site's own list must be signed by `key` and list `site.json` as it is (each host's build is verified in
/// full by [`super::build::pxe`]).
pub(super) fn check_site_list(site_dir: &Path, key: &SigningKey) -> anyhow::Result<()> {
    let sums = crate::inbound::read_capped(&site_dir.join(sign::SUMS), 16 << 20)?;
    let sig = crate::inbound::read_capped(&site_dir.join(sign::SUMS_SIG), 1 << 20)?;
    match sign::signify::verify(&key.public(), &sig, &sums) {
        Ok(signed) if signed == sums.as_slice() => {}
        _ => {
            return Err(fail(
                Exit::BadSignature,
                format!(
                    "{}: the site's {} is not signed by the media key",
                    site_dir.display(),
                    sign::SUMS
                ),
            ));
        }
    }
    let list = sign::sums::Sums::parse(&sums).map_err(|e| {
        fail(
            Exit::Input,
            format!("{}/{}: {e}", site_dir.display(), sign::SUMS),
        )
    })?;
    let have = Sha256::of_file(&site_dir.join(crate::plan::site::FILE))?;
    if list.get(crate::plan::site::FILE) != Some(have) {
        return Err(fail(
            Exit::HashMismatch,
            format!(
                "{}/{}: differs from its signed SHA-256",
                site_dir.display(),
                crate::plan::site::FILE
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_keyed_by_the_mac_as_ipxe_writes_it() {
        assert_eq!(
            mac_script_name("52:54:00:0A:01:01"),
            "mac/52-54-00-0a-01-01.ipxe"
        );
    }

    #[test]
    fn the_dispatcher_has_no_default() {
        let d = dispatcher("lab-site", "http://10.0.2.2:8080/site/");
        assert!(d.contains(
            "chain --autofree http://10.0.2.2:8080/site/mac/${netX/mac:hexhyp}.ipxe || goto unknown"
        ));
        // Nothing after the refusal boots anything.
        assert!(
            !d.contains("kernel") && !d.contains("initrd") && !d.contains("boot\n"),
            "{d}"
        );
        assert!(d.contains("REFUSED"));
    }

    #[test]
    fn a_host_script_boots_its_own_tree() {
        let s = host_script("lab-site", "kvm-lab-2", "http://h/site");
        assert!(s.starts_with("#!ipxe\n# forja site lab-site: host kvm-lab-2\n"));
        assert!(s.contains("kernel http://h/site/hosts/kvm-lab-2/vmlinuz"));
        assert!(s.contains("forja.url=http://h/site/hosts/kvm-lab-2/payload"));
        assert!(s.contains("initrd http://h/site/hosts/kvm-lab-2/initrd.img"));
    }
}

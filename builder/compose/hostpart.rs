//! What makes one host of a site different from the others, moved out of the root: with these files elsewhere, the
//! root (and its verity tree) is the same bytes for every host of the site, and a host's own part is a few KiB in
//! its signed unified kernel images (see [`crate::plan::HostPart`]).
//!
//! The list is fixed here rather than found by comparing the hosts, so `forja plan` for one host shows the same
//! split as the site build; the site build then checks that what stays in the root really is the same for every
//! host.
//!
//! Files whose readers also look in `/run` (systemd's units and drop-ins, udev's and networkd's `.link` and
//! `.network` files) go there and leave nothing in the root: a host without a snapshot timer has no dangling
//! `.wants` link. The others go under [`RUN_HOST`], and the root links to them.

use crate::plan::{HostMove, HostPart};
use crate::profile::Loaded;

/// Where a host's own files that the root links to are at run time.
pub const RUN_HOST: &str = "/run/forja/host";
/// The archive's path in the initrd: the `forja-host` initramfs script unpacks it into `/run`.
pub const ARCHIVE: &str = "/forja-host.cpio";

/// Read at their usual path, through a link in the root.
const LINKED: [&str; 7] = [
    "/etc/hostname",
    "/etc/hosts",
    "/etc/fstab",
    "/etc/forja/firstboot.env",
    // The self-check's manifest covers the files above, so it, its signature and the factory copies are the
    // host's too.
    super::selfcheck::MANIFEST,
    super::selfcheck::SIGNATURE,
    super::selfcheck::FACTORY,
];

/// Read by systemd, udev and networkd from `/run` as well as `/etc`.
const TO_RUN: [(&str, &str); 3] = [
    ("/etc/systemd/network", "/run/systemd/network"),
    (
        "/etc/systemd/system/forja-nodes.service.d",
        "/run/systemd/system/forja-nodes.service.d",
    ),
    (
        "/etc/systemd/system/timers.target.wants/forja-snapshot.timer",
        "/run/systemd/system/timers.target.wants/forja-snapshot.timer",
    ),
];

/// The host part of a site's host; `None` for a single-host profile (its root keeps everything).
pub fn plan(l: &Loaded) -> Option<HostPart> {
    l.site.as_ref()?;
    Some(site_part())
}

fn site_part() -> HostPart {
    let mut moves: Vec<HostMove> = LINKED
        .iter()
        .map(|p| HostMove {
            path: (*p).into(),
            to: format!("{RUN_HOST}{p}"),
            link: true,
        })
        .collect();
    moves.extend(TO_RUN.iter().map(|(from, to)| HostMove {
        path: (*from).into(),
        to: (*to).into(),
        link: false,
    }));
    HostPart {
        archive: ARCHIVE.into(),
        moves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_has_one_place_at_run_time() {
        let p = site_part();
        let at = |path: &str| p.place(path).map(|(m, at)| (m.link, at));
        assert_eq!(
            at("/etc/hostname"),
            Some((true, "/run/forja/host/etc/hostname".into()))
        );
        assert_eq!(
            at("/etc/systemd/network/10-mgmt.link"),
            Some((false, "/run/systemd/network/10-mgmt.link".into()))
        );
        assert_eq!(
            at("/usr/share/forja/factory/etc/hosts"),
            Some((
                true,
                "/run/forja/host/usr/share/forja/factory/etc/hosts".into()
            ))
        );
        // A path that only starts like a moved one stays in the root.
        assert_eq!(at("/etc/hostname.bak"), None);
        assert_eq!(at("/etc/nftables.conf"), None);
        assert_eq!(
            p.runtime_path("/etc/systemd/network/20-mgmt.network"),
            "/run/systemd/network/20-mgmt.network"
        );
        assert_eq!(p.runtime_path("/etc/hosts"), "/etc/hosts");
        assert_eq!(p.runtime_path("/etc/nftables.conf"), "/etc/nftables.conf");
    }
}

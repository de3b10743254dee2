//! Build inputs that come from outside the profile: the Debian base rootfs (here) and the vendor node images
//! (`nodes`). Each is identified by content hash, so a rebuild with the same inputs gives the same bytes.

pub mod base;
pub mod cache;

//! Archives forja reads from outside or writes for a boot: the defensive streaming tar reader (OVA files,
//! licence bundles) and the deterministic `newc` cpio writer (initramfs members).

pub mod cpio;
pub mod tar;

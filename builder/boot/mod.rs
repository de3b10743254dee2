//! EFI boot binaries forja builds: today the GRUB image that carries the locked `grub.cfg` in its memdisk
//! (the host's ESP and the USB installer).

pub mod grub;
pub mod uki;

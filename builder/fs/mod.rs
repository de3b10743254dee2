//! The filesystems stage: the ESP as FAT32 written by forja itself ([`fat`]) and the root filesystem as ext4
//! made reproducible around `mkfs.ext4 -d` ([`ext4`]). Both write into plain files, never through a mount.
pub mod ext4;
pub mod fat;
pub mod verity;

//! The filesystems stage: the ESP as FAT32 written by forja itself ([`fat`]), the read-only root as EROFS
//! ([`erofs`]) with its dm-verity tree ([`verity`]), the state and payload partitions as ext4
//! made reproducible around `mkfs.ext4 -d` ([`ext4`]). Both write into plain files, never through a mount.
pub mod erofs;
pub mod ext4;
pub mod fat;
pub mod verity;

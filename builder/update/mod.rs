//! Offline A/B updates: a signed bundle made from a verified build ([`bundle`]), and installing it into a
//! disk's inactive root slot ([`apply`]), every block verified against the signed dm-verity tree as it streams in
//! ([`stream`]) and written into the slot's partitions ([`slot`]).
//!
//! The bundle format is [`manifest`]'s; the target's partitions are found by PARTLABEL in its GPT ([`gpt`]); the
//! new slot's image goes onto the ESP with systemd-boot boot counting ([`esp`]) once the slot is written;
//! `veritysetup verify` of the written slot ([`verify`]) is there for auditors (`--verify-written`). The health
//! check that keeps or rolls back the new slot runs on the host (`overlays/usr/lib/forja/health`, before
//! `boot-complete.target`); not here: the update record on the USB stick (records stay on the state partition);
//! see the README's "Offline updates".

pub mod apply;
pub mod bundle;
pub mod esp;
pub mod gpt;
pub mod manifest;
pub mod slot;
pub mod stream;
pub mod verify;

//! The disk stage: a GPT with Discoverable-Partitions type GUIDs and deterministic GUIDs ([`gpt`]), and the
//! sparse `disk.raw` assembled from partition contents written straight at their offsets ([`image`]).

pub mod gpt;
pub mod image;
pub mod parts;

//! Sizes in a profile: one grammar for every size field (`storage.vmstore-size`, `install.target.min-size`).
//!
//! A number of bytes, or a number with a binary unit `K`, `M`, `G` or `T` (powers of 1024), optionally written
//! `KiB`/`MiB`/`GiB`/`TiB`. Decimal-looking units (`GB`, `MB`) are refused rather than guessed: a disk sold as
//! "200 GB" is 186 GiB, and a rule that silently means the other one picks the wrong disk.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A size in bytes, parsed from the profile's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            format!("`{s}` is not a size: write a number of bytes or a number with K, M, G or T, e.g. \"200G\"")
        })?;
        let shift = match unit {
            "" => 0,
            "K" | "KiB" => 10,
            "M" | "MiB" => 20,
            "G" | "GiB" => 30,
            "T" | "TiB" => 40,
            _ => {
                return Err(format!(
                    "`{s}`: unknown unit `{unit}`, expected K, M, G or T (binary units: 1G = 1024 MiB)"
                ));
            }
        };
        n.checked_mul(1u64 << shift)
            .map(ByteSize)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly, so a size prints as it would be written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
            if self.0 != 0 && self.0 % (1u64 << shift) == 0 {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A volume's size: a fixed size, or the rest of the disk (grown at first boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeSize {
    Rest,
    Fixed(ByteSize),
}

impl std::str::FromStr for VolumeSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "rest" {
            return Ok(VolumeSize::Rest);
        }
        s.parse()
            .map(VolumeSize::Fixed)
            .map_err(|e| format!("{e}; or \"rest\" for the rest of the disk"))
    }
}

impl fmt::Display for VolumeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VolumeSize::Rest => f.write_str("rest"),
            VolumeSize::Fixed(b) => b.fmt(f),
        }
    }
}

impl Serialize for VolumeSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VolumeSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar_for_every_size() {
        assert_eq!("200G".parse::<ByteSize>(), Ok(ByteSize(200 << 30)));
        assert_eq!("1GiB".parse::<ByteSize>(), Ok(ByteSize(1 << 30)));
        assert_eq!("512".parse::<ByteSize>(), Ok(ByteSize(512)));
        assert_eq!("64K".parse::<ByteSize>(), Ok(ByteSize(64 << 10)));
        assert!("200GB".parse::<ByteSize>().unwrap_err().contains("unit"));
        assert!("lots".parse::<ByteSize>().is_err());
        assert!(
            "99999999999T"
                .parse::<ByteSize>()
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!("rest".parse::<VolumeSize>(), Ok(VolumeSize::Rest));
        assert_eq!(
            "200G".parse::<VolumeSize>(),
            Ok(VolumeSize::Fixed(ByteSize(200 << 30)))
        );
    }

    #[test]
    fn sizes_print_as_they_are_written() {
        assert_eq!(ByteSize(200 << 30).to_string(), "200G");
        assert_eq!(ByteSize(1536 << 20).to_string(), "1536M");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(VolumeSize::Rest.to_string(), "rest");
    }
}

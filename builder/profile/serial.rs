//! A machine's DMI serial as a site profile declares it (`hosts[i].serial`), by which the site's USB stick
//! recognises the machine. It is outside input that ends up compared on the machine and written into file
//! names and records, so it is held to a short, printable charset, and the placeholders firmware ships unset on
//! many machines are refused: they would match every such machine.

/// The longest DMI serial a host entry may declare (SMBIOS strings are short; 64 is generous).
pub const SERIAL_MAX: usize = 64;
/// What a serial may hold besides ASCII letters and digits.
pub const SERIAL_PUNCT: &str = " .-_/:+";
/// Serials firmware vendors ship unset: many machines share them, so none identifies a machine.
const PLACEHOLDER_SERIALS: &[&str] = &[
    "to be filled by o.e.m.",
    "not specified",
    "system serial number",
    "default string",
    "none",
    "n/a",
    "0",
    "0123456789",
    "123456789",
];

/// Checks a declared machine serial: a printable, short string that could identify one machine.
pub fn machine_serial(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > SERIAL_MAX {
        return Err(format!("{} characters", s.chars().count()));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !SERIAL_PUNCT.contains(*c))
    {
        return Err(format!("character {c:?} is not allowed"));
    }
    if s.trim() != s {
        return Err("space at the start or end".into());
    }
    if PLACEHOLDER_SERIALS.contains(&s.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{s:?} is the placeholder firmware ships on many machines, not a serial of this one"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_serials_and_refuses_the_rest() {
        for ok in [
            "CZ2041ABCD",
            "VMware-56 4d 9f",
            "S/N:1234+5",
            &"A".repeat(SERIAL_MAX),
        ] {
            assert_eq!(machine_serial(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "0 characters"),
            ("x\ny", "not allowed"),
            ("é1", "not allowed"),
            ("a ", "space at the start or end"),
            ("Default String", "placeholder"),
        ] {
            assert!(machine_serial(bad).unwrap_err().contains(why), "{bad:?}");
        }
        assert!(machine_serial(&"A".repeat(SERIAL_MAX + 1)).is_err());
    }
}

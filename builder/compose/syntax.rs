//! Putting a value into a config file: each helper either quotes the value for the file's syntax or refuses it.
//!
//! The profile's types ([`crate::profile::names`]) already refuse anything odd at load time; these helpers are
//! the second wall, at the point of writing, so that a generator never pastes a raw string into GRUB, rsyslog,
//! chrony, networkd, sshd or `/etc/hosts` even if a value reached it some other way (a test's hand-made
//! profile, a future field). A refusal is an [`Exit::Input`] error that names the value's role.

use crate::error::{Exit, fail};

/// A value for a whitespace-separated config line (`server NAME iburst`, `Domains=NAME`, `/etc/hosts`): one
/// non-empty word with no whitespace, control character, quote, comment or escape character.
pub fn word(what: &str, value: &str) -> anyhow::Result<String> {
    let bad = value.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '`' | '#' | ';' | '\\')
    });
    match bad {
        None if !value.is_empty() => Ok(value.to_owned()),
        None => Err(refused(what, value, "it is empty")),
        Some(c) => Err(refused(what, value, &format!("it holds {c:?}"))),
    }
}

/// A value that fills the rest of one line (an `authorized_keys` entry): no control character, so it cannot
/// start another line.
pub fn line(what: &str, value: &str) -> anyhow::Result<String> {
    match value.chars().find(|c| c.is_control()) {
        None if !value.trim().is_empty() => Ok(value.to_owned()),
        None => Err(refused(what, value, "it is empty")),
        Some(c) => Err(refused(what, value, &format!("it holds {c:?}"))),
    }
}

/// A double-quoted string in rsyslog's RainerScript: `\` and `"` escaped, control characters refused.
pub fn rainerscript_string(what: &str, value: &str) -> anyhow::Result<String> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(refused(what, value, &format!("it holds {c:?}")));
    }
    Ok(format!(
        "\"{}\"",
        value.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// A double-quoted GRUB word (grub.cfg): inside double quotes only `$`, `"` and `\` are special to GRUB, and
/// each is escaped with `\`; control characters (a newline would end the command) are refused.
pub fn grub_word(what: &str, value: &str) -> anyhow::Result<String> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(refused(what, value, &format!("it holds {c:?}")));
    }
    let mut out = String::from('"');
    for c in value.chars() {
        if matches!(c, '$' | '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

fn refused(what: &str, value: &str, why: &str) -> anyhow::Error {
    let shown: String = value.chars().take(60).collect();
    fail(
        Exit::Input,
        format!("{what}: {shown:?} cannot be written into the config file ({why})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    #[test]
    fn words_refuse_anything_that_splits_or_comments_a_line() {
        assert_eq!(word("x", "ntp1.lab.example").unwrap(), "ntp1.lab.example");
        for bad in [
            "", "a b", "a\nb", "a#b", "a\"b", "a;b", "a\\b", "a\tb", "a\0",
        ] {
            let err = word("host.hostname", bad).unwrap_err();
            assert_eq!(exit_of(&err), Exit::Input, "{bad:?}");
            assert!(format!("{err}").starts_with("host.hostname: "), "{err}");
        }
    }

    #[test]
    fn lines_cannot_start_another_line() {
        assert!(line("k", "ssh-ed25519 AAAA a@b").is_ok());
        assert!(line("k", "ssh-ed25519 AAAA\nssh-rsa BBBB").is_err());
        assert!(line("k", "  ").is_err());
    }

    #[test]
    fn rsyslog_strings_are_escaped_and_single_line() {
        assert_eq!(
            rainerscript_string("a", r#"x"y\z"#).unwrap(),
            r#""x\"y\\z""#
        );
        assert!(rainerscript_string("a", "x\")\naction(type=\"omfile\"").is_err());
    }

    #[test]
    fn grub_words_cannot_break_out_of_their_quotes() {
        assert_eq!(grub_word("t", "kvm-lab").unwrap(), "\"kvm-lab\"");
        assert_eq!(grub_word("t", r#"a"b$c\d"#).unwrap(), r#""a\"b\$c\\d""#);
        assert!(grub_word("t", "kvm\"\nset superusers=\"\"").is_err());
    }
}

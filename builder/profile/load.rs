//! Loading a profile from disk: parse, explain errors with file:line:column, resolve relative paths, load the
//! secrets file and check that every secret the profile names exists.
//!
//! `load` does not require the build inputs (vendor images, CA files, signing key) to exist; the files the profile
//! names are checked by `pipeline::preflight`, which `forja check` and `forja build` run after loading.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::model::{Profile, Purpose};
use super::secrets::{SecretRef, Secrets};
use crate::error::{Exit, fail};
use crate::inbound::InputRoots;

/// A step in a path to a profile value: `pexip.conferencing[1].address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path to a value in the profile, as shown to users.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// Parses `a.b[2].c`.
    pub fn parse(s: &str) -> Self {
        let mut segs = Vec::new();
        for part in s.split('.') {
            let (key, rest) = part.split_once('[').unwrap_or((part, ""));
            if !key.is_empty() {
                segs.push(Seg::Key(key.to_owned()));
            }
            for idx in rest.split('[') {
                if let Some(n) = idx
                    .trim_end_matches(']')
                    .parse()
                    .ok()
                    .filter(|_| !idx.is_empty())
                {
                    segs.push(Seg::Index(n));
                }
            }
        }
        FieldPath(segs)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A loaded profile with everything needed to explain errors about it.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub profile: Profile,
    /// `None` only when loaded with [`SecretsNeed::IfPresent`] and the secrets file does not exist.
    pub secrets: Option<Secrets>,
    /// Set when this is one host of a site file (`path` and `text` are then the site file's).
    pub site: Option<super::site::SiteMember>,
}

/// Whether the secrets file must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsNeed {
    /// `plan`, `build` and everything that uses secret values.
    Required,
    /// `check`: an auditor may judge a profile without its secrets; rules on secret values then say so.
    IfPresent,
}

impl Loaded {
    /// `file:line:col` of a field, or just the file when the field is not written out (a default).
    pub fn locate(&self, field: &FieldPath) -> String {
        let in_site;
        let field = match &self.site {
            Some(m) => {
                in_site = m.site_path(&self.text, field);
                &in_site
            }
            None => field,
        };
        match line_col_of(&self.text, field) {
            Some((l, c)) => format!("{}:{l}:{c}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }

    pub fn is_lab(&self) -> bool {
        self.profile.profile.purpose == Purpose::Lab
    }

    /// The folder relative paths in the profile are resolved against.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The build's timestamp: `SOURCE_DATE_EPOCH` from the environment, else the profile's
    /// `base.source-date-epoch`. Both must be a time every tool of the build can represent (up to the end of
    /// year 9999: ISO 9660, FAT and ext4 timestamps all stop before `u64::MAX`).
    pub fn source_date_epoch(&self) -> anyhow::Result<u64> {
        let (value, from) = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => (
                v.trim().parse::<u64>().map_err(|_| {
                    fail(
                        Exit::Input,
                        format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"),
                    )
                })?,
                "SOURCE_DATE_EPOCH".to_owned(),
            ),
            Err(_) => (
                self.profile.base.source_date_epoch,
                self.locate(&FieldPath::parse("base.source-date-epoch")),
            ),
        };
        check_epoch(value).map_err(|e| fail(Exit::Input, format!("{from}: {e}")))?;
        Ok(value)
    }

    /// Where the profile's files may be read from ([`InputRoots`]: its folder and `FORJA_INPUT_DIRS`).
    pub fn roots(&self) -> anyhow::Result<InputRoots> {
        InputRoots::new(self.dir())
    }

    /// A file the profile names under `key`, resolved against the profile's folder and confined to it (see
    /// [`InputRoots::resolve`]); the error names `file:line:col` and the key.
    pub fn input(&self, key: &str, p: &Path) -> anyhow::Result<PathBuf> {
        self.roots()?
            .resolve(key, p)
            .map_err(|e| self.at_key(key, e))
    }

    /// Like [`Loaded::input`] for a file that forja may create (the lab's test signing key).
    pub fn input_new(&self, key: &str, p: &Path) -> anyhow::Result<PathBuf> {
        self.roots()?
            .resolve_new(key, p)
            .map_err(|e| self.at_key(key, e))
    }

    /// A file reference joined to the profile's folder, for checks that only read it (`preflight`, the plan's
    /// certificate fingerprints). References are relative paths of plain names (checked at load), so this stays
    /// inside the folder; what goes into an image is opened through [`Loaded::input`], which also refuses a
    /// symlink that leaves it.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.dir().join(p)
    }

    fn at_key(&self, key: &str, e: anyhow::Error) -> anyhow::Error {
        let exit = crate::error::exit_of(&e);
        fail(
            exit,
            format!("{}: {e:#}", self.locate(&FieldPath::parse(key))),
        )
    }
}

/// Latest timestamp a build accepts: 9999-12-31T23:59:59Z.
pub const MAX_EPOCH: u64 = 253_402_300_799;

/// serde `deserialize_with` for a build timestamp: refused past [`MAX_EPOCH`] at parse time, with its location.
pub fn epoch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = <u64 as serde::Deserialize>::deserialize(d)?;
    check_epoch(v).map_err(serde::de::Error::custom)?;
    Ok(v)
}

/// Refuses a timestamp past [`MAX_EPOCH`].
pub fn check_epoch(epoch: u64) -> Result<(), String> {
    if epoch > MAX_EPOCH {
        Err(format!(
            "{epoch} is after the year 9999; use a real build date in seconds since 1970, e.g. `date +%s`"
        ))
    } else {
        Ok(())
    }
}

/// Loads and parses a profile and its secrets file.
pub fn load(path: &Path, need: SecretsNeed) -> anyhow::Result<Loaded> {
    let bytes = crate::inbound::read_capped(path, crate::inbound::MAX_PROFILE)
        .map_err(|e| crate::inbound::reading(e, path, "profile"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| fail(Exit::Input, format!("{}: not UTF-8 text", path.display())))?;
    let profile = parse(path, &text)?;
    finish(path, text, profile, need, None)
}

/// Loads the secrets file a parsed profile names (confined like every file reference) and checks every secret
/// reference and the time zone (for a host of a site file too, with `site` saying where in it).
pub(crate) fn finish(
    path: &Path,
    text: String,
    profile: Profile,
    need: SecretsNeed,
    site: Option<super::site::SiteMember>,
) -> anyhow::Result<Loaded> {
    let mut loaded = Loaded {
        path: path.to_owned(),
        text,
        profile,
        secrets: None,
        site,
    };
    let lab = loaded.is_lab();
    let secrets_ref = loaded.profile.profile.secrets.clone();
    let unconfined = loaded.dir().join(&secrets_ref);
    loaded.secrets = if need == SecretsNeed::IfPresent && unconfined.symlink_metadata().is_err() {
        log::warn!(
            "{}: secrets file not found; rules on secret values are reported as MANUAL (forja build checks them)",
            unconfined.display()
        );
        None
    } else {
        let secrets_path = loaded.input("profile.secrets", &secrets_ref)?;
        Some(Secrets::load(&secrets_path, lab).context("loading the secrets file")?)
    };
    check_secret_refs(&loaded)?;
    check_time_zone(&loaded, Path::new(HOST_ZONEINFO))?;
    Ok(loaded)
}

/// The build machine's tz database, which `check` and `plan` judge `host.timezone` against; the build checks the
/// base's own (`pipeline::execute`), which is what the host will use.
pub const HOST_ZONEINFO: &str = "/usr/share/zoneinfo";

/// `host.timezone` must name a zone of the tz database at `zoneinfo`; without one there (an auditor's machine
/// without tzdata) the check is left to the build, with a warning.
pub fn check_time_zone(l: &Loaded, zoneinfo: &Path) -> anyhow::Result<()> {
    let tz = &l.profile.host.timezone;
    if !zoneinfo.join("UTC").exists() && !zoneinfo.join("Etc/UTC").exists() {
        log::warn!(
            "{}: no tz database here; host.timezone {tz:?} is checked against the base's when building",
            zoneinfo.display()
        );
        return Ok(());
    }
    if tz.is_in(zoneinfo) {
        return Ok(());
    }
    Err(fail(
        Exit::Input,
        format!(
            "{}: host.timezone: {:?} is not a time zone of the tz database ({}): use a name such as \"Europe/Madrid\" (`timedatectl list-timezones`)",
            l.locate(&FieldPath::parse("host.timezone")),
            tz.as_str(),
            zoneinfo.display()
        ),
    ))
}

/// Parses a profile's text (`path` only names it in messages): the TOML model, every value's type (names,
/// addresses, paths) and the build epoch, each refused with file:line:column.
pub fn parse(path: &Path, text: &str) -> anyhow::Result<Profile> {
    toml::from_str(text)
        .map_err(|e| fail(Exit::Input, describe_toml_error(path, text, &e, Some(text))))
}

/// Every `{ secret = "..." }` in the profile must name a value in the secrets file.
fn check_secret_refs(l: &Loaded) -> anyhow::Result<()> {
    let Some(secrets) = &l.secrets else {
        return Ok(());
    };
    let mut missing = Vec::new();
    for (field, r) in secret_refs(&l.profile) {
        if secrets.get(&r).is_none() {
            missing.push(format!(
                "{}: {field} names secret `{}`, which {} does not define{}",
                l.locate(&field),
                r.name(),
                secrets.path.display(),
                suggest(r.name(), secrets.names())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default()
            ));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(fail(Exit::Input, missing.join("\n")))
    }
}

/// All secret references in the profile with the field that holds each.
pub fn secret_refs(p: &Profile) -> Vec<(FieldPath, SecretRef)> {
    fn walk(v: &serde_json::Value, path: &mut Vec<Seg>, out: &mut Vec<(FieldPath, SecretRef)>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.len() == 1
                    && let Some(serde_json::Value::String(s)) = m.get("secret")
                {
                    out.push((FieldPath(path.clone()), SecretRef { secret: s.clone() }));
                    return;
                }
                for (k, v) in m {
                    path.push(Seg::Key(k.clone()));
                    walk(v, path, out);
                    path.pop();
                }
            }
            serde_json::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let v = serde_json::to_value(p).expect("profile serialises");
    let mut out = Vec::new();
    walk(&v, &mut Vec::new(), &mut out);
    out
}

/// Line and column (1-based) where a field's value is written.
pub fn line_col_of(text: &str, field: &FieldPath) -> Option<(usize, usize)> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    for seg in &field.0 {
        item = match seg {
            Seg::Key(k) => item.get(k.as_str())?,
            Seg::Index(i) => item.get(*i)?,
        };
    }
    let span = item.span()?;
    Some(line_col(text, span.start))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The nearest candidate to `word`, if it is close enough to be a plausible typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Turns a TOML/serde error into `file:line:col: message`, adding "did you mean" for unknown keys.
pub fn describe_toml_error(
    path: &Path,
    text: &str,
    err: &toml::de::Error,
    _profile_text: Option<&str>,
) -> String {
    let (loc, key) = match err.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            let key = value_key_at(text, span.start)
                .map(|k| format!("{k}: "))
                .unwrap_or_default();
            (format!("{}:{l}:{c}", path.display()), key)
        }
        None => (path.display().to_string(), String::new()),
    };
    let msg = err.message().trim().to_owned();
    let hint = unknown_field_hint(&msg).unwrap_or_default();
    let msg = tidy_serde_message(&msg);
    format!("{loc}: {key}{msg}{hint}")
}

/// The key whose value starts at `offset` (a refused value's span), e.g. `host.hostname` or
/// `pexip.conferencing[0].name`, so an error names the key as well as the place.
pub fn value_key_at(text: &str, offset: usize) -> Option<FieldPath> {
    fn walk(item: &toml_edit::Item, offset: usize, path: &mut Vec<Seg>) -> bool {
        // serde reports an array's or inline table's own span for an error in one of its elements.
        if let Some(v) = item.as_value()
            && v.span().is_some_and(|s| s.start == offset)
        {
            return true;
        }
        if let Some(t) = item.as_table_like() {
            for (k, child) in t.iter() {
                path.push(Seg::Key(k.to_owned()));
                if walk(child, offset, path) {
                    return true;
                }
                path.pop();
            }
        }
        let elems: Vec<toml_edit::Item> = match item {
            toml_edit::Item::ArrayOfTables(a) => {
                a.iter().cloned().map(toml_edit::Item::Table).collect()
            }
            toml_edit::Item::Value(toml_edit::Value::Array(a)) => {
                a.iter().cloned().map(toml_edit::Item::Value).collect()
            }
            _ => Vec::new(),
        };
        for (i, child) in elems.iter().enumerate() {
            path.push(Seg::Index(i));
            if walk(child, offset, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut path = Vec::new();
    walk(doc.as_item(), offset, &mut path).then_some(FieldPath(path))
}

/// serde reports `unknown field `x`, expected one of `a`, `b``: turn that into a suggestion.
fn unknown_field_hint(msg: &str) -> Option<String> {
    let rest = msg
        .strip_prefix("unknown field `")
        .or_else(|| msg.strip_prefix("unknown variant `"))?;
    let (word, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    let best = suggest(word, candidates.iter().copied())?;
    Some(format!("; did you mean `{best}`?"))
}

/// serde's "expected one of ..." lists are long; keep them, but make the sentence read as an instruction.
fn tidy_serde_message(msg: &str) -> String {
    msg.replace("unknown field", "unknown key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_round_trip() {
        let p = FieldPath::parse("pexip.conferencing[1].address");
        assert_eq!(p.to_string(), "pexip.conferencing[1].address");
        assert_eq!(p.0.len(), 4);
    }

    #[test]
    fn locates_values_in_arrays_of_tables() {
        let text = "[a]\nx = 1\n[[a.b]]\ny = 2\n[[a.b]]\ny = 3\n";
        assert_eq!(
            line_col_of(text, &FieldPath::parse("a.b[1].y")),
            Some((6, 5))
        );
        assert_eq!(line_col_of(text, &FieldPath::parse("a.x")), Some((2, 5)));
        assert_eq!(line_col_of(text, &FieldPath::parse("a.nope")), None);
    }

    #[test]
    fn a_refused_value_is_named_by_its_key() {
        let text = "[a]\nx = \"v\"\n[[a.b]]\ny = 2\n[[a.b]]\ny = [1, 2]\n";
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(value_key_at(text, at("\"v\"")).unwrap().to_string(), "a.x");
        assert_eq!(
            value_key_at(text, at("[1")).unwrap().to_string(),
            "a.b[1].y"
        );
        assert!(value_key_at(text, at("[a]")).is_none());
    }

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(
            suggest("hostnme", ["hostname", "domain", "timezone"]),
            Some("hostname")
        );
        assert_eq!(suggest("zzzzzz", ["hostname", "domain"]), None);
        let hint =
            unknown_field_hint("unknown field `hostnme`, expected one of `hostname`, `domain`");
        assert_eq!(hint.as_deref(), Some("; did you mean `hostname`?"));
    }
}

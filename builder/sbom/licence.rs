//! Debian's licence names (`License:` fields of machine-readable `/usr/share/doc/PKG/copyright` files) as SPDX
//! licence expressions.
//!
//! Debian's short names mostly predate SPDX's (`GPL-2+`, `Expat`, `Artistic`); the common ones map to SPDX ids,
//! the rest become `LicenseRef-Debian-NAME`, which the document declares with the Debian name as its text, so a
//! scanner sees exactly what Debian states and nothing forja guessed. A package whose copyright file is not
//! machine-readable (or missing) gets `NOASSERTION`.

use std::collections::BTreeSet;

/// Debian short name (lower case) → SPDX licence id.
const KNOWN: &[(&str, &str)] = &[
    ("agpl-3", "AGPL-3.0-only"),
    ("agpl-3+", "AGPL-3.0-or-later"),
    ("apache-2", "Apache-2.0"),
    ("apache-2.0", "Apache-2.0"),
    ("artistic", "Artistic-1.0"),
    ("artistic-1.0", "Artistic-1.0"),
    ("artistic-2.0", "Artistic-2.0"),
    ("bsd-2-clause", "BSD-2-Clause"),
    ("bsd-3-clause", "BSD-3-Clause"),
    ("bsd-4-clause", "BSD-4-Clause"),
    ("bsl-1.0", "BSL-1.0"),
    ("cc0", "CC0-1.0"),
    ("cc0-1.0", "CC0-1.0"),
    ("curl", "curl"),
    ("expat", "MIT"),
    ("fsfap", "FSFAP"),
    ("fsful", "FSFUL"),
    ("fsfullr", "FSFULLR"),
    ("gfdl-1.2+", "GFDL-1.2-or-later"),
    ("gfdl-1.3", "GFDL-1.3-only"),
    ("gfdl-1.3+", "GFDL-1.3-or-later"),
    ("gpl-1", "GPL-1.0-only"),
    ("gpl-1+", "GPL-1.0-or-later"),
    ("gpl-2", "GPL-2.0-only"),
    ("gpl-2+", "GPL-2.0-or-later"),
    ("gpl-2.0", "GPL-2.0-only"),
    ("gpl-2.0+", "GPL-2.0-or-later"),
    ("gpl-3", "GPL-3.0-only"),
    ("gpl-3+", "GPL-3.0-or-later"),
    ("gpl-3.0", "GPL-3.0-only"),
    ("gpl-3.0+", "GPL-3.0-or-later"),
    ("gplv2+", "GPL-2.0-or-later"),
    ("gplv3+", "GPL-3.0-or-later"),
    ("isc", "ISC"),
    ("lgpl-2", "LGPL-2.0-only"),
    ("lgpl-2+", "LGPL-2.0-or-later"),
    ("lgpl-2.0+", "LGPL-2.0-or-later"),
    ("lgpl-2.1", "LGPL-2.1-only"),
    ("lgpl-2.1+", "LGPL-2.1-or-later"),
    ("lgpl-3", "LGPL-3.0-only"),
    ("lgpl-3+", "LGPL-3.0-or-later"),
    ("lgplv2.1+", "LGPL-2.1-or-later"),
    ("lgplv3+", "LGPL-3.0-or-later"),
    ("mit", "MIT"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2.0", "MPL-2.0"),
    ("openssl", "OpenSSL"),
    ("psf-2", "PSF-2.0"),
    ("python-2.0", "Python-2.0"),
    ("sil-1.1", "OFL-1.1"),
    ("x11", "X11"),
    ("zlib", "Zlib"),
];

/// One licence term: an SPDX id, or a Debian name that has none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Term {
    Spdx(&'static str),
    /// `LicenseRef-Debian-<id>` with the Debian name it stands for.
    Debian {
        id: String,
        name: String,
    },
}

impl Term {
    pub fn of(debian: &str) -> Term {
        let name = debian.trim();
        let lower = name.to_ascii_lowercase();
        match KNOWN.iter().find(|(d, _)| *d == lower) {
            Some((_, spdx)) => Term::Spdx(spdx),
            None => Term::Debian {
                id: name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect(),
                name: name.to_owned(),
            },
        }
    }

    pub fn spdx(&self) -> String {
        match self {
            Term::Spdx(s) => (*s).to_owned(),
            Term::Debian { id, .. } => format!("LicenseRef-Debian-{id}"),
        }
    }
}

/// A package's declared licence: the distinct `License:` statements of its copyright file, each an OR of
/// alternatives, all of them ANDed (different files of a package carry different licences).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// Each statement's alternatives, sorted and deduplicated.
    pub statements: BTreeSet<Vec<Term>>,
}

impl Declared {
    /// The licences a machine-readable Debian copyright file states; `None` for a free-form file.
    pub fn from_copyright(text: &str) -> Option<Declared> {
        if !text.starts_with("Format:") {
            return None;
        }
        let mut d = Declared::default();
        for line in text.lines() {
            let Some(value) = line.strip_prefix("License:") else {
                continue;
            };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            // " and " inside one statement (rare) joins like separate statements do.
            for conj in value.split(" and ") {
                let alts: BTreeSet<Term> = conj
                    .split(" or ")
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(Term::of)
                    .collect();
                if !alts.is_empty() {
                    d.statements.insert(alts.into_iter().collect());
                }
            }
        }
        (!d.statements.is_empty()).then_some(d)
    }

    /// The SPDX licence expression.
    pub fn expression(&self) -> String {
        let parts: Vec<String> = self
            .statements
            .iter()
            .map(|alts| {
                let ids: Vec<String> = alts.iter().map(Term::spdx).collect();
                if ids.len() > 1 && self.statements.len() > 1 {
                    format!("({})", ids.join(" OR "))
                } else {
                    ids.join(" OR ")
                }
            })
            .collect();
        parts.join(" AND ")
    }

    /// The Debian-only terms it uses (to declare them in the document).
    pub fn debian_terms(&self) -> impl Iterator<Item = &Term> {
        self.statements
            .iter()
            .flatten()
            .filter(|t| matches!(t, Term::Debian { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_names_become_spdx_expressions() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
                    Files: *\nLicense: GPL-2+\n\nFiles: lib/*\nLicense: LGPL-2.1+ or Artistic\n\n\
                    Files: x\nLicense: GPL-2+\n\nFiles: y\nLicense: public-domain\n";
        let d = Declared::from_copyright(text).unwrap();
        assert_eq!(
            d.expression(),
            "(Artistic-1.0 OR LGPL-2.1-or-later) AND GPL-2.0-or-later AND LicenseRef-Debian-public-domain"
        );
        let refs: Vec<String> = d.debian_terms().map(Term::spdx).collect();
        assert_eq!(refs, ["LicenseRef-Debian-public-domain"]);
    }

    #[test]
    fn a_free_form_copyright_file_asserts_nothing() {
        assert_eq!(
            Declared::from_copyright("This is bash, by Chet Ramey.\n"),
            None
        );
    }
}

//! Property tests for the README.TXT, tar/OVA and OVF parsers: arbitrary and mutated input never panics, and a
//! hostile size field never turns into a large allocation (the readers cap metadata before reading it).

mod common;

use std::sync::OnceLock;

use common::{CONF, members, ova_from};
use forja::archive::tar::TarReader;
use forja::nodes::{ova, ovf, readme::Readme};
use proptest::prelude::*;

fn good_ova() -> &'static Vec<u8> {
    static OVA: OnceLock<Vec<u8>> = OnceLock::new();
    OVA.get_or_init(|| ova_from(&members(CONF)))
}

fn good_ovf() -> &'static Vec<u8> {
    static OVF: OnceLock<Vec<u8>> = OnceLock::new();
    OVF.get_or_init(|| members(CONF).remove(0).1)
}

/// Every member of a tar, read to the end; errors are fine, panics are not.
fn drain_tar(bytes: &[u8]) {
    let mut t = TarReader::new(bytes, "fuzz.tar");
    while let Ok(Some(_)) = t.next_member() {
        let _ = std::io::copy(&mut t.member_reader(), &mut std::io::sink());
    }
}

proptest! {
    // `ci/fuzz` runs more cases through FORJA_FUZZ_CASES.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("FORJA_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn readme_never_panics(text in "(([0-9a-fA-F]{0,70}|SHA256|MD5|SHA2-256|\\(|\\)|=| |  | \\*|\\\\|[a-z._/-]{0,12}|\r?\n)){0,40}") {
        let _ = Readme::parse("README.TXT", text.as_bytes());
    }

    #[test]
    fn readme_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Readme::parse("README.TXT", &bytes);
    }

    #[test]
    fn a_listed_sha256_is_always_found(hex in "[0-9a-f]{64}", name in "[A-Za-z0-9_.-]{1,40}", bsd in any::<bool>()) {
        let line = if bsd { format!("SHA256 ({name}) = {hex}\n") } else { format!("{hex}  {name}\n") };
        let r = Readme::parse("README.TXT", line.as_bytes()).unwrap();
        let (_, e) = r.entry_for(std::path::Path::new(&name)).unwrap();
        prop_assert_eq!(e.sha256.hex(), hex);
    }

    #[test]
    fn tar_reader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        drain_tar(&bytes);
    }

    #[test]
    fn ova_reader_survives_mutations(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>(), truncate in any::<bool>()) {
        let mut bytes = good_ova().clone();
        // Mutations aimed at the headers and metadata, where the parser decides things.
        let hot = 4096.min(bytes.len());
        for (i, v) in edits {
            let at = i.index(hot);
            bytes[at] = v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        drain_tar(&bytes);
        let _ = ova::read(&bytes[..], "fuzz.ova", |_, r| {
            std::io::copy(r, &mut std::io::sink())?;
            Ok(())
        });
    }

    #[test]
    fn ovf_parser_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16)) {
        let mut bytes = good_ovf().clone();
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let _ = ovf::parse("fuzz.ovf", &bytes);
    }

    #[test]
    fn ovf_parser_never_panics_on_text(text in "(<[A-Za-z:]{0,12}( [a-z:]{1,8}=\"[^\"<]{0,12}\")*/?>|</[A-Za-z:]{0,12}>|[^<]{0,12}){0,30}") {
        let _ = ovf::parse("fuzz.ovf", text.as_bytes());
    }
}

//! The fuzzing harness of `tests/fuzz_parsers.rs`, on stable Rust: proptest drives mutations of valid samples
//! (byte flips, insertions, deletions, splices, truncation, and JSON-aware edits that swap a value for a hostile
//! one) and plain random bytes into each parser of outside input. A panic fails the case (proptest shrinks it
//! to a small reproducer); memory is bounded by a hard allocation budget per input: the test binary's allocator
//! refuses to grow past it, so a parser that trusts a size field aborts the run instead of passing.
//!
//! `FORJA_FUZZ_CASES` sets the cases per parser (default [`DEFAULT_CASES`], a few seconds in all); `ci/fuzz`
//! runs many more.

#![allow(dead_code)]

use std::alloc::System;
use std::sync::{Mutex, MutexGuard};

use cap::Cap;
use proptest::prelude::*;
use serde_json::Value;

#[global_allocator]
pub static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Cases per parser in `cargo test`.
pub const DEFAULT_CASES: u32 = 96;
/// What one input may make a parser allocate beyond what was allocated before it: far above any legitimate
/// sample here (the largest is a plan of a few hundred KiB), far below what a trusted length would ask for.
pub const BUDGET: usize = 64 << 20;

pub fn cases() -> u32 {
    std::env::var("FORJA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Shrinking a failure is worth the time; a passing run never pays it.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

/// The allocation budget is global to the process, so the fuzz tests run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Holds the fuzz lock for one test. The first call also makes a panic lift the budget before the panic is
/// reported: printing it (with a backtrace under `RUST_BACKTRACE`) allocates far more than a parser may.
pub fn serial() -> MutexGuard<'static, ()> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = ALLOC.set_limit(usize::MAX);
            report(info);
        }));
    });
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` with at most [`BUDGET`] bytes of new allocations; past it, allocation fails and the process aborts
/// with "memory allocation of N bytes failed", which fails the test run.
pub fn bounded<T>(f: impl FnOnce() -> T) -> T {
    let before = ALLOC.allocated();
    ALLOC
        .set_limit(before.saturating_add(BUDGET))
        .expect("a limit above what is allocated");
    let out = f();
    ALLOC.set_limit(usize::MAX).expect("lifting the limit");
    out
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Edit {
    Set(prop::sample::Index, u8),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    /// Copies a chunk of the input over another place (repeats structure: headers, lines, keys).
    Splice(prop::sample::Index, prop::sample::Index, usize),
    Truncate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let idx = any::<prop::sample::Index>;
    prop_oneof![
        (idx(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (idx(), 0u8..8).prop_map(|(i, bit)| Edit::Flip(i, 1 << bit)),
        (idx(), interesting_bytes()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (idx(), 1usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
        (idx(), idx(), 1usize..512).prop_map(|(a, b, n)| Edit::Splice(a, b, n)),
        idx().prop_map(Edit::Truncate),
    ]
}

/// Byte strings that parsers treat specially: separators, quotes, huge numbers, control characters.
fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..16),
        prop::sample::select(vec![
            &b"\n"[..],
            b"\r\n",
            b"\0",
            b"\"",
            b"'''",
            b"\\",
            b"=",
            b"[",
            b"]]",
            b"{",
            b"}",
            b"..",
            b"../",
            b"-",
            b"99999999999999999999999",
            b"18446744073709551615",
            b"-1",
            b"1e400",
            b"\xff\xfe",
            b"\xe2\x80\xae",
            b"SHA256 (",
            b") = ",
            b"untrusted comment: ",
        ])
        .prop_map(<[u8]>::to_vec),
    ]
}

/// Applies `edits` to `bytes`.
pub fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match e {
            Edit::Set(i, b) if len > 0 => bytes[i.index(len)] = *b,
            Edit::Flip(i, m) if len > 0 => bytes[i.index(len)] ^= *m,
            Edit::Insert(i, b) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Edit::Delete(i, n) if len > 0 => {
                let at = i.index(len);
                bytes.drain(at..(at + n).min(len));
            }
            Edit::Splice(a, b, n) if len > 0 => {
                let from = a.index(len);
                let chunk = bytes[from..(from + n).min(len)].to_vec();
                let to = b.index(len);
                let end = (to + chunk.len()).min(len);
                bytes.splice(to..end, chunk);
            }
            Edit::Truncate(i) => bytes.truncate(i.index(len + 1)),
            _ => {}
        }
    }
    bytes
}

/// A valid sample, mutated by 1 to 8 edits; or, one time in eight, random bytes.
pub fn mutated(sample: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        7 => proptest::collection::vec(edit(), 1..8).prop_map(move |e| apply(sample.clone(), &e)),
        1 => proptest::collection::vec(any::<u8>(), 0..4096),
    ]
}

/// A value that has broken parsers and checks before: wrong types, hostile strings, extreme numbers.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            Value::Null,
            Value::Bool(true),
            serde_json::json!(""),
            serde_json::json!("../../../tmp/x"),
            serde_json::json!("/etc/shadow"),
            serde_json::json!("a\nb"),
            serde_json::json!("a\u{0}b"),
            serde_json::json!("--version"),
            serde_json::json!("x".repeat(5000)),
            serde_json::json!(u64::MAX),
            serde_json::json!(i64::MIN),
            serde_json::json!(-1),
            serde_json::json!(0),
            serde_json::json!(1.5e300),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([[[[[[[[]]]]]]]]),
        ]),
        ".{0,40}".prop_map(Value::String),
        any::<u64>().prop_map(|n| serde_json::json!(n)),
    ]
}

/// Every leaf and container of `v`, as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A JSON document with 1 to 4 of its values (anywhere in the tree) replaced by hostile ones, serialised.
pub fn json_mutated(doc: Value) -> impl Strategy<Value = Vec<u8>> {
    let mut all = Vec::new();
    pointers(&doc, String::new(), &mut all);
    proptest::collection::vec((prop::sample::select(all), hostile_value()), 1..4).prop_map(
        move |edits| {
            let mut d = doc.clone();
            for (ptr, v) in edits {
                if let Some(slot) = d.pointer_mut(&ptr) {
                    *slot = v;
                }
            }
            serde_json::to_vec(&d).expect("a Value serialises")
        },
    )
}

//! File-driven and differential tests of the strict JSON parser and RFC 8785
//! canonicalisation: the cyberphone JCS vectors in `tests/vectors/jcs`, byte
//! mutations of them, and random documents checked against serde_json.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashSet;
use std::path::PathBuf;

use proof_messenger_core::canonical::{canonicalize, canonicalize_json, canonicalize_json_with};
use proof_messenger_core::errors::ErrorCode;
use proof_messenger_core::json::{parse, Limits, Number, Numbers, Value};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/jcs")
}

/// (name, input bytes, expected output bytes) for every vector.
fn vectors() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let dir = vectors_dir();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("input"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "vectors missing: {names:?}");
    names
        .into_iter()
        .map(|n| {
            let input = std::fs::read(dir.join("input").join(&n)).unwrap();
            let output = std::fs::read(dir.join("output").join(&n)).unwrap();
            (n, input, output)
        })
        .collect()
}

/// `values.json` writes 333333333.33333329, which is not exactly a double.
/// Plain RFC 8785 (`Numbers::Nearest`) rounds it, as JavaScript does; the
/// protocol's strict rule (`Numbers::Exact`, used for every signed context)
/// rejects it. Every other vector is the same under both rules.
const INEXACT_LITERAL: &str = "333333333.33333329";

#[test]
fn every_vector_canonicalises_to_its_output() {
    let limits = Limits::default();
    for (name, input, output) in vectors() {
        let got = canonicalize_json_with(&input, &limits, Numbers::Nearest).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&output), "{name}");
        assert_eq!(got, output, "{name}");
        let strict = canonicalize_json(&input, &limits);
        if String::from_utf8_lossy(&input).contains(INEXACT_LITERAL) {
            assert_eq!(strict.unwrap_err().code(), ErrorCode::InexactNumber, "{name}");
        } else {
            assert_eq!(strict.unwrap(), output, "{name}");
        }
        // Idempotence: the output is its own canonical form, under both rules.
        assert_eq!(canonicalize_json(&output, &limits).unwrap(), output, "{name}");
    }
}

#[test]
fn deep_nesting_is_refused_without_stack_overflow() {
    let deep = vec![b'['; 100_000];
    let e = canonicalize_json(&deep, &Limits::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InputTooLarge);
    let limits = Limits { max_bytes: 1 << 20, ..Limits::default() };
    let e = canonicalize_json(&deep, &limits).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NestingTooDeep);
    let limits = Limits { max_bytes: usize::MAX, max_depth: 1_000 };
    let e = canonicalize_json(&deep, &limits).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NestingTooDeep);
}

/// Compares our value with serde_json's; numbers by their double value,
/// objects as sets of members (serde_json sorts them). Describes the first
/// difference.
fn same_as_serde(ours: &Value, theirs: &serde_json::Value) -> Result<(), String> {
    let ok = match (ours, theirs) {
        (Value::Null, serde_json::Value::Null) => true,
        (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
        // serde_json without its `float_roundtrip` feature rounds long
        // literals a few ULPs off; exact rounding is checked separately
        // (exactness_rule_matches_reference).
        (Value::Number(a), serde_json::Value::Number(b)) => b.as_f64().is_some_and(|b| {
            let a = a.as_f64();
            a == b || (a - b).abs() <= 1e-14 * a.abs()
        }),
        (Value::String(a), serde_json::Value::String(b)) => a == b,
        (Value::Array(a), serde_json::Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same_as_serde(x, y).map_err(|e| format!("[{i}]{e}"))?;
            }
            true
        }
        (Value::Object(a), serde_json::Value::Object(b)) if a.len() == b.len() => {
            for (k, v) in a.iter() {
                let w = b.get(k).ok_or_else(|| format!(".{k:?} missing"))?;
                same_as_serde(v, w).map_err(|e| format!(".{k:?}{e}"))?;
            }
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(": ours {ours:?}, serde_json {theirs:?}"))
    }
}

/// Checks that canonical output orders members by UTF-16 code units.
fn members_sorted(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().all(members_sorted),
        Value::Object(obj) => {
            let keys: Vec<Vec<u16>> = obj.iter().map(|(k, _)| k.encode_utf16().collect()).collect();
            keys.windows(2).all(|w| w[0] < w[1]) && obj.iter().all(|(_, v)| members_sorted(v))
        }
        _ => true,
    }
}

/// Properties every successfully parsed document must have.
fn check_accepted(doc: &[u8], value: &Value) {
    let shown = String::from_utf8_lossy(doc);
    let canon = canonicalize(value);
    let limits = Limits { max_bytes: usize::MAX, max_depth: 64 };
    let reparsed = parse(&canon, &limits).unwrap_or_else(|e| panic!("canonical form of {shown:?} does not parse: {e}"));
    assert_eq!(canonicalize(&reparsed), canon, "not idempotent: {shown:?}");
    assert!(members_sorted(&reparsed), "unsorted: {shown:?}");
    let theirs: serde_json::Value =
        serde_json::from_slice(doc).unwrap_or_else(|e| panic!("serde_json rejects {shown:?} which we accept: {e}"));
    if let Err(e) = same_as_serde(value, &theirs) {
        panic!("differs from serde_json at {e} in {shown:?}");
    }
    let theirs_canon: serde_json::Value = serde_json::from_slice(&canon).unwrap();
    if let Err(e) = same_as_serde(value, &theirs_canon) {
        panic!("canonical form differs at {e} in {shown:?}");
    }
}

const DOCUMENTED: &[ErrorCode] = &[
    ErrorCode::InvalidUtf8,
    ErrorCode::InvalidJson,
    ErrorCode::DuplicateKey,
    ErrorCode::LoneSurrogate,
    ErrorCode::NonFiniteNumber,
    ErrorCode::InexactNumber,
    ErrorCode::NestingTooDeep,
];

fn check_any(doc: &[u8]) {
    match parse(doc, &Limits::default()) {
        Ok(value) => check_accepted(doc, &value),
        Err(e) => {
            let shown = String::from_utf8_lossy(doc);
            assert!(DOCUMENTED.contains(&e.code()), "{e} for {shown:?}");
            assert!(e.detail().len() < 200, "long detail {:?}", e.detail());
            // Whatever we call a syntax error, serde_json must refuse too.
            if matches!(e.code(), ErrorCode::InvalidJson | ErrorCode::InvalidUtf8 | ErrorCode::LoneSurrogate) {
                assert!(
                    serde_json::from_slice::<serde_json::Value>(doc).is_err(),
                    "{e} but serde_json accepts {shown:?}"
                );
            }
        }
    }
}

#[test]
fn mutated_vectors_never_panic() {
    const BYTES: &[u8] = b"\"\\{}[],:0159-+.eEu ntfa\x00\x1f\x7f\x80\xbf\xc3\xed\xf0\xff";
    let mut seeds: Vec<Vec<u8>> = vectors().into_iter().flat_map(|(_, i, o)| [i, o]).collect();
    seeds.push(br#"{"a":"\ud83d\ude02\u00e9\n","b":[1e21,-0,0.1,5e-324],"c":{"d":null}}"#.to_vec());
    let mut mutants = 0usize;
    for seed in &seeds {
        for i in 0..=seed.len() {
            let mut variants: Vec<Vec<u8>> = Vec::new();
            if i < seed.len() {
                let mut d = seed.clone();
                d.remove(i);
                variants.push(d);
                for mask in [0x01u8, 0x02, 0x20, 0x40, 0x80] {
                    let mut d = seed.clone();
                    d[i] ^= mask;
                    variants.push(d);
                }
                for &b in BYTES {
                    let mut d = seed.clone();
                    d[i] = b;
                    variants.push(d);
                }
            }
            for &b in BYTES {
                let mut d = seed.clone();
                d.insert(i, b);
                variants.push(d);
            }
            // Truncation at every position.
            variants.push(seed[..i].to_vec());
            for doc in variants {
                check_any(&doc);
                mutants += 1;
            }
        }
    }
    assert!(mutants > 10_000);
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

fn gen_ws(rng: &mut Rng, out: &mut String) {
    while rng.chance(3) {
        out.push([' ', '\t', '\n', '\r'][rng.below(4) as usize]);
    }
}

fn gen_char(rng: &mut Rng) -> char {
    const POOL: &[char] = &[
        'a',
        'b',
        'Z',
        '0',
        ' ',
        '"',
        '\\',
        '/',
        '\u{0}',
        '\u{8}',
        '\t',
        '\n',
        '\u{c}',
        '\r',
        '\u{1f}',
        '\u{7f}',
        '\u{80}',
        'é',
        '€',
        '\u{2028}',
        '\u{d7ff}',
        '\u{e000}',
        '\u{fffd}',
        '\u{ffff}',
        '\u{10000}',
        '😂',
        '\u{10ffff}',
    ];
    POOL[rng.below(POOL.len() as u64) as usize]
}

fn gen_string_literal(rng: &mut Rng, s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        let must = matches!(c, '"' | '\\') || (c as u32) < 0x20;
        if must || rng.chance(4) {
            match (c, rng.below(2)) {
                ('"', 0) => out.push_str("\\\""),
                ('\\', 0) => out.push_str("\\\\"),
                ('/', 0) => out.push_str("\\/"),
                ('\n', 0) => out.push_str("\\n"),
                ('\t', 0) => out.push_str("\\t"),
                _ => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        if rng.chance(2) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

fn gen_number(rng: &mut Rng, out: &mut String) {
    match rng.below(5) {
        0 => {
            let i = (rng.next() >> 10) as i64 - (1 << 53);
            out.push_str(&i.to_string());
        }
        1 => out.push_str(&(rng.below(1000) as i64 - 500).to_string()),
        _ => {
            let f = loop {
                let f = f64::from_bits(rng.next());
                if f.is_finite() && f != 0.0 {
                    break f;
                }
            };
            // Any spelling of the exact ECMAScript digits is accepted.
            let (negative, digits, exp) = normalise(&ecmascript(f));
            let sign = if negative { "-" } else { "" };
            let zeros = "0".repeat(rng.below(3) as usize);
            let (first, rest) = digits.split_at(1);
            let plain_ok = (-30..40).contains(&exp);
            if plain_ok && rng.chance(2) {
                let n = digits.len() as i64;
                if exp <= 0 {
                    let lead = "0".repeat((-exp) as usize);
                    out.push_str(&format!("{sign}0.{lead}{digits}{zeros}"));
                } else if exp >= n {
                    let pad = "0".repeat((exp - n) as usize);
                    out.push_str(&format!("{sign}{digits}{pad}"));
                } else {
                    let (int, frac) = digits.split_at(exp as usize);
                    out.push_str(&format!("{sign}{int}.{frac}{zeros}"));
                }
            } else {
                let e = ["e", "E", "e+", "E+"][rng.below(4) as usize];
                let e = if exp - 1 < 0 { &e[..1] } else { e };
                let dot = if rest.is_empty() && zeros.is_empty() { "" } else { "." };
                out.push_str(&format!("{sign}{first}{dot}{rest}{zeros}{e}{}", exp - 1));
            }
        }
    }
}

fn gen_value(rng: &mut Rng, depth: usize, out: &mut String) {
    gen_ws(rng, out);
    let kind = if depth >= 6 { rng.below(5) } else { rng.below(7) };
    match kind {
        0 => out.push_str("null"),
        1 => out.push_str(if rng.chance(2) { "true" } else { "false" }),
        2 => gen_number(rng, out),
        3 | 4 => {
            let s: String = (0..rng.below(8)).map(|_| gen_char(rng)).collect();
            gen_string_literal(rng, &s, out);
        }
        5 => {
            out.push('[');
            let n = rng.below(5);
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                gen_value(rng, depth + 1, out);
            }
            gen_ws(rng, out);
            out.push(']');
        }
        _ => {
            out.push('{');
            let mut seen = HashSet::new();
            let n = rng.below(25);
            let mut first = true;
            for _ in 0..n {
                let key: String = (0..rng.below(4)).map(|_| gen_char(rng)).collect();
                if !seen.insert(key.clone()) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                gen_ws(rng, out);
                gen_string_literal(rng, &key, out);
                gen_ws(rng, out);
                out.push(':');
                gen_value(rng, depth + 1, out);
            }
            gen_ws(rng, out);
            out.push('}');
        }
    }
    gen_ws(rng, out);
}

#[test]
fn random_documents_agree_with_serde_json() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let limits = Limits { max_bytes: usize::MAX, max_depth: 64 };
    for _ in 0..3_000 {
        let mut doc = String::new();
        gen_value(&mut rng, 0, &mut doc);
        let value = parse(doc.as_bytes(), &limits).unwrap_or_else(|e| panic!("rejected valid document {doc:?}: {e}"));
        check_accepted(doc.as_bytes(), &value);
    }
}

/// Second statement of the exactness rule with string manipulation:
/// (sign, significant digits, exponent) of a literal.
fn normalise(literal: &str) -> (bool, String, i64) {
    let (negative, rest) = match literal.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, literal),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().unwrap()),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let exp = exp + int.len() as i64;
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0').to_owned();
    if digits.is_empty() {
        return (false, digits, 0);
    }
    (negative, digits, exp - lead as i64)
}

/// ECMAScript `Number.prototype.toString`, as the canonical form prints it.
fn ecmascript(f: f64) -> String {
    let value = Value::Number(Number::from_f64(f).unwrap());
    String::from_utf8(canonicalize(&value)).unwrap()
}

/// ryu-js must print the same shortest digits as Rust's own formatter,
/// except where two shortest candidates are equally close: ECMAScript then
/// takes the even digit (JS prints -1605491615096912.3 as ...912.2), Rust may
/// not. Both must round-trip.
#[test]
fn ecmascript_digits_match_rust_shortest() {
    let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
    let mut ties = 0;
    for _ in 0..200_000 {
        let f = f64::from_bits(rng.next());
        if !f.is_finite() || f == 0.0 {
            continue;
        }
        let ours = ecmascript(f);
        let rust = format!("{f:e}");
        assert_eq!(ours.parse::<f64>().unwrap(), f, "{ours}");
        let (a, b) = (normalise(&ours), normalise(&rust));
        if a != b {
            assert_eq!((a.0, a.1.len(), a.2), (b.0, b.1.len(), b.2), "{ours} vs {rust}");
            ties += 1;
        }
    }
    assert!(ties < 2_000, "{ties}");
}

#[test]
fn exactness_rule_matches_reference() {
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut lit = String::new();
        if rng.chance(2) {
            lit.push('-');
        }
        let n_int = 1 + rng.below(20);
        for i in 0..n_int {
            let d = if i == 0 && n_int > 1 { 1 + rng.below(9) } else { rng.below(10) };
            // Mostly small digits, so near-representable values are common.
            let d = if rng.chance(3) { 0 } else { d };
            let d = if i == 0 && n_int > 1 && d == 0 { 1 } else { d };
            lit.push(char::from(b'0' + d as u8));
        }
        if rng.chance(2) {
            lit.push('.');
            for _ in 0..1 + rng.below(20) {
                lit.push(char::from(b'0' + rng.below(10) as u8));
            }
        }
        if rng.chance(2) {
            lit.push(['e', 'E'][rng.below(2) as usize]);
            match rng.below(3) {
                0 => lit.push('+'),
                1 => lit.push('-'),
                _ => {}
            }
            lit.push_str(&rng.below(330).to_string());
        }
        let f: f64 = lit.parse().unwrap();
        let expected = if !f.is_finite() {
            Err(ErrorCode::NonFiniteNumber)
        } else if normalise(&lit) == normalise(&ecmascript(f)) {
            Ok(f)
        } else {
            Err(ErrorCode::InexactNumber)
        };
        let got = match parse(lit.as_bytes(), &Limits::default()) {
            Ok(Value::Number(n)) => Ok(n.as_f64()),
            Ok(other) => panic!("{lit} parsed as {other:?}"),
            Err(e) => Err(e.code()),
        };
        assert_eq!(got, expected, "{lit}");
        accepted += usize::from(got.is_ok());
    }
    assert!(accepted > 1_000, "too few exact literals generated: {accepted}");
}

#[test]
fn canonicalize_object_equals_canonicalize_of_the_value() {
    for (name, input, _) in vectors() {
        let value = proof_messenger_core::json::parse_with(&input, &Limits::default(), Numbers::Nearest).unwrap();
        if let Value::Object(object) = &value {
            assert_eq!(proof_messenger_core::canonical::canonicalize_object(object), canonicalize(&value), "{name}");
        }
    }
}

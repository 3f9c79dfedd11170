//! RFC 8785 JSON Canonicalization Scheme (JCS) serialisation.
//!
//! The canonical form is what proofs sign, so it must be byte-identical to
//! every other JCS implementation: members sorted by the UTF-16 code units of
//! their names, minimal string escaping, ECMAScript number formatting, no
//! whitespace.
//!
//! Serialisation is iterative (an explicit heap stack), so it cannot overflow
//! the Rust stack on deeply nested values.

use crate::errors::Result;
use crate::json::{parse_with, Limits, Number, Numbers, Object, Value};

/// Serialises `value` in canonical form.
///
/// Infallible: [`Value`]'s invariants (finite numbers, unique member names,
/// Rust strings holding only Unicode scalar values) are exactly what JCS needs.
pub fn canonicalize(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_canonical(value, &mut out);
    out
}

/// Parses `bytes` strictly under `limits` (see [`parse`]) and returns the
/// canonical form.
pub fn canonicalize_json(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    canonicalize_json_with(bytes, limits, Numbers::Exact)
}

/// [`canonicalize_json`] with an explicit number rule; `Numbers::Nearest` is
/// plain RFC 8785 for JSON that is not going to be signed by a person.
pub fn canonicalize_json_with(bytes: &[u8], limits: &Limits, numbers: Numbers) -> Result<Vec<u8>> {
    let value = parse_with(bytes, limits, numbers)?;
    // A good first guess: whitespace and escapes go away, so the canonical
    // form is rarely longer than the input.
    let mut out = Vec::with_capacity(bytes.len());
    write_canonical(&value, &mut out);
    Ok(out)
}

/// Work left to do on an open container.
enum Pending<'a> {
    Array { items: core::slice::Iter<'a, Value>, first: bool },
    Object { members: std::vec::IntoIter<(&'a str, &'a Value)>, first: bool },
}

/// Appends the canonical form of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    write_from(Some(value), Vec::new(), out);
}

/// The canonical form of a JSON object, without first wrapping (and so
/// copying) it into a [`Value`]: the hot path for contexts.
pub fn canonicalize_object(object: &Object) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    write_from(None, vec![Pending::Object { members: sorted_members(object).into_iter(), first: true }], &mut out);
    out
}

/// Runs the serialiser from a value to write next and/or open containers.
fn write_from<'a>(mut next: Option<&'a Value>, mut stack: Vec<Pending<'a>>, out: &mut Vec<u8>) {
    let mut numbers = ryu_js::Buffer::new();
    loop {
        if let Some(value) = next.take() {
            match value {
                Value::Null => out.extend_from_slice(b"null"),
                Value::Bool(true) => out.extend_from_slice(b"true"),
                Value::Bool(false) => out.extend_from_slice(b"false"),
                Value::Number(n) => write_number(*n, &mut numbers, out),
                Value::String(s) => write_string(s, out),
                Value::Array(items) => {
                    out.push(b'[');
                    stack.push(Pending::Array { items: items.iter(), first: true });
                }
                Value::Object(obj) => {
                    out.push(b'{');
                    stack.push(Pending::Object { members: sorted_members(obj).into_iter(), first: true });
                }
            }
        }
        let Some(top) = stack.last_mut() else {
            return;
        };
        match top {
            Pending::Array { items, first } => match items.next() {
                Some(item) => {
                    if !core::mem::replace(first, false) {
                        out.push(b',');
                    }
                    next = Some(item);
                }
                None => {
                    out.push(b']');
                    stack.pop();
                }
            },
            Pending::Object { members, first } => match members.next() {
                Some((name, member)) => {
                    if !core::mem::replace(first, false) {
                        out.push(b',');
                    }
                    write_string(name, out);
                    out.push(b':');
                    next = Some(member);
                }
                None => {
                    out.push(b'}');
                    stack.pop();
                }
            },
        }
    }
}

/// The members of `obj` in JCS order: by the UTF-16 code units of the names.
fn sorted_members(obj: &Object) -> Vec<(&str, &Value)> {
    // UTF-8 byte order equals UTF-16 code unit order except when a
    // supplementary-plane character (4 UTF-8 bytes, a surrogate pair in
    // UTF-16) meets one in U+E000..U+FFFF. So the cheap byte comparison is
    // exact for any pair where neither name has a 4-byte sequence, and both
    // comparisons agree with the UTF-16 order, which keeps the sort's order
    // total. The flag is computed once per name, not per comparison.
    let mut members: Vec<(&str, &Value, bool)> =
        obj.iter().map(|(name, value)| (name, value, name.bytes().any(|b| b >= 0xF0))).collect();
    members.sort_unstable_by(|(a, _, a_wide), (b, _, b_wide)| {
        if *a_wide || *b_wide {
            a.encode_utf16().cmp(b.encode_utf16())
        } else {
            a.as_bytes().cmp(b.as_bytes())
        }
    });
    members.into_iter().map(|(name, value, _)| (name, value)).collect()
}

/// Appends a number as ECMAScript `Number.prototype.toString` prints it.
fn write_number(n: Number, buffer: &mut ryu_js::Buffer, out: &mut Vec<u8>) {
    let f = n.as_f64();
    if f == 0.0 {
        // Covers -0.0, which JCS (like ECMAScript) prints as 0.
        out.push(b'0');
        return;
    }
    // Fast path: ECMAScript prints integers below 10^21 as plain digits; below
    // 2^53 the digits are those of the exact integer, no ryu needed.
    if let Some(i) = n.as_exact_i64() {
        if i.unsigned_abs() <= MAX_SAFE_INTEGER {
            write_integer(i, out);
            return;
        }
    }
    // `format` rather than `format_finite`: the invariant says finite, but
    // never trusting it costs one comparison.
    out.extend_from_slice(buffer.format(f).as_bytes());
}

/// 2^53: every integer up to here is an exact double.
const MAX_SAFE_INTEGER: u64 = 1 << 53;

fn write_integer(i: i64, out: &mut Vec<u8>) {
    if i < 0 {
        out.push(b'-');
    }
    let mut magnitude = i.unsigned_abs();
    // 2^53 has 16 digits; fill from the right.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            *slot = b'0' + (magnitude % 10) as u8;
        }
        magnitude /= 10;
        if magnitude == 0 || start == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

fn hex_digit(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + (nibble - 10)
    }
}

/// Appends a string with JCS's minimal escaping; everything not escaped
/// (including U+007F, U+2028 and all non-ASCII) is copied as UTF-8.
///
/// Public for writers of flat JSON records (the relay's audit entries and
/// decision lines) that must escape exactly as the canonical form does.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut copied = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => &[],
            _ => continue,
        };
        out.extend_from_slice(bytes.get(copied..i).unwrap_or_default());
        if short.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex_digit(b >> 4), hex_digit(b & 0xF)]);
        } else {
            out.extend_from_slice(short);
        }
        copied = i + 1;
    }
    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::errors::ErrorCode;

    fn canon(s: &str) -> String {
        let bytes = canonicalize_json(s.as_bytes(), &Limits::default()).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn num(f: f64) -> String {
        String::from_utf8(canonicalize(&Value::Number(Number::from_f64(f).unwrap()))).unwrap()
    }

    #[test]
    fn literals_and_whitespace() {
        assert_eq!(canon(" [ null , true , false ] "), "[null,true,false]");
        assert_eq!(canon("{ }"), "{}");
        assert_eq!(canon("[ ]"), "[]");
        assert_eq!(canon("\n\"x\"\t"), "\"x\"");
    }

    #[test]
    fn numbers_print_as_ecmascript() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (0.30000000000000004, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (-5e-324, "-5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN, "-1.7976931348623157e+308"),
            (9007199254740992.0, "9007199254740992"),
            (333333333.3333333, "333333333.3333333"),
            (1e30, "1e+30"),
            (4.5, "4.5"),
            (0.002, "0.002"),
            (1e-27, "1e-27"),
            (1e23, "1e+23"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (9007199254740991.0, "9007199254740991"),
            (-9007199254740992.0, "-9007199254740992"),
            (9007199254740994.0, "9007199254740994"),
            (1e16, "10000000000000000"),
            (123.0, "123"),
            (-7.0, "-7"),
            (10.0, "10"),
            (-9.223372036854776e18, "-9223372036854776000"),
        ];
        for &(f, want) in cases {
            assert_eq!(num(f), want, "{f:e}");
        }
    }

    #[test]
    fn number_literals_canonicalise() {
        assert_eq!(canon("[-0, 1.0, 1E+2, 1e-2, 100e-2, 56.0, 4.50]"), "[0,1,100,0.01,1,56,4.5]");
        assert_eq!(canon("1e21"), "1e+21");
        assert_eq!(canon("0.0000001"), "1e-7");
        assert_eq!(canon("-0.0"), "0");
    }

    #[test]
    fn string_escaping() {
        assert_eq!(canon(r#""\"\\\/""#), r#""\"\\/""#);
        assert_eq!(canon(r#""\b\t\n\f\r""#), r#""\b\t\n\f\r""#);
        assert_eq!(canon(r#""\u0000\u0001\u000b\u001F\u000E""#), r#""\u0000\u0001\u000b\u001f\u000e""#);
        assert_eq!(canon(r#""\u007f\u2028\u2029\u00e9\ud83d\ude02""#), "\"\u{7f}\u{2028}\u{2029}é😂\"");
        assert_eq!(canon(r#""<\/script>'&""#), "\"</script>'&\"");
        assert_eq!(canon(r#""\u0041\u20ac""#), "\"A€\"");
        // Every control character, individually.
        for c in 0u32..0x20 {
            let ch = char::from_u32(c).unwrap();
            let got = String::from_utf8(canonicalize(&Value::String(ch.to_string()))).unwrap();
            let want = match ch {
                '\u{8}' => "\"\\b\"".to_owned(),
                '\t' => "\"\\t\"".to_owned(),
                '\n' => "\"\\n\"".to_owned(),
                '\u{c}' => "\"\\f\"".to_owned(),
                '\r' => "\"\\r\"".to_owned(),
                _ => format!("\"\\u{c:04x}\""),
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn members_sort_by_utf16_code_units() {
        // U+10000 is D800 DC00 in UTF-16, so it sorts before U+FFFD and
        // U+E000, although its UTF-8 (F0 ...) sorts after theirs (EF/EE ...).
        let doc = "{\"\u{fffd}\":1,\"\u{10000}\":2,\"\u{e000}\":3,\"\u{d7ff}\":4,\"a\":5}";
        assert_eq!(canon(doc), "{\"a\":5,\"\u{d7ff}\":4,\"\u{10000}\":2,\"\u{e000}\":3,\"\u{fffd}\":1}");
        // Prefixes sort first; comparison is by code unit, not by locale.
        assert_eq!(
            canon(r#"{"b":0,"a":1,"":2,"aa":3,"B":4,"A":5,"10":6,"1":7,"é":8}"#),
            r#"{"":2,"1":7,"10":6,"A":5,"B":4,"a":1,"aa":3,"b":0,"é":8}"#
        );
        // Mixed names where only some have 4-byte sequences.
        assert_eq!(
            canon("{\"x\u{1f600}\":1,\"x\u{ff01}\":2,\"x\":3,\"y\":4}"),
            "{\"x\":3,\"x\u{1f600}\":1,\"x\u{ff01}\":2,\"y\":4}"
        );
    }

    #[test]
    fn sort_matches_reference_for_many_names() {
        let chars = [
            'a',
            'z',
            '\u{7f}',
            '\u{80}',
            '\u{7ff}',
            '\u{800}',
            '\u{d7ff}',
            '\u{e000}',
            '\u{fffd}',
            '\u{ffff}',
            '\u{10000}',
            '\u{1f600}',
            '\u{10ffff}',
        ];
        let mut obj = Object::new();
        for a in chars {
            for b in chars {
                obj.insert(format!("{a}{b}"), Value::Null).unwrap();
            }
        }
        let sorted: Vec<&str> = sorted_members(&obj).into_iter().map(|(k, _)| k).collect();
        let mut reference: Vec<&str> = obj.iter().map(|(k, _)| k).collect();
        reference.sort_by_key(|k| k.encode_utf16().collect::<Vec<u16>>());
        assert_eq!(sorted, reference);
    }

    #[test]
    fn arrays_keep_order_and_nest() {
        assert_eq!(canon(r#"[3, [2, {"b": 1, "a": [1, {}]}], 1]"#), r#"[3,[2,{"a":[1,{}],"b":1}],1]"#);
    }

    #[test]
    fn errors_pass_through() {
        let e = canonicalize_json(br#"{"a":1,"a":1}"#, &Limits::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::DuplicateKey);
        let e = canonicalize_json(b"[1", &Limits::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidJson);
    }

    #[test]
    fn write_canonical_appends() {
        let mut out = b"prefix:".to_vec();
        write_canonical(&Value::Array(vec![Value::Null]), &mut out);
        assert_eq!(out, b"prefix:[null]");
    }

    #[test]
    fn deep_values_do_not_overflow_the_stack() {
        // Built by hand (the parser's default limit would refuse it) and
        // taken apart iteratively, because Value's derived Drop recurses.
        let depth = 200_000;
        let mut v = Value::Null;
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        let out = canonicalize(&v);
        let ok = out.len() == 2 * depth + 4
            && out.iter().take(depth).all(|&b| b == b'[')
            && out.get(depth..depth + 4) == Some(&b"null"[..])
            && out.iter().skip(depth + 4).all(|&b| b == b']');
        // Dismantle before asserting: unwinding would drop `v` recursively.
        let mut v = Some(v);
        while let Some(Value::Array(mut items)) = v.take() {
            v = items.pop();
        }
        assert!(ok);
    }

    #[test]
    fn idempotent() {
        for doc in [
            r#"{"z": [1.5e3, -0, "\u00e9\n"], "a": {"\ud83d\ude02": null, "b": true}}"#,
            r#"[0.1, 1e21, 1e-7, 123456789012345680000, "\u001f"]"#,
        ] {
            let once = canonicalize_json(doc.as_bytes(), &Limits::default()).unwrap();
            let twice = canonicalize_json(&once, &Limits::default()).unwrap();
            assert_eq!(once, twice);
        }
    }
}

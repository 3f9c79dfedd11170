//! Flat JSON objects written member by member, with RFC 8785 string escaping.
//!
//! Every relay record is a flat object of strings, safe integers, booleans
//! and nulls (plus, in a verdict, the verified context and the receipt,
//! written as raw JSON). The writers name their members in a fixed order;
//! where that order is code-point order the output is the record's RFC 8785
//! canonical form (audit entries), elsewhere it is the documented order
//! (verdicts, decision lines). Strings use RFC 8785's escapes, which are also
//! what `json.dumps(..., ensure_ascii=False)` and orjson write: the records'
//! bytes are the same whichever of them a reader uses to check them.
use proof_messenger_core::canonical::write_string;

use crate::errors::RecordError;

/// Largest integer JSON carries exactly (2^53 - 1), as in RFC 8785.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A member value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// An integer of at most 2^53 - 1 in magnitude.
    Int(i64),
    /// A string, escaped.
    Str(&'a str),
    /// JSON text written as it is (the caller's: a canonical context, a receipt).
    Raw(&'a [u8]),
}

impl<'a> From<Option<&'a str>> for Field<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Field::Null, Field::Str)
    }
}

impl From<Option<i64>> for Field<'_> {
    fn from(n: Option<i64>) -> Self {
        n.map_or(Field::Null, Field::Int)
    }
}

/// Writes `{"name":value,...}` in the given member order.
pub fn write_object(members: &[(&str, Field<'_>)], out: &mut Vec<u8>) -> Result<(), RecordError> {
    out.push(b'{');
    write_members(members, out)?;
    out.push(b'}');
    Ok(())
}

/// Writes `"name":value` pairs separated by commas (no braces), so that a
/// writer can continue an object it started.
pub fn write_members(members: &[(&str, Field<'_>)], out: &mut Vec<u8>) -> Result<(), RecordError> {
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(name, *value, out)?;
    }
    Ok(())
}

fn write_value(name: &str, value: Field<'_>, out: &mut Vec<u8>) -> Result<(), RecordError> {
    match value {
        Field::Null => out.extend_from_slice(b"null"),
        Field::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Field::Int(n) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) => {
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Field::Int(n) => return Err(RecordError::UnsafeInteger { member: name.to_owned(), value: n }),
        Field::Str(s) => write_string(s, out),
        Field::Raw(json) => out.extend_from_slice(json),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn object(members: &[(&str, Field<'_>)]) -> Result<String, RecordError> {
        let mut out = Vec::new();
        write_object(members, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn writes_every_kind_of_member_in_order() {
        let text = object(&[
            ("b", Field::Null),
            ("a", Field::Bool(true)),
            ("n", Field::Int(-42)),
            ("s", Field::Str("x\"y\\\n\u{1}\u{7f}é")),
            ("r", Field::Raw(b"[1,{\"k\":null}]")),
        ])
        .unwrap();
        assert_eq!(
            text,
            "{\"b\":null,\"a\":true,\"n\":-42,\"s\":\"x\\\"y\\\\\\n\\u0001\u{7f}é\",\"r\":[1,{\"k\":null}]}"
        );
    }

    #[test]
    fn integers_beyond_two_to_the_53_are_refused() {
        assert_eq!(object(&[("n", Field::Int(MAX_SAFE_INTEGER))]).unwrap(), "{\"n\":9007199254740991}");
        assert_eq!(object(&[("n", Field::Int(-MAX_SAFE_INTEGER))]).unwrap(), "{\"n\":-9007199254740991}");
        assert_eq!(
            object(&[("n", Field::Int(MAX_SAFE_INTEGER + 1))]),
            Err(RecordError::UnsafeInteger { member: "n".into(), value: MAX_SAFE_INTEGER + 1 })
        );
        assert!(object(&[("n", Field::Int(i64::MIN))]).is_err());
    }

    #[test]
    fn empty_object() {
        assert_eq!(object(&[]).unwrap(), "{}");
    }
}

//! Strict JSON (RFC 8259) parsing from bytes into an owned [`Value`].
//!
//! The parser is stricter than RFC 8259 requires, because every accepted
//! document must have exactly one canonical form (RFC 8785) that all
//! implementations of proof-messenger agree on:
//!
//! * member names must be unique within an object ([`ErrorCode::DuplicateKey`]);
//! * strings must not contain unpaired UTF-16 surrogate escapes
//!   ([`ErrorCode::LoneSurrogate`]);
//! * numbers must be finite ([`ErrorCode::NonFiniteNumber`]) and must be written
//!   with exactly the value of the IEEE 754 double they denote, as printed by
//!   ECMAScript's shortest round-trip formatting ([`ErrorCode::InexactNumber`]):
//!   otherwise two verifiers could disagree about the signed bytes;
//! * input size and nesting depth are bounded by [`Limits`].
//!
//! The parser is iterative: it keeps its own stack of open containers on the
//! heap, so hostile input such as a megabyte of `[` cannot overflow the Rust
//! stack whatever [`Limits::max_depth`] is configured. Note that the derived
//! `Drop`, `Clone`, `PartialEq` and `Debug` of [`Value`] are recursive, so
//! callers should keep `max_depth` modest (the default is 32).

use crate::errors::{Error, ErrorCode, Result};

/// Bounds applied by [`parse`] before and while parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays and objects; the outermost container
    /// has depth 1, so `0` admits only scalar documents.
    pub max_depth: usize,
}

impl Limits {
    /// The default limits: 65,536 bytes and depth 32.
    pub const DEFAULT: Limits = Limits { max_bytes: 65_536, max_depth: 32 };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A finite number.
    Number(Number),
    /// A string (any Unicode scalar values, including U+0000).
    String(String),
    /// An array, in document order.
    Array(Vec<Value>),
    /// An object with unique member names, in document order.
    Object(Object),
}

impl Value {
    /// The boolean, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is a number.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The object, if this is an object.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(obj) => Some(obj),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// A finite IEEE 754 double.
///
/// The invariant (never NaN or infinite) is what makes canonicalisation
/// infallible. `-0.0` is allowed and canonicalises as `0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number(f64);

/// 2^63 as a double: the first double above every `i64` (and equal to
/// `i64::MAX as f64`, which is why range checks compare with `<`).
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
/// 2^127 as a double: `i128::MAX as f64` rounds up to it.
const TWO_POW_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

impl Number {
    /// Wraps a double; NaN and infinities are rejected with
    /// [`ErrorCode::NonFiniteNumber`].
    pub fn from_f64(f: f64) -> Result<Number> {
        if f.is_finite() {
            Ok(Number(f))
        } else {
            Err(Error::new(ErrorCode::NonFiniteNumber, "number is NaN or infinite"))
        }
    }

    /// Converts an integer; fails with [`ErrorCode::InexactNumber`] unless it is
    /// exactly representable as a double (always true for |i| <= 2^53).
    pub fn from_i64(i: i64) -> Result<Number> {
        Number::from_i128(i128::from(i))
    }

    /// Converts an integer; fails with [`ErrorCode::InexactNumber`] unless it is
    /// exactly representable as a double (always true for u <= 2^53).
    pub fn from_u64(u: u64) -> Result<Number> {
        Number::from_i128(i128::from(u))
    }

    /// Converts an integer; fails with [`ErrorCode::InexactNumber`] unless it is
    /// exactly representable as a double.
    pub fn from_i128(i: i128) -> Result<Number> {
        // `as` rounds to nearest; converting back is exact for every double in
        // range, so equality means no rounding happened. 2^127 itself is out of
        // i128 range and would saturate back to i128::MAX, hence the guard.
        let f = i as f64;
        if f < TWO_POW_127 && f as i128 == i {
            Ok(Number(f))
        } else {
            Err(Error::new(ErrorCode::InexactNumber, "integer is not exactly representable as an IEEE 754 double"))
        }
    }

    /// The double.
    pub fn as_f64(self) -> f64 {
        self.0
    }

    /// The value as an `i64` if it is integral and within `i64` range
    /// (`-0.0` gives `Some(0)`).
    pub fn as_exact_i64(self) -> Option<i64> {
        let f = self.0;
        if f.trunc() == f && (-TWO_POW_63..TWO_POW_63).contains(&f) {
            Some(f as i64)
        } else {
            None
        }
    }
}

/// A JSON object: members with unique names, kept in insertion (document)
/// order. Canonical output sorts them; this type does not.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Object {
    members: Vec<(String, Value)>,
}

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object { members: Vec::new() }
    }

    /// An empty object with room for `n` members.
    pub fn with_capacity(n: usize) -> Self {
        Object { members: Vec::with_capacity(n) }
    }

    /// Builds an object from members, failing with [`ErrorCode::DuplicateKey`]
    /// if two share a name. O(n log n), unlike repeated [`Object::insert`].
    pub fn from_members(members: Vec<(String, Value)>) -> Result<Self> {
        check_duplicates(&members, None)?;
        Ok(Object { members })
    }

    /// The value of the member named `key` (linear scan: objects in the
    /// protocol are small).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, value)| value)
    }

    /// The members in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Appends a member; fails with [`ErrorCode::DuplicateKey`] (leaving the
    /// object unchanged) if the name is already present. Each call is O(n);
    /// use [`Object::from_members`] to build large objects.
    pub fn insert(&mut self, key: String, value: Value) -> Result<()> {
        if self.members.iter().any(|(k, _)| *k == key) {
            return Err(duplicate_error(&key, None));
        }
        self.members.push((key, value));
        Ok(())
    }

    /// The members in insertion order.
    pub fn into_members(self) -> Vec<(String, Value)> {
        self.members
    }
}

/// Objects up to this size are checked pairwise for duplicate names; larger
/// ones by sorting, so hostile objects cannot cause quadratic work.
const PAIRWISE_DUPLICATE_CHECK_MAX: usize = 16;

fn check_duplicates(members: &[(String, Value)], object_at: Option<usize>) -> Result<()> {
    if members.len() <= PAIRWISE_DUPLICATE_CHECK_MAX {
        for (i, (a, _)) in members.iter().enumerate() {
            if members.iter().skip(i + 1).any(|(b, _)| a == b) {
                return Err(duplicate_error(a, object_at));
            }
        }
        return Ok(());
    }
    let mut names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    for pair in names.windows(2) {
        if let [a, b] = pair {
            if a == b {
                return Err(duplicate_error(a, object_at));
            }
        }
    }
    Ok(())
}

/// Longest member name quoted verbatim in an error detail.
const MAX_NAME_IN_DETAIL: usize = 64;

fn duplicate_error(name: &str, object_at: Option<usize>) -> Error {
    let name = if name.len() <= MAX_NAME_IN_DETAIL { format!("{name:?}") } else { format!("of {} bytes", name.len()) };
    let detail = match object_at {
        Some(at) => format!("duplicate member name {name} in object at byte {at}"),
        None => format!("duplicate member name {name}"),
    };
    Error::new(ErrorCode::DuplicateKey, detail)
}

/// Parses one JSON document from `bytes` under `limits`.
///
/// Checks, in order: size ([`ErrorCode::InputTooLarge`]), UTF-8 of the whole
/// input ([`ErrorCode::InvalidUtf8`]), then the grammar while scanning, where the
/// first problem found wins: [`ErrorCode::InvalidJson`] (syntax, with the byte
/// offset), [`ErrorCode::NonFiniteNumber`] (`NaN`, `Infinity`, `-Infinity`, or
/// overflow), [`ErrorCode::InexactNumber`], [`ErrorCode::LoneSurrogate`],
/// [`ErrorCode::NestingTooDeep`], and [`ErrorCode::DuplicateKey`] (checked when
/// the object closes). Never panics and never recurses.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Value> {
    parse_with(bytes, limits, Numbers::Exact)
}

/// How number literals that are not exactly a double are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Numbers {
    /// Reject them with [`ErrorCode::InexactNumber`]: what proofs require, so
    /// that nobody signs `...992` while seeing `...993`.
    #[default]
    Exact,
    /// Round them to the nearest double, as RFC 8785 (via I-JSON and
    /// ECMAScript `JSON.parse`) does. For canonicalising third-party JSON only.
    Nearest,
}

/// [`parse`] with an explicit number rule.
pub fn parse_with(bytes: &[u8], limits: &Limits, numbers: Numbers) -> Result<Value> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::new(
            ErrorCode::InputTooLarge,
            format!("input is {} bytes, the limit is {}", bytes.len(), limits.max_bytes),
        ));
    }
    let text = core::str::from_utf8(bytes)
        .map_err(|e| Error::new(ErrorCode::InvalidUtf8, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    Parser {
        text,
        bytes,
        pos: 0,
        max_depth: limits.max_depth,
        numbers,
        values: Vec::new(),
        members: Vec::new(),
        frames: Vec::new(),
    }
    .parse_document()
}

/// An open container on the parser's explicit stack.
enum Frame {
    /// Its elements so far are `values[start..]`.
    Array { start: usize },
    /// Its members so far are `members[start..]`; `key` names the value being
    /// parsed; `open` is the byte offset of `{` for error details.
    Object { start: usize, key: String, open: usize },
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
    numbers: Numbers,
    /// Elements of all open arrays, innermost last. Sharing one buffer means
    /// each finished array is allocated once, at its exact size.
    values: Vec<Value>,
    /// Members of all open objects, innermost last (same reason).
    members: Vec<(String, Value)>,
    frames: Vec<Frame>,
}

fn is_string_special(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn syntax_at(&self, at: usize, what: &str) -> Error {
        Error::new(ErrorCode::InvalidJson, format!("{what} at byte {at}"))
    }

    fn syntax(&self, what: &str) -> Error {
        if self.pos >= self.bytes.len() {
            self.syntax_at(self.pos, &format!("unexpected end of input: {what}"))
        } else {
            self.syntax_at(self.pos, what)
        }
    }

    /// `text[from..to]`; both ends are always at ASCII delimiters, so the
    /// error is unreachable but keeps the parser panic-free by construction.
    fn slice(&self, from: usize, to: usize) -> Result<&'a str> {
        self.text.get(from..to).ok_or_else(|| self.syntax_at(from, "internal error: not a character boundary"))
    }

    fn open_container(&mut self) -> Result<()> {
        if self.frames.len() >= self.max_depth {
            return Err(Error::new(
                ErrorCode::NestingTooDeep,
                format!("nesting deeper than {} at byte {}", self.max_depth, self.pos),
            ));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn parse_document(mut self) -> Result<Value> {
        if self.bytes.starts_with(b"\xEF\xBB\xBF") {
            return Err(self.syntax_at(0, "byte order mark not allowed"));
        }
        'value: loop {
            self.skip_ws();
            let mut value = match self.peek() {
                Some(b'[') => {
                    self.open_container()?;
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        Value::Array(Vec::new())
                    } else {
                        self.frames.push(Frame::Array { start: self.values.len() });
                        continue 'value;
                    }
                }
                Some(b'{') => {
                    let open = self.pos;
                    self.open_container()?;
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        Value::Object(Object::new())
                    } else {
                        let key = self.parse_member_name()?;
                        self.frames.push(Frame::Object { start: self.members.len(), key, open });
                        continue 'value;
                    }
                }
                Some(b'"') => Value::String(self.parse_string()?),
                Some(b't') => self.parse_literal(b"true", Value::Bool(true))?,
                Some(b'f') => self.parse_literal(b"false", Value::Bool(false))?,
                Some(b'n') => self.parse_literal(b"null", Value::Null)?,
                Some(b'-' | b'0'..=b'9') => Value::Number(self.parse_number()?),
                Some(b'N') if self.rest().starts_with(b"NaN") => return Err(self.non_finite_token("NaN")),
                Some(b'I') if self.rest().starts_with(b"Infinity") => return Err(self.non_finite_token("Infinity")),
                _ => return Err(self.syntax("expected a value")),
            };
            // Attach the finished value to its container; closing that
            // container finishes another value, and so on up the stack.
            loop {
                match self.frames.last_mut() {
                    None => {
                        self.skip_ws();
                        if self.pos < self.bytes.len() {
                            return Err(self.syntax("unexpected data after the JSON value"));
                        }
                        return Ok(value);
                    }
                    Some(Frame::Array { start }) => {
                        let start = *start;
                        self.values.push(value);
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                continue 'value;
                            }
                            Some(b']') => {
                                self.pos += 1;
                                self.frames.pop();
                                value = Value::Array(self.values.split_off(start));
                            }
                            _ => return Err(self.syntax("expected ',' or ']'")),
                        }
                    }
                    Some(Frame::Object { start, key, open }) => {
                        let (start, open) = (*start, *open);
                        let key = core::mem::take(key);
                        self.members.push((key, value));
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                self.skip_ws();
                                let next = self.parse_member_name()?;
                                if let Some(Frame::Object { key, .. }) = self.frames.last_mut() {
                                    *key = next;
                                }
                                continue 'value;
                            }
                            Some(b'}') => {
                                self.pos += 1;
                                self.frames.pop();
                                let members = self.members.split_off(start);
                                check_duplicates(&members, Some(open))?;
                                value = Value::Object(Object { members });
                            }
                            _ => return Err(self.syntax("expected ',' or '}'")),
                        }
                    }
                }
            }
        }
    }

    fn non_finite_token(&self, token: &str) -> Error {
        Error::new(ErrorCode::NonFiniteNumber, format!("{token} at byte {} is not a JSON number", self.pos))
    }

    fn parse_literal(&mut self, word: &[u8], value: Value) -> Result<Value> {
        if self.rest().starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    /// Parses `"name"` and the following `:`; called at the opening quote.
    fn parse_member_name(&mut self) -> Result<String> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("expected a member name string"));
        }
        let name = self.parse_string()?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.syntax("expected ':'"));
        }
        self.pos += 1;
        Ok(name)
    }

    /// Parses a string; called at the opening quote.
    fn parse_string(&mut self) -> Result<String> {
        let quote = self.pos;
        self.pos += 1;
        let start = self.pos;
        let Some(n) = self.rest().iter().position(|&b| is_string_special(b)) else {
            return Err(self.syntax_at(quote, "unterminated string"));
        };
        self.pos = start + n;
        let head = self.slice(start, self.pos)?;
        if self.peek() == Some(b'"') {
            // Fast path: no escapes, the text is copied as is (it was
            // validated as UTF-8 up front).
            self.pos += 1;
            return Ok(head.to_owned());
        }
        let mut out = String::with_capacity(n + 16);
        out.push_str(head);
        loop {
            match self.peek() {
                None => return Err(self.syntax_at(quote, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.parse_escape(&mut out)?,
                Some(b) if b < 0x20 => {
                    return Err(self.syntax(&format!("unescaped control character U+{b:04X} in string")))
                }
                Some(_) => {
                    let run = self.pos;
                    let rest = self.rest();
                    let n = rest.iter().position(|&b| is_string_special(b)).unwrap_or(rest.len());
                    self.pos = run + n;
                    out.push_str(self.slice(run, self.pos)?);
                }
            }
        }
    }

    /// Parses an escape sequence; called at the backslash.
    fn parse_escape(&mut self, out: &mut String) -> Result<()> {
        let at = self.pos;
        let Some(c) = self.bytes.get(at + 1).copied() else {
            return Err(self.syntax_at(at, "unterminated escape sequence"));
        };
        self.pos = at + 2;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.parse_unicode_escape(at)?,
            _ => return Err(self.syntax_at(at, "invalid escape sequence")),
        };
        out.push(ch);
        Ok(())
    }

    /// Parses the `XXXX` of `\uXXXX` (and a following low surrogate escape);
    /// `at` is the offset of the backslash.
    fn parse_unicode_escape(&mut self, at: usize) -> Result<char> {
        let unit = self.parse_hex4(at)?;
        let code_point = match unit {
            0xD800..=0xDBFF => {
                if self.rest().starts_with(b"\\u") {
                    let low_at = self.pos;
                    self.pos += 2;
                    let low = self.parse_hex4(low_at)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Err(lone_surrogate(at));
                    }
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    return Err(lone_surrogate(at));
                }
            }
            0xDC00..=0xDFFF => return Err(lone_surrogate(at)),
            _ => unit,
        };
        char::from_u32(code_point).ok_or_else(|| lone_surrogate(at))
    }

    fn parse_hex4(&mut self, at: usize) -> Result<u32> {
        let mut unit = 0u32;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.syntax_at(at, "invalid \\u escape")),
            };
            unit = (unit << 4) | u32::from(digit);
            self.pos += 1;
        }
        Ok(unit)
    }

    fn skip_digits(&mut self) -> usize {
        let n = self.rest().iter().take_while(|b| b.is_ascii_digit()).count();
        self.pos += n;
        n
    }

    /// Parses a number; called at `-` or a digit.
    fn parse_number(&mut self) -> Result<Number> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
            if self.rest().starts_with(b"Infinity") {
                self.pos = start;
                return Err(self.non_finite_token("-Infinity"));
            }
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.syntax_at(start, "number with a leading zero"));
                }
            }
            Some(b'1'..=b'9') => {
                self.skip_digits();
            }
            _ => return Err(self.syntax_at(start, "invalid number")),
        }
        let int_end = self.pos;
        let mut frac = (int_end, int_end);
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let from = self.pos;
            if self.skip_digits() == 0 {
                return Err(self.syntax_at(start, "number without digits after '.'"));
            }
            frac = (from, self.pos);
        }
        let mut exp = (self.pos, self.pos);
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            let from = self.pos;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.skip_digits() == 0 {
                return Err(self.syntax_at(start, "number without exponent digits"));
            }
            exp = (from, self.pos);
        }
        let part = |(from, to): (usize, usize)| self.bytes.get(from..to).unwrap_or_default();
        if let Some(f) = fast_exact(part((int_start, int_end)), part(frac), part(exp)) {
            return Ok(Number(if start == int_start { f } else { -f }));
        }
        number_from_literal(self.slice(start, self.pos)?, start, self.numbers)
    }
}

/// Powers of ten that are exact doubles.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The magnitude of a number literal (digits of the integer part, the
/// fraction, and the optionally signed exponent) when it can be computed and
/// proven exact cheaply; `None` sends the literal to [`number_from_literal`].
///
/// With at most 15 significant digits the mantissa is an exact double below
/// 2^53 and one multiplication or division by an exact power of ten (up to
/// 10^22) is correctly rounded (Clinger's fast path). The result is a normal
/// double, and every decimal of at most 15 significant digits in the normal
/// range survives decimal -> double -> shortest decimal unchanged (DBL_DIG is
/// 15), so such a literal is always exact under our rule.
fn fast_exact(int: &[u8], frac: &[u8], exp: &[u8]) -> Option<f64> {
    const MAX_DIGITS: usize = 15;
    let mut mantissa = 0u64;
    let mut digits = 0usize;
    for &b in int.iter().chain(frac) {
        if digits == 0 && b == b'0' {
            continue;
        }
        digits += 1;
        if digits > MAX_DIGITS {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(b - b'0');
    }
    if mantissa == 0 {
        // Zero whatever the exponent (0e999999 is exactly 0).
        return Some(0.0);
    }
    let (negative, exp_digits) = match exp.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, exp),
    };
    if exp_digits.len() > 3 || frac.len() > 400 {
        return None;
    }
    let exponent = exp_digits.iter().fold(0i32, |acc, &b| acc * 10 + i32::from(b - b'0'));
    let exponent = if negative { -exponent } else { exponent };
    // Both lengths were bounded just above, so the conversion cannot fail.
    let exponent = exponent - i32::try_from(frac.len()).ok()?;
    let m = mantissa as f64;
    if exponent >= 0 {
        let power = usize::try_from(exponent).ok()?;
        EXACT_POWERS_OF_TEN.get(power).map(|p| m * p)
    } else {
        let power = usize::try_from(-exponent).ok()?;
        EXACT_POWERS_OF_TEN.get(power).map(|p| m / p)
    }
}

fn lone_surrogate(at: usize) -> Error {
    Error::new(ErrorCode::LoneSurrogate, format!("unpaired UTF-16 surrogate escape at byte {at}"))
}

/// Converts a syntactically valid JSON number literal, insisting that its
/// decimal value is exactly the ECMAScript shortest form of the nearest double.
fn number_from_literal(literal: &str, at: usize, numbers: Numbers) -> Result<Number> {
    // Rust's float parsing is correctly rounded, linear in the literal's
    // length, and saturates absurd exponents to infinity or zero.
    let f: f64 =
        literal.parse().map_err(|_| Error::new(ErrorCode::InvalidJson, format!("invalid number at byte {at}")))?;
    if !f.is_finite() {
        return Err(Error::new(
            ErrorCode::NonFiniteNumber,
            format!("number at byte {at} overflows an IEEE 754 double"),
        ));
    }
    if numbers == Numbers::Nearest {
        return Ok(Number(f));
    }
    let mut buffer = ryu_js::Buffer::new();
    let shortest = buffer.format_finite(f);
    let exact = match Decimal::of(literal.as_bytes()) {
        Some(written) => Decimal::of(shortest.as_bytes()) == Some(written),
        None => false,
    };
    if exact {
        Ok(Number(f))
    } else {
        Err(Error::new(
            ErrorCode::InexactNumber,
            format!("number at byte {at} is not exactly an IEEE 754 double (nearest is {shortest})"),
        ))
    }
}

/// Most significant digits ECMAScript's shortest round-trip form can have.
const MAX_SHORTEST_DIGITS: usize = 17;

/// The mathematical value of a decimal literal, normalised so that equal
/// values compare equal: `digits[..len]` has no leading or trailing zeros and
/// the value is `0.d1d2...dn * 10^exponent`. Zero is `len == 0`, unsigned.
#[derive(PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: [u8; MAX_SHORTEST_DIGITS],
    len: usize,
    exponent: i64,
}

impl Decimal {
    /// Normalises a literal of the form `-?digits(.digits)?([eE][+-]?digits)?`
    /// in one pass without allocating. Returns `None` if it has more
    /// significant digits than any shortest form (so it cannot be one).
    fn of(literal: &[u8]) -> Option<Decimal> {
        let mut bytes = literal.iter().copied().peekable();
        let negative = bytes.next_if_eq(&b'-').is_some();
        let mut digits = [0u8; MAX_SHORTEST_DIGITS];
        let mut len = 0usize;
        // Count of significant digits seen so far including trailing zeros.
        let mut significant = 0usize;
        let mut integer_digits = 0i64;
        // Leading zeros of the fraction before the first nonzero digit.
        let mut skipped_fraction_zeros = 0i64;
        let mut in_fraction = false;
        while let Some(b) = bytes.next_if(|b| b.is_ascii_digit() || *b == b'.') {
            if b == b'.' {
                in_fraction = true;
                continue;
            }
            if !in_fraction {
                integer_digits += 1;
            }
            let d = b - b'0';
            if significant == 0 && d == 0 {
                if in_fraction {
                    skipped_fraction_zeros += 1;
                } else {
                    // A leading integer zero does not move the decimal point
                    // relative to the significant digits.
                    integer_digits -= 1;
                }
                continue;
            }
            if d != 0 {
                let slot = digits.get_mut(significant)?;
                *slot = d;
                len = significant + 1;
            }
            significant += 1;
        }
        let mut exponent = 0i64;
        if bytes.next_if(|b| *b == b'e' || *b == b'E').is_some() {
            let exp_negative = matches!(bytes.next_if(|b| *b == b'+' || *b == b'-'), Some(b'-'));
            for b in bytes {
                exponent = exponent.saturating_mul(10).saturating_add(i64::from(b.wrapping_sub(b'0')));
            }
            if exp_negative {
                exponent = -exponent;
            }
        }
        if len == 0 {
            return Some(Decimal { negative: false, digits, len: 0, exponent: 0 });
        }
        // Value = 0.d1d2... * 10^(integer_digits - skipped_fraction_zeros + exponent).
        let exponent = exponent.saturating_add(integer_digits).saturating_sub(skipped_fraction_zeros);
        Some(Decimal { negative, digits, len, exponent })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Value> {
        parse(s.as_bytes(), &Limits::default())
    }

    fn code(s: &str) -> ErrorCode {
        match p(s) {
            Ok(v) => panic!("expected an error for {s:?}, got {v:?}"),
            Err(e) => e.code(),
        }
    }

    fn num(s: &str) -> f64 {
        match p(s) {
            Ok(Value::Number(n)) => n.as_f64(),
            other => panic!("expected a number for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn limits_default() {
        let l = Limits::default();
        assert_eq!(l.max_bytes, 65_536);
        assert_eq!(l.max_depth, 32);
    }

    #[test]
    fn scalars() {
        assert_eq!(p("null").unwrap(), Value::Null);
        assert_eq!(p(" true ").unwrap(), Value::Bool(true));
        assert_eq!(p("\t\r\nfalse\n").unwrap(), Value::Bool(false));
        assert_eq!(p("\"hi\"").unwrap(), Value::String("hi".into()));
        assert_eq!(num("0"), 0.0);
        assert_eq!(num("-12"), -12.0);
    }

    #[test]
    fn containers_keep_order() {
        let v = p(r#"{"b": [1, {"x": null}, []], "a": {}}"#).unwrap();
        let obj = v.as_object().unwrap();
        let names: Vec<&str> = obj.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["b", "a"]);
        let arr = obj.get("b").unwrap().as_array().unwrap();
        assert_eq!(arr.len(), 3);
        assert!(arr[1].as_object().unwrap().get("x").unwrap().is_null());
        assert!(obj.get("a").unwrap().as_object().unwrap().is_empty());
        assert_eq!(obj.get("zzz"), None);
    }

    #[test]
    fn input_too_large_is_checked_first() {
        let limits = Limits { max_bytes: 4, max_depth: 32 };
        // Even invalid UTF-8 reports the size first.
        let e = parse(b"\xff\xff\xff\xff\xff", &limits).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InputTooLarge);
        assert!(parse(b"[12]", &limits).is_ok());
        assert_eq!(parse(b"[123]", &limits).unwrap_err().code(), ErrorCode::InputTooLarge);
    }

    #[test]
    fn invalid_utf8() {
        for bad in [
            &b"\"\xff\""[..],
            b"\"\xc3\"",
            b"\"\xed\xa0\x80\"", // encoded surrogate
            b"\"\xc0\xaf\"",     // overlong
            b"[1, 2] \x80",      // after an otherwise valid document
            b"\xf4\x90\x80\x80", // beyond U+10FFFF
        ] {
            let e = parse(bad, &Limits::default()).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidUtf8, "{bad:?}");
        }
    }

    #[test]
    fn bom_is_invalid_json() {
        assert_eq!(code("\u{feff}{}"), ErrorCode::InvalidJson);
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "",
            " ",
            "nul",
            "nulll",
            "True",
            "[",
            "]",
            "{",
            "}",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\":1 \"b\":2}",
            "'a'",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12G4\"",
            "\"\\",
            "01",
            "-01",
            "00",
            "+1",
            ".5",
            "1.",
            "-",
            "-.5",
            "1e",
            "1e+",
            "1.e1",
            "0x10",
            "1 2",
            "[] []",
            "{}x",
            "\"a\"\"b\"",
            "[1]]",
            "\u{a0}1",
            "\u{b}1",
            "\u{c}1",
            "-nan",
            "nan",
            "inf",
            "[\"\u{1}\"]",
            "\"\t\"",
            "\"\n\"",
            "\"\u{1f}\"",
            "[1,,2]",
            "{\"a\"::1}",
        ] {
            assert_eq!(code(bad), ErrorCode::InvalidJson, "{bad:?}");
        }
    }

    #[test]
    fn syntax_error_detail_names_offset() {
        let e = p("[1, 2,]").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidJson);
        assert!(e.detail().contains("byte 6"), "{}", e.detail());
        let e = p("[1").unwrap_err();
        assert!(e.detail().contains("end of input"), "{}", e.detail());
    }

    #[test]
    fn non_finite_tokens() {
        for bad in [
            "NaN",
            "Infinity",
            "-Infinity",
            "[1, NaN]",
            "{\"a\": -Infinity}",
            "1e400",
            "-1e400",
            "1.7976931348623159e308",
            "1e999999999999",
            "1e99999999999999999999999999999999",
            "123456789e99999999999999999999999999999999",
        ] {
            assert_eq!(code(bad), ErrorCode::NonFiniteNumber, "{bad:?}");
        }
        assert_eq!(num("1.7976931348623157e308"), f64::MAX);
        assert_eq!(num("-1.7976931348623157e308"), f64::MIN);
    }

    #[test]
    fn exact_numbers_are_accepted() {
        let cases: &[(&str, f64)] = &[
            ("9007199254740992", 9007199254740992.0),
            ("-9007199254740992", -9007199254740992.0),
            ("0.1", 0.1),
            ("1.0", 1.0),
            ("1.50", 1.5),
            ("1e2", 100.0),
            ("1E+2", 100.0),
            ("1e-2", 0.01),
            ("100e-2", 1.0),
            ("0.000001", 0.000001),
            ("1e-7", 1e-7),
            ("0.30000000000000004", 0.30000000000000004),
            ("5e-324", 5e-324),
            ("-5e-324", -5e-324),
            ("1e21", 1e21),
            ("1e23", 1e23),
            ("123456789012345680000", 123456789012345680000.0),
            ("333333333.3333333", 333333333.3333333),
            ("4.5", 4.5),
            ("1e30", 1e30),
            ("2e-3", 0.002),
            ("0.000000000000000000000000001", 1e-27),
            ("999999999999999", 999999999999999.0),
            ("1000000000000000", 1e15),
            ("0e99999", 0.0),
            ("0e-99999", 0.0),
            ("0.000e999999999999999999999", 0.0),
            ("0.0", 0.0),
            // A tie between two 17-digit forms: ECMAScript picks the even one.
            ("-1605491615096912.2", -1605491615096912.2),
        ];
        for &(lit, want) in cases {
            assert_eq!(num(lit), want, "{lit}");
        }
    }

    #[test]
    fn negative_zero_is_allowed() {
        for lit in ["-0", "-0.0", "-0e10", "-0.000e-5"] {
            let f = num(lit);
            assert_eq!(f, 0.0);
            assert!(f.is_sign_negative(), "{lit}");
        }
        assert!(num("0").is_sign_positive());
    }

    #[test]
    fn inexact_numbers_are_rejected() {
        for bad in [
            "9007199254740993",
            "-9007199254740993",
            "0.30000000000000001",
            "1e-400",
            "-1e-400",
            "2.4703282292062328e-324",
            "2.4703282292062327e-324",
            "1e-999999999999",
            "1e-99999999999999999999999999999999",
            "333333333.33333329",
            "1.00000000000000000000000000000000000001",
            "12345678901234567890",
            "0.1000000000000000055511151231257827",
            "4.9406564584124654e-324",
            "-1605491615096912.3",
        ] {
            assert_eq!(code(bad), ErrorCode::InexactNumber, "{bad:?}");
        }
        let e = p("9007199254740993").unwrap_err();
        assert!(e.detail().contains("9007199254740992"), "{}", e.detail());
    }

    #[test]
    fn long_number_literals_are_linear() {
        // A 60 kB literal of zeros and one 1: parsing must not be quadratic
        // nor allocate per digit; its value is tiny but nonzero.
        let mut lit = String::from("0.");
        lit.push_str(&"0".repeat(60_000));
        lit.push('1');
        assert_eq!(code(&lit), ErrorCode::InexactNumber);
        let mut lit = String::from("1");
        lit.push_str(&"0".repeat(60_000));
        assert_eq!(code(&lit), ErrorCode::NonFiniteNumber);
        // Trailing zeros do not count as significant digits.
        let mut lit = String::from("1.5");
        lit.push_str(&"0".repeat(60_000));
        assert_eq!(num(&lit), 1.5);
        let mut lit = String::from("0.");
        lit.push_str(&"0".repeat(300));
        lit.push_str("5e300");
        assert_eq!(num(&lit), 5e-1);
    }

    #[test]
    fn number_constructors() {
        assert_eq!(Number::from_f64(1.5).unwrap().as_f64(), 1.5);
        assert_eq!(Number::from_f64(f64::NAN).unwrap_err().code(), ErrorCode::NonFiniteNumber);
        assert_eq!(Number::from_f64(f64::INFINITY).unwrap_err().code(), ErrorCode::NonFiniteNumber);
        assert_eq!(Number::from_f64(f64::NEG_INFINITY).unwrap_err().code(), ErrorCode::NonFiniteNumber);
        assert_eq!(Number::from_i64(-42).unwrap().as_f64(), -42.0);
        assert_eq!(Number::from_i64(1 << 53).unwrap().as_f64(), 9007199254740992.0);
        assert_eq!(Number::from_i64((1 << 53) + 1).unwrap_err().code(), ErrorCode::InexactNumber);
        assert!(Number::from_i64(i64::MIN).is_ok());
        assert_eq!(Number::from_i64(i64::MAX).unwrap_err().code(), ErrorCode::InexactNumber);
        assert!(Number::from_u64(1 << 63).is_ok());
        assert_eq!(Number::from_u64(u64::MAX).unwrap_err().code(), ErrorCode::InexactNumber);
        assert!(Number::from_i128(i128::MIN).is_ok());
        assert!(Number::from_i128(1 << 100).is_ok());
        assert_eq!(Number::from_i128(i128::MAX).unwrap_err().code(), ErrorCode::InexactNumber);
        assert_eq!(Number::from_i128((1 << 100) + 1).unwrap_err().code(), ErrorCode::InexactNumber);
    }

    #[test]
    fn as_exact_i64() {
        let n = |f: f64| Number::from_f64(f).unwrap().as_exact_i64();
        assert_eq!(n(0.0), Some(0));
        assert_eq!(n(-0.0), Some(0));
        assert_eq!(n(42.0), Some(42));
        assert_eq!(n(-42.0), Some(-42));
        assert_eq!(n(1.5), None);
        assert_eq!(n(-TWO_POW_63), Some(i64::MIN));
        assert_eq!(n(TWO_POW_63), None);
        assert_eq!(n(9_223_372_036_854_774_784.0), Some(9_223_372_036_854_774_784));
        assert_eq!(n(1e300), None);
        assert_eq!(n(-1e300), None);
        assert_eq!(n(5e-324), None);
    }

    #[test]
    fn strings_and_escapes() {
        let s = |src: &str| p(src).unwrap().as_str().unwrap().to_owned();
        assert_eq!(s(r#""""#), "");
        assert_eq!(s(r#""a\"b""#), "a\"b");
        assert_eq!(s(r#""\\\/\b\f\n\r\t""#), "\\/\u{8}\u{c}\n\r\t");
        assert_eq!(s(r#""\u0000""#), "\u{0}");
        assert_eq!(s(r#""\u00e9\u00E9é""#), "ééé");
        assert_eq!(s(r#""\ud83d\ude02""#), "😂");
        assert_eq!(s(r#""\uD83D\uDE02x""#), "😂x");
        assert_eq!(s(r#""\uffff\u20ac""#), "\u{ffff}€");
        assert_eq!(s("\"\u{7f}\u{2028}😂\""), "\u{7f}\u{2028}😂");
        assert_eq!(s(r#""abc\ndef ghi""#), "abc\ndef ghi");
    }

    #[test]
    fn lone_surrogates() {
        for bad in [
            r#""\ud800""#,
            r#""\uDBFF""#,
            r#""\udc00""#,
            r#""\uDFFF\uD800""#,
            r#""\ud800x""#,
            r#""\ud800\n""#,
            r#""\ud800\ud800""#,
            r#""\ud800\u0041""#,
            r#"{"\ud800": 1}"#,
            r#""\ude02\ud83d""#,
        ] {
            assert_eq!(code(bad), ErrorCode::LoneSurrogate, "{bad:?}");
        }
        // A broken second escape is a syntax error, not a surrogate error.
        assert_eq!(code(r#""\ud800\u12""#), ErrorCode::InvalidJson);
        assert_eq!(code(r#""\ud800\u"#), ErrorCode::InvalidJson);
        assert_eq!(code(r#""\ud800\uZZZZ""#), ErrorCode::InvalidJson);
    }

    #[test]
    fn duplicate_keys() {
        assert_eq!(code(r#"{"a":1,"a":2}"#), ErrorCode::DuplicateKey);
        assert_eq!(code(r#"{"a":1,"b":{"c":1,"c":1}}"#), ErrorCode::DuplicateKey);
        // Compared after unescaping.
        assert_eq!(code(r#"{"a":1,"\u0061":2}"#), ErrorCode::DuplicateKey);
        assert_eq!(code(r#"{"😂":1,"\ud83d\ude02":2}"#), ErrorCode::DuplicateKey);
        // No Unicode normalisation: these differ.
        assert!(p("{\"\u{e9}\":1,\"e\u{301}\":2}").is_ok());
        // Same name in different objects is fine.
        assert!(p(r#"{"a":{"a":1},"b":{"a":2}}"#).is_ok());
        let e = p(r#"{"name":1,"name":2}"#).unwrap_err();
        assert!(e.detail().contains("\"name\""), "{}", e.detail());
        // Long names are not echoed.
        let long = "k".repeat(1000);
        let e = p(&format!(r#"{{"{long}":1,"{long}":2}}"#)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::DuplicateKey);
        assert!(e.detail().len() < 200, "{}", e.detail());
    }

    #[test]
    fn duplicate_keys_in_large_objects() {
        for n in [16usize, 17, 1000] {
            let mut members: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            let doc = format!("{{{}}}", members.join(","));
            assert_eq!(p(&doc).unwrap().as_object().unwrap().len(), n);
            members.push(format!("\"k{}\":0", n / 2));
            let doc = format!("{{{}}}", members.join(","));
            assert_eq!(code(&doc), ErrorCode::DuplicateKey, "{n}");
        }
        // 20,000 distinct names: must be fast (not quadratic).
        let members: Vec<String> = (0..20_000).map(|i| format!("\"{i}\":0")).collect();
        let doc = format!("{{{}}}", members.join(","));
        let limits = Limits { max_bytes: usize::MAX, max_depth: 32 };
        assert_eq!(parse(doc.as_bytes(), &limits).unwrap().as_object().unwrap().len(), 20_000);
    }

    #[test]
    fn nesting_depth() {
        let limits = |d| Limits { max_bytes: usize::MAX, max_depth: d };
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(nested(32).as_bytes(), &Limits::default()).is_ok());
        assert_eq!(parse(nested(33).as_bytes(), &Limits::default()).unwrap_err().code(), ErrorCode::NestingTooDeep);
        assert!(parse(b"1", &limits(0)).is_ok());
        assert_eq!(parse(b"[]", &limits(0)).unwrap_err().code(), ErrorCode::NestingTooDeep);
        assert_eq!(parse(b"{}", &limits(0)).unwrap_err().code(), ErrorCode::NestingTooDeep);
        assert!(parse(b"{\"a\":[{}]}", &limits(3)).is_ok());
        assert_eq!(parse(b"{\"a\":[{}]}", &limits(2)).unwrap_err().code(), ErrorCode::NestingTooDeep);
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let deep = "[".repeat(100_000);
        let big = Limits { max_bytes: 1 << 20, ..Limits::default() };
        let e = parse(deep.as_bytes(), &big).unwrap_err();
        assert_eq!(e.code(), ErrorCode::NestingTooDeep);
        assert!(e.detail().contains("byte 32"), "{}", e.detail());
        // With an absurd depth limit, the iterative parser still only reports
        // the syntax error at the end.
        let limits = Limits { max_bytes: usize::MAX, max_depth: usize::MAX };
        let deep = "[{\"a\":".repeat(100_000);
        assert_eq!(parse(deep.as_bytes(), &limits).unwrap_err().code(), ErrorCode::InvalidJson);
    }

    #[test]
    fn object_api() {
        let mut o = Object::with_capacity(2);
        assert!(o.is_empty());
        o.insert("b".into(), Value::Null).unwrap();
        o.insert("a".into(), Value::Bool(true)).unwrap();
        let e = o.insert("b".into(), Value::Bool(false)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::DuplicateKey);
        assert_eq!(o.len(), 2);
        assert_eq!(o.get("b"), Some(&Value::Null));
        assert_eq!(o.get("a").and_then(Value::as_bool), Some(true));
        let members = o.clone().into_members();
        assert_eq!(members[0].0, "b");
        assert_eq!(Object::from_members(members).unwrap(), o);
        let dup = vec![("x".to_owned(), Value::Null), ("x".to_owned(), Value::Null)];
        assert_eq!(Object::from_members(dup).unwrap_err().code(), ErrorCode::DuplicateKey);
        assert_eq!(Object::new(), Object::default());
    }

    #[test]
    fn value_accessors() {
        let v = p(r#"[null, true, 1.5, "s", [], {}]"#).unwrap();
        let a = v.as_array().unwrap();
        assert!(a[0].is_null());
        assert_eq!(a[1].as_bool(), Some(true));
        assert_eq!(a[2].as_number().map(Number::as_f64), Some(1.5));
        assert_eq!(a[3].as_str(), Some("s"));
        assert_eq!(a[4].as_array().map(<[Value]>::len), Some(0));
        assert!(a[5].as_object().is_some());
        assert_eq!(a[5].as_str(), None);
        assert_eq!(a[0].as_bool(), None);
        assert_eq!(a[1].as_number(), None);
        assert!(a[1].as_array().is_none());
        assert!(a[1].as_object().is_none());
        assert!(!a[1].is_null());
    }

    #[test]
    fn error_order_is_first_found() {
        // Depth is checked before the duplicate (which needs the object closed).
        assert_eq!(code(&format!("{{\"a\":1,\"a\":{}}}", "[".repeat(40))), ErrorCode::NestingTooDeep);
        assert_eq!(code(r#"[NaN, 9007199254740993]"#), ErrorCode::NonFiniteNumber);
        assert_eq!(code(r#"[9007199254740993, NaN]"#), ErrorCode::InexactNumber);
        assert_eq!(code(r#"{"a":1,"a":2"#), ErrorCode::InvalidJson);
    }

    #[test]
    fn fast_path_agrees_with_general_path() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut fast = 0;
        for _ in 0..200_000 {
            let int_len = (next() % 17) as usize;
            let frac_len = (next() % 17) as usize;
            let digit = |n: u64| char::from(b'0' + (n % 10) as u8);
            let mut lit: String = (0..int_len).map(|_| digit(next())).collect();
            let lit = if lit.is_empty() || lit.starts_with('0') {
                lit.insert(0, '1');
                lit
            } else {
                lit
            };
            let frac: String = (0..frac_len).map(|_| digit(next())).collect();
            let exp = (next() % 61) as i64 - 30;
            let text = format!("{lit}.{frac}e{exp}");
            let text = text.replace(".e", "e");
            let (int_part, rest) = text.split_at(lit.len());
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            let (frac_part, exp_part) = rest.split_once('e').unwrap();
            if let Some(f) = fast_exact(int_part.as_bytes(), frac_part.as_bytes(), exp_part.as_bytes()) {
                fast += 1;
                assert_eq!(number_from_literal(&text, 0, Numbers::Exact).map(Number::as_f64), Ok(f), "{text}");
            }
        }
        assert!(fast > 10_000, "{fast}");
    }

    #[test]
    fn decimal_normalisation() {
        let d = |s: &str| Decimal::of(s.as_bytes()).map(|d| (d.negative, d.len, d.exponent));
        assert_eq!(d("0"), Some((false, 0, 0)));
        assert_eq!(d("-0.000e5"), Some((false, 0, 0)));
        assert_eq!(d("1"), Some((false, 1, 1)));
        assert_eq!(d("10"), Some((false, 1, 2)));
        assert_eq!(d("0.01"), Some((false, 1, -1)));
        assert_eq!(d("-1.25e+3"), Some((true, 3, 4)));
        assert_eq!(d("1e-7"), Some((false, 1, -6)));
        assert_eq!(d("12345678901234567"), Some((false, 17, 17)));
        assert_eq!(d("123456789012345678"), None);
        assert_eq!(d("12345678901234567000000"), Some((false, 17, 23)));
        assert!(Decimal::of(b"1.5") == Decimal::of(b"15e-1"));
        assert!(Decimal::of(b"1.5") != Decimal::of(b"-1.5"));
        assert!(Decimal::of(b"1.5") != Decimal::of(b"1.6"));
    }
}

//! The relay crate's one error type: what a record writer or a relay input refuses.
//!
//! None of these can be caused by a proof (the core bounds every proof
//! member these records carry); they guard the records against values a
//! caller passed in by mistake, so that a bad value is a typed error and
//! never a wrong byte in a log.
use std::fmt;

/// Why a relay record could not be written, or a relay input was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// An integer member beyond +-(2^53 - 1), which JSON cannot carry exactly.
    UnsafeInteger {
        /// The member's name.
        member: String,
        /// The value.
        value: i64,
    },
    /// A decision time outside the years 1970 to 9999 (Unix ms).
    TimeOutOfRange(i64),
    /// An audit entry that is not UTF-8 (full receipts quote it as a string).
    EntryNotUtf8,
    /// Two inputs that must have one item each per decision differ in length.
    LengthMismatch {
        /// What was paired.
        what: &'static str,
        /// The decisions.
        expected: usize,
        /// The items given.
        got: usize,
    },
    /// A refusal code the relay does not define.
    UnknownRefusal(String),
    /// An index that names no item.
    IndexOutOfRange(usize),
    /// A value of the right type that the relay cannot use (the detail says which).
    Invalid(String),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::UnsafeInteger { member, value } => {
                write!(f, "{member}: {value} is beyond the integers JSON carries exactly (2^53 - 1)")
            }
            RecordError::TimeOutOfRange(ms) => write!(f, "decision time {ms} ms is outside the years 1970..=9999"),
            RecordError::EntryNotUtf8 => write!(f, "an audit entry is not UTF-8"),
            RecordError::LengthMismatch { what, expected, got } => {
                write!(f, "{what}: expected {expected} items, got {got}")
            }
            RecordError::UnknownRefusal(code) => write!(f, "{code:?} is not a refusal code of the relay"),
            RecordError::IndexOutOfRange(i) => write!(f, "index {i} is out of range"),
            RecordError::Invalid(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for RecordError {}

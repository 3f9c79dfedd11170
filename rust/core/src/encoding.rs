//! The two binary-to-text encodings of the wire format.
//!
//! Both decoders are strict: exactly one spelling is accepted for every byte
//! string (no whitespace, canonical padding, no stray trailing bits), so a
//! member cannot be re-encoded in transit into a different but equivalent
//! string, which matters for the nonce because replay protection keys on it.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::errors::{Error, ErrorCode, Result};

/// Decodes RFC 4648 section 4 base64 (standard alphabet, `=` padding required).
pub fn decode_base64(text: &str, member: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(text)
        .map_err(|_| Error::new(ErrorCode::InvalidBase64, format!("{member}: not canonical padded base64")))
}

/// Decodes RFC 4648 section 5 base64url without padding.
pub fn decode_base64url(text: &str, member: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::new(ErrorCode::InvalidBase64, format!("{member}: not canonical unpadded base64url")))
}

/// Encodes with the standard alphabet and padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Encodes base64url without padding.
pub fn encode_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_canonical_spellings() {
        assert_eq!(decode_base64("AAE=", "m").ok(), Some(vec![0, 1]));
        for bad in ["AAE", "AAF=", "AA E=", "AAE==", "AA-_", "\n"] {
            let err = decode_base64(bad, "m").err().map(|e| e.code());
            assert_eq!(err, Some(ErrorCode::InvalidBase64), "{bad:?}");
        }
        assert_eq!(decode_base64url("AAE", "m").ok(), Some(vec![0, 1]));
        for bad in ["AAE=", "AAF", "AA+/", "A"] {
            let err = decode_base64url(bad, "m").err().map(|e| e.code());
            assert_eq!(err, Some(ErrorCode::InvalidBase64), "{bad:?}");
        }
    }
}

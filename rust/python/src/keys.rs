//! Python classes for Ed25519 keys.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proof_messenger_core::ed25519::{PublicKey, SigningKey as CoreSigningKey};
use proof_messenger_core::encoding::{decode_base64, encode_base64};
use proof_messenger_core::ErrorCode;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use zeroize::Zeroizing;

use crate::convert::string;
use crate::error::{py_error, to_py_err};

/// An Ed25519 private key. The secret is zeroized when the object is freed
/// and never appears in its repr.
///
/// >>> key = SigningKey.generate()
/// >>> key.verifying_key.key_id == key.key_id
/// True
#[pyclass(frozen, module = "proof_messenger")]
pub struct SigningKey {
    pub(crate) inner: CoreSigningKey,
}

#[pymethods]
impl SigningKey {
    /// A new key from the operating system's CSPRNG.
    #[staticmethod]
    fn generate(py: Python<'_>) -> PyResult<SigningKey> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut())
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("no OS randomness: {e}")))?;
        let _ = py;
        Ok(SigningKey { inner: CoreSigningKey::from_seed(&seed) })
    }

    /// A key from its 32-byte RFC 8032 seed.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, seed: &[u8]) -> PyResult<SigningKey> {
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.try_into().map_err(|_| py_error(py, ErrorCode::InvalidField, "an Ed25519 seed is 32 bytes"))?,
        );
        Ok(SigningKey { inner: CoreSigningKey::from_seed(&seed) })
    }

    /// A key from an unencrypted PKCS#8 DER structure (RFC 8410).
    #[staticmethod]
    fn from_pkcs8_der(py: Python<'_>, der: &[u8]) -> PyResult<SigningKey> {
        CoreSigningKey::from_pkcs8_der(der).map(|inner| SigningKey { inner }).map_err(|e| to_py_err(py, &e))
    }

    /// A key from an unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
    #[staticmethod]
    fn from_pem(py: Python<'_>, pem: &Bound<'_, PyAny>) -> PyResult<SigningKey> {
        let text = pem_text(pem)?;
        let der = Zeroizing::new(pem_decode(py, &text, "PRIVATE KEY")?);
        Self::from_pkcs8_der(py, &der)
    }

    /// The 32-byte seed. This exports the secret: Python cannot zeroize the copy.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.to_seed().as_ref())
    }

    /// PKCS#8 DER. This exports the secret.
    fn to_pkcs8_der<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_pkcs8_der())
    }

    /// PKCS#8 PEM. This exports the secret.
    fn to_pem<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let der = self.inner.to_pkcs8_der();
        let pem = Zeroizing::new(pem_encode(&der, "PRIVATE KEY"));
        PyBytes::new(py, pem.as_bytes())
    }

    /// The public half.
    #[getter]
    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey { inner: self.inner.public_key() }
    }

    /// The key id (RFC 7638 thumbprint) of the public half.
    #[getter]
    fn key_id(&self) -> String {
        self.inner.public_key().key_id()
    }

    fn __repr__(&self) -> String {
        format!("SigningKey(key_id={:?}, secret=<redacted>)", self.inner.public_key().key_id())
    }
}

/// An Ed25519 public key, validated on construction (canonical encoding, on
/// the curve, not of small order).
///
/// >>> vk = SigningKey.from_bytes(bytes(32)).verifying_key
/// >>> VerifyingKey.from_base64(vk.to_base64()) == vk
/// True
#[pyclass(frozen, eq, hash, module = "proof_messenger")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VerifyingKey {
    pub(crate) inner: PublicKey,
}

#[pymethods]
impl VerifyingKey {
    /// From raw 32 bytes or SPKI DER (44 bytes).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<VerifyingKey> {
        PublicKey::from_raw_or_spki(data).map(|inner| VerifyingKey { inner }).map_err(|e| to_py_err(py, &e))
    }

    /// From the proof's `publicKey` encoding: padded base64 of raw or SPKI bytes.
    #[staticmethod]
    fn from_base64(py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<VerifyingKey> {
        let text = string(text).map_err(|e| to_py_err(py, &e))?;
        let bytes = decode_base64(&text, "publicKey").map_err(|e| to_py_err(py, &e))?;
        Self::from_bytes(py, &bytes)
    }

    /// From a "-----BEGIN PUBLIC KEY-----" PEM (SPKI).
    #[staticmethod]
    fn from_pem(py: Python<'_>, pem: &Bound<'_, PyAny>) -> PyResult<VerifyingKey> {
        let text = pem_text(pem)?;
        let der = pem_decode(py, &text, "PUBLIC KEY")?;
        Self::from_bytes(py, &der)
    }

    /// Raw 32 bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.as_bytes())
    }

    /// SPKI DER (44 bytes).
    fn to_spki_der<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_spki_der())
    }

    /// Padded base64 of the raw key (the proof's `publicKey`).
    fn to_base64(&self) -> String {
        encode_base64(self.inner.as_bytes())
    }

    /// SPKI PEM.
    fn to_pem<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, pem_encode(&self.inner.to_spki_der(), "PUBLIC KEY").as_bytes())
    }

    /// The RFC 7638 JWK thumbprint (base64url), stable across encodings.
    #[getter]
    fn key_id(&self) -> String {
        self.inner.key_id()
    }

    fn __repr__(&self) -> String {
        format!("VerifyingKey(key_id={:?})", self.inner.key_id())
    }
}

fn pem_text(pem: &Bound<'_, PyAny>) -> PyResult<Zeroizing<String>> {
    if let Ok(bytes) = pem.extract::<&[u8]>() {
        return Ok(Zeroizing::new(String::from_utf8_lossy(bytes).into_owned()));
    }
    let text = pem.cast::<PyString>().map_err(|_| PyTypeError::new_err("a PEM is bytes or str"))?;
    string(text).map(Zeroizing::new).map_err(|e| to_py_err(pem.py(), &e))
}

fn pem_decode(py: Python<'_>, text: &str, label: &str) -> PyResult<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .trim()
        .strip_prefix(begin.as_str())
        .and_then(|rest| rest.trim_end().strip_suffix(end.as_str()))
        .ok_or_else(|| py_error(py, ErrorCode::InvalidField, format!("not a {label} PEM block")))?;
    let compact: Zeroizing<String> = Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| py_error(py, ErrorCode::InvalidBase64, format!("{label} PEM body is not base64")))
}

fn pem_encode(der: &[u8], label: &str) -> String {
    let body = Zeroizing::new(STANDARD.encode(der));
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

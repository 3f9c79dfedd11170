//! Python classes for WebAuthn credentials and `verify_registration`.

use proof_messenger_core::encoding::decode_base64url;
use proof_messenger_core::webauthn::{self, Credential, Flags, RelyingParty};
use proof_messenger_core::{Error, ErrorCode};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::error::to_py_err;

/// A registered WebAuthn credential: what the key registry stores (credential
/// id, COSE public key, last accepted signature counter) and what a verifier
/// trusts, next to `VerifyingKey`s. Validated on construction.
///
/// Binary arguments are bytes, or unpadded base64url text (as a browser's
/// `PublicKeyCredential.toJSON()` gives them).
///
/// >>> cose = bytes.fromhex("a4010103272006215820d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
/// >>> cred = WebAuthnCredential(b"credential-1", cose, 7)
/// >>> cred.algorithm_name, cred.sign_count, cred.key_id
/// ('EdDSA', 7, 'Y3JlZGVudGlhbC0x')
#[pyclass(frozen, eq, module = "proof_messenger")]
#[derive(Clone, PartialEq)]
pub struct WebAuthnCredential {
    pub(crate) inner: Credential,
}

#[pymethods]
impl WebAuthnCredential {
    #[new]
    #[pyo3(signature = (credential_id, public_key, sign_count = 0, *, user_handle = None))]
    fn new(
        py: Python<'_>,
        credential_id: &Bound<'_, PyAny>,
        public_key: &Bound<'_, PyAny>,
        sign_count: u32,
        user_handle: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<WebAuthnCredential> {
        let id = binary(credential_id, "credential_id")?;
        let key = binary(public_key, "public_key")?;
        let mut inner = Credential::from_cose(id, &key, sign_count).map_err(|e| to_py_err(py, &e))?;
        if let Some(handle) = user_handle {
            inner = inner.with_user_handle(binary(handle, "user_handle")?).map_err(|e| to_py_err(py, &e))?;
        }
        Ok(WebAuthnCredential { inner })
    }

    /// The same credential with another stored counter (after an accepted proof).
    fn with_sign_count(&self, py: Python<'_>, sign_count: u32) -> PyResult<WebAuthnCredential> {
        let mut inner = Credential::new(self.inner.id().to_vec(), self.inner.public_key().clone(), sign_count)
            .map_err(|e| to_py_err(py, &e))?;
        if let Some(handle) = self.inner.user_handle() {
            inner = inner.with_user_handle(handle.to_vec()).map_err(|e| to_py_err(py, &e))?;
        }
        Ok(WebAuthnCredential { inner })
    }

    /// The credential id.
    #[getter]
    fn credential_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.id())
    }
    /// The COSE_Key bytes, exactly as registered.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.public_key().as_bytes())
    }
    /// The last accepted signature counter.
    #[getter]
    fn sign_count(&self) -> u32 {
        self.inner.sign_count()
    }
    /// The COSE algorithm id: -7 (ES256), -8 (EdDSA) or -257 (RS256).
    #[getter]
    fn algorithm(&self) -> i64 {
        self.inner.public_key().algorithm().id()
    }
    /// "ES256", "EdDSA" or "RS256".
    #[getter]
    fn algorithm_name(&self) -> &'static str {
        self.inner.public_key().algorithm().name()
    }
    /// The user handle the credential is bound to, if any.
    #[getter]
    fn user_handle<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.user_handle().map(|h| PyBytes::new(py, h))
    }
    /// The key id of the credential's proofs: the credential id, base64url.
    #[getter]
    fn key_id(&self) -> String {
        self.inner.key_id()
    }

    fn __repr__(&self) -> String {
        format!(
            "WebAuthnCredential(key_id={:?}, algorithm={:?}, sign_count={})",
            self.inner.key_id(),
            self.inner.public_key().algorithm().name(),
            self.inner.sign_count()
        )
    }
}

/// A verified registration: the credential to store, and what the
/// authenticator said about itself.
#[pyclass(frozen, module = "proof_messenger")]
pub struct Registration {
    credential: Credential,
    aaguid: [u8; 16],
    flags: Flags,
    format: &'static str,
    transports: Vec<String>,
}

#[pymethods]
impl Registration {
    /// The credential to trust (and store).
    #[getter]
    fn credential(&self) -> WebAuthnCredential {
        WebAuthnCredential { inner: self.credential.clone() }
    }
    /// The credential id.
    #[getter]
    fn credential_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.credential.id())
    }
    /// The COSE_Key bytes.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.credential.public_key().as_bytes())
    }
    /// The initial signature counter.
    #[getter]
    fn sign_count(&self) -> u32 {
        self.credential.sign_count()
    }
    /// The COSE algorithm id.
    #[getter]
    fn algorithm(&self) -> i64 {
        self.credential.public_key().algorithm().id()
    }
    /// The key id (credential id, base64url).
    #[getter]
    fn key_id(&self) -> String {
        self.credential.key_id()
    }
    /// The authenticator model id (16 zero bytes when not disclosed).
    #[getter]
    fn aaguid<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.aaguid)
    }
    /// "none" or "packed".
    #[getter]
    fn attestation_format(&self) -> &'static str {
        self.format
    }
    /// The user-verified flag at registration.
    #[getter]
    fn user_verified(&self) -> bool {
        self.flags.user_verified()
    }
    /// Backup eligible (BE): a synced passkey.
    #[getter]
    fn backup_eligible(&self) -> bool {
        self.flags.backup_eligible()
    }
    /// Backup state (BS): backed up now.
    #[getter]
    fn backup_state(&self) -> bool {
        self.flags.backup_state()
    }
    /// The transports the client reported (passed through, not verified).
    #[getter]
    fn transports(&self) -> Vec<String> {
        self.transports.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Registration(key_id={:?}, algorithm={:?}, attestation_format={:?}, sign_count={})",
            self.credential.key_id(),
            self.credential.public_key().algorithm().name(),
            self.format,
            self.credential.sign_count()
        )
    }
}

/// Verifies a registration (`navigator.credentials.create()`); raises
/// `ProofMessengerError` with the reason code when it is refused.
#[pyfunction]
#[pyo3(signature = (attestation_object, client_data_json, *, challenge, rp_id, origins, require_user_verification = true, allow_cross_origin = false, transports = None))]
#[allow(clippy::too_many_arguments)]
pub fn verify_registration(
    py: Python<'_>,
    attestation_object: &Bound<'_, PyAny>,
    client_data_json: &Bound<'_, PyAny>,
    challenge: &Bound<'_, PyAny>,
    rp_id: String,
    origins: &Bound<'_, PyAny>,
    require_user_verification: bool,
    allow_cross_origin: bool,
    transports: Option<&Bound<'_, PyAny>>,
) -> PyResult<Registration> {
    let attestation_object = binary(attestation_object, "attestation_object")?;
    let client_data_json = binary(client_data_json, "client_data_json")?;
    let challenge = binary(challenge, "challenge")?;
    let relying_party = relying_party(rp_id, origins, require_user_verification, allow_cross_origin)?;
    let transports = match transports {
        None => Vec::new(),
        Some(t) => strings(t, "transports")?,
    };
    let registration = py
        .detach(|| webauthn::verify_registration(&attestation_object, &client_data_json, &challenge, &relying_party))
        .map_err(|e| to_py_err(py, &e))?;
    Ok(Registration {
        aaguid: *registration.aaguid(),
        flags: registration.flags(),
        format: registration.format().as_str(),
        credential: registration.into_credential(),
        transports,
    })
}

/// The relying party of the `rp_id=` / `origins=` keywords.
pub fn relying_party(
    rp_id: String,
    origins: &Bound<'_, PyAny>,
    require_user_verification: bool,
    allow_cross_origin: bool,
) -> PyResult<RelyingParty> {
    let origins = strings(origins, "origins")?;
    if rp_id.is_empty() || origins.is_empty() {
        return Err(PyTypeError::new_err("rp_id= must be a non-empty str and origins= at least one origin"));
    }
    Ok(RelyingParty { rp_id, origins, require_user_verification, allow_cross_origin })
}

/// A str, or an iterable of str (a lone str is one item, not its characters).
fn strings(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![s.to_str()?.to_owned()]);
    }
    obj.try_iter()?
        .map(|item| {
            item?.extract::<String>().map_err(|_| PyTypeError::new_err(format!("{name}= must hold str values")))
        })
        .collect()
}

/// Bytes-like as is, str as strict unpadded base64url.
pub fn binary(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        return decode_base64url(s.to_str()?, name).map_err(|e| to_py_err(py, &e));
    }
    obj.extract::<Vec<u8>>().map_err(|_| {
        to_py_err(py, &Error::new(ErrorCode::InvalidType, format!("{name}: expected bytes or base64url str")))
    })
}

//! RSA2 (SHA256withRSA, PKCS#1 v1.5, 2048-bit and up) signing and verification
//! with the key state prepared once.
//!
//! [`Signer`] parses the app private key once (PKCS#8 or PKCS#1, PEM or bare
//! base64, the forms Alipay's key tool writes) into the backend's key pair,
//! which holds the CRT and Montgomery precomputation; [`Verifier`] does the same
//! for a public key (SPKI or PKCS#1, PEM or bare base64). Both are
//! `Send + Sync` and meant to be shared by `Arc`: a call parses nothing and
//! takes no lock.
//!
//! One folder per backend, one interface: `aws_lc` (the default, the fastest
//! here) and `ring` (cargo feature `ring`). With both enabled, [`Signer`] and
//! [`Verifier`] use aws-lc-rs and each backend stays reachable by name for
//! comparison.
//!
//! No error and no `Debug` output contains key material.

mod der;
mod pem;

#[cfg(feature = "aws-lc-rs")]
pub mod aws_lc;
#[cfg(feature = "ring")]
pub mod ring;

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!(
    "payswitch-protocol needs an RSA backend: enable the `aws-lc-rs` (default) or `ring` feature"
);

#[cfg(feature = "aws-lc-rs")]
use aws_lc as backend;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use ring as backend;

use base64::Engine as _;

pub use der::spki_from_rsa_public_key;
pub use pem::{decode_key_text, pem_encode, KeyText};

/// The base64 alphabet of Alipay signatures: standard, padded, no line breaks.
pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why a key was refused. Never carries key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is empty, or only white space (or an empty PEM body).
    #[error("the key text is empty")]
    Empty,
    /// The text is neither PEM nor base64; the detail names what failed (an unclosed header, a
    /// missing end line, an unknown label, an encrypted key, bad base64).
    #[error("the key is neither PEM nor base64 ({0})")]
    Encoding(&'static str),
    /// The DER was refused: malformed, or refused by the backend (its own message, which holds
    /// no key bytes).
    #[error("the key was rejected: {0}")]
    Rejected(String),
    /// Not an RSA key, or an RSA key outside 2048 to 8192 bits.
    #[error("the key is not RSA or not a supported size (2048 to 8192 bits)")]
    Unsupported,
    /// A private key was given to a verifier (a configuration mix-up).
    #[error("a private key was given where a public key is expected")]
    PrivateWherePublicExpected,
    /// A public key was given to a signer (a configuration mix-up).
    #[error("a public key was given where a private key is expected")]
    PublicWherePrivateExpected,
}

/// A signature check failed. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The `sign` value is not standard padded base64.
    #[error("the signature is not valid base64")]
    BadBase64,
    /// The signature is not the key's signature of the content: wrong key, altered content, or
    /// a wrong sign string.
    #[error("the signature does not match")]
    Mismatch,
}

/// Signing failed inside the backend (it does not for a valid key; the
/// variant exists so that no call site has to panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the RSA backend failed to sign")]
pub struct SignError;

/// The interface each backend implements: a prepared private key.
pub trait SigningKey: Send + Sync + Sized {
    /// Builds the key from PKCS#8 DER.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] when the backend refuses the DER (malformed,
    /// not RSA, a size it does not take).
    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError>;
    /// Builds the key from PKCS#1 `RSAPrivateKey` DER.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] when the backend refuses the DER.
    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError>;
    /// The signature length in bytes (the modulus length).
    fn signature_len(&self) -> usize;
    /// Signs `msg` with SHA-256 / PKCS#1 v1.5 into `out` (exactly `signature_len` bytes).
    ///
    /// # Errors
    /// [`SignError`] when `out` has the wrong length or the backend fails.
    fn sign_into(&self, msg: &[u8], out: &mut [u8]) -> Result<(), SignError>;
    /// The public half as PKCS#1 `RSAPublicKey` DER.
    fn public_key_pkcs1(&self) -> Vec<u8>;
    /// The backend's name, for reports (`"aws-lc-rs"`, `"ring"`).
    fn backend_name() -> &'static str;
}

/// The interface each backend implements: a prepared public key.
pub trait VerifyingKey: Send + Sync + Sized {
    /// Builds the key from PKCS#1 `RSAPublicKey` DER.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] or [`KeyError::Unsupported`] when the DER is
    /// malformed or the key is not RSA of 2048 to 8192 bits.
    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError>;
    /// Checks a SHA-256 / PKCS#1 v1.5 signature over `msg`.
    ///
    /// # Errors
    /// [`VerifyError::Mismatch`] when `sig` is not a valid signature of `msg`
    /// by this key (a wrong length included).
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), VerifyError>;
}

/// An app's (or the simulated gateway's) private key, prepared once, on the default backend.
pub type Signer = RsaSigner<backend::SigningKeyImpl>;
/// A public key, prepared once, on the default backend.
pub type Verifier = RsaVerifier<backend::VerifyingKeyImpl>;

/// A private key prepared once by backend `K`: signs without parsing or
/// locking; `Send + Sync`, share it by `Arc`. Its `Debug` shows the backend
/// and the key size only.
pub struct RsaSigner<K: SigningKey> {
    key: K,
}

/// A public key prepared once by backend `K`, with its PKCS#1 DER kept for
/// export: verifies without parsing or locking; `Send + Sync`.
pub struct RsaVerifier<K: VerifyingKey> {
    key: K,
    pkcs1: Vec<u8>,
}

impl<K: SigningKey> RsaSigner<K> {
    /// Loads a private key from text: PEM (`PRIVATE KEY` or `RSA PRIVATE KEY`)
    /// or bare base64 of PKCS#8 or PKCS#1 DER (PKCS#8 tried first, and its
    /// error reported when both fail). Surrounding white space is ignored.
    ///
    /// # Errors
    /// - [`KeyError::Empty`]: no text, or an empty PEM body;
    /// - [`KeyError::Encoding`]: neither PEM nor base64, an unknown or
    ///   unclosed PEM block, or an encrypted PEM key;
    /// - [`KeyError::PublicWherePrivateExpected`]: a `PUBLIC KEY` or
    ///   `RSA PUBLIC KEY` block;
    /// - [`KeyError::Rejected`]: the backend refuses the DER.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        match decode_key_text(text)? {
            KeyText::Pkcs8Private(der) => Self::from_pkcs8_der(&der),
            KeyText::Pkcs1Private(der) => Self::from_pkcs1_der(&der),
            KeyText::Unlabelled(der) => {
                Self::from_pkcs8_der(&der).or_else(|e8| Self::from_pkcs1_der(&der).map_err(|_| e8))
            }
            KeyText::SpkiPublic(_) | KeyText::Pkcs1Public(_) => {
                Err(KeyError::PublicWherePrivateExpected)
            }
        }
    }

    /// Loads a private key from PKCS#8 DER.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] when the backend refuses the DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        Ok(RsaSigner {
            key: K::from_pkcs8(der)?,
        })
    }

    /// Loads a private key from PKCS#1 `RSAPrivateKey` DER.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] when the backend refuses the DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        Ok(RsaSigner {
            key: K::from_pkcs1(der)?,
        })
    }

    /// Signs `msg` (SHA256withRSA), returning the raw signature bytes (the
    /// modulus length: 256 for RSA-2048).
    ///
    /// # Errors
    /// [`SignError`] when the backend fails (it does not for a key it loaded).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut out = vec![0u8; self.key.signature_len()];
        self.key.sign_into(msg, &mut out)?;
        Ok(out)
    }

    /// Signs once and throws the signature away, so that the crypto
    /// library's one-time set-up happens now rather than in the first
    /// request: aws-lc seeds its random generator (RSA blinding needs it)
    /// from a jitter entropy source on first use, about 110 million
    /// instructions (tens of milliseconds) under callgrind, which a first
    /// payment, or the first requests of a load test, would otherwise wait
    /// for. Call it when a process loads its key.
    ///
    /// # Errors
    /// [`SignError`], as [`RsaSigner::sign`].
    pub fn warm_up(&self) -> Result<(), SignError> {
        self.sign_base64(b"warm-up").map(drop)
    }

    /// Signs `msg`, returning the signature in standard padded base64 (the
    /// `sign` parameter). Keys up to 8192 bits sign into a stack buffer.
    ///
    /// # Errors
    /// [`SignError`], as [`RsaSigner::sign`].
    pub fn sign_base64(&self, msg: &[u8]) -> Result<String, SignError> {
        let mut buf = [0u8; 1024];
        let n = self.key.signature_len();
        if n > buf.len() {
            return self.sign(msg).map(|s| B64.encode(s));
        }
        self.key.sign_into(msg, &mut buf[..n])?;
        Ok(B64.encode(&buf[..n]))
    }

    /// The matching public key as a verifier on backend `V` (a [`Verifier`]
    /// for the default one).
    ///
    /// # Errors
    /// A [`KeyError`] when backend `V` refuses the public key (a key size it
    /// does not take).
    pub fn verifier<V: VerifyingKey>(&self) -> Result<RsaVerifier<V>, KeyError> {
        RsaVerifier::from_pkcs1_der(&self.key.public_key_pkcs1())
    }

    /// The public key as SPKI DER (what `openssl rsa -pubout` writes).
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        spki_from_rsa_public_key(&self.key.public_key_pkcs1())
    }

    /// The public key as a `PUBLIC KEY` PEM block.
    pub fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.public_key_spki_der())
    }

    /// The public key as bare base64 of SPKI DER (the form Alipay's console shows).
    pub fn public_key_base64(&self) -> String {
        B64.encode(self.public_key_spki_der())
    }

    /// The backend's name, for reports.
    pub fn backend(&self) -> &'static str {
        K::backend_name()
    }
}

impl<K: VerifyingKey> RsaVerifier<K> {
    /// Loads a public key from text: PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or
    /// bare base64 of SPKI or PKCS#1 DER (SPKI tried first, and its error
    /// reported when both fail). Surrounding white space is ignored.
    ///
    /// # Errors
    /// - [`KeyError::Empty`], [`KeyError::Encoding`]: as for
    ///   [`RsaSigner::from_text`];
    /// - [`KeyError::PrivateWherePublicExpected`]: a `PRIVATE KEY` or
    ///   `RSA PRIVATE KEY` block;
    /// - [`KeyError::Unsupported`]: an SPKI key that is not RSA, or an RSA key
    ///   outside 2048 to 8192 bits;
    /// - [`KeyError::Rejected`]: malformed DER, or the backend refuses the key.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        match decode_key_text(text)? {
            KeyText::SpkiPublic(der) => Self::from_spki_der(&der),
            KeyText::Pkcs1Public(der) => Self::from_pkcs1_der(&der),
            KeyText::Unlabelled(der) => {
                Self::from_spki_der(&der).or_else(|e| Self::from_pkcs1_der(&der).map_err(|_| e))
            }
            KeyText::Pkcs8Private(_) | KeyText::Pkcs1Private(_) => {
                Err(KeyError::PrivateWherePublicExpected)
            }
        }
    }

    /// Loads a public key from SPKI DER (`SubjectPublicKeyInfo`, what
    /// `openssl rsa -pubout` writes).
    ///
    /// # Errors
    /// [`KeyError::Unsupported`] for a key that is not RSA (or of a size the
    /// backend does not take); [`KeyError::Rejected`] for malformed DER.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let pkcs1 = der::rsa_public_key_from_spki(der)?;
        Self::from_pkcs1_der(pkcs1)
    }

    /// Loads a public key from PKCS#1 `RSAPublicKey` DER.
    ///
    /// # Errors
    /// [`KeyError::Rejected`] or [`KeyError::Unsupported`] when the backend
    /// refuses the DER or the key size.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        Ok(RsaVerifier {
            key: K::from_pkcs1(der)?,
            pkcs1: der.to_vec(),
        })
    }

    /// Checks raw signature bytes over `msg` (SHA256withRSA).
    ///
    /// # Errors
    /// [`VerifyError::Mismatch`] when `sig` is not this key's signature of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        self.key.verify(msg, sig)
    }

    /// Checks a base64 signature (the `sign` field, standard padded base64)
    /// over `msg`.
    ///
    /// # Errors
    /// [`VerifyError::BadBase64`] when `sig_b64` does not decode (or decodes
    /// to more than 1100 bytes, longer than any 8192-bit signature);
    /// [`VerifyError::Mismatch`] when it is not this key's signature of `msg`.
    pub fn verify_base64(&self, msg: &[u8], sig_b64: &str) -> Result<(), VerifyError> {
        let mut buf = [0u8; 1100];
        let n = B64
            .decode_slice(sig_b64.as_bytes(), &mut buf)
            .map_err(|_| VerifyError::BadBase64)?;
        self.key.verify(msg, &buf[..n])
    }

    /// The public key as SPKI DER.
    pub fn spki_der(&self) -> Vec<u8> {
        spki_from_rsa_public_key(&self.pkcs1)
    }

    /// The public key as a `PUBLIC KEY` PEM block.
    pub fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der())
    }
}

impl<K: SigningKey> std::fmt::Debug for RsaSigner<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Signer {{ backend: {}, bits: {}, key: <redacted> }}",
            K::backend_name(),
            self.key.signature_len() * 8
        )
    }
}

impl<K: VerifyingKey> std::fmt::Debug for RsaVerifier<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A public key is not secret, but it is long and useless in a log line.
        write!(
            f,
            "Verifier {{ bits: {} }}",
            der::rsa_modulus_bits(&self.pkcs1).unwrap_or(0)
        )
    }
}

/// Generates a fresh RSA-2048 private key, as PKCS#8 DER (for `payswitch keygen`),
/// from the system's random source. Only with the `aws-lc-rs` feature.
///
/// # Errors
/// [`KeyError::Rejected`] when AWS-LC fails to generate or encode the key.
#[cfg(feature = "aws-lc-rs")]
pub fn generate_rsa2048_pkcs8() -> Result<Vec<u8>, KeyError> {
    aws_lc::generate_rsa2048_pkcs8()
}

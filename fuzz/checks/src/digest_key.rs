//! A stand-in signature backend: "signature" = SHA-256 of the message.
//!
//! [`protocol::crypto::RsaSigner`] and [`protocol::crypto::RsaVerifier`]
//! are generic over their backend, and so are
//! [`protocol::response::verify_response`], [`protocol::Notification::verify`],
//! [`protocol::response::build_signed`] and
//! [`protocol::notify::sign_notification`]. With this backend the targets
//! run that exact code (extraction, sign strings, base64, the `\/`
//! fallback, typed bodies) on inputs they sign themselves at the cost of a
//! hash instead of an RSA-2048 signature (about a millisecond each), so
//! every execution gets past the signature check. The real RSA backend
//! verifies every raw input as well, and signs a sample of them.

use protocol::crypto::{KeyError, RsaSigner, RsaVerifier, SignError, SigningKey, VerifyingKey};
use protocol::VerifyError;
use sha2::{Digest, Sha256};

/// The stand-in key: no key material, 32-byte "signatures".
#[derive(Debug, Clone, Copy)]
pub struct DigestKey;

/// A signer on the stand-in backend.
pub type DigestSigner = RsaSigner<DigestKey>;
/// A verifier on the stand-in backend.
pub type DigestVerifier = RsaVerifier<DigestKey>;

impl SigningKey for DigestKey {
    fn from_pkcs8(_der: &[u8]) -> Result<Self, KeyError> {
        Ok(DigestKey)
    }
    fn from_pkcs1(_der: &[u8]) -> Result<Self, KeyError> {
        Ok(DigestKey)
    }
    fn signature_len(&self) -> usize {
        32
    }
    fn sign_into(&self, msg: &[u8], out: &mut [u8]) -> Result<(), SignError> {
        if out.len() != 32 {
            return Err(SignError);
        }
        out.copy_from_slice(&Sha256::digest(msg));
        Ok(())
    }
    fn public_key_pkcs1(&self) -> Vec<u8> {
        Vec::new()
    }
    fn backend_name() -> &'static str {
        "sha256-digest (fuzzing stand-in)"
    }
}

impl VerifyingKey for DigestKey {
    fn from_pkcs1(_der: &[u8]) -> Result<Self, KeyError> {
        Ok(DigestKey)
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        if Sha256::digest(msg).as_slice() == sig {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

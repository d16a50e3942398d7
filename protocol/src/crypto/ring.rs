//! The ring backend (cargo feature `ring`). Signing keeps ring's prepared
//! `RsaKeyPair`; ring 0.17 has no public prepared verification key, so the
//! public key is re-read per verification (about 2 µs of a ~30 µs check).

use ring::rand::SystemRandom;
use ring::signature::{
    KeyPair as _, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};

use super::{KeyError, SignError, VerifyError};

/// A prepared RSA private key (ring `RsaKeyPair`), with the random source its
/// `sign` call takes.
pub struct SigningKeyImpl {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

/// An RSA public key for ring: its PKCS#1 DER, checked once at load (RSA,
/// 2048 to 8192 bits) and parsed again by each verification.
pub struct VerifyingKeyImpl {
    pkcs1: Vec<u8>,
}

/// [`super::RsaSigner`] on ring.
pub type Signer = super::RsaSigner<SigningKeyImpl>;
/// [`super::RsaVerifier`] on ring.
pub type Verifier = super::RsaVerifier<VerifyingKeyImpl>;

fn rejected(e: ring::error::KeyRejected) -> KeyError {
    KeyError::Rejected(e.to_string())
}

impl super::SigningKey for SigningKeyImpl {
    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(rejected)?;
        Ok(SigningKeyImpl {
            pair,
            rng: SystemRandom::new(),
        })
    }
    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_der(der).map_err(rejected)?;
        Ok(SigningKeyImpl {
            pair,
            rng: SystemRandom::new(),
        })
    }
    fn signature_len(&self) -> usize {
        self.pair.public().modulus_len()
    }
    fn sign_into(&self, msg: &[u8], out: &mut [u8]) -> Result<(), SignError> {
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, msg, out)
            .map_err(|_| SignError)
    }
    fn public_key_pkcs1(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }
    fn backend_name() -> &'static str {
        "ring"
    }
}

impl super::VerifyingKey for VerifyingKeyImpl {
    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        // Check the key's shape once so that a bad key fails at load, not per call.
        super::der::rsa_modulus_bits(der)?;
        Ok(VerifyingKeyImpl {
            pkcs1: der.to_vec(),
        })
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.pkcs1)
            .verify(msg, sig)
            .map_err(|_| VerifyError::Mismatch)
    }
}

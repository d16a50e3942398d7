//! The aws-lc-rs backend (default, cargo feature `aws-lc-rs`): AWS-LC's RSA,
//! the fastest signer measured here. Both keys are prepared once: the private
//! key as an `RsaKeyPair`, the public key as a `ParsedPublicKey`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RsaKeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};

use super::{KeyError, SignError, VerifyError};

/// A prepared RSA private key (aws-lc-rs `RsaKeyPair`, 2048 to 8192 bits),
/// with the random source its `sign` call takes.
pub struct SigningKeyImpl {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

/// A prepared RSA public key (aws-lc-rs `ParsedPublicKey`) for
/// SHA256withRSA, 2048 to 8192 bits.
pub struct VerifyingKeyImpl {
    key: ParsedPublicKey,
}

/// [`super::RsaSigner`] on aws-lc-rs.
pub type Signer = super::RsaSigner<SigningKeyImpl>;
/// [`super::RsaVerifier`] on aws-lc-rs.
pub type Verifier = super::RsaVerifier<VerifyingKeyImpl>;

fn rejected(e: aws_lc_rs::error::KeyRejected) -> KeyError {
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
        self.pair.public_modulus_len()
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
        "aws-lc-rs"
    }
}

impl super::VerifyingKey for VerifyingKeyImpl {
    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        let key = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).map_err(rejected)?;
        Ok(VerifyingKeyImpl { key })
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        self.key
            .verify_sig(msg, sig)
            .map_err(|_| VerifyError::Mismatch)
    }
}

pub(super) fn generate_rsa2048_pkcs8() -> Result<Vec<u8>, KeyError> {
    let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| KeyError::Rejected("key generation failed".into()))?;
    let der = pair
        .as_der()
        .map_err(|_| KeyError::Rejected("key encoding failed".into()))?;
    Ok(der.as_ref().to_vec())
}

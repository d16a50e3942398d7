//! The keys the targets sign and verify with, prepared once.
//!
//! The RSA pair is the committed TEST-ONLY pair of the protocol test
//! vectors (`protocol/tests/vectors/`, public, never used elsewhere): the
//! committed gateway answers of the corpus are signed with it, so the real
//! verifier accepts them and the fuzzer starts past the signature check.

use std::sync::OnceLock;

use protocol::crypto::RsaSigner;
use protocol::{Signer, Verifier};

use crate::digest_key::{DigestSigner, DigestVerifier};

const TEST_PRIVATE: &str =
    include_str!("../../../protocol/tests/vectors/TEST-ONLY-private-pkcs8.pem");
const TEST_PUBLIC: &str = include_str!("../../../protocol/tests/vectors/TEST-ONLY-public.pem");

/// The TEST-ONLY RSA private key (aws-lc-rs backend).
pub fn rsa_signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| Signer::from_text(TEST_PRIVATE).expect("the TEST-ONLY private key loads"))
}

/// The TEST-ONLY RSA public key.
pub fn rsa_verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::from_text(TEST_PUBLIC).expect("the TEST-ONLY public key loads"))
}

/// The digest stand-in (see [`crate::digest_key`]).
pub fn digest_signer() -> &'static DigestSigner {
    static S: OnceLock<DigestSigner> = OnceLock::new();
    S.get_or_init(|| RsaSigner::from_pkcs8_der(&[]).expect("the digest key needs no key bytes"))
}

/// The digest stand-in's verifier.
pub fn digest_verifier() -> &'static DigestVerifier {
    static V: OnceLock<DigestVerifier> = OnceLock::new();
    V.get_or_init(|| {
        digest_signer()
            .verifier()
            .expect("the digest key needs no key bytes")
    })
}

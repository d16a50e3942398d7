//! Terminal secrets at rest: AES-256-GCM (aws-lc-rs `aead`) under the
//! registry key (`[admin] secret_key_file`).
//!
//! Sealed form: hex of a random 12-byte nonce, the ciphertext and the 16-byte
//! tag. The terminal's key_id is the associated data, so a sealed secret
//! copied onto another terminal's row does not open. The key never reaches
//! `Debug` output or an error message.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use rand::RngCore;

/// Why a secret could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The registry key was refused by the cipher.
    #[error("the registry key is not a valid AES-256 key")]
    Key,
    /// The cipher failed while sealing (not expected).
    #[error("sealing the secret failed")]
    Seal,
    /// Not hex, too short, tampered with, sealed under another key or for
    /// another key_id (the key_id named).
    #[error("the sealed secret of terminal {0} does not open with admin.secret_key_file (wrong key or corrupt row)")]
    Open(String),
}

/// The registry key, prepared once: seals terminal secrets for the journal
/// and opens them at load.
pub struct Sealer(LessSafeKey);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Prepares the 32-byte registry key.
    ///
    /// # Errors
    /// [`SealError::Key`] when aws-lc-rs refuses the key (never for 32 bytes).
    pub fn new(key: &[u8; 32]) -> Result<Sealer, SealError> {
        let k = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SealError::Key)?;
        Ok(Sealer(LessSafeKey::new(k)))
    }

    /// Seals a terminal secret bound to its key_id: hex of a fresh random
    /// nonce, the ciphertext and the tag (120 hex digits).
    ///
    /// # Errors
    /// [`SealError::Seal`] when the cipher fails (not expected).
    pub fn seal(&self, key_id: &str, secret: &[u8; 32]) -> Result<String, SealError> {
        let mut n = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut n);
        let mut buf = secret.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(n),
                Aad::from(key_id.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = n.to_vec();
        out.extend_from_slice(&buf);
        Ok(hex::encode(out))
    }

    /// Opens a sealed secret of `key_id`.
    ///
    /// # Errors
    /// [`SealError::Open`] (naming the key_id, never the secret) when the
    /// text is not a sealed secret of this key_id under this key.
    pub fn open(&self, key_id: &str, sealed: &str) -> Result<[u8; 32], SealError> {
        let err = || SealError::Open(key_id.to_owned());
        let raw = hex::decode(sealed).map_err(|_| err())?;
        if raw.len() != NONCE_LEN + 32 + 16 {
            return Err(err());
        }
        let (n, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| err())?;
        let mut buf = ct.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(key_id.as_bytes()), &mut buf)
            .map_err(|_| err())?;
        plain.try_into().map_err(|_| err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_the_key_id() {
        let s = Sealer::new(&[9; 32]).unwrap();
        let sealed = s.seal("K1", &[0x5a; 32]).unwrap();
        assert!(!sealed.contains(&hex::encode([0x5a; 32])));
        assert_eq!(s.open("K1", &sealed).unwrap(), [0x5a; 32]);
        assert!(s.open("K2", &sealed).is_err());
        assert!(Sealer::new(&[8; 32]).unwrap().open("K1", &sealed).is_err());
        assert!(s.open("K1", "zz").is_err());
        assert_ne!(sealed, s.seal("K1", &[0x5a; 32]).unwrap(), "fresh nonce");
    }
}

//! `payswitch keygen`: an RSA-2048 key pair in the formats Alipay's key tool
//! writes.
//!
//! Files (never overwritten): `app-private.pem` (PKCS#8 PEM, mode 0600),
//! `app-private.txt` (bare base64 of the PKCS#8 DER, mode 0600, what the Java
//! SDK takes), `app-public.pem` (SPKI PEM) and `app-public.txt` (bare base64
//! of the SPKI DER, what the Alipay console asks for).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use protocol::crypto::{generate_rsa2048_pkcs8, pem_encode};
use protocol::Signer;

use crate::EngineError;

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), EngineError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| EngineError::Key(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Writes a new key pair into `dir` (created if needed); returns the paths
/// of the four files, in the order of the module's list. Each file is
/// synced before the next is written.
///
/// # Errors
/// [`EngineError::Key`] when one of the four files already exists (nothing
/// is written), a file cannot be created, or the key cannot be generated;
/// [`EngineError::Io`] when `dir` cannot be created or a file cannot be
/// written or synced (the files before it stay).
pub fn keygen(dir: &Path) -> Result<Vec<PathBuf>, EngineError> {
    std::fs::create_dir_all(dir)?;
    let names = [
        "app-private.pem",
        "app-private.txt",
        "app-public.pem",
        "app-public.txt",
    ];
    for n in names {
        if dir.join(n).exists() {
            return Err(EngineError::Key(format!(
                "{} exists; refusing to overwrite a key",
                dir.join(n).display()
            )));
        }
    }
    let der = generate_rsa2048_pkcs8().map_err(|e| EngineError::Key(e.to_string()))?;
    let signer = Signer::from_pkcs8_der(&der).map_err(|e| EngineError::Key(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let files = [
        (names[0], pem_encode("PRIVATE KEY", &der), 0o600),
        (names[1], format!("{}\n", b64.encode(&der)), 0o600),
        (names[2], signer.public_key_pem(), 0o644),
        (names[3], format!("{}\n", signer.public_key_base64()), 0o644),
    ];
    let mut out = Vec::new();
    for (n, text, mode) in files {
        let p = dir.join(n);
        write_new(&p, &text, mode)?;
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_a_usable_pair() {
        let d = tempfile::tempdir().unwrap();
        let files = keygen(d.path()).unwrap();
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let s = Signer::from_text(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
        let v =
            protocol::Verifier::from_text(&std::fs::read_to_string(&files[3]).unwrap()).unwrap();
        let sig = s.sign_base64(b"x").unwrap();
        v.verify_base64(b"x", &sig).unwrap();
        assert!(keygen(d.path()).is_err(), "never overwrites");
    }
}

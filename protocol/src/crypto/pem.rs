//! PEM and bare-base64 key text, as Alipay's key tool and openssl write it.

use base64::Engine as _;

use super::{KeyError, B64};

/// A decoded key text, by what its PEM label said: each variant holds the
/// DER bytes of the block (key material: not for logs).
pub enum KeyText {
    /// `-----BEGIN PRIVATE KEY-----`
    Pkcs8Private(Vec<u8>),
    /// `-----BEGIN RSA PRIVATE KEY-----`
    Pkcs1Private(Vec<u8>),
    /// `-----BEGIN PUBLIC KEY-----`
    SpkiPublic(Vec<u8>),
    /// `-----BEGIN RSA PUBLIC KEY-----`
    Pkcs1Public(Vec<u8>),
    /// Bare base64 with no label: the caller tries the forms it accepts.
    Unlabelled(Vec<u8>),
}

/// Decodes PEM (first block) or bare base64 (line breaks and spaces ignored).
/// A PEM block's DER is returned by its label; bare base64 is
/// [`KeyText::Unlabelled`], for the caller to try the forms it accepts.
///
/// # Errors
/// - [`KeyError::Empty`]: the text, or the PEM body, is empty;
/// - [`KeyError::Encoding`]: an unclosed `-----BEGIN` line, no matching
///   `-----END` line, an encrypted key (`Proc-Type:` headers), a label other
///   than the four of [`KeyText`], or base64 that does not decode.
pub fn decode_key_text(text: &str) -> Result<KeyText, KeyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(KeyError::Empty);
    }
    if let Some(rest) = text.strip_prefix("-----BEGIN ") {
        let (label, rest) = rest
            .split_once("-----")
            .ok_or(KeyError::Encoding("PEM header is not closed"))?;
        let end = format!("-----END {label}-----");
        let body = rest
            .split_once(end.as_str())
            .ok_or(KeyError::Encoding("PEM end line is missing"))?
            .0;
        if body.contains(':') {
            return Err(KeyError::Encoding("encrypted PEM keys are not supported"));
        }
        let der = decode_b64(body)?;
        return match label {
            "PRIVATE KEY" => Ok(KeyText::Pkcs8Private(der)),
            "RSA PRIVATE KEY" => Ok(KeyText::Pkcs1Private(der)),
            "PUBLIC KEY" => Ok(KeyText::SpkiPublic(der)),
            "RSA PUBLIC KEY" => Ok(KeyText::Pkcs1Public(der)),
            _ => Err(KeyError::Encoding("unknown PEM label")),
        };
    }
    Ok(KeyText::Unlabelled(decode_b64(text)?))
}

fn decode_b64(body: &str) -> Result<Vec<u8>, KeyError> {
    let clean: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if clean.is_empty() {
        return Err(KeyError::Empty);
    }
    B64.decode(clean.as_bytes())
        .map_err(|_| KeyError::Encoding("base64 does not decode"))
}

/// Encodes DER as a PEM block with 64-character lines, `label` in its
/// `-----BEGIN`/`-----END` lines (`"PUBLIC KEY"`), a final newline included.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

//! The little DER the key formats need: SPKI <-> PKCS#1 `RSAPublicKey`.
//!
//! SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier (rsaEncryption, NULL),
//! BIT STRING (0 unused bits, RSAPublicKey) }.

use super::KeyError;

/// The AlgorithmIdentifier of rsaEncryption with NULL parameters.
const RSA_ALG_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// Reads one TLV; returns (tag, contents, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), KeyError> {
    let bad = || KeyError::Rejected("malformed DER".into());
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&l0, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if l0 < 0x80 {
        usize::from(l0)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return Err(bad());
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// Extracts the PKCS#1 `RSAPublicKey` from SPKI DER; refuses non-RSA keys.
///
/// # Errors
/// [`KeyError::Unsupported`] for an algorithm other than rsaEncryption;
/// [`KeyError::Rejected`] for DER that is not an SPKI structure.
pub fn rsa_public_key_from_spki(spki: &[u8]) -> Result<&[u8], KeyError> {
    let (tag, seq, _) = tlv(spki)?;
    if tag != 0x30 {
        return Err(KeyError::Rejected("SPKI is not a SEQUENCE".into()));
    }
    let (tag, alg, rest) = tlv(seq)?;
    if tag != 0x30 {
        return Err(KeyError::Rejected(
            "SPKI algorithm is not a SEQUENCE".into(),
        ));
    }
    let (oid_tag, oid, _) = tlv(alg)?;
    if oid_tag != 0x06 || oid != &RSA_ALG_ID[4..13] {
        return Err(KeyError::Unsupported);
    }
    let (tag, bits, _) = tlv(rest)?;
    if tag != 0x03 || bits.first() != Some(&0) {
        return Err(KeyError::Rejected("SPKI key is not a BIT STRING".into()));
    }
    Ok(&bits[1..])
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len < 0x10000 {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

/// Wraps a PKCS#1 `RSAPublicKey` into SPKI DER (rsaEncryption, NULL
/// parameters): the inverse of reading an SPKI key. The input is not
/// checked.
pub fn spki_from_rsa_public_key(pkcs1: &[u8]) -> Vec<u8> {
    let mut bit = Vec::with_capacity(pkcs1.len() + 5);
    bit.push(0x03);
    push_len(&mut bit, pkcs1.len() + 1);
    bit.push(0);
    bit.extend_from_slice(pkcs1);
    let mut out = Vec::with_capacity(bit.len() + RSA_ALG_ID.len() + 5);
    out.push(0x30);
    push_len(&mut out, RSA_ALG_ID.len() + bit.len());
    out.extend_from_slice(&RSA_ALG_ID);
    out.extend_from_slice(&bit);
    out
}

/// The modulus size of a PKCS#1 `RSAPublicKey`, in bits (whole bytes),
/// refusing keys under 2048 bits or over 8192.
///
/// # Errors
/// [`KeyError::Rejected`] for DER that is not two INTEGERs in a SEQUENCE;
/// [`KeyError::Unsupported`] for a modulus outside 2048 to 8192 bits.
pub fn rsa_modulus_bits(pkcs1: &[u8]) -> Result<usize, KeyError> {
    let (tag, seq, _) = tlv(pkcs1)?;
    if tag != 0x30 {
        return Err(KeyError::Rejected("RSAPublicKey is not a SEQUENCE".into()));
    }
    let (tag, n, rest) = tlv(seq)?;
    let (etag, _e, _) = tlv(rest)?;
    if tag != 0x02 || etag != 0x02 {
        return Err(KeyError::Rejected(
            "RSAPublicKey is not two INTEGERs".into(),
        ));
    }
    let n = match n.split_first() {
        Some((0, tail)) => tail,
        _ => n,
    };
    let bits = n.len() * 8;
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::Unsupported);
    }
    Ok(bits)
}

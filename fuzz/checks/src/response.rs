//! Target `response`: a gateway answer, from raw body to typed node.
//!
//! Input: one selector byte, then the body (UTF-8, as the switch requires).
//! The low nibble picks the method (its node name and its typed response);
//! bit 4 makes the self-signed case sign the `\/`-unescaped node (the Java
//! SDK's fallback).
//!
//! Asserted:
//! - as received, against the TEST-ONLY RSA key (one input in 8, the
//!   others against the stand-in of [`crate::digest_key`]): [`extract`] and
//!   [`verify_response`] agree (the same refusal, or a success whose node
//!   extract found); the extracted node is a slice of the body, from `{` to
//!   `}`, and its `sign` a slice too when nothing was unescaped; a verified
//!   body's signature really verifies over the node (or its unescaped
//!   text); an unsigned body is never a success; a valid JSON body with the
//!   node key once yields exactly that node's value (a differential check
//!   with serde_json);
//! - self-signed (the input is the node's JSON, signed by the target): a
//!   JSON object always extracts to itself and verifies, and the typed body
//!   is exactly what serde makes of the node, never a signature refusal; a
//!   signature over other bytes is always refused;
//! - in every success, each field of the typed body equals the input's
//!   value (amounts as [`Money`]): nothing is invented or mangled.

use protocol::crypto::{RsaVerifier, VerifyingKey};
use protocol::method::{ExtMethod, Method};
use protocol::response::{
    extract, verify_response, BillUrlResponse, CancelResponse, CloseResponse, CreateResponse,
    Extracted, GatewayStatus, HeartbeatSynResponse, IndirectMerchantResponse,
    IndirectQueryResponse, NodeKind, PayResponse, PrecreateResponse, QueryResponse,
    RefundQueryResponse, RefundResponse, ResponseError,
};
use protocol::Money;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::keys::{digest_signer, digest_verifier, rsa_signer, rsa_verifier};

/// The node names, in the order of [`typed!`]'s types.
fn node(i: usize) -> &'static str {
    if i < Method::ALL.len() {
        Method::ALL[i].response_node()
    } else {
        ExtMethod::ALL[i - Method::ALL.len()].response_node()
    }
}

const NODES: usize = Method::ALL.len() + ExtMethod::ALL.len();

/// Calls `$f::<T>(args)` with the response type of node `$i`.
macro_rules! typed {
    ($i:expr, $f:ident ( $($arg:expr),* )) => {
        match $i {
            0 => $f::<PayResponse>($($arg),*),
            1 => $f::<PrecreateResponse>($($arg),*),
            2 => $f::<CreateResponse>($($arg),*),
            3 => $f::<QueryResponse>($($arg),*),
            4 => $f::<CancelResponse>($($arg),*),
            5 => $f::<CloseResponse>($($arg),*),
            6 => $f::<RefundResponse>($($arg),*),
            7 => $f::<RefundQueryResponse>($($arg),*),
            8 => $f::<BillUrlResponse>($($arg),*),
            9 | 11 => $f::<IndirectMerchantResponse>($($arg),*),
            10 => $f::<IndirectQueryResponse>($($arg),*),
            _ => $f::<HeartbeatSynResponse>($($arg),*),
        }
    };
}

/// The fuzz target.
pub fn response(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let i = usize::from(sel & 0x0f) % NODES;
    let unescaped_fallback = sel & 0x10 != 0;
    // Chosen by the input, so deterministic: one execution in 8 verifies
    // the body as received with the real RSA key (the others with the
    // stand-in, which refuses the RSA signature like any wrong one), and
    // one in 256 also signs with it (a millisecond each).
    let h = crate::hash(data);
    let real_rsa = h % 256 == 0;
    if h % 8 == 0 {
        typed!(i, as_received(text, node(i), rsa_verifier()));
    } else {
        typed!(i, as_received(text, node(i), digest_verifier()));
    }
    typed!(i, self_signed(text, node(i), unescaped_fallback, real_rsa));
}

fn is_json_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

fn check_extracted(body: &str, node: &str, ex: &Extracted<'_>) {
    assert!(
        crate::is_within(body, ex.content),
        "the node is not a slice of the body"
    );
    assert!(ex.content.starts_with('{') && ex.content.ends_with('}'));
    match ex.kind {
        NodeKind::Method => assert!(body.contains(&quoted(node))),
        NodeKind::Error => assert!(body.contains("\"error_response\"")),
    }
    if let Some(s) = &ex.sign {
        assert!(!s.is_empty(), "an empty sign is reported as none");
        if let std::borrow::Cow::Borrowed(b) = s {
            assert!(
                crate::is_within(body, b),
                "the sign is not a slice of the body"
            );
        }
    }
    // A valid JSON node is parsed by serde_json as the same JSON object
    // (the scan matched the right brace).
    if serde_json::from_str::<Value>(body).is_ok() {
        match serde_json::from_str::<Value>(ex.content) {
            Ok(v) => assert!(v.is_object(), "the node of a valid body is not an object"),
            Err(e) => panic!("the node of a valid JSON body does not parse: {e}"),
        }
    }
}

/// The differential check on a valid JSON body whose node key occurs once.
fn check_against_serde(body: &str, node: &str, ex: &Result<Extracted<'_>, ResponseError>) {
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(body) else {
        return;
    };
    if body.matches(&quoted(node)).count() != 1 {
        return;
    }
    let Some(want @ Value::Object(_)) = top.get(node) else {
        return;
    };
    let ex = ex
        .as_ref()
        .unwrap_or_else(|e| panic!("a valid body with one {node} node is refused: {e}"));
    assert_eq!(ex.kind, NodeKind::Method);
    let got: Value = serde_json::from_str(ex.content).expect("the node parses");
    assert_eq!(&got, want, "extract took another value than the node's");
}

/// Each field of the typed body agrees with the input's value.
fn agrees(typed: &Value, input: &Value) -> bool {
    match (typed, input) {
        (Value::Object(t), Value::Object(i)) => t
            .iter()
            .all(|(k, tv)| tv.is_null() || i.get(k).is_some_and(|iv| agrees(tv, iv))),
        (Value::Array(t), Value::Array(i)) => {
            t.len() == i.len() && t.iter().zip(i).all(|(a, b)| agrees(a, b))
        }
        (Value::String(t), Value::String(i)) => {
            t == i || Money::parse_wire(i).is_ok_and(|m| m.to_wire() == *t)
        }
        (t, i) => t == i,
    }
}

fn check_body<T: Serialize + std::fmt::Debug>(body: &T, content: &str) {
    let typed = serde_json::to_value(body).expect("a typed body serialises");
    // serde_json's Value refuses numbers out of f64's range that a typed
    // parse skips; there is nothing to compare then.
    if let Ok(input) = serde_json::from_str::<Value>(content) {
        assert!(
            agrees(&typed, &input),
            "the typed body {body:?} does not match the node {content}"
        );
    }
}

fn as_received<T>(body: &str, node: &str, verifier: &RsaVerifier<impl VerifyingKey>)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let ex = extract(body, node);
    if let Ok(ex) = &ex {
        check_extracted(body, node, ex);
    }
    check_against_serde(body, node, &ex);
    let r = verify_response::<T, _>(body, node, verifier);
    match (&ex, r) {
        (Err(e), r) => assert_eq!(
            Err(e),
            r.map(|_| ()).as_ref(),
            "extract and verify disagree"
        ),
        (Ok(ex), Ok(v)) => {
            assert_eq!(v.kind, ex.kind);
            let sign = ex.sign.as_deref().expect("a verified body is signed");
            assert!(
                verifier.verify_base64(ex.content.as_bytes(), sign).is_ok()
                    || verifier
                        .verify_base64(ex.content.replace("\\/", "/").as_bytes(), sign)
                        .is_ok(),
                "verified without a matching signature"
            );
            let again: T = serde_json::from_str(ex.content).expect("the verified node parses");
            assert_eq!(again, v.body);
            check_body(&v.body, ex.content);
        }
        (Ok(ex), Err(ResponseError::Unsigned(status))) => {
            assert!(ex.sign.is_none(), "a signed body was reported unsigned");
            let want: GatewayStatus =
                serde_json::from_str(ex.content).expect("an unsigned status parses");
            assert_eq!(status, want);
        }
        (Ok(ex), Err(ResponseError::BadSignature)) => {
            assert!(
                ex.sign.is_some(),
                "an unsigned body was reported badly signed"
            );
        }
        (Ok(ex), Err(ResponseError::Fields(_))) => {
            if ex.sign.is_none() {
                assert!(serde_json::from_str::<GatewayStatus>(ex.content).is_err());
            } else {
                assert!(serde_json::from_str::<T>(ex.content).is_err());
            }
        }
        (Ok(_), Err(e)) => panic!("verify refused what extract took: {e}"),
    }
}

/// The body [`protocol::response::build_signed`] makes, with any signature.
fn assemble(node: &str, node_json: &str, sign: &str) -> String {
    format!("{{\"{node}\":{node_json},\"sign\":\"{sign}\"}}")
}

fn self_signed<T>(text: &str, node: &str, unescaped_fallback: bool, real_rsa: bool)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let node_json = text.trim_matches(is_json_ws);
    let signed_text = if unescaped_fallback {
        node_json.replace("\\/", "/")
    } else {
        node_json.to_owned()
    };
    let sign = digest_signer()
        .sign_base64(signed_text.as_bytes())
        .expect("the digest key signs");
    let body = assemble(node, node_json, &sign);
    if !unescaped_fallback {
        let built = protocol::response::build_signed(node, node_json, digest_signer())
            .expect("the digest key signs");
        assert_eq!(built, body);
    }
    let ex = extract(&body, node);
    if let Ok(ex) = &ex {
        check_extracted(&body, node, ex);
    }
    let r = verify_response::<T, _>(&body, node, digest_verifier());
    let is_object = matches!(
        serde_json::from_str::<Value>(node_json),
        Ok(Value::Object(_))
    );
    if !is_object {
        if let Ok(v) = r {
            let ex = ex.expect("verified, so extracted");
            let again: T = serde_json::from_str(ex.content).expect("the verified node parses");
            assert_eq!(again, v.body);
        }
        return;
    }
    let ex = ex.unwrap_or_else(|e| panic!("a signed JSON object node is refused: {e}"));
    assert_eq!(ex.kind, NodeKind::Method);
    assert_eq!(ex.content, node_json);
    assert_eq!(ex.sign.as_deref(), Some(sign.as_str()));
    let want = serde_json::from_str::<T>(node_json);
    match (&want, &r) {
        (Ok(t), Ok(v)) => {
            assert_eq!(&v.body, t);
            assert_eq!(v.kind, NodeKind::Method);
            check_body(&v.body, node_json);
        }
        (Err(_), Err(ResponseError::Fields(_))) => {}
        (w, r) => panic!("a correctly signed node: serde says {w:?}, verify says {r:?}"),
    }
    // A signature over other bytes is refused.
    let other = digest_signer()
        .sign_base64(format!("{signed_text}x").as_bytes())
        .expect("the digest key signs");
    let forged = assemble(node, node_json, &other);
    assert_eq!(
        verify_response::<T, _>(&forged, node, digest_verifier()).err(),
        Some(ResponseError::BadSignature)
    );
    if real_rsa {
        let sign = rsa_signer()
            .sign_base64(signed_text.as_bytes())
            .expect("the RSA key signs");
        let real = verify_response::<T, _>(&assemble(node, node_json, &sign), node, rsa_verifier());
        assert_eq!(real.map(|v| v.body), r.map(|v| v.body));
    }
}

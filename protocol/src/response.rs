//! Synchronous gateway responses: extraction of the signed node from the raw
//! body, verification, typed bodies, and (for the simulator) building.
//!
//! The signature covers the raw text of the `<method>_response` (or
//! `error_response`) node exactly as it stands in the body (docs/PROTOCOL.md §2.2), so
//! extraction works on the raw bytes: a scan that matches braces, aware of
//! strings and escapes, and never a re-serialised value. A body whose node
//! name appears twice is refused. An unsigned body is reported as
//! [`ResponseError::Unsigned`] (an error from the gateway's front door) and is
//! never taken for success.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codes::Code;
use crate::crypto::{RsaSigner, RsaVerifier, SignError, SigningKey, VerifyingKey};
use crate::money::Money;

/// The node name of a gateway-level failure, used in place of the method's
/// node (an unknown app, an auth-token failure; docs/PROTOCOL.md §2.3).
pub const ERROR_RESPONSE: &str = "error_response";

/// Which node the body carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// `<method>_response`
    Method,
    /// `error_response`
    Error,
}

/// The parts of a raw response body, borrowed from it: what [`extract`]
/// finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted<'a> {
    /// Which node the body carried: the method's or `error_response`.
    pub kind: NodeKind,
    /// The node's raw text, from `{` to the matching `}`: the signed content.
    pub content: &'a str,
    /// The `sign` value with JSON escapes (`\/`) undone; `None` when absent or empty.
    pub sign: Option<std::borrow::Cow<'a, str>>,
}

/// The common fields of every response node: what is read of an unsigned
/// body ([`ResponseError::Unsigned`]), and the first four fields of each
/// typed node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GatewayStatus {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    #[serde(default)]
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
}

/// Why a response could not be taken. None of them is a success: the
/// outcome of the call is unknown unless the caller learns it otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The body has neither the expected node (named here) nor `error_response`: not a gateway
    /// answer to this method.
    #[error("the response has neither a {0} node nor an error_response node")]
    NodeMissing(String),
    /// The node's name (here) occurs again after the node: refused rather than guess which one
    /// was signed.
    #[error("the response node {0} appears more than once")]
    DuplicateNode(String),
    /// The node is not a well-formed JSON object, or `sign` not a closed string.
    #[error("the response is not well-formed JSON around the signed node")]
    Malformed,
    /// The body has no signature: an error from the gateway's front door, with its status.
    /// Never a success, whatever its code.
    #[error("the response is not signed (gateway error {} {})", .0.code, .0.sub_code.as_deref().unwrap_or(""))]
    Unsigned(GatewayStatus),
    /// The signature does not verify over the node as received, nor with `\/` read as `/`.
    #[error("the response signature does not verify")]
    BadSignature,
    /// The node does not deserialise as the expected type (serde's message).
    #[error("the response node does not have the expected fields: {0}")]
    Fields(String),
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// From `start` (which must be `{`), the index just past the matching `}`.
///
/// Each closer must match its opener (`}` a `{`, `]` a `[`): a body like
/// `{"a":{"b":1}]` is malformed, not a node ending in `]` (found by the
/// `response` fuzz target). One bit per open level, 128 levels at most,
/// serde_json's own nesting limit (a deeper node could not be read anyway).
fn match_braces(b: &[u8], start: usize) -> Option<usize> {
    const MAX_DEPTH: u32 = 128;
    // Bit 0 is the innermost open level: 1 for `{`, 0 for `[`.
    let mut open: u128 = 0;
    let mut depth = 0u32;
    let mut in_str = false;
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => {
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    open = (open << 1) | u128::from(c == b'{');
                    depth += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if (open & 1 == 1) != (c == b'}') {
                        return None;
                    }
                    open >>= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Finds `"key"` followed by optional spaces and `:`; returns the index after the colon.
fn find_key(b: &[u8], key: &str, from: usize) -> Option<usize> {
    let needle_len = key.len() + 2;
    let mut i = from;
    while i + needle_len <= b.len() {
        let hay = &b[i..];
        let pos = memchr_quote_key(hay, key)?;
        let after = i + pos + needle_len;
        let j = skip_ws(b, after);
        if j < b.len() && b[j] == b':' {
            return Some(j + 1);
        }
        i = i + pos + 1;
    }
    None
}

fn memchr_quote_key(hay: &[u8], key: &str) -> Option<usize> {
    let k = key.as_bytes();
    hay.windows(k.len() + 2)
        .position(|w| w[0] == b'"' && w[w.len() - 1] == b'"' && &w[1..w.len() - 1] == k)
}

fn contains_quoted(b: &[u8], key: &str) -> bool {
    memchr_quote_key(b, key).is_some()
}

/// Reads a JSON string starting at `i` (which must be `"`); returns the raw
/// inner text and the index after the closing quote.
fn raw_string(b: &[u8], i: usize) -> Option<(usize, usize, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some((i + 1, j, j + 1)),
            _ => j += 1,
        }
    }
    None
}

/// Splits a raw body into its signed node and its signature.
///
/// `node` is the expected `<method>_response` name; `error_response` is
/// accepted in its place. The node name may not occur again after the node.
/// Nothing is parsed beyond the node's braces and the `sign` string, and
/// nothing is verified: see [`verify_response`].
///
/// # Errors
/// - [`ResponseError::NodeMissing`]: neither `"<node>":` nor
///   `"error_response":` occurs as a key;
/// - [`ResponseError::Malformed`]: the node's value is not an object whose
///   braces and brackets close within 128 levels, or `sign` is not a
///   closed string;
/// - [`ResponseError::DuplicateNode`]: the node's name occurs again, quoted,
///   after the node.
pub fn extract<'a>(body: &'a str, node: &str) -> Result<Extracted<'a>, ResponseError> {
    let b = body.as_bytes();
    let (kind, name, after_colon) = match find_key(b, node, 0) {
        Some(i) => (NodeKind::Method, node, i),
        None => match find_key(b, ERROR_RESPONSE, 0) {
            Some(i) => (NodeKind::Error, ERROR_RESPONSE, i),
            None => return Err(ResponseError::NodeMissing(node.to_owned())),
        },
    };
    let start = skip_ws(b, after_colon);
    if b.get(start) != Some(&b'{') {
        return Err(ResponseError::Malformed);
    }
    let end = match_braces(b, start).ok_or(ResponseError::Malformed)?;
    if contains_quoted(&b[end..], name) {
        return Err(ResponseError::DuplicateNode(name.to_owned()));
    }
    let content = &body[start..end];
    let sign = match find_key(b, "sign", end) {
        None => None,
        Some(i) => {
            let i = skip_ws(b, i);
            let (s, e, _) = raw_string(b, i).ok_or(ResponseError::Malformed)?;
            let raw = &body[s..e];
            if raw.is_empty() {
                None
            } else if raw.contains('\\') {
                Some(std::borrow::Cow::Owned(raw.replace("\\/", "/")))
            } else {
                Some(std::borrow::Cow::Borrowed(raw))
            }
        }
    };
    Ok(Extracted {
        kind,
        content,
        sign,
    })
}

/// A verified response: the node kind and its typed body. Only
/// [`verify_response`] makes one, after the signature checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified<T> {
    /// Which node the body carried: the method's or `error_response`.
    pub kind: NodeKind,
    /// The node, deserialised from the verified raw text.
    pub body: T,
}

/// Extracts, verifies and deserialises a response for the node `node`.
///
/// An unsigned body is [`ResponseError::Unsigned`] with its status, whatever
/// its code (an unsigned "10000" is not trusted). A signed body whose
/// signature fails over the raw node is tried once more with `\/` read as `/`
/// (what the Java SDK does), then refused. A verified node is returned as
/// is, whatever its `code`: a signed 40004 is a [`Verified`] failure.
///
/// # Errors
/// - those of [`extract`];
/// - [`ResponseError::Unsigned`]: no `sign`, or an empty one (its node read
///   as a [`GatewayStatus`]);
/// - [`ResponseError::BadSignature`]: the signature verifies over neither
///   form of the node (or is not base64);
/// - [`ResponseError::Fields`]: the node (verified, or unsigned) does not
///   deserialise as `T` (or as [`GatewayStatus`]).
pub fn verify_response<T, K>(
    body: &str,
    node: &str,
    verifier: &RsaVerifier<K>,
) -> Result<Verified<T>, ResponseError>
where
    T: DeserializeOwned,
    K: VerifyingKey,
{
    let ex = extract(body, node)?;
    let Some(sign) = ex.sign.as_deref() else {
        let status: GatewayStatus =
            serde_json::from_str(ex.content).map_err(|e| ResponseError::Fields(e.to_string()))?;
        return Err(ResponseError::Unsigned(status));
    };
    if verifier.verify_base64(ex.content.as_bytes(), sign).is_err() {
        let unescaped = ex.content.replace("\\/", "/");
        if unescaped == ex.content || verifier.verify_base64(unescaped.as_bytes(), sign).is_err() {
            return Err(ResponseError::BadSignature);
        }
    }
    let body: T =
        serde_json::from_str(ex.content).map_err(|e| ResponseError::Fields(e.to_string()))?;
    Ok(Verified {
        kind: ex.kind,
        body,
    })
}

/// Escapes `/` as `\/` in serialised JSON, as the gateway does. Slashes occur
/// only inside strings in JSON, so a plain replacement is exact.
pub fn escape_slashes(json: &str) -> std::borrow::Cow<'_, str> {
    if json.contains('/') {
        std::borrow::Cow::Owned(json.replace('/', "\\/"))
    } else {
        std::borrow::Cow::Borrowed(json)
    }
}

/// Builds a signed response body: compact, node first, `sign` last, signed
/// over the node's exact bytes. `node_json` must be compact JSON with `/`
/// already escaped (see [`serialize_node`]). The simulator's answer; the
/// inverse of [`verify_response`].
///
/// # Errors
/// [`SignError`] when the backend fails to sign.
pub fn build_signed<K: SigningKey>(
    node: &str,
    node_json: &str,
    signer: &RsaSigner<K>,
) -> Result<String, SignError> {
    let sign = signer.sign_base64(node_json.as_bytes())?;
    let mut out = String::with_capacity(node.len() + node_json.len() + sign.len() + 16);
    out.push_str("{\"");
    out.push_str(node);
    out.push_str("\":");
    out.push_str(node_json);
    out.push_str(",\"sign\":\"");
    out.push_str(&sign);
    out.push_str("\"}");
    Ok(out)
}

/// Builds an unsigned response body, `{"<node>":<node_json>}` (early
/// gateway errors, docs/PROTOCOL.md §2.3). `node_json` is used as given.
pub fn build_unsigned(node: &str, node_json: &str) -> String {
    format!("{{\"{node}\":{node_json}}}")
}

/// Serialises a node compactly with `/` escaped as `\/`, ready for
/// [`build_signed`]; `{}` for a value whose `Serialize` fails.
pub fn serialize_node<T: Serialize>(node: &T) -> String {
    let s = serde_json::to_string(node).unwrap_or_else(|_| String::from("{}"));
    escape_slashes(&s).into_owned()
}

/// Whether a code string is 10000 ([`Code::Success`]); 10003 (pay in
/// progress) is not.
pub fn is_success(code: &str) -> bool {
    code == Code::Success.as_str()
}

/// A fund channel entry of a synchronous response (`fund_bill_list[]`, snake
/// case keys; a notification's are camelCase, see
/// [`NotifyFundBill`](crate::notify::NotifyFundBill)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundBill {
    /// The funding tool (`ALIPAYACCOUNT`, `PCREDIT`, `BANKCARD`, `POINT`, `DISCOUNT`...).
    pub fund_channel: String,
    /// What this tool paid.
    pub amount: Money,
    /// What the tool really paid, where it differs from `amount` (discounts).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub real_amount: Option<Money>,
    /// The kind of bank card for `BANKCARD` (`DEBIT_CARD`, `CREDIT_CARD`...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fund_type: Option<String>,
}

/// alipay.trade.pay response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PayResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The gateway's trade number (`20...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The merchant's order number, as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The buyer's Alipay account, masked by the gateway (`159****5620`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_logon_id: Option<String>,
    /// The buyer's Alipay user id (`2088...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_user_id: Option<String>,
    /// The trade's amount.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_amount: Option<Money>,
    /// What the merchant receives: the amount less the buyer's platform discounts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub receipt_amount: Option<Money>,
    /// What the buyer paid with their own funds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_pay_amount: Option<Money>,
    /// What was paid with points (`0.00` when none).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub point_amount: Option<Money>,
    /// The amount the merchant may invoice.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invoice_amount: Option<Money>,
    /// When the buyer paid, gateway time (`yyyy-MM-dd HH:mm:ss`, UTC+8); absent while 10003.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gmt_payment: Option<String>,
    /// The funding tools that paid the trade, with their amounts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fund_bill_list: Option<Vec<FundBill>>,
    /// The name of the store the trade was made in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_name: Option<String>,
}

/// alipay.trade.precreate response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PrecreateResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The merchant's order number, as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The QR code's content, a `https://qr.alipay.com/...` link to show the buyer (valid for 2
    /// hours unscanned).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qr_code: Option<String>,
}

/// alipay.trade.create response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CreateResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The merchant's order number, as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The gateway's trade number (`20...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
}

/// alipay.trade.query response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct QueryResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The gateway's trade number (`20...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The merchant's order number, as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The buyer's Alipay account, masked by the gateway (`159****5620`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_logon_id: Option<String>,
    /// `WAIT_BUYER_PAY`, `TRADE_SUCCESS`, `TRADE_CLOSED` or `TRADE_FINISHED`
    /// ([`TradeStatus`](crate::TradeStatus) names); kept as text so that an unknown status
    /// reaches the caller.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_status: Option<String>,
    /// The trade's amount.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_amount: Option<Money>,
    /// What the merchant receives: the amount less the buyer's platform discounts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub receipt_amount: Option<Money>,
    /// What the buyer paid with their own funds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_pay_amount: Option<Money>,
    /// What was paid with points (`0.00` when none).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub point_amount: Option<Money>,
    /// The amount the merchant may invoice.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub invoice_amount: Option<Money>,
    /// When the buyer paid, gateway time (`yyyy-MM-dd HH:mm:ss`, UTC+8).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub send_pay_date: Option<String>,
    /// The store number sent with the trade.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_id: Option<String>,
    /// The terminal number sent with the trade.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terminal_id: Option<String>,
    /// The funding tools that paid the trade, with their amounts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fund_bill_list: Option<Vec<FundBill>>,
    /// The buyer's Alipay user id (`2088...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_user_id: Option<String>,
}

/// alipay.trade.cancel response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CancelResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The gateway's trade number (`20...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The merchant's order number, as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// `Y`: the cancel should be retried.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_flag: Option<String>,
    /// `close` (unpaid, closed) or `refund` (paid, refunded).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    /// When the refund was made, gateway time (`yyyy-MM-dd HH:mm:ss`, UTC+8).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gmt_refund_pay: Option<String>,
}

/// alipay.trade.close response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CloseResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The gateway's trade number (`20...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The merchant's order number, as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
}

/// alipay.trade.refund response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RefundResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The gateway's trade number (`20...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The merchant's order number, as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The buyer's Alipay account, masked by the gateway (`159****5620`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_logon_id: Option<String>,
    /// `Y`: money moved in this call; `N` or absent: confirm with fastpay.refund.query.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fund_change: Option<String>,
    /// The cumulative refunded amount of the trade.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refund_fee: Option<Money>,
    /// When the refund was made, gateway time (`yyyy-MM-dd HH:mm:ss`, UTC+8).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gmt_refund_pay: Option<String>,
    /// The buyer's Alipay user id (`2088...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_user_id: Option<String>,
    /// The amount actually sent back to the buyer by this refund.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub send_back_fee: Option<Money>,
}

/// alipay.trade.fastpay.refund.query response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RefundQueryResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The gateway's trade number (`20...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The merchant's order number, as sent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The refund request asked about.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_request_no: Option<String>,
    /// The trade's amount.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_amount: Option<Money>,
    /// This refund's amount.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refund_amount: Option<Money>,
    /// `REFUND_SUCCESS`; absent means not received or failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refund_status: Option<String>,
    /// When the refund was made, gateway time (`yyyy-MM-dd HH:mm:ss`, UTC+8).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gmt_refund_pay: Option<String>,
}

/// alipay.data.dataservice.bill.downloadurl.query response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BillUrlResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The link to the bill's zip, valid for 30 seconds (docs/PROTOCOL.md §5).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_download_url: Option<String>,
    /// `EMPTY_DATA_WITH_BILL_FILE` when the day had no data (the file exists).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bill_file_code: Option<String>,
}

/// `contact_info[]` of an indirect merchant (ant.merchant.expand.indirect.*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IndirectContactInfo {
    /// The contact's name.
    pub name: String,
    /// `LEGAL_PERSON`, `CONTROLLER`, `AGENT`, `OTHER`.
    #[serde(rename = "type")]
    pub contact_type: String,
    /// The contact's identity card number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id_card_no: Option<String>,
    /// The contact's mobile phone number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mobile: Option<String>,
    /// The contact's landline number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone: Option<String>,
    /// The contact's e-mail address.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    /// `02` objection, `06` key, `11` data feedback, `08` service contact.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tag: Option<Vec<String>>,
}

/// `address_info[]` of an indirect merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IndirectAddressInfo {
    /// The province, by its administrative division code.
    pub province_code: String,
    /// The city, by its administrative division code.
    pub city_code: String,
    /// The district, by its administrative division code.
    pub district_code: String,
    /// The street address.
    pub address: String,
    /// Longitude, decimal degrees (at most 6 decimals).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub longitude: Option<String>,
    /// Latitude, decimal degrees (at most 6 decimals).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latitude: Option<String>,
    /// The point of interest id of the address on the map service.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub poiid: Option<String>,
    /// `BUSINESS_ADDRESS` (the default).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub address_type: Option<String>,
}

/// `bankcard_info[]` of an indirect merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IndirectBankcardInfo {
    /// The settlement bank card number.
    pub card_no: String,
    /// The card holder's name.
    pub card_name: String,
    /// The bank branch the card was opened at.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bank_branch_name: Option<String>,
}

/// `site_info[]` of an indirect merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IndirectSiteInfo {
    /// `01` web, `02` app, `03` service window, `04` official account, `05` other, `06` mini program.
    pub site_type: String,
    /// The site's address, for web sites.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub site_url: Option<String>,
    /// The site's or app's name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub site_name: Option<String>,
    /// A test account for reviewing the site.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub account: Option<String>,
    /// The test account's password.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub password: Option<String>,
}

/// ant.merchant.expand.indirect.create and .modify response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IndirectMerchantResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The smid, globally unique.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_merchant_id: Option<String>,
    /// The services granted (empty: none).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service_codes: Option<Vec<String>>,
    /// Why a requested service was not granted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service_fail_reason: Option<String>,
}

/// ant.merchant.expand.indirect.query response node: every create field,
/// `sub_merchant_id` and `indirect_level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IndirectQueryResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The smid.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_merchant_id: Option<String>,
    /// The acquirer's own merchant number, unique under the acquirer.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    /// The merchant's registered name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// The merchant's short name, shown to buyers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alias_name: Option<String>,
    /// The merchant's customer service phone number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service_phone: Option<String>,
    /// The business category (经营类目).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub category_id: Option<String>,
    /// The merchant category code (onboarding through UnionPay or NetsUnion).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mcc: Option<String>,
    /// The acquirer's organisation PID (onboarding through UnionPay or NetsUnion).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub org_pid: Option<String>,
    /// The PID of the recommending organisation (推荐组织).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    /// The business licence number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub business_license: Option<String>,
    /// `NATIONAL_LEGAL`, `NATIONAL_LEGAL_MERGE` or `INST_RGST_CTF`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub business_license_type: Option<String>,
    /// The merchant's contacts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub contact_info: Option<Vec<IndirectContactInfo>>,
    /// The merchant's addresses.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub address_info: Option<Vec<IndirectAddressInfo>>,
    /// The merchant's settlement cards.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bankcard_info: Option<Vec<IndirectBankcardInfo>>,
    /// The merchant's Alipay accounts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub logon_id: Option<Vec<String>>,
    /// The merchant's payment code (收款码) links.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pay_code_info: Option<Vec<String>>,
    /// The services granted (`F2F`, `PC`, `APP`, `PRE_F2F`, `PRE_APP`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service_codes: Option<Vec<String>>,
    /// The merchant's web sites and apps.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub site_info: Option<Vec<IndirectSiteInfo>>,
    /// Notes, starting with a branch code (`##220000##...`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memo: Option<String>,
    /// `INDIRECT_LEVEL_M0` to `INDIRECT_LEVEL_M3`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub indirect_level: Option<String>,
}

/// monitor.heartbeat.syn response node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeartbeatSynResponse {
    /// The gateway code (`10000` success; see [`Code`]).
    pub code: String,
    /// The English message of `code` ([`Code::msg`]).
    pub msg: String,
    /// The business or gateway sub-code of a failure (see [`crate::codes::sub`]); absent on
    /// success.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_code: Option<String>,
    /// The Chinese description of `sub_code`; may echo request data, so [`crate::scrub::scrub`]
    /// it before keeping it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_msg: Option<String>,
    /// The acquirer's partner id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_exact_node() {
        let body = r#"{"alipay_trade_pay_response":{"code":"10000","msg":"Success","subject":"a}\"{b","url":"https:\/\/x"},"sign":"QUJD"}"#;
        let ex = extract(body, "alipay_trade_pay_response").unwrap();
        assert_eq!(ex.kind, NodeKind::Method);
        assert_eq!(
            ex.content,
            r#"{"code":"10000","msg":"Success","subject":"a}\"{b","url":"https:\/\/x"}"#
        );
        assert_eq!(ex.sign.as_deref(), Some("QUJD"));
    }

    #[test]
    fn error_response_and_unsigned() {
        let body = r#"{"error_response":{"code":"40001","msg":"Missing Required Arguments","sub_code":"isv.missing-signature","sub_msg":"缺少签名参数"}}"#;
        let ex = extract(body, "alipay_trade_pay_response").unwrap();
        assert_eq!(ex.kind, NodeKind::Error);
        assert_eq!(ex.sign, None);
        let body2 = r#"{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments"},"sign":""}"#;
        assert_eq!(
            extract(body2, "alipay_trade_query_response").unwrap().sign,
            None
        );
    }

    #[test]
    fn duplicate_node_is_refused() {
        let body = r#"{"alipay_trade_pay_response":{"code":"10000"},"alipay_trade_pay_response":{"code":"40004"},"sign":"x"}"#;
        assert_eq!(
            extract(body, "alipay_trade_pay_response"),
            Err(ResponseError::DuplicateNode(
                "alipay_trade_pay_response".into()
            ))
        );
    }

    #[test]
    fn node_name_inside_a_value_before_is_not_the_node() {
        let body = r#"{"x":"alipay_trade_pay_response","alipay_trade_pay_response":{"code":"10000"},"sign":"x"}"#;
        let ex = extract(body, "alipay_trade_pay_response").unwrap();
        assert_eq!(ex.content, r#"{"code":"10000"}"#);
    }

    #[test]
    fn a_closer_must_match_its_opener() {
        // Found by fuzzing: `]` closed the node's `{`.
        let body = r#"{"alipay_trade_pay_response":{"a":{"code":"10000"}],"sign":"x"}"#;
        assert_eq!(
            extract(body, "alipay_trade_pay_response"),
            Err(ResponseError::Malformed)
        );
        let body = r#"{"alipay_trade_pay_response":{"a":[1,{"b":"]}"}]},"sign":"x"}"#;
        let ex = extract(body, "alipay_trade_pay_response").unwrap();
        assert_eq!(ex.content, r#"{"a":[1,{"b":"]}"}]}"#);
        let deep = format!(
            "{{\"alipay_trade_pay_response\":{}{}}}",
            "{\"a\":".repeat(129),
            "}".repeat(129)
        );
        assert_eq!(
            extract(&deep, "alipay_trade_pay_response"),
            Err(ResponseError::Malformed)
        );
    }

    #[test]
    fn escapes_slashes() {
        assert_eq!(
            escape_slashes(r#"{"a":"https://q"}"#),
            r#"{"a":"https:\/\/q"}"#
        );
    }
}

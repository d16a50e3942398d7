//! Gateway requests: the common parameters (docs/PROTOCOL.md §1.1), signing, and the
//! `application/x-www-form-urlencoded;charset=utf-8` body; and the other way,
//! decoding the parameters a gateway receives (query string and form body merged).

use crate::crypto::{RsaSigner, SignError, SigningKey};
use crate::method::Method;
use crate::sign_string::request_sign_content;

/// The content type of a gateway request.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=utf-8";

/// The optional common parameters of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommonOptions<'a> {
    /// Where the gateway sends asynchronous notifications for this trade.
    pub notify_url: Option<&'a str>,
    /// The merchant's authorisation token when an ISV calls on its behalf.
    pub app_auth_token: Option<&'a str>,
}

/// A signed request ready to send: POST `body` to the gateway with
/// [`FORM_CONTENT_TYPE`].
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The form body, UTF-8, URL-encoded.
    pub body: String,
    /// The base64 signature (also inside `body`).
    pub sign: String,
}

/// Builds and signs a request: the common parameters (`format=JSON`,
/// `charset=utf-8`, `sign_type=RSA2`, `version=1.0`) with `app_id`, `method`,
/// `timestamp` (gateway time, UTC+8, see [`crate::clock`]) and `biz_content`
/// as given, raw; the options of `opts` when present. One signature, one body.
///
/// The caller owns the values: none is checked here (an empty `biz_content`
/// is left out of the signature and the body, as any empty value).
///
/// # Errors
/// [`SignError`] when the backend fails to sign (it does not for a key it
/// loaded).
pub fn sign_request<K: SigningKey>(
    signer: &RsaSigner<K>,
    app_id: &str,
    method: &str,
    biz_content: &str,
    timestamp: &str,
    opts: CommonOptions<'_>,
) -> Result<SignedRequest, SignError> {
    let mut params: [(&str, &str); 10] = [
        ("app_id", app_id),
        ("method", method),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", timestamp),
        ("version", "1.0"),
        ("biz_content", biz_content),
        ("notify_url", opts.notify_url.unwrap_or("")),
        ("app_auth_token", opts.app_auth_token.unwrap_or("")),
    ];
    let content = request_sign_content(params.iter().copied());
    let sign = signer.sign_base64(content.as_bytes())?;
    params.sort_by(|a, b| a.0.cmp(b.0));
    let mut ser = form_urlencoded::Serializer::new(String::with_capacity(content.len() * 2 + 400));
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        ser.append_pair(k, v);
    }
    ser.append_pair("sign", &sign);
    Ok(SignedRequest {
        body: ser.finish(),
        sign,
    })
}

/// As [`sign_request`] for a typed method, with the current gateway time
/// ([`crate::clock::gateway_now`]) as `timestamp`.
///
/// # Errors
/// [`SignError`], as [`sign_request`].
pub fn sign_method_request<K: SigningKey>(
    signer: &RsaSigner<K>,
    app_id: &str,
    method: Method,
    biz_content: &str,
    opts: CommonOptions<'_>,
) -> Result<SignedRequest, SignError> {
    sign_request(
        signer,
        app_id,
        method.as_str(),
        biz_content,
        &crate::clock::gateway_now(),
        opts,
    )
}

/// Decodes URL-encoded `k=v&...` pairs (a query string or a form body), once:
/// `+` is a space, `%XX` a byte, and invalid UTF-8 is replaced (U+FFFD).
/// Pairs keep their order and duplicates; a key without `=` has an empty value.
pub fn decode_form(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input).into_owned().collect()
}

/// Merges the query-string and form-body parameters of a gateway request, as
/// the real gateway does for the SDKs that split them (docs/PROTOCOL.md §1.3). A key present
/// in both keeps the form-body value.
pub fn merge_params(query: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mut out = decode_form(body);
    for (k, v) in decode_form(query) {
        if !out.iter().any(|(bk, _)| *bk == k) {
            out.push((k, v));
        }
    }
    out
}

/// Looks a parameter up in decoded pairs: the first pair with that key, its
/// value as decoded (an empty value is `Some("")`).
pub fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

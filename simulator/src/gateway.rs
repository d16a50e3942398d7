//! The front door of `/gateway.do`: merges query-string and form-body
//! parameters, checks the common parameters, verifies the app's RSA2
//! signature and answers the gateway's own errors, then hands the request to
//! [`crate::methods`] and signs the answer.
//!
//! Which errors are signed (docs/PROTOCOL.md §2.3): errors found before the app and the
//! method are known (missing parameters, unknown app, unknown method, a
//! sign_type the app has no key for) are unsigned; every answer after that
//! (bad signature, bad timestamp, charset or format, malformed biz_content,
//! business results) is signed under the `<method>_response` node.
//!
//! | check | code | sub_code | node | signed |
//! | --- | --- | --- | --- | --- |
//! | app_id, method, sign, sign_type, timestamp, version missing | 40001 | isv.missing-* | error_response | no |
//! | app_id unknown | 40002 | isv.invalid-app-id | method node | no |
//! | method unknown | 40002 | isv.invalid-method | error_response | no |
//! | sign_type RSA (the app has only an RSA2 key) | 40003 | isv.missing-signature-config | method node | no |
//! | other sign_type | 40002 | isv.invalid-signature-type | method node | no |
//! | signature does not verify | 40002 | isv.invalid-signature | method node | yes |
//! | charset neither UTF-8 nor GBK | 40002 | isv.invalid-charset | method node | yes |
//! | format not JSON | 40002 | isv.invalid-format | method node | yes |
//! | timestamp unparsable or outside the window | 40002 | isv.invalid-timestamp | method node | yes |
//! | biz_content missing or not a JSON object | 40002 | isv.invalid-parameter | method node | yes |
//!
//! Charsets: UTF-8 (`utf-8`, `UTF-8`, `utf8`) and GBK (`GBK`, `gbk`,
//! `GB2312`, `GB18030`, as the Java SDK allows). With GBK the parameters are
//! percent-decoded to GBK bytes, the signature is verified over the GBK bytes
//! of the sign string, and the response is GBK-encoded and signed over the
//! GBK bytes of its node. Any other charset is `isv.invalid-charset`.
//!
//! Guarantee: one signature verification and one signature per request; the
//! verification covers the parameters exactly as received.

use std::sync::Arc;
use std::time::Duration;

use protocol::codes::sub;
use protocol::method::ExtMethod;
use protocol::request::{merge_params, param};
use protocol::response::{
    build_signed, build_unsigned, serialize_node, GatewayStatus, ERROR_RESPONSE,
};
use protocol::sign_string::request_sign_content;
use protocol::{clock, Code, Method};
use time::OffsetDateTime;

use crate::biz::Biz;
use crate::methods::{self, Fault};
use crate::profile::{fnv1a, rng_for};
use crate::state::Sim;

/// What the connection does with a gateway request.
#[derive(Debug, Clone)]
pub enum GatewayReply {
    /// Answer this body (HTTP 200, `content_type`), after `delay`.
    Body {
        /// The response bytes, in the request's charset.
        body: Vec<u8>,
        /// `application/json;charset=utf-8` or `application/json;charset=GBK`.
        content_type: &'static str,
        /// The profile's latency for the method (zero for errors and the
        /// methods outside the trade product).
        delay: Duration,
    },
    /// Hold the connection (the request was executed) then drop it.
    Hang,
    /// Reset the connection at once.
    Reset,
}

fn status(code: Code, sub_code: &str, sub_msg: Option<String>) -> String {
    serialize_node(&GatewayStatus {
        code: code.as_str().into(),
        msg: code.msg().into(),
        sub_code: Some(sub_code.into()),
        sub_msg: Some(
            sub_msg.unwrap_or_else(|| sub::sub_msg_zh(sub_code).unwrap_or("参数无效").to_owned()),
        ),
    })
}

/// A method the gateway serves: a trade method or one outside the trade
/// product (merchant onboarding, the heartbeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyMethod {
    /// A trade method (alipay.trade.*, the bill URL query).
    Trade(Method),
    /// ant.merchant.expand.indirect.* or monitor.heartbeat.syn.
    Ext(ExtMethod),
}

impl AnyMethod {
    /// Reads a `method` parameter; `None` for a method the gateway does not
    /// serve (`isv.invalid-method`).
    pub fn parse(s: &str) -> Option<AnyMethod> {
        Method::parse(s)
            .map(AnyMethod::Trade)
            .or_else(|| ExtMethod::parse(s).map(AnyMethod::Ext))
    }

    /// The method name (`alipay.trade.pay`...).
    pub fn as_str(self) -> &'static str {
        match self {
            AnyMethod::Trade(m) => m.as_str(),
            AnyMethod::Ext(m) => m.as_str(),
        }
    }

    /// The key its answer is under (`alipay_trade_pay_response`...).
    pub fn response_node(self) -> &'static str {
        match self {
            AnyMethod::Trade(m) => m.response_node(),
            AnyMethod::Ext(m) => m.response_node(),
        }
    }
}

/// The charset of a request (and of its response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8 (also the default when `charset` is absent).
    Utf8,
    /// GBK (`GBK`, `GB2312` and `GB18030` are all taken as GBK).
    Gbk,
}

impl Charset {
    /// Reads a `charset` value; `None` for an unsupported one.
    pub fn parse(v: &str) -> Option<Charset> {
        match v.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Charset::Utf8),
            "gbk" | "gb2312" | "gb18030" => Some(Charset::Gbk),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Charset::Utf8 => "application/json;charset=utf-8",
            Charset::Gbk => "application/json;charset=GBK",
        }
    }

    fn encode(self, s: &str) -> Vec<u8> {
        self.encode_cow(s).into_owned()
    }

    fn encode_cow(self, s: &str) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Charset::Utf8 => std::borrow::Cow::Borrowed(s.as_bytes()),
            Charset::Gbk => encoding_rs::GBK.encode(s).0,
        }
    }
}

fn unsigned_cs(cs: Charset, node: &str, code: Code, sub_code: &str) -> GatewayReply {
    GatewayReply::Body {
        body: cs.encode(&build_unsigned(node, &status(code, sub_code, None))),
        content_type: cs.content_type(),
        delay: Duration::ZERO,
    }
}

fn unsigned(node: &str, code: Code, sub_code: &str) -> GatewayReply {
    unsigned_cs(Charset::Utf8, node, code, sub_code)
}

fn signed(sim: &Sim, cs: Charset, node: &str, node_json: &str, delay: Duration) -> GatewayReply {
    let body = match cs {
        Charset::Utf8 => build_signed(node, node_json, &sim.signer).map(String::into_bytes),
        Charset::Gbk => {
            // Signed over the GBK bytes of the node; the envelope is ASCII.
            let node_bytes = cs.encode_cow(node_json);
            sim.signer.sign_base64(&node_bytes).map(|sign| {
                let mut out = Vec::with_capacity(node_bytes.len() + sign.len() + node.len() + 16);
                out.extend_from_slice(b"{\"");
                out.extend_from_slice(node.as_bytes());
                out.extend_from_slice(b"\":");
                out.extend_from_slice(&node_bytes);
                out.extend_from_slice(b",\"sign\":\"");
                out.extend_from_slice(sign.as_bytes());
                out.extend_from_slice(b"\"}");
                out
            })
        }
    };
    match body {
        Ok(body) => GatewayReply::Body {
            body,
            content_type: cs.content_type(),
            delay,
        },
        // Signing cannot fail with a valid key; answer like the gateway's own failure.
        Err(_) => unsigned_cs(cs, node, Code::ServiceUnavailable, sub::AOP_UNKNOW_ERROR),
    }
}

/// Percent-decodes `k=v&...` pairs whose bytes are GBK.
fn decode_gbk(input: &[u8]) -> Vec<(String, String)> {
    let dec = |part: &[u8]| -> String {
        let plus: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
        encoding_rs::GBK
            .decode_without_bom_handling(&bytes)
            .0
            .into_owned()
    };
    input
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (dec(&p[..i]), dec(&p[i + 1..])),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// `merge_params` for GBK requests: a key in both keeps the body's value.
fn merge_gbk(query: &[u8], body: &[u8]) -> Vec<(String, String)> {
    let mut out = decode_gbk(body);
    for (k, v) in decode_gbk(query) {
        if !out.iter().any(|(bk, _)| *bk == k) {
            out.push((k, v));
        }
    }
    out
}

/// Handles one `/gateway.do` request (query string and body as received):
/// the front door's checks (the table above), then the method, then the
/// signature. Called by the server for every GET or POST of `/gateway.do`.
pub fn handle(sim: &Arc<Sim>, query: &[u8], body: &[u8]) -> GatewayReply {
    // Decoded as UTF-8 first; the charset parameter is ASCII either way, and a
    // GBK request is decoded again from its bytes.
    let mut params = merge_params(query, body);
    let cs = match param(&params, "charset") {
        None | Some("") => Some(Charset::Utf8),
        Some(v) => Charset::parse(v),
    };
    if cs == Some(Charset::Gbk) {
        params = merge_gbk(query, body);
    }
    let get = |k: &str| param(&params, k).filter(|v| !v.is_empty());
    let missing = [
        ("app_id", sub::ISV_MISSING_APP_ID),
        ("method", sub::ISV_MISSING_METHOD),
        ("sign", sub::ISV_MISSING_SIGNATURE),
        ("sign_type", sub::ISV_MISSING_SIGNATURE_TYPE),
        ("timestamp", sub::ISV_MISSING_TIMESTAMP),
        ("version", sub::ISV_MISSING_VERSION),
    ];
    for (k, sc) in missing {
        if get(k).is_none() {
            return unsigned(ERROR_RESPONSE, Code::MissingRequiredArguments, sc);
        }
    }
    let (Some(app_id), Some(method_s), Some(sign), Some(sign_type), Some(timestamp)) = (
        get("app_id"),
        get("method"),
        get("sign"),
        get("sign_type"),
        get("timestamp"),
    ) else {
        return unsigned(
            ERROR_RESPONSE,
            Code::MissingRequiredArguments,
            sub::ISV_MISSING_APP_ID,
        );
    };
    let Some(method) = AnyMethod::parse(method_s) else {
        return unsigned(
            ERROR_RESPONSE,
            Code::InvalidArguments,
            sub::ISV_INVALID_METHOD,
        );
    };
    let node = method.response_node();
    let Some(verifier) = sim.apps.get(app_id) else {
        return unsigned(node, Code::InvalidArguments, sub::ISV_INVALID_APP_ID);
    };
    match sign_type {
        "RSA2" => {}
        "RSA" => {
            return unsigned(
                node,
                Code::InsufficientConditions,
                sub::ISV_MISSING_SIGNATURE_CONFIG,
            )
        }
        _ => {
            return unsigned(
                node,
                Code::InvalidArguments,
                sub::ISV_INVALID_SIGNATURE_TYPE,
            )
        }
    }
    let content = request_sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // An unsupported charset is answered (signed, in UTF-8) once the signature is checked.
    let (cs, charset_ok) = match cs {
        Some(c) => (c, true),
        None => (Charset::Utf8, false),
    };
    if verifier
        .verify_base64(&cs.encode_cow(&content), sign)
        .is_err()
    {
        let msg = format!(
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}"
        );
        let json = status(
            Code::InvalidArguments,
            sub::ISV_INVALID_SIGNATURE,
            Some(msg),
        );
        return signed(sim, cs, node, &json, Duration::ZERO);
    }
    let bad = |sc: &str| {
        let json = status(Code::InvalidArguments, sc, None);
        signed(sim, cs, node, &json, Duration::ZERO)
    };
    if !charset_ok {
        return bad(sub::ISV_INVALID_CHARSET);
    }
    if let Some(f) = get("format") {
        if !f.eq_ignore_ascii_case("json") {
            return bad(sub::ISV_INVALID_FORMAT);
        }
    }
    if !timestamp_ok(timestamp, sim.cfg.timestamp_window) {
        return bad(sub::ISV_INVALID_TIMESTAMP);
    }
    let Some(biz) = get("biz_content").and_then(Biz::parse) else {
        return bad(sub::ISV_INVALID_PARAMETER);
    };
    let notify_url = get("notify_url");
    let reply = match method {
        AnyMethod::Trade(m) => methods::execute(sim, m, app_id, notify_url, &biz),
        AnyMethod::Ext(m) => {
            let reply = methods::execute_ext(sim, m, app_id, &biz);
            if m == ExtMethod::HeartbeatSyn && sim.profile().behaviour.heartbeat_unsigned {
                // The real monitoring gateway answers heartbeats unsigned.
                return GatewayReply::Body {
                    body: cs.encode(&build_unsigned(node, &reply.node_json)),
                    content_type: cs.content_type(),
                    delay: Duration::ZERO,
                };
            }
            reply
        }
    };
    // Never logs keys, signatures or auth codes.
    tracing::debug!(
        app_id,
        method = method.as_str(),
        fault = ?reply.fault,
        "gateway request"
    );
    match reply.fault {
        Some(Fault::Hang) => GatewayReply::Hang,
        Some(Fault::Reset) => GatewayReply::Reset,
        None => {
            let delay = match method {
                AnyMethod::Trade(m) => latency(sim, m, sign),
                AnyMethod::Ext(_) => Duration::ZERO,
            };
            signed(sim, cs, node, &reply.node_json, delay)
        }
    }
}

/// Whether a `timestamp` parses (`yyyy-MM-dd HH:mm:ss`, Beijing time) and
/// lies within `window` of now.
pub fn timestamp_ok(ts: &str, window: Duration) -> bool {
    let Ok(t) = clock::parse_gateway_time(ts) else {
        return false;
    };
    let diff = (OffsetDateTime::now_utc() - t).abs();
    diff <= time::Duration::try_from(window).unwrap_or(time::Duration::MAX)
}

/// The profile's latency for this method, drawn from the seed and the request's signature.
fn latency(sim: &Sim, method: Method, sign: &str) -> Duration {
    let p = sim.profile();
    match p.latency_of(method.as_str()) {
        None => Duration::ZERO,
        Some(l) => {
            let h = fnv1a(&[sign.as_bytes()]);
            let mut rng = rng_for(p.seed, &h.to_string(), "latency", 0);
            l.sample(&mut rng)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_window_and_charsets() {
        let w = Duration::from_secs(900);
        let now = OffsetDateTime::now_utc();
        assert!(timestamp_ok(&clock::format_gateway_time(now), w));
        assert!(timestamp_ok(
            &clock::format_gateway_time(now - time::Duration::minutes(14)),
            w
        ));
        assert!(!timestamp_ok(
            &clock::format_gateway_time(now + time::Duration::minutes(16)),
            w
        ));
        // UTC wall time read as Beijing time is 8 hours off.
        let utc = now.to_offset(time::UtcOffset::UTC);
        let naive = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        );
        assert!(!timestamp_ok(&naive, w));
        assert!(!timestamp_ok("2026-01-01T00:00:00", w));
        assert_eq!(Charset::parse("UTF-8"), Some(Charset::Utf8));
        assert_eq!(Charset::parse("gb2312"), Some(Charset::Gbk));
        assert_eq!(Charset::parse("latin1"), None);
        assert_eq!(
            decode_gbk(b"a=%B2%E2%CA%D4&b=x+y&c"),
            vec![
                ("a".to_owned(), "测试".to_owned()),
                ("b".to_owned(), "x y".to_owned()),
                ("c".to_owned(), String::new())
            ]
        );
    }
}

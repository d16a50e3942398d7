//! The terminal contract as the switch writes it: the trade and refund JSON
//! of ../API.md section 1 (with `cashier_action`), and the PSW1 HMAC
//! signature that terminals put on requests and that the switch puts on the
//! results it relays to merchants. One place, used by the API and the relay.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use protocol::Money;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::flow::policy;
use crate::trade::{Refund, RefundStatus, Status, Trade};

pub fn trade_json(t: &Trade) -> Value {
    let mut m = Map::new();
    m.insert("out_trade_no".into(), json!(t.terminal_out_trade_no()));
    if t.terminal_no.is_some() {
        m.insert("gateway_out_trade_no".into(), json!(t.out_trade_no));
    }
    m.insert("status".into(), json!(t.status.as_str()));
    if let Some(v) = &t.trade_no {
        m.insert("trade_no".into(), json!(v));
    }
    m.insert("total_amount".into(), json!(t.total_amount.to_wire()));
    if let Some(v) = t.receipt_amount {
        m.insert("receipt_amount".into(), json!(v.to_wire()));
    }
    if let Some(v) = &t.buyer_logon_id {
        m.insert("buyer_logon_id".into(), json!(v));
    }
    if let Some(v) = &t.gmt_payment {
        m.insert("gmt_payment".into(), json!(v));
    }
    m.insert("refunded_amount".into(), json!(t.refunded_amount.to_wire()));
    if let Some(v) = &t.qr_code {
        m.insert("qr_code".into(), json!(v));
    }
    if t.status == Status::Failed {
        for (k, v) in [
            ("code", &t.code),
            ("sub_code", &t.sub_code),
            ("sub_msg", &t.sub_msg),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
    }
    if let Some(a) = policy::cashier_action(t.status, t.code.as_deref(), t.sub_code.as_deref()) {
        m.insert("cashier_action".into(), json!(a.as_str()));
    }
    Value::Object(m)
}

/// A refund as terminals see it.
pub fn refund_json(r: &Refund, total: Money) -> Value {
    let mut m = Map::new();
    m.insert("out_trade_no".into(), json!(r.out_trade_no));
    m.insert("out_request_no".into(), json!(r.out_request_no));
    m.insert("refund_amount".into(), json!(r.refund_amount.to_wire()));
    m.insert("status".into(), json!(r.status.as_str()));
    m.insert("refunded_amount".into(), json!(total.to_wire()));
    if r.status == RefundStatus::Failed {
        for (k, v) in [
            ("code", &r.code),
            ("sub_code", &r.sub_code),
            ("sub_msg", &r.sub_msg),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
    }
    Value::Object(m)
}

/// The string a terminal signs.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{method}\n{path_and_query}\n{ts}\n{nonce}\n{}",
        hex::encode(Sha256::digest(body))
    )
}

/// Computes the `sig` value (what a terminal does).
pub fn sign(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    // HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(string_to_sign(method, path_and_query, ts, nonce, body).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

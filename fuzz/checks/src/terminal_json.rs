//! Target `terminal_json`: the JSON bodies terminals send, validated into
//! orders ([`engine::api::parse_pay`], [`engine::api::parse_precreate`],
//! [`engine::api::parse_refund`]).
//!
//! Input: one selector byte (pay, precreate, refund), then the body.
//!
//! Asserted:
//! - an accepted body is a JSON object of known fields only, and each
//!   validated field is exactly the body's value and passes its own
//!   validator again (amounts: the same [`Money`], at least 0.01);
//! - a refusal is a 400 with one of the documented codes; a field error
//!   names a field of the request or the unknown key at fault, and starts
//!   its message with it; a refused auth_code is never echoed.

use engine::api::{parse_pay, parse_precreate, parse_refund, ApiError};
use protocol::money::{MAX_AMOUNT_FEN, MIN_AMOUNT_FEN};
use protocol::{AuthCode, Money, OutRequestNo, OutTradeNo, Scene, Subject, TimeoutExpress};
use serde_json::{Map, Value};

const PAY: [&str; 9] = [
    "out_trade_no",
    "auth_code",
    "total_amount",
    "subject",
    "scene",
    "body",
    "operator_id",
    "timeout_express",
    "goods_detail",
];
const PRECREATE: [&str; 5] = [
    "out_trade_no",
    "total_amount",
    "subject",
    "timeout_express",
    "notify_url",
];
const REFUND: [&str; 3] = ["out_request_no", "refund_amount", "refund_reason"];

/// The fuzz target.
pub fn terminal_json(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    };
    match sel % 3 {
        0 => match parse_pay(body) {
            Ok(o) => {
                let m = accepted(obj, &PAY);
                assert_eq!(Some(o.out_trade_no.as_str()), s(&m, "out_trade_no"));
                assert_eq!(Some(o.auth_code.as_str()), s(&m, "auth_code"));
                assert!(AuthCode::parse(o.auth_code.as_str()).is_ok());
                amount(&m, "total_amount", o.total_amount);
                assert_eq!(Some(o.subject.as_str()), s(&m, "subject"));
                assert!(Subject::parse(o.subject.as_str()).is_ok());
                assert!(OutTradeNo::parse(o.out_trade_no.as_str()).is_ok());
                let scene = s(&m, "scene").map_or(Ok(Scene::BarCode), Scene::parse);
                assert_eq!(scene, Ok(o.scene));
                assert_eq!(o.body.as_deref(), s(&m, "body"));
                if let Some(b) = &o.body {
                    assert!(b.chars().count() <= 128 && !b.trim().is_empty());
                }
                assert_eq!(o.operator_id.as_deref(), s(&m, "operator_id"));
                if let Some(op) = &o.operator_id {
                    assert!((1..=28).contains(&op.len()));
                }
                timeout(&m, o.timeout_express.as_ref());
                match &o.goods_detail {
                    None => assert!(matches!(m.get("goods_detail"), None | Some(Value::Null))),
                    Some(g) => {
                        assert_eq!(Some(g), m.get("goods_detail"));
                        let a = g.as_array().expect("an array");
                        assert!(a.len() <= 100 && a.iter().all(Value::is_object));
                    }
                }
            }
            Err(e) => refused(&e, obj, &PAY, s_of(body, "auth_code")),
        },
        1 => match parse_precreate(body) {
            Ok(o) => {
                let m = accepted(obj, &PRECREATE);
                assert_eq!(Some(o.out_trade_no.as_str()), s(&m, "out_trade_no"));
                amount(&m, "total_amount", o.total_amount);
                assert_eq!(Some(o.subject.as_str()), s(&m, "subject"));
                timeout(&m, o.timeout_express.as_ref());
                assert_eq!(o.notify_url.as_deref(), s(&m, "notify_url"));
                if let Some(u) = &o.notify_url {
                    assert!(u.len() <= 256);
                    assert!(u.starts_with("https://") || u.starts_with("http://"));
                }
            }
            Err(e) => refused(&e, obj, &PRECREATE, None),
        },
        _ => match parse_refund(body) {
            Ok(o) => {
                let m = accepted(obj, &REFUND);
                assert_eq!(Some(o.out_request_no.as_str()), s(&m, "out_request_no"));
                assert!(OutRequestNo::parse(o.out_request_no.as_str()).is_ok());
                amount(&m, "refund_amount", o.refund_amount);
                assert_eq!(o.refund_reason.as_deref(), s(&m, "refund_reason"));
                if let Some(r) = &o.refund_reason {
                    assert!(r.chars().count() <= 256 && !r.chars().any(char::is_control));
                }
            }
            Err(e) => refused(&e, obj, &REFUND, None),
        },
    }
}

fn accepted(obj: Option<Map<String, Value>>, allowed: &[&str]) -> Map<String, Value> {
    let m = obj.expect("an accepted body is a JSON object");
    for k in m.keys() {
        assert!(allowed.contains(&k.as_str()), "unknown field {k} accepted");
    }
    m
}

fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

fn s_of(body: &[u8], k: &str) -> Option<String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => s(&m, k).map(str::to_owned),
        _ => None,
    }
}

fn amount(m: &Map<String, Value>, k: &str, got: Money) {
    let v = s(m, k).expect("an accepted amount is a string");
    assert_eq!(Money::parse_amount(v), Ok(got));
    assert!((MIN_AMOUNT_FEN..=MAX_AMOUNT_FEN).contains(&got.fen()));
    assert_eq!(Money::parse_wire(&got.to_wire()), Ok(got));
}

fn timeout(m: &Map<String, Value>, got: Option<&TimeoutExpress>) {
    assert_eq!(got.map(TimeoutExpress::as_str), s(m, "timeout_express"));
    if let Some(t) = got {
        if let Some(min) = t.minutes() {
            assert!((1..=15 * 1440).contains(&min));
        } else {
            assert_eq!(t.as_str(), "1c");
        }
    }
}

fn refused(
    e: &ApiError,
    obj: Option<Map<String, Value>>,
    allowed: &[&str],
    auth_code: Option<String>,
) {
    assert_eq!(e.status.as_u16(), 400, "{e:?}");
    match e.code {
        "invalid_json" => {
            assert!(e.field.is_none());
            assert!(obj.is_none(), "a JSON object refused as invalid JSON");
        }
        "invalid_field" | "missing_field" => {
            let m = obj.expect("a field error on a JSON object");
            let f = e.field.as_deref().expect("a field error names the field");
            assert!(
                allowed.contains(&f) || m.contains_key(f),
                "the error names {f}, neither a field nor a key of the body"
            );
            assert!(
                e.message.starts_with(f),
                "{:?} does not start with {f}",
                e.message
            );
            if e.code == "missing_field" {
                assert!(matches!(m.get(f), None | Some(Value::Null)), "{f} is there");
            }
        }
        c => panic!("undocumented error code {c}"),
    }
    if let (Some(a), Some("auth_code")) = (auth_code, e.field.as_deref()) {
        if a.len() >= 8 && a.bytes().all(|c| c.is_ascii_digit()) {
            assert!(!e.message.contains(&a), "the auth code is echoed");
        }
    }
}

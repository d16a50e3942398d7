//! Property tests: money round trips, sign strings, and the request/response
//! round trip between a signer and a verifier.

use proptest::prelude::*;
use protocol::money::MAX_AMOUNT_FEN;
use protocol::request::{decode_form, param, sign_request, CommonOptions};
use protocol::response::{build_signed, serialize_node, verify_response, PayResponse};
use protocol::sign_string::request_sign_content;
use protocol::{Money, Signer, Verifier};

const PKCS8: &str = include_str!("vectors/TEST-ONLY-private-pkcs8.pem");

proptest! {
    #[test]
    fn money_round_trips(fen in 0u64..=MAX_AMOUNT_FEN) {
        let m = Money::from_fen(fen);
        let wire = m.to_wire();
        prop_assert_eq!(Money::parse_wire(&wire).unwrap(), m);
        let (int, frac) = wire.split_once('.').unwrap();
        prop_assert_eq!(frac.len(), 2);
        prop_assert!(!int.is_empty());
    }

    #[test]
    fn money_rejects_garbage(s in "[-+ eE.,0-9]{0,14}") {
        if let Ok(m) = Money::parse_wire(&s) {
            // Anything accepted is digits with at most one dot and two decimals.
            prop_assert!(s.bytes().all(|c| c.is_ascii_digit() || c == b'.'));
            prop_assert!(s.matches('.').count() <= 1);
            prop_assert!(s.split('.').nth(1).map_or(true, |f| !f.is_empty() && f.len() <= 2));
            prop_assert!(m.fen() <= MAX_AMOUNT_FEN);
        }
    }

    #[test]
    fn sign_string_is_sorted_and_skips_empty(
        pairs in proptest::collection::vec(("[a-z_]{1,8}", "[ -~]{0,12}"), 0..12)
    ) {
        let s = request_sign_content(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let kept: Vec<&(String, String)> =
            pairs.iter().filter(|(k, v)| !v.is_empty() && k != "sign").collect();
        if kept.is_empty() {
            prop_assert_eq!(s, "");
        } else {
            // Rebuild the pairs from the string: key order is byte order.
            let mut keys: Vec<&str> = kept.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort();
            let mut pos = 0;
            for k in keys {
                let at = s[pos..].find(&format!("{k}=")).map(|i| i + pos);
                prop_assert!(at.is_some());
                pos = at.unwrap();
            }
            prop_assert_eq!(s.len(), kept.iter().map(|(k, v)| k.len() + v.len() + 1).sum::<usize>() + kept.len() - 1);
        }
    }
}

#[test]
fn request_body_carries_a_signature_over_the_decoded_params() {
    let signer = Signer::from_text(PKCS8).unwrap();
    let verifier: Verifier = signer.verifier().unwrap();
    let biz = r#"{"out_trade_no":"A1","subject":"咖啡 & 茶 = 100%","total_amount":"1.00"}"#;
    let req = sign_request(
        &signer,
        "2021000000000001",
        "alipay.trade.precreate",
        biz,
        "2026-11-22 10:00:00",
        CommonOptions {
            notify_url: Some("https://switch.example/notify/alipay?x=1&y=2"),
            app_auth_token: None,
        },
    )
    .unwrap();
    let params = decode_form(req.body.as_bytes());
    assert_eq!(param(&params, "biz_content"), Some(biz));
    assert_eq!(param(&params, "timestamp"), Some("2026-11-22 10:00:00"));
    assert_eq!(param(&params, "sign_type"), Some("RSA2"));
    assert_eq!(param(&params, "app_auth_token"), None);
    let content = request_sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    verifier
        .verify_base64(content.as_bytes(), param(&params, "sign").unwrap())
        .unwrap();
}

#[test]
fn built_responses_verify_and_escape_slashes() {
    let signer = Signer::from_text(PKCS8).unwrap();
    let verifier: Verifier = signer.verifier().unwrap();
    let node = PayResponse {
        code: "10000".into(),
        msg: "Success".into(),
        out_trade_no: Some("A/1".into()),
        total_amount: Some(Money::from_fen(100)),
        ..Default::default()
    };
    let json = serialize_node(&node);
    assert!(json.contains(r#""A\/1""#));
    let body = build_signed("alipay_trade_pay_response", &json, &signer).unwrap();
    assert!(body.starts_with(r#"{"alipay_trade_pay_response":{"code":"10000""#));
    assert!(body.ends_with("\"}"));
    let v =
        verify_response::<PayResponse, _>(&body, "alipay_trade_pay_response", &verifier).unwrap();
    assert_eq!(v.body, node);
}

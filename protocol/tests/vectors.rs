//! Test vectors made outside this crate, by openssl (tests/vectors/make-vectors.sh).
//! RSA PKCS#1 v1.5 is deterministic, so the signer must produce exactly
//! openssl's bytes; the verifier must accept them and refuse one flipped bit.

use base64::Engine as _;
use protocol::crypto::{self, decode_key_text, KeyText};
use protocol::response::{extract, verify_response, PayResponse, QueryResponse, ResponseError};
use protocol::{Money, Notification, Signer, TradeStatus, Verifier};

const PKCS8: &str = include_str!("vectors/TEST-ONLY-private-pkcs8.pem");
const PKCS1: &str = include_str!("vectors/TEST-ONLY-private-pkcs1.pem");
const PUBLIC: &str = include_str!("vectors/TEST-ONLY-public.pem");

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn vectors() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "ascii",
            include_str!("vectors/msg-ascii.txt"),
            include_str!("vectors/msg-ascii.sig.b64"),
        ),
        (
            "chinese",
            include_str!("vectors/msg-chinese.txt"),
            include_str!("vectors/msg-chinese.sig.b64"),
        ),
        (
            "long",
            include_str!("vectors/msg-long.txt"),
            include_str!("vectors/msg-long.sig.b64"),
        ),
        (
            "notify",
            include_str!("vectors/msg-notify.txt"),
            include_str!("vectors/msg-notify.sig.b64"),
        ),
    ]
}

/// Strips PEM armour: the bare base64 form Alipay's key tool also writes.
fn bare(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn signers() -> Vec<(&'static str, Signer)> {
    vec![
        ("pkcs8 pem", Signer::from_text(PKCS8).unwrap()),
        ("pkcs1 pem", Signer::from_text(PKCS1).unwrap()),
        ("pkcs8 bare", Signer::from_text(&bare(PKCS8)).unwrap()),
        ("pkcs1 bare", Signer::from_text(&bare(PKCS1)).unwrap()),
    ]
}

#[test]
fn signer_produces_openssl_bytes_in_every_key_form() {
    for (form, signer) in signers() {
        for (name, msg, sig) in vectors() {
            assert_eq!(
                signer.sign_base64(msg.as_bytes()).unwrap(),
                sig.trim(),
                "{form} / {name}"
            );
        }
    }
}

#[test]
fn verifier_accepts_openssl_and_refuses_a_flipped_bit() {
    for verifier in [
        Verifier::from_text(PUBLIC).unwrap(),
        Verifier::from_text(&bare(PUBLIC)).unwrap(),
    ] {
        for (name, msg, sig) in vectors() {
            let raw = b64().decode(sig.trim()).unwrap();
            verifier
                .verify(msg.as_bytes(), &raw)
                .unwrap_or_else(|_| panic!("{name}"));
            let mut flipped = raw.clone();
            flipped[100] ^= 0x01;
            assert!(verifier.verify(msg.as_bytes(), &flipped).is_err(), "{name}");
            let mut msg_flipped = msg.as_bytes().to_vec();
            msg_flipped[7] ^= 0x01;
            assert!(verifier.verify(&msg_flipped, &raw).is_err(), "{name}");
        }
    }
}

#[cfg(feature = "ring")]
#[test]
fn ring_backend_matches_openssl_too() {
    let signer = crypto::ring::Signer::from_text(PKCS8).unwrap();
    let verifier = crypto::ring::Verifier::from_text(PUBLIC).unwrap();
    for (name, msg, sig) in vectors() {
        assert_eq!(
            signer.sign_base64(msg.as_bytes()).unwrap(),
            sig.trim(),
            "{name}"
        );
        verifier.verify_base64(msg.as_bytes(), sig.trim()).unwrap();
    }
}

#[test]
fn public_key_round_trips_through_the_signer() {
    let signer = Signer::from_text(PKCS8).unwrap();
    let from_file = match decode_key_text(PUBLIC).unwrap() {
        KeyText::SpkiPublic(der) => der,
        _ => panic!("expected SPKI"),
    };
    assert_eq!(signer.public_key_spki_der(), from_file);
    assert_eq!(signer.public_key_pem().trim(), PUBLIC.trim());
}

#[test]
fn wrong_kinds_of_key_are_refused_with_typed_errors() {
    assert_eq!(
        Signer::from_text(PUBLIC).unwrap_err(),
        crypto::KeyError::PublicWherePrivateExpected
    );
    assert_eq!(
        Verifier::from_text(PKCS8).unwrap_err(),
        crypto::KeyError::PrivateWherePublicExpected
    );
    assert_eq!(
        Signer::from_text("  ").unwrap_err(),
        crypto::KeyError::Empty
    );
    assert!(Signer::from_text("not base64 !!").is_err());
    assert!(Signer::from_text("QUJDRA==").is_err());
}

#[test]
fn no_key_material_in_debug_or_display() {
    let signer = Signer::from_text(PKCS8).unwrap();
    let verifier = Verifier::from_text(PUBLIC).unwrap();
    let dbg = format!("{signer:?} {verifier:?}");
    let b = bare(PKCS8);
    for window in b.as_bytes().chunks(12) {
        let w = std::str::from_utf8(window).unwrap();
        assert!(!dbg.contains(w), "key bytes leaked into Debug: {dbg}");
    }
    assert!(dbg.contains("redacted"));
    // Errors never quote the key either.
    let mangled = PKCS8.replace('A', "B");
    let err = Signer::from_text(&mangled).unwrap_err();
    let text = format!("{err} {err:?}");
    for window in bare(&mangled).as_bytes().chunks(12) {
        assert!(!text.contains(std::str::from_utf8(window).unwrap()));
    }
}

#[test]
fn signed_responses_extract_and_verify() {
    let verifier = Verifier::from_text(PUBLIC).unwrap();
    let body = include_str!("vectors/resp-pay-braces.body.json");
    let node = include_str!("vectors/resp-pay-braces.node.json");
    let ex = extract(body, "alipay_trade_pay_response").unwrap();
    assert_eq!(ex.content, node);
    let v =
        verify_response::<PayResponse, _>(body, "alipay_trade_pay_response", &verifier).unwrap();
    assert_eq!(v.body.code, "10000");
    assert_eq!(v.body.total_amount, Some(Money::from_fen(8888)));
    assert_eq!(
        v.body.store_name.as_deref(),
        Some("{Brace} \"Quoted\" [shop] }{")
    );

    let body = include_str!("vectors/resp-query-chinese.body.json");
    let v = verify_response::<QueryResponse, _>(body, "alipay_trade_query_response", &verifier)
        .unwrap();
    assert_eq!(v.body.buyer_logon_id.as_deref(), Some("张***@qq.com"));
    assert_eq!(v.body.trade_status.as_deref(), Some("TRADE_SUCCESS"));

    // One changed character inside the node breaks the signature.
    let tampered = body.replace("1000.00", "1000.01");
    assert_eq!(
        verify_response::<QueryResponse, _>(&tampered, "alipay_trade_query_response", &verifier)
            .unwrap_err(),
        ResponseError::BadSignature
    );
}

#[test]
fn unsigned_bodies_are_never_success() {
    let verifier = Verifier::from_text(PUBLIC).unwrap();
    let body = r#"{"alipay_trade_query_response":{"sub_code":"isv.invalid-app-id","code":"40002","sub_msg":"无效的AppID参数","msg":"Invalid Arguments"}}"#;
    match verify_response::<QueryResponse, _>(body, "alipay_trade_query_response", &verifier) {
        Err(ResponseError::Unsigned(s)) => {
            assert_eq!(s.code, "40002");
            assert_eq!(s.sub_code.as_deref(), Some("isv.invalid-app-id"));
        }
        other => panic!("{other:?}"),
    }
    let forged = r#"{"alipay_trade_pay_response":{"code":"10000","msg":"Success"}}"#;
    assert!(matches!(
        verify_response::<PayResponse, _>(forged, "alipay_trade_pay_response", &verifier),
        Err(ResponseError::Unsigned(_))
    ));
}

#[test]
fn notification_verifies_over_all_but_sign_and_sign_type() {
    let verifier = Verifier::from_text(PUBLIC).unwrap();
    let form = include_str!("vectors/notify-form.txt").trim();
    let sig = include_str!("vectors/msg-notify.sig.b64").trim();
    let mut params = protocol::request::decode_form(form.as_bytes());
    params.push(("sign".into(), sig.into()));
    let n = Notification::verify(params.clone(), &verifier).unwrap();
    assert_eq!(n.trade_status, Some(TradeStatus::TradeSuccess));
    assert_eq!(n.total_amount, Some(Money::from_fen(10)));
    assert_eq!(n.fund_bill_list[0].fund_channel, "ALIPAYACCOUNT");
    assert_eq!(n.out_trade_no, "T20261122003");
    // Changing a signed field breaks it.
    let mut bad = params.clone();
    for (k, v) in bad.iter_mut() {
        if k == "total_amount" {
            *v = "100.00".into();
        }
    }
    assert!(Notification::verify(bad, &verifier).is_err());
    // The signer side produces a body the verifier accepts.
    let signer = Signer::from_text(PKCS8).unwrap();
    let fields: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "sign" && k != "sign_type")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = protocol::notify::sign_notification(&fields, &signer).unwrap();
    let back = protocol::request::decode_form(body.as_bytes());
    let n2 = Notification::verify(back.clone(), &verifier).unwrap();
    assert_eq!(n2.notify_id, n.notify_id);
    assert_eq!(protocol::request::param(&back, "sign"), Some(sig));
}

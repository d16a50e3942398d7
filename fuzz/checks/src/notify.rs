//! Target `notify`: an asynchronous notification, from form body to typed
//! fields.
//!
//! Input: the form body (`application/x-www-form-urlencoded`), any bytes.
//!
//! Asserted:
//! - as received, against the TEST-ONLY RSA key (one input in 8, the
//!   others against the stand-in of [`crate::digest_key`]): a verified notification's
//!   signature really verifies over the sign string, and its typed fields
//!   are exactly the form's values (first occurrence, empty = absent;
//!   amounts parse back to the same [`Money`], statuses to the same name);
//!   a refusal names a field that is missing or invalid in the form;
//! - self-signed (the fields signed by the target with
//!   [`protocol::notify::sign_notification`], then decoded again): the form
//!   encoding round-trips every field, a correctly signed notification is
//!   never refused for its signature and reads the same as the unsigned
//!   reader, and one field more breaks the signature. One input in 64 is
//!   also signed with the real RSA key.

use protocol::crypto::{RsaVerifier, VerifyingKey};
use protocol::notify::{sign_notification, NotifyFundBill};
use protocol::request::decode_form;
use protocol::sign_string::notification_sign_content;
use protocol::{Money, Notification, NotifyError, TradeStatus};

use crate::keys::{digest_signer, digest_verifier, rsa_signer, rsa_verifier};

/// The fuzz target.
pub fn notify(data: &[u8]) {
    let params = decode_form(data);
    // Chosen by the input: one in 8 is verified as received with the real
    // RSA key (the others with the stand-in), one in 64 also signed with it.
    let h = crate::hash(data);
    if h % 8 == 0 {
        as_received(&params, rsa_verifier());
    } else {
        as_received(&params, digest_verifier());
    }
    self_signed(&params, h % 64 == 0);
}

/// What `Notification` reads for a key: the first occurrence, empty = absent.
fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

const MONEY: [&str; 6] = [
    "total_amount",
    "receipt_amount",
    "buyer_pay_amount",
    "point_amount",
    "invoice_amount",
    "refund_fee",
];
const REQUIRED: [&str; 4] = ["notify_id", "notify_type", "app_id", "out_trade_no"];

fn check_fields(n: &Notification, p: &[(String, String)]) {
    assert_eq!(n.raw, p, "raw is not the form as received");
    let s = |k: &str| get(p, k).map(str::to_owned);
    assert_eq!(Some(n.notify_id.clone()), s("notify_id"));
    assert_eq!(Some(n.notify_type.clone()), s("notify_type"));
    assert_eq!(Some(n.app_id.clone()), s("app_id"));
    assert_eq!(Some(n.out_trade_no.clone()), s("out_trade_no"));
    assert_eq!(n.trade_no, s("trade_no"));
    assert_eq!(n.notify_time, s("notify_time"));
    assert_eq!(n.buyer_logon_id, s("buyer_logon_id"));
    assert_eq!(n.gmt_payment, s("gmt_payment"));
    assert_eq!(
        n.trade_status.map(TradeStatus::as_str),
        get(p, "trade_status")
    );
    let amounts = [
        n.total_amount,
        n.receipt_amount,
        n.buyer_pay_amount,
        n.point_amount,
        n.invoice_amount,
        n.refund_fee,
    ];
    for (k, m) in MONEY.iter().zip(amounts) {
        assert_eq!(m, get(p, k).map(|v| Money::parse_wire(v).expect("read it")));
        if let Some(m) = m {
            assert_eq!(
                Money::parse_wire(&m.to_wire()),
                Ok(m),
                "{k} does not round-trip"
            );
        }
    }
    let bills: Vec<NotifyFundBill> = match get(p, "fund_bill_list") {
        None => Vec::new(),
        Some(v) => serde_json::from_str(v).expect("read it"),
    };
    assert_eq!(n.fund_bill_list, bills);
}

/// A refusal names what is wrong in the form.
fn check_refusal(e: &NotifyError, p: &[(String, String)]) {
    match e {
        NotifyError::Missing(k) => assert!(get(p, k).is_none(), "{k} is there"),
        NotifyError::Invalid { field, .. } => {
            let v = get(p, field).unwrap_or_else(|| panic!("invalid {field} is absent"));
            match *field {
                "trade_status" => assert!(TradeStatus::parse(v).is_none()),
                "fund_bill_list" => {
                    assert!(serde_json::from_str::<Vec<NotifyFundBill>>(v).is_err())
                }
                k if MONEY.contains(&k) => assert!(Money::parse_wire(v).is_err()),
                k => panic!("unexpected invalid field {k}"),
            }
        }
        NotifyError::SignType(t) => assert_eq!(get(p, "sign_type"), Some(t.as_str())),
        NotifyError::BadSignature => assert!(get(p, "sign").is_some()),
    }
    if let NotifyError::Missing(k) = e {
        assert!(
            *k == "sign" || REQUIRED.contains(k),
            "unexpected missing {k}"
        );
    }
}

fn as_received<K: VerifyingKey>(params: &[(String, String)], verifier: &RsaVerifier<K>) {
    let read = Notification::read(params.to_vec());
    match &read {
        Ok(n) => check_fields(n, params),
        Err(e) => check_refusal(e, params),
    }
    match Notification::verify(params.to_vec(), verifier) {
        Ok(n) => {
            let content =
                notification_sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let sign = get(params, "sign").expect("verified, so signed");
            assert!(verifier.verify_base64(content.as_bytes(), sign).is_ok());
            assert_eq!(Ok(&n), read.as_ref(), "verify and read disagree");
        }
        Err(e) => check_refusal(&e, params),
    }
}

fn self_signed(params: &[(String, String)], real_rsa: bool) {
    let fields: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let form = sign_notification(&fields, digest_signer()).expect("the digest key signs");
    let decoded = decode_form(form.as_bytes());
    // The form round-trips: the fields but sign and sign_type, in order,
    // then sign_type=RSA2 and the signature.
    let kept: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "sign" && k != "sign_type")
        .cloned()
        .collect();
    assert!(
        decoded.len() == kept.len() + 2,
        "the form lost or gained fields"
    );
    assert_eq!(
        decoded[..kept.len()],
        kept[..],
        "the form does not round-trip"
    );
    assert_eq!(decoded[kept.len()].0, "sign_type");
    assert_eq!(decoded[kept.len()].1, "RSA2");
    assert_eq!(decoded[kept.len() + 1].0, "sign");
    let verified = Notification::verify(decoded.clone(), digest_verifier());
    assert!(
        !matches!(
            verified,
            Err(NotifyError::BadSignature
                | NotifyError::SignType(_)
                | NotifyError::Missing("sign"))
        ),
        "a correctly signed notification is refused: {verified:?}"
    );
    assert_eq!(verified, Notification::read(decoded.clone()));
    // One field more, and the signature no longer covers the form.
    let mut tampered = decoded.clone();
    tampered.push(("zz_fuzz".to_owned(), "1".to_owned()));
    assert_eq!(
        Notification::verify(tampered, digest_verifier()).err(),
        Some(NotifyError::BadSignature)
    );
    if real_rsa {
        let form = sign_notification(&fields, rsa_signer()).expect("the RSA key signs");
        let real = Notification::verify(decode_form(form.as_bytes()), rsa_verifier());
        assert_eq!(
            real.map(|n| n.out_trade_no),
            verified.map(|n| n.out_trade_no),
            "the RSA and digest backends disagree"
        );
    }
}

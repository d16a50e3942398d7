//! The bodies of the `/v1` endpoints (docs/API.md section 1), as serde
//! types: what a terminal sends and what the switch answers.
//!
//! Money is [`Money`] (integer fen); on the wire it is the decimal string
//! `"88.88"`. Optional fields are left out of the JSON when `None`. The
//! switch validates request bodies field by field (each error names the
//! field); the `FIELDS` constant of each request type is the list of keys
//! it accepts, the same list the switch checks against.

use protocol::Money;
use serde::{Deserialize, Serialize};

use crate::status::{CashierAction, RefundStatus, Status};

/// `POST /v1/pay?wait=S`: a barcode payment (the buyer's payment code
/// scanned by the terminal).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PayRequest {
    /// The terminal's number for this trade, unique per terminal; a retry
    /// keeps it (and every other field).
    pub out_trade_no: String,
    /// The buyer's payment code. A payment credential: never logged, never
    /// in `Debug`.
    pub auth_code: String,
    /// The amount to pay.
    pub total_amount: Money,
    /// What is bought, as the buyer's receipt shows it.
    pub subject: String,
    /// `bar_code` (the default) or `wave_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    /// A longer description, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The cashier, 1 to 28 letters, digits, `_` or `-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<String>,
    /// How long the buyer has, e.g. `"5m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_express: Option<String>,
    /// The goods, passed to the gateway as they are (at most 100 objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_detail: Option<Vec<serde_json::Value>>,
}

impl PayRequest {
    /// The keys a pay body may hold.
    pub const FIELDS: &'static [&'static str] = &[
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

    /// A pay of `total_amount` with the required fields only.
    pub fn new(
        out_trade_no: impl Into<String>,
        auth_code: impl Into<String>,
        total_amount: Money,
        subject: impl Into<String>,
    ) -> PayRequest {
        PayRequest {
            out_trade_no: out_trade_no.into(),
            auth_code: auth_code.into(),
            total_amount,
            subject: subject.into(),
            scene: None,
            body: None,
            operator_id: None,
            timeout_express: None,
            goods_detail: None,
        }
    }
}

impl std::fmt::Debug for PayRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayRequest")
            .field("out_trade_no", &self.out_trade_no)
            .field("auth_code", &"<redacted>")
            .field("total_amount", &self.total_amount)
            .field("subject", &self.subject)
            .field("scene", &self.scene)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/precreate`: a QR trade the buyer scans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecreateRequest {
    /// The terminal's number for this trade.
    pub out_trade_no: String,
    /// The amount to pay.
    pub total_amount: Money,
    /// What is bought.
    pub subject: String,
    /// How long the QR code stays payable, e.g. `"15m"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_express: Option<String>,
    /// A longer description, at most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The cashier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<String>,
    /// The goods (at most 100 objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goods_detail: Option<Vec<serde_json::Value>>,
    /// Where the switch relays the final result (must be the merchant's
    /// registered relay URL or under it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
}

impl PrecreateRequest {
    /// The keys a precreate body may hold.
    pub const FIELDS: &'static [&'static str] = &[
        "out_trade_no",
        "total_amount",
        "subject",
        "timeout_express",
        "body",
        "operator_id",
        "goods_detail",
        "notify_url",
    ];

    /// A precreate with the required fields only.
    pub fn new(
        out_trade_no: impl Into<String>,
        total_amount: Money,
        subject: impl Into<String>,
    ) -> PrecreateRequest {
        PrecreateRequest {
            out_trade_no: out_trade_no.into(),
            total_amount,
            subject: subject.into(),
            timeout_express: None,
            body: None,
            operator_id: None,
            goods_detail: None,
            notify_url: None,
        }
    }
}

/// `POST /v1/trades/{out_trade_no}/refunds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The terminal's number for this refund, unique per trade; a retry
    /// keeps it.
    pub out_request_no: String,
    /// How much to give back (at most what is left of the trade).
    pub refund_amount: Money,
    /// Why, at most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

impl RefundRequest {
    /// The keys a refund body may hold.
    pub const FIELDS: &'static [&'static str] =
        &["out_request_no", "refund_amount", "refund_reason"];

    /// A refund without a reason.
    pub fn new(out_request_no: impl Into<String>, refund_amount: Money) -> RefundRequest {
        RefundRequest {
            out_request_no: out_request_no.into(),
            refund_amount,
            refund_reason: None,
        }
    }
}

/// A trade, as every trade endpoint answers it (and as relayed to
/// merchants, docs/API.md section 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// The terminal's number for the trade.
    pub out_trade_no: String,
    /// The number the gateway knows the trade by, when it differs (a
    /// sub-merchant's trades carry a prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_out_trade_no: Option<String>,
    /// Where the trade stands.
    pub status: Status,
    /// Alipay's trade number, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    /// The amount of the trade.
    pub total_amount: Money,
    /// What the merchant receives, once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_amount: Option<Money>,
    /// The buyer's masked account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_logon_id: Option<String>,
    /// When it was paid, `yyyy-MM-dd HH:mm:ss` (Beijing time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmt_payment: Option<String>,
    /// The sum of its successful refunds.
    pub refunded_amount: Money,
    /// The QR code to show (precreate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    /// The gateway's code, on FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The gateway's sub_code, on FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<String>,
    /// The gateway's sub_msg, on FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_msg: Option<String>,
    /// What the cashier should do next; on every status but SUCCESS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cashier_action: Option<CashierAction>,
}

/// A refund, as the refund endpoints answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    /// The trade refunded.
    pub out_trade_no: String,
    /// The terminal's number for this refund.
    pub out_request_no: String,
    /// The amount of this refund.
    pub refund_amount: Money,
    /// Where this refund stands.
    pub status: RefundStatus,
    /// The trade's refunded total so far.
    pub refunded_amount: Money,
    /// The gateway's code, on FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The gateway's sub_code, on FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<String>,
    /// The gateway's sub_msg, on FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_msg: Option<String>,
}

/// An error answer: `{"error": {"code", "message", "field"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A snake_case code (`invalid_field`, `auth_replay`, `journal_busy`...).
    pub code: String,
    /// A sentence for a person.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorAnswer {
    /// An error answer.
    pub fn new(code: impl Into<String>, message: impl Into<String>, field: Option<String>) -> Self {
        ErrorAnswer {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                field,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    fn sorted(f: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = f.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn fields_are_the_serialized_keys() {
        let mut p = PayRequest::new("A1", "287000000000000001", Money::from_fen(8888), "s");
        p.scene = Some("bar_code".into());
        p.body = Some("b".into());
        p.operator_id = Some("op".into());
        p.timeout_express = Some("5m".into());
        p.goods_detail = Some(vec![serde_json::json!({})]);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(keys(&v), sorted(PayRequest::FIELDS));
        assert_eq!(v["total_amount"], "88.88");
        assert!(!format!("{p:?}").contains("287000000000000001"));

        let mut q = PrecreateRequest::new("A2", Money::from_fen(1), "s");
        q.timeout_express = Some("5m".into());
        q.body = Some("b".into());
        q.operator_id = Some("op".into());
        q.goods_detail = Some(vec![]);
        q.notify_url = Some("https://m.example/n".into());
        assert_eq!(
            keys(&serde_json::to_value(&q).unwrap()),
            sorted(PrecreateRequest::FIELDS)
        );

        let mut r = RefundRequest::new("R1", Money::from_fen(1));
        r.refund_reason = Some("x".into());
        assert_eq!(
            keys(&serde_json::to_value(&r).unwrap()),
            sorted(RefundRequest::FIELDS)
        );
    }

    #[test]
    fn trade_answers_parse() {
        let t: Trade = serde_json::from_str(
            r#"{"out_trade_no":"A","status":"FAILED","total_amount":"1.00","refunded_amount":"0.00",
               "code":"40004","sub_code":"ACQ.TRADE_HAS_CLOSE","cashier_action":"new_out_trade_no"}"#,
        )
        .unwrap();
        assert_eq!(t.status, Status::Failed);
        assert_eq!(t.total_amount, Money::from_fen(100));
        assert_eq!(t.cashier_action, Some(CashierAction::NewOutTradeNo));
        let back = serde_json::to_value(&t).unwrap();
        assert!(back.get("trade_no").is_none());
        let e: ErrorAnswer = serde_json::from_str(
            r#"{"error":{"code":"invalid_field","message":"m","field":"total_amount"}}"#,
        )
        .unwrap();
        assert_eq!(e.error.field.as_deref(), Some("total_amount"));
    }
}

//! Asynchronous notifications (`trade_status_sync`, docs/PROTOCOL.md §3): parsing,
//! verification over every field but `sign` and `sign_type` (Java
//! `rsaCheckV1`), typed fields; and, for the simulator, building and signing.

use serde::{Deserialize, Serialize};

use crate::crypto::{RsaSigner, RsaVerifier, SignError, SigningKey, VerifyingKey};
use crate::money::Money;
use crate::sign_string::notification_sign_content;

/// A trade status as the gateway names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    /// Created, waiting for the buyer.
    WaitBuyerPay,
    /// Paid.
    TradeSuccess,
    /// Closed unpaid, or fully refunded.
    TradeClosed,
    /// Finished: no refund possible.
    TradeFinished,
}

impl TradeStatus {
    /// The wire name, e.g. `TRADE_SUCCESS`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::TradeSuccess => "TRADE_SUCCESS",
            TradeStatus::TradeClosed => "TRADE_CLOSED",
            TradeStatus::TradeFinished => "TRADE_FINISHED",
        }
    }
    /// Parses a wire name (exact, upper case); an unknown status gives `None`.
    pub fn parse(s: &str) -> Option<TradeStatus> {
        Some(match s {
            "WAIT_BUYER_PAY" => TradeStatus::WaitBuyerPay,
            "TRADE_SUCCESS" => TradeStatus::TradeSuccess,
            "TRADE_CLOSED" => TradeStatus::TradeClosed,
            "TRADE_FINISHED" => TradeStatus::TradeFinished,
            _ => return None,
        })
    }
}

/// A fund channel entry of a notification (camelCase keys, docs/PROTOCOL.md §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyFundBill {
    /// The funding tool (`fundChannel`: `ALIPAYACCOUNT`, `PCREDIT`, `BANKCARD`, `POINT`...).
    #[serde(rename = "fundChannel")]
    pub fund_channel: String,
    /// What this tool paid.
    pub amount: Money,
    /// What the tool really paid, where it differs from `amount` (`realAmount`).
    #[serde(
        rename = "realAmount",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub real_amount: Option<Money>,
    /// The kind of bank card for `BANKCARD` (`fundType`: `DEBIT_CARD`, `CREDIT_CARD`...).
    #[serde(rename = "fundType", skip_serializing_if = "Option::is_none", default)]
    pub fund_type: Option<String>,
}

/// A notification with its typed fields (docs/PROTOCOL.md §3.3), verified by
/// [`Notification::verify`] (or read unchecked by [`Notification::read`]).
/// `raw` keeps every field as received. Times are gateway time
/// (`yyyy-MM-dd HH:mm:ss`, UTC+8), as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The notification's id: the same for each resend of one notification until it is
    /// answered `success` (the key to deduplicate on).
    pub notify_id: String,
    /// The notification's type, `trade_status_sync`.
    pub notify_type: String,
    /// When the gateway sent the notification.
    pub notify_time: Option<String>,
    /// The app the trade belongs to (check it is yours).
    pub app_id: String,
    /// The merchant's order number.
    pub out_trade_no: String,
    /// The gateway's trade number.
    pub trade_no: Option<String>,
    /// The trade's status after the change notified.
    pub trade_status: Option<TradeStatus>,
    /// The trade's amount.
    pub total_amount: Option<Money>,
    /// What the merchant receives: the amount less the buyer's platform discounts.
    pub receipt_amount: Option<Money>,
    /// What the buyer paid with their own funds.
    pub buyer_pay_amount: Option<Money>,
    /// What was paid with points.
    pub point_amount: Option<Money>,
    /// The amount the merchant may invoice.
    pub invoice_amount: Option<Money>,
    /// The trade's cumulative refunded amount (refund notifications).
    pub refund_fee: Option<Money>,
    /// The buyer's Alipay account, masked by the gateway.
    pub buyer_logon_id: Option<String>,
    /// The buyer's Alipay user id (`2088...`).
    pub buyer_id: Option<String>,
    /// When the trade was created.
    pub gmt_create: Option<String>,
    /// When the buyer paid.
    pub gmt_payment: Option<String>,
    /// When the trade was closed.
    pub gmt_close: Option<String>,
    /// The funding tools that paid the trade (empty when the field is absent).
    pub fund_bill_list: Vec<NotifyFundBill>,
    /// Every field as received, in order, `sign` and `sign_type` included.
    pub raw: Vec<(String, String)>,
}

/// Why a notification was refused; names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// A required field is absent or empty (named here).
    #[error("notification field {0} is missing")]
    Missing(&'static str),
    /// A field does not parse.
    #[error("notification field {field} is invalid: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Why it does not parse (the parser's message, without the value
        /// for amounts).
        reason: String,
    },
    /// A `sign_type` other than `RSA2` (the value, here).
    #[error("notification sign_type {0} is not supported (RSA2 only)")]
    SignType(String),
    /// The signature does not verify over the notification's sign string.
    #[error("notification signature does not verify")]
    BadSignature,
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn money(p: &[(String, String)], k: &'static str) -> Result<Option<Money>, NotifyError> {
    get(p, k)
        .map(|v| {
            Money::parse_wire(v).map_err(|e| NotifyError::Invalid {
                field: k,
                reason: e.to_string(),
            })
        })
        .transpose()
}

impl Notification {
    /// Verifies the form fields (decoded once, e.g. by
    /// [`crate::request::decode_form`]) and reads the typed fields.
    ///
    /// The signature covers every non-empty field but `sign` and `sign_type`
    /// ([`crate::sign_string::notification_sign_content`]); `sign_type`, when
    /// present, must be `RSA2`.
    ///
    /// # Errors
    /// - [`NotifyError::Missing`]`("sign")`: no signature;
    /// - [`NotifyError::SignType`]: a `sign_type` other than `RSA2`;
    /// - [`NotifyError::BadSignature`]: the signature does not verify (or is
    ///   not base64);
    /// - then those of [`Notification::read`].
    pub fn verify<K: VerifyingKey>(
        params: Vec<(String, String)>,
        verifier: &RsaVerifier<K>,
    ) -> Result<Notification, NotifyError> {
        let sign = get(&params, "sign").ok_or(NotifyError::Missing("sign"))?;
        if let Some(t) = get(&params, "sign_type") {
            if t != "RSA2" {
                return Err(NotifyError::SignType(t.to_owned()));
            }
        }
        let content =
            notification_sign_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        verifier
            .verify_base64(content.as_bytes(), sign)
            .map_err(|_| NotifyError::BadSignature)?;
        Notification::read(params)
    }

    /// Reads the typed fields without checking a signature (for tests and the
    /// simulator's own bookkeeping; the switch always calls [`Notification::verify`]).
    /// An empty field counts as absent; for a repeated key the first value is
    /// read.
    ///
    /// # Errors
    /// - [`NotifyError::Missing`]: no `notify_id`, `notify_type`, `app_id` or
    ///   `out_trade_no`;
    /// - [`NotifyError::Invalid`]: an unknown `trade_status`, an amount that
    ///   is not a wire amount ([`Money::parse_wire`]), or a `fund_bill_list`
    ///   that is not a JSON array of fund bills.
    pub fn read(params: Vec<(String, String)>) -> Result<Notification, NotifyError> {
        let p = &params;
        let trade_status = match get(p, "trade_status") {
            None => None,
            Some(s) => Some(TradeStatus::parse(s).ok_or_else(|| NotifyError::Invalid {
                field: "trade_status",
                reason: "unknown status".into(),
            })?),
        };
        let fund_bill_list = match get(p, "fund_bill_list") {
            None => Vec::new(),
            Some(s) => serde_json::from_str(s).map_err(|e| NotifyError::Invalid {
                field: "fund_bill_list",
                reason: e.to_string(),
            })?,
        };
        let s = |k: &str| get(p, k).map(str::to_owned);
        Ok(Notification {
            notify_id: s("notify_id").ok_or(NotifyError::Missing("notify_id"))?,
            notify_type: s("notify_type").ok_or(NotifyError::Missing("notify_type"))?,
            notify_time: s("notify_time"),
            app_id: s("app_id").ok_or(NotifyError::Missing("app_id"))?,
            out_trade_no: s("out_trade_no").ok_or(NotifyError::Missing("out_trade_no"))?,
            trade_no: s("trade_no"),
            trade_status,
            total_amount: money(p, "total_amount")?,
            receipt_amount: money(p, "receipt_amount")?,
            buyer_pay_amount: money(p, "buyer_pay_amount")?,
            point_amount: money(p, "point_amount")?,
            invoice_amount: money(p, "invoice_amount")?,
            refund_fee: money(p, "refund_fee")?,
            buyer_logon_id: s("buyer_logon_id"),
            buyer_id: s("buyer_id"),
            gmt_create: s("gmt_create"),
            gmt_payment: s("gmt_payment"),
            gmt_close: s("gmt_close"),
            fund_bill_list,
            raw: params,
        })
    }
}

/// Signs notification fields: adds `sign_type=RSA2` and `sign` (over all
/// fields but `sign` and `sign_type`) and returns the URL-encoded form body.
/// A `sign` or `sign_type` among `fields` is dropped; the others keep their
/// order, empty ones included (they are not signed).
///
/// # Errors
/// [`SignError`] when the backend fails to sign.
pub fn sign_notification<K: SigningKey>(
    fields: &[(&str, &str)],
    signer: &RsaSigner<K>,
) -> Result<String, SignError> {
    let content = notification_sign_content(fields.iter().copied());
    let sign = signer.sign_base64(content.as_bytes())?;
    let mut ser = form_urlencoded::Serializer::new(String::with_capacity(content.len() * 2 + 400));
    for (k, v) in fields
        .iter()
        .filter(|(k, _)| *k != "sign" && *k != "sign_type")
    {
        ser.append_pair(k, v);
    }
    ser.append_pair("sign_type", "RSA2");
    ser.append_pair("sign", &sign);
    Ok(ser.finish())
}

//! Asynchronous notifications (`trade_status_sync`, SPEC 3): parsing,
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
    pub const fn as_str(self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::TradeSuccess => "TRADE_SUCCESS",
            TradeStatus::TradeClosed => "TRADE_CLOSED",
            TradeStatus::TradeFinished => "TRADE_FINISHED",
        }
    }
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

/// A fund channel entry of a notification (camelCase keys, SPEC 3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyFundBill {
    #[serde(rename = "fundChannel")]
    pub fund_channel: String,
    pub amount: Money,
    #[serde(
        rename = "realAmount",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub real_amount: Option<Money>,
    #[serde(rename = "fundType", skip_serializing_if = "Option::is_none", default)]
    pub fund_type: Option<String>,
}

/// A verified notification with its typed fields. `raw` keeps every field as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub notify_id: String,
    pub notify_type: String,
    pub notify_time: Option<String>,
    pub app_id: String,
    pub out_trade_no: String,
    pub trade_no: Option<String>,
    pub trade_status: Option<TradeStatus>,
    pub total_amount: Option<Money>,
    pub receipt_amount: Option<Money>,
    pub buyer_pay_amount: Option<Money>,
    pub point_amount: Option<Money>,
    pub invoice_amount: Option<Money>,
    pub refund_fee: Option<Money>,
    pub buyer_logon_id: Option<String>,
    pub buyer_id: Option<String>,
    pub gmt_create: Option<String>,
    pub gmt_payment: Option<String>,
    pub gmt_close: Option<String>,
    pub fund_bill_list: Vec<NotifyFundBill>,
    pub raw: Vec<(String, String)>,
}

/// Why a notification was refused; names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("notification field {0} is missing")]
    Missing(&'static str),
    #[error("notification field {field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("notification sign_type {0} is not supported (RSA2 only)")]
    SignType(String),
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
    /// Verifies the form fields (decoded once) and reads the typed fields.
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

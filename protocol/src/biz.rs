//! `biz_content` of the requests the switch sends (serialised compactly, as
//! the SDKs do) and the simulator receives. Optional fields are left out when
//! absent. Amounts are [`Money`], serialised as "88.88".

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// The sub-merchant of an indirect (bank) acquirer's trade (`sub_merchant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubMerchant {
    /// The smid: the sub-merchant id (`2088...`) the gateway gave the merchant at onboarding
    /// (`ant.merchant.expand.indirect.create`).
    pub merchant_id: String,
}

/// Extended parameters (`extend_params`) of a pay or precreate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExtendParams {
    /// The PID of the service provider (系统商编号) that built the integration, for the gateway's
    /// rebate accounting; absent: left out of the JSON.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sys_service_provider_id: Option<String>,
}

/// The `biz_content` of alipay.trade.pay: a barcode pay with the buyer's
/// payment code (docs/PROTOCOL.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayBiz {
    /// The merchant's order number ([`OutTradeNo`](crate::OutTradeNo) rules: 1 to 64 letters,
    /// digits or underscores, unique per merchant).
    pub out_trade_no: String,
    /// `bar_code` (the cashier scans the buyer's code) or `wave_code`, as
    /// [`Scene::as_str`](crate::Scene::as_str) writes them.
    pub scene: String,
    /// The buyer's payment code (付款码, [`AuthCode`](crate::AuthCode) rules). A payment
    /// credential: never logged.
    pub auth_code: String,
    /// The order title ([`Subject`](crate::Subject) rules: 1 to 256
    /// characters, no control characters).
    pub subject: String,
    /// The order amount, in [0.01, 100000000.00] yuan.
    pub total_amount: Money,
    /// The product, `FACE_TO_FACE_PAYMENT` for barcode pay (what the switch sends); absent: the
    /// gateway's default for the app.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub product_code: Option<String>,
    /// A description of the order beyond `subject` (at most 128 characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
    /// The cashier's id (at most 28 characters), recorded with the trade.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_id: Option<String>,
    /// The merchant's store number ([`StoreId`](crate::StoreId) rules, at most 32 characters);
    /// reported back by query and in the bill.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_id: Option<String>,
    /// The merchant's terminal (till) number ([`TerminalId`](crate::TerminalId) rules, at most
    /// 32 characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terminal_id: Option<String>,
    /// How long the buyer has to pay, `1m` to `15d` or `1c` (end of today)
    /// ([`TimeoutExpress`](crate::TimeoutExpress) rules); absent: the gateway's default.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeout_express: Option<String>,
    /// The sub-merchant (smid) the trade is for: required of an indirect (bank) acquirer,
    /// docs/PROTOCOL.md §9.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_merchant: Option<SubMerchant>,
    /// Extended parameters: the service provider's PID, when configured.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub extend_params: Option<ExtendParams>,
    /// The goods of the order, a JSON array passed through as the terminal sent it (at most 100
    /// objects, checked by the switch, not here).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_detail: Option<serde_json::Value>,
}

/// The `biz_content` of alipay.trade.precreate (a QR code for the buyer to
/// scan) and of alipay.trade.create (a trade for a known buyer), docs/PROTOCOL.md §5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecreateBiz {
    /// The merchant's order number ([`OutTradeNo`](crate::OutTradeNo) rules: 1 to 64 letters,
    /// digits or underscores, unique per merchant).
    pub out_trade_no: String,
    /// The order amount, in [0.01, 100000000.00] yuan.
    pub total_amount: Money,
    /// The order title ([`Subject`](crate::Subject) rules: 1 to 256
    /// characters, no control characters).
    pub subject: String,
    /// A description of the order beyond `subject` (at most 128 characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
    /// The cashier's id (at most 28 characters), recorded with the trade.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_id: Option<String>,
    /// The merchant's store number ([`StoreId`](crate::StoreId) rules, at most 32 characters);
    /// reported back by query and in the bill.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_id: Option<String>,
    /// The merchant's terminal (till) number ([`TerminalId`](crate::TerminalId) rules, at most
    /// 32 characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terminal_id: Option<String>,
    /// How long the buyer has to pay, `1m` to `15d` or `1c` (end of today)
    /// ([`TimeoutExpress`](crate::TimeoutExpress) rules); absent: the gateway's default.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeout_express: Option<String>,
    /// alipay.trade.create only: the buyer's Alipay user id (`2088...`); left
    /// out for precreate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_id: Option<String>,
    /// The sub-merchant (smid) the trade is for: required of an indirect (bank) acquirer,
    /// docs/PROTOCOL.md §9.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_merchant: Option<SubMerchant>,
    /// Extended parameters: the service provider's PID, when configured.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub extend_params: Option<ExtendParams>,
    /// The goods of the order, a JSON array passed through as the terminal sent it (at most 100
    /// objects, checked by the switch, not here).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_detail: Option<serde_json::Value>,
}

/// The `biz_content` of alipay.trade.query, alipay.trade.cancel and
/// alipay.trade.close: the trade, by one of its two ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TradeRefBiz {
    /// The merchant's order number; one of it and `trade_no` must be present (the gateway
    /// prefers `trade_no` when both are).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The gateway's trade number; one of it and `out_trade_no` must be present.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The cashier's id (at most 28 characters; cancel and close only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_id: Option<String>,
    /// Extra result fields to ask query for, e.g. `fund_bill_list` (query only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub query_options: Option<Vec<String>>,
}

/// The `biz_content` of alipay.trade.refund: one refund, full or partial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundBiz {
    /// The merchant's order number of the trade to refund; one of it and `trade_no` must be
    /// present.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The gateway's trade number of the trade to refund; one of it and `out_trade_no` must be
    /// present.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The amount of this refund, in [0.01, 100000000.00] yuan; all refunds of a trade together
    /// at most its amount.
    pub refund_amount: Money,
    /// Identifies this refund among the trade's refunds (1 to 64 letters, digits or
    /// underscores); required for a partial refund and kept unchanged when a refund is retried.
    /// Absent: the gateway uses `out_trade_no` (docs/PROTOCOL.md §5).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_request_no: Option<String>,
    /// Why the money goes back (at most 256 characters, no control characters).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refund_reason: Option<String>,
    /// The cashier's id (at most 28 characters), recorded with the trade.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_id: Option<String>,
    /// The store that refunds ([`StoreId`](crate::StoreId) rules).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_id: Option<String>,
    /// The terminal that refunds ([`TerminalId`](crate::TerminalId) rules).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terminal_id: Option<String>,
}

/// The `biz_content` of alipay.trade.fastpay.refund.query: the state of one
/// refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundQueryBiz {
    /// The merchant's order number of the refunded trade; one of it and `trade_no` must be
    /// present.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    /// The gateway's trade number of the refunded trade; one of it and `out_trade_no` must be
    /// present.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    /// The refund to look up: the `out_request_no` of the refund request (the `out_trade_no`
    /// for a refund sent without one).
    pub out_request_no: String,
}

/// The `biz_content` of alipay.data.dataservice.bill.downloadurl.query: the
/// link to a day's or a month's bill (docs/PROTOCOL.md §5, §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillQueryBiz {
    /// `trade` (the trade bill, the one the switch reconciles) or `signcustomer` (the fund
    /// bill).
    pub bill_type: String,
    /// The day, `yyyy-MM-dd`, or the month, `yyyy-MM`, in gateway time; a day's bill exists
    /// from about 09:00 the next day.
    pub bill_date: String,
    /// A sub-merchant's smid; the gateway uses it only with `bill_type=trade_zft_merchant` (it
    /// does not filter a `trade` bill), docs/PROTOCOL.md §5.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub smid: Option<String>,
}

/// Serialises a biz struct compactly, absent options left out: the value of
/// the `biz_content` parameter, signed as it stands.
///
/// Serialising the structs of this module cannot fail; for a type whose
/// `Serialize` does, the result is `{}`.
pub fn to_biz_content<T: Serialize>(biz: &T) -> String {
    // Serialising these plain structs cannot fail.
    serde_json::to_string(biz).unwrap_or_else(|_| String::from("{}"))
}

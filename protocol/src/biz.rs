//! `biz_content` of the requests the switch sends (serialised compactly, as
//! the SDKs do) and the simulator receives. Optional fields are left out when
//! absent. Amounts are [`Money`], serialised as "88.88".

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// The sub-merchant of an indirect (bank) acquirer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubMerchant {
    pub merchant_id: String,
}

/// Extended parameters (`extend_params`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExtendParams {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sys_service_provider_id: Option<String>,
}

/// alipay.trade.pay
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayBiz {
    pub out_trade_no: String,
    pub scene: String,
    pub auth_code: String,
    pub subject: String,
    pub total_amount: Money,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub product_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terminal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeout_express: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_merchant: Option<SubMerchant>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub extend_params: Option<ExtendParams>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_detail: Option<serde_json::Value>,
}

/// alipay.trade.precreate and alipay.trade.create
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecreateBiz {
    pub out_trade_no: String,
    pub total_amount: Money,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terminal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timeout_express: Option<String>,
    /// alipay.trade.create only: the buyer.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub buyer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_merchant: Option<SubMerchant>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub extend_params: Option<ExtendParams>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goods_detail: Option<serde_json::Value>,
}

/// alipay.trade.query, cancel and close: one of the two ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TradeRefBiz {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub query_options: Option<Vec<String>>,
}

/// alipay.trade.refund
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundBiz {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    pub refund_amount: Money,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_request_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refund_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub terminal_id: Option<String>,
}

/// alipay.trade.fastpay.refund.query
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundQueryBiz {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub out_trade_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trade_no: Option<String>,
    pub out_request_no: String,
}

/// alipay.data.dataservice.bill.downloadurl.query
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillQueryBiz {
    pub bill_type: String,
    pub bill_date: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub smid: Option<String>,
}

/// Serialises a biz struct compactly (the `biz_content` parameter).
pub fn to_biz_content<T: Serialize>(biz: &T) -> String {
    // Serialising these plain structs cannot fail.
    serde_json::to_string(biz).unwrap_or_else(|_| String::from("{}"))
}

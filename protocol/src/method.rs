//! The OpenAPI methods this project speaks, with their response node names.

/// An OpenAPI method of the face-to-face product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    TradePay,
    TradePrecreate,
    TradeCreate,
    TradeQuery,
    TradeCancel,
    TradeClose,
    TradeRefund,
    TradeFastpayRefundQuery,
    BillDownloadUrlQuery,
}

impl Method {
    pub const ALL: [Method; 9] = [
        Method::TradePay,
        Method::TradePrecreate,
        Method::TradeCreate,
        Method::TradeQuery,
        Method::TradeCancel,
        Method::TradeClose,
        Method::TradeRefund,
        Method::TradeFastpayRefundQuery,
        Method::BillDownloadUrlQuery,
    ];

    /// The `method` parameter, e.g. `alipay.trade.pay`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::TradePay => "alipay.trade.pay",
            Method::TradePrecreate => "alipay.trade.precreate",
            Method::TradeCreate => "alipay.trade.create",
            Method::TradeQuery => "alipay.trade.query",
            Method::TradeCancel => "alipay.trade.cancel",
            Method::TradeClose => "alipay.trade.close",
            Method::TradeRefund => "alipay.trade.refund",
            Method::TradeFastpayRefundQuery => "alipay.trade.fastpay.refund.query",
            Method::BillDownloadUrlQuery => "alipay.data.dataservice.bill.downloadurl.query",
        }
    }

    /// The response node: the method with `.` replaced by `_`, plus `_response`.
    pub const fn response_node(self) -> &'static str {
        match self {
            Method::TradePay => "alipay_trade_pay_response",
            Method::TradePrecreate => "alipay_trade_precreate_response",
            Method::TradeCreate => "alipay_trade_create_response",
            Method::TradeQuery => "alipay_trade_query_response",
            Method::TradeCancel => "alipay_trade_cancel_response",
            Method::TradeClose => "alipay_trade_close_response",
            Method::TradeRefund => "alipay_trade_refund_response",
            Method::TradeFastpayRefundQuery => "alipay_trade_fastpay_refund_query_response",
            Method::BillDownloadUrlQuery => {
                "alipay_data_dataservice_bill_downloadurl_query_response"
            }
        }
    }

    /// Parses a `method` parameter.
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The response node name of any method string (for methods this crate does not type).
pub fn response_node_of(method: &str) -> String {
    let mut s = method.replace('.', "_");
    s.push_str("_response");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn nodes_follow_the_rule() {
        for m in Method::ALL {
            assert_eq!(m.response_node(), response_node_of(m.as_str()));
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
    }
}

/// OpenAPI methods outside the face-to-face trade product: the indirect
/// acquirer's merchant onboarding (`ant.merchant.expand.indirect.*`) and the
/// monitoring heartbeat (`monitor.heartbeat.syn`). Kept apart from [`Method`]
/// so that matches over the trade methods stay as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtMethod {
    IndirectCreate,
    IndirectQuery,
    IndirectModify,
    HeartbeatSyn,
}

impl ExtMethod {
    pub const ALL: [ExtMethod; 4] = [
        ExtMethod::IndirectCreate,
        ExtMethod::IndirectQuery,
        ExtMethod::IndirectModify,
        ExtMethod::HeartbeatSyn,
    ];

    /// The `method` parameter, e.g. `ant.merchant.expand.indirect.create`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExtMethod::IndirectCreate => "ant.merchant.expand.indirect.create",
            ExtMethod::IndirectQuery => "ant.merchant.expand.indirect.query",
            ExtMethod::IndirectModify => "ant.merchant.expand.indirect.modify",
            ExtMethod::HeartbeatSyn => "monitor.heartbeat.syn",
        }
    }

    /// The response node: the method with `.` replaced by `_`, plus `_response`.
    pub const fn response_node(self) -> &'static str {
        match self {
            ExtMethod::IndirectCreate => "ant_merchant_expand_indirect_create_response",
            ExtMethod::IndirectQuery => "ant_merchant_expand_indirect_query_response",
            ExtMethod::IndirectModify => "ant_merchant_expand_indirect_modify_response",
            ExtMethod::HeartbeatSyn => "monitor_heartbeat_syn_response",
        }
    }

    /// Parses a `method` parameter.
    pub fn parse(s: &str) -> Option<ExtMethod> {
        ExtMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

#[cfg(test)]
mod ext_tests {
    use super::*;
    #[test]
    fn ext_nodes_follow_the_rule() {
        for m in ExtMethod::ALL {
            assert_eq!(m.response_node(), response_node_of(m.as_str()));
            assert_eq!(ExtMethod::parse(m.as_str()), Some(m));
            assert_eq!(Method::parse(m.as_str()), None);
        }
    }
}

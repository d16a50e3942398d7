//! The OpenAPI methods this project speaks, with their response node names
//! (docs/PROTOCOL.md §5): [`Method`] for the face-to-face trade APIs,
//! [`ExtMethod`] for merchant onboarding and the heartbeat.

/// An OpenAPI method of the face-to-face product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `alipay.trade.pay`: barcode pay, the buyer's payment code scanned by the cashier.
    TradePay,
    /// `alipay.trade.precreate`: a QR code the buyer scans to pay.
    TradePrecreate,
    /// `alipay.trade.create`: a trade for a known buyer (JSAPI, mini program).
    TradeCreate,
    /// `alipay.trade.query`: a trade's status and amounts.
    TradeQuery,
    /// `alipay.trade.cancel`: undo a trade of the last 24 hours, closing it if unpaid and
    /// refunding it if paid.
    TradeCancel,
    /// `alipay.trade.close`: close an unpaid (`WAIT_BUYER_PAY`) trade.
    TradeClose,
    /// `alipay.trade.refund`: a full or partial refund.
    TradeRefund,
    /// `alipay.trade.fastpay.refund.query`: the state of one refund request.
    TradeFastpayRefundQuery,
    /// `alipay.data.dataservice.bill.downloadurl.query`: the link to a day's or a month's bill.
    BillDownloadUrlQuery,
}

impl Method {
    /// Every trade method, in declaration order (for iteration in routing
    /// tables, tests and reports).
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

    /// Parses a `method` parameter: exact, case-sensitive; a method that is
    /// not a trade method (an [`ExtMethod`] included) gives `None`.
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The response node name of any method string: `.` replaced by `_`, plus
/// `_response` (for methods this crate does not type; the typed ones have
/// [`Method::response_node`] and [`ExtMethod::response_node`], without the
/// allocation).
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
    /// `ant.merchant.expand.indirect.create`: onboard a sub-merchant, answering its smid.
    IndirectCreate,
    /// `ant.merchant.expand.indirect.query`: a sub-merchant's data and level.
    IndirectQuery,
    /// `ant.merchant.expand.indirect.modify`: change a sub-merchant (its `service_codes`
    /// replace the current set).
    IndirectModify,
    /// `monitor.heartbeat.syn`: the terminals' heartbeat of 交易保障 (docs/PROTOCOL.md §5).
    HeartbeatSyn,
}

impl ExtMethod {
    /// Every method outside the trade product, in declaration order.
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

    /// Parses a `method` parameter: exact, case-sensitive; anything else (a
    /// trade [`Method`] included) gives `None`.
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

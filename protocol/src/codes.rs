//! Gateway result codes (docs/PROTOCOL.md §4) with their exact `msg` strings, and the
//! sub-codes the face-to-face APIs use, as constants.

/// A gateway `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 10000: the call succeeded.
    Success,
    /// 10003: barcode pay is waiting for the buyer (password, risk check).
    PayInProcess,
    /// 20000: the service is unavailable; the outcome is unknown.
    ServiceUnavailable,
    /// 20001: the app auth token is not valid for this call.
    InsufficientTokenPermissions,
    /// 40001: a required parameter is missing.
    MissingRequiredArguments,
    /// 40002: a parameter is invalid (signature, app id, method, timestamp...).
    InvalidArguments,
    /// 40003: the app lacks a configuration (for example a public key).
    InsufficientConditions,
    /// 40004: business failure, with an `ACQ.*` sub-code.
    BusinessFailed,
    /// 40005: call frequency limit (msg UNCONFIRMED, see docs/PROTOCOL.md §4).
    CallLimited,
    /// 40006: the app lacks the permission.
    InsufficientPermissions,
}

impl Code {
    /// Every code, for iteration in tests and reports.
    pub const ALL: [Code; 10] = [
        Code::Success,
        Code::PayInProcess,
        Code::ServiceUnavailable,
        Code::InsufficientTokenPermissions,
        Code::MissingRequiredArguments,
        Code::InvalidArguments,
        Code::InsufficientConditions,
        Code::BusinessFailed,
        Code::CallLimited,
        Code::InsufficientPermissions,
    ];

    /// The wire form, e.g. `"10000"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Success => "10000",
            Code::PayInProcess => "10003",
            Code::ServiceUnavailable => "20000",
            Code::InsufficientTokenPermissions => "20001",
            Code::MissingRequiredArguments => "40001",
            Code::InvalidArguments => "40002",
            Code::InsufficientConditions => "40003",
            Code::BusinessFailed => "40004",
            Code::CallLimited => "40005",
            Code::InsufficientPermissions => "40006",
        }
    }

    /// The exact English `msg` the gateway sends with this code.
    /// Note the leading space of 10003's message, as the real gateway sends it.
    pub const fn msg(self) -> &'static str {
        match self {
            Code::Success => "Success",
            Code::PayInProcess => " order success pay inprocess",
            Code::ServiceUnavailable => "Service Currently Unavailable",
            Code::InsufficientTokenPermissions => "Insufficient Token Permissions",
            Code::MissingRequiredArguments => "Missing Required Arguments",
            Code::InvalidArguments => "Invalid Arguments",
            Code::InsufficientConditions => "Insufficient Conditions",
            Code::BusinessFailed => "Business Failed",
            Code::CallLimited => "Call Limited",
            Code::InsufficientPermissions => "Insufficient Permissions",
        }
    }

    /// Parses a wire code (`"40004"`); unknown codes give `None`.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sub-codes (`sub_code`) of the gateway and of the trade APIs, grouped by
/// the [`Code`] they come with (docs/PROTOCOL.md §4, §5, §10).
pub mod sub {
    // 20000
    /// 20000: the business system is unavailable (服务暂不可用（业务系统不可用）); the outcome is unknown,
    /// query before retrying.
    pub const ISP_UNKNOW_ERROR: &str = "isp.unknow-error";
    /// 20000: an unknown error of the gateway itself (网关自身的未知错误); the outcome is unknown.
    pub const AOP_UNKNOW_ERROR: &str = "aop.unknow-error";
    /// 20000: a system error of the trade system seen through the gateway (系统异常); the
    /// outcome is unknown.
    pub const AOP_ACQ_SYSTEM_ERROR: &str = "aop.ACQ.SYSTEM_ERROR";
    // 20001
    /// 20001: the user's auth token is invalid.
    pub const AOP_INVALID_AUTH_TOKEN: &str = "aop.invalid-auth-token";
    /// 20001: the user's auth token has expired.
    pub const AOP_AUTH_TOKEN_TIME_OUT: &str = "aop.auth-token-time-out";
    /// 20001: the `app_auth_token` is invalid (无效的应用授权令牌).
    pub const AOP_INVALID_APP_AUTH_TOKEN: &str = "aop.invalid-app-auth-token";
    /// 20001: the `app_auth_token` does not cover this API.
    pub const AOP_INVALID_APP_AUTH_TOKEN_NO_API: &str = "aop.invalid-app-auth-token-no-api";
    /// 20001: the `app_auth_token` has expired.
    pub const AOP_APP_AUTH_TOKEN_TIME_OUT: &str = "aop.app-auth-token-time-out";
    /// 20001: the partner has not registered the product this API belongs to.
    pub const AOP_NO_PRODUCT_REG_BY_PARTNER: &str = "aop.no-product-reg-by-partner";
    // 40001
    /// 40001: no `method` parameter (缺少方法名参数).
    pub const ISV_MISSING_METHOD: &str = "isv.missing-method";
    /// 40001: no `sign` parameter (缺少签名参数).
    pub const ISV_MISSING_SIGNATURE: &str = "isv.missing-signature";
    /// 40001: no `sign_type` parameter (缺少签名类型参数).
    pub const ISV_MISSING_SIGNATURE_TYPE: &str = "isv.missing-signature-type";
    /// 40001: the signature key is missing.
    pub const ISV_MISSING_SIGNATURE_KEY: &str = "isv.missing-signature-key";
    /// 40001: no `app_id` parameter (缺少appId参数).
    pub const ISV_MISSING_APP_ID: &str = "isv.missing-app-id";
    /// 40001: no `timestamp` parameter (缺少时间戳参数).
    pub const ISV_MISSING_TIMESTAMP: &str = "isv.missing-timestamp";
    /// 40001: no `version` parameter (缺少版本参数).
    pub const ISV_MISSING_VERSION: &str = "isv.missing-version";
    // 40002
    /// 40002: a common parameter is invalid (参数无效).
    pub const ISV_INVALID_PARAMETER: &str = "isv.invalid-parameter";
    /// 40002: no such method (不存在的方法名).
    pub const ISV_INVALID_METHOD: &str = "isv.invalid-method";
    /// 40002: `format` is not `JSON` (无效的数据格式).
    pub const ISV_INVALID_FORMAT: &str = "isv.invalid-format";
    /// 40002: `sign_type` is not a supported type (无效的签名类型).
    pub const ISV_INVALID_SIGNATURE_TYPE: &str = "isv.invalid-signature-type";
    /// 40002: the request's signature does not verify (无效签名); the gateway's `sub_msg` then
    /// echoes the string it verified (see [`crate::scrub`]).
    pub const ISV_INVALID_SIGNATURE: &str = "isv.invalid-signature";
    /// 40002: no such app (无效的AppID参数).
    pub const ISV_INVALID_APP_ID: &str = "isv.invalid-app-id";
    /// 40002: `timestamp` is malformed or too far from the gateway's clock (非法的时间戳参数).
    pub const ISV_INVALID_TIMESTAMP: &str = "isv.invalid-timestamp";
    /// 40002: `charset` is not a supported one (字符集错误).
    pub const ISV_INVALID_CHARSET: &str = "isv.invalid-charset";
    // 40003
    /// 40003: the app has no public key for the signature algorithm (应用未配置对应签名算法的公钥或者证书).
    pub const ISV_MISSING_SIGNATURE_CONFIG: &str = "isv.missing-signature-config";
    // 40006
    /// 40006: the ISV lacks the permission for this API.
    pub const ISV_INSUFFICIENT_ISV_PERMISSIONS: &str = "isv.insufficient-isv-permissions";
    /// 40006: the merchant has not authorised this API.
    pub const ISV_INSUFFICIENT_USER_PERMISSIONS: &str = "isv.insufficient-user-permissions";
    /// 40006: the API is suspended for this app as a penalty (该接口已被处罚，不可调用).
    pub const ISV_APP_API_PUNISHED: &str = "isv.app-api-punished";

    // 40004, trade APIs
    /// 40004: the trade system failed (系统异常); the outcome is unknown: query the trade, or
    /// retry a refund with the same parameters.
    pub const ACQ_SYSTEM_ERROR: &str = "ACQ.SYSTEM_ERROR";
    /// 40004: a `biz_content` field is invalid (参数无效), an unknown smid included.
    pub const ACQ_INVALID_PARAMETER: &str = "ACQ.INVALID_PARAMETER";
    /// 40004: the app may not use this API (无权限使用接口): no barcode-pay contract, or it
    /// expired.
    pub const ACQ_ACCESS_FORBIDDEN: &str = "ACQ.ACCESS_FORBIDDEN";
    /// 40004: the order information contains a forbidden word (订单信息中包含违禁词).
    pub const ACQ_EXIST_FORBIDDEN_WORD: &str = "ACQ.EXIST_FORBIDDEN_WORD";
    /// 40004: the app id is wrong for this merchant (应用APP_ID填写错误).
    pub const ACQ_PARTNER_ERROR: &str = "ACQ.PARTNER_ERROR";
    /// 40004: the order amount exceeds the limit (订单金额超过限额).
    pub const ACQ_TOTAL_FEE_EXCEED: &str = "ACQ.TOTAL_FEE_EXCEED";
    /// 40004: the payment code is invalid or expired (支付授权码无效): the buyer refreshes it.
    pub const ACQ_PAYMENT_AUTH_CODE_INVALID: &str = "ACQ.PAYMENT_AUTH_CODE_INVALID";
    /// 40004: the `out_trade_no` exists with other trade data (交易信息被篡改): use a new order
    /// number.
    pub const ACQ_CONTEXT_INCONSISTENT: &str = "ACQ.CONTEXT_INCONSISTENT";
    /// 40004: the trade is already paid (交易已被支付).
    pub const ACQ_TRADE_HAS_SUCCESS: &str = "ACQ.TRADE_HAS_SUCCESS";
    /// 40004: the trade is closed (交易已经关闭): use a new order number.
    pub const ACQ_TRADE_HAS_CLOSE: &str = "ACQ.TRADE_HAS_CLOSE";
    /// 40004: the buyer's balance is too low (买家余额不足).
    pub const ACQ_BUYER_BALANCE_NOT_ENOUGH: &str = "ACQ.BUYER_BALANCE_NOT_ENOUGH";
    /// 40004: the buyer's bank card balance is too low (用户银行卡余额不足).
    pub const ACQ_BUYER_BANKCARD_BALANCE_NOT_ENOUGH: &str = "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH";
    /// 40004: the buyer has turned balance payment off (余额支付功能关闭).
    pub const ACQ_ERROR_BALANCE_PAYMENT_DISABLE: &str = "ACQ.ERROR_BALANCE_PAYMENT_DISABLE";
    /// 40004: buyer and seller are the same account (买卖家不能相同).
    pub const ACQ_BUYER_SELLER_EQUAL: &str = "ACQ.BUYER_SELLER_EQUAL";
    /// 40004: the trade belongs to another buyer (交易买家不匹配).
    pub const ACQ_TRADE_BUYER_NOT_MATCH: &str = "ACQ.TRADE_BUYER_NOT_MATCH";
    /// 40004: the buyer's account status forbids payment (买家状态非法).
    pub const ACQ_BUYER_ENABLE_STATUS_FORBID: &str = "ACQ.BUYER_ENABLE_STATUS_FORBID";
    /// 40004: the payment failed (支付失败): the buyer refreshes the code and retries once,
    /// then pays another way.
    pub const ACQ_PAYMENT_FAIL: &str = "ACQ.PAYMENT_FAIL";
    /// 40004: the payment was refused by risk control (支付有风险).
    pub const ACQ_PAYMENT_REQUEST_HAS_RISK: &str = "ACQ.PAYMENT_REQUEST_HAS_RISK";
    /// 40004: the store number is invalid (商户门店编号无效).
    pub const ACQ_INVALID_STORE_ID: &str = "ACQ.INVALID_STORE_ID";
    /// 40004: no such trade (交易不存在), e.g. a precreate trade not yet scanned.
    pub const ACQ_TRADE_NOT_EXIST: &str = "ACQ.TRADE_NOT_EXIST";
    /// 40004 (cancel): the trade may not be cancelled (交易不允许撤销).
    pub const ACQ_CANCEL_NOT_ALLOWED: &str = "ACQ.CANCEL_NOT_ALLOWED";
    /// 40004 (cancel, refund): the trade is frozen (当前交易被冻结).
    pub const ACQ_REASON_TRADE_BEEN_FREEZEN: &str = "ACQ.REASON_TRADE_BEEN_FREEZEN";
    /// 40004 (cancel, refund): the refund amount is invalid (退款金额无效); a refunded trade
    /// cannot be cancelled.
    pub const ACQ_REASON_TRADE_REFUND_FEE_ERR: &str = "ACQ.REASON_TRADE_REFUND_FEE_ERR";
    /// 40004 (cancel, refund): the seller's balance cannot cover the refund (卖家余额不足).
    pub const ACQ_SELLER_BALANCE_NOT_ENOUGH: &str = "ACQ.SELLER_BALANCE_NOT_ENOUGH";
    /// 40004 (cancel): the trade is older than the cancel window (超过撤销时间范围): refund it
    /// instead.
    pub const ACQ_TRADE_CANCEL_TIME_OUT: &str = "ACQ.TRADE_CANCEL_TIME_OUT";
    /// 40004 (cancel, refund): the trade is finished, no refund possible (交易已完结).
    pub const ACQ_TRADE_HAS_FINISHED: &str = "ACQ.TRADE_HAS_FINISHED";
    /// 40004 (close, refund): the trade's status does not allow it (交易状态不合法): only
    /// `WAIT_BUYER_PAY` closes, only a paid trade refunds.
    pub const ACQ_TRADE_STATUS_ERROR: &str = "ACQ.TRADE_STATUS_ERROR";
    /// 40004 (refund): the refunds would exceed the trade's amount (退款金额超限).
    pub const ACQ_REFUND_AMT_NOT_EQUAL_TOTAL: &str = "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL";
    /// 40004 (refund): an `out_request_no` already used with other content (不一致的请求).
    pub const ACQ_DISCORDANT_REPEAT_REQUEST: &str = "ACQ.DISCORDANT_REPEAT_REQUEST";
    /// 40004 (refund): the trade does not allow refunds (当前交易不允许退款).
    pub const ACQ_TRADE_NOT_ALLOW_REFUND: &str = "ACQ.TRADE_NOT_ALLOW_REFUND";
    /// 40004 (refund): the refund amount is wrong (交易退款金额有误).
    pub const ACQ_REFUND_FEE_ERROR: &str = "ACQ.REFUND_FEE_ERROR";
    // 40004, alipay.trade.pay: the rest of its error table (docs/PROTOCOL.md §10)
    /// 40004 (pay): the buyer's mobile cashier could not be opened (唤起移动收银台失败).
    pub const ACQ_PULL_MOBILE_CASHIER_FAIL: &str = "ACQ.PULL_MOBILE_CASHIER_FAIL";
    /// 40004 (pay): the buyer has turned mobile payment off (用户的无线支付开关关闭).
    pub const ACQ_MOBILE_PAYMENT_SWITCH_OFF: &str = "ACQ.MOBILE_PAYMENT_SWITCH_OFF";
    /// 40004 (pay): the buyer's daily payment limit is reached (买家付款日限额超限).
    pub const ACQ_BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR: &str =
        "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR";
    /// 40004 (pay): the merchant's collection limit is reached (商户收款额度超限).
    pub const ACQ_BEYOND_PAY_RESTRICTION: &str = "ACQ.BEYOND_PAY_RESTRICTION";
    /// 40004 (pay): the merchant's monthly collection limit is reached (商户收款金额超过月限额).
    pub const ACQ_BEYOND_PER_RECEIPT_RESTRICTION: &str = "ACQ.BEYOND_PER_RECEIPT_RESTRICTION";
    /// 40004 (pay): the buyer's monthly payment limit is reached (买家付款月额度超限).
    pub const ACQ_BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR: &str =
        "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR";
    /// 40004 (pay): the merchant's account is frozen (商家账号被冻结).
    pub const ACQ_SELLER_BEEN_BLOCKED: &str = "ACQ.SELLER_BEEN_BLOCKED";
    /// 40004 (pay): the buyer has not passed the central bank's identity check (买家未通过人行认证).
    pub const ACQ_ERROR_BUYER_CERTIFY_LEVEL_LIMIT: &str = "ACQ.ERROR_BUYER_CERTIFY_LEVEL_LIMIT";
    /// 40004 (pay): the buyer has no usable payment instrument (没用可用的支付工具).
    pub const ACQ_NO_PAYMENT_INSTRUMENTS_AVAILABLE: &str = "ACQ.NO_PAYMENT_INSTRUMENTS_AVAILABLE";
    /// 40004 (pay): the buyer has turned face-to-face payment off (用户当面付付款开关关闭).
    pub const ACQ_USER_FACE_PAYMENT_SWITCH_OFF: &str = "ACQ.USER_FACE_PAYMENT_SWITCH_OFF";
    /// 40004 (pay): the sub-merchant could not be created (二级商户创建失败).
    pub const ACQ_SUB_MERCHANT_CREATE_FAIL: &str = "ACQ.SUB_MERCHANT_CREATE_FAIL";
    /// 40004 (pay): the sub-merchant type is invalid (二级商户类型非法).
    pub const ACQ_SUB_MERCHANT_TYPE_INVALID: &str = "ACQ.SUB_MERCHANT_TYPE_INVALID";
    /// 40004 (pay): the buyer's agreement does not exist (用户协议不存在).
    pub const ACQ_AGREEMENT_NOT_EXIST: &str = "ACQ.AGREEMENT_NOT_EXIST";
    /// 40004 (pay): the buyer's agreement is no longer valid (用户协议失效).
    pub const ACQ_AGREEMENT_INVALID: &str = "ACQ.AGREEMENT_INVALID";
    /// 40004 (pay): the buyer's agreement is not NORMAL (用户协议状态非NORMAL).
    pub const ACQ_AGREEMENT_STATUS_NOT_NORMAL: &str = "ACQ.AGREEMENT_STATUS_NOT_NORMAL";
    /// 40004 (pay): the merchant has no agreement with Alipay (商户协议不存在).
    pub const ACQ_MERCHANT_AGREEMENT_NOT_EXIST: &str = "ACQ.MERCHANT_AGREEMENT_NOT_EXIST";
    /// 40004 (pay): the merchant's agreement is no longer valid (商户协议已失效).
    pub const ACQ_MERCHANT_AGREEMENT_INVALID: &str = "ACQ.MERCHANT_AGREEMENT_INVALID";
    /// 40004 (pay): the merchant's agreement is not in a normal state (商户协议状态非正常状态).
    pub const ACQ_MERCHANT_STATUS_NOT_NORMAL: &str = "ACQ.MERCHANT_STATUS_NOT_NORMAL";
    /// 40004, bill download: no bill for that date (UNCONFIRMED, docs/PROTOCOL.md §5);
    /// what the simulator answers for today, the future and days before the app existed.
    pub const ISP_BILL_NOT_EXIST: &str = "isp.bill_not_exist";
    /// Bill download: the spelling without the `isp.` prefix that some
    /// gateways send for the same case (UNCONFIRMED, docs/PROTOCOL.md §5).
    pub const BILL_NOT_EXIST: &str = "BILL_NOT_EXIST";
    /// Bill download: a day without any trade (UNCONFIRMED, docs/PROTOCOL.md §5).
    pub const NO_BILL_DATA: &str = "NO_BILL_DATA";

    /// The Chinese `sub_msg` the gateway sends with a sub-code, where known
    /// (docs/PROTOCOL.md §4, §5); `None` for the others. For the pay table's
    /// documented descriptions see [`super::pay_sub_code_doc`].
    pub fn sub_msg_zh(sub_code: &str) -> Option<&'static str> {
        Some(match sub_code {
            ISP_UNKNOW_ERROR => "服务暂不可用（业务系统不可用）",
            AOP_UNKNOW_ERROR => "服务暂不可用（网关自身的未知错误）",
            ISV_MISSING_METHOD => "缺少方法名参数",
            ISV_MISSING_SIGNATURE => "缺少签名参数",
            ISV_MISSING_SIGNATURE_TYPE => "缺少签名类型参数",
            ISV_MISSING_APP_ID => "缺少appId参数",
            ISV_MISSING_TIMESTAMP => "缺少时间戳参数",
            ISV_MISSING_VERSION => "缺少版本参数",
            ISV_INVALID_PARAMETER => "参数无效",
            ISV_INVALID_METHOD => "不存在的方法名",
            ISV_INVALID_FORMAT => "无效的数据格式",
            ISV_INVALID_SIGNATURE_TYPE => "无效的签名类型",
            ISV_INVALID_SIGNATURE => "无效签名",
            ISV_INVALID_APP_ID => "无效的AppID参数",
            ISV_INVALID_TIMESTAMP => "非法的时间戳参数",
            ISV_INVALID_CHARSET => "字符集错误",
            ISV_MISSING_SIGNATURE_CONFIG => "应用未配置对应签名算法的公钥或者证书",
            ISV_APP_API_PUNISHED => "该接口已被处罚，不可调用",
            AOP_INVALID_APP_AUTH_TOKEN => "无效的应用授权令牌",
            ACQ_SYSTEM_ERROR => "系统异常",
            ACQ_INVALID_PARAMETER => "参数无效",
            ACQ_ACCESS_FORBIDDEN => "无权限使用接口",
            ACQ_TOTAL_FEE_EXCEED => "订单金额超过限额",
            ACQ_PAYMENT_AUTH_CODE_INVALID => "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款，如再次收款失败，请联系管理员处理。[SOUNDWAVE_PARSER_FAIL]",
            ACQ_CONTEXT_INCONSISTENT => "交易信息被篡改",
            ACQ_TRADE_HAS_SUCCESS => "交易已被支付",
            ACQ_TRADE_HAS_CLOSE => "交易已经关闭",
            ACQ_BUYER_BALANCE_NOT_ENOUGH => "买家余额不足",
            ACQ_BUYER_BANKCARD_BALANCE_NOT_ENOUGH => "用户银行卡余额不足",
            ACQ_BUYER_SELLER_EQUAL => "买卖家不能相同",
            ACQ_TRADE_BUYER_NOT_MATCH => "交易买家不匹配",
            ACQ_PAYMENT_FAIL => "支付失败",
            ACQ_INVALID_STORE_ID => "商户门店编号无效",
            ACQ_TRADE_NOT_EXIST => "交易不存在",
            ACQ_CANCEL_NOT_ALLOWED => "交易不允许撤销",
            ACQ_REASON_TRADE_BEEN_FREEZEN => "当前交易被冻结，不允许进行撤销",
            ACQ_REASON_TRADE_REFUND_FEE_ERR => "退款金额无效",
            ACQ_SELLER_BALANCE_NOT_ENOUGH => "卖家余额不足",
            ACQ_TRADE_CANCEL_TIME_OUT => "超过撤销时间范围",
            ACQ_TRADE_HAS_FINISHED => "交易已完结",
            ACQ_TRADE_STATUS_ERROR => "交易状态不合法",
            ACQ_REFUND_AMT_NOT_EQUAL_TOTAL => "退款金额超限",
            ACQ_DISCORDANT_REPEAT_REQUEST => "不一致的请求",
            ACQ_TRADE_NOT_ALLOW_REFUND => "当前交易不允许退款",
            ACQ_REFUND_FEE_ERROR => "交易退款金额有误",
            ISP_BILL_NOT_EXIST => "账单不存在",
            _ => return None,
        })
    }
}

/// One row of a gateway error table: the sub-code, the documented description
/// (错误描述, which the simulator sends as `sub_msg`) and its remedy (解决方案),
/// docs/PROTOCOL.md §10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubCodeDoc {
    /// The `sub_code`, one of the constants of [`sub`].
    pub sub_code: &'static str,
    /// What went wrong, in Chinese, exactly as documented.
    pub description: &'static str,
    /// What the merchant or the buyer should do, in Chinese, exactly as documented.
    pub remedy: &'static str,
}

/// The business error table of `alipay.trade.pay` (业务错误码, docs/PROTOCOL.md
/// §10), in the table's order: 37 sub-codes, each with its exact description
/// and remedy.
pub const PAY_SUB_CODES: [SubCodeDoc; 37] = [
    SubCodeDoc {
        sub_code: sub::ACQ_SYSTEM_ERROR,
        description: "接口返回错误",
        remedy: "请立即调用查询订单API,查询当前订单的状态,并根据订单状态决定下一步的操作,如果多次调用依然报此错误码,请联系支付宝客服",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_INVALID_PARAMETER,
        description: "参数无效",
        remedy: "检查请求参数,修改后重新发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_ACCESS_FORBIDDEN,
        description: "无权限使用接口",
        remedy: "未签约条码支付或者合同已到期",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_EXIST_FORBIDDEN_WORD,
        description: "订单信息中包含违禁词",
        remedy: "修改订单信息后,重新发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_PARTNER_ERROR,
        description: "应用APP_ID填写错误",
        remedy: "联系支付宝小二(联系支付宝文档右边的客服头像或到支持中心咨询),确认APP_ID的状态",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_TOTAL_FEE_EXCEED,
        description: "订单总金额超过限额",
        remedy: "修改订单金额再发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_PAYMENT_AUTH_CODE_INVALID,
        description: "支付授权码无效",
        remedy: "用户刷新条码后,重新扫码发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_CONTEXT_INCONSISTENT,
        description: "交易信息被篡改",
        remedy: "更换商家订单号后,重新发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_TRADE_HAS_SUCCESS,
        description: "交易已被支付",
        remedy: "确认该笔交易信息是否为当前买家的,如果是则认为交易付款成功,如果不是则更换商家订单号后,重新发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_TRADE_HAS_CLOSE,
        description: "交易已经关闭",
        remedy: "更换商家订单号后,重新发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_BUYER_BALANCE_NOT_ENOUGH,
        description: "买家余额不足",
        remedy: "买家绑定新的银行卡或者支付宝余额有钱后再发起支付",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_BUYER_BANKCARD_BALANCE_NOT_ENOUGH,
        description: "用户银行卡余额不足",
        remedy: "建议买家更换支付宝进行支付或者更换其它付款方式",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_ERROR_BALANCE_PAYMENT_DISABLE,
        description: "余额支付功能关闭",
        remedy: "用户打开余额支付开关后,再重新进行支付",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_BUYER_SELLER_EQUAL,
        description: "买卖家不能相同",
        remedy: "更换买家重新付款",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_TRADE_BUYER_NOT_MATCH,
        description: "交易买家不匹配",
        remedy: "更换商家订单号后,重新发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_BUYER_ENABLE_STATUS_FORBID,
        description: "买家状态非法",
        remedy: "用户联系支付宝小二(联系支付宝文档右边的客服头像或到支持中心咨询),确认买家状态为什么非法",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_PULL_MOBILE_CASHIER_FAIL,
        description: "唤起移动收银台失败",
        remedy: "用户刷新条码后,重新扫码发起请求",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_MOBILE_PAYMENT_SWITCH_OFF,
        description: "用户的无线支付开关关闭",
        remedy: "用户在PC上打开无线支付开关后,再重新发起支付",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_PAYMENT_FAIL,
        description: "支付失败",
        remedy: "用户刷新条码后,重新发起请求,如果重试一次后仍未成功,更换其它方式付款",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR,
        description: "买家付款日限额超限",
        remedy: "更换买家进行支付",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_BEYOND_PAY_RESTRICTION,
        description: "商户收款额度超限",
        remedy: "联系支付宝小二提高限额(联系电话:0571-88158090)",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_BEYOND_PER_RECEIPT_RESTRICTION,
        description: "商户收款金额超过月限额",
        remedy: "联系支付宝小二提高限额(联系电话:0571-88158090)",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR,
        description: "买家付款月额度超限",
        remedy: "让买家更换账号后,重新付款或者更换其它付款方式",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_SELLER_BEEN_BLOCKED,
        description: "商家账号被冻结",
        remedy: "联系支付宝小二,解冻账号(联系电话:95188)",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_ERROR_BUYER_CERTIFY_LEVEL_LIMIT,
        description: "买家未通过人行认证",
        remedy: "让用户联系支付宝小二并更换其它付款方式(联系电话:95188)",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_PAYMENT_REQUEST_HAS_RISK,
        description: "支付有风险",
        remedy: "更换其它付款方式",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_NO_PAYMENT_INSTRUMENTS_AVAILABLE,
        description: "没用可用的支付工具",
        remedy: "更换其它付款方式",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_USER_FACE_PAYMENT_SWITCH_OFF,
        description: "用户当面付付款开关关闭",
        remedy: "让用户在手机上打开当面付付款开关",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_INVALID_STORE_ID,
        description: "商户门店编号无效",
        remedy: "检查传入的门店编号是否有效",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_SUB_MERCHANT_CREATE_FAIL,
        description: "二级商户创建失败",
        remedy: "检查上送的二级商户信息是否有效",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_SUB_MERCHANT_TYPE_INVALID,
        description: "二级商户类型非法",
        remedy: "检查上传的二级商户类型是否有效",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_AGREEMENT_NOT_EXIST,
        description: "用户协议不存在",
        remedy: "确认代扣业务传入的协议号对应的协议是否已解约",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_AGREEMENT_INVALID,
        description: "用户协议失效",
        remedy: "代扣业务传入的协议号对应的用户协议已经失效,需要用户重新签约",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_AGREEMENT_STATUS_NOT_NORMAL,
        description: "用户协议状态非NORMAL",
        remedy: "代扣业务用户协议状态非正常状态,需要用户解约后重新签约",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_MERCHANT_AGREEMENT_NOT_EXIST,
        description: "商户协议不存在",
        remedy: "确认商户与支付宝是否已签约",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_MERCHANT_AGREEMENT_INVALID,
        description: "商户协议已失效",
        remedy: "商户与支付宝合同已失效,需要重新签约",
    },
    SubCodeDoc {
        sub_code: sub::ACQ_MERCHANT_STATUS_NOT_NORMAL,
        description: "商户协议状态非正常状态",
        remedy: "商户与支付宝的合同非正常状态,需要重新签商户合同",
    },
];

/// The row of [`PAY_SUB_CODES`] for a pay sub-code (its description is the
/// `sub_msg` a gateway sends); `None` for a sub-code outside the pay table.
pub fn pay_sub_code_doc(sub_code: &str) -> Option<&'static SubCodeDoc> {
    PAY_SUB_CODES.iter().find(|d| d.sub_code == sub_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_strings() {
        assert_eq!(Code::PayInProcess.msg(), " order success pay inprocess");
        assert_eq!(Code::Success.msg(), "Success");
        assert_eq!(
            Code::ServiceUnavailable.msg(),
            "Service Currently Unavailable"
        );
        assert_eq!(
            Code::MissingRequiredArguments.msg(),
            "Missing Required Arguments"
        );
        assert_eq!(Code::InvalidArguments.msg(), "Invalid Arguments");
        assert_eq!(
            Code::InsufficientConditions.msg(),
            "Insufficient Conditions"
        );
        assert_eq!(Code::BusinessFailed.msg(), "Business Failed");
        assert_eq!(
            Code::InsufficientPermissions.msg(),
            "Insufficient Permissions"
        );
        assert_eq!(
            Code::InsufficientTokenPermissions.msg(),
            "Insufficient Token Permissions"
        );
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(c));
        }
        assert_eq!(Code::parse("12345"), None);
    }

    #[test]
    fn pay_table_is_the_seeds() {
        assert_eq!(PAY_SUB_CODES.len(), 37);
        let mut seen = std::collections::HashSet::new();
        for d in PAY_SUB_CODES {
            assert!(d.sub_code.starts_with("ACQ."), "{}", d.sub_code);
            assert!(seen.insert(d.sub_code), "{} twice", d.sub_code);
            assert!(!d.description.is_empty() && !d.remedy.is_empty());
        }
        assert_eq!(
            pay_sub_code_doc(sub::ACQ_PAYMENT_AUTH_CODE_INVALID).map(|d| d.description),
            Some("支付授权码无效")
        );
    }
}

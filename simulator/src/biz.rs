//! Reading `biz_content` the way the real gateway does: a JSON object whose
//! values may be strings or (as some SDK users send them) bare numbers, with
//! each field checked against the gateway's limits by `protocol`'s validators.
//!
//! Guarantee: a field that fails its check yields a [`BizError`] naming the
//! field (never echoing an auth code), which the method turns into the
//! sub-code the real gateway answers.

use protocol::codes::sub;
use protocol::{
    AuthCode, Money, MoneyError, OutRequestNo, OutTradeNo, StoreId, Subject, TerminalId,
    TimeoutExpress,
};
use serde_json::{Map, Value};

/// A biz_content field that cannot be taken: the 40004 answer the method
/// gives for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sub_code}: {sub_msg}")]
pub struct BizError {
    /// The answer's `sub_code` (`ACQ.INVALID_PARAMETER` unless the gateway
    /// has a more precise one, such as `ACQ.TOTAL_FEE_EXCEED`).
    pub sub_code: &'static str,
    /// The answer's `sub_msg`, in Chinese as the gateway words it, naming
    /// the field (`缺少必选参数<field>`, `参数无效: <field> <why>`).
    pub sub_msg: String,
}

impl BizError {
    fn invalid(field: &str, why: &str) -> BizError {
        BizError {
            sub_code: sub::ACQ_INVALID_PARAMETER,
            sub_msg: format!("参数无效: {field} {why}"),
        }
    }
}

/// A parsed biz_content object. The accessors read one field each and
/// check it against the gateway's limits.
#[derive(Debug, Clone)]
pub struct Biz(Map<String, Value>);

impl Biz {
    /// Parses the raw biz_content text; `None` when it is not a JSON object.
    pub fn parse(text: &str) -> Option<Biz> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Some(Biz(m)),
            _ => None,
        }
    }

    /// The object's fields as sent.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    /// A string field; numbers and booleans are taken as their text; empty is absent.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when the field is an array or an object.
    pub fn opt(&self, name: &str) -> Result<Option<String>, BizError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(BizError::invalid(name, "must be a string")),
        }
    }

    /// A required string field.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` (`缺少必选参数<name>`) when it is absent or
    /// empty; as [`Biz::opt`] otherwise.
    pub fn req(&self, name: &str) -> Result<String, BizError> {
        self.opt(name)?.ok_or_else(|| BizError {
            sub_code: sub::ACQ_INVALID_PARAMETER,
            sub_msg: format!("缺少必选参数{name}"),
        })
    }

    /// The required `out_trade_no`, checked by `protocol`'s `OutTradeNo`.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is absent or not a valid out_trade_no.
    pub fn out_trade_no(&self) -> Result<String, BizError> {
        let s = self.req("out_trade_no")?;
        OutTradeNo::parse(&s).map_err(|e| BizError::invalid("out_trade_no", &e.to_string()))?;
        Ok(s)
    }

    /// Either out_trade_no or trade_no (trade_no wins when both are given),
    /// as `(out_trade_no, trade_no)`.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when neither is given, the out_trade_no is not
    /// valid, or the trade_no is not at most 64 digits.
    pub fn trade_ref(&self) -> Result<(Option<String>, Option<String>), BizError> {
        let otn = self.opt("out_trade_no")?;
        let tn = self.opt("trade_no")?;
        if otn.is_none() && tn.is_none() {
            return Err(BizError::invalid(
                "out_trade_no/trade_no",
                "one of them is required",
            ));
        }
        if let Some(o) = &otn {
            OutTradeNo::parse(o).map_err(|e| BizError::invalid("out_trade_no", &e.to_string()))?;
        }
        if let Some(t) = &tn {
            if t.len() > 64 || !t.bytes().all(|c| c.is_ascii_digit()) {
                return Err(BizError::invalid("trade_no", "must be digits"));
            }
        }
        Ok((otn, tn))
    }

    /// The buyer's required `auth_code` (the barcode). Never echoed in an error.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is absent;
    /// `ACQ.PAYMENT_AUTH_CODE_INVALID` when it is not a valid auth code.
    pub fn auth_code(&self) -> Result<AuthCode, BizError> {
        let s = self.opt("auth_code")?.ok_or_else(|| BizError {
            sub_code: sub::ACQ_INVALID_PARAMETER,
            sub_msg: "缺少必选参数auth_code".into(),
        })?;
        AuthCode::parse(&s).map_err(|_| BizError {
            sub_code: sub::ACQ_PAYMENT_AUTH_CODE_INVALID,
            sub_msg: sub::sub_msg_zh(sub::ACQ_PAYMENT_AUTH_CODE_INVALID)
                .unwrap_or("支付授权码无效")
                .into(),
        })
    }

    /// A required amount field (yuan, two decimals at most) of at least 0.01.
    ///
    /// # Errors
    ///
    /// `ACQ.TOTAL_FEE_EXCEED` when it is above the gateway's limit;
    /// `ACQ.INVALID_PARAMETER` when it is absent, not an amount, or zero.
    pub fn amount(&self, name: &str) -> Result<Money, BizError> {
        let s = self.req(name)?;
        Money::parse_amount(&s).map_err(|e| match e {
            MoneyError::TooLarge => BizError {
                sub_code: sub::ACQ_TOTAL_FEE_EXCEED,
                sub_msg: "订单金额超过限额".into(),
            },
            other => BizError::invalid(name, &other.to_string()),
        })
    }

    /// The required `subject` (the order title), checked by `protocol`'s `Subject`.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is absent or too long.
    pub fn subject(&self) -> Result<String, BizError> {
        let s = self.req("subject")?;
        Subject::parse(&s).map_err(|e| BizError::invalid("subject", &e.to_string()))?;
        Ok(s)
    }

    /// Checks the optional `scene` of a barcode pay.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is neither `bar_code` nor `wave_code`.
    pub fn scene(&self) -> Result<(), BizError> {
        match self.opt("scene")? {
            None => Ok(()),
            Some(s) => protocol::Scene::parse(&s)
                .map(|_| ())
                .map_err(|e| BizError::invalid("scene", &e.to_string())),
        }
    }

    /// The optional `store_id`, checked by `protocol`'s `StoreId`.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is not a valid store id.
    pub fn store_id(&self) -> Result<Option<String>, BizError> {
        let v = self.opt("store_id")?;
        if let Some(s) = &v {
            StoreId::parse(s).map_err(|e| BizError::invalid("store_id", &e.to_string()))?;
        }
        Ok(v)
    }

    /// The optional `terminal_id`, checked by `protocol`'s `TerminalId`.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is not a valid terminal id.
    pub fn terminal_id(&self) -> Result<Option<String>, BizError> {
        let v = self.opt("terminal_id")?;
        if let Some(s) = &v {
            TerminalId::parse(s).map_err(|e| BizError::invalid("terminal_id", &e.to_string()))?;
        }
        Ok(v)
    }

    /// The optional `timeout_express` in minutes (`1c`: until the end of the
    /// day, taken as 24 h).
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is not a valid `timeout_express`
    /// (`Nm`, `Nh` or `Nd` from one minute to 15 days, or `1c`).
    pub fn timeout_minutes(&self) -> Result<Option<u32>, BizError> {
        match self.opt("timeout_express")? {
            None => Ok(None),
            Some(s) => {
                let t = TimeoutExpress::parse(&s)
                    .map_err(|e| BizError::invalid("timeout_express", &e.to_string()))?;
                Ok(Some(t.minutes().unwrap_or(24 * 60)))
            }
        }
    }

    /// The optional `out_request_no` (a refund's idempotency key), checked
    /// by `protocol`'s `OutRequestNo`.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is not a valid out_request_no.
    pub fn out_request_no(&self) -> Result<Option<String>, BizError> {
        let v = self.opt("out_request_no")?;
        if let Some(s) = &v {
            OutRequestNo::parse(s)
                .map_err(|e| BizError::invalid("out_request_no", &e.to_string()))?;
        }
        Ok(v)
    }

    /// An optional free text field limited to `max` characters.
    ///
    /// # Errors
    ///
    /// `ACQ.INVALID_PARAMETER` when it is longer, or as [`Biz::opt`].
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, BizError> {
        let v = self.opt(name)?;
        if let Some(s) = &v {
            if s.chars().count() > max {
                return Err(BizError::invalid(name, "is too long"));
            }
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_taken_as_text() {
        let b = Biz::parse(r#"{"total_amount":88.8,"subject":"x"}"#).unwrap();
        assert_eq!(b.amount("total_amount").unwrap().fen(), 8880);
        let b = Biz::parse(r#"{"total_amount":"100000000.01"}"#).unwrap();
        assert_eq!(
            b.amount("total_amount").unwrap_err().sub_code,
            sub::ACQ_TOTAL_FEE_EXCEED
        );
        assert!(Biz::parse("[1]").is_none());
        assert!(Biz::parse("{").is_none());
    }
}

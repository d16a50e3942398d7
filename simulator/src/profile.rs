//! The seeded random scenario profile: which share of requests meet 10003,
//! 20000, 40004, hung or reset connections, how long each method takes, and
//! how notifications are duplicated or reordered.
//!
//! Guarantee: every random choice is drawn from a generator seeded with the
//! profile's seed and the request's identity (out_trade_no, method and the
//! number of earlier calls of that method for that trade), never from arrival
//! order, so the same seed and the same requests give the same outcomes.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};
use serde::{Deserialize, Serialize};

/// Why a profile was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The text is not TOML, or not a profile's shape (an unknown key, a
    /// value of the wrong type); the message names the key.
    #[error("profile is not valid TOML: {0}")]
    Toml(String),
    /// As [`ProfileError::Toml`], for text that starts with `{`.
    #[error("profile is not valid JSON: {0}")]
    Json(String),
    /// The profile parses but a value is out of its range
    /// ([`Profile::validate`]).
    #[error("profile field {field}: {reason}")]
    Invalid {
        /// The field at fault, as a path (`pay.wait_password`,
        /// `behaviour.fund_mix[1].fund_channel`, `latency.default`).
        field: String,
        /// What the value should have been.
        reason: String,
    },
}

/// The random scenario profile. `Default` answers every request with success
/// at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// The seed every random choice derives from (with the request's identity).
    pub seed: u64,
    /// Outcome shares of alipay.trade.pay for auth codes that are not magic values.
    pub pay: PayShares,
    /// Faults of every method: hung connections, resets, 20000.
    pub faults: FaultShares,
    /// Latency per method name (`alipay.trade.pay`...), with `default` for the rest.
    pub latency: BTreeMap<String, Latency>,
    /// Notification delivery options.
    pub notify: NotifyOptions,
    /// Optional gateway behaviours.
    pub behaviour: Behaviour,
}

/// Optional gateway behaviours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// A precreated QR trade does not exist for query, close, cancel and
    /// refund (ACQ.TRADE_NOT_EXIST) until the buyer scans it
    /// (`POST /_sim/trades/{no}/buyer-scan` or `buyer-pay`), as on the real
    /// gateway. Default off: visible at once.
    pub precreate_hidden_until_scan: bool,
    /// What alipay.trade.cancel answers for an out_trade_no the gateway has
    /// not booked (yet). Default `success`, as the SDK documents it.
    pub cancel_unknown: CancelUnknown,
    /// Whether an alipay.trade.pay that reaches the gateway (or a 9003 late
    /// landing that lands) after a cancel of its unbooked out_trade_no is
    /// booked. Default `lands` (the worst case: money taken after the cancel).
    pub late_pay_after_cancel: LatePayAfterCancel,
    /// monitor.heartbeat.syn answers 20000 isp.unknow-error (a failing
    /// monitor) to valid heartbeats; they are still recorded. Default off.
    pub heartbeat_fail: bool,
    /// monitor.heartbeat.syn answers unsigned (no `sign`), as the real
    /// monitoring gateway does. Default off: signed like every other method.
    pub heartbeat_unsigned: bool,
    /// alipay.trade.refund needs the day's income of the trade's (app,
    /// sub-merchant) to cover it (docs/PROTOCOL.md §9.6: payments booked this
    /// gateway day minus the refunds already made this day), else 40004
    /// ACQ.SELLER_BALANCE_NOT_ENOUGH. Default on.
    pub refund_needs_day_income: bool,
    /// The funding tools of a payment (percentages adding up to 100; the
    /// first tool takes the remainder of the fen split). Empty (default):
    /// the whole amount from ALIPAYACCOUNT.
    pub fund_mix: Vec<FundShare>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            precreate_hidden_until_scan: false,
            cancel_unknown: CancelUnknown::default(),
            late_pay_after_cancel: LatePayAfterCancel::default(),
            heartbeat_fail: false,
            heartbeat_unsigned: false,
            refund_needs_day_income: true,
            fund_mix: Vec::new(),
        }
    }
}

/// A funding tool (`fund_channel`), in the order refunds take from them
/// (docs/PROTOCOL.md §9.6): PCREDIT first, MDISCOUNT last. The declaration
/// order is that priority order (`Ord` sorts by it). On the wire (profile
/// `behaviour.fund_mix`, `fund_bill_list`) each is its upper-case name
/// ([`FundChannel::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum FundChannel {
    /// `PCREDIT`, 花呗 (Huabei consumer credit).
    Pcredit,
    /// `BANKCARD`, 银行卡 (a bank card).
    Bankcard,
    /// `ALIPAYACCOUNT`, 支付宝账户 (the buyer's Alipay balance); the tool of
    /// a payment without a fund mix.
    Alipayaccount,
    /// `MCARD`, 商家储值卡 (the merchant's stored-value card).
    Mcard,
    /// `PCARD`, 预付卡 (a prepaid card).
    Pcard,
    /// `POINT`, 集分宝 (Alipay points).
    Point,
    /// `COUPON`, 支付宝红包 (an Alipay red packet).
    Coupon,
    /// `DISCOUNT`, 折扣券 (an Alipay discount coupon).
    Discount,
    /// `MCOUPON`, 商户红包 (the merchant's red packet).
    Mcoupon,
    /// `MDISCOUNT`, 商户优惠券 (the merchant's discount coupon).
    Mdiscount,
}

impl FundChannel {
    /// Every tool, in refund priority order.
    pub const ALL: [FundChannel; 10] = [
        FundChannel::Pcredit,
        FundChannel::Bankcard,
        FundChannel::Alipayaccount,
        FundChannel::Mcard,
        FundChannel::Pcard,
        FundChannel::Point,
        FundChannel::Coupon,
        FundChannel::Discount,
        FundChannel::Mcoupon,
        FundChannel::Mdiscount,
    ];

    /// The wire name (`ALIPAYACCOUNT`...).
    pub fn as_str(self) -> &'static str {
        match self {
            FundChannel::Pcredit => "PCREDIT",
            FundChannel::Bankcard => "BANKCARD",
            FundChannel::Alipayaccount => "ALIPAYACCOUNT",
            FundChannel::Mcard => "MCARD",
            FundChannel::Pcard => "PCARD",
            FundChannel::Point => "POINT",
            FundChannel::Coupon => "COUPON",
            FundChannel::Discount => "DISCOUNT",
            FundChannel::Mcoupon => "MCOUPON",
            FundChannel::Mdiscount => "MDISCOUNT",
        }
    }
}

impl From<FundChannel> for &'static str {
    fn from(c: FundChannel) -> &'static str {
        c.as_str()
    }
}

impl TryFrom<String> for FundChannel {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        FundChannel::ALL
            .into_iter()
            .find(|c| c.as_str() == v)
            .ok_or_else(|| {
                format!(
                    "behaviour.fund_mix: fund_channel must be one of PCREDIT, BANKCARD, \
                     ALIPAYACCOUNT, MCARD, PCARD, POINT, COUPON, DISCOUNT, MCOUPON, MDISCOUNT, not {v:?}"
                )
            })
    }
}

/// One funding tool of `behaviour.fund_mix` and its share of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundShare {
    /// The tool; each appears at most once in a mix.
    pub fund_channel: FundChannel,
    /// Whole percent, 1 to 100; the shares of a mix add up to 100.
    pub percent: u32,
}

/// Splits `total` fen over a fund mix: each tool after the first gets
/// `total * percent / 100` rounded down, the first what remains; tools
/// with nothing are left out. An empty mix is all ALIPAYACCOUNT.
pub fn split_funds(mix: &[FundShare], total: u64) -> Vec<(FundChannel, u64)> {
    let Some((first, rest)) = mix.split_first() else {
        return vec![(FundChannel::Alipayaccount, total)];
    };
    let mut parts: Vec<(FundChannel, u64)> = Vec::with_capacity(mix.len());
    let mut given = 0u64;
    for s in rest {
        let a = u64::try_from(u128::from(total) * u128::from(s.percent) / 100).unwrap_or(0);
        given = given.saturating_add(a);
        parts.push((s.fund_channel, a));
    }
    parts.insert(0, (first.fund_channel, total.saturating_sub(given)));
    parts.retain(|p| p.1 > 0);
    parts
}

/// The tools a refund takes from, in priority order (docs/PROTOCOL.md §9.6):
/// the amounts of `paid` (tool, fen) that the refunded total `before + amount`
/// covers beyond what the earlier refunds (`before`) took.
pub fn refund_split(
    paid: &[(FundChannel, u64)],
    before: u64,
    amount: u64,
) -> Vec<(FundChannel, u64)> {
    let mut order: Vec<(FundChannel, u64)> = paid.to_vec();
    order.sort_by_key(|p| p.0);
    let after = before.saturating_add(amount);
    let mut out = Vec::new();
    let mut start = 0u64;
    for (c, a) in order {
        let end = start.saturating_add(a);
        // This tool covers [start, end) of the cumulative refunds.
        let lo = before.clamp(start, end);
        let hi = after.clamp(start, end);
        if hi > lo {
            out.push((c, hi - lo));
        }
        start = end;
    }
    out
}

/// The answer to a cancel of an out_trade_no the gateway has not booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum CancelUnknown {
    /// 10000 Success, `retry_flag` N, no `action`, no `trade_no` (the SDK's
    /// doc of `action`: "未返回：未查询到交易").
    #[default]
    Success,
    /// 40004 ACQ.TRADE_NOT_EXIST (the simulator's answer before this switch).
    TradeNotExist,
    /// Answers like `success`, and a later pay of that out_trade_no is
    /// refused whatever `late_pay_after_cancel` says.
    CloseAndBlock,
}

/// What happens to a pay of an out_trade_no cancelled while unbooked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum LatePayAfterCancel {
    /// Booked as usual (TRADE_SUCCESS for a paying auth code).
    #[default]
    Lands,
    /// Answered 40004 ACQ.TRADE_HAS_CLOSE; no trade, no money; a 9003 late
    /// landing does not book.
    Refused,
}

/// Shares (0 to 1) of the outcomes of alipay.trade.pay. They are tried in the
/// order listed; what remains is success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayShares {
    /// Share answered 10003 (the buyer must enter a password).
    pub wait_password: f64,
    /// Of the 10003 trades, the share whose buyer pays after the password delay (the rest never pay).
    pub wait_password_paid: f64,
    /// Share answered 20000 isp.unknow-error.
    pub unknown_error: f64,
    /// Of the 20000 answers, the share where the money was taken anyway.
    pub unknown_error_paid: f64,
    /// Share answered 40004.
    pub business_failed: f64,
    /// The 40004 sub-codes, chosen uniformly (default ACQ.BUYER_BALANCE_NOT_ENOUGH).
    pub business_failed_sub_codes: Vec<String>,
}

impl Default for PayShares {
    fn default() -> Self {
        PayShares {
            wait_password: 0.0,
            wait_password_paid: 1.0,
            unknown_error: 0.0,
            unknown_error_paid: 0.5,
            business_failed: 0.0,
            business_failed_sub_codes: vec![
                protocol::codes::sub::ACQ_BUYER_BALANCE_NOT_ENOUGH.into()
            ],
        }
    }
}

/// Shares (0 to 1) of transport faults and unknown errors, for every method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FaultShares {
    /// The request is executed, then the connection is held past the
    /// client's time-out and dropped without an answer.
    pub hang: f64,
    /// The connection is reset before the request is executed.
    pub reset: f64,
    /// Methods other than pay: 20000 isp.unknow-error without executing.
    pub unknown_error: f64,
}

/// A latency distribution, in milliseconds: how long the simulator waits
/// before sending a trade method's answer. In a profile, a table with
/// `kind = "fixed" | "uniform" | "log_normal"` and the fields of that kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always `ms`.
    Fixed {
        /// The latency, milliseconds (not negative).
        ms: f64,
    },
    /// Uniform in [min_ms, max_ms].
    Uniform {
        /// The lower bound, milliseconds (not negative).
        min_ms: f64,
        /// The upper bound, milliseconds (at least `min_ms`).
        max_ms: f64,
    },
    /// Log-normal with the given median and sigma (of the underlying normal).
    LogNormal {
        /// The median, milliseconds (positive).
        median_ms: f64,
        /// The standard deviation of the underlying normal (not negative;
        /// 0 is always the median).
        sigma: f64,
    },
}

/// Notification delivery options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyOptions {
    /// False: no notification is sent (nor recorded) for any trade, so a
    /// test can show a paid QR trade whose notification never arrives.
    pub enabled: bool,
    /// Trade statuses that trigger a notification (default `TRADE_SUCCESS`,
    /// as on a real app; add `TRADE_CLOSED`, `TRADE_FINISHED`).
    pub statuses: Vec<String>,
    /// Share of notifications sent once more after the receiver said `success`.
    pub duplicate_share: f64,
    /// Delay of that duplicate, milliseconds (not scaled).
    pub duplicate_delay_ms: u64,
    /// Share of TRADE_SUCCESS notifications whose first attempt is held back
    /// by `reorder_delay_ms`, so that a later status change (a full refund's
    /// TRADE_CLOSED) can overtake it.
    pub reorder_share: f64,
    /// How long a reordered notification is held back, milliseconds (not scaled).
    pub reorder_delay_ms: u64,
    /// Per-attempt time-out waiting for the receiver, milliseconds.
    pub timeout_ms: u64,
    /// Also notify a partial refund (trade_status stays TRADE_SUCCESS, with
    /// `refund_fee` and `gmt_refund`), as Alipay does for some products.
    pub on_partial_refund: bool,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            enabled: true,
            statuses: vec!["TRADE_SUCCESS".into()],
            duplicate_share: 0.0,
            duplicate_delay_ms: 200,
            reorder_share: 0.0,
            reorder_delay_ms: 500,
            timeout_ms: 5000,
            on_partial_refund: false,
        }
    }
}

// Parsed by hand so that an unknown value names its field in TOML and JSON alike.
impl TryFrom<String> for CancelUnknown {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        match v.as_str() {
            "success" => Ok(CancelUnknown::Success),
            "trade_not_exist" => Ok(CancelUnknown::TradeNotExist),
            "close_and_block" => Ok(CancelUnknown::CloseAndBlock),
            _ => Err(format!(
                "behaviour.cancel_unknown must be \"success\", \"trade_not_exist\" or \"close_and_block\", not {v:?}"
            )),
        }
    }
}

impl TryFrom<String> for LatePayAfterCancel {
    type Error = String;
    fn try_from(v: String) -> Result<Self, String> {
        match v.as_str() {
            "lands" => Ok(LatePayAfterCancel::Lands),
            "refused" => Ok(LatePayAfterCancel::Refused),
            _ => Err(format!(
                "behaviour.late_pay_after_cancel must be \"lands\" or \"refused\", not {v:?}"
            )),
        }
    }
}

fn check_share(field: &str, v: f64) -> Result<(), ProfileError> {
    if !(0.0..=1.0).contains(&v) || v.is_nan() {
        return Err(ProfileError::Invalid {
            field: field.into(),
            reason: "must be between 0 and 1".into(),
        });
    }
    Ok(())
}

impl Profile {
    /// Parses a profile from TOML or JSON text (JSON when it starts with `{`)
    /// and [validates](Profile::validate) it.
    ///
    /// # Errors
    ///
    /// [`ProfileError::Toml`] or [`ProfileError::Json`] when the text does
    /// not parse into a profile (an unknown key, a wrong type, an unknown
    /// enum value such as `behaviour.cancel_unknown`);
    /// [`ProfileError::Invalid`] when [`Profile::validate`] refuses it.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let p: Profile = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| ProfileError::Json(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| ProfileError::Toml(e.to_string()))?
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks shares and distributions: every share in 0..=1 and the shares
    /// of `pay` and of `faults` adding up to at most 1; the
    /// `pay.business_failed_sub_codes` in alipay.trade.pay's error table
    /// (docs/PROTOCOL.md §10); the `notify.statuses` trade statuses; a
    /// `behaviour.fund_mix` of distinct tools with whole percents of 1 to
    /// 100 adding up to 100; latency bounds not negative nor inverted.
    ///
    /// # Errors
    ///
    /// [`ProfileError::Invalid`] naming the first field that breaks a rule.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let p = &self.pay;
        check_share("pay.wait_password", p.wait_password)?;
        check_share("pay.wait_password_paid", p.wait_password_paid)?;
        check_share("pay.unknown_error", p.unknown_error)?;
        check_share("pay.unknown_error_paid", p.unknown_error_paid)?;
        check_share("pay.business_failed", p.business_failed)?;
        for c in &p.business_failed_sub_codes {
            if protocol::codes::pay_sub_code_doc(c).is_none() {
                return Err(ProfileError::Invalid {
                    field: "pay.business_failed_sub_codes".into(),
                    reason: format!(
                        "{c} is not a sub-code of alipay.trade.pay's error table (docs/PROTOCOL.md §10)"
                    ),
                });
            }
        }
        if p.wait_password + p.unknown_error + p.business_failed > 1.0 + 1e-9 {
            return Err(ProfileError::Invalid {
                field: "pay".into(),
                reason: "the shares add up to more than 1".into(),
            });
        }
        check_share("faults.hang", self.faults.hang)?;
        check_share("faults.reset", self.faults.reset)?;
        check_share("faults.unknown_error", self.faults.unknown_error)?;
        if self.faults.hang + self.faults.reset + self.faults.unknown_error > 1.0 + 1e-9 {
            return Err(ProfileError::Invalid {
                field: "faults".into(),
                reason: "the shares add up to more than 1".into(),
            });
        }
        check_share("notify.duplicate_share", self.notify.duplicate_share)?;
        check_share("notify.reorder_share", self.notify.reorder_share)?;
        for s in &self.notify.statuses {
            if protocol::TradeStatus::parse(s).is_none() {
                return Err(ProfileError::Invalid {
                    field: "notify.statuses".into(),
                    reason: format!("unknown trade status {s}"),
                });
            }
        }
        let mix = &self.behaviour.fund_mix;
        let mut seen: Vec<FundChannel> = Vec::new();
        let mut sum = 0u32;
        for (i, s) in mix.iter().enumerate() {
            if !(1..=100).contains(&s.percent) {
                return Err(ProfileError::Invalid {
                    field: format!("behaviour.fund_mix[{i}].percent"),
                    reason: format!("must be a whole number from 1 to 100, not {}", s.percent),
                });
            }
            if seen.contains(&s.fund_channel) {
                return Err(ProfileError::Invalid {
                    field: format!("behaviour.fund_mix[{i}].fund_channel"),
                    reason: format!("{} is listed twice", s.fund_channel.as_str()),
                });
            }
            seen.push(s.fund_channel);
            sum += s.percent;
        }
        if !mix.is_empty() && sum != 100 {
            return Err(ProfileError::Invalid {
                field: "behaviour.fund_mix".into(),
                reason: format!("the percents add up to {sum}, not 100"),
            });
        }
        for (m, l) in &self.latency {
            let ok = match l {
                Latency::Fixed { ms } => *ms >= 0.0,
                Latency::Uniform { min_ms, max_ms } => *min_ms >= 0.0 && max_ms >= min_ms,
                Latency::LogNormal { median_ms, sigma } => *median_ms > 0.0 && *sigma >= 0.0,
            };
            let bad = !ok;
            if bad {
                return Err(ProfileError::Invalid {
                    field: format!("latency.{m}"),
                    reason: "negative or inverted bounds".into(),
                });
            }
        }
        Ok(())
    }

    /// The latency distribution of a method (its own, else `default`).
    pub fn latency_of(&self, method: &str) -> Option<&Latency> {
        self.latency
            .get(method)
            .or_else(|| self.latency.get("default"))
    }
}

impl Latency {
    /// Draws one latency from `rng` (negative draws are zero; capped at one
    /// hour).
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        let ms = match self {
            Latency::Fixed { ms } => *ms,
            Latency::Uniform { min_ms, max_ms } => {
                if max_ms > min_ms {
                    rng.gen_range(*min_ms..=*max_ms)
                } else {
                    *min_ms
                }
            }
            Latency::LogNormal { median_ms, sigma } => match LogNormal::new(median_ms.ln(), *sigma)
            {
                Ok(d) => d.sample(rng),
                Err(_) => *median_ms,
            },
        };
        Duration::from_secs_f64((ms.max(0.0) / 1000.0).min(3600.0))
    }
}

/// FNV-1a, 64 bits, over `parts` with a separator after each part: a hash
/// that is stable across builds and platforms (unlike `std`'s hasher), for
/// seeds, derived identifiers and draws.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator so that ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The generator of one decision: seed, trade, method and call number.
/// `purpose` names the decision (a method name, `notify:TRADE_SUCCESS`...);
/// `call` counts earlier calls of it for the trade ([`crate::state::Sim::next_call`]),
/// so retries draw afresh while a replay of the same requests draws the same.
pub fn rng_for(seed: u64, out_trade_no: &str, purpose: &str, call: u64) -> ChaCha8Rng {
    let h = fnv1a(&[
        &seed.to_le_bytes(),
        out_trade_no.as_bytes(),
        purpose.as_bytes(),
        &call.to_le_bytes(),
    ]);
    ChaCha8Rng::seed_from_u64(h ^ seed.rotate_left(17))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_and_json() {
        let t = r#"
seed = 7
[pay]
wait_password = 0.1
business_failed = 0.05
business_failed_sub_codes = ["ACQ.PAYMENT_FAIL"]
[faults]
hang = 0.01
[latency."alipay.trade.pay"]
kind = "log_normal"
median_ms = 50
sigma = 0.4
[latency.default]
kind = "fixed"
ms = 2
[notify]
duplicate_share = 0.5
"#;
        let p = Profile::parse(t).unwrap();
        assert_eq!(p.seed, 7);
        assert_eq!(p.pay.wait_password, 0.1);
        assert!(matches!(
            p.latency_of("alipay.trade.query"),
            Some(Latency::Fixed { .. })
        ));
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(Profile::parse(&j).unwrap(), p);
        assert!(Profile::parse("[pay]\nwait_password = 2").is_err());
        assert!(Profile::parse("nonsense = 1").is_err());
        let e = Profile::parse("[pay]\nbusiness_failed_sub_codes = [\"ACQ.NOPE\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pay.business_failed_sub_codes"), "{e}");
        let b = Profile::parse(
            "[behaviour]\ncancel_unknown = \"close_and_block\"\nlate_pay_after_cancel = \"refused\"",
        )
        .unwrap();
        assert_eq!(b.behaviour.cancel_unknown, CancelUnknown::CloseAndBlock);
        assert_eq!(
            b.behaviour.late_pay_after_cancel,
            LatePayAfterCancel::Refused
        );
        let d = Profile::default();
        assert_eq!(d.behaviour.cancel_unknown, CancelUnknown::Success);
        assert_eq!(d.behaviour.late_pay_after_cancel, LatePayAfterCancel::Lands);
        assert!(d.notify.enabled);
        let e = Profile::parse("[behaviour]\ncancel_unknown = \"maybe\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("behaviour.cancel_unknown"), "{e}");
        let e = Profile::parse(r#"{"behaviour": {"late_pay_after_cancel": "later"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("behaviour.late_pay_after_cancel"), "{e}");
    }

    #[test]
    fn fund_mix_splits_and_refunds_in_the_seed_order() {
        use FundChannel::*;
        let p = Profile::parse(
            r#"{"behaviour": {"fund_mix": [
                {"fund_channel": "ALIPAYACCOUNT", "percent": 70},
                {"fund_channel": "POINT", "percent": 10},
                {"fund_channel": "MDISCOUNT", "percent": 20}]}}"#,
        )
        .unwrap();
        assert!(p.behaviour.refund_needs_day_income);
        let paid = split_funds(&p.behaviour.fund_mix, 10_000);
        assert_eq!(
            paid,
            vec![(Alipayaccount, 7_000), (Point, 1_000), (Mdiscount, 2_000)]
        );
        // docs/PROTOCOL.md §9.6's examples.
        assert_eq!(
            refund_split(&paid, 0, 7_500),
            vec![(Alipayaccount, 7_000), (Point, 500)]
        );
        assert_eq!(
            refund_split(&paid, 0, 8_500),
            vec![(Alipayaccount, 7_000), (Point, 1_000), (Mdiscount, 500)]
        );
        assert_eq!(
            refund_split(&paid, 7_500, 1_000),
            vec![(Point, 500), (Mdiscount, 500)]
        );
        // The remainder of the fen split goes to the first tool.
        assert_eq!(
            split_funds(&p.behaviour.fund_mix, 1),
            vec![(Alipayaccount, 1)]
        );
        assert_eq!(
            split_funds(&p.behaviour.fund_mix, 999),
            vec![(Alipayaccount, 701), (Point, 99), (Mdiscount, 199)]
        );
        assert_eq!(split_funds(&[], 500), vec![(Alipayaccount, 500)]);
        let d = Profile::default();
        assert!(d.behaviour.refund_needs_day_income);
        assert!(d.behaviour.fund_mix.is_empty());
        let off = Profile::parse("[behaviour]\nrefund_needs_day_income = false").unwrap();
        assert!(!off.behaviour.refund_needs_day_income);
        let toml =
            Profile::parse("[[behaviour.fund_mix]]\nfund_channel = \"PCREDIT\"\npercent = 100")
                .unwrap();
        assert_eq!(toml.behaviour.fund_mix[0].fund_channel, Pcredit);
        let j = serde_json::to_string(&p).unwrap();
        assert!(j.contains(r#""fund_channel":"MDISCOUNT""#), "{j}");
        assert_eq!(Profile::parse(&j).unwrap(), p);
    }

    #[test]
    fn fund_mix_errors_name_the_field() {
        let err = |t: &str| Profile::parse(t).unwrap_err().to_string();
        let e = err(
            r#"{"behaviour": {"fund_mix": [{"fund_channel": "ALIPAYACCOUNT", "percent": 70},
            {"fund_channel": "POINT", "percent": 20}]}}"#,
        );
        assert!(e.contains("behaviour.fund_mix") && e.contains("90"), "{e}");
        let e = err(r#"{"behaviour": {"fund_mix": [{"fund_channel": "CASH", "percent": 100}]}}"#);
        assert!(
            e.contains("behaviour.fund_mix") && e.contains("CASH"),
            "{e}"
        );
        let e = err(
            r#"{"behaviour": {"fund_mix": [{"fund_channel": "POINT", "percent": 0},
            {"fund_channel": "COUPON", "percent": 100}]}}"#,
        );
        assert!(e.contains("behaviour.fund_mix[0].percent"), "{e}");
        let e = err(
            r#"{"behaviour": {"fund_mix": [{"fund_channel": "POINT", "percent": 50},
            {"fund_channel": "POINT", "percent": 50}]}}"#,
        );
        assert!(e.contains("behaviour.fund_mix[1].fund_channel"), "{e}");
        let e = err("[[behaviour.fund_mix]]\nfund_channel = \"POINT\"\npercent = 100\nshare = 1");
        assert!(e.contains("share"), "{e}");
    }

    #[test]
    fn same_identity_same_draw() {
        let a: u64 = rng_for(1, "T1", "pay", 0).gen();
        let b: u64 = rng_for(1, "T1", "pay", 0).gen();
        let c: u64 = rng_for(2, "T1", "pay", 0).gen();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

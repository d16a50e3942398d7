//! Fees of a trade and what its refunds return (item 4 of "Daily
//! reconciliation"). Pure arithmetic: no I/O, no clock, no floats.
//!
//! Each sub-merchant has two rates in basis points ([`FeeRate`], 0..=10000):
//! the *gateway* rate (what Alipay charges the acquirer) and the *merchant*
//! rate (what the acquirer charges the merchant, [`FeeRates`]). Both follow
//! the rule of the bank indirect-acquiring guide (docs/PROTOCOL.md §9.6,
//! 手续费计算):
//!
//! > 支付手续费按单笔交易的商户实收（receipt_amount字段）计算。计算公式为实收金额
//! > \* 支付手续费率后四舍五入到分，计算结果小于1分钱则免手续费。退款手续费按退款
//! > 金额比例退还手续费，计算公式为退款金额 \* 支付手续费率后四舍五入，计算结果
//! > 小于1分钱不退手续费，多次退款情况下，最后一笔退款会全单退还手续费。
//!
//! As implemented:
//!
//! * **Trade fee** ([`trade_fee`]): the exact product `receipt × bps / 10000`
//!   fen; if it is under 1 fen the fee is 0 (免手续费), otherwise it is
//!   rounded half up to the fen.
//! * **Refund** ([`refund_fee_return`], [`TradeFees::refund`]): the same rule on
//!   `refund × bps / 10000` (under 1 fen: nothing is returned, 不退手续费),
//!   capped at the fee not yet returned. The **last** refund — the one that
//!   brings the refunded total to the receipt amount — returns all the fee
//!   that is left (全单退还), so the returns of a fully refunded trade add up to
//!   exactly its fee and its net fee is 0.
//!
//! **Rounding half up in integers.** With `p = amount_fen × bps` (a `u128`,
//! so `u64::MAX × 10000` cannot overflow) the exact fee is `p / 10000` fen.
//! Rounded half up it is `(p + 5000) / 10000` (integer division truncates;
//! adding half the divisor first turns "truncate" into "round half up" for
//! non-negative values). "Under 1 fen" is `p < 10000`. The result never
//! exceeds `amount_fen` (bps ≤ 10000), so it always fits back in a `u64`.
//!
//! **Ambiguities resolved.**
//! 1. "计算结果小于1分钱" is read as the *exact* product before rounding: a
//!    product in [0.5, 1) fen is free, not rounded up to 1 fen. (Read as the
//!    rounded value the clause would only restate that 0 is 0; a rounded
//!    amount of fen cannot be "less than one fen" otherwise.)
//! 2. The refund formula says "四舍五入" without "到分"; it is rounded to the
//!    fen like the trade fee (money is whole fen).
//! 3. "全单退还手续费" is read as returning all the fee *that is left*, not the
//!    whole fee again (which would return more than was charged).
//! 4. The guide does not say what happens when proportional returns of
//!    partial refunds, each rounded up, would add up to more than the fee
//!    (receipt 0.13 at 50%: fee 0.07, four refunds of 0.03 return 0.02 each).
//!    A return is capped at the fee not yet returned, so the returned total
//!    never exceeds the fee; later refunds then return 0.
//! 5. The fee a refund works against is passed in (it may be the fee the
//!    gateway reported for the trade), not recomputed; it must not exceed the
//!    receipt.
//!
//! §9.6 gives no worked fee examples (its only example is the order in
//! which payment tools are refunded); the examples in the tests are ours.

use protocol::Money;

/// The largest rate: 10000 bps = 100%.
pub const MAX_BPS: u32 = 10_000;

/// A fee rate in basis points (1 bps = 0.01%), 0..=10000.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(try_from = "u32", into = "u32")]
pub struct FeeRate(u32);

impl FeeRate {
    /// No fee.
    pub const ZERO: FeeRate = FeeRate(0);

    /// A rate of `bps` basis points.
    ///
    /// # Errors
    /// [`FeeError::RateTooHigh`] when `bps` is above [`MAX_BPS`] (100%).
    pub const fn new(bps: u32) -> Result<FeeRate, FeeError> {
        if bps > MAX_BPS {
            return Err(FeeError::RateTooHigh { bps });
        }
        Ok(FeeRate(bps))
    }

    /// The rate in basis points.
    pub const fn bps(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for FeeRate {
    type Error = FeeError;
    fn try_from(bps: u32) -> Result<Self, Self::Error> {
        FeeRate::new(bps)
    }
}

impl From<FeeRate> for u32 {
    fn from(r: FeeRate) -> u32 {
        r.0
    }
}

/// What is wrong with a fee computation's inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    /// A rate above [`MAX_BPS`] (100%).
    #[error("fee rate {bps} bps is above 10000 bps (100%)")]
    RateTooHigh {
        /// The refused rate, in basis points.
        bps: u32,
    },
    /// A refund of 0: a refund is at least 1 fen.
    #[error("refund amount must be at least 0.01")]
    ZeroRefund,
    /// A refund larger than what is left of the receipt to refund.
    #[error("refund {refund} is above what is left to refund ({left})")]
    RefundAboveLeft {
        /// The refund asked for.
        refund: Money,
        /// The receipt amount not refunded yet.
        left: Money,
    },
    /// The earlier refunds already add up to more than the receipt.
    #[error("refunded before ({refunded}) is above the receipt amount ({receipt})")]
    RefundedAboveReceipt {
        /// The sum of the earlier refunds.
        refunded: Money,
        /// The trade's receipt amount.
        receipt: Money,
    },
    /// A trade fee larger than the receipt it is charged on.
    #[error("fee {fee} is above the receipt amount ({receipt})")]
    FeeAboveReceipt {
        /// The fee given.
        fee: Money,
        /// The trade's receipt amount.
        receipt: Money,
    },
    /// The fee already returned is more than the fee itself.
    #[error("fee returned before ({returned}) is above the fee ({fee})")]
    ReturnedAboveFee {
        /// The fee the earlier refunds returned.
        returned: Money,
        /// The trade's fee.
        fee: Money,
    },
}

/// `amount × rate`: 0 when the exact product is under 1 fen, otherwise
/// rounded half up to the fen.
fn proportional(amount: Money, rate: FeeRate) -> Money {
    let p = u128::from(amount.fen()) * u128::from(rate.bps());
    let div = u128::from(MAX_BPS);
    if p < div {
        return Money::ZERO;
    }
    let fen = (p + div / 2) / div;
    // fen <= amount (rate <= 100%, and rounding never passes the next whole
    // fen, which is at most `amount` itself), so it fits in a u64.
    Money::from_fen(u64::try_from(fen).unwrap_or(u64::MAX))
}

/// The fee of a trade whose receipt amount (商户实收) is `receipt`.
pub fn trade_fee(receipt: Money, rate: FeeRate) -> Money {
    proportional(receipt, rate)
}

/// The fee a refund of `refund` returns, for a trade of receipt amount
/// `receipt` and fee `fee` of which `refunded_before` was already refunded
/// and `fee_returned_before` already returned.
///
/// The refund that brings the refunded total to `receipt` returns all the fee
/// that is left; any other returns `refund × rate` (0 under 1 fen, else
/// rounded half up), capped at the fee that is left.
///
/// # Errors
/// Checked in this order, nothing computed on an error:
/// [`FeeError::FeeAboveReceipt`] when `fee > receipt`;
/// [`FeeError::ReturnedAboveFee`] when `fee_returned_before > fee`;
/// [`FeeError::RefundedAboveReceipt`] when `refunded_before > receipt`;
/// [`FeeError::ZeroRefund`] when `refund` is 0;
/// [`FeeError::RefundAboveLeft`] when `refund` is more than
/// `receipt − refunded_before`.
pub fn refund_fee_return(
    receipt: Money,
    fee: Money,
    refunded_before: Money,
    fee_returned_before: Money,
    refund: Money,
    rate: FeeRate,
) -> Result<Money, FeeError> {
    if fee > receipt {
        return Err(FeeError::FeeAboveReceipt { fee, receipt });
    }
    let fee_left = fee
        .checked_sub(fee_returned_before)
        .ok_or(FeeError::ReturnedAboveFee {
            returned: fee_returned_before,
            fee,
        })?;
    let left = receipt
        .checked_sub(refunded_before)
        .ok_or(FeeError::RefundedAboveReceipt {
            refunded: refunded_before,
            receipt,
        })?;
    if refund.is_zero() {
        return Err(FeeError::ZeroRefund);
    }
    if refund > left {
        return Err(FeeError::RefundAboveLeft { refund, left });
    }
    if refund == left {
        return Ok(fee_left);
    }
    Ok(proportional(refund, rate).min(fee_left))
}

/// One fee of one trade and the refunds applied to it, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeFees {
    receipt: Money,
    fee: Money,
    rate: FeeRate,
    refunded: Money,
    fee_returned: Money,
}

impl TradeFees {
    /// A trade of receipt amount `receipt`, its fee computed at `rate`.
    pub fn new(receipt: Money, rate: FeeRate) -> TradeFees {
        TradeFees {
            receipt,
            fee: trade_fee(receipt, rate),
            rate,
            refunded: Money::ZERO,
            fee_returned: Money::ZERO,
        }
    }

    /// A trade whose fee is known already (e.g. as the gateway reported it),
    /// nothing refunded yet.
    ///
    /// # Errors
    /// [`FeeError::FeeAboveReceipt`] when `fee` is above `receipt`.
    pub fn with_fee(receipt: Money, fee: Money, rate: FeeRate) -> Result<TradeFees, FeeError> {
        if fee > receipt {
            return Err(FeeError::FeeAboveReceipt { fee, receipt });
        }
        Ok(TradeFees {
            receipt,
            fee,
            rate,
            refunded: Money::ZERO,
            fee_returned: Money::ZERO,
        })
    }

    /// Applies a refund of `refund` and returns the fee it gives back (see
    /// [`refund_fee_return`]). On an error nothing changes.
    ///
    /// # Errors
    /// [`FeeError::ZeroRefund`] for a refund of 0;
    /// [`FeeError::RefundAboveLeft`] when `refund` is more than
    /// [`TradeFees::left`].
    pub fn refund(&mut self, refund: Money) -> Result<Money, FeeError> {
        let back = refund_fee_return(
            self.receipt,
            self.fee,
            self.refunded,
            self.fee_returned,
            refund,
            self.rate,
        )?;
        // Both sums are bounded by receipt and fee (checked above).
        let refunded = self.refunded.checked_add(refund);
        let returned = self.fee_returned.checked_add(back);
        if let (Some(r), Some(f)) = (refunded, returned) {
            self.refunded = r;
            self.fee_returned = f;
        }
        Ok(back)
    }

    /// The receipt amount.
    pub fn receipt(&self) -> Money {
        self.receipt
    }
    /// The fee of the trade.
    pub fn fee(&self) -> Money {
        self.fee
    }
    /// The rate the fee and its returns are computed at.
    pub fn rate(&self) -> FeeRate {
        self.rate
    }
    /// The amount refunded so far.
    pub fn refunded(&self) -> Money {
        self.refunded
    }
    /// The fee returned so far.
    pub fn fee_returned(&self) -> Money {
        self.fee_returned
    }
    /// The amount still refundable.
    pub fn left(&self) -> Money {
        self.receipt
            .checked_sub(self.refunded)
            .unwrap_or(Money::ZERO)
    }
    /// The fee net of returns (0 once fully refunded).
    pub fn net_fee(&self) -> Money {
        self.fee
            .checked_sub(self.fee_returned)
            .unwrap_or(Money::ZERO)
    }
}

/// A sub-merchant's two rates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct FeeRates {
    /// What Alipay charges the acquirer.
    pub gateway: FeeRate,
    /// What the acquirer charges the merchant.
    pub merchant: FeeRate,
}

/// A fee on each side of one amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FeePair {
    /// At the gateway rate: what Alipay charges (or gives back to) the acquirer.
    pub gateway: Money,
    /// At the merchant rate: what the acquirer charges (or gives back to) the
    /// merchant.
    pub merchant: Money,
}

/// Both fees of one trade, refunds applied to both at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubMerchantTradeFees {
    /// The fee at the gateway rate and its returns.
    pub gateway: TradeFees,
    /// The fee at the merchant rate and its returns.
    pub merchant: TradeFees,
}

impl SubMerchantTradeFees {
    /// A trade of receipt amount `receipt` at the sub-merchant's `rates`.
    pub fn new(receipt: Money, rates: FeeRates) -> SubMerchantTradeFees {
        SubMerchantTradeFees {
            gateway: TradeFees::new(receipt, rates.gateway),
            merchant: TradeFees::new(receipt, rates.merchant),
        }
    }

    /// The two fees of the trade.
    pub fn fees(&self) -> FeePair {
        FeePair {
            gateway: self.gateway.fee(),
            merchant: self.merchant.fee(),
        }
    }

    /// Applies a refund to both sides and returns the fee each gives back;
    /// on an error neither changes.
    ///
    /// # Errors
    /// As [`TradeFees::refund`] (both sides share the receipt, so they fail
    /// alike): [`FeeError::ZeroRefund`] or [`FeeError::RefundAboveLeft`].
    pub fn refund(&mut self, refund: Money) -> Result<FeePair, FeeError> {
        let mut g = self.gateway;
        let mut m = self.merchant;
        let pair = FeePair {
            gateway: g.refund(refund)?,
            merchant: m.refund(refund)?,
        };
        self.gateway = g;
        self.merchant = m;
        Ok(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(fen: u64) -> Money {
        Money::from_fen(fen)
    }
    fn r(bps: u32) -> FeeRate {
        FeeRate::new(bps).unwrap()
    }

    #[test]
    fn rates_are_validated() {
        assert_eq!(FeeRate::new(0).unwrap().bps(), 0);
        assert_eq!(FeeRate::new(10_000).unwrap().bps(), 10_000);
        assert_eq!(
            FeeRate::new(10_001),
            Err(FeeError::RateTooHigh { bps: 10_001 })
        );
        let ok: FeeRate = serde_json::from_str("60").unwrap();
        assert_eq!(ok, r(60));
        assert!(serde_json::from_str::<FeeRate>("10001").is_err());
        assert_eq!(serde_json::to_string(&r(38)).unwrap(), "38");
    }

    #[test]
    fn trade_fee_worked_examples() {
        // 88.88 at 0.6% (60 bps) = 53.328 fen -> 0.53.
        assert_eq!(trade_fee(m(8888), r(60)), m(53));
        // 100.00 at 0.38% = 38 fen exactly.
        assert_eq!(trade_fee(m(10_000), r(38)), m(38));
        // 125.00 at 0.6% = 75 fen; 12.50 at 0.6% = 7.5 fen -> 8 (half up).
        assert_eq!(trade_fee(m(1250), r(60)), m(8));
        // 12.49 at 0.6% = 7.494 -> 7.
        assert_eq!(trade_fee(m(1249), r(60)), m(7));
        // 1.00 at 0.6% = 0.6 fen: under 1 fen, free (not rounded up to 1).
        assert_eq!(trade_fee(m(100), r(60)), Money::ZERO);
        // 1.66 at 0.6% = 0.996 fen: still free.
        assert_eq!(trade_fee(m(166), r(60)), Money::ZERO);
        // 1.67 at 0.6% = 1.002 fen -> 1.
        assert_eq!(trade_fee(m(167), r(60)), m(1));
        // 0 bps, 100%.
        assert_eq!(trade_fee(m(8888), FeeRate::ZERO), Money::ZERO);
        assert_eq!(trade_fee(m(8888), r(10_000)), m(8888));
        // The largest trade at 100%.
        assert_eq!(
            trade_fee(m(protocol::money::MAX_AMOUNT_FEN), r(10_000)),
            m(protocol::money::MAX_AMOUNT_FEN)
        );
    }

    #[test]
    fn refunds_worked_example() {
        // 100.00 at 0.6%: fee 0.60. Refund 33.33 -> 19.998 -> 0.20;
        // refund 0.50 -> 0.3 fen -> nothing; the last refund, 66.17, returns
        // what is left (0.40) although 66.17 x 0.6% = 39.702 -> 0.40 too;
        // the net fee is 0.
        let mut t = TradeFees::new(m(10_000), r(60));
        assert_eq!(t.fee(), m(60));
        assert_eq!(t.refund(m(3333)), Ok(m(20)));
        assert_eq!(t.refund(m(50)), Ok(Money::ZERO));
        assert_eq!(t.left(), m(6617));
        assert_eq!(t.refund(m(6617)), Ok(m(40)));
        assert_eq!(t.net_fee(), Money::ZERO);
        assert_eq!(t.fee_returned(), t.fee());
    }

    #[test]
    fn last_refund_returns_the_rest_even_when_proportion_differs() {
        // 10.00 at 0.6%: fee 0.06. Ten refunds of 1.00 each return 0 (0.6
        // fen is under 1 fen); the tenth is the last and returns all 0.06.
        let mut t = TradeFees::new(m(1000), r(60));
        assert_eq!(t.fee(), m(6));
        for _ in 0..9 {
            assert_eq!(t.refund(m(100)), Ok(Money::ZERO));
        }
        assert_eq!(t.refund(m(100)), Ok(m(6)));
        assert_eq!(t.net_fee(), Money::ZERO);
    }

    #[test]
    fn returns_are_capped_at_the_fee_left() {
        // 0.13 at 50%: fee 6.5 -> 0.07. Refunds of 0.03 return 1.5 -> 0.02
        // each; the fourth would make 0.08 > 0.07 and is capped at 0.01; the
        // last (0.01) returns what is left, 0.
        let mut t = TradeFees::new(m(13), r(5000));
        assert_eq!(t.fee(), m(7));
        assert_eq!(t.refund(m(3)), Ok(m(2)));
        assert_eq!(t.refund(m(3)), Ok(m(2)));
        assert_eq!(t.refund(m(3)), Ok(m(2)));
        assert_eq!(t.refund(m(3)), Ok(m(1)));
        assert_eq!(t.refund(m(1)), Ok(Money::ZERO));
        assert_eq!(t.net_fee(), Money::ZERO);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let mut t = TradeFees::new(m(1000), r(60));
        assert_eq!(
            t.refund(m(1001)),
            Err(FeeError::RefundAboveLeft {
                refund: m(1001),
                left: m(1000)
            })
        );
        assert_eq!(t.refund(Money::ZERO), Err(FeeError::ZeroRefund));
        assert_eq!(t.refunded(), Money::ZERO, "state unchanged on error");
        t.refund(m(1000)).unwrap();
        assert_eq!(
            t.refund(m(1)),
            Err(FeeError::RefundAboveLeft {
                refund: m(1),
                left: Money::ZERO
            })
        );
        assert_eq!(
            refund_fee_return(m(100), m(1), m(101), m(0), m(1), r(60)),
            Err(FeeError::RefundedAboveReceipt {
                refunded: m(101),
                receipt: m(100)
            })
        );
        assert_eq!(
            refund_fee_return(m(100), m(1), m(0), m(2), m(1), r(60)),
            Err(FeeError::ReturnedAboveFee {
                returned: m(2),
                fee: m(1)
            })
        );
        assert_eq!(
            TradeFees::with_fee(m(100), m(101), r(60)),
            Err(FeeError::FeeAboveReceipt {
                fee: m(101),
                receipt: m(100)
            })
        );
        assert!(FeeError::RateTooHigh { bps: 10_001 }
            .to_string()
            .contains("10001"));
    }

    #[test]
    fn both_sides_of_a_sub_merchant() {
        // Gateway 0.38%, merchant 0.6%, trade 500.00: fees 1.90 and 3.00.
        let rates = FeeRates {
            gateway: r(38),
            merchant: r(60),
        };
        let mut t = SubMerchantTradeFees::new(m(50_000), rates);
        assert_eq!(
            t.fees(),
            FeePair {
                gateway: m(190),
                merchant: m(300)
            }
        );
        // Refund 123.45: 46.911 -> 0.47 and 74.07 -> 0.74.
        assert_eq!(
            t.refund(m(12_345)),
            Ok(FeePair {
                gateway: m(47),
                merchant: m(74)
            })
        );
        assert!(t.refund(m(50_000)).is_err());
        assert_eq!(t.gateway.refunded(), m(12_345), "unchanged on error");
        assert_eq!(
            t.refund(m(37_655)),
            Ok(FeePair {
                gateway: m(143),
                merchant: m(226)
            })
        );
        assert_eq!(t.gateway.net_fee(), Money::ZERO);
        assert_eq!(t.merchant.net_fee(), Money::ZERO);
    }

    /// A receipt and a split of it into refunds (each at least 1 fen).
    fn receipt_and_refunds() -> impl Strategy<Value = (u64, Vec<u64>)> {
        (1u64..=protocol::money::MAX_AMOUNT_FEN)
            .prop_flat_map(|receipt| {
                let cuts = proptest::collection::vec(1..receipt.max(2), 0..8);
                (Just(receipt), cuts)
            })
            .prop_map(|(receipt, mut cuts)| {
                cuts.retain(|&c| c < receipt);
                cuts.sort_unstable();
                cuts.dedup();
                let mut parts = Vec::new();
                let mut prev = 0;
                for c in cuts.into_iter().chain(std::iter::once(receipt)) {
                    parts.push(c - prev);
                    prev = c;
                }
                (receipt, parts)
            })
    }

    proptest! {
        #[test]
        fn full_refunds_return_exactly_the_fee(
            (receipt, parts) in receipt_and_refunds(),
            bps in 0u32..=MAX_BPS,
        ) {
            let mut t = TradeFees::new(m(receipt), r(bps));
            let mut sum = 0u64;
            for p in parts {
                let back = t.refund(m(p)).unwrap();
                // Never more than the fee, never more than the fee left.
                prop_assert!(back <= t.fee());
                sum += back.fen();
                prop_assert!(sum <= t.fee().fen());
                prop_assert_eq!(t.fee_returned().fen(), sum);
            }
            prop_assert_eq!(sum, t.fee().fen());
            prop_assert_eq!(t.net_fee(), Money::ZERO);
            prop_assert_eq!(t.left(), Money::ZERO);
        }

        #[test]
        fn partial_refunds_never_return_more_than_the_fee(
            (receipt, parts) in receipt_and_refunds(),
            bps in 0u32..=MAX_BPS,
        ) {
            // All but the last refund: the trade stays partly refunded.
            let mut t = TradeFees::new(m(receipt), r(bps));
            let n = parts.len().saturating_sub(1);
            for p in &parts[..n] {
                let back = t.refund(m(*p)).unwrap();
                prop_assert!(back <= proportional(m(*p), r(bps)));
            }
            prop_assert!(t.fee_returned() <= t.fee());
        }

        #[test]
        fn under_one_fen_is_free(amount in 0u64..=protocol::money::MAX_AMOUNT_FEN, bps in 0u32..=MAX_BPS) {
            let exact = u128::from(amount) * u128::from(bps);
            let fee = trade_fee(m(amount), r(bps));
            if exact < 10_000 {
                prop_assert_eq!(fee, Money::ZERO);
            } else {
                // Rounded half up: |fee - exact| <= 1/2 fen, ties upward.
                let f = u128::from(fee.fen()) * 10_000;
                prop_assert!(f + 5_000 > exact && f <= exact + 5_000);
            }
            prop_assert!(fee <= m(amount));
        }

        #[test]
        fn largest_amounts_do_not_overflow(amount in 0u64..=u64::MAX, bps in 0u32..=MAX_BPS) {
            let fee = trade_fee(m(amount), r(bps));
            prop_assert!(fee <= m(amount));
            if bps == MAX_BPS {
                prop_assert_eq!(fee, m(amount));
            }
            let max = m(protocol::money::MAX_AMOUNT_FEN);
            let mut t = TradeFees::new(max, r(MAX_BPS));
            prop_assert_eq!(t.fee(), max);
            prop_assert_eq!(t.refund(max), Ok(max));
        }

        #[test]
        fn refund_errors_leave_state_alone(receipt in 1u64..=10_000_000, extra in 1u64..1000, bps in 0u32..=MAX_BPS) {
            let mut t = TradeFees::new(m(receipt), r(bps));
            let before = t;
            prop_assert!(t.refund(m(receipt + extra)).is_err());
            prop_assert_eq!(t, before);
        }
    }

    /// The gateway's fee in the simulator's bill follows the same reading
    /// of docs/PROTOCOL.md §9.6 as the switch, so the two can be reconciled.
    #[test]
    fn the_simulator_computes_the_same_trade_fee() {
        for fen in (0..5_000u64).chain([8_888, 1_250, 1_249, 166, 167, 84, 83]) {
            for bps in [0u32, 38, 60, 100, 250, 10_000] {
                let ours = trade_fee(Money::from_fen(fen), FeeRate::new(bps).unwrap());
                assert_eq!(
                    ours.fen(),
                    simulator::bill::fee_fen(fen, bps),
                    "{fen} fen at {bps} bps"
                );
            }
        }
    }
}

//! Money in integer fen (1/100 yuan).
//!
//! Guarantees: a [`Money`] always holds a whole number of fen; arithmetic is
//! checked; the decimal wire form ("88.88") exists only at the edges, through
//! [`Money::parse_wire`] (strict) and [`Money::to_wire`] (exactly two decimals).
//! Amounts of a trade must lie in [0.01, 100000000.00] yuan (docs/PROTOCOL.md §5), which
//! [`Money::parse_amount`] enforces; [`Money::parse_wire`] also accepts 0.00
//! because the gateway reports zero amounts ("point_amount":"0.00").

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The smallest amount of a trade or refund, in fen: 0.01 yuan.
pub const MIN_AMOUNT_FEN: u64 = 1;
/// The largest amount of a trade or refund, in fen: 100,000,000.00 yuan.
pub const MAX_AMOUNT_FEN: u64 = 10_000_000_000;

/// An amount of money in fen (1/100 yuan). Never negative. `Display` and
/// serde write it as yuan with two decimals (`88.80`); serde reads only that
/// string form, strictly ([`Money::parse_wire`]), never a JSON number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(u64);

/// Why a wire amount was refused. The offending text is not repeated (it may
/// be long); callers name the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is empty (an absent amount is the caller's to report).
    #[error("amount is empty")]
    Empty,
    /// Not `digits[.d[d]]`: a sign, an exponent, a space, a comma, a non-ASCII digit, or a `.`
    /// without digits on both sides.
    #[error(
        "amount must be digits with at most two decimals, like 88.88 (no sign, exponent or spaces)"
    )]
    Syntax,
    /// Three decimals or more (`1.234`): the gateway counts in fen.
    #[error("amount has more than two decimals")]
    TooManyDecimals,
    /// Zero where a trade or refund amount is required ([`Money::parse_amount`]).
    #[error("amount must be at least 0.01")]
    TooSmall,
    /// Above 100000000.00 yuan ([`MAX_AMOUNT_FEN`]).
    #[error("amount must be at most 100000000.00")]
    TooLarge,
}

impl Money {
    /// Zero fen.
    pub const ZERO: Money = Money(0);

    /// An amount of `fen` fen (1/100 yuan). Any `u64` is a valid [`Money`];
    /// the trade limits apply only when parsing ([`Money::parse_amount`]).
    pub const fn from_fen(fen: u64) -> Money {
        Money(fen)
    }

    /// The amount in fen (1/100 yuan).
    pub const fn fen(self) -> u64 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses a wire amount strictly: `digits[.d[d]]`, no sign, exponent,
    /// spaces or leading `+`; at most two decimals; at most 100000000.00.
    /// Zero is accepted (responses carry "0.00"); leading zeros are too.
    ///
    /// # Errors
    /// - [`MoneyError::Empty`]: `s` is empty;
    /// - [`MoneyError::Syntax`]: anything but ASCII digits with at most one
    ///   `.` between digits (a sign, an exponent, a space, `.5`, `5.`, `1,00`);
    /// - [`MoneyError::TooManyDecimals`]: three decimals or more;
    /// - [`MoneyError::TooLarge`]: above 100000000.00.
    pub fn parse_wire(s: &str) -> Result<Money, MoneyError> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (int, frac) = match s.find('.') {
            Some(i) => (&b[..i], Some(&b[i + 1..])),
            None => (b, None),
        };
        if int.is_empty() || !int.iter().all(u8::is_ascii_digit) {
            return Err(MoneyError::Syntax);
        }
        // Leading zeros are tolerated ("0.50", "00.50" is odd but unambiguous);
        // the integer part is bounded before it can overflow.
        let int_digits = {
            let t = int.iter().skip_while(|&&c| c == b'0').count();
            if t > 9 {
                return Err(MoneyError::TooLarge);
            }
            int
        };
        let mut yuan: u64 = 0;
        for &c in int_digits {
            yuan = yuan * 10 + u64::from(c - b'0');
        }
        let fen_part = match frac {
            None => 0,
            Some(f) => {
                if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
                    return Err(MoneyError::Syntax);
                }
                if f.len() > 2 {
                    return Err(MoneyError::TooManyDecimals);
                }
                let mut v = u64::from(f[0] - b'0') * 10;
                if f.len() == 2 {
                    v += u64::from(f[1] - b'0');
                }
                v
            }
        };
        let fen = yuan * 100 + fen_part;
        if fen > MAX_AMOUNT_FEN {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(fen))
    }

    /// Parses the amount of a trade or refund: as [`Money::parse_wire`] and at
    /// least 0.01 ([`MIN_AMOUNT_FEN`]).
    ///
    /// # Errors
    /// Those of [`Money::parse_wire`], and [`MoneyError::TooSmall`] for zero.
    pub fn parse_amount(s: &str) -> Result<Money, MoneyError> {
        let m = Money::parse_wire(s)?;
        if m.0 < MIN_AMOUNT_FEN {
            return Err(MoneyError::TooSmall);
        }
        Ok(m)
    }

    /// The wire form: yuan with exactly two decimals ("88.80").
    pub fn to_wire(self) -> String {
        self.to_string()
    }

    /// `self + other`, or `None` on `u64` overflow (the result may exceed
    /// [`MAX_AMOUNT_FEN`]: the sum of a day's trades is no trade amount).
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self - other`, or `None` when `other` is larger.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl std::str::FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse_wire(s)
    }
}

/// On the wire (JSON) money is a string with two decimals.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount string like \"88.88\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse_wire(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wire_forms() {
        assert_eq!(Money::parse_wire("88.88").unwrap().fen(), 8888);
        assert_eq!(Money::parse_wire("88.8").unwrap().fen(), 8880);
        assert_eq!(Money::parse_wire("88").unwrap().fen(), 8800);
        assert_eq!(Money::parse_wire("0.01").unwrap().fen(), 1);
        assert_eq!(Money::parse_wire("0.00").unwrap().fen(), 0);
        assert_eq!(
            Money::parse_wire("100000000.00").unwrap().fen(),
            MAX_AMOUNT_FEN
        );
    }

    #[test]
    fn rejects_what_the_gateway_rejects() {
        for bad in [
            "-1", "+1", "1e3", "88.888", " 88", "88 ", "", ".5", "5.", "1,00", "0x10", "１",
        ] {
            assert!(Money::parse_wire(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Money::parse_wire("100000000.01"), Err(MoneyError::TooLarge));
        assert_eq!(
            Money::parse_wire("99999999999999999999999"),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(Money::parse_amount("0.00"), Err(MoneyError::TooSmall));
        assert_eq!(Money::parse_wire("1.234"), Err(MoneyError::TooManyDecimals));
    }

    #[test]
    fn formats_two_decimals() {
        assert_eq!(Money::from_fen(8880).to_wire(), "88.80");
        assert_eq!(Money::from_fen(5).to_wire(), "0.05");
        assert_eq!(Money::ZERO.to_wire(), "0.00");
    }

    #[test]
    fn serde_uses_strings() {
        let m: Money = serde_json::from_str("\"20.00\"").unwrap();
        assert_eq!(m.fen(), 2000);
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"20.00\"");
        assert!(serde_json::from_str::<Money>("20.00").is_err());
    }
}

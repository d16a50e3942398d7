//! Business-field validators with the limits of the real gateway (docs/PROTOCOL.md §5).
//!
//! Each validated value is a newtype whose constructor is the only way in,
//! so code that holds an [`AuthCode`] or an [`OutTradeNo`] knows it is valid.
//! Errors say what is wrong without echoing the value (an auth code is a
//! payment credential and must not reach a log).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a field was refused. The message says what is wrong and never repeats
/// the value; the caller names the field (`"auth_code is shorter than 16
/// characters"`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The value is empty (for a text field: only white space).
    #[error("must not be empty")]
    Empty,
    /// The value is longer than `max` (characters for text, bytes for the ASCII ids).
    #[error("is longer than {max} characters")]
    TooLong {
        /// The largest length allowed.
        max: usize,
    },
    /// The value is shorter than `min` (an auth code under 16 digits).
    #[error("is shorter than {min} characters")]
    TooShort {
        /// The smallest length allowed.
        min: usize,
    },
    /// The value has a character outside the field's set.
    #[error("may contain only {allowed}")]
    BadCharacters {
        /// What the field accepts, in words (`"digits"`, `"letters, digits and
        /// underscore"`).
        allowed: &'static str,
    },
    /// An auth code whose first two digits are not 25 to 30.
    #[error("must start with 25 to 30")]
    BadPrefix,
    /// A time-out that is not `<n>m`, `<n>h` or `<n>d` from 1m to 15d, nor `1c`.
    #[error("must be a number followed by m, h or d (1m to 15d), or 1c")]
    BadTimeout,
    /// The value is none of the field's fixed values.
    #[error("must be one of {allowed}")]
    NotOneOf {
        /// The accepted values, comma-separated (`"bar_code, wave_code"`).
        allowed: &'static str,
    },
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// A buyer's payment code (付款码): 16 to 24 digits starting with 25 to 30.
/// Its `Debug` shows only the last four digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AuthCode(String);

impl AuthCode {
    /// Validates a payment code as the terminal sent it (no trimming).
    ///
    /// # Errors
    /// - [`FieldError::Empty`]: `s` is empty;
    /// - [`FieldError::BadCharacters`]: anything but ASCII digits;
    /// - [`FieldError::TooShort`] / [`FieldError::TooLong`]: fewer than 16 or
    ///   more than 24 digits;
    /// - [`FieldError::BadPrefix`]: the first two digits are not 25 to 30.
    pub fn parse(s: &str) -> Result<AuthCode, FieldError> {
        if s.is_empty() {
            return Err(FieldError::Empty);
        }
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(FieldError::BadCharacters { allowed: "digits" });
        }
        if s.len() < 16 {
            return Err(FieldError::TooShort { min: 16 });
        }
        if s.len() > 24 {
            return Err(FieldError::TooLong { max: 24 });
        }
        let prefix = (s.as_bytes()[0] - b'0') * 10 + (s.as_bytes()[1] - b'0');
        if !(25..=30).contains(&prefix) {
            return Err(FieldError::BadPrefix);
        }
        Ok(AuthCode(s.to_owned()))
    }

    /// The whole code, for the request to the gateway only (never a log).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last four digits, which the simulator's magic values use.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

impl fmt::Debug for AuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthCode(****{})", self.last4())
    }
}

impl<'de> Deserialize<'de> for AuthCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AuthCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

macro_rules! string_field {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Validates a `", stringify!($name), "` as given (no trimming) and keeps it unchanged.")]
            ///
            /// # Errors
            /// A [`FieldError`] naming the first rule of the type's
            /// description that `s` breaks (empty, too long, a character
            /// outside the allowed set, a bad time-out).
            pub fn parse(s: &str) -> Result<$name, FieldError> {
                let check: fn(&str) -> Result<(), FieldError> = $check;
                check(s)?;
                Ok($name(s.to_owned()))
            }
            /// The value, exactly as it was parsed.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The value as an owned string, without a copy.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn id_chars(s: &str, max: usize) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(FieldError::Empty);
    }
    if s.len() > max {
        return Err(FieldError::TooLong { max });
    }
    if !s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        return Err(FieldError::BadCharacters {
            allowed: "letters, digits and underscore",
        });
    }
    Ok(())
}

fn text(s: &str, max: usize) -> Result<(), FieldError> {
    if s.trim().is_empty() {
        return Err(FieldError::Empty);
    }
    if char_len(s) > max {
        return Err(FieldError::TooLong { max });
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(FieldError::BadCharacters {
            allowed: "printable characters",
        });
    }
    Ok(())
}

string_field!(
    /// The merchant's order number: 1 to 64 letters, digits or underscores,
    /// unique per merchant.
    OutTradeNo,
    |s| id_chars(s, 64)
);
string_field!(
    /// A refund request number (out_request_no): same rules as out_trade_no.
    OutRequestNo,
    |s| id_chars(s, 64)
);
string_field!(
    /// The order title: 1 to 256 characters (Unicode scalar values, not bytes),
    /// not only white space, and no control characters (no line breaks).
    Subject,
    |s| text(s, 256)
);
string_field!(
    /// A store number: 1 to 32 letters, digits, underscores or hyphens.
    StoreId,
    |s| id32(s)
);
string_field!(
    /// A terminal number: 1 to 32 letters, digits, underscores or hyphens.
    TerminalId,
    |s| id32(s)
);
string_field!(
    /// A trade's time-out (`timeout_express`): a whole number with a unit, `m`
    /// (minutes), `h` (hours) or `d` (days), from 1m to 15d (at most five
    /// digits, no decimal point: 1.5h is written 90m), or `1c` (the end of
    /// today).
    TimeoutExpress,
    |s| timeout_express(s)
);

fn id32(s: &str) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(FieldError::Empty);
    }
    if s.len() > 32 {
        return Err(FieldError::TooLong { max: 32 });
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        return Err(FieldError::BadCharacters {
            allowed: "letters, digits, underscore and hyphen",
        });
    }
    Ok(())
}

fn timeout_express(s: &str) -> Result<(), FieldError> {
    if s == "1c" {
        return Ok(());
    }
    let Some(unit) = s.chars().last() else {
        return Err(FieldError::Empty);
    };
    let num = &s[..s.len() - unit.len_utf8()];
    if num.is_empty() || num.len() > 5 || !num.bytes().all(|c| c.is_ascii_digit()) {
        return Err(FieldError::BadTimeout);
    }
    let n: u32 = num.parse().map_err(|_| FieldError::BadTimeout)?;
    let minutes = match unit {
        'm' => n,
        'h' => n * 60,
        'd' => n * 1440,
        _ => return Err(FieldError::BadTimeout),
    };
    if !(1..=15 * 1440).contains(&minutes) {
        return Err(FieldError::BadTimeout);
    }
    Ok(())
}

impl TimeoutExpress {
    /// The time-out in minutes; `1c` (end of the day) gives `None`.
    pub fn minutes(&self) -> Option<u32> {
        if self.0 == "1c" {
            return None;
        }
        let unit = self.0.as_bytes()[self.0.len() - 1];
        let n: u32 = self.0[..self.0.len() - 1].parse().ok()?;
        Some(match unit {
            b'm' => n,
            b'h' => n * 60,
            _ => n * 1440,
        })
    }
}

/// The barcode-pay scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scene {
    /// The cashier scans the buyer's barcode (the default).
    #[default]
    BarCode,
    /// Sound-wave payment.
    WaveCode,
}

impl Scene {
    /// Parses the wire form, `bar_code` or `wave_code` (exact, lower case).
    ///
    /// # Errors
    /// [`FieldError::Empty`] for an empty string, [`FieldError::NotOneOf`]
    /// for any other value.
    pub fn parse(s: &str) -> Result<Scene, FieldError> {
        match s {
            "bar_code" => Ok(Scene::BarCode),
            "wave_code" => Ok(Scene::WaveCode),
            "" => Err(FieldError::Empty),
            _ => Err(FieldError::NotOneOf {
                allowed: "bar_code, wave_code",
            }),
        }
    }
    /// The wire form: `bar_code` or `wave_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scene::BarCode => "bar_code",
            Scene::WaveCode => "wave_code",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_codes() {
        assert!(AuthCode::parse("281234567890121003").is_ok());
        assert!(AuthCode::parse("2512345678901234").is_ok());
        assert!(AuthCode::parse("301234567890123456789012").is_ok());
        assert_eq!(
            AuthCode::parse("241234567890123456"),
            Err(FieldError::BadPrefix)
        );
        assert_eq!(
            AuthCode::parse("311234567890123456"),
            Err(FieldError::BadPrefix)
        );
        assert_eq!(
            AuthCode::parse("281234567890123"),
            Err(FieldError::TooShort { min: 16 })
        );
        assert_eq!(
            AuthCode::parse("2812345678901234567890123"),
            Err(FieldError::TooLong { max: 24 })
        );
        assert!(AuthCode::parse("28123456789012345a").is_err());
        let a = AuthCode::parse("281234567890121003").unwrap();
        assert_eq!(format!("{a:?}"), "AuthCode(****1003)");
        assert_eq!(a.last4(), "1003");
    }

    #[test]
    fn ids_and_text() {
        assert!(OutTradeNo::parse("T_2026_abc").is_ok());
        assert!(OutTradeNo::parse(&"a".repeat(64)).is_ok());
        assert!(OutTradeNo::parse(&"a".repeat(65)).is_err());
        assert!(OutTradeNo::parse("a-b").is_err());
        assert!(OutTradeNo::parse("").is_err());
        assert!(Subject::parse(&"好".repeat(256)).is_ok());
        assert!(Subject::parse(&"好".repeat(257)).is_err());
        assert!(Subject::parse("a\nb").is_err());
        assert!(StoreId::parse("NJ_001").is_ok());
        assert!(TerminalId::parse(&"t".repeat(33)).is_err());
    }

    #[test]
    fn timeouts() {
        for ok in ["1m", "90m", "2h", "15d", "1c", "21600m"] {
            assert!(TimeoutExpress::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["0m", "16d", "21601m", "1x", "m", "", "-1m", "1.5h", "2c"] {
            assert!(TimeoutExpress::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TimeoutExpress::parse("2h").unwrap().minutes(), Some(120));
    }
}

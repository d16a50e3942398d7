//! Gateway time: `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8), the form of
//! the `timestamp` parameter, `gmt_payment` and notification times.

use time::format_description::FormatItem;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Beijing time, UTC+8 (no daylight saving).
pub const BEIJING: UtcOffset = offset!(+8);

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// Formats an instant as gateway time.
pub fn format_gateway_time(t: OffsetDateTime) -> String {
    t.to_offset(BEIJING)
        .format(FORMAT)
        .unwrap_or_else(|_| String::from("1970-01-01 08:00:00"))
}

/// The current time as gateway time.
pub fn gateway_now() -> String {
    format_gateway_time(OffsetDateTime::now_utc())
}

/// A gateway time string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time must be yyyy-MM-dd HH:mm:ss")]
pub struct TimeError;

/// Parses gateway time (interpreted as UTC+8).
pub fn parse_gateway_time(s: &str) -> Result<OffsetDateTime, TimeError> {
    PrimitiveDateTime::parse(s, FORMAT)
        .map(|p| p.assume_offset(BEIJING))
        .map_err(|_| TimeError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_utc8() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let s = format_gateway_time(t);
        assert_eq!(s, "2023-11-15 06:13:20");
        assert_eq!(parse_gateway_time(&s).unwrap(), t);
        assert!(parse_gateway_time("2023-11-15T06:13:20").is_err());
    }
}

//! Gateway time: `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8), the form of
//! the `timestamp` parameter, `gmt_payment` and notification times.

use time::format_description::FormatItem;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Beijing time, UTC+8 (no daylight saving).
pub const BEIJING: UtcOffset = offset!(+8);

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// Formats an instant as gateway time: converted to UTC+8, whole seconds
/// (any fraction is dropped), e.g. `2023-11-15 06:13:20`.
///
/// Formatting an [`OffsetDateTime`] with this description does not fail;
/// were it to, the result would be the Unix epoch, `1970-01-01 08:00:00`,
/// rather than a panic.
pub fn format_gateway_time(t: OffsetDateTime) -> String {
    t.to_offset(BEIJING)
        .format(FORMAT)
        .unwrap_or_else(|_| String::from("1970-01-01 08:00:00"))
}

/// The current time as gateway time (the system clock, read once): the
/// `timestamp` parameter of a request signed now.
pub fn gateway_now() -> String {
    format_gateway_time(OffsetDateTime::now_utc())
}

/// A gateway time string that does not parse: not exactly
/// `yyyy-MM-dd HH:mm:ss` (no `T`, no fraction, no zone), or not a real date
/// or time of day. Carries no copy of the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time must be yyyy-MM-dd HH:mm:ss")]
pub struct TimeError;

/// Parses gateway time, read as UTC+8 whatever the caller's zone, into an
/// instant (compare it, or convert it with `to_offset`).
///
/// # Errors
/// [`TimeError`] when `s` is not exactly `yyyy-MM-dd HH:mm:ss` with two-digit
/// fields (`2023-11-15T06:13:20`, a trailing zone or fraction, extra
/// spaces) or names no real date or time (month 13, 25 o'clock).
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

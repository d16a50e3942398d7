//! Target `fields`: [`Money`] and the field validators of [`protocol::fields`],
//! the trade status and the gateway time.
//!
//! Input: any bytes; as UTF-8 text they go through every parser, and the
//! first eight bytes are also an amount in fen.
//!
//! Asserted, for each parser against a reference written independently
//! here from the rules of docs/PROTOCOL.md §5 (a differential check):
//! - `Money::parse_wire` accepts exactly `digits[.d[d]]` up to
//!   100000000.00 with the same value; `parse_amount` is that and at least
//!   0.01; `FromStr` and serde agree; `to_wire` round-trips with exactly
//!   two decimals, and is the input itself when the input is canonical;
//! - the auth code, order numbers, store and terminal ids, subject, time-out
//!   and scene accept exactly what their rules say, and an accepted value
//!   is kept as given; an auth code's `Debug` shows its last four digits
//!   only; a time-out's minutes are in 1..=21600;
//! - a gateway time that parses formats back to a time that parses to the
//!   same instant, and to the input itself when it has the canonical shape.

use protocol::clock::{format_gateway_time, parse_gateway_time};
use protocol::fields::{
    AuthCode, OutRequestNo, OutTradeNo, Scene, StoreId, Subject, TerminalId, TimeoutExpress,
};
use protocol::money::{Money, MoneyError, MAX_AMOUNT_FEN};
use protocol::TradeStatus;

/// The fuzz target.
pub fn fields(data: &[u8]) {
    let mut fen = [0u8; 8];
    let n = data.len().min(8);
    fen[..n].copy_from_slice(&data[..n]);
    from_fen(u64::from_le_bytes(fen) % (MAX_AMOUNT_FEN + 2));
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    money(s);
    auth_code(s);
    ids(s);
    subject(s);
    timeout(s);
    enums(s);
    gateway_time(s);
}

fn digits(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_digit())
}

/// The amount of docs/PROTOCOL.md §5, written without `parse_wire`'s tricks.
fn reference_money(s: &str) -> Option<u64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if int.is_empty() || !digits(int) {
        return None;
    }
    let frac = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 2 && digits(f) => {
            let v: u64 = f.parse().ok()?;
            if f.len() == 1 {
                v * 10
            } else {
                v
            }
        }
        Some(_) => return None,
    };
    let int = int.trim_start_matches('0');
    if int.len() > 12 {
        return None;
    }
    let yuan: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let fen = yuan.checked_mul(100)?.checked_add(frac)?;
    (fen <= MAX_AMOUNT_FEN).then_some(fen)
}

fn money(s: &str) {
    let got = Money::parse_wire(s);
    assert_eq!(
        got.as_ref().ok().map(|m| m.fen()),
        reference_money(s),
        "parse_wire({s:?}) = {got:?}"
    );
    if s.is_empty() {
        assert_eq!(got, Err(MoneyError::Empty));
    }
    assert_eq!(s.parse::<Money>(), got);
    let json = serde_json::to_string(s).expect("a string serialises");
    assert_eq!(serde_json::from_str::<Money>(&json).ok(), got.clone().ok());
    let amount = Money::parse_amount(s);
    match &got {
        Ok(m) if m.fen() >= 1 => assert_eq!(amount, Ok(*m)),
        Ok(_) => assert_eq!(amount, Err(MoneyError::TooSmall)),
        Err(e) => assert_eq!(amount.as_ref().err(), Some(e)),
    }
    if let Ok(m) = got {
        let w = m.to_wire();
        assert_eq!(Money::parse_wire(&w), Ok(m));
        let canonical = !s.starts_with('0') || s.starts_with("0.");
        if canonical && s.len() >= 4 && s.as_bytes()[s.len() - 3] == b'.' {
            assert_eq!(w, s, "a canonical amount is written back as it came");
        }
    }
}

fn from_fen(fen: u64) {
    let m = Money::from_fen(fen);
    let w = m.to_wire();
    let (_, frac) = w.split_once('.').expect("two decimals");
    assert_eq!(frac.len(), 2);
    if fen <= MAX_AMOUNT_FEN {
        assert_eq!(Money::parse_wire(&w), Ok(m));
    } else {
        assert_eq!(Money::parse_wire(&w), Err(MoneyError::TooLarge));
    }
}

fn auth_code(s: &str) {
    let ok = (16..=24).contains(&s.len())
        && digits(s)
        && (25..=30).contains(&s[..2].parse::<u8>().unwrap_or(0));
    let got = AuthCode::parse(s);
    assert_eq!(got.is_ok(), ok, "AuthCode::parse({s:?}) = {got:?}");
    if let Ok(a) = got {
        assert_eq!(a.as_str(), s);
        assert_eq!(a.last4(), &s[s.len() - 4..]);
        let shown = format!("{a:?}");
        assert_eq!(shown, format!("AuthCode(****{})", a.last4()));
        assert!(!shown.contains(s));
    } else if let Err(e) = got {
        // The error never carries the value.
        assert!(s.len() < 8 || !digits(s) || !e.to_string().contains(s));
    }
}

fn ids(s: &str) {
    let id_ok = |max: usize, extra: &[u8]| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || extra.contains(&c))
    };
    let no = OutTradeNo::parse(s);
    assert_eq!(no.is_ok(), id_ok(64, b""), "OutTradeNo {s:?}");
    if let Ok(v) = no {
        assert_eq!(v.as_str(), s);
        assert_eq!(v.to_string(), s);
    }
    assert_eq!(OutRequestNo::parse(s).is_ok(), id_ok(64, b""));
    let store = StoreId::parse(s);
    assert_eq!(store.is_ok(), id_ok(32, b"-"), "StoreId {s:?}");
    assert_eq!(TerminalId::parse(s).is_ok(), id_ok(32, b"-"));
    if let Ok(v) = store {
        assert_eq!(v.into_string(), s);
    }
}

fn subject(s: &str) {
    let ok = !s.trim().is_empty() && s.chars().count() <= 256 && !s.chars().any(char::is_control);
    let got = Subject::parse(s);
    assert_eq!(got.is_ok(), ok, "Subject {s:?}");
    if let Ok(v) = got {
        assert_eq!(v.as_str(), s);
    }
}

fn timeout(s: &str) {
    let want: Option<Option<u32>> = if s == "1c" {
        Some(None)
    } else {
        let unit = s.chars().last();
        let num = &s[..s.len() - unit.map_or(0, char::len_utf8)];
        let mult = match unit {
            Some('m') => Some(1u64),
            Some('h') => Some(60),
            Some('d') => Some(1440),
            _ => None,
        };
        match (mult, num.len(), digits(num)) {
            (Some(k), 1..=5, true) => num
                .parse::<u64>()
                .ok()
                .map(|n| n * k)
                .filter(|m| (1..=21_600).contains(m))
                .map(|m| Some(u32::try_from(m).expect("at most 21600"))),
            _ => None,
        }
    };
    let got = TimeoutExpress::parse(s);
    assert_eq!(
        got.as_ref().ok().map(TimeoutExpress::minutes),
        want,
        "TimeoutExpress {s:?}"
    );
    if let Ok(t) = got {
        assert_eq!(t.as_str(), s);
    }
}

fn enums(s: &str) {
    match Scene::parse(s) {
        Ok(sc) => assert_eq!(sc.as_str(), s),
        Err(_) => assert!(s != "bar_code" && s != "wave_code"),
    }
    match TradeStatus::parse(s) {
        Some(t) => assert_eq!(t.as_str(), s),
        None => assert!(![
            "WAIT_BUYER_PAY",
            "TRADE_SUCCESS",
            "TRADE_CLOSED",
            "TRADE_FINISHED"
        ]
        .contains(&s)),
    }
}

fn gateway_time(s: &str) {
    let Ok(t) = parse_gateway_time(s) else {
        return;
    };
    let w = format_gateway_time(t);
    assert_eq!(parse_gateway_time(&w), Ok(t), "{s:?} -> {w:?}");
    let b = s.as_bytes();
    let shape = b.len() == 19
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b' ',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        });
    if shape {
        assert_eq!(w, s, "a canonical gateway time is written back as it came");
    }
}

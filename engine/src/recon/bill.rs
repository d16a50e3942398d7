//! The trade bill reader (docs/PROTOCOL.md §6): a zip holding `…_业务明细.csv` (the trade
//! detail) and `…_业务明细(汇总).csv` (the summary), both GBK CSVs with `#`
//! comment lines before the column header row and `#` footer lines after.
//!
//! Guarantees: detail rows are read one line at a time from the (inflating)
//! zip entry and yielded as typed [`BillRow`]s; memory is bounded by the
//! longest line ([`MAX_LINE`]), never by the number of rows. Columns are found
//! by header name (extra columns and any order are accepted; ASCII `()` in a
//! header counts as the full-width `（）`). Amounts are signed integer fen
//! ([`Fen`]), never floats. Cells are trimmed of the TAB padding. The footer
//! totals are parsed and [`DetailReader::check_footer`] compares them with
//! the rows read. A file that ends before its footer is an error
//! ([`BillError::Truncated`]), so a cut download is never taken as complete.
//! Quoted CSV cells are not supported (Alipay's bills do not quote).

use std::io::{BufRead, BufReader, Cursor, Read, Seek};

use encoding_rs::{DecoderResult, GBK};
use time::{Date, Month, PrimitiveDateTime, Time};

/// The longest line accepted (bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// A signed amount in fen (refund rows are negative); the field is the
/// number of fen. Displays as yuan with two decimals (`-10.00`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Fen(pub i64);

impl Fen {
    /// Parses a yuan string: optional `-`, digits, optional `.` and one or
    /// two decimals ("88.88", "-10.00", "5"), at most 15 integer digits;
    /// None for anything else (`+1`, `1.`, `.5`, `1.234`, full-width digits).
    pub fn parse_yuan(s: &str) -> Option<Fen> {
        // Byte-wise (a bill has a dozen amounts per row): no char searching.
        let s = s.as_bytes();
        let (neg, body) = match s.split_first() {
            Some((b'-', b)) => (true, b),
            _ => (false, s),
        };
        let (int, frac) = match body.iter().position(|&c| c == b'.') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        if int.is_empty() || int.len() > 15 || !int.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // At most 15 digits: no overflow.
        let mut fen: i64 = int
            .iter()
            .fold(0i64, |a, &c| a * 10 + i64::from(c - b'0'))
            .checked_mul(100)?;
        if let Some(b) = frac {
            if b.is_empty() || b.len() > 2 || !b.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let mut v = i64::from(b[0] - b'0') * 10;
            if b.len() == 2 {
                v += i64::from(b[1] - b'0');
            }
            fen += v;
        }
        Some(Fen(if neg { -fen } else { fen }))
    }

    /// The magnitude as [`protocol::Money`].
    pub fn abs_money(self) -> protocol::Money {
        protocol::Money::from_fen(self.0.unsigned_abs())
    }

    fn add(self, o: Fen) -> Fen {
        Fen(self.0.saturating_add(o.0))
    }
}

impl std::fmt::Display for Fen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

/// Why a bill could not be read. Each names the file and line where it can.
#[derive(Debug, thiserror::Error)]
pub enum BillError {
    /// The download is not a zip archive (the zip reader's message).
    #[error("not a zip archive: {0}")]
    NotZip(String),
    /// An entry of the zip cannot be opened or inflated.
    #[error("zip entry {file}: {reason}")]
    Zip {
        /// The entry's name.
        file: String,
        /// The zip reader's message.
        reason: String,
    },
    /// The zip holds no trade detail CSV.
    #[error("no trade detail CSV (…_业务明细.csv) in the zip; entries: {entries:?}")]
    NoDetail {
        /// The names of the entries it holds.
        entries: Vec<String>,
    },
    /// The zip holds no summary CSV.
    #[error("no summary CSV (…_业务明细(汇总).csv) in the zip; entries: {entries:?}")]
    NoSummary {
        /// The names of the entries it holds.
        entries: Vec<String>,
    },
    /// Reading (inflating) the file failed.
    #[error("{file}: read error at line {line}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The line being read (1-based).
        line: u64,
        /// What the reader said.
        #[source]
        source: std::io::Error,
    },
    /// A line is not valid GBK.
    #[error("{file}: line {line} is not GBK-decodable")]
    NotGbk {
        /// The file.
        file: String,
        /// The line (1-based).
        line: u64,
    },
    /// A line is UTF-8 text, not GBK (a re-encoded bill).
    #[error("{file}: line {line} is UTF-8, not GBK")]
    Utf8 {
        /// The file.
        file: String,
        /// The line (1-based).
        line: u64,
    },
    /// A line is longer than [`MAX_LINE`].
    #[error("{file}: line {line} is longer than {MAX_LINE} bytes")]
    LineTooLong {
        /// The file.
        file: String,
        /// The line (1-based).
        line: u64,
    },
    /// The file ends before its column header row.
    #[error("{file}: no column header row (the file ends at line {line})")]
    NoHeader {
        /// The file.
        file: String,
        /// The last line read.
        line: u64,
    },
    /// The header row lacks a required column.
    #[error("{file}: missing column {column} in the header row at line {line}")]
    MissingColumn {
        /// The file.
        file: String,
        /// The missing column's header.
        column: &'static str,
        /// The header row's line.
        line: u64,
    },
    /// A row has more or fewer cells than the header.
    #[error("{file}: line {line} has {found} cells, the header has {expected}")]
    CellCount {
        /// The file.
        file: String,
        /// The row's line.
        line: u64,
        /// Its cells.
        found: usize,
        /// The header's cells.
        expected: usize,
    },
    /// An amount cell is not a yuan amount ([`Fen::parse_yuan`]).
    #[error("{file}: bad amount in column {column} at line {line}: {value:?}")]
    BadAmount {
        /// The file.
        file: String,
        /// The column's header.
        column: &'static str,
        /// The row's line.
        line: u64,
        /// The cell as written.
        value: String,
    },
    /// A count cell of the summary is not a whole number.
    #[error("{file}: bad count in column {column} at line {line}: {value:?}")]
    BadCount {
        /// The file.
        file: String,
        /// The column's header.
        column: &'static str,
        /// The row's line.
        line: u64,
        /// The cell as written.
        value: String,
    },
    /// A time cell is not `yyyy-MM-dd HH:mm:ss`.
    #[error("{file}: bad time in column {column} at line {line}: {value:?}")]
    BadTime {
        /// The file.
        file: String,
        /// The column's header.
        column: &'static str,
        /// The row's line.
        line: u64,
        /// The cell as written.
        value: String,
    },
    /// A `业务类型` cell is neither `交易` nor `退款`.
    #[error("{file}: bad 业务类型 at line {line}: {value:?} (expected 交易 or 退款)")]
    BadKind {
        /// The file.
        file: String,
        /// The row's line.
        line: u64,
        /// The cell as written.
        value: String,
    },
    /// A footer line cannot be read (a totals line of another shape, or a
    /// non-`#` line after the rows).
    #[error("{file}: bad footer line {line}: {text:?}")]
    BadFooter {
        /// The file.
        file: String,
        /// The line.
        line: u64,
        /// The line as written.
        text: String,
    },
    /// The file ends before it is complete (a cut download).
    #[error("{file}: truncated at line {line}: {what}")]
    Truncated {
        /// The file.
        file: String,
        /// The last line read.
        line: u64,
        /// What is missing.
        what: &'static str,
    },
    /// The detail footer's totals differ from what the rows add up to
    /// ([`DetailReader::check_footer`]).
    #[error("footer {what} is {footer}, the rows add up to {rows}")]
    FooterMismatch {
        /// Which total (`交易合计 笔数`, ...).
        what: &'static str,
        /// The footer's value.
        footer: String,
        /// What the rows add up to.
        rows: String,
    },
}

// ---------------------------------------------------------------- lines

enum Got {
    Eof,
    /// A decoded line in `Lines::text`; `complete` when it ended with `\n`.
    Line {
        complete: bool,
    },
}

struct Lines<R> {
    r: BufReader<R>,
    raw: Vec<u8>,
    text: String,
    line: u64,
    file: String,
}

impl<R: Read> Lines<R> {
    fn new(r: R, file: String) -> Self {
        Lines {
            r: BufReader::with_capacity(32 * 1024, r),
            raw: Vec::with_capacity(1024),
            text: String::with_capacity(1024),
            line: 0,
            file,
        }
    }

    fn next(&mut self) -> Result<Got, BillError> {
        self.raw.clear();
        self.text.clear();
        let limit = (MAX_LINE + 2) as u64;
        let n = (&mut self.r)
            .take(limit)
            .read_until(b'\n', &mut self.raw)
            .map_err(|source| BillError::Io {
                file: self.file.clone(),
                line: self.line + 1,
                source,
            })?;
        if n == 0 {
            return Ok(Got::Eof);
        }
        self.line += 1;
        let complete = self.raw.last() == Some(&b'\n');
        if complete {
            self.raw.pop();
            if self.raw.last() == Some(&b'\r') {
                self.raw.pop();
            }
        }
        if self.raw.len() > MAX_LINE {
            return Err(BillError::LineTooLong {
                file: self.file.clone(),
                line: self.line,
            });
        }
        let mut dec = GBK.new_decoder_without_bom_handling();
        let need = dec
            .max_utf8_buffer_length_without_replacement(self.raw.len())
            .unwrap_or(MAX_LINE * 3);
        self.text.reserve(need);
        let (res, _) = dec.decode_to_string_without_replacement(&self.raw, &mut self.text, true);
        match res {
            DecoderResult::InputEmpty => Ok(Got::Line { complete }),
            _ => Err(self.encoding_error()),
        }
    }

    fn encoding_error(&self) -> BillError {
        if !self.raw.is_ascii() && std::str::from_utf8(&self.raw).is_ok() {
            BillError::Utf8 {
                file: self.file.clone(),
                line: self.line,
            }
        } else {
            BillError::NotGbk {
                file: self.file.clone(),
                line: self.line,
            }
        }
    }

    /// Whether the raw current line is UTF-8 text containing `needle`.
    fn raw_utf8_contains(&self, needle: &str) -> bool {
        std::str::from_utf8(&self.raw).is_ok_and(|s| s.contains(needle))
    }
}

fn trim_cell(c: &str) -> &str {
    // Byte-wise: TAB and space are ASCII, so the cut is on char boundaries.
    let b = c.as_bytes();
    let pad = |x: u8| x == b'\t' || x == b' ';
    let (mut i, mut j) = (0, b.len());
    while i < j && pad(b[i]) {
        i += 1;
    }
    while j > i && pad(b[j - 1]) {
        j -= 1;
    }
    &c[i..j]
}

/// `yyyy-MM-dd HH:mm:ss` (the bill's time shape) without the format
/// machinery; None for anything else, which then goes to `time`'s parser
/// (so what is accepted, and the value, are the same as with it alone).
fn fast_time(v: &str) -> Option<PrimitiveDateTime> {
    let b = v.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u16> {
        b[from..to].iter().try_fold(0u16, |a, &c| {
            c.is_ascii_digit().then(|| a * 10 + u16::from(c - b'0'))
        })
    };
    let month = Month::try_from(u8::try_from(num(5, 7)?).ok()?).ok()?;
    let date = Date::from_calendar_date(
        i32::from(num(0, 4)?),
        month,
        u8::try_from(num(8, 10)?).ok()?,
    )
    .ok()?;
    let time = Time::from_hms(
        u8::try_from(num(11, 13)?).ok()?,
        u8::try_from(num(14, 16)?).ok()?,
        u8::try_from(num(17, 19)?).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

/// Header cells are compared with ASCII parentheses made full-width.
fn normalize_header(c: &str) -> String {
    trim_cell(c).replace('(', "（").replace(')', "）")
}

fn find_columns<const N: usize>(
    text: &str,
    names: &[&'static str; N],
) -> Result<([usize; N], Vec<String>, usize), &'static str> {
    let header: Vec<String> = text.split(',').map(normalize_header).collect();
    let mut idx = [0usize; N];
    for (k, name) in names.iter().enumerate() {
        idx[k] = header.iter().position(|h| h == name).ok_or(*name)?;
    }
    let width = header.len();
    Ok((idx, header, width))
}

/// The comment lines before the column header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillHeader {
    /// `#账号：[…]`, the bracketed value.
    pub account: Option<String>,
    /// `#起始日期：[…]`, the bracketed value.
    pub start: Option<String>,
    /// `终止日期：[…]`, the bracketed value.
    pub end: Option<String>,
}

fn bracketed<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let rest = &s[s.find(key)? + key.len()..];
    let rest = rest.strip_prefix('[')?;
    Some(&rest[..rest.find(']')?])
}

impl BillHeader {
    fn absorb(&mut self, line: &str) {
        if let Some(v) = bracketed(line, "账号：") {
            self.account = Some(v.to_owned());
        }
        if let Some(v) = bracketed(line, "起始日期：") {
            self.start = Some(v.to_owned());
        }
        if let Some(v) = bracketed(line, "终止日期：") {
            self.end = Some(v.to_owned());
        }
    }
}

/// Reads `#` lines up to the column header row; the header is then in
/// `lines.text`.
fn read_to_header<R: Read>(lines: &mut Lines<R>) -> Result<BillHeader, BillError> {
    let mut h = BillHeader::default();
    loop {
        match lines.next()? {
            Got::Eof => {
                return Err(BillError::NoHeader {
                    file: lines.file.clone(),
                    line: lines.line,
                })
            }
            Got::Line { complete } => {
                let t = lines.text.trim();
                if t.is_empty() {
                    continue;
                }
                if t.starts_with('#') {
                    h.absorb(t);
                    continue;
                }
                if !complete {
                    return Err(BillError::Truncated {
                        file: lines.file.clone(),
                        line: lines.line,
                        what: "the file ends inside the column header row",
                    });
                }
                return Ok(h);
            }
        }
    }
}

fn missing(lines: &Lines<impl Read>, column: &'static str, first: &'static str) -> BillError {
    if lines.raw_utf8_contains(first) {
        BillError::Utf8 {
            file: lines.file.clone(),
            line: lines.line,
        }
    } else {
        BillError::MissingColumn {
            file: lines.file.clone(),
            column,
            line: lines.line,
        }
    }
}

// ---------------------------------------------------------------- detail

/// The detail columns, by header name (docs/PROTOCOL.md §6), in [`BillRow`]
/// order.
pub const DETAIL_COLUMNS: [&str; 25] = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
];

/// `业务类型`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillKind {
    /// `交易`: a payment.
    Trade,
    /// `退款`: a refund (negative amounts).
    Refund,
}

/// One detail row. Text cells are trimmed; empty when the bill leaves them
/// empty. Times are Beijing time as written (`yyyy-MM-dd HH:mm:ss`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// The line of the file this row came from (1-based).
    pub line: u64,
    /// `支付宝交易号`: Alipay's trade_no.
    pub trade_no: String,
    /// `商户订单号`: the out_trade_no the gateway knows the trade by.
    pub out_trade_no: String,
    /// `业务类型`: a payment or a refund.
    pub kind: BillKind,
    /// `商品名称`: the trade's subject.
    pub subject: String,
    /// `创建时间`.
    pub created_at: PrimitiveDateTime,
    /// `完成时间`: when it was paid (or refunded); dates the row on the bill.
    pub finished_at: PrimitiveDateTime,
    /// `门店编号`.
    pub store_id: String,
    /// `门店名称`.
    pub store_name: String,
    /// `操作员`.
    pub operator_id: String,
    /// `终端号`.
    pub terminal_id: String,
    /// `对方账户`, masked by Alipay.
    pub buyer_account: String,
    /// `订单金额（元）`: the order's total (negative on refund rows).
    pub order_amount: Fen,
    /// `商家实收（元）`: negative on refund rows.
    pub received: Fen,
    /// `支付宝红包（元）`.
    pub alipay_red_packet: Fen,
    /// `集分宝（元）`.
    pub jifenbao: Fen,
    /// `支付宝优惠（元）`.
    pub alipay_discount: Fen,
    /// `商家优惠（元）`.
    pub merchant_discount: Fen,
    /// `券核销金额（元）`.
    pub coupon_amount: Fen,
    /// `券名称`.
    pub coupon_name: String,
    /// `商家红包消费金额（元）`.
    pub merchant_red_packet: Fen,
    /// `卡消费金额（元）`.
    pub card_amount: Fen,
    /// `退款批次号/请求号` (the out_request_no on refund rows).
    pub refund_request_no: String,
    /// `服务费（元）`; the sign convention is unconfirmed (docs/PROTOCOL.md
    /// §6): as written.
    pub service_fee: Fen,
    /// `分润（元）`.
    pub profit_share: Fen,
    /// `备注`.
    pub remark: String,
    /// The cells of columns not in [`DETAIL_COLUMNS`], in the order of
    /// [`DetailReader::extra_columns`].
    pub extra: Vec<String>,
}

/// The footer totals of the detail file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailFooter {
    /// `#交易合计：N笔`: the payment rows.
    pub trade_count: u64,
    /// `商家实收共…元` of the payments.
    pub trade_received: Fen,
    /// `商家优惠共…元` of the payments (0 when the line has none).
    pub trade_merchant_discount: Fen,
    /// `#退款合计：N笔`: the refund rows.
    pub refund_count: u64,
    /// Negative (as written: `商家实收退款共-3000.00元`).
    pub refund_received: Fen,
    /// `商家优惠退款共…元` of the refunds (0 when the line has none).
    pub refund_merchant_discount: Fen,
    /// `#导出时间：[…]`, when present.
    pub exported_at: Option<String>,
}

/// What the rows read so far add up to (comparable with [`DetailFooter`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Payment rows read.
    pub trade_count: u64,
    /// Their `商家实收`.
    pub trade_received: Fen,
    /// Their `商家优惠`.
    pub trade_merchant_discount: Fen,
    /// Refund rows read.
    pub refund_count: u64,
    /// Their `商家实收` (negative).
    pub refund_received: Fen,
    /// Their `商家优惠`.
    pub refund_merchant_discount: Fen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Rows,
    Done,
    Failed,
}

/// The streaming reader of a detail CSV: an iterator of rows. It ends
/// (`None`) after the footer, or after the first error it yields; a reader
/// that ended without error has its [`DetailReader::footer`].
pub struct DetailReader<R> {
    lines: Lines<R>,
    header: BillHeader,
    idx: [usize; 25],
    width: usize,
    extra: Vec<(String, usize)>,
    cells: Vec<(usize, usize)>,
    footer: Option<DetailFooter>,
    tally: Tally,
    state: State,
}

impl<R: Read> DetailReader<R> {
    /// Reads the comment lines and the column header of a GBK detail CSV;
    /// `file` names it in errors.
    ///
    /// # Errors
    /// [`BillError::Io`], [`BillError::NotGbk`], [`BillError::Utf8`] or
    /// [`BillError::LineTooLong`] for a line that cannot be read;
    /// [`BillError::NoHeader`] or [`BillError::Truncated`] when the file
    /// ends before a complete header row; [`BillError::MissingColumn`] when
    /// a column of [`DETAIL_COLUMNS`] is missing.
    pub fn new(r: R, file: impl Into<String>) -> Result<Self, BillError> {
        let mut lines = Lines::new(r, file.into());
        let header = read_to_header(&mut lines)?;
        let (idx, names, width) = find_columns(&lines.text, &DETAIL_COLUMNS)
            .map_err(|c| missing(&lines, c, DETAIL_COLUMNS[0]))?;
        let extra = names
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !idx.contains(i))
            .map(|(i, n)| (n, i))
            .collect();
        Ok(DetailReader {
            lines,
            header,
            idx,
            width,
            extra,
            cells: Vec::with_capacity(width),
            footer: None,
            tally: Tally::default(),
            state: State::Rows,
        })
    }

    /// The comment lines before the column header.
    pub fn header(&self) -> &BillHeader {
        &self.header
    }

    /// The names of the columns not in [`DETAIL_COLUMNS`], in file order.
    pub fn extra_columns(&self) -> impl Iterator<Item = &str> {
        self.extra.iter().map(|(n, _)| n.as_str())
    }

    /// The footer totals, once the iterator has ended without error.
    pub fn footer(&self) -> Option<&DetailFooter> {
        self.footer.as_ref()
    }

    /// What the rows read so far add up to.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// After the last row: the footer totals agree with the rows.
    ///
    /// # Errors
    /// [`BillError::Truncated`] when the footer was not read (the iterator
    /// has not ended, or failed); [`BillError::FooterMismatch`] naming the
    /// first total that differs.
    pub fn check_footer(&self) -> Result<(), BillError> {
        let f = self.footer.as_ref().ok_or(BillError::Truncated {
            file: self.lines.file.clone(),
            line: self.lines.line,
            what: "the footer was not read",
        })?;
        let t = &self.tally;
        let checks: [(&'static str, String, String); 6] = [
            (
                "交易合计 笔数",
                f.trade_count.to_string(),
                t.trade_count.to_string(),
            ),
            (
                "交易合计 商家实收",
                f.trade_received.to_string(),
                t.trade_received.to_string(),
            ),
            (
                "交易合计 商家优惠",
                f.trade_merchant_discount.to_string(),
                t.trade_merchant_discount.to_string(),
            ),
            (
                "退款合计 笔数",
                f.refund_count.to_string(),
                t.refund_count.to_string(),
            ),
            (
                "退款合计 商家实收退款",
                f.refund_received.to_string(),
                t.refund_received.to_string(),
            ),
            (
                "退款合计 商家优惠退款",
                f.refund_merchant_discount.to_string(),
                t.refund_merchant_discount.to_string(),
            ),
        ];
        for (what, footer, rows) in checks {
            if footer != rows {
                return Err(BillError::FooterMismatch { what, footer, rows });
            }
        }
        Ok(())
    }

    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.lines.raw.capacity() + self.lines.text.capacity() + self.cells.capacity()
    }

    fn file(&self) -> String {
        self.lines.file.clone()
    }

    fn row(&mut self) -> Result<BillRow, BillError> {
        let text = &self.lines.text;
        self.cells.clear();
        let mut start = 0;
        // Byte-wise: ',' never occurs inside a multi-byte UTF-8 sequence.
        for (i, ch) in text.bytes().enumerate() {
            if ch == b',' {
                self.cells.push((start, i));
                start = i + 1;
            }
        }
        self.cells.push((start, text.len()));
        let line = self.lines.line;
        if self.cells.len() != self.width {
            return Err(BillError::CellCount {
                file: self.file(),
                line,
                found: self.cells.len(),
                expected: self.width,
            });
        }
        let cell = |k: usize| -> &str {
            let (a, b) = self.cells[self.idx[k]];
            trim_cell(&text[a..b])
        };
        let s = |k: usize| cell(k).to_owned();
        let amount = |k: usize| -> Result<Fen, BillError> {
            let v = cell(k);
            // Only the two main amounts must be written; other empty
            // amount cells count as zero.
            if v.is_empty() && k != 11 && k != 12 {
                return Ok(Fen(0));
            }
            Fen::parse_yuan(v).ok_or_else(|| BillError::BadAmount {
                file: self.lines.file.clone(),
                column: DETAIL_COLUMNS[k],
                line,
                value: v.to_owned(),
            })
        };
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        let at = |k: usize| -> Result<PrimitiveDateTime, BillError> {
            let v = cell(k);
            if let Some(t) = fast_time(v) {
                return Ok(t);
            }
            PrimitiveDateTime::parse(v, fmt).map_err(|_| BillError::BadTime {
                file: self.lines.file.clone(),
                column: DETAIL_COLUMNS[k],
                line,
                value: v.to_owned(),
            })
        };
        let kind = match cell(2) {
            "交易" => BillKind::Trade,
            "退款" => BillKind::Refund,
            v => {
                return Err(BillError::BadKind {
                    file: self.lines.file.clone(),
                    line,
                    value: v.to_owned(),
                })
            }
        };
        let extra = self
            .extra
            .iter()
            .map(|&(_, i)| {
                let (a, b) = self.cells[i];
                trim_cell(&text[a..b]).to_owned()
            })
            .collect();
        Ok(BillRow {
            line,
            trade_no: s(0),
            out_trade_no: s(1),
            kind,
            subject: s(3),
            created_at: at(4)?,
            finished_at: at(5)?,
            store_id: s(6),
            store_name: s(7),
            operator_id: s(8),
            terminal_id: s(9),
            buyer_account: s(10),
            order_amount: amount(11)?,
            received: amount(12)?,
            alipay_red_packet: amount(13)?,
            jifenbao: amount(14)?,
            alipay_discount: amount(15)?,
            merchant_discount: amount(16)?,
            coupon_amount: amount(17)?,
            coupon_name: s(18),
            merchant_red_packet: amount(19)?,
            card_amount: amount(20)?,
            refund_request_no: s(21),
            service_fee: amount(22)?,
            profit_share: amount(23)?,
            remark: s(24),
            extra,
        })
    }

    /// From the first `#` line after the rows to the end of the file.
    fn read_footer(&mut self) -> Result<DetailFooter, BillError> {
        let mut ended = false;
        let mut trades = None;
        let mut refunds = None;
        let mut exported_at = None;
        loop {
            let t = self.lines.text.trim();
            if t.contains("结束") {
                ended = true;
            } else if t.starts_with("#交易合计") {
                trades = Some(self.totals_line()?);
            } else if t.starts_with("#退款合计") {
                refunds = Some(self.totals_line()?);
            } else if let Some(v) = bracketed(t, "导出时间：") {
                exported_at = Some(v.to_owned());
            } else if !t.is_empty() && !t.starts_with('#') {
                return Err(BillError::BadFooter {
                    file: self.file(),
                    line: self.lines.line,
                    text: t.to_owned(),
                });
            }
            match self.lines.next()? {
                Got::Eof => break,
                Got::Line { .. } => {}
            }
        }
        let (Some((tc, tr, td)), Some((rc, rr, rd)), true) = (trades, refunds, ended) else {
            return Err(BillError::Truncated {
                file: self.file(),
                line: self.lines.line,
                what: "the footer (业务明细列表结束, 交易合计, 退款合计) is incomplete",
            });
        };
        Ok(DetailFooter {
            trade_count: tc,
            trade_received: tr,
            trade_merchant_discount: td,
            refund_count: rc,
            refund_received: rr,
            refund_merchant_discount: rd,
            exported_at,
        })
    }

    /// `#交易合计：10374笔，商家实收共28790.16元，商家优惠共0.00元`.
    fn totals_line(&self) -> Result<(u64, Fen, Fen), BillError> {
        let t = self.lines.text.trim();
        let bad = || BillError::BadFooter {
            file: self.file(),
            line: self.lines.line,
            text: t.to_owned(),
        };
        let body = t.split_once('：').ok_or_else(bad)?.1;
        let mut parts = body.split('，');
        let count = parts
            .next()
            .and_then(|p| p.trim().strip_suffix('笔'))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(bad)?;
        let mut received = None;
        let mut discount = None;
        for p in parts {
            let v = p
                .split_once('共')
                .and_then(|(_, v)| v.trim().strip_suffix('元'))
                .and_then(Fen::parse_yuan)
                .ok_or_else(bad)?;
            if p.contains("商家实收") {
                received = Some(v);
            } else if p.contains("商家优惠") {
                discount = Some(v);
            }
        }
        Ok((
            count,
            received.ok_or_else(bad)?,
            discount.unwrap_or_default(),
        ))
    }

    fn step(&mut self) -> Result<Option<BillRow>, BillError> {
        loop {
            match self.lines.next()? {
                Got::Eof => {
                    return Err(BillError::Truncated {
                        file: self.file(),
                        line: self.lines.line,
                        what: "the file ends before the footer (业务明细列表结束)",
                    })
                }
                Got::Line { complete } => {
                    let t = self.lines.text.trim();
                    if t.starts_with('#') {
                        self.footer = Some(self.read_footer()?);
                        return Ok(None);
                    }
                    if !complete {
                        return Err(BillError::Truncated {
                            file: self.file(),
                            line: self.lines.line,
                            what: "the file ends inside a row, before the footer",
                        });
                    }
                    if t.is_empty() {
                        continue;
                    }
                    let r = self.row()?;
                    let t = &mut self.tally;
                    match r.kind {
                        BillKind::Trade => {
                            t.trade_count += 1;
                            t.trade_received = t.trade_received.add(r.received);
                            t.trade_merchant_discount =
                                t.trade_merchant_discount.add(r.merchant_discount);
                        }
                        BillKind::Refund => {
                            t.refund_count += 1;
                            t.refund_received = t.refund_received.add(r.received);
                            t.refund_merchant_discount =
                                t.refund_merchant_discount.add(r.merchant_discount);
                        }
                    }
                    return Ok(Some(r));
                }
            }
        }
    }
}

impl<R: Read> Iterator for DetailReader<R> {
    type Item = Result<BillRow, BillError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Rows {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.state = State::Done;
                None
            }
            Err(e) => {
                self.state = State::Failed;
                Some(Err(e))
            }
        }
    }
}

impl<R: Read> std::iter::FusedIterator for DetailReader<R> {}

// ---------------------------------------------------------------- summary

/// The summary columns, by header name (docs/PROTOCOL.md §6), in
/// [`SummaryRow`] order.
pub const SUMMARY_COLUMNS: [&str; 12] = [
    "门店编号",
    "门店名称",
    "交易订单总笔数",
    "退款订单总笔数",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "卡消费金额（元）",
    "服务费（元）",
    "分润（元）",
    "实收净额（元）",
];

/// One row of the summary CSV (per store, or the `合计` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// `门店编号` (`合计` on the total row).
    pub store_id: String,
    /// `门店名称`.
    pub store_name: String,
    /// `交易订单总笔数`.
    pub trade_count: u64,
    /// `退款订单总笔数`.
    pub refund_count: u64,
    /// `订单金额（元）`.
    pub order_amount: Fen,
    /// `商家实收（元）`.
    pub received: Fen,
    /// `支付宝优惠（元）`.
    pub alipay_discount: Fen,
    /// `商家优惠（元）`.
    pub merchant_discount: Fen,
    /// `卡消费金额（元）`.
    pub card_amount: Fen,
    /// `服务费（元）`, as written.
    pub service_fee: Fen,
    /// `分润（元）`.
    pub profit_share: Fen,
    /// `实收净额（元）`.
    pub net: Fen,
}

/// The summary CSV (small: one row per store, read whole).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillSummary {
    /// The comment lines before the column header.
    pub header: BillHeader,
    /// One row per store, in file order.
    pub stores: Vec<SummaryRow>,
    /// The `合计` row.
    pub total: Option<SummaryRow>,
}

impl BillSummary {
    /// Reads a GBK summary CSV; `file` names it in errors.
    ///
    /// # Errors
    /// As [`DetailReader::new`] for the lines and the header (columns of
    /// [`SUMMARY_COLUMNS`]); [`BillError::CellCount`],
    /// [`BillError::BadAmount`] or [`BillError::BadCount`] for a bad row;
    /// [`BillError::Truncated`] when the file ends before `汇总列表结束`.
    pub fn read(r: impl Read, file: impl Into<String>) -> Result<BillSummary, BillError> {
        let mut lines = Lines::new(r, file.into());
        let header = read_to_header(&mut lines)?;
        let (idx, _, width) = find_columns(&lines.text, &SUMMARY_COLUMNS)
            .map_err(|c| missing(&lines, c, SUMMARY_COLUMNS[0]))?;
        let mut out = BillSummary {
            header,
            ..BillSummary::default()
        };
        loop {
            let complete = match lines.next()? {
                Got::Eof => {
                    return Err(BillError::Truncated {
                        file: lines.file.clone(),
                        line: lines.line,
                        what: "the file ends before the footer (汇总列表结束)",
                    })
                }
                Got::Line { complete } => complete,
            };
            let t = lines.text.trim();
            if t.starts_with('#') {
                if t.contains("结束") {
                    return Ok(out);
                }
                continue;
            }
            if t.is_empty() {
                continue;
            }
            if !complete {
                return Err(BillError::Truncated {
                    file: lines.file.clone(),
                    line: lines.line,
                    what: "the file ends inside a row, before the footer",
                });
            }
            let cells: Vec<&str> = lines.text.split(',').map(trim_cell).collect();
            let line = lines.line;
            let file = &lines.file;
            if cells.len() != width {
                return Err(BillError::CellCount {
                    file: file.clone(),
                    line,
                    found: cells.len(),
                    expected: width,
                });
            }
            let c = |k: usize| cells[idx[k]];
            let amount = |k: usize| {
                let v = c(k);
                if v.is_empty() {
                    return Ok(Fen(0));
                }
                Fen::parse_yuan(v).ok_or_else(|| BillError::BadAmount {
                    file: file.clone(),
                    column: SUMMARY_COLUMNS[k],
                    line,
                    value: v.to_owned(),
                })
            };
            let count = |k: usize| {
                c(k).parse::<u64>().map_err(|_| BillError::BadCount {
                    file: file.clone(),
                    column: SUMMARY_COLUMNS[k],
                    line,
                    value: c(k).to_owned(),
                })
            };
            let row = SummaryRow {
                store_id: c(0).to_owned(),
                store_name: c(1).to_owned(),
                trade_count: count(2)?,
                refund_count: count(3)?,
                order_amount: amount(4)?,
                received: amount(5)?,
                alipay_discount: amount(6)?,
                merchant_discount: amount(7)?,
                card_amount: amount(8)?,
                service_fee: amount(9)?,
                profit_share: amount(10)?,
                net: amount(11)?,
            };
            if row.store_id == "合计" {
                out.total = Some(row);
            } else {
                out.stores.push(row);
            }
        }
    }
}

// ---------------------------------------------------------------- zip

/// The downloaded bill zip: finds the detail and summary CSVs.
pub struct BillArchive<R> {
    zip: zip::ZipArchive<R>,
    detail: Option<(usize, String)>,
    summary: Option<(usize, String)>,
    entries: Vec<String>,
}

/// An entry name: UTF-8 when it is (the simulator sets the flag), else GBK
/// (Alipay's zips do not set the UTF-8 flag).
fn entry_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => GBK.decode_without_bom_handling(raw).0.into_owned(),
    }
}

impl<'a> BillArchive<Cursor<&'a [u8]>> {
    /// The zip in memory, as downloaded.
    ///
    /// # Errors
    /// As [`BillArchive::new`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, BillError> {
        BillArchive::new(Cursor::new(bytes))
    }
}

impl<R: Read + Seek> BillArchive<R> {
    /// Opens the zip and finds `…业务明细.csv` and `…业务明细(汇总).csv`
    /// (the first of each; entry names UTF-8, else GBK).
    ///
    /// # Errors
    /// [`BillError::NotZip`] when it is not a zip archive (or its directory
    /// cannot be read).
    pub fn new(r: R) -> Result<Self, BillError> {
        let mut zip = zip::ZipArchive::new(r).map_err(|e| BillError::NotZip(e.to_string()))?;
        let mut entries = Vec::new();
        let mut detail = None;
        let mut summary = None;
        for i in 0..zip.len() {
            let f = zip
                .by_index_raw(i)
                .map_err(|e| BillError::NotZip(e.to_string()))?;
            let name = entry_name(f.name_raw());
            drop(f);
            let lower = name.to_ascii_lowercase();
            if lower.ends_with(".csv") && name.contains("业务明细") {
                if name.contains("汇总") {
                    summary.get_or_insert((i, name.clone()));
                } else {
                    detail.get_or_insert((i, name.clone()));
                }
            }
            entries.push(name);
        }
        Ok(BillArchive {
            zip,
            detail,
            summary,
            entries,
        })
    }

    /// The entry names (decoded).
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// The detail rows, streamed from the inflating entry.
    ///
    /// # Errors
    /// [`BillError::NoDetail`] when the zip has no detail CSV;
    /// [`BillError::Zip`] when its entry cannot be opened; those of
    /// [`DetailReader::new`].
    pub fn detail(&mut self) -> Result<DetailReader<zip::read::ZipFile<'_, R>>, BillError> {
        let (i, name) = self.detail.clone().ok_or_else(|| BillError::NoDetail {
            entries: self.entries.clone(),
        })?;
        let f = self.zip.by_index(i).map_err(|e| BillError::Zip {
            file: name.clone(),
            reason: e.to_string(),
        })?;
        DetailReader::new(f, name)
    }

    /// The summary file, read whole.
    ///
    /// # Errors
    /// [`BillError::NoSummary`] when the zip has no summary CSV;
    /// [`BillError::Zip`] when its entry cannot be opened; those of
    /// [`BillSummary::read`].
    pub fn summary(&mut self) -> Result<BillSummary, BillError> {
        let (i, name) = self.summary.clone().ok_or_else(|| BillError::NoSummary {
            entries: self.entries.clone(),
        })?;
        let f = self.zip.by_index(i).map_err(|e| BillError::Zip {
            file: name.clone(),
            reason: e.to_string(),
        })?;
        BillSummary::read(f, name)
    }
}

#[cfg(test)]
#[path = "bill_tests.rs"]
mod tests;

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    #[test]
    fn fast_time_agrees_with_the_time_parser() {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        for v in [
            "2026-06-05 00:00:00",
            "2026-06-05 23:59:59",
            "2024-02-29 12:34:56",
            "2026-02-29 12:34:56",
            "2026-13-01 00:00:00",
            "2026-00-01 00:00:00",
            "2026-06-31 00:00:00",
            "2026-06-05 24:00:00",
            "2026-06-05 23:60:00",
            "2026-06-05 23:59:60",
            "2026-06-05T10:00:00",
            "2026-6-05 10:00:00",
            "2026-06-05 10:00",
            "2026-06-05 10:00:00 ",
            "+026-06-05 10:00:00",
            "0000-01-01 00:00:00",
            "２026-06-05 10:00:00",
            "",
        ] {
            let slow = PrimitiveDateTime::parse(v, fmt).ok();
            if let Some(fast) = fast_time(v) {
                assert_eq!(Some(fast), slow, "{v:?}");
            }
            let both = fast_time(v).or_else(|| PrimitiveDateTime::parse(v, fmt).ok());
            assert_eq!(both, slow, "{v:?}");
        }
        assert!(fast_time("2026-06-05 10:00:00").is_some());
    }

    #[test]
    fn amounts_and_cells() {
        let cases: [(&str, Option<i64>); 16] = [
            ("88.88", Some(8888)),
            ("-10.00", Some(-1000)),
            ("5", Some(500)),
            ("0.5", Some(50)),
            ("-0.01", Some(-1)),
            ("999999999999999.99", Some(99_999_999_999_999_999)),
            ("1000000000000000", None),
            ("", None),
            ("-", None),
            ("--1", None),
            ("+1", None),
            ("1.", None),
            (".5", None),
            ("1.234", None),
            ("1.2.3", None),
            ("１.00", None),
        ];
        for (s, want) in cases {
            assert_eq!(Fen::parse_yuan(s).map(|f| f.0), want, "{s:?}");
        }
        assert_eq!(trim_cell("\t 交易\t "), "交易");
        assert_eq!(trim_cell("\t\t"), "");
        assert_eq!(trim_cell("a b"), "a b");
    }
}

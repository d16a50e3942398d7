//! Daily reconciliation: reading Alipay's trade bill (SPEC 6).
//!
//! [`bill`] parses the downloaded bill zip (GBK CSVs) into typed rows, one at
//! a time, and the footer and summary totals the caller checks them against.
//! No network here: it parses bytes.

pub mod bill;

pub use bill::{
    BillArchive, BillError, BillHeader, BillKind, BillRow, BillSummary, DetailFooter, DetailReader,
    Fen, SummaryRow, Tally,
};

//! Daily reconciliation against Alipay's trade bill (docs/RECONCILIATION.md).
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`bill`] | the streaming reader of the bill zip (GBK CSVs by header name) |
//! | [`compare`] | the journal's book of a day against the bill's rows: the five classes (pure) |
//! | [`repair`] | what a query settles: the question, the decision (pure), the journaled repair |
//! | [`report`] | the versioned JSON, the CSV, the Markdown and HTML summaries (en, zh) |
//! | [`run`] | one run end to end, the command's entry point, the daily schedule |

pub mod bill;
pub mod compare;
pub mod repair;
pub mod report;
pub mod run;

pub use bill::{
    BillArchive, BillError, BillHeader, BillKind, BillRow, BillSummary, DetailFooter, DetailReader,
    Fen, SummaryRow, Tally,
};
pub use report::{Lang, ReconReport};
pub use run::{
    reconcile, reconcile_blocking, ReconContext, ReconError, ReconOutcome, ReconRequest,
};

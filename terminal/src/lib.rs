//! The terminal side of payswitch's contract, in one place.
//!
//! A terminal (a cash register, a POS, a kiosk) talks to the switch's
//! `/v1` API (docs/API.md section 1). This crate is that contract:
//!
//! - [`sign`]: the `PSW1-HMAC-SHA256` signature over a request (and over
//!   the results the switch relays to merchants, docs/API.md section 2);
//! - [`header`]: the `Authorization` header, built and parsed;
//! - [`status`]: the trade and refund statuses, the one-way rule between
//!   them, and the cashier's next action;
//! - [`wire`]: the request and answer bodies of every `/v1` endpoint and
//!   the error shape;
//! - [`client`]: [`TerminalClient`], an async client whose retries keep
//!   the same `out_trade_no`, `out_request_no` and body, so that a terminal
//!   that loses a connection cannot pay twice.
//!
//! The switch (`payswitch-engine`) verifies with the same code that a
//! terminal signs with, and the load generator drives the switch through
//! it: there is no second copy of the contract in the workspace.
//!
//! Optimised for: being obviously right. Signing is a handful of hashes;
//! the types are plain data with serde.

#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod client;
pub mod header;
pub mod sign;
pub mod status;
pub mod wire;

pub use client::{ClientError, RetryPolicy, TerminalClient};
pub use header::{AuthHeader, HeaderError, SCHEME};
pub use status::{CashierAction, RefundStatus, Status};
pub use wire::{ErrorAnswer, ErrorDetail, Refund, Trade};

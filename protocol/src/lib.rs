//! # payswitch-protocol: the Alipay OpenAPI wire format
//!
//! What the switch, the simulator and the load generator share about the
//! classic `gateway.do` protocol of the face-to-face payment APIs, and
//! nothing else: no I/O, no clocks beyond formatting, no global state.
//!
//! Optimised for the switch's binding cost, RSA2 signing: keys are parsed once
//! into prepared [`Signer`] / [`Verifier`] values (`Send + Sync`, shared by
//! `Arc`, no per-call parsing or locking); sign strings are built with one
//! allocation; responses are verified over the raw node bytes found by a
//! single scan, without re-serialising.
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`money`] | integer fen, strict wire amounts |
//! | [`fields`] | auth codes, order numbers and other validated fields |
//! | [`sign_string`] | the strings RSA2 signatures cover |
//! | [`crypto`] | prepared-key RSA2 signer and verifier, one folder per backend |
//! | [`request`] | common parameters, signing, form encoding; parameter decoding |
//! | [`biz`] | `biz_content` of each request |
//! | [`response`] | raw-node extraction, verification, typed responses, building |
//! | [`notify`] | asynchronous notifications: verification, typed fields, building |
//! | [`codes`] | gateway codes with their exact messages, sub-codes |
//! | [`method`] | the methods and their response nodes |
//! | [`clock`] | gateway time, `yyyy-MM-dd HH:mm:ss` in UTC+8 |
//! | [`scrub`] | payment codes and echoed sign strings cut out of gateway text |
//!
//! The protocol facts behind each module are in `docs/PROTOCOL.md` (the
//! section numbers quoted in the docs here, §1 to §10, are its sections).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod biz;
pub mod clock;
pub mod codes;
pub mod crypto;
pub mod fields;
pub mod method;
pub mod money;
pub mod notify;
pub mod request;
pub mod response;
pub mod scrub;
pub mod sign_string;

pub use codes::Code;
pub use crypto::{KeyError, RsaSigner, RsaVerifier, SignError, Signer, Verifier, VerifyError};
pub use fields::{
    AuthCode, FieldError, OutRequestNo, OutTradeNo, Scene, StoreId, Subject, TerminalId,
    TimeoutExpress,
};
pub use method::Method;
pub use money::{Money, MoneyError};
pub use notify::{Notification, NotifyError, TradeStatus};
pub use response::{ResponseError, Verified};

//! # payswitch-loadgen: load, honest latency, and the pressure-test report
//!
//! Drives the switch's terminal API (as many terminals) or the gateway
//! directly (as a signing app client), measures latency without coordinated
//! omission, audits every trade it made against the switch's journal and the
//! simulator's ledger, and writes the pressure-test report Alipay asks for
//! before a switch goes live (JSON, Markdown, one self-contained HTML file;
//! English or Chinese). Also `sign-bench`, the machine's RSA2 limit, and
//! `demo`, which starts the simulator and the switch and runs all of it.
//!
//! Optimised for *trustworthy* figures first, then for a small footprint: the
//! open-model schedule is computed from the start time alone, latency runs
//! from each request's intended send time, and the generator measures its own
//! lag so that a run where it fell behind is marked invalid instead of
//! flattering the target. On the hot path a request costs one spawned task,
//! one pooled keep-alive connection and one short critical section in the
//! recorder.
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`spec`] | durations, rates, stages, the operation mix, thresholds |
//! | [`load`] | the open and closed models, the schedule |
//! | [`target`] | the switch (HMAC terminals) and gateway (RSA2 app) targets |
//! | [`http`] | the pooled HTTP client and transport error kinds |
//! | [`measure`] | outcomes, HdrHistograms, the per-second series |
//! | [`acceptance`] | the business acceptance self-check (业务验收, docs/PROTOCOL.md §9.8) and its checklist |
//! | [`audit`] | generator vs switch journal vs simulator ledger |
//! | [`procstat`] | CPU seconds, peak RSS, machine description from /proc |
//! | [`report`] | JSON schema, Markdown, HTML with plots, compare |
//! | [`run`] | one run from arguments to report |
//! | [`demo`] | the simulator and the switch as child processes, and the demo |
//! | `reconcile` | (feature `demo`) the demo's reconciliation of its gateway days |
//! | [`progress`] | the live progress line |
//! | [`echo`] | a trivial endpoint for the generator-vs-wrk benchmark |
//! | [`signbench`] | RSA2 sign/verify throughput |
//! | [`error`] | [`LoadgenError`], the error of every fallible function |
//!
//! The commands, the report's JSON schema and how to read the figures are
//! in docs/LOADGEN.md; the acceptance checklist's in docs/API.md §7.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod acceptance;
pub mod audit;
pub mod demo;
pub mod echo;
pub mod error;
pub mod http;
pub mod load;
pub mod measure;
pub mod procstat;
pub mod progress;
#[cfg(feature = "demo")]
pub mod reconcile;
pub mod report;
pub mod run;
pub mod signbench;
pub mod spec;
pub mod target;

pub use error::{LoadgenError, Result};

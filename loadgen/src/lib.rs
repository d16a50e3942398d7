//! # payswitch-loadgen: load, honest latency, and the pressure-test report
//!
//! Drives the switch's terminal API (as many terminals) or the gateway
//! directly (as a signing app client), measures latency without coordinated
//! omission, and writes the pressure-test report Alipay asks for before a
//! switch goes live. Also `sign-bench`, the machine's RSA2 limit.

pub mod signbench;

//! # payswitch-engine: the payment switch
//!
//! The switch a bank or ISV runs between thousands of merchant terminals and
//! the Alipay OpenAPI gateway. Terminals speak a small HMAC-authenticated JSON
//! API ([`api`]); the switch owns the app keys, signs every gateway request,
//! verifies every answer, follows the seed policies for barcode payments
//! (10000 / 10003 / 20000 / 40004) until each trade is definite ([`flow`]),
//! and journals every request, answer and state change durably *before* the
//! terminal hears about it ([`store`]). After a crash, [`server::start`]
//! recovers every unfinished trade.
//!
//! Optimised for: never losing or double-charging a trade first; then CPU
//! per payment close to the cost of one RSA2 sign plus one verify (prepared
//! keys, one signature per request, raw-node verification, group commit so an
//! fsync is shared by many trades, no thread per waiting terminal).
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`config`] | the TOML configuration, validated, keys prepared |
//! | [`admin`] | the admin API on its own listener: merchants, stores, terminals (bearer tokens) |
//! | [`api`] | hyper server: auth, validation, JSON, operator endpoints |
//! | [`flow`] | the trade cells, the pure money policy, one driver per operation, recovery, relays (the only writer of state) |
//! | [`contract`] | the trade and refund JSON terminals see, the PSW1 signature |
//! | [`notify`] | notifications in: verification, then [`flow::Flows::notified`] |
//! | [`fees`] | fees of a trade at a sub-merchant's gateway and merchant rates, and what each refund returns (seed 002 §6) |
//! | [`trade`] | trade/refund records and the one-way status rule |
//! | [`heartbeat`] | `monitor.heartbeat.syn` per active terminal, with its recent pays |
//! | [`gateway`] | signed gateway calls over a keep-alive pool, circuit breaker |
//! | [`store`] | the journal trait and its SQLite group-commit implementation |
//! | [`metrics`] | Prometheus counters and histograms |
//! | [`server`] | start-up, recovery, accept loops, graceful shutdown |
//! | [`keygen`] | RSA-2048 key pairs in Alipay's key-tool formats |
//! | [`merchants`] | the registry: merchants, stores, terminals and their sealed secrets |
//! | [`recon`] | daily reconciliation against Alipay's bill: read, compare, repair, report, schedule |
//! | [`settlement`] | the settlement file: per sub-merchant amounts, fees, net due and payout date |
#![forbid(unsafe_code)]

pub mod admin;
pub mod api;
pub mod config;
pub mod contract;
pub mod fees;
pub mod flow;
pub mod gateway;
pub mod heartbeat;
pub mod keygen;
pub mod merchants;
pub mod metrics;
pub mod notify;
pub mod recon;
pub mod server;
pub mod settlement;
pub mod store;
pub mod trade;

pub use config::{Config, ConfigError};
pub use server::{run, start, Running};
pub use store::{Store, StoreError};
pub use trade::{Status, Trade};

/// Why the switch could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Gateway(#[from] gateway::GatewayError),
    #[error(transparent)]
    Flow(#[from] flow::FlowError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Registry(#[from] merchants::RegistryError),
    #[error("key generation: {0}")]
    Key(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

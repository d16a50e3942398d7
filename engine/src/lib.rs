//! # payswitch-engine: the payment switch
//!
//! The switch a bank or ISV runs between thousands of merchant terminals and
//! the Alipay OpenAPI gateway. Terminals speak a small HMAC-authenticated JSON
//! API ([`api`]); the switch owns the app keys, signs every gateway request,
//! verifies every answer, follows the documented policies for barcode
//! payments (10000 / 10003 / 20000 / 40004, docs/PROTOCOL.md §9.7 and §10)
//! until each trade is definite ([`flow`]), and journals every request,
//! answer and state change durably *before* the terminal hears about it
//! ([`store`]). After a crash, [`server::start`]
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
//! | [`fees`] | fees of a trade at a sub-merchant's gateway and merchant rates, and what each refund returns (docs/PROTOCOL.md §9.6) |
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
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod admin;
pub mod api;
pub mod config;
pub mod console;
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
    /// The configuration is refused (read, parsed or validated).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The journal cannot be opened, read or closed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gateway client cannot be built (URL, CA file, TLS).
    #[error(transparent)]
    Gateway(#[from] gateway::GatewayError),
    /// Recovery at start failed.
    #[error(transparent)]
    Flow(#[from] flow::FlowError),
    /// A listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from the configuration.
        addr: std::net::SocketAddr,
        /// Why the bind failed (in use, not permitted...).
        source: std::io::Error,
    },
    /// The server's TLS certificate or key cannot be read or used (the
    /// sentence names the setting).
    #[error("TLS: {0}")]
    Tls(String),
    /// The merchant registry cannot be loaded (or its secret key is
    /// refused).
    #[error(transparent)]
    Registry(#[from] merchants::RegistryError),
    /// `payswitch keygen` refused or failed (a file exists, cannot be
    /// created, or the key cannot be generated).
    #[error("key generation: {0}")]
    Key(String),
    /// Another I/O failure (a bound address, a file, a task that failed).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

//! # alipay-sim: a mock Alipay OpenAPI gateway
//!
//! The lab in which payswitch is tested and stress-tested: a `/gateway.do`
//! endpoint that speaks the classic OpenAPI protocol like the real gateway
//! (RSA2-verified requests, signed compact responses, the same codes and
//! sub-codes, the same rules for repeated requests), a stateful ledger,
//! notifications with Alipay's retry schedule, deterministic magic values and
//! a seeded random profile for faults and latency, and a JSON control API
//! (`/_sim/...`) for tests. It also onboards sub-merchants
//! (`ant.merchant.expand.indirect.*`; trades of an indirect app must name
//! one) and records `monitor.heartbeat.syn` heartbeats.
//!
//! Optimised for throughput under load tests: keys are prepared once, each
//! response costs one RSA verification and one signature, the ledger is a
//! sharded `DashMap` (no global lock on the request path), and responses are
//! serialised once with `protocol::response::serialize_node`.
//!
//! Start it in-process with [`start`] and a [`SimConfig`] (see
//! [`SimConfig::demo`]), or run the `alipay-sim` binary.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod bill;
pub mod biz;
pub mod config;
pub mod control;
pub mod gateway;
pub mod ledger;
pub mod merchants;
pub mod methods;
pub mod notify;
pub mod profile;
pub mod server;
pub mod state;

use std::net::SocketAddr;
use std::time::Duration;

pub use config::FileConfig;
pub use profile::{Latency, Profile, ProfileError};
pub use server::SimHandle;

/// The demo app id (its keys live under deploy/keys, marked insecure).
pub const DEMO_APP_ID: &str = "2021000000000001";
/// The demo app's public key (insecure, for tests and demos only).
pub const DEMO_APP_PUBLIC_KEY: &str = include_str!("../../deploy/keys/demo-app-public.pem");
/// The demo app's private key (insecure, for tests and demos only).
pub const DEMO_APP_PRIVATE_KEY: &str = include_str!("../../deploy/keys/demo-app-private.pem");
/// The simulated gateway's demo private key (insecure).
pub const DEMO_ALIPAY_PRIVATE_KEY: &str = include_str!("../../deploy/keys/demo-alipay-private.pem");
/// The simulated gateway's demo public key (insecure).
pub const DEMO_ALIPAY_PUBLIC_KEY: &str = include_str!("../../deploy/keys/demo-alipay-public.pem");

/// The default refund window, in days (docs/PROTOCOL.md §9.6: three months).
pub const DEFAULT_REFUND_WINDOW_DAYS: u32 = 90;

/// An app the gateway accepts: its id and its public key text (PEM or bare base64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRegistration {
    /// The request parameter `app_id` that selects this app (16 digits on
    /// the real gateway; any non-empty text here).
    pub app_id: String,
    /// The app's RSA public key, PEM or bare base64: verifies the `sign` of
    /// its requests. Parsed once at [`start`]; a key that does not parse is
    /// [`SimError::AppKey`].
    pub public_key: String,
}

/// Everything the simulator needs to start.
#[derive(Clone)]
pub struct SimConfig {
    /// Where to listen; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Divides the password delay and the notification intervals (1 = real time).
    pub time_scale: f64,
    /// How long a buyer takes to enter the password (10003), before scaling.
    pub password_delay: Duration,
    /// The apps the gateway accepts.
    pub apps: Vec<AppRegistration>,
    /// The key text that signs responses and notifications. Never logged.
    pub alipay_private_key: String,
    /// The seeded random scenario profile.
    pub profile: Profile,
    /// How long magic 9001 (and a profile hang) holds the connection before dropping it.
    pub client_timeout_hint: Duration,
    /// Magic 9003: how long after its connection is dropped (at
    /// `client_timeout_hint`) the payment lands. Real time, not scaled.
    pub late_landing: Duration,
    /// Accepted distance between the request `timestamp` (Beijing time) and
    /// the simulator's clock; farther is `isv.invalid-timestamp`.
    pub timestamp_window: Duration,
    /// Largest request body accepted (larger answers HTTP 413).
    pub max_body_bytes: usize,
    /// Time-out of an unpaid trade without `timeout_express` (not scaled).
    pub default_trade_timeout: Duration,
    /// Accept any certificate of an `https://` notify_url (lab receivers
    /// with self-signed certificates). Default false: the system's roots.
    pub notify_insecure_tls: bool,
    /// Forget trades (and their notification records) that are paid or
    /// closed and unchanged for this long, to bound memory in long load runs.
    /// Default `None`: keep every trade until `POST /_sim/reset`.
    pub retention: Option<Duration>,
    /// The indirect (bank / ISV acquirer) apps: their alipay.trade.pay,
    /// precreate and create must carry `sub_merchant.merchant_id` naming a
    /// sub-merchant they onboarded (`ant.merchant.expand.indirect.create`).
    /// Each must be one of `apps`. Default empty: the demo app is direct
    /// (it becomes indirect by default once the switch onboards merchants).
    pub indirect_apps: Vec<String>,
    /// The gateway's fee rate per sub-merchant (smid -> basis points), for
    /// the bill's 服务费 column (`--fee-rate SMID=BPS`).
    pub fee_rates: std::collections::HashMap<String, u32>,
    /// The fee rate of trades without a listed smid (`--default-fee-bps`, 60).
    pub default_fee_bps: u32,
    /// How long after payment a trade can be refunded, in days of gateway
    /// time (`--refund-window-days`, default 90: "支付宝默认支持三个月内的退款",
    /// docs/PROTOCOL.md §9.6); past it the trade is TRADE_FINISHED. 1 to 3660.
    pub refund_window_days: u32,
    /// Serve HTTPS with this PEM certificate chain and private key
    /// (`--tls-cert`, `--tls-key`); None: plain HTTP.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("time_scale", &self.time_scale)
            .field("password_delay", &self.password_delay)
            .field(
                "apps",
                &self.apps.iter().map(|a| &a.app_id).collect::<Vec<_>>(),
            )
            .field("alipay_private_key", &"<redacted>")
            .field("profile", &self.profile)
            .field("client_timeout_hint", &self.client_timeout_hint)
            .field("late_landing", &self.late_landing)
            .field("timestamp_window", &self.timestamp_window)
            .field("indirect_apps", &self.indirect_apps)
            .field("refund_window_days", &self.refund_window_days)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl SimConfig {
    /// The demo configuration: app `2021000000000001` with the insecure demo
    /// keys, listening on `127.0.0.1:0`, real time, the all-success profile.
    pub fn demo() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            time_scale: 1.0,
            password_delay: Duration::from_secs(10),
            apps: vec![AppRegistration {
                app_id: DEMO_APP_ID.to_owned(),
                public_key: DEMO_APP_PUBLIC_KEY.to_owned(),
            }],
            alipay_private_key: DEMO_ALIPAY_PRIVATE_KEY.to_owned(),
            profile: Profile::default(),
            client_timeout_hint: Duration::from_secs(20),
            late_landing: Duration::from_millis(3000),
            timestamp_window: Duration::from_secs(15 * 60),
            max_body_bytes: 1 << 20,
            default_trade_timeout: Duration::from_secs(2 * 3600),
            notify_insecure_tls: false,
            retention: None,
            indirect_apps: Vec::new(),
            fee_rates: std::collections::HashMap::new(),
            default_fee_bps: 60,
            refund_window_days: DEFAULT_REFUND_WINDOW_DAYS,
            tls: None,
        }
    }

    /// [`SimConfig::demo`] with the demo app indirect: its trades must name
    /// an onboarded sub-merchant.
    pub fn demo_indirect() -> SimConfig {
        let mut c = SimConfig::demo();
        c.indirect_apps = vec![DEMO_APP_ID.to_owned()];
        c
    }

    /// [`SimConfig::refund_window_days`] as a duration (whole days of
    /// gateway time after payment).
    pub fn refund_window(&self) -> time::Duration {
        time::Duration::days(i64::from(self.refund_window_days))
    }

    /// Divides a protocol interval (a password delay, a notification retry
    /// interval) by [`SimConfig::time_scale`]; `d` unchanged when the scale is
    /// not a positive finite number.
    pub fn scaled(&self, d: Duration) -> Duration {
        if self.time_scale > 0.0 && self.time_scale.is_finite() {
            d.div_f64(self.time_scale)
        } else {
            d
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::demo()
    }
}

/// Why the simulator could not start, or a configuration file was refused.
/// No variant quotes key material.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// An app's public key ([`AppRegistration::public_key`]) does not parse.
    #[error("the public key of app {app_id} was refused: {source}")]
    AppKey {
        /// The app whose key was refused.
        app_id: String,
        /// Why `protocol` refused it.
        source: protocol::KeyError,
    },
    /// [`SimConfig::alipay_private_key`] does not parse as an RSA private key.
    #[error("the simulator's private key was refused: {0}")]
    AlipayKey(protocol::KeyError),
    /// The listener could not be bound (a port in use, an address not local).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for ([`SimConfig::listen`]).
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A value out of its range (the time scale, the refund window, an
    /// indirect app that is not an app...), a configuration file that cannot
    /// be read or parsed, or a notification TLS setup that failed; the
    /// message names the field or the file.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The `--tls-cert` / `--tls-key` files cannot be read, hold no
    /// certificate or key, or do not make a TLS configuration.
    #[error("TLS: {0}")]
    Tls(String),
    /// The profile is not valid ([`Profile::validate`]).
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

/// Binds the listener, spawns the simulator onto the current tokio runtime
/// and returns at once.
///
/// # Errors
///
/// [`SimError::Bind`] when the listener cannot be bound;
/// [`SimError::Tls`] when [`SimConfig::tls`] names files that do not make a
/// TLS configuration; [`SimError::AppKey`] or [`SimError::AlipayKey`] when a
/// key does not parse; [`SimError::Profile`] when the profile is not valid;
/// [`SimError::Config`] when the time scale is not a positive finite number,
/// `default_trade_timeout` exceeds 366 days, `refund_window_days` is outside
/// 1 to 3660, an indirect app is not one of the apps, or the notification
/// client cannot be set up.
pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
    server::start(cfg).await
}

//! Configuration: the TOML file `payswitch serve --config FILE` reads.
//!
//! Guarantees: a configuration that loads is complete and consistent. Every
//! refusal names the field at fault (`gateway.app_id`, `terminals[2].secret`,
//! ...). Keys are parsed once here into prepared [`Signer`] / [`Verifier`]
//! values; private key files (and a config file carrying terminal secrets)
//! readable by group or others are refused unless
//! `allow_insecure_key_permissions` is set. No secret is ever part of an error
//! message or of `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use protocol::{Signer, StoreId, TerminalId, Verifier};
use serde::Deserialize;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read (or its permissions cannot be
    /// checked).
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The text is not TOML, has an unknown field, or a value of the wrong
    /// type (the parser's message, URL passwords masked).
    #[error("config is not valid TOML: {0}")]
    Toml(String),
    /// A value is out of range, inconsistent with another, or names a file
    /// that cannot be read or is too open.
    #[error("config field {field}: {reason}")]
    Field {
        /// The field at fault, as in the file (`terminals[2].secret_hex`).
        field: String,
        /// What is wrong with it (never a secret).
        reason: String,
    },
}

fn field_err(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    allow_insecure_key_permissions: bool,
    /// Accept a plain-http gateway (and heartbeat) URL: labs and alipay-sim only.
    #[serde(default)]
    allow_insecure_gateway: bool,
    server: RawServer,
    gateway: RawGateway,
    #[serde(default)]
    policy: RawPolicy,
    store: RawStore,
    #[serde(default)]
    terminals: Vec<RawTerminal>,
    #[serde(default)]
    merchants: Vec<RawMerchant>,
    admin: Option<RawAdmin>,
    #[serde(default)]
    heartbeat: RawHeartbeat,
    #[serde(default)]
    recon: RawRecon,
    #[serde(default)]
    settlement: RawSettlement,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecon {
    at: Option<String>,
    out_dir: Option<String>,
    default_gateway_fee_bps: Option<u32>,
    default_merchant_fee_bps: Option<u32>,
    download_max_mib: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettlement {
    acquirer_bank: Option<String>,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    extra_working_days: Vec<String>,
    out_dir: Option<String>,
}

/// Daily reconciliation (`[recon]`, docs/RECONCILIATION.md).
#[derive(Debug, Clone)]
pub struct ReconConfig {
    /// The daily run's time of day in gateway time (Beijing), as (hour,
    /// minute); None: no scheduled run (`payswitch reconcile` only).
    pub at: Option<(u8, u8)>,
    /// Where reports go; default `<store folder>/recon`.
    pub out_dir: PathBuf,
    /// The gateway rate, bps, of merchants that carry none (those of the
    /// configuration without `gateway_fee_bps`); default 60.
    pub default_gateway_fee_bps: u32,
    /// The merchant rate, bps, of merchants that carry none; default the
    /// gateway default.
    pub default_merchant_fee_bps: u32,
    /// The largest bill download accepted, bytes.
    pub download_max_bytes: u64,
}

/// The settlement file (`[settlement]`, docs/PROTOCOL.md §9.6 资金流向和打款时间).
#[derive(Debug, Clone)]
pub struct SettlementConfig {
    /// The acquirer's own bank: a merchant whose first bankcard's
    /// `bank_branch_name` contains it is paid D+1 (a natural day); others the
    /// next working day. None: every merchant is paid the next working day.
    pub acquirer_bank: Option<String>,
    /// Public holidays (no payout to other banks), `yyyy-MM-dd`.
    pub holidays: Vec<String>,
    /// Weekend days that are working days (调休), `yyyy-MM-dd`.
    pub extra_working_days: Vec<String>,
    /// Where settlement files go; default `<store folder>/settlement`.
    pub out_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeartbeat {
    #[serde(default = "d_hb_enabled")]
    enabled: bool,
    #[serde(default = "d_hb_interval")]
    interval_secs: u64,
    url: Option<String>,
    #[serde(default = "d_hb_network")]
    network_type: String,
}

impl Default for RawHeartbeat {
    fn default() -> Self {
        RawHeartbeat {
            enabled: d_hb_enabled(),
            interval_secs: d_hb_interval(),
            url: None,
            network_type: d_hb_network(),
        }
    }
}

fn d_hb_enabled() -> bool {
    true
}
fn d_hb_interval() -> u64 {
    900
}
fn d_hb_network() -> String {
    "LAN".into()
}

/// The heartbeats (`[heartbeat]`, 交易保障: `monitor.heartbeat.syn` per
/// active terminal).
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    /// Whether heartbeats are sent at all (default `true`).
    pub enabled: bool,
    /// Between two heartbeats of a terminal (900 s; never more than 1800).
    pub interval: Duration,
    /// Where heartbeats go; None: the gateway URL.
    pub url: Option<String>,
    /// `network_type` sent with each heartbeat (`LAN`, `WIFI`, `3G`...).
    pub network_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMerchant {
    external_id: String,
    name: Option<String>,
    smid: Option<String>,
    relay_url: Option<String>,
    gateway_fee_bps: Option<u32>,
    merchant_fee_bps: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    #[serde(default = "d_admin_listen")]
    listen: String,
    #[serde(default)]
    token_sha256: Vec<String>,
    token_file: Option<String>,
    secret_key_file: Option<String>,
}

fn d_admin_listen() -> String {
    "127.0.0.1:8081".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Vec<String>,
    tls_cert_file: Option<String>,
    tls_key_file: Option<String>,
    #[serde(default = "d_max_body")]
    max_body_bytes: usize,
    #[serde(default = "d_header_timeout")]
    header_read_timeout_ms: u64,
    #[serde(default = "d_grace")]
    shutdown_grace_ms: u64,
    #[serde(default = "d_window")]
    auth_window_secs: u64,
    fingerprint_key_file: Option<String>,
    #[serde(default = "d_max_connections")]
    max_connections: usize,
    #[serde(default = "d_body_timeout")]
    body_read_timeout_ms: u64,
    #[serde(default = "d_max_trades")]
    max_trades_in_memory: usize,
    #[serde(default)]
    relay_allow_private_addresses: bool,
    #[serde(default = "d_idle_timeout")]
    idle_timeout_ms: u64,
    #[serde(default = "d_max_header_bytes")]
    max_header_bytes: usize,
    #[serde(default = "d_h2_streams")]
    h2_max_concurrent_streams: u32,
    #[serde(default = "d_h2_stream_window")]
    h2_initial_stream_window_bytes: u32,
    #[serde(default = "d_h2_conn_window")]
    h2_initial_connection_window_bytes: u32,
    #[serde(default = "d_h2_ping_interval")]
    h2_keep_alive_interval_ms: u64,
    #[serde(default = "d_h2_ping_timeout")]
    h2_keep_alive_timeout_ms: u64,
    #[serde(default = "d_per_ip_window")]
    per_ip_window_ms: u64,
    #[serde(default = "d_per_ip_auth_failures")]
    per_ip_auth_failures: u32,
    #[serde(default = "d_per_ip_unauthenticated")]
    per_ip_unauthenticated_connections: u32,
    #[serde(default = "d_per_ip_table")]
    per_ip_table_max: usize,
}

fn d_max_connections() -> usize {
    15_000
}
fn d_idle_timeout() -> u64 {
    60_000
}
fn d_max_header_bytes() -> usize {
    16 * 1024
}
fn d_h2_streams() -> u32 {
    256
}
fn d_h2_stream_window() -> u32 {
    64 * 1024
}
fn d_h2_conn_window() -> u32 {
    256 * 1024
}
fn d_h2_ping_interval() -> u64 {
    30_000
}
fn d_h2_ping_timeout() -> u64 {
    10_000
}
fn d_per_ip_window() -> u64 {
    10_000
}
fn d_per_ip_auth_failures() -> u32 {
    50
}
fn d_per_ip_unauthenticated() -> u32 {
    256
}
fn d_per_ip_table() -> usize {
    65_536
}
fn d_body_timeout() -> u64 {
    10_000
}
fn d_max_trades() -> usize {
    100_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    url: String,
    app_id: String,
    app_private_key_file: String,
    alipay_public_key_file: String,
    app_auth_token: Option<String>,
    notify_url: Option<String>,
    sys_service_provider_id: Option<String>,
    seller_id: Option<String>,
    ca_file: Option<String>,
    #[serde(default = "d_connect")]
    connect_timeout_ms: u64,
    #[serde(default = "d_request")]
    request_timeout_ms: u64,
    #[serde(default = "d_pool")]
    pool_max_idle_per_host: usize,
    #[serde(default = "d_breaker_failures")]
    breaker_failures: u32,
    #[serde(default = "d_breaker_cooldown")]
    breaker_cooldown_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default = "d_poll_interval")]
    poll_interval_ms: u64,
    #[serde(default = "d_poll_count")]
    poll_count: u32,
    #[serde(default = "d_retry_initial")]
    unknown_retry_initial_ms: u64,
    #[serde(default = "d_retry_max")]
    unknown_retry_max_ms: u64,
    #[serde(default = "d_wait")]
    default_wait_secs: u64,
    #[serde(default = "d_watch_checks")]
    late_landing_checks_ms: Vec<u64>,
    #[serde(default = "d_qr_checks")]
    qr_query_after_ms: Vec<u64>,
    #[serde(default = "d_qr_timeout")]
    qr_default_timeout_secs: u64,
    #[serde(default = "d_journal_retry_initial")]
    journal_retry_initial_ms: u64,
    #[serde(default = "d_journal_retry_max")]
    journal_retry_max_ms: u64,
}

fn d_watch_checks() -> Vec<u64> {
    vec![5_000, 30_000, 120_000, 600_000]
}
fn d_qr_checks() -> Vec<u64> {
    vec![60_000, 300_000]
}
fn d_qr_timeout() -> u64 {
    7_200
}
fn d_journal_retry_initial() -> u64 {
    50
}
fn d_journal_retry_max() -> u64 {
    2_000
}

/// A schedule of offsets in ms: 1 to 16 entries, strictly increasing, each
/// at most `max_ms`.
fn schedule(field: &str, v: &[u64], max_ms: u64) -> Result<Vec<u64>, ConfigError> {
    if v.is_empty() || v.len() > 16 {
        return Err(field_err(field, "must list 1 to 16 offsets in ms"));
    }
    if v.windows(2).any(|w| w[0] >= w[1]) || v[0] == 0 {
        return Err(field_err(field, "offsets must be positive and increasing"));
    }
    if v[v.len() - 1] > max_ms {
        return Err(field_err(
            field,
            format!("offsets must be at most {max_ms} ms"),
        ));
    }
    Ok(v.to_vec())
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            poll_interval_ms: d_poll_interval(),
            poll_count: d_poll_count(),
            unknown_retry_initial_ms: d_retry_initial(),
            unknown_retry_max_ms: d_retry_max(),
            default_wait_secs: d_wait(),
            late_landing_checks_ms: d_watch_checks(),
            qr_query_after_ms: d_qr_checks(),
            qr_default_timeout_secs: d_qr_timeout(),
            journal_retry_initial_ms: d_journal_retry_initial(),
            journal_retry_max_ms: d_journal_retry_max(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(default = "d_kind")]
    kind: String,
    path: Option<String>,
    synchronous: Option<String>,
    #[serde(default = "d_batch")]
    max_batch: usize,
    max_pages: Option<u64>,
    url: Option<String>,
    pool_size: Option<usize>,
    tls: Option<bool>,
    ca_file: Option<String>,
    node_id: Option<String>,
    lease_ms: Option<u64>,
}

fn d_kind() -> String {
    "sqlite".into()
}

impl fmt::Debug for RawStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawStore")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(mask_url))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerminal {
    key_id: String,
    secret_hex: String,
    smid: Option<String>,
    store_id: Option<String>,
    terminal_id: Option<String>,
    merchant: Option<String>,
    #[serde(default = "d_rate")]
    rate_per_sec: f64,
    burst: Option<f64>,
}

impl fmt::Debug for RawTerminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawTerminal")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn d_max_body() -> usize {
    64 * 1024
}
fn d_header_timeout() -> u64 {
    5_000
}
fn d_grace() -> u64 {
    30_000
}
fn d_window() -> u64 {
    300
}
fn d_connect() -> u64 {
    3_000
}
fn d_request() -> u64 {
    15_000
}
fn d_pool() -> usize {
    256
}
fn d_breaker_failures() -> u32 {
    5
}
fn d_breaker_cooldown() -> u64 {
    10_000
}
fn d_poll_interval() -> u64 {
    5_000
}
fn d_poll_count() -> u32 {
    12
}
fn d_retry_initial() -> u64 {
    1_000
}
fn d_retry_max() -> u64 {
    60_000
}
fn d_wait() -> u64 {
    60
}
fn d_batch() -> usize {
    1024
}
fn d_rate() -> f64 {
    50.0
}

/// HTTP server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The terminal API's listeners (at least one).
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain and private key, when the terminal API speaks TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Request bodies at most, bytes (256 to 16 MiB, default 64 KiB);
    /// larger ones answer 413.
    pub max_body_bytes: usize,
    /// The header deadline: a connection must start a request (and an
    /// HTTP/1 request deliver its headers) within this after its accept
    /// (default 5 s).
    pub header_read_timeout: Duration,
    /// On SIGTERM/SIGINT, the time given to in-flight requests and flows
    /// (default 30 s).
    pub shutdown_grace: Duration,
    /// How far a request's `ts` may be from the switch's clock (1 s to 1 h,
    /// default 300 s; docs/ENGINE.md, "Authentication: a worked example").
    pub auth_window: Duration,
    /// Open connections at most, every listener together; past it a new
    /// connection is closed at once.
    pub max_connections: usize,
    /// A request body must arrive within this (else 408).
    pub body_read_timeout: Duration,
    /// Trades held in memory at most (in flight, waited on, or recently
    /// final); past it new payments answer 503 `switch_busy`.
    pub max_trades_in_memory: usize,
    /// Relays to merchants may go to loopback, private and link-local
    /// addresses (labs); refused otherwise.
    pub relay_allow_private_addresses: bool,
    /// HTTP/1 and HTTP/2 connection limits (idle time-out, header size,
    /// HTTP/2 streams, windows and pings).
    pub http: HttpLimits,
    /// Per source address limits of unauthenticated traffic.
    pub per_ip: PerIpLimits,
    /// The key of the requests' idempotency fingerprints (HMAC-SHA256): a
    /// pay request holds an auth code, and a bare hash of it in the journal
    /// could be searched back.
    pub fingerprint_key: FingerprintKey,
}

/// Connection limits of the terminal listeners (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// A connection with no request in flight for this long is closed
    /// (HTTP/2: GOAWAY first). HTTP/1 is also bounded by the header deadline
    /// while it waits for its next request.
    pub idle_timeout: Duration,
    /// Request headers at most, bytes (HTTP/1: the request line and
    /// headers, 431 past it; HTTP/2: the header list).
    pub max_header_bytes: usize,
    /// HTTP/2 streams open at once per connection (1 to 10000, default 256).
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 initial flow-control window of a stream, bytes (default 64 KiB).
    pub h2_initial_stream_window: u32,
    /// HTTP/2 initial flow-control window of a connection, bytes (at least
    /// 65535, default 256 KiB).
    pub h2_initial_connection_window: u32,
    /// HTTP/2 keep-alive pings: the interval (None: off) and how long an
    /// answer may take before the connection is closed.
    pub h2_keep_alive_interval: Option<Duration>,
    /// How long a keep-alive ping may go unanswered (default 10 s).
    pub h2_keep_alive_timeout: Duration,
}

/// Per source address limits (`server.per_ip_*`): only unauthenticated
/// traffic counts, so terminals behind one NAT are never locked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerIpLimits {
    /// The window of the failure count.
    pub window: Duration,
    /// Requests failing authentication an address may send per window;
    /// past it its requests that do not authenticate answer 429.
    pub auth_failures: u32,
    /// Open connections of one address that have not yet carried an
    /// authenticated request; a new connection past it is closed at accept.
    pub unauthenticated_connections: u32,
    /// Addresses tracked at most.
    pub table_max: usize,
}

/// The fingerprint key (`server.fingerprint_key_file`, else derived from the
/// app private key); never printed. The field is the 32-byte HMAC-SHA256 key.
#[derive(Clone, PartialEq, Eq)]
pub struct FingerprintKey(pub [u8; 32]);

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

impl FingerprintKey {
    /// The key derived from the app private key's text: the same on every
    /// node that signs for the app, stable while the key is.
    pub fn derived(private_key_text: &str) -> FingerprintKey {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"payswitch fingerprint key v1\0");
        h.update(private_key_text.trim().as_bytes());
        FingerprintKey(h.finalize().into())
    }
}

/// The gateway and the app the switch signs for.
#[derive(Clone)]
pub struct GatewayConfig {
    /// The gateway endpoint (`…/gateway.do`); https unless
    /// `allow_insecure_gateway`.
    pub url: String,
    /// The Alipay app id (1 to 32 digits) every request is signed for.
    pub app_id: String,
    /// The app private key, prepared for RSA2 signing.
    pub signer: Arc<Signer>,
    /// The Alipay public key, prepared for verifying answers and
    /// notifications.
    pub verifier: Arc<Verifier>,
    /// Sent as `app_auth_token` on every request when an ISV calls on a
    /// merchant's behalf (1 to 128 characters).
    pub app_auth_token: Option<String>,
    /// Where Alipay posts notifications (this switch's `/notify/alipay`),
    /// sent as `notify_url`; None: none asked for.
    pub notify_url: Option<String>,
    /// The ISV's PID, sent as `extend_params.sys_service_provider_id`.
    pub sys_service_provider_id: Option<String>,
    /// The seller_id (PID) notifications must carry; None: not checked.
    pub seller_id: Option<String>,
    /// Extra PEM CA roots for the gateway's TLS; None: the system roots.
    pub ca_file: Option<PathBuf>,
    /// Connecting to the gateway at most (default 3 s).
    pub connect_timeout: Duration,
    /// A request without an answer in this time has an unknown outcome
    /// (default 15 s).
    pub request_timeout: Duration,
    /// Keep-alive connections kept to the gateway (default 256).
    pub pool_max_idle_per_host: usize,
    /// Consecutive failures (no answer, 20000) that open the circuit
    /// breaker: new payments then answer 503 for `breaker_cooldown`
    /// (at least 1, default 5).
    pub breaker_failures: u32,
    /// How long the open breaker refuses new payments before it lets one
    /// through (default 10 s).
    pub breaker_cooldown: Duration,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("url", &self.url)
            .field("app_id", &self.app_id)
            .field("notify_url", &self.notify_url)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// The flow policies (docs/PROTOCOL.md §9.7).
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// Interval between queries of a 10003 trade (5 s).
    pub poll_interval: Duration,
    /// Number of queries before the cancel (12).
    pub poll_count: u32,
    /// First back-off of the background resolution of UNKNOWN trades.
    pub unknown_retry_initial: Duration,
    /// Largest back-off of the background resolution.
    pub unknown_retry_max: Duration,
    /// `wait` of POST /v1/pay when the terminal gives none (0 to 60 s,
    /// default 60; docs/ENGINE.md, "The terminal API").
    pub default_wait: Duration,
    /// When the late-landing watch queries, counted from the cancel that
    /// did not find the trade (5 s, 30 s, 2 min, 10 min); the last offset
    /// is the watch window (at most 23 h: well inside the 24 h cancel limit).
    pub late_landing_checks_ms: Vec<u64>,
    /// When a WAIT_BUYER_PAY trade without a notification is queried,
    /// counted from its creation (1 min, 5 min; then at its expiry).
    pub qr_query_after_ms: Vec<u64>,
    /// The expiry of a QR trade whose precreate named no timeout_express (2 h).
    pub qr_default_timeout: Duration,
    /// First back-off of a journal commit that failed (retried until it is
    /// durable; default 50 ms).
    pub journal_retry_initial: Duration,
    /// Largest back-off of a failed journal commit (default 2 s).
    pub journal_retry_max: Duration,
}

/// SQLite journal synchronous mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync on every commit (the default; a commit survives power loss).
    Full,
    /// WAL `NORMAL`: survives a process crash, not a power loss.
    Normal,
    /// No fsync at all (benchmarks only).
    Off,
}

/// Which journal `[store] kind` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded SQLite journal (one node; the default).
    Sqlite,
    /// PostgreSQL, shared by several switch nodes.
    Postgres,
}

/// A PostgreSQL connection URL. Its password never appears in `Debug`,
/// `Display` or an error: [`PgUrl::masked`] shows it as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl PgUrl {
    /// Wraps a URL (no validation; [`Config`] validates `store.url`).
    pub fn new(url: impl Into<String>) -> PgUrl {
        PgUrl(url.into())
    }
    /// The URL itself, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with its password replaced by `***`.
    pub fn masked(&self) -> String {
        mask_url(&self.0)
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Replaces the password of every `postgres://user:password@` (or
/// `postgresql://`) URL in `text` with `***`, and the value of a
/// `password=` query parameter too.
pub fn mask_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace; the
        // userinfo at its last '@'.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let user_info = &authority[..at];
                match user_info.find(':') {
                    Some(c) => {
                        out.push_str(&user_info[..c]);
                        out.push_str(":***");
                    }
                    None => out.push_str(user_info),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    // password=... as a query parameter.
    let mut masked = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("password=") {
        let (head, tail) = rest.split_at(i + "password=".len());
        masked.push_str(head);
        masked.push_str("***");
        let end = tail
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    masked.push_str(rest);
    masked
}

/// `[store] kind = "postgres"`: the PostgreSQL journal.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/db?...` (password masked in Debug).
    pub url: PgUrl,
    /// Connections of the pool (the writer holds one; reads share the others).
    pub pool_size: usize,
    /// TLS to the database (rustls); `sslmode` of the URL applies otherwise.
    pub tls: bool,
    /// Extra PEM CA roots for that TLS (else the system roots).
    pub ca_file: Option<PathBuf>,
    /// This node's name among the nodes sharing the database (`[store]
    /// node_id`; default: the host name). Unique per running node: the
    /// leases it holds carry it, and at start a node takes back at once the
    /// work its own name held before a restart.
    pub node_id: String,
    /// How long a node's claim on background work lasts without renewal
    /// (`[store] lease_ms`, default 15000): a node that dies loses its
    /// work to the others after this.
    pub lease_ms: u64,
}

/// The default `[store] node_id`: the host name (`node` when unknown).
fn default_node_id() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let h: String = h
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    if h.is_empty() {
        "node".into()
    } else {
        h
    }
}

/// The journal (`[store]`).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Which journal: SQLite (the default) or PostgreSQL.
    pub kind: StoreKind,
    /// The SQLite journal file (empty for PostgreSQL).
    pub path: PathBuf,
    /// `[store] kind = "postgres"`: the database; None for SQLite.
    pub postgres: Option<PgConfig>,
    /// SQLite's fsync policy ([`SyncMode::Full`] for PostgreSQL, which
    /// always commits with `synchronous_commit = on`).
    pub synchronous: SyncMode,
    /// Commits grouped in one transaction at most (1 to 100000, default
    /// 1024; both kinds).
    pub max_batch: usize,
    /// A cap on the journal's size in pages (SQLite `max_page_count`); past
    /// it commits fail with "database or disk is full". None: no cap.
    pub max_pages: Option<u64>,
}

/// A registered terminal. Its secret never appears in `Debug`.
#[derive(Clone)]
pub struct TerminalConfig {
    /// The key id the terminal signs with (`key=`; 1 to 64 letters, digits,
    /// `_`, `-`, `.`), unique.
    pub key_id: String,
    /// The terminal's 32-byte HMAC secret.
    pub secret: [u8; 32],
    /// The sub-merchant its trades are for, sent as
    /// `sub_merchant.merchant_id`; never taken from a request.
    pub smid: Option<String>,
    /// Sent to the gateway as `store_id`.
    pub store_id: Option<String>,
    /// Sent to the gateway as `terminal_id`.
    pub terminal_id: Option<String>,
    /// The terminal's token bucket refills at this many requests a second
    /// (default 50); over it requests answer 429.
    pub rate_per_sec: f64,
    /// The token bucket's size, requests (default twice the rate, at least 2).
    pub burst: f64,
}

impl fmt::Debug for TerminalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalConfig")
            .field("key_id", &self.key_id)
            .field("smid", &self.smid)
            .field("store_id", &self.store_id)
            .field("terminal_id", &self.terminal_id)
            .field("rate_per_sec", &self.rate_per_sec)
            .finish_non_exhaustive()
    }
}

/// A merchant declared in the configuration (`[[merchants]]`): the lab
/// merchant its `[[terminals]]` belong to (in memory only).
#[derive(Debug, Clone)]
pub struct MerchantConfig {
    /// The merchant's id (1 to 64 letters, digits, `_`, `-`), unique; what a
    /// terminal's `merchant` names.
    pub external_id: String,
    /// Its name (default the external_id).
    pub name: String,
    /// Its sub-merchant id at the gateway, unique among merchants.
    pub smid: Option<String>,
    /// Where its QR results are relayed (http(s); private addresses only
    /// with `server.relay_allow_private_addresses`).
    pub relay_url: Option<String>,
    /// The gateway fee rate in basis points; None: `[recon]`'s default.
    pub gateway_fee_bps: Option<u32>,
    /// The merchant fee rate in basis points; None: `[recon]`'s default.
    pub merchant_fee_bps: Option<u32>,
}

/// The admin listener (`[admin]`, docs/API.md §1.4).
#[derive(Clone)]
pub struct AdminConfig {
    /// The admin API's own address (default `127.0.0.1:8081`; plain HTTP).
    pub listen: SocketAddr,
    /// sha256 of every accepted bearer token.
    pub token_sha256: Vec<[u8; 32]>,
    /// The registry key sealing terminal secrets (`secret_key_file`).
    pub secret_key: Option<[u8; 32]>,
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("tokens", &self.token_sha256.len())
            .field("secret_key", &self.secret_key.is_some())
            .finish()
    }
}

/// A complete, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`: the terminal listeners and their limits.
    pub server: ServerConfig,
    /// `[gateway]`: the gateway and the app, keys prepared.
    pub gateway: GatewayConfig,
    /// `[policy]`: polling, back-offs and watches of the flows.
    pub policy: PolicyConfig,
    /// `[store]`: the journal.
    pub store: StoreConfig,
    /// `[[terminals]]`: terminals registered in the file (those of the
    /// admin API live in the journal).
    pub terminals: Vec<TerminalConfig>,
    /// `[[merchants]]`: lab merchants of the configuration's terminals.
    pub merchants: Vec<MerchantConfig>,
    /// key_id -> external_id of the terminals that name a `merchant`
    /// (the others belong to [`crate::merchants::LAB_MERCHANT`]).
    pub terminal_merchant: std::collections::HashMap<String, String>,
    /// The admin listener; None: no admin API.
    pub admin: Option<AdminConfig>,
    /// `[heartbeat]`: `monitor.heartbeat.syn`.
    pub heartbeat: HeartbeatConfig,
    /// `[recon]`: daily reconciliation.
    pub recon: ReconConfig,
    /// `[settlement]`: payout dates and where settlement files go.
    pub settlement: SettlementConfig,
}

/// Whether a file is readable by group or others (unix permissions).
fn too_open(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    Ok(mode & 0o077 != 0)
}

fn secs(field: &str, v: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
    if v < min || v > max {
        return Err(field_err(field, format!("must be between {min} and {max}")));
    }
    Ok(Duration::from_secs(v))
}

fn ms(field: &str, v: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
    if v < min || v > max {
        return Err(field_err(field, format!("must be between {min} and {max}")));
    }
    Ok(Duration::from_millis(v))
}

/// `v` when inside `min..=max`, else an error naming `field`.
fn within<T: PartialOrd + fmt::Display>(
    field: &str,
    v: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if v < min || v > max {
        return Err(field_err(field, format!("must be between {min} and {max}")));
    }
    Ok(v)
}

fn http_limits(s: &RawServer) -> Result<HttpLimits, ConfigError> {
    Ok(HttpLimits {
        idle_timeout: ms("server.idle_timeout_ms", s.idle_timeout_ms, 100, 3_600_000)?,
        // HTTP/1's header limit is hyper's read buffer, at least 8 KiB.
        max_header_bytes: within(
            "server.max_header_bytes",
            s.max_header_bytes,
            8192,
            1024 * 1024,
        )?,
        h2_max_concurrent_streams: within(
            "server.h2_max_concurrent_streams",
            s.h2_max_concurrent_streams,
            1,
            10_000,
        )?,
        h2_initial_stream_window: within(
            "server.h2_initial_stream_window_bytes",
            s.h2_initial_stream_window_bytes,
            1024,
            16 * 1024 * 1024,
        )?,
        // The connection window starts at 65535 (RFC 9113) and only grows.
        h2_initial_connection_window: within(
            "server.h2_initial_connection_window_bytes",
            s.h2_initial_connection_window_bytes,
            65_535,
            64 * 1024 * 1024,
        )?,
        h2_keep_alive_interval: match s.h2_keep_alive_interval_ms {
            0 => None,
            v => Some(ms("server.h2_keep_alive_interval_ms", v, 1000, 3_600_000)?),
        },
        h2_keep_alive_timeout: ms(
            "server.h2_keep_alive_timeout_ms",
            s.h2_keep_alive_timeout_ms,
            100,
            600_000,
        )?,
    })
}

fn per_ip_limits(s: &RawServer) -> Result<PerIpLimits, ConfigError> {
    Ok(PerIpLimits {
        window: ms(
            "server.per_ip_window_ms",
            s.per_ip_window_ms,
            1000,
            3_600_000,
        )?,
        auth_failures: within(
            "server.per_ip_auth_failures",
            s.per_ip_auth_failures,
            1,
            1_000_000,
        )?,
        unauthenticated_connections: within(
            "server.per_ip_unauthenticated_connections",
            s.per_ip_unauthenticated_connections,
            1,
            1_000_000,
        )?,
        table_max: within(
            "server.per_ip_table_max",
            s.per_ip_table_max,
            1024,
            10_000_000,
        )?,
    })
}

impl Config {
    /// Loads and validates a config file; relative paths inside it are taken
    /// relative to the file's directory. A file that carries terminal secrets
    /// must not be readable by group or others (unless the config allows it).
    /// Reads the key files it names.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read or its permissions
    /// checked; [`ConfigError::Toml`] when it is not valid TOML or has an
    /// unknown field; [`ConfigError::Field`] for a value out of range, a key
    /// or file that cannot be read or parsed, a key file (or this file, when
    /// it carries terminal secrets) readable by group or others.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, false)
    }

    /// As [`Config::load`]; `allow_insecure` overrides the permission checks
    /// (the `--allow-insecure-key-permissions` flag).
    ///
    /// # Errors
    /// As [`Config::load`], without the permission refusals when
    /// `allow_insecure`.
    pub fn load_with(path: &Path, allow_insecure: bool) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            source: e,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let cfg = Self::parse(&text, base, allow_insecure)?;
        let allow = allow_insecure || Self::allows_insecure(&text);
        if !cfg.terminals.is_empty() && !allow {
            match too_open(path) {
                Ok(true) => {
                    return Err(field_err(
                        "terminals",
                        format!(
                            "the config file {} carries terminal secrets and is readable by group or others; chmod 600 it or set allow_insecure_key_permissions",
                            path.display()
                        ),
                    ))
                }
                Ok(false) => {}
                Err(e) => {
                    return Err(ConfigError::Read {
                        path: path.to_owned(),
                        source: e,
                    })
                }
            }
        }
        Ok(cfg)
    }

    fn allows_insecure(text: &str) -> bool {
        toml::from_str::<toml::Value>(text)
            .ok()
            .and_then(|v| v.get("allow_insecure_key_permissions")?.as_bool())
            .unwrap_or(false)
    }

    /// Parses and validates TOML text; relative paths are resolved against
    /// `base_dir`. Reads the key files it names; key file permissions are
    /// checked unless the text sets `allow_insecure_key_permissions`.
    ///
    /// # Errors
    /// [`ConfigError::Toml`] when the text is not valid TOML or has an
    /// unknown field; [`ConfigError::Field`] for any value refused (see
    /// [`Config::load`]).
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        Self::parse(text, base_dir, false)
    }

    fn parse(text: &str, base: &Path, allow_insecure: bool) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::Toml(mask_url(&e.to_string())))?;
        let allow = allow_insecure || raw.allow_insecure_key_permissions;
        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };

        // server
        if raw.server.listen.is_empty() {
            return Err(field_err("server.listen", "needs at least one address"));
        }
        let mut listen = Vec::new();
        for (i, a) in raw.server.listen.iter().enumerate() {
            listen.push(a.parse::<SocketAddr>().map_err(|_| {
                field_err(
                    format!("server.listen[{i}]"),
                    "is not an address like 127.0.0.1:8080",
                )
            })?);
        }
        let tls = match (&raw.server.tls_cert_file, &raw.server.tls_key_file) {
            (None, None) => None,
            (Some(c), Some(k)) => {
                let (c, k) = (resolve(c), resolve(k));
                if !c.is_file() {
                    return Err(field_err("server.tls_cert_file", "file not found"));
                }
                if !k.is_file() {
                    return Err(field_err("server.tls_key_file", "file not found"));
                }
                check_key_perms("server.tls_key_file", &k, allow)?;
                Some((c, k))
            }
            (Some(_), None) => {
                return Err(field_err(
                    "server.tls_key_file",
                    "is required when tls_cert_file is set",
                ))
            }
            (None, Some(_)) => {
                return Err(field_err(
                    "server.tls_cert_file",
                    "is required when tls_key_file is set",
                ))
            }
        };
        if raw.server.max_body_bytes < 256 || raw.server.max_body_bytes > 16 * 1024 * 1024 {
            return Err(field_err(
                "server.max_body_bytes",
                "must be between 256 and 16777216",
            ));
        }
        let fingerprint_key_file = raw.server.fingerprint_key_file.clone();
        let mut server = ServerConfig {
            listen,
            tls,
            max_body_bytes: raw.server.max_body_bytes,
            header_read_timeout: ms(
                "server.header_read_timeout_ms",
                raw.server.header_read_timeout_ms,
                100,
                600_000,
            )?,
            shutdown_grace: ms(
                "server.shutdown_grace_ms",
                raw.server.shutdown_grace_ms,
                0,
                3_600_000,
            )?,
            auth_window: Duration::from_secs(raw.server.auth_window_secs.clamp(1, 3600)),
            fingerprint_key: FingerprintKey([0; 32]),
            max_connections: match raw.server.max_connections {
                v @ 16..=1_000_000 => v,
                _ => {
                    return Err(field_err(
                        "server.max_connections",
                        "must be between 16 and 1000000",
                    ))
                }
            },
            body_read_timeout: ms(
                "server.body_read_timeout_ms",
                raw.server.body_read_timeout_ms,
                100,
                600_000,
            )?,
            relay_allow_private_addresses: raw.server.relay_allow_private_addresses,
            http: http_limits(&raw.server)?,
            per_ip: per_ip_limits(&raw.server)?,
            max_trades_in_memory: match raw.server.max_trades_in_memory {
                v @ 100..=10_000_000 => v,
                _ => {
                    return Err(field_err(
                        "server.max_trades_in_memory",
                        "must be between 100 and 10000000",
                    ))
                }
            },
        };

        // gateway
        let g = raw.gateway;
        if g.url.starts_with("http://") && !raw.allow_insecure_gateway {
            return Err(field_err(
                "gateway.url",
                "must be https:// (a plain-http gateway, such as alipay-sim in a lab, needs allow_insecure_gateway = true at the top of the file)",
            ));
        }
        if !(g.url.starts_with("https://") || g.url.starts_with("http://")) {
            return Err(field_err(
                "gateway.url",
                "must start with https:// or http://",
            ));
        }
        if g.url.parse::<http::Uri>().is_err() {
            return Err(field_err("gateway.url", "is not a valid URL"));
        }
        if g.app_id.is_empty()
            || g.app_id.len() > 32
            || !g.app_id.bytes().all(|c| c.is_ascii_digit())
        {
            return Err(field_err("gateway.app_id", "must be 1 to 32 digits"));
        }
        let key_path = resolve(&g.app_private_key_file);
        let key_text = std::fs::read_to_string(&key_path).map_err(|e| {
            field_err(
                "gateway.app_private_key_file",
                format!("cannot read {}: {e}", key_path.display()),
            )
        })?;
        check_key_perms("gateway.app_private_key_file", &key_path, allow)?;
        let signer = Signer::from_text(&key_text)
            .map_err(|e| field_err("gateway.app_private_key_file", e.to_string()))?;
        // The crypto library's one-time set-up now, not in the first pay.
        signer
            .warm_up()
            .map_err(|e| field_err("gateway.app_private_key_file", e.to_string()))?;
        server.fingerprint_key = match &fingerprint_key_file {
            None => FingerprintKey::derived(&key_text),
            Some(f) => {
                let path = resolve(f);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    field_err(
                        "server.fingerprint_key_file",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                check_key_perms("server.fingerprint_key_file", &path, allow)?;
                FingerprintKey(hex32("server.fingerprint_key_file", &text)?)
            }
        };
        let pub_path = resolve(&g.alipay_public_key_file);
        let pub_text = std::fs::read_to_string(&pub_path).map_err(|e| {
            field_err(
                "gateway.alipay_public_key_file",
                format!("cannot read {}: {e}", pub_path.display()),
            )
        })?;
        let verifier = Verifier::from_text(&pub_text)
            .map_err(|e| field_err("gateway.alipay_public_key_file", e.to_string()))?;
        if let Some(u) = &g.notify_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(field_err(
                    "gateway.notify_url",
                    "must start with https:// or http://",
                ));
            }
        }
        if let Some(t) = &g.app_auth_token {
            if t.is_empty() || t.len() > 128 {
                return Err(field_err(
                    "gateway.app_auth_token",
                    "must be 1 to 128 characters",
                ));
            }
        }
        let ca_file = g.ca_file.as_deref().map(resolve);
        if let Some(ca) = &ca_file {
            if !ca.is_file() {
                return Err(field_err("gateway.ca_file", "file not found"));
            }
        }
        if g.breaker_failures == 0 {
            return Err(field_err("gateway.breaker_failures", "must be at least 1"));
        }
        let gateway = GatewayConfig {
            url: g.url,
            app_id: g.app_id,
            signer: Arc::new(signer),
            verifier: Arc::new(verifier),
            app_auth_token: g.app_auth_token,
            notify_url: g.notify_url,
            sys_service_provider_id: g.sys_service_provider_id,
            seller_id: g.seller_id,
            ca_file,
            connect_timeout: ms(
                "gateway.connect_timeout_ms",
                g.connect_timeout_ms,
                10,
                120_000,
            )?,
            request_timeout: ms(
                "gateway.request_timeout_ms",
                g.request_timeout_ms,
                10,
                300_000,
            )?,
            pool_max_idle_per_host: g.pool_max_idle_per_host,
            breaker_failures: g.breaker_failures,
            breaker_cooldown: ms(
                "gateway.breaker_cooldown_ms",
                g.breaker_cooldown_ms,
                1,
                3_600_000,
            )?,
        };

        // policy
        let p = raw.policy;
        if p.poll_count == 0 || p.poll_count > 1000 {
            return Err(field_err("policy.poll_count", "must be between 1 and 1000"));
        }
        if p.default_wait_secs > 60 {
            return Err(field_err(
                "policy.default_wait_secs",
                "must be between 0 and 60",
            ));
        }
        let policy = PolicyConfig {
            poll_interval: ms("policy.poll_interval_ms", p.poll_interval_ms, 1, 600_000)?,
            poll_count: p.poll_count,
            unknown_retry_initial: ms(
                "policy.unknown_retry_initial_ms",
                p.unknown_retry_initial_ms,
                1,
                3_600_000,
            )?,
            unknown_retry_max: ms(
                "policy.unknown_retry_max_ms",
                p.unknown_retry_max_ms,
                1,
                86_400_000,
            )?,
            default_wait: Duration::from_secs(p.default_wait_secs),
            late_landing_checks_ms: schedule(
                "policy.late_landing_checks_ms",
                &p.late_landing_checks_ms,
                23 * 3_600_000,
            )?,
            qr_query_after_ms: schedule(
                "policy.qr_query_after_ms",
                &p.qr_query_after_ms,
                86_400_000,
            )?,
            qr_default_timeout: secs(
                "policy.qr_default_timeout_secs",
                p.qr_default_timeout_secs,
                1,
                15 * 86_400,
            )?,
            journal_retry_initial: ms(
                "policy.journal_retry_initial_ms",
                p.journal_retry_initial_ms,
                1,
                60_000,
            )?,
            journal_retry_max: ms(
                "policy.journal_retry_max_ms",
                p.journal_retry_max_ms,
                1,
                600_000,
            )?,
        };

        // store
        let rs = raw.store;
        let kind = match rs.kind.as_str() {
            "sqlite" => StoreKind::Sqlite,
            "postgres" => StoreKind::Postgres,
            _ => return Err(field_err("store.kind", "must be sqlite or postgres")),
        };
        let synchronous = match rs.synchronous.as_deref() {
            None | Some("full") => SyncMode::Full,
            Some(_) if kind == StoreKind::Postgres => {
                return Err(field_err(
                    "store.synchronous",
                    "applies to sqlite only (PostgreSQL commits with synchronous_commit = on)",
                ))
            }
            Some("normal") => SyncMode::Normal,
            Some("off") => SyncMode::Off,
            Some(_) => {
                return Err(field_err(
                    "store.synchronous",
                    "must be full, normal or off",
                ))
            }
        };
        if rs.max_batch == 0 || rs.max_batch > 100_000 {
            return Err(field_err("store.max_batch", "must be between 1 and 100000"));
        }
        let max_pages = match rs.max_pages {
            Some(0) => return Err(field_err("store.max_pages", "must be at least 1")),
            Some(_) if kind == StoreKind::Postgres => {
                return Err(field_err("store.max_pages", "applies to sqlite only"))
            }
            n => n,
        };
        let (path, postgres) = match kind {
            StoreKind::Sqlite => {
                for (field, given) in [
                    ("store.url", rs.url.is_some()),
                    ("store.pool_size", rs.pool_size.is_some()),
                    ("store.tls", rs.tls.is_some()),
                    ("store.ca_file", rs.ca_file.is_some()),
                    ("store.node_id", rs.node_id.is_some()),
                    ("store.lease_ms", rs.lease_ms.is_some()),
                ] {
                    if given {
                        return Err(field_err(field, "applies to kind = \"postgres\" only"));
                    }
                }
                let path = match rs.path.as_deref() {
                    None => return Err(field_err("store.path", "is required for sqlite")),
                    Some("") => return Err(field_err("store.path", "must not be empty")),
                    Some(p) => resolve(p),
                };
                (path, None)
            }
            StoreKind::Postgres => {
                if rs.path.is_some() {
                    return Err(field_err("store.path", "applies to sqlite only"));
                }
                let url = match rs.url {
                    None => return Err(field_err("store.url", "is required for postgres")),
                    Some(u) => PgUrl::new(u),
                };
                let u = url.expose();
                if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                    return Err(field_err(
                        "store.url",
                        "must be a URL like postgres://user:password@host:5432/payswitch",
                    ));
                }
                if let Err(e) = u.parse::<tokio_postgres::Config>() {
                    return Err(field_err(
                        "store.url",
                        format!(
                            "is not a valid PostgreSQL URL ({}): {}",
                            url.masked(),
                            mask_url(&e.to_string())
                        ),
                    ));
                }
                let pool_size = rs.pool_size.unwrap_or(16);
                if !(2..=1000).contains(&pool_size) {
                    return Err(field_err("store.pool_size", "must be between 2 and 1000"));
                }
                let node_id = match rs.node_id {
                    None => default_node_id(),
                    Some(n) if is_code(&n, 64) => n,
                    Some(_) => {
                        return Err(field_err(
                            "store.node_id",
                            "must be 1 to 64 letters, digits, '_' or '-'",
                        ))
                    }
                };
                let lease_ms = rs.lease_ms.unwrap_or(15_000);
                if !(1_000..=600_000).contains(&lease_ms) {
                    return Err(field_err(
                        "store.lease_ms",
                        "must be between 1000 and 600000 (milliseconds)",
                    ));
                }
                let tls = rs.tls.unwrap_or(false);
                let ca_file = match rs.ca_file {
                    Some(_) if !tls => {
                        return Err(field_err("store.ca_file", "needs store.tls = true"))
                    }
                    Some(f) => {
                        let p = resolve(&f);
                        if !p.is_file() {
                            return Err(field_err(
                                "store.ca_file",
                                format!("{} is not a readable file", p.display()),
                            ));
                        }
                        Some(p)
                    }
                    None => None,
                };
                (
                    PathBuf::new(),
                    Some(PgConfig {
                        url,
                        pool_size,
                        tls,
                        ca_file,
                        node_id,
                        lease_ms,
                    }),
                )
            }
        };
        let store = StoreConfig {
            kind,
            path,
            postgres,
            synchronous,
            max_batch: rs.max_batch,
            max_pages,
        };

        // merchants
        let mut merchants: Vec<MerchantConfig> = Vec::new();
        for (i, m) in raw.merchants.into_iter().enumerate() {
            let f = |name: &str| format!("merchants[{i}].{name}");
            if !is_code(&m.external_id, 64) {
                return Err(field_err(
                    f("external_id"),
                    "must be 1 to 64 letters, digits, '_' or '-'",
                ));
            }
            if merchants.iter().any(|o| o.external_id == m.external_id) {
                return Err(field_err(f("external_id"), "is declared twice"));
            }
            if let Some(s) = &m.smid {
                if !is_smid(s) {
                    return Err(field_err(f("smid"), "must be 1 to 32 letters or digits"));
                }
                if merchants.iter().any(|o| o.smid.as_ref() == Some(s)) {
                    return Err(field_err(
                        f("smid"),
                        "is already the smid of another merchant (one smid per merchant)",
                    ));
                }
            }
            if let Some(u) = &m.relay_url {
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    return Err(field_err(
                        f("relay_url"),
                        "must start with https:// or http://",
                    ));
                }
                if let Some(why) = crate::flow::relay_destination_refused(
                    u,
                    raw.server.relay_allow_private_addresses,
                ) {
                    return Err(field_err(f("relay_url"), why));
                }
            }
            for (name, v) in [
                ("gateway_fee_bps", m.gateway_fee_bps),
                ("merchant_fee_bps", m.merchant_fee_bps),
            ] {
                if v.is_some_and(|v| v > crate::fees::MAX_BPS) {
                    return Err(field_err(
                        f(name),
                        format!("must be at most {}", crate::fees::MAX_BPS),
                    ));
                }
            }
            merchants.push(MerchantConfig {
                name: m.name.unwrap_or_else(|| m.external_id.clone()),
                external_id: m.external_id,
                smid: m.smid,
                relay_url: m.relay_url,
                gateway_fee_bps: m.gateway_fee_bps,
                merchant_fee_bps: m.merchant_fee_bps,
            });
        }

        // terminals
        let mut terminal_merchant = std::collections::HashMap::new();
        let mut terminals: Vec<TerminalConfig> = Vec::new();
        for (i, t) in raw.terminals.into_iter().enumerate() {
            let f = |name: &str| format!("terminals[{i}].{name}");
            if t.key_id.is_empty()
                || t.key_id.len() > 64
                || !t
                    .key_id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.')
            {
                return Err(field_err(
                    f("key_id"),
                    "must be 1 to 64 letters, digits, '_', '-' or '.'",
                ));
            }
            if terminals.iter().any(|o| o.key_id == t.key_id) {
                return Err(field_err(f("key_id"), "is registered twice"));
            }
            let bytes = hex::decode(t.secret_hex.trim())
                .map_err(|_| field_err(f("secret_hex"), "must be hexadecimal"))?;
            let secret: [u8; 32] = bytes.try_into().map_err(|_| {
                field_err(f("secret_hex"), "must be exactly 32 bytes (64 hex digits)")
            })?;
            if let Some(s) = &t.store_id {
                StoreId::parse(s).map_err(|e| field_err(f("store_id"), e.to_string()))?;
            }
            if let Some(s) = &t.terminal_id {
                TerminalId::parse(s).map_err(|e| field_err(f("terminal_id"), e.to_string()))?;
            }
            if let Some(s) = &t.smid {
                if !is_smid(s) {
                    return Err(field_err(f("smid"), "must be 1 to 32 letters or digits"));
                }
            }
            if let Some(ext) = &t.merchant {
                let Some(m) = merchants.iter().find(|m| &m.external_id == ext) else {
                    return Err(field_err(
                        f("merchant"),
                        "names no [[merchants]] entry (external_id)",
                    ));
                };
                if t.smid.is_some() && m.smid.is_some() && t.smid != m.smid {
                    return Err(field_err(
                        f("smid"),
                        "differs from the smid of its merchant (leave it out)",
                    ));
                }
                terminal_merchant.insert(t.key_id.clone(), ext.clone());
            }
            if !(t.rate_per_sec > 0.0 && t.rate_per_sec <= 1_000_000.0) {
                return Err(field_err(
                    f("rate_per_sec"),
                    "must be above 0 and at most 1000000",
                ));
            }
            let burst = t.burst.unwrap_or(t.rate_per_sec.max(1.0) * 2.0);
            if !(1.0..=10_000_000.0).contains(&burst) {
                return Err(field_err(f("burst"), "must be between 1 and 10000000"));
            }
            terminals.push(TerminalConfig {
                key_id: t.key_id,
                secret,
                smid: t.smid,
                store_id: t.store_id,
                terminal_id: t.terminal_id,
                rate_per_sec: t.rate_per_sec,
                burst,
            });
        }

        let admin = match raw.admin {
            None => None,
            Some(a) => Some(parse_admin(a, &resolve, allow)?),
        };

        let h = raw.heartbeat;
        let heartbeat = HeartbeatConfig {
            enabled: h.enabled,
            interval: secs("heartbeat.interval_secs", h.interval_secs, 1, 1800)?,
            url: match h.url {
                Some(u)
                    if !(u.starts_with("https://") || u.starts_with("http://"))
                        || u.parse::<http::Uri>().is_err() =>
                {
                    return Err(field_err("heartbeat.url", "must be an http(s) URL"))
                }
                Some(u) if u.starts_with("http://") && !raw.allow_insecure_gateway => {
                    return Err(field_err(
                        "heartbeat.url",
                        "must be https:// (plain http needs allow_insecure_gateway = true)",
                    ))
                }
                u => u,
            },
            network_type: if h.network_type.is_empty() || h.network_type.len() > 16 {
                return Err(field_err(
                    "heartbeat.network_type",
                    "must be 1 to 16 characters",
                ));
            } else {
                h.network_type
            },
        };

        // Reports and settlement files: beside the SQLite journal, or beside
        // the configuration file for PostgreSQL.
        let store_dir = match store.kind {
            StoreKind::Sqlite => store
                .path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            StoreKind::Postgres => base.to_path_buf(),
        };
        let r = raw.recon;
        let bps = |field: &str, v: Option<u32>, d: u32| -> Result<u32, ConfigError> {
            let v = v.unwrap_or(d);
            if v > crate::fees::MAX_BPS {
                return Err(field_err(
                    field,
                    format!("must be at most {}", crate::fees::MAX_BPS),
                ));
            }
            Ok(v)
        };
        let default_gateway_fee_bps = bps(
            "recon.default_gateway_fee_bps",
            r.default_gateway_fee_bps,
            60,
        )?;
        let recon = ReconConfig {
            at: match r.at {
                None => None,
                Some(a) => Some(parse_hh_mm(&a).ok_or_else(|| {
                    field_err(
                        "recon.at",
                        "must be a time of day HH:MM (gateway time), e.g. \"09:30\"",
                    )
                })?),
            },
            out_dir: r
                .out_dir
                .map_or_else(|| store_dir.join("recon"), |d| resolve(&d)),
            default_gateway_fee_bps,
            default_merchant_fee_bps: bps(
                "recon.default_merchant_fee_bps",
                r.default_merchant_fee_bps,
                default_gateway_fee_bps,
            )?,
            download_max_bytes: match r.download_max_mib.unwrap_or(1024) {
                v @ 1..=65_536 => v << 20,
                _ => {
                    return Err(field_err(
                        "recon.download_max_mib",
                        "must be between 1 and 65536",
                    ))
                }
            },
        };
        let st = raw.settlement;
        let days = |field: &str, v: Vec<String>| -> Result<Vec<String>, ConfigError> {
            for (i, d) in v.iter().enumerate() {
                if time::Date::parse(d, DAY_FORMAT).is_err() {
                    return Err(field_err(
                        format!("{field}[{i}]"),
                        "must be a date yyyy-MM-dd",
                    ));
                }
            }
            Ok(v)
        };
        let settlement = SettlementConfig {
            acquirer_bank: match st.acquirer_bank {
                Some(b) if b.trim().is_empty() => {
                    return Err(field_err("settlement.acquirer_bank", "must not be empty"))
                }
                b => b,
            },
            holidays: days("settlement.holidays", st.holidays)?,
            extra_working_days: days("settlement.extra_working_days", st.extra_working_days)?,
            out_dir: st
                .out_dir
                .map_or_else(|| store_dir.join("settlement"), |d| resolve(&d)),
        };

        Ok(Config {
            server,
            gateway,
            policy,
            store,
            terminals,
            merchants,
            terminal_merchant,
            admin,
            heartbeat,
            recon,
            settlement,
        })
    }
}

/// `yyyy-MM-dd`: the format of gateway days (bill dates, settlement dates,
/// `[settlement]` holidays).
pub const DAY_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// `HH:MM` (24 h) as (hour, minute).
fn parse_hh_mm(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

fn is_code(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

fn is_smid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn hex32(field: &str, text: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = hex::decode(text.trim()).map_err(|_| field_err(field, "must be hexadecimal"))?;
    bytes
        .try_into()
        .map_err(|_| field_err(field, "must be exactly 32 bytes (64 hex digits)"))
}

fn parse_admin(
    a: RawAdmin,
    resolve: &dyn Fn(&str) -> PathBuf,
    allow: bool,
) -> Result<AdminConfig, ConfigError> {
    use sha2::Digest as _;
    let listen = a
        .listen
        .parse::<SocketAddr>()
        .map_err(|_| field_err("admin.listen", "is not an address like 127.0.0.1:8081"))?;
    let mut tokens = Vec::new();
    for (i, t) in a.token_sha256.iter().enumerate() {
        tokens.push(hex32(&format!("admin.token_sha256[{i}]"), t)?);
    }
    if let Some(f) = &a.token_file {
        let path = resolve(f);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            field_err(
                "admin.token_file",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        check_key_perms("admin.token_file", &path, allow)?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if line.len() < 16 {
                return Err(field_err(
                    "admin.token_file",
                    "every token must be at least 16 characters",
                ));
            }
            tokens.push(sha2::Sha256::digest(line.as_bytes()).into());
        }
    }
    if tokens.is_empty() {
        return Err(field_err(
            "admin.token_sha256",
            "the admin API needs at least one token (token_sha256 or token_file)",
        ));
    }
    let secret_key = match &a.secret_key_file {
        None => None,
        Some(f) => {
            let path = resolve(f);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                field_err(
                    "admin.secret_key_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            check_key_perms("admin.secret_key_file", &path, allow)?;
            Some(hex32("admin.secret_key_file", &text)?)
        }
    };
    Ok(AdminConfig {
        listen,
        token_sha256: tokens,
        secret_key,
    })
}

fn check_key_perms(field: &str, path: &Path, allow: bool) -> Result<(), ConfigError> {
    if allow {
        return Ok(());
    }
    match too_open(path) {
        Ok(false) => Ok(()),
        Ok(true) => Err(field_err(
            field,
            format!(
                "{} is readable by group or others; chmod 600 it (or pass --allow-insecure-key-permissions)",
                path.display()
            ),
        )),
        Err(e) => Err(field_err(field, format!("cannot stat {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/keys")
    }

    fn sample(extra_terminal: &str) -> String {
        let k = keys_dir();
        format!(
            r#"
allow_insecure_key_permissions = true
allow_insecure_gateway = true
[server]
listen = ["127.0.0.1:0"]
[gateway]
url = "http://127.0.0.1:9090/gateway.do"
app_id = "2021000000000001"
app_private_key_file = "{}/demo-app-private.pem"
alipay_public_key_file = "{}/demo-alipay-public.pem"
[store]
path = "j.db"
[[terminals]]
key_id = "T1"
secret_hex = "{}"
store_id = "S1"
{extra_terminal}
"#,
            k.display(),
            k.display(),
            "ab".repeat(32)
        )
    }

    #[test]
    fn a_merchant_relay_to_a_private_address_needs_the_lab_flag() {
        let text = sample("")
            + "[[merchants]]\nexternal_id = \"m1\"\nrelay_url = \"http://127.0.0.1:9/n\"\n";
        let e = Config::from_toml_str(&text, Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("merchants[0].relay_url"), "{e}");
        let allowed = text.replace(
            "[server]\n",
            "[server]\nrelay_allow_private_addresses = true\n",
        );
        assert!(Config::from_toml_str(&allowed, Path::new("/tmp")).is_ok());
    }

    #[test]
    fn a_plain_http_gateway_needs_the_lab_flag() {
        let text = sample("").replace("allow_insecure_gateway = true\n", "");
        let e = Config::from_toml_str(&text, Path::new("/tmp")).unwrap_err();
        assert!(
            e.to_string().contains("gateway.url") && e.to_string().contains("https"),
            "{e}"
        );
        let https = text.replace("http://127.0.0.1:9090", "https://openapi.alipay.com");
        assert!(Config::from_toml_str(&https, Path::new("/tmp")).is_ok());
    }

    #[test]
    fn loads_a_good_config() {
        let c = Config::from_toml_str(&sample(""), Path::new("/tmp")).unwrap();
        assert_eq!(c.policy.poll_count, 12);
        assert_eq!(c.policy.poll_interval, Duration::from_secs(5));
        assert_eq!(c.store.path, Path::new("/tmp/j.db"));
        assert_eq!(c.terminals[0].secret, [0xab; 32]);
        assert!(!format!("{:?}", c.terminals[0]).contains("abab"));
    }

    #[test]
    fn connection_limits_have_defaults_and_bounds() {
        let c = Config::from_toml_str(&sample(""), Path::new("/tmp")).unwrap();
        let h = &c.server.http;
        assert_eq!(h.idle_timeout, Duration::from_secs(60));
        assert_eq!(h.max_header_bytes, 16384);
        assert_eq!(h.h2_max_concurrent_streams, 256);
        assert_eq!(
            (h.h2_initial_stream_window, h.h2_initial_connection_window),
            (65536, 262144)
        );
        assert_eq!(h.h2_keep_alive_interval, Some(Duration::from_secs(30)));
        assert_eq!(h.h2_keep_alive_timeout, Duration::from_secs(10));
        let p = &c.server.per_ip;
        assert_eq!(
            (
                p.window,
                p.auth_failures,
                p.unauthenticated_connections,
                p.table_max
            ),
            (Duration::from_secs(10), 50, 256, 65536)
        );
        let off = sample("").replace("[server]\n", "[server]\nh2_keep_alive_interval_ms = 0\n");
        let c = Config::from_toml_str(&off, Path::new("/tmp")).unwrap();
        assert_eq!(c.server.http.h2_keep_alive_interval, None);
        for (line, field) in [
            ("idle_timeout_ms = 10", "server.idle_timeout_ms"),
            ("max_header_bytes = 4096", "server.max_header_bytes"),
            (
                "h2_max_concurrent_streams = 0",
                "server.h2_max_concurrent_streams",
            ),
            (
                "h2_initial_stream_window_bytes = 10",
                "server.h2_initial_stream_window_bytes",
            ),
            (
                "h2_initial_connection_window_bytes = 1000",
                "server.h2_initial_connection_window_bytes",
            ),
            (
                "h2_keep_alive_interval_ms = 5",
                "server.h2_keep_alive_interval_ms",
            ),
            (
                "h2_keep_alive_timeout_ms = 0",
                "server.h2_keep_alive_timeout_ms",
            ),
            ("per_ip_window_ms = 1", "server.per_ip_window_ms"),
            ("per_ip_auth_failures = 0", "server.per_ip_auth_failures"),
            (
                "per_ip_unauthenticated_connections = 0",
                "server.per_ip_unauthenticated_connections",
            ),
            ("per_ip_table_max = 10", "server.per_ip_table_max"),
        ] {
            let bad = sample("").replace("[server]\n", &format!("[server]\n{line}\n"));
            let e = Config::from_toml_str(&bad, Path::new("/tmp")).unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn names_the_bad_field() {
        let bad = sample("").replace("\"S1\"", "\"bad id!\"");
        let e = Config::from_toml_str(&bad, Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("terminals[0].store_id"), "{e}");
        let bad = sample("").replace(&"ab".repeat(32), "abcd");
        let e = Config::from_toml_str(&bad, Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("terminals[0].secret_hex"), "{e}");
        assert!(!e.to_string().contains("abcd"));
        let bad = sample("").replace("2021000000000001", "app!");
        let e = Config::from_toml_str(&bad, Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("gateway.app_id"), "{e}");
        let bad = sample("").replace("127.0.0.1:0", "nowhere");
        let e = Config::from_toml_str(&bad, Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("server.listen[0]"), "{e}");
    }

    #[test]
    fn lab_merchants_and_admin() {
        let text = sample("merchant = \"shop1\"")
            + "[[merchants]]\nexternal_id = \"shop1\"\nsmid = \"2088000000000009\"\n";
        let c = Config::from_toml_str(&text, Path::new("/tmp")).unwrap();
        assert_eq!(
            c.terminal_merchant.get("T1").map(String::as_str),
            Some("shop1")
        );
        assert_eq!(c.merchants[0].smid.as_deref(), Some("2088000000000009"));
        assert!(c.admin.is_none());
        let bad = sample("merchant = \"nobody\"");
        let e = Config::from_toml_str(&bad, Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("terminals[0].merchant"), "{e}");
        let with_admin = format!(
            "{}[admin]\ntoken_sha256 = [\"{}\"]\n",
            sample(""),
            "cd".repeat(32)
        );
        let c = Config::from_toml_str(&with_admin, Path::new("/tmp")).unwrap();
        let a = c.admin.unwrap();
        assert_eq!(a.listen.to_string(), "127.0.0.1:8081");
        assert!(a.secret_key.is_none());
        let no_token = format!("{}[admin]\nlisten = \"127.0.0.1:0\"\n", sample(""));
        let e = Config::from_toml_str(&no_token, Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("admin.token_sha256"), "{e}");
        let bad_key = format!(
            "{}[admin]\ntoken_sha256 = [\"{}\"]\nsecret_key_file = \"/nonexistent/k\"\n",
            sample(""),
            "cd".repeat(32)
        );
        let e = Config::from_toml_str(&bad_key, Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("admin.secret_key_file"), "{e}");
    }

    #[test]
    fn postgres_store() {
        let pg = |store: &str| sample("").replace("[store]\npath = \"j.db\"", store);
        let c = Config::from_toml_str(
            &pg("[store]\nkind = \"postgres\"\nurl = \"postgres://sw:s3cret@db:5432/payswitch\"\n"),
            Path::new("/tmp/cfg"),
        )
        .unwrap();
        assert_eq!(c.store.kind, StoreKind::Postgres);
        let p = c.store.postgres.as_ref().unwrap();
        assert_eq!(p.pool_size, 16);
        assert!(!p.tls);
        assert_eq!(c.recon.out_dir, Path::new("/tmp/cfg/recon"));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        assert!(dbg.contains("postgres://sw:***@db:5432/payswitch"), "{dbg}");
        for (text, field) in [
            ("[store]\nkind = \"postgres\"\n", "store.url"),
            ("[store]\nkind = \"mysql\"\npath = \"j.db\"\n", "store.kind"),
            ("[store]\nkind = \"postgres\"\nurl = \"mysql://u:s3cret@h/d\"\n", "store.url"),
            (
                "[store]\nkind = \"postgres\"\nurl = \"postgres://u:s3cret@h/d\"\npool_size = 1\n",
                "store.pool_size",
            ),
            (
                "[store]\nkind = \"postgres\"\nurl = \"postgres://u:s3cret@h/d\"\npath = \"j.db\"\n",
                "store.path",
            ),
            (
                "[store]\nkind = \"postgres\"\nurl = \"postgres://u:s3cret@h/d\"\nca_file = \"/etc/hostname\"\n",
                "store.ca_file",
            ),
            (
                "[store]\nkind = \"postgres\"\nurl = \"postgres://u:s3cret@h:notaport/d\"\n",
                "store.url",
            ),
            (
                "[store]\nkind = \"postgres\"\nurl = \"postgres://u:s3cret@h/d\"\nsynchronous = \"off\"\n",
                "store.synchronous",
            ),
            ("[store]\nurl = \"postgres://u:s3cret@h/d\"\npath = \"j.db\"\n", "store.url"),
            ("[store]\nmax_batch = 8\n", "store.path"),
        ] {
            let e = Config::from_toml_str(&pg(text), Path::new("/tmp")).unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
        // A TOML error on the url's line never shows the password.
        let e = Config::from_toml_str(
            &pg("[store]\nkind = \"postgres\"\nurl = \"postgres://u:s3cret@h/d\"\nbogus = 1\n"),
            Path::new("/tmp"),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(
            mask_url("x postgresql://a:b@c/d?password=zz&sslmode=require y"),
            "x postgresql://a:***@c/d?password=***&sslmode=require y"
        );
    }

    #[test]
    fn refuses_open_private_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        std::fs::copy(keys_dir().join("demo-app-private.pem"), &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = sample("")
            .replace("allow_insecure_key_permissions = true", "")
            .replace(
                &format!("{}/demo-app-private.pem", keys_dir().display()),
                key.to_str().unwrap(),
            );
        let e = Config::from_toml_str(&text, dir.path()).unwrap_err();
        assert!(
            e.to_string().contains("gateway.app_private_key_file"),
            "{e}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        Config::from_toml_str(&text, dir.path()).unwrap();
    }
}

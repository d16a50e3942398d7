//! `payswitch merchants|stores|terminals ...`: thin clients of the admin
//! API (docs/API.md §1.4, [`engine::admin`]'s routes).
//!
//! Each command is one request (built by a pure [`Plan`]), sent with
//! `Authorization: Bearer <token>` to `--admin URL` (http or https; rustls
//! with the system's roots or `--ca-file`), and the answer rendered as an
//! aligned table, or with `--json` printed exactly as received.
//!
//! Guarantees: the token is read from `--token-file` (refused when the file
//! is readable by group or others, unless `--allow-insecure-key-permissions`)
//! or from `PAYSWITCH_ADMIN_TOKEN`; it is never printed and never part of an
//! error. A terminal secret is printed only by `terminals add` and
//! `terminals rotate`, labelled "shown once".
//!
//! Exit codes: 0 the admin API answered 2xx; 1 it answered an error, could
//! not be reached, or the token file is unusable; 2 bad command line
//! (clap's usage errors, and no token given at all).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::{ArgGroup, Args, Subcommand};
use http::{HeaderValue, Method};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Map, Value};

/// The admin listener's default address (docs/API.md §1.4).
pub const DEFAULT_ADMIN: &str = "http://127.0.0.1:8081";
/// The environment variable holding the token when `--token-file` is absent.
pub const TOKEN_ENV: &str = "PAYSWITCH_ADMIN_TOKEN";
/// Longest error body quoted when the admin API answers something not JSON.
const MAX_QUOTED_BYTES: usize = 300;

/// Exit code: the admin API answered 2xx.
pub const EXIT_OK: i32 = 0;
/// Exit code: an error answer, no answer, an unusable token file.
pub const EXIT_ERROR: i32 = 1;
/// Exit code: bad command line (as clap's own usage errors).
pub const EXIT_USAGE: i32 = 2;

/// How to reach the admin API; accepted before or after the subcommand.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// The admin API's base URL (http:// or https://).
    #[arg(long, global = true, help_heading = "Admin API", value_name = "URL", default_value = DEFAULT_ADMIN, value_parser = admin_url)]
    admin: String,
    /// A file whose first non-empty line is the admin token (mode 0600).
    /// Without it the token comes from the environment variable PAYSWITCH_ADMIN_TOKEN.
    #[arg(long, global = true, help_heading = "Admin API", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Accept a token file readable by group or others.
    #[arg(long, global = true, help_heading = "Admin API")]
    allow_insecure_key_permissions: bool,
    /// Print the admin API's JSON exactly as received (for scripts).
    #[arg(long, global = true, help_heading = "Admin API")]
    json: bool,
    /// PEM file of the CA certificates to trust for an https admin URL
    /// (default: the system's roots).
    #[arg(long, global = true, help_heading = "Admin API", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Give up on an answer after this many seconds (onboarding waits for the gateway).
    #[arg(long, global = true, help_heading = "Admin API", value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout_secs: u64,
}

fn admin_url(s: &str) -> Result<String, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => {}
        _ => return Err("must be an http:// or https:// URL with a host".into()),
    }
    if uri.query().is_some() {
        return Err("must not carry a query".into());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// `payswitch merchants ...`
#[derive(Args, Debug)]
pub struct Merchants {
    #[command(flatten)]
    conn: Conn,
    /// Boxed: `add` and `modify` carry many flags (clippy::large_enum_variant).
    #[command(subcommand)]
    cmd: Box<MerchantCmd>,
}

/// `payswitch stores ...`
#[derive(Args, Debug)]
pub struct Stores {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    cmd: StoreCmd,
}

/// `payswitch terminals ...`
#[derive(Args, Debug)]
pub struct Terminals {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    cmd: TerminalCmd,
}

/// One admin command group, as parsed.
pub enum Group {
    Merchants(Merchants),
    Stores(Stores),
    Terminals(Terminals),
}

#[derive(Subcommand, Debug)]
enum MerchantCmd {
    /// Onboard a sub-merchant (ant.merchant.expand.indirect.create); the same
    /// external id again answers the existing merchant.
    Add {
        /// The full JSON body of POST /admin/v1/merchants; flags given too override its fields.
        #[arg(long, value_name = "merchant.json")]
        file: Option<PathBuf>,
        /// The acquirer's own merchant number.
        #[arg(long, required_unless_present = "file")]
        external_id: Option<String>,
        /// The merchant's registered name.
        #[arg(long, required_unless_present = "file")]
        name: Option<String>,
        /// The short name buyers see.
        #[arg(long, required_unless_present = "file")]
        alias_name: Option<String>,
        /// The customer service phone (digits and '-').
        #[arg(long, required_unless_present = "file")]
        service_phone: Option<String>,
        /// 经营类目 (category id).
        #[arg(long, required_unless_present = "file")]
        category_id: Option<String>,
        #[command(flatten)]
        fields: MerchantFields,
    },
    /// Every merchant.
    List,
    /// One merchant, with its stores and terminal count.
    Show {
        /// The merchant's external id.
        external_id: String,
    },
    /// Change fields (PATCH; the gateway's fields through ant.merchant.expand.indirect.modify).
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["file", "name", "alias_name", "service_phone", "category_id", "source",
               "contact_name", "service_code", "province_code", "address",
               "gateway_fee_bps", "merchant_fee_bps", "relay_url"])))]
    Modify {
        /// The merchant's external id.
        external_id: String,
        /// A JSON object of the fields to change; flags given too override its fields.
        #[arg(long, value_name = "patch.json")]
        file: Option<PathBuf>,
        /// A new registered name.
        #[arg(long)]
        name: Option<String>,
        /// A new short name.
        #[arg(long)]
        alias_name: Option<String>,
        /// A new customer service phone.
        #[arg(long)]
        service_phone: Option<String>,
        /// A new category id.
        #[arg(long)]
        category_id: Option<String>,
        #[command(flatten)]
        fields: MerchantFields,
    },
    /// Suspend: new payments of its terminals answer 403 merchant_suspended.
    Suspend {
        /// The merchant's external id.
        external_id: String,
    },
    /// Resume a suspended merchant.
    Resume {
        /// The merchant's external id.
        external_id: String,
    },
}

/// The optional merchant fields shared by `add` and `modify`.
#[derive(Args, Debug, Default)]
struct MerchantFields {
    /// 推荐组织 pid.
    #[arg(long)]
    source: Option<String>,
    /// The contact's name (one contact_info entry; modify replaces the list).
    #[arg(long, requires = "contact_mobile")]
    contact_name: Option<String>,
    /// The contact's mobile number.
    #[arg(long, requires = "contact_name")]
    contact_mobile: Option<String>,
    /// LEGAL_PERSON, CONTROLLER, AGENT or OTHER.
    #[arg(long, default_value = "LEGAL_PERSON", requires = "contact_name")]
    contact_type: String,
    /// The contact's landline.
    #[arg(long, requires = "contact_name")]
    contact_phone: Option<String>,
    /// The contact's e-mail address.
    #[arg(long, requires = "contact_name")]
    contact_email: Option<String>,
    /// A service code (F2F, PC, APP, PRE_F2F, PRE_APP); repeat for several.
    #[arg(long = "service-code", value_name = "CODE")]
    service_code: Vec<String>,
    /// The business address (one address_info entry; modify replaces the list).
    #[arg(long, requires_all = ["province_code", "city_code", "district_code"])]
    address: Option<String>,
    /// The address's province code (e.g. 310000).
    #[arg(long, requires = "address")]
    province_code: Option<String>,
    /// The address's city code (e.g. 310100).
    #[arg(long, requires = "address")]
    city_code: Option<String>,
    /// The address's district code (e.g. 310104).
    #[arg(long, requires = "address")]
    district_code: Option<String>,
    /// The gateway's fee on this merchant's trades, in basis points.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    gateway_fee_bps: Option<u32>,
    /// The fee the merchant pays, in basis points.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    merchant_fee_bps: Option<u32>,
    /// Where the final results of the merchant's QR trades are relayed.
    #[arg(long, value_name = "URL")]
    relay_url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum StoreCmd {
    /// Add a store to a merchant.
    Add {
        /// The merchant's external id.
        external_id: String,
        /// The store's id (sent to the gateway with the store's trades).
        #[arg(long)]
        store_id: String,
        /// The store's name.
        #[arg(long)]
        name: String,
        /// The store's address.
        #[arg(long)]
        address: Option<String>,
    },
    /// A merchant's stores.
    List {
        /// The merchant's external id.
        external_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum TerminalCmd {
    /// Register a terminal in one of the merchant's stores; prints its key id
    /// and secret (shown once).
    Add {
        /// The merchant's external id.
        external_id: String,
        /// One of the merchant's stores (`stores add` first).
        #[arg(long)]
        store_id: String,
        /// The terminal's id within the store (sent to the gateway).
        #[arg(long)]
        terminal_id: String,
        /// CR, STORE, VM, ...
        #[arg(long)]
        equipment_type: Option<String>,
        /// Requests per second allowed (default 50).
        #[arg(long)]
        rate_per_sec: Option<f64>,
        /// Burst size of the rate limit (default twice the rate).
        #[arg(long)]
        burst: Option<f64>,
    },
    /// A merchant's terminals: the admin API gives their count only (no list endpoint).
    List {
        /// The merchant's external id.
        external_id: String,
    },
    /// One terminal (never its secret).
    Show {
        /// The terminal's key id (printed by `terminals add`).
        key_id: String,
    },
    /// Suspend: its new payments answer 403 terminal_suspended.
    Suspend {
        /// The terminal's key id (printed by `terminals add`).
        key_id: String,
    },
    /// Resume a suspended terminal.
    Resume {
        /// The terminal's key id (printed by `terminals add`).
        key_id: String,
    },
    /// A new secret (shown once); the old one keeps working for the grace period.
    Rotate {
        /// The terminal's key id.
        key_id: String,
        /// How long the old secret keeps working (default 86400, at most 2592000).
        #[arg(long)]
        grace_secs: Option<u64>,
    },
}

/// Why a command did not succeed; the exit code follows from it.
#[derive(Debug)]
enum Failure {
    /// Exit 2.
    Usage(String),
    /// Exit 1.
    Error(String),
}

/// How an answer is rendered as a table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum View {
    MerchantList,
    Merchant,
    MerchantAdded,
    Store,
    StoreList,
    TerminalList,
    Terminal,
    TerminalAdded,
    Rotated,
}

/// One admin request and how to show its answer.
#[derive(Debug)]
struct Plan {
    method: Method,
    path: String,
    body: Option<Value>,
    view: View,
}

impl Plan {
    fn new(method: Method, path: String, body: Option<Value>, view: View) -> Plan {
        Plan {
            method,
            path,
            body,
            view,
        }
    }
}

/// Runs one command; returns the process exit code.
pub fn run(group: Group) -> i32 {
    let (conn, plan) = match plan(group) {
        Ok(p) => p,
        Err(f) => return report(f),
    };
    let token = match read_token(&conn) {
        Ok(t) => t,
        Err(f) => return report(f),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(Failure::Error(format!("cannot start the runtime: {e}"))),
    };
    match rt.block_on(execute(&conn, token, &plan)) {
        Ok(out) => {
            print!("{out}");
            EXIT_OK
        }
        Err(f) => report(f),
    }
}

fn report(f: Failure) -> i32 {
    match f {
        Failure::Usage(m) => {
            eprintln!("error: {m}");
            EXIT_USAGE
        }
        Failure::Error(m) => {
            eprintln!("error: {m}");
            EXIT_ERROR
        }
    }
}

/// A path segment, percent-encoded (everything but RFC 3986 unreserved).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn merchant_path(ext: &str) -> String {
    format!("/admin/v1/merchants/{}", seg(ext))
}

fn terminal_path(key: &str) -> String {
    format!("/admin/v1/terminals/{}", seg(key))
}

/// The JSON object in `file`.
fn read_object(file: &Path) -> Result<Map<String, Value>, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Error(format!("cannot read {}: {e}", file.display())))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Failure::Error(format!(
            "{} must hold one JSON object",
            file.display()
        ))),
        Err(e) => Err(Failure::Error(format!(
            "{} is not JSON: {e}",
            file.display()
        ))),
    }
}

fn put_str(m: &mut Map<String, Value>, k: &str, v: Option<String>) {
    if let Some(v) = v {
        m.insert(k.to_owned(), Value::String(v));
    }
}

impl MerchantFields {
    /// Inserts the fields given on the command line into `m`.
    fn apply(self, m: &mut Map<String, Value>) {
        put_str(m, "source", self.source);
        if let (Some(name), Some(mobile)) = (self.contact_name, self.contact_mobile) {
            let mut c = Map::new();
            c.insert("name".into(), json!(name));
            c.insert("type".into(), json!(self.contact_type));
            c.insert("mobile".into(), json!(mobile));
            put_str(&mut c, "phone", self.contact_phone);
            put_str(&mut c, "email", self.contact_email);
            m.insert("contact_info".into(), json!([c]));
        }
        if let Some(address) = self.address {
            m.insert(
                "address_info".into(),
                json!([{
                    "province_code": self.province_code,
                    "city_code": self.city_code,
                    "district_code": self.district_code,
                    "address": address,
                }]),
            );
        }
        if !self.service_code.is_empty() {
            m.insert("service_codes".into(), json!(self.service_code));
        }
        if let Some(v) = self.gateway_fee_bps {
            m.insert("gateway_fee_bps".into(), json!(v));
        }
        if let Some(v) = self.merchant_fee_bps {
            m.insert("merchant_fee_bps".into(), json!(v));
        }
        put_str(m, "relay_url", self.relay_url);
    }
}

/// The request a command makes (no I/O but reading `--file`).
fn plan(group: Group) -> Result<(Conn, Plan), Failure> {
    Ok(match group {
        Group::Merchants(g) => (g.conn, merchant_plan(*g.cmd)?),
        Group::Stores(g) => (g.conn, store_plan(g.cmd)),
        Group::Terminals(g) => (g.conn, terminal_plan(g.cmd)),
    })
}

fn merchant_plan(cmd: MerchantCmd) -> Result<Plan, Failure> {
    Ok(match cmd {
        MerchantCmd::Add {
            file,
            external_id,
            name,
            alias_name,
            service_phone,
            category_id,
            fields,
        } => {
            let mut m = match &file {
                Some(f) => read_object(f)?,
                None => Map::new(),
            };
            put_str(&mut m, "external_id", external_id);
            put_str(&mut m, "name", name);
            put_str(&mut m, "alias_name", alias_name);
            put_str(&mut m, "service_phone", service_phone);
            put_str(&mut m, "category_id", category_id);
            fields.apply(&mut m);
            Plan::new(
                Method::POST,
                "/admin/v1/merchants".into(),
                Some(Value::Object(m)),
                View::MerchantAdded,
            )
        }
        MerchantCmd::List => Plan::new(
            Method::GET,
            "/admin/v1/merchants".into(),
            None,
            View::MerchantList,
        ),
        MerchantCmd::Show { external_id } => Plan::new(
            Method::GET,
            merchant_path(&external_id),
            None,
            View::Merchant,
        ),
        MerchantCmd::Modify {
            external_id,
            file,
            name,
            alias_name,
            service_phone,
            category_id,
            fields,
        } => {
            let mut m = match &file {
                Some(f) => read_object(f)?,
                None => Map::new(),
            };
            put_str(&mut m, "name", name);
            put_str(&mut m, "alias_name", alias_name);
            put_str(&mut m, "service_phone", service_phone);
            put_str(&mut m, "category_id", category_id);
            fields.apply(&mut m);
            Plan::new(
                Method::PATCH,
                merchant_path(&external_id),
                Some(Value::Object(m)),
                View::Merchant,
            )
        }
        MerchantCmd::Suspend { external_id } => Plan::new(
            Method::POST,
            format!("{}/suspend", merchant_path(&external_id)),
            None,
            View::Merchant,
        ),
        MerchantCmd::Resume { external_id } => Plan::new(
            Method::POST,
            format!("{}/resume", merchant_path(&external_id)),
            None,
            View::Merchant,
        ),
    })
}

fn store_plan(cmd: StoreCmd) -> Plan {
    match cmd {
        StoreCmd::Add {
            external_id,
            store_id,
            name,
            address,
        } => {
            let mut m = Map::new();
            m.insert("store_id".into(), json!(store_id));
            m.insert("name".into(), json!(name));
            put_str(&mut m, "address", address);
            Plan::new(
                Method::POST,
                format!("{}/stores", merchant_path(&external_id)),
                Some(Value::Object(m)),
                View::Store,
            )
        }
        StoreCmd::List { external_id } => Plan::new(
            Method::GET,
            merchant_path(&external_id),
            None,
            View::StoreList,
        ),
    }
}

fn terminal_plan(cmd: TerminalCmd) -> Plan {
    match cmd {
        TerminalCmd::Add {
            external_id,
            store_id,
            terminal_id,
            equipment_type,
            rate_per_sec,
            burst,
        } => {
            let mut m = Map::new();
            m.insert("store_id".into(), json!(store_id));
            m.insert("terminal_id".into(), json!(terminal_id));
            put_str(&mut m, "equipment_type", equipment_type);
            if let Some(r) = rate_per_sec {
                m.insert("rate_per_sec".into(), json!(r));
            }
            if let Some(b) = burst {
                m.insert("burst".into(), json!(b));
            }
            Plan::new(
                Method::POST,
                format!("{}/terminals", merchant_path(&external_id)),
                Some(Value::Object(m)),
                View::TerminalAdded,
            )
        }
        TerminalCmd::List { external_id } => Plan::new(
            Method::GET,
            merchant_path(&external_id),
            None,
            View::TerminalList,
        ),
        TerminalCmd::Show { key_id } => {
            Plan::new(Method::GET, terminal_path(&key_id), None, View::Terminal)
        }
        TerminalCmd::Suspend { key_id } => Plan::new(
            Method::POST,
            format!("{}/suspend", terminal_path(&key_id)),
            None,
            View::Terminal,
        ),
        TerminalCmd::Resume { key_id } => Plan::new(
            Method::POST,
            format!("{}/resume", terminal_path(&key_id)),
            None,
            View::Terminal,
        ),
        TerminalCmd::Rotate { key_id, grace_secs } => Plan::new(
            Method::POST,
            format!("{}/rotate", terminal_path(&key_id)),
            grace_secs.map(|g| json!({ "grace_secs": g })),
            View::Rotated,
        ),
    }
}

// ---------- the token ----------

/// The token, never shown: `Debug` and `Display` print nothing of it.
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Whether a file is readable or writable by group or others.
fn too_open(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 != 0)
}

/// The token of `--token-file` (its first non-empty line) or of
/// [`TOKEN_ENV`]. Errors name the file or the variable, never the token.
fn read_token(conn: &Conn) -> Result<Token, Failure> {
    let token = if let Some(path) = &conn.token_file {
        let shown = path.display();
        match too_open(path) {
            Ok(false) => {}
            Ok(true) if conn.allow_insecure_key_permissions => {}
            Ok(true) => {
                return Err(Failure::Error(format!(
                    "the token file {shown} is readable by group or others; chmod 600 it (or pass --allow-insecure-key-permissions)"
                )))
            }
            Err(e) => return Err(Failure::Error(format!("cannot read the token file {shown}: {e}"))),
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Error(format!("cannot read the token file {shown}: {e}")))?;
        let first = text.lines().map(str::trim).find(|l| !l.is_empty());
        match first {
            Some(t) => t.to_owned(),
            None => {
                return Err(Failure::Error(format!(
                    "the token file {shown} holds no token"
                )))
            }
        }
    } else {
        match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => {
                return Err(Failure::Usage(format!(
                    "no admin token: pass --token-file FILE or set {TOKEN_ENV}"
                )))
            }
        }
    };
    Ok(Token(token))
}

fn bearer(token: &Token) -> Result<HeaderValue, Failure> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.0)).map_err(|_| {
        Failure::Error("the admin token holds characters an HTTP header cannot carry".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

// ---------- the request ----------

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn client(conn: &Conn) -> Result<HttpsClient, Failure> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let https = conn.admin.starts_with("https://");
    let builder = match &conn.ca_file {
        Some(ca) => {
            let pem = std::fs::read(ca)
                .map_err(|e| Failure::Error(format!("cannot read {}: {e}", ca.display())))?;
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut pem.as_slice()) {
                let c = c.map_err(|e| Failure::Error(format!("{}: {e}", ca.display())))?;
                roots
                    .add(c)
                    .map_err(|e| Failure::Error(format!("{}: {e}", ca.display())))?;
            }
            if roots.is_empty() {
                return Err(Failure::Error(format!(
                    "{} holds no PEM certificate",
                    ca.display()
                )));
            }
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Failure::Error(format!("TLS set-up: {e}")))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
        }
        None => match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider.clone())
        {
            Ok(b) => b,
            Err(e) if https => {
                return Err(Failure::Error(format!(
                    "no system CA certificates for {}: {e}; pass --ca-file",
                    conn.admin
                )))
            }
            Err(_) => {
                // Plain http: the TLS roots are never used.
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| Failure::Error(format!("TLS set-up: {e}")))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
            }
        },
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(conn.timeout_secs.min(10))));
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Sends the plan's request; renders a 2xx answer, turns any other into a Failure.
async fn execute(conn: &Conn, token: Token, plan: &Plan) -> Result<String, Failure> {
    let auth = bearer(&token)?;
    drop(token);
    let client = client(conn)?;
    let url = format!("{}{}", conn.admin, plan.path);
    let body = plan
        .body
        .as_ref()
        .map(|b| Bytes::from(b.to_string()))
        .unwrap_or_default();
    let mut req = http::Request::builder()
        .method(plan.method.clone())
        .uri(&url)
        .header(http::header::AUTHORIZATION, auth)
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("payswitch-cli/", env!("CARGO_PKG_VERSION")),
        );
    if plan.body.is_some() {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| Failure::Error(format!("cannot build the request to {url}: {e}")))?;
    let wait = Duration::from_secs(conn.timeout_secs);
    let resp = tokio::time::timeout(wait, client.request(req))
        .await
        .map_err(|_| {
            Failure::Error(format!(
                "no answer from the admin API at {} within {} s",
                conn.admin, conn.timeout_secs
            ))
        })?
        .map_err(|e| {
            Failure::Error(format!(
                "cannot reach the admin API at {}: {}",
                conn.admin,
                error_chain(&e)
            ))
        })?;
    let status = resp.status();
    let bytes = tokio::time::timeout(wait, resp.into_body().collect())
        .await
        .map_err(|_| Failure::Error(format!("the answer from {} stalled", conn.admin)))?
        .map_err(|e| Failure::Error(format!("the answer from {} broke off: {e}", conn.admin)))?
        .to_bytes();
    if !status.is_success() {
        if conn.json && serde_json::from_slice::<Value>(&bytes).is_ok() {
            println!("{}", String::from_utf8_lossy(&bytes).trim_end());
        }
        return Err(Failure::Error(error_line(status.as_u16(), &bytes)));
    }
    if conn.json {
        let mut s = String::from_utf8_lossy(&bytes).into_owned();
        if !s.ends_with('\n') {
            s.push('\n');
        }
        return Ok(s);
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| {
        Failure::Error(format!(
            "the admin API answered {} with something that is not JSON: {}",
            status.as_u16(),
            quote(&bytes)
        ))
    })?;
    Ok(render(plan.view, status.as_u16(), &v))
}

/// An error with its sources, one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn quote(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.len() > MAX_QUOTED_BYTES {
        let mut end = MAX_QUOTED_BYTES;
        while !one_line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &one_line[..end])
    } else {
        one_line
    }
}

/// The command-line flag that sets an admin API field, when there is one.
fn flag_of(field: &str) -> Option<String> {
    const FLAGS: [&str; 16] = [
        "external_id",
        "name",
        "alias_name",
        "service_phone",
        "category_id",
        "source",
        "gateway_fee_bps",
        "merchant_fee_bps",
        "relay_url",
        "store_id",
        "address",
        "terminal_id",
        "equipment_type",
        "rate_per_sec",
        "burst",
        "grace_secs",
    ];
    FLAGS
        .contains(&field)
        .then(|| format!("--{}", field.replace('_', "-")))
}

/// `{"error": {code, message, field}}` as one line naming the field.
fn error_line(status: u16, bytes: &[u8]) -> String {
    let v: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(_) => return format!("the admin API answered {status}: {}", quote(bytes)),
    };
    let e = &v["error"];
    let code = e["code"].as_str().unwrap_or("error");
    let message = e["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| quote(bytes));
    match e["field"].as_str() {
        Some(f) => {
            let flag = flag_of(f)
                .map(|fl| format!(", flag {fl}"))
                .unwrap_or_default();
            format!("{status} {code} (field {f}{flag}): {message}")
        }
        None => format!("{status} {code}: {message}"),
    }
}

// ---------- rendering ----------

/// Display width of `s`: East Asian wide characters count two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let u = u32::from(c);
            let wide = matches!(u,
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0xA4CF | 0xAC00..=0xD7A3
                | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6
                | 0x20000..=0x3FFFD);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

fn pad(s: &str, w: usize) -> String {
    let mut out = s.to_owned();
    out.extend(std::iter::repeat(' ').take(w.saturating_sub(width(s))));
    out
}

/// Rows under a header, columns aligned, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(width(c));
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(c);
            } else {
                s.push_str(&pad(c, w[i]));
                s.push_str("  ");
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// `name  value` pairs, the names aligned.
fn pairs(rows: &[(String, String)]) -> String {
    let w = rows.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{}  {v}", pad(k, w)).trim_end().to_owned() + "\n")
        .collect()
}

/// A JSON value as a cell: strings bare, null as `-`, the rest compact JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            // 1000.0 as 1000; other numbers as JSON writes them.
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// A `*_ms` unix-milliseconds value as UTC RFC 3339.
fn time_cell(v: &Value) -> String {
    let Some(ms) = v.as_i64() else {
        return cell(v);
    };
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| ms.to_string()),
        Err(_) => ms.to_string(),
    }
}

/// `obj`'s fields as pairs: `order` first, then any other field the
/// answer carries (except `skip`), so a field added later still shows.
fn object_pairs(obj: &Value, order: &[&str], skip: &[&str]) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let Some(m) = obj.as_object() else {
        return vec![("answer".into(), cell(obj))];
    };
    let show = |k: &str, v: &Value| match k.strip_suffix("_ms") {
        Some(base) => (base.to_owned(), time_cell(v)),
        None => (k.to_owned(), cell(v)),
    };
    for k in order {
        if let Some(v) = m.get(*k) {
            rows.push(show(k, v));
        }
    }
    for (k, v) in m {
        if !order.contains(&k.as_str()) && !skip.contains(&k.as_str()) {
            rows.push(show(k, v));
        }
    }
    rows
}

const MERCHANT_ORDER: [&str; 19] = [
    "external_id",
    "name",
    "alias_name",
    "smid",
    "status",
    "service_phone",
    "category_id",
    "source",
    "gateway_fee_bps",
    "merchant_fee_bps",
    "relay_url",
    "service_codes",
    "contact_info",
    "address_info",
    "bankcard_info",
    "terminal_count",
    "origin",
    "created_ms",
    "updated_ms",
];

const TERMINAL_ORDER: [&str; 13] = [
    "key_id",
    "external_id",
    "smid",
    "store_id",
    "terminal_id",
    "equipment_type",
    "rate_per_sec",
    "burst",
    "status",
    "previous_secret_valid_until_ms",
    "origin",
    "created_ms",
    "updated_ms",
];

fn stores_table(m: &Value) -> String {
    let rows: Vec<Vec<String>> = m["stores"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| vec![cell(&s["store_id"]), cell(&s["name"]), cell(&s["address"])])
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        return format!("merchant {} has no stores\n", cell(&m["external_id"]));
    }
    table(&["STORE_ID", "NAME", "ADDRESS"], &rows)
}

/// `bankcard_info` with each `card_no` cut to its last four digits: the
/// table is for eyes (`--json` gives the answer as received).
fn masked_cards(m: &Value) -> Value {
    let mut m = m.clone();
    if let Some(cards) = m.get_mut("bankcard_info").and_then(Value::as_array_mut) {
        for c in cards {
            if let Some(no) = c.get("card_no").and_then(Value::as_str) {
                let tail: String = no
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                c["card_no"] = json!(format!("****{tail}"));
            }
        }
    }
    m
}

fn merchant(m: &Value) -> String {
    let m = &masked_cards(m);
    let mut out = pairs(&object_pairs(m, &MERCHANT_ORDER, &["stores"]));
    out.push('\n');
    out.push_str(&stores_table(m));
    out
}

fn merchant_list(v: &Value) -> String {
    let list = v["merchants"].as_array().or_else(|| v.as_array());
    let rows: Vec<Vec<String>> = list
        .map(|a| {
            a.iter()
                .map(|m| {
                    vec![
                        cell(&m["external_id"]),
                        cell(&m["name"]),
                        cell(&m["smid"]),
                        cell(&m["status"]),
                        cell(&m["gateway_fee_bps"]),
                        cell(&m["merchant_fee_bps"]),
                        m["stores"].as_array().map_or(0, Vec::len).to_string(),
                        cell(&m["terminal_count"]),
                        cell(&m["origin"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        return "no merchants\n".into();
    }
    table(
        &[
            "EXTERNAL_ID",
            "NAME",
            "SMID",
            "STATUS",
            "GATEWAY_FEE_BPS",
            "MERCHANT_FEE_BPS",
            "STORES",
            "TERMINALS",
            "ORIGIN",
        ],
        &rows,
    )
}

fn terminal(t: &Value) -> String {
    pairs(&object_pairs(
        t,
        &TERMINAL_ORDER,
        &["secret_hex", "grace_secs"],
    ))
}

/// The secret block: printed by add and rotate only, clearly labelled.
fn secret_block(t: &Value) -> String {
    let mut out = String::from(
        "\nSECRET (shown once: the switch keeps it sealed and cannot show it again; configure the terminal with it now)\n",
    );
    out.push_str(&pairs(&[
        ("key_id:".into(), cell(&t["key_id"])),
        ("secret_hex:".into(), cell(&t["secret_hex"])),
    ]));
    out
}

fn render(view: View, status: u16, v: &Value) -> String {
    match view {
        View::MerchantList => merchant_list(v),
        View::Merchant => merchant(v),
        View::MerchantAdded => {
            let head = if status == 201 {
                format!(
                    "merchant {} onboarded, smid {}\n\n",
                    cell(&v["external_id"]),
                    cell(&v["smid"])
                )
            } else {
                format!(
                    "merchant {} already exists (no second onboarding); as it stands:\n\n",
                    cell(&v["external_id"])
                )
            };
            head + &merchant(v)
        }
        View::Store => {
            let head = if status == 201 {
                "store created\n"
            } else {
                "the same store already exists\n"
            };
            format!(
                "{head}\n{}",
                pairs(&object_pairs(
                    v,
                    &["external_id", "store_id", "name", "address"],
                    &[]
                ))
            )
        }
        View::StoreList => stores_table(v),
        View::TerminalList => {
            let count = cell(&v["terminal_count"]);
            format!(
                "merchant {} (smid {}, {}) has {count} terminal(s).\n\
                 The admin API has no endpoint listing a merchant's terminals (docs/API.md §1.4): \
                 the merchant's answer gives their count only.\n\
                 Show one with `payswitch terminals show KEY_ID` (the key id `terminals add` printed).\n\n{}",
                cell(&v["external_id"]),
                cell(&v["smid"]),
                cell(&v["status"]),
                stores_table(v)
            )
        }
        View::Terminal => terminal(v),
        View::TerminalAdded => {
            format!("terminal created\n\n{}{}", terminal(v), secret_block(v))
        }
        View::Rotated => {
            let until = time_cell(&v["previous_secret_valid_until_ms"]);
            let grace = match v["grace_secs"].as_u64() {
                Some(0) | None => "the old secret stopped working now".to_owned(),
                Some(g) => format!("the old secret keeps working for {g} s, until {until}"),
            };
            format!(
                "secret rotated; {grace}\n\n{}{}",
                terminal(v),
                secret_block(v)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(seg("M_001-a.b~"), "M_001-a.b~");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("店"), "%E5%BA%97");
    }

    #[test]
    fn admin_urls() {
        assert_eq!(
            admin_url("http://127.0.0.1:8081/").unwrap(),
            "http://127.0.0.1:8081"
        );
        assert!(admin_url("https://admin.bank.example/switch").is_ok());
        assert!(admin_url("ftp://x").is_err());
        assert!(admin_url("127.0.0.1:8081").is_err());
        assert!(admin_url("http://x/?a=1").is_err());
    }

    #[test]
    fn error_line_names_the_field_and_flag() {
        let b = br#"{"error":{"code":"missing_field","message":"alias_name is required","field":"alias_name"}}"#;
        assert_eq!(
            error_line(400, b),
            "400 missing_field (field alias_name, flag --alias-name): alias_name is required"
        );
        let b = br#"{"error":{"code":"auth_token","message":"the token is not accepted"}}"#;
        assert_eq!(
            error_line(401, b),
            "401 auth_token: the token is not accepted"
        );
        let b = br#"{"error":{"code":"conflict","message":"x","field":"admin.secret_key_file"}}"#;
        assert_eq!(
            error_line(409, b),
            "409 conflict (field admin.secret_key_file): x"
        );
        assert_eq!(
            error_line(502, b"<html>\n bad gateway </html>"),
            "the admin API answered 502: <html> bad gateway </html>"
        );
    }

    #[test]
    fn tables_align_wide_characters() {
        let t = table(
            &["ID", "NAME", "X"],
            &[
                vec!["M1".into(), "上海店".into(), "a".into()],
                vec!["M22".into(), "shop".into(), "b".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ID   NAME    X");
        assert_eq!(lines[1], "M1   上海店  a");
        assert_eq!(lines[2], "M22  shop    b");
    }

    #[test]
    fn times_and_cells() {
        assert_eq!(time_cell(&json!(0)), "1970-01-01T00:00:00Z");
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&json!(["F2F", "PC"])), "F2F,PC");
        assert_eq!(cell(&json!([{"a": 1}])), r#"[{"a":1}]"#);
        assert_eq!(cell(&json!(1000.0)), "1000");
        assert_eq!(cell(&json!(2.5)), "2.5");
        assert_eq!(cell(&json!(38)), "38");
        let m = json!({"external_id": "M1", "bankcard_info": [{"card_no": "6222020200112233", "card_name": "x"}]});
        let shown = merchant(&m);
        assert!(
            shown.contains("****2233") && !shown.contains("6222020200112233"),
            "{shown}"
        );
    }

    #[test]
    fn the_token_is_never_debug_printed() {
        let t = Token("very-secret-token-0001".into());
        assert!(!format!("{t:?}").contains("very-secret"));
        let h = bearer(&t).unwrap();
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("very-secret"));
        match bearer(&Token("bad\ntoken".into())) {
            Err(Failure::Error(m)) => assert!(!m.contains("bad"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn merchant_add_body_from_flags_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.json");
        std::fs::write(
            &f,
            r#"{"external_id":"OLD","name":"from file","gateway_fee_bps":10}"#,
        )
        .unwrap();
        let fields = MerchantFields {
            contact_name: Some("张三".into()),
            contact_mobile: Some("13800000000".into()),
            contact_type: "LEGAL_PERSON".into(),
            merchant_fee_bps: Some(60),
            service_code: vec!["F2F".into()],
            ..MerchantFields::default()
        };
        let p = merchant_plan(MerchantCmd::Add {
            file: Some(f),
            external_id: Some("M1".into()),
            name: None,
            alias_name: None,
            service_phone: None,
            category_id: None,
            fields,
        })
        .unwrap();
        assert_eq!(
            (p.method, p.path.as_str()),
            (Method::POST, "/admin/v1/merchants")
        );
        assert_eq!(
            p.body.unwrap(),
            json!({"external_id": "M1", "name": "from file", "gateway_fee_bps": 10,
                   "merchant_fee_bps": 60, "service_codes": ["F2F"],
                   "contact_info": [{"name": "张三", "type": "LEGAL_PERSON", "mobile": "13800000000"}]})
        );
    }
}

//! Asynchronous notifications (`trade_status_sync`) to the trade's
//! notify_url, with Alipay's retry schedule, and the record of every attempt.
//!
//! Guarantees: a notification is a form POST signed with
//! `protocol::notify::sign_notification` (every field but `sign` and
//! `sign_type`), `fund_bill_list` a JSON string with camelCase keys, the same
//! `notify_id` on every resend. Only the exact body `success` with HTTP 200
//! counts as delivered; anything else, a time-out or a refused connection is
//! retried 4m, 10m, 10m, 1h, 2h, 6h and 15h after the previous attempt's
//! scheduled time (8 attempts in all), each interval divided by the time
//! scale; the schedule does not drift. Every attempt is recorded.
//!
//! `http://` and `https://` notify URLs are served (rustls, the system's
//! roots; `notify_insecure_tls` accepts any certificate, for labs with
//! self-signed receivers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use protocol::notify::{sign_notification, NotifyFundBill};
use protocol::{clock, Money, Signer};
use rand::Rng;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::ledger::{self, Trade};
use crate::profile::rng_for;
use crate::state::Sim;

/// The intervals between attempts, before scaling: 4m, 10m, 10m, 1h, 2h, 6h, 15h.
pub const RETRY_INTERVALS_SECS: [u64; 7] = [240, 600, 600, 3600, 7200, 21600, 54000];
/// Attempts in all.
pub const MAX_ATTEMPTS: u32 = 8;

/// One delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// 1 to 8; a duplicate sent after success carries the next number.
    pub attempt: u32,
    /// When the attempt was due, `yyyy-MM-dd HH:mm:ss.SSS` Beijing time.
    pub scheduled_at: String,
    /// The same instant, Unix milliseconds.
    pub scheduled_at_ms: i64,
    /// When it was sent, `yyyy-MM-dd HH:mm:ss.SSS` Beijing time.
    pub sent_at: String,
    /// The same instant, Unix milliseconds.
    pub sent_at_ms: i64,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// The receiver's body (first 1 KiB), when it answered.
    pub body: Option<String>,
    /// Why the attempt failed before an answer (refused, time-out...).
    pub error: Option<String>,
    /// Whether the receiver acknowledged with exactly `success`.
    pub success: bool,
    /// A deliberate duplicate (profile `notify.duplicate_share`).
    pub duplicate: bool,
}

/// One notification (one status change of one trade) and its attempts.
#[derive(Debug, Clone, Serialize)]
pub struct NotifyRecord {
    /// The `notify_id` field, the same on every attempt.
    pub notify_id: String,
    /// The trade's app.
    pub app_id: String,
    /// The trade's out_trade_no.
    pub out_trade_no: String,
    /// The trade's trade_no.
    pub trade_no: String,
    /// The status notified (`TRADE_SUCCESS`...).
    pub trade_status: String,
    /// Where it is sent (the trade's notify_url).
    pub notify_url: String,
    /// `pending`, `delivered` or `failed` (8 attempts without success).
    pub state: &'static str,
    /// Held back so that a later status could overtake it.
    pub reordered: bool,
    /// The form fields sent, without `sign`, `sign_type` and `notify_time`
    /// (which each attempt sets afresh).
    pub fields: std::collections::BTreeMap<String, String>,
    /// Every attempt made so far, in order.
    pub attempts: Vec<Attempt>,
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Accepts any server certificate (lab receivers with self-signed certificates).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client configuration of notification deliveries.
fn tls_config(insecure: bool) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        match builder.clone().with_native_roots() {
            Ok(b) => b.with_no_client_auth(),
            // No system roots: https receivers fail (and are recorded as failing).
            Err(_) => builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        }
    };
    Ok(config)
}

/// Sends notifications and keeps their records, by out_trade_no. Each
/// notification is delivered by its own task, which ends at delivery, after
/// the last attempt, at shutdown or at [`Notifier::clear`].
pub struct Notifier {
    client: HttpClient,
    records: DashMap<String, Vec<Arc<Mutex<NotifyRecord>>>>,
    seq: AtomicU64,
    /// Bumped by [`Notifier::clear`]: deliveries of an older epoch stop.
    epoch: Arc<AtomicU64>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("trades", &self.records.len())
            .finish_non_exhaustive()
    }
}

fn wall(at: OffsetDateTime) -> (String, i64) {
    (
        format!("{}.{:03}", clock::format_gateway_time(at), at.millisecond()),
        (at.unix_timestamp_nanos() / 1_000_000) as i64,
    )
}

/// The wall-clock time of a tokio instant.
fn wall_of(i: Instant) -> OffsetDateTime {
    let now_i = Instant::now();
    let now_w = OffsetDateTime::now_utc();
    if i >= now_i {
        now_w + (i - now_i)
    } else {
        now_w - (now_i - i)
    }
}

impl Notifier {
    /// A notifier; `insecure_tls` accepts any receiver certificate.
    ///
    /// # Errors
    ///
    /// The TLS error, as text, when the client TLS configuration cannot be
    /// built (no safe protocol version with the crypto provider).
    pub fn new(insecure_tls: bool) -> Result<Notifier, String> {
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(Duration::from_secs(5)));
        conn.set_nodelay(true);
        conn.enforce_http(false);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(insecure_tls)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(conn);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Notifier {
            client,
            records: DashMap::new(),
            seq: AtomicU64::new(0),
            epoch: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Forgets every record and stops every delivery still retrying
    /// (control API reset).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.records.clear();
    }

    /// Forgets the records of trades the ledger forgot (by out_trade_no),
    /// unless one of them is still `pending`.
    pub fn forget(&self, out_trade_nos: &[String]) {
        for o in out_trade_nos {
            self.records
                .remove_if(o, |_, v| v.iter().all(|r| r.lock().state != "pending"));
        }
    }

    /// The records of one trade (in the order queued), or of all trades.
    pub fn list(&self, out_trade_no: Option<&str>) -> Vec<NotifyRecord> {
        match out_trade_no {
            Some(o) => self
                .records
                .get(o)
                .map(|v| v.iter().map(|r| r.lock().clone()).collect())
                .unwrap_or_default(),
            None => self
                .records
                .iter()
                .flat_map(|e| {
                    e.value()
                        .iter()
                        .map(|r| r.lock().clone())
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }

    fn notify_id(&self, at: OffsetDateTime, t: &Trade) -> String {
        let d = at.to_offset(clock::BEIJING);
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!(
            "{:04}{:02}{:02}00222{:09}{:012}",
            d.year(),
            u8::from(d.month()),
            d.day(),
            crate::profile::fnv1a(&[t.trade_no.as_bytes()]) % 1_000_000_000,
            n % 1_000_000_000_000
        )
    }

    /// Queues a notification for a trade whose status changed, when the trade
    /// has a notify_url and the profile enables that status
    /// (`notify.enabled`, `notify.statuses`): records it and spawns its
    /// delivery on the current tokio runtime. It takes no ledger lock; the
    /// methods call it after releasing the trade's.
    pub fn trade_changed(&self, sim: &Sim, t: &Trade) {
        let Some(url) = t.notify_url.as_deref().filter(|u| !u.is_empty()) else {
            return;
        };
        let profile = sim.profile();
        let opts = &profile.notify;
        if !opts.enabled || !opts.statuses.iter().any(|s| s == t.status.as_str()) {
            return;
        }
        let now = OffsetDateTime::now_utc();
        let notify_id = self.notify_id(now, t);
        let fields = notification_fields(t, &notify_id);
        let mut rng = rng_for(
            profile.seed,
            &t.out_trade_no,
            &format!("notify:{}", t.status.as_str()),
            0,
        );
        // Only an earlier status (TRADE_SUCCESS) is held back, so that a later
        // one (TRADE_CLOSED after a full refund, TRADE_FINISHED) can overtake it.
        let reorder = rng.gen::<f64>() < opts.reorder_share
            && t.status == protocol::TradeStatus::TradeSuccess;
        let duplicate = rng.gen::<f64>() < opts.duplicate_share;
        let record = Arc::new(Mutex::new(NotifyRecord {
            notify_id,
            app_id: t.app_id.clone(),
            out_trade_no: t.out_trade_no.clone(),
            trade_no: t.trade_no.clone(),
            trade_status: t.status.as_str().into(),
            notify_url: url.to_owned(),
            state: "pending",
            reordered: reorder,
            fields: fields.iter().cloned().collect(),
            attempts: Vec::new(),
        }));
        self.records
            .entry(t.out_trade_no.clone())
            .or_default()
            .push(Arc::clone(&record));
        let job = Delivery {
            client: self.client.clone(),
            signer: Arc::clone(&sim.signer),
            shutdown: sim.shutdown.clone(),
            url: url.to_owned(),
            fields,
            record,
            time_scale: sim.cfg.time_scale,
            timeout: Duration::from_millis(opts.timeout_ms.max(1)),
            first_delay: if reorder {
                Duration::from_millis(opts.reorder_delay_ms)
            } else {
                Duration::ZERO
            },
            duplicate_delay: duplicate.then(|| Duration::from_millis(opts.duplicate_delay_ms)),
            epoch: Arc::clone(&self.epoch),
            my_epoch: self.epoch.load(Ordering::SeqCst),
        };
        tokio::spawn(job.run());
    }
}

/// The fields of a trade_status_sync notification (without `sign`,
/// `sign_type` and `notify_time`, which each attempt adds).
fn notification_fields(t: &Trade, notify_id: &str) -> Vec<(String, String)> {
    let paid = t.pay_count > 0;
    let amount = |m: Money| m.to_wire();
    let mut f: Vec<(String, String)> = Vec::with_capacity(32);
    let mut put = |k: &str, v: String| {
        if !v.is_empty() {
            f.push((k.to_owned(), v));
        }
    };
    put("notify_type", "trade_status_sync".into());
    put("notify_id", notify_id.into());
    put("charset", "utf-8".into());
    put("version", "1.0".into());
    put("app_id", t.app_id.clone());
    put("auth_app_id", t.app_id.clone());
    put("trade_no", t.trade_no.clone());
    put("out_trade_no", t.out_trade_no.clone());
    put("trade_status", t.status.as_str().into());
    put("subject", t.subject.clone());
    if let Some(b) = &t.body {
        put("body", b.clone());
    }
    put("seller_id", ledger::seller_id(&t.app_id));
    put("seller_email", "merchant***@example.com".into());
    if let Some(b) = &t.buyer_user_id {
        put("buyer_id", b.clone());
    }
    if let Some(b) = &t.buyer_logon_id {
        put("buyer_logon_id", b.clone());
    }
    put("total_amount", amount(t.total));
    put("receipt_amount", amount(t.paid_amount()));
    put("invoice_amount", amount(t.paid_amount()));
    put("buyer_pay_amount", amount(t.paid_amount()));
    put("point_amount", "0.00".into());
    put("gmt_create", clock::format_gateway_time(t.created_at));
    if let Some(p) = t.paid_at {
        put("gmt_payment", clock::format_gateway_time(p));
    }
    if let Some(c) = t.closed_at {
        put("gmt_close", clock::format_gateway_time(c));
    }
    if !t.refunded.is_zero() {
        put("refund_fee", amount(t.refunded));
        if let Some(r) = t.refunds.last() {
            put("gmt_refund", clock::format_gateway_time(r.at));
            put("out_biz_no", r.out_request_no.clone());
        }
    }
    if paid {
        let bills: Vec<NotifyFundBill> = t
            .fund_parts()
            .into_iter()
            .map(|(c, fen)| NotifyFundBill {
                fund_channel: c.as_str().into(),
                amount: Money::from_fen(fen),
                real_amount: None,
                fund_type: None,
            })
            .collect();
        put(
            "fund_bill_list",
            serde_json::to_string(&bills).unwrap_or_default(),
        );
    }
    f
}

struct Delivery {
    client: HttpClient,
    signer: Arc<Signer>,
    shutdown: watch::Receiver<bool>,
    url: String,
    fields: Vec<(String, String)>,
    record: Arc<Mutex<NotifyRecord>>,
    time_scale: f64,
    timeout: Duration,
    first_delay: Duration,
    duplicate_delay: Option<Duration>,
    epoch: Arc<AtomicU64>,
    my_epoch: u64,
}

enum Answer {
    Status(u16, String),
    Error(String),
}

impl Delivery {
    /// Sleeps until `at`; false when the simulator shut down or was reset meanwhile.
    async fn sleep_until(&mut self, at: Instant) -> bool {
        if *self.shutdown.borrow() {
            return false;
        }
        let woke = tokio::select! {
            _ = tokio::time::sleep_until(at) => true,
            _ = self.shutdown.wait_for(|v| *v) => false,
        };
        woke && self.epoch.load(Ordering::SeqCst) == self.my_epoch
    }

    fn scaled(&self, secs: u64) -> Duration {
        Duration::from_secs(secs).div_f64(self.time_scale.max(1e-9))
    }

    async fn run(mut self) {
        let mut scheduled = Instant::now() + self.first_delay;
        for n in 1..=MAX_ATTEMPTS {
            if !self.sleep_until(scheduled).await {
                return;
            }
            let ok = self.attempt(n, scheduled, false).await;
            if ok {
                self.record.lock().state = "delivered";
                if let Some(d) = self.duplicate_delay {
                    let at = Instant::now() + d;
                    if self.sleep_until(at).await {
                        self.attempt(n + 1, at, true).await;
                    }
                }
                return;
            }
            if n == MAX_ATTEMPTS {
                self.record.lock().state = "failed";
                return;
            }
            scheduled += self.scaled(RETRY_INTERVALS_SECS[(n - 1) as usize]);
            let now = Instant::now();
            if scheduled < now {
                scheduled = now;
            }
        }
    }

    async fn attempt(&mut self, n: u32, scheduled: Instant, duplicate: bool) -> bool {
        let sent = OffsetDateTime::now_utc();
        let (sched_s, sched_ms) = wall(wall_of(scheduled));
        let (sent_s, sent_ms) = wall(sent);
        let answer = self.send(sent).await;
        let (http_status, body, error, success) = match answer {
            Answer::Status(s, b) => {
                let ok = s == 200 && b == "success";
                (Some(s), Some(b), None, ok)
            }
            Answer::Error(e) => (None, None, Some(e), false),
        };
        self.record.lock().attempts.push(Attempt {
            attempt: n,
            scheduled_at: sched_s,
            scheduled_at_ms: sched_ms,
            sent_at: sent_s,
            sent_at_ms: sent_ms,
            http_status,
            body,
            error,
            success,
            duplicate,
        });
        success
    }

    async fn send(&self, at: OffsetDateTime) -> Answer {
        let notify_time = clock::format_gateway_time(at);
        let mut pairs: Vec<(&str, &str)> = self
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("notify_time", &notify_time));
        let body = match sign_notification(&pairs, &self.signer) {
            Ok(b) => b,
            Err(e) => return Answer::Error(format!("signing failed: {e}")),
        };
        let uri: hyper::Uri = match self.url.parse() {
            Ok(u) => u,
            Err(_) => return Answer::Error("notify_url is not a valid URL".into()),
        };
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Answer::Error("notify_url must be http:// or https://".into());
        }
        let req = match hyper::Request::post(uri)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(hyper::header::USER_AGENT, "Mozilla/4.0")
            .body(Full::new(Bytes::from(body)))
        {
            Ok(r) => r,
            Err(e) => return Answer::Error(format!("bad request: {e}")),
        };
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| {
                use std::error::Error as _;
                let mut s = e.to_string();
                if let Some(src) = e.source() {
                    s.push_str(": ");
                    s.push_str(&src.to_string());
                }
                s
            })?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), 64 * 1024)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            let mut text = String::from_utf8_lossy(&body).into_owned();
            if text.len() > 1024 {
                let mut cut = 1024;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            Ok::<_, String>((status, text))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Answer::Error("time-out".into()),
            Ok(Err(e)) => Answer::Error(e),
            Ok(Ok((s, b))) => Answer::Status(s, b),
        }
    }
}

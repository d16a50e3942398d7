//! The systems under test: the switch's terminal API (as N registered
//! terminals, HMAC-signed) and the gateway directly (as a signing app client).
//!
//! Guarantees: every operation ends in exactly one [`Outcome`], never a panic;
//! every out_trade_no the target created or touched is entered in the
//! [`TradeBook`] so that the audit can check it afterwards; follow-up
//! operations (query, refund, cancel) only use trades made earlier in the
//! same run, and fall back to a payment when there is none yet. Secrets are
//! held in memory only and never written to a report.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use protocol::codes::Code;
use protocol::Money;
use terminal::wire::{PayRequest, PrecreateRequest, RefundRequest};
use terminal::{RefundStatus, Status};

use crate::error::{LoadgenError, Result};
use crate::http::{Answer, Http};
use crate::measure::Outcome;
use crate::spec::{OpKind, PayCase};

/// A request body as JSON bytes (plain structs: serialisation cannot fail).
fn to_body<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A boxed, `Send` future borrowing for `'a`: what [`Target::execute`]
/// returns, so that a target can be a `dyn Target`.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something the generator can send operations to: [`SwitchTarget`],
/// [`GatewayTarget`] or [`PlainTarget`]. Shared by all the request tasks of
/// a run (hence `Send + Sync`).
pub trait Target: Send + Sync {
    /// Runs one operation; `seq` is unique within the run. Returns the
    /// operation actually performed (a follow-up with no trade to follow
    /// becomes a payment) and its outcome.
    fn execute(&self, op: OpKind, seq: u64) -> BoxFut<'_, (OpKind, Outcome)>;
    /// `switch`, `gateway` or `http`: what the report calls the target.
    fn kind(&self) -> &'static str;
    /// The trades seen so far (empty for a [`PlainTarget`]), for the audit.
    fn book(&self) -> &TradeBook;
}

/// What the generator saw of one trade, for the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenTrade {
    /// The operation that created it (`pay:1003`, `precreate`, `cancel`, ...).
    pub created_by: String,
    /// The amount asked for, fen (see [`amount_for`]).
    pub amount_fen: u64,
    /// The last status the generator saw for it: a switch or gateway status
    /// (`SUCCESS`, `PAYING`, `CLOSED`, ...), or `SENT` (no answer yet),
    /// `NO_ANSWER` (an answer that was not a trade), `BUYER_PAID` (the
    /// simulator's buyer paid a precreated trade), `OTHER`.
    pub last_status: String,
    /// Refunds the target confirmed, fen.
    pub refunded_fen: u64,
    /// Whether a cancel was confirmed.
    pub cancelled: bool,
    /// The sequence number of the request that created it (it chooses the
    /// terminal, and a trade is visible to the terminal that made it).
    pub seq: u64,
}

/// Trades made during the run, for follow-ups and the audit. A mutex over a
/// map by out_trade_no and the pools that follow-ups pick from; a poisoned
/// lock is recovered.
#[derive(Debug, Default)]
pub struct TradeBook {
    inner: Mutex<BookInner>,
}

#[derive(Debug, Default)]
struct BookInner {
    trades: BTreeMap<String, SeenTrade>,
    /// Paid trades a refund or cancel may use.
    paid: Vec<String>,
    /// Every trade, for queries.
    all: Vec<String>,
}

impl TradeBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, BookInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enters trade `no` (or replaces what was known of it: the refund and
    /// cancel marks are reset) with the operation that made it, its amount
    /// in fen, the status seen and the request's `seq`. A `SUCCESS` trade
    /// becomes available to refunds and cancels.
    pub fn created(&self, no: &str, created_by: &str, amount_fen: u64, status: &str, seq: u64) {
        let mut b = self.lock();
        if !b.trades.contains_key(no) {
            b.all.push(no.to_string());
        }
        b.trades.insert(
            no.to_string(),
            SeenTrade {
                created_by: created_by.to_string(),
                amount_fen,
                last_status: status.to_string(),
                refunded_fen: 0,
                cancelled: false,
                seq,
            },
        );
        if status == "SUCCESS" {
            b.paid.push(no.to_string());
        }
    }

    /// Updates the last status seen of trade `no`; an unknown `no` is
    /// ignored.
    pub fn status(&self, no: &str, status: &str) {
        if let Some(t) = self.lock().trades.get_mut(no) {
            t.last_status = status.to_string();
        }
    }

    fn refunded(&self, no: &str, fen: u64) {
        if let Some(t) = self.lock().trades.get_mut(no) {
            t.refunded_fen += fen;
        }
    }

    fn cancelled(&self, no: &str) {
        if let Some(t) = self.lock().trades.get_mut(no) {
            t.cancelled = true;
            t.last_status = "CLOSED".into();
        }
    }

    /// Any trade, for a query.
    fn any(&self, r: u64) -> Option<(String, u64)> {
        let b = self.lock();
        if b.all.is_empty() {
            return None;
        }
        let no = &b.all[(r % b.all.len() as u64) as usize];
        Some((no.clone(), b.trades.get(no).map(|t| t.seq).unwrap_or(0)))
    }

    /// A paid trade with at least 0.01 left to refund.
    fn paid_for_refund(&self, r: u64) -> Option<(String, u64)> {
        let b = self.lock();
        if b.paid.is_empty() {
            return None;
        }
        let no = &b.paid[(r % b.paid.len() as u64) as usize];
        let t = b.trades.get(no)?;
        (t.refunded_fen < t.amount_fen / 2).then(|| (no.clone(), t.seq))
    }

    /// Takes a paid trade out of the follow-up pool, for a cancel.
    fn take_paid(&self, r: u64) -> Option<(String, u64)> {
        let mut b = self.lock();
        if b.paid.is_empty() {
            return None;
        }
        let i = (r % b.paid.len() as u64) as usize;
        let no = b.paid.swap_remove(i);
        let seq = b.trades.get(&no).map(|t| t.seq).unwrap_or(0);
        Some((no, seq))
    }

    /// A copy of all trades seen, by out_trade_no.
    pub fn snapshot(&self) -> BTreeMap<String, SeenTrade> {
        self.lock().trades.clone()
    }
}

/// Formats an amount in fen as the wire amount in yuan with two decimals:
/// 8888 is `88.88`.
pub fn fen_to_wire(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Parses a wire amount in yuan (`88.88`) to fen; `0` and `0.00` are 0;
/// `None` when it is not an amount.
pub fn wire_to_fen(s: &str) -> Option<u64> {
    protocol::Money::parse_amount(s)
        .ok()
        .map(|m| m.fen())
        .or_else(|| {
            if s == "0.00" || s == "0" {
                Some(0)
            } else {
                None
            }
        })
}

/// A valid auth code ending in the case's magic digits: `28` + 12 random
/// digits + 4 digits, 18 in all.
pub fn auth_code(case: PayCase, rng: &mut impl Rng) -> String {
    let mut s = String::with_capacity(18);
    s.push_str("28");
    for _ in 0..12 {
        s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    s.push_str(case.suffix());
    s
}

/// The auth code of the `seq`-th trade of run `run_id`: `28`, 12 digits
/// drawn from (run id, seq) by a fixed mix (FNV-1a, then SplitMix64), and the
/// case's 4 magic digits; 18 in all. Deterministic, so that a test knows every
/// code a run sent (and scans the switch's files for them) without loadgen
/// ever writing one down; a retry of the same trade sends the same code, as a
/// terminal re-sending its request does.
pub fn auth_code_for(case: PayCase, run_id: &str, seq: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in run_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut x = h ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    format!("28{:012}{}", x % 1_000_000_000_000, case.suffix())
}

/// The amount of the `seq`-th trade in fen: 1.00 to 100.99 yuan (a
/// deterministic spread), below the 1000.00 that the simulator answers with a
/// password wait.
pub fn amount_for(seq: u64) -> u64 {
    100 + (seq.wrapping_mul(7919) % 10_000)
}

/// Common settings of the switch and gateway targets.
#[derive(Debug, Clone)]
pub struct Common {
    /// The run's prefix for out_trade_no (unique per run).
    pub run_id: String,
    /// The simulator's base URL (control API), when there is one.
    pub sim_base: Option<String>,
    /// The pooled client every request goes through.
    pub http: Http,
}

impl Common {
    fn trade_no(&self, seq: u64) -> String {
        format!("{}{:010}", self.run_id, seq)
    }

    /// Asks the simulator's buyer to pay a precreated trade.
    async fn buyer_pay(&self, no: &str) -> Option<Outcome> {
        let base = self.sim_base.as_ref()?;
        let url = format!("{base}/_sim/trades/{no}/buyer-pay");
        Some(
            match self.http.send(Method::POST, &url, &[], Bytes::new()).await {
                Ok(a) if a.status.is_success() => Outcome::status("SUCCESS"),
                Ok(a) => Outcome::http(a.status.as_u16(), true),
                Err(e) => Outcome::transport(e.kind),
            },
        )
    }
}

/// A registered terminal of the switch, as a `[[terminals]]` entry of a
/// terminals file or of the switch's config (see [`load_terminals`]). Its
/// `Debug` leaves the secret out.
#[derive(Clone, Deserialize)]
pub struct Terminal {
    /// The key id the switch knows it by (the `Authorization` header's
    /// key).
    pub key_id: String,
    /// The 32-byte secret, hex.
    pub secret_hex: String,
    /// The sub-merchant (smid) it is registered to, when known: the audit
    /// then checks that its trades in the ledger carry it.
    #[serde(default)]
    pub smid: Option<String>,
    /// Its store, when known (checked like `smid`).
    #[serde(default)]
    pub store_id: Option<String>,
    /// Its terminal id, when known (checked like `smid`).
    #[serde(default)]
    pub terminal_id: Option<String>,
}

impl Terminal {
    /// A terminal with no known registration (nothing for the audit to
    /// compare the ledger's sub-merchant, store and terminal with).
    pub fn new(key_id: impl Into<String>, secret_hex: impl Into<String>) -> Self {
        Terminal {
            key_id: key_id.into(),
            secret_hex: secret_hex.into(),
            smid: None,
            store_id: None,
            terminal_id: None,
        }
    }

    /// What its trades must carry at the gateway (from `smid`, `store_id`,
    /// `terminal_id`); `None` when none of them is known.
    pub fn attribution(&self) -> Option<Attribution> {
        let a = Attribution {
            sub_merchant_id: self.smid.clone(),
            store_id: self.store_id.clone(),
            terminal_id: self.terminal_id.clone(),
        };
        (a != Attribution::default()).then_some(a)
    }
}

/// The sub-merchant, store and terminal a trade must carry to the gateway
/// (the registration of the terminal that made it); `None` fields are not
/// checked.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Attribution {
    /// The sub-merchant id (smid) the ledger's trade must carry.
    pub sub_merchant_id: Option<String>,
    /// The store id it must carry.
    pub store_id: Option<String>,
    /// The terminal id it must carry.
    pub terminal_id: Option<String>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("key_id", &self.key_id)
            .field("smid", &self.smid)
            .field("store_id", &self.store_id)
            .field("terminal_id", &self.terminal_id)
            .finish_non_exhaustive()
    }
}

struct TerminalKey {
    key_id: String,
    secret: Vec<u8>,
    attribution: Option<Attribution>,
}

/// Reads terminals from a TOML file with `[[terminals]]` tables holding
/// `key_id` and `secret_hex`, optionally `smid`, `store_id`, `terminal_id`
/// (the switch's own config file works: other keys are ignored). The
/// secrets are checked by [`SwitchTarget::new`], not here.
///
/// # Errors
/// [`LoadgenError::Io`] when the file cannot be read; [`LoadgenError::Format`]
/// when it is not such TOML or has no `[[terminals]]` entry.
pub fn load_terminals(path: &std::path::Path) -> Result<Vec<Terminal>> {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        terminals: Vec<Terminal>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadgenError::io("cannot read terminals file", path, e))?;
    let f: File = toml::from_str(&text).map_err(|e| LoadgenError::Format {
        path: path.to_owned(),
        reason: format!(
            "not a TOML file with [[terminals]] key_id/secret_hex: {}",
            e.message()
        ),
    })?;
    if f.terminals.is_empty() {
        return Err(LoadgenError::Format {
            path: path.to_owned(),
            reason: "no [[terminals]] entry".into(),
        });
    }
    Ok(f.terminals)
}

/// The switch's terminal API (`/v1`, docs/API.md §1), driven as the
/// registered terminals: request `seq` is signed by terminal
/// `seq % terminals` and its out_trade_no is the run id followed by `seq`.
pub struct SwitchTarget {
    /// The switch nodes (one or more, e.g. behind no load balancer): the
    /// requests go round them by sequence number.
    bases: Vec<String>,
    terminals: Vec<TerminalKey>,
    common: Common,
    /// `wait` of POST /v1/pay, seconds.
    pay_wait: u32,
    /// How long the cashier takes to cancel a payment answered PAYING.
    cancel_delay: Duration,
    book: TradeBook,
    nonce_seq: AtomicU64,
}

/// The switch's trade: the terminal contract's answer type
/// ([`terminal::Trade`]).
pub use terminal::Trade as SwitchTrade;

/// The out_trade_no the gateway sees for a terminal's number `no` when the
/// terminal's merchant was onboarded through the admin API with `smid`: the
/// switch's scheme (engine/src/merchants/numbers.rs), `S` + the smid in
/// base 36 (11 characters) + `_` + the number; past 64 characters the number
/// is cut to 31 and followed by 20 base-36 characters of its SHA-256. `None`
/// when the smid is not a number of at most 16 digits. Used by the audit
/// only for a trade the switch has no record of (otherwise the switch's
/// `gateway_out_trade_no` is used).
pub fn onboarded_gateway_no(smid: &str, no: &str) -> Option<String> {
    fn base36(mut v: u128, width: usize) -> String {
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut out = vec![b'0'; width];
        for slot in out.iter_mut().rev() {
            *slot = DIGITS[(v % 36) as usize];
            v /= 36;
        }
        String::from_utf8(out).unwrap_or_default()
    }
    if smid.is_empty() || smid.len() > 16 || !smid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p = format!("S{}_", base36(smid.parse().ok()?, 11));
    if p.len() + no.len() <= 64 {
        return Some(format!("{p}{no}"));
    }
    let digest = Sha256::digest(no.as_bytes());
    let mut v: u128 = 0;
    for b in &digest[..16] {
        v = (v << 8) | u128::from(*b);
    }
    let hash = base36(v % 36u128.pow(20), 20);
    let head: String = no.chars().take(31).collect();
    Some(format!("{p}{head}{hash}"))
}

impl SwitchTarget {
    /// A target at `base` (e.g. `http://127.0.0.1:8080`) with the terminals;
    /// `pay_wait` is the `wait` of `POST /v1/pay`, seconds. As
    /// [`SwitchTarget::spread`] with one node.
    ///
    /// # Errors
    /// As [`SwitchTarget::spread`].
    pub fn new(base: &str, terminals: &[Terminal], common: Common, pay_wait: u32) -> Result<Self> {
        Self::spread(&[base.to_owned()], terminals, common, pay_wait)
    }

    /// A target of several switch nodes sharing one journal: request `seq`
    /// goes to node `seq % n`, so one trade's pay, queries, cancel and
    /// refunds reach different nodes, as through a load balancer. A node that
    /// refuses the connection is skipped for the next one (the request
    /// re-signed), as a load balancer would.
    ///
    /// # Errors
    /// [`LoadgenError::Arg`] when `bases` or `terminals` is empty, or a
    /// terminal's `secret_hex` is not hexadecimal or not 32 bytes (the
    /// message names `terminals[i].secret_hex`, never the secret).
    pub fn spread(
        bases: &[String],
        terminals: &[Terminal],
        common: Common,
        pay_wait: u32,
    ) -> Result<Self> {
        if bases.is_empty() {
            return Err(LoadgenError::arg(
                "--url",
                "",
                "at least one switch URL is needed",
            ));
        }
        if terminals.is_empty() {
            return Err(LoadgenError::arg(
                "--terminals",
                "",
                "at least one terminal is needed",
            ));
        }
        let mut keys = Vec::with_capacity(terminals.len());
        for (i, t) in terminals.iter().enumerate() {
            let secret = hex::decode(t.secret_hex.trim()).map_err(|_| {
                LoadgenError::arg(
                    "--terminals",
                    format!("terminals[{i}].secret_hex"),
                    "not hexadecimal",
                )
            })?;
            if secret.len() != 32 {
                return Err(LoadgenError::arg(
                    "--terminals",
                    format!("terminals[{i}].secret_hex"),
                    "must be 32 bytes (64 hex digits)",
                ));
            }
            keys.push(TerminalKey {
                key_id: t.key_id.clone(),
                secret,
                attribution: t.attribution(),
            });
        }
        Ok(SwitchTarget {
            bases: bases
                .iter()
                .map(|b| b.trim_end_matches('/').to_string())
                .collect(),
            terminals: keys,
            common,
            pay_wait,
            cancel_delay: Duration::from_millis(200),
            book: TradeBook::default(),
            nonce_seq: AtomicU64::new(0),
        })
    }

    /// Sets the cashier's reaction time before a cancel (default 200 ms; 0
    /// cancels the moment the switch answered PAYING).
    pub fn with_cancel_delay(mut self, d: Duration) -> Self {
        self.cancel_delay = d;
        self
    }

    /// The registration (sub-merchant, store, terminal) of the terminal
    /// that sends the `seq`-th request, when known.
    pub fn attribution(&self, seq: u64) -> Option<&Attribution> {
        self.terminal_for(seq).attribution.as_ref()
    }

    /// Where to look a trade up in the gateway's ledger when the switch has
    /// no record of it: the number itself, then (for a terminal whose smid
    /// is known) the onboarded merchants' form of it.
    pub fn ledger_numbers(&self, no: &str, seq: u64) -> Vec<String> {
        let mut v = vec![no.to_string()];
        if let Some(g) = self
            .attribution(seq)
            .and_then(|a| a.sub_merchant_id.as_deref())
            .and_then(|smid| onboarded_gateway_no(smid, no))
        {
            v.push(g);
        }
        v
    }

    fn terminal_for(&self, seq: u64) -> &TerminalKey {
        &self.terminals[(seq % self.terminals.len() as u64) as usize]
    }

    async fn call(
        &self,
        seq: u64,
        method: Method,
        pq: &str,
        body: Vec<u8>,
    ) -> std::result::Result<Answer, crate::http::TransportError> {
        let t = self.terminal_for(seq);
        let n_bases = self.bases.len() as u64;
        let mut attempt = 0;
        loop {
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            let n = self.nonce_seq.fetch_add(1, Ordering::Relaxed);
            let r: u64 = rand::thread_rng().gen();
            let nonce = format!("{}n{n:x}r{r:016x}", self.common.run_id);
            let auth = terminal::header::authorization(
                &t.key_id,
                &t.secret,
                method.as_str(),
                pq,
                ts,
                &nonce,
                &body,
            );
            let base = &self.bases[((seq + attempt) % n_bases) as usize];
            let url = format!("{base}{pq}");
            let out = self
                .common
                .http
                .send(
                    method.clone(),
                    &url,
                    &[
                        ("authorization", auth.as_str()),
                        ("content-type", "application/json"),
                    ],
                    Bytes::from(body.clone()),
                )
                .await;
            // A node that refuses the connection never saw the request: as
            // a load balancer would, try the next node (re-signed).
            match out {
                Err(e) if e.kind == "connect" && attempt + 1 < n_bases => attempt += 1,
                other => return other,
            }
        }
    }

    /// `GET /v1/trades/{no}` (with `refresh=1` if `refresh`: the switch
    /// asks the gateway first), signed by the terminal of request `seq` (the
    /// one that made the trade). `Ok(None)` is a 404. Used by the audit.
    ///
    /// # Errors
    /// A message: the transport error, `HTTP nnn` for any other non-2xx
    /// status, or `unreadable trade` when a 2xx body is not a trade.
    pub async fn fetch_trade(
        &self,
        no: &str,
        seq: u64,
        refresh: bool,
    ) -> std::result::Result<Option<SwitchTrade>, String> {
        let pq = if refresh {
            format!("/v1/trades/{no}?refresh=1")
        } else {
            format!("/v1/trades/{no}")
        };
        match self.call(seq, Method::GET, &pq, Vec::new()).await {
            Ok(a) if a.status == http::StatusCode::NOT_FOUND => Ok(None),
            Ok(a) if a.status.is_success() => serde_json::from_slice(&a.body)
                .map(Some)
                .map_err(|e| format!("unreadable trade: {e}")),
            Ok(a) => Err(format!("HTTP {}", a.status.as_u16())),
            Err(e) => Err(e.to_string()),
        }
    }

    fn outcome_of(&self, a: &Answer) -> (Outcome, Option<SwitchTrade>) {
        if !a.status.is_success() {
            return (Outcome::http(a.status.as_u16(), true), None);
        }
        match serde_json::from_slice::<SwitchTrade>(&a.body) {
            Ok(t) => {
                let label = match (t.status, t.sub_code.as_deref().or(t.code.as_deref())) {
                    (Status::Failed, Some(c)) => format!("FAILED {c}"),
                    (s, _) => s.as_str().to_string(),
                };
                (Outcome::status(label), Some(t))
            }
            Err(_) => (Outcome::invalid("answer is not the documented trade"), None),
        }
    }

    async fn pay(&self, case: PayCase, seq: u64) -> Outcome {
        self.pay_with(case, seq, self.pay_wait, &OpKind::Pay(case).name())
            .await
            .0
    }

    /// The switch refuses to cancel a paid trade (409: refund it instead), so
    /// a cancel is what a cashier does while the buyer hesitates: a payment
    /// whose buyer never confirms (`…1004`, answered at once with `wait=0`),
    /// then `POST /v1/trades/{no}/cancel`.
    async fn cancel_flow(&self, seq: u64) -> Outcome {
        let (o, status) = self.pay_with(PayCase::Wait1004, seq, 0, "cancel").await;
        if o.error || status.as_deref() != Some(Status::Paying.as_str()) {
            return o;
        }
        // The cashier's reaction time: not counted in the latency.
        if !self.cancel_delay.is_zero() {
            tokio::time::sleep(self.cancel_delay).await;
        }
        let no = self.common.trade_no(seq);
        let pq = format!("/v1/trades/{no}/cancel");
        let mut o = match self.call(seq, Method::POST, &pq, Vec::new()).await {
            Ok(a) => {
                let (o, t) = self.outcome_of(&a);
                if let Some(t) = t {
                    if t.status == Status::Closed {
                        self.book.cancelled(&no);
                    } else {
                        self.book.status(&no, t.status.as_str());
                    }
                }
                o
            }
            Err(e) => Outcome::transport(e.kind),
        };
        o.pause = self.cancel_delay;
        o
    }

    async fn pay_with(
        &self,
        case: PayCase,
        seq: u64,
        wait: u32,
        created_by: &str,
    ) -> (Outcome, Option<String>) {
        let no = self.common.trade_no(seq);
        let amount = amount_for(seq);
        let code = auth_code_for(case, &self.common.run_id, seq);
        let body = PayRequest::new(no.clone(), code, Money::from_fen(amount), "loadgen");
        let pq = format!("/v1/pay?wait={wait}");
        // Entered before sending: a trade the switch may have made is audited
        // even when the answer never comes.
        self.book.created(&no, created_by, amount, "SENT", seq);
        match self.call(seq, Method::POST, &pq, to_body(&body)).await {
            Ok(a) => {
                let (o, t) = self.outcome_of(&a);
                let status = t.map_or("NO_ANSWER", |t| t.status.as_str()).to_owned();
                self.book.created(&no, created_by, amount, &status, seq);
                (o, Some(status))
            }
            Err(e) => (Outcome::transport(e.kind), None),
        }
    }

    async fn precreate(&self, seq: u64) -> Outcome {
        let no = self.common.trade_no(seq);
        let amount = amount_for(seq);
        let body = PrecreateRequest::new(no.clone(), Money::from_fen(amount), "loadgen qr");
        self.book.created(&no, "precreate", amount, "SENT", seq);
        let a = match self
            .call(seq, Method::POST, "/v1/precreate", to_body(&body))
            .await
        {
            Ok(a) => a,
            Err(e) => return Outcome::transport(e.kind),
        };
        let (o, t) = self.outcome_of(&a);
        let Some(t) = t else { return o };
        self.book.status(&no, t.status.as_str());
        if t.status != Status::WaitBuyerPay {
            return o;
        }
        let gw_no = t.gateway_out_trade_no.as_deref().unwrap_or(&no);
        match self.common.buyer_pay(gw_no).await {
            Some(o) if !o.error => {
                // The switch learns of the payment by notification or poll.
                self.book.status(&no, "BUYER_PAID");
                Outcome::status("WAIT_BUYER_PAY+buyer-pay")
            }
            Some(o) => o,
            None => o,
        }
    }
}

impl Target for SwitchTarget {
    fn execute(&self, op: OpKind, seq: u64) -> BoxFut<'_, (OpKind, Outcome)> {
        Box::pin(async move {
            let r = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            match op {
                OpKind::Pay(c) => (op, self.pay(c, seq).await),
                OpKind::Precreate => (op, self.precreate(seq).await),
                OpKind::Query => match self.book.any(r) {
                    None => (
                        OpKind::Pay(PayCase::Normal),
                        self.pay(PayCase::Normal, seq).await,
                    ),
                    Some((no, tseq)) => {
                        let pq = format!("/v1/trades/{no}");
                        let o = match self.call(tseq, Method::GET, &pq, Vec::new()).await {
                            Ok(a) => self.outcome_of(&a).0,
                            Err(e) => Outcome::transport(e.kind),
                        };
                        (op, o)
                    }
                },
                OpKind::Refund => match self.book.paid_for_refund(r) {
                    None => (
                        OpKind::Pay(PayCase::Normal),
                        self.pay(PayCase::Normal, seq).await,
                    ),
                    Some((no, tseq)) => {
                        let body = RefundRequest::new(
                            format!("R{}", self.common.trade_no(seq)),
                            Money::from_fen(1),
                        );
                        let pq = format!("/v1/trades/{no}/refunds");
                        let o = match self.call(tseq, Method::POST, &pq, to_body(&body)).await {
                            Ok(a) if a.status.is_success() => {
                                match serde_json::from_slice::<terminal::Refund>(&a.body) {
                                    Ok(rf) => {
                                        if rf.status == RefundStatus::Success {
                                            self.book.refunded(&no, 1);
                                        }
                                        Outcome::status(format!("REFUND {}", rf.status))
                                    }
                                    Err(_) => Outcome::invalid(
                                        "refund answer is not the documented refund",
                                    ),
                                }
                            }
                            Ok(a) => Outcome::http(a.status.as_u16(), true),
                            Err(e) => Outcome::transport(e.kind),
                        };
                        (op, o)
                    }
                },
                OpKind::Cancel => (op, self.cancel_flow(seq).await),
            }
        })
    }

    fn kind(&self) -> &'static str {
        "switch"
    }

    fn book(&self) -> &TradeBook {
        &self.book
    }
}

/// The gateway (`gateway.do`) directly, as a signing app client: RSA2
/// requests, verified answers. Follow-ups are `alipay.trade.query`,
/// `.refund` and `.cancel` of trades made earlier; a precreated trade is paid
/// through the simulator's control API when [`Common::sim_base`] is set.
pub struct GatewayTarget {
    url: String,
    app_id: String,
    signer: Arc<protocol::Signer>,
    verifier: Arc<protocol::Verifier>,
    common: Common,
    book: TradeBook,
}

#[derive(Debug, Deserialize, Default)]
struct AnyNode {
    #[serde(default)]
    code: String,
    #[serde(default)]
    sub_code: Option<String>,
    #[serde(default)]
    trade_status: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

impl AnyNode {
    /// The outcome of a non-10000 answer: a 40004 is a business answer the
    /// mix asked for; any other code counts as an error.
    fn refused(&self) -> Outcome {
        Outcome::gateway(
            &self.code,
            self.sub_code.as_deref(),
            self.code() != Some(Code::BusinessFailed),
        )
    }

    /// The gateway code, when it is one of the documented ones.
    fn code(&self) -> Option<Code> {
        Code::parse(&self.code)
    }
}

/// The demo app (docs/SIMULATOR.md, "Starting it"; deploy/keys/README.md):
/// id and keys, INSECURE, for the demo and tests. The keys are compiled in
/// from deploy/keys.
pub mod demo_keys {
    /// The demo app id the simulator serves.
    pub const APP_ID: &str = "2021000000000001";
    /// The demo app's private key (PKCS#8 PEM).
    pub const APP_PRIVATE: &str = include_str!("../../deploy/keys/demo-app-private.pem");
    /// The demo app's public key (SPKI PEM).
    pub const APP_PUBLIC: &str = include_str!("../../deploy/keys/demo-app-public.pem");
    /// The simulator's "Alipay" private key.
    pub const ALIPAY_PRIVATE: &str = include_str!("../../deploy/keys/demo-alipay-private.pem");
    /// The "Alipay public key" that verifies the simulator.
    pub const ALIPAY_PUBLIC: &str = include_str!("../../deploy/keys/demo-alipay-public.pem");
}

impl GatewayTarget {
    /// A target at `url` (…/gateway.do) signing as `app_id` with
    /// `app_private_key` and verifying answers with `alipay_public_key` (key
    /// text: PEM or bare base64, as [`protocol::RsaSigner::from_text`] and
    /// [`protocol::RsaVerifier::from_text`] read it).
    ///
    /// # Errors
    /// [`LoadgenError::Key`] naming `--app-private-key` or
    /// `--alipay-public-key` when that key cannot be read.
    pub fn new(
        url: &str,
        app_id: &str,
        app_private_key: &str,
        alipay_public_key: &str,
        common: Common,
    ) -> Result<Self> {
        let signer =
            protocol::Signer::from_text(app_private_key).map_err(|e| LoadgenError::Key {
                what: "--app-private-key",
                reason: e.to_string(),
            })?;
        // The crypto library's one-time set-up now, not in the first requests
        // of the load (they stalled for it: about 50 ms at every start).
        signer.warm_up().map_err(|e| LoadgenError::Key {
            what: "--app-private-key",
            reason: e.to_string(),
        })?;
        let verifier =
            protocol::Verifier::from_text(alipay_public_key).map_err(|e| LoadgenError::Key {
                what: "--alipay-public-key",
                reason: e.to_string(),
            })?;
        Ok(GatewayTarget {
            url: url.to_string(),
            app_id: app_id.to_string(),
            signer: Arc::new(signer),
            verifier: Arc::new(verifier),
            common,
            book: TradeBook::default(),
        })
    }

    async fn call(
        &self,
        method: &str,
        biz: serde_json::Value,
    ) -> std::result::Result<AnyNode, Outcome> {
        let ts = protocol::clock::gateway_now();
        let req = protocol::request::sign_request(
            &self.signer,
            &self.app_id,
            method,
            &biz.to_string(),
            &ts,
            protocol::request::CommonOptions::default(),
        )
        .map_err(|_| Outcome::invalid("signing failed"))?;
        let a = self
            .common
            .http
            .send(
                Method::POST,
                &self.url,
                &[("content-type", protocol::request::FORM_CONTENT_TYPE)],
                Bytes::from(req.body),
            )
            .await
            .map_err(|e| Outcome::transport(e.kind))?;
        if !a.status.is_success() {
            return Err(Outcome::http(a.status.as_u16(), true));
        }
        let text =
            std::str::from_utf8(&a.body).map_err(|_| Outcome::invalid("answer not UTF-8"))?;
        let node = protocol::method::response_node_of(method);
        match protocol::response::verify_response::<AnyNode, _>(text, &node, &self.verifier) {
            Ok(v) => Ok(v.body),
            Err(protocol::ResponseError::BadSignature) => Err(Outcome::invalid("signature")),
            Err(protocol::ResponseError::Unsigned(st)) => {
                Err(Outcome::gateway(&st.code, st.sub_code.as_deref(), true))
            }
            Err(_) => Err(Outcome::invalid("answer")),
        }
    }

    async fn pay(&self, case: PayCase, seq: u64) -> Outcome {
        let no = self.common.trade_no(seq);
        let amount = amount_for(seq);
        let code = auth_code_for(case, &self.common.run_id, seq);
        let biz = serde_json::json!({
            "out_trade_no": no, "scene": "bar_code", "auth_code": code,
            "subject": "loadgen", "total_amount": fen_to_wire(amount),
        });
        let name = OpKind::Pay(case).name();
        self.book.created(&no, &name, amount, "SENT", seq);
        match self.call("alipay.trade.pay", biz).await {
            Ok(n) => {
                let status = match n.code() {
                    Some(Code::Success) => Status::Success.as_str(),
                    Some(Code::PayInProcess) => Status::WaitBuyerPay.as_str(),
                    Some(Code::ServiceUnavailable) => Status::Unknown.as_str(),
                    Some(Code::BusinessFailed) => Status::Failed.as_str(),
                    _ => "OTHER",
                };
                self.book.created(&no, &name, amount, status, seq);
                let expected_unknown = matches!(case, PayCase::Unknown2000 | PayCase::Unknown2001);
                let error = match n.code() {
                    Some(Code::Success | Code::PayInProcess | Code::BusinessFailed) => false,
                    Some(Code::ServiceUnavailable) => !expected_unknown,
                    _ => true,
                };
                if n.code() == Some(Code::Success) {
                    Outcome::status("SUCCESS")
                } else {
                    Outcome::gateway(&n.code, n.sub_code.as_deref(), error)
                }
            }
            // A hang or a reset is what 9001 / 9002 ask for: an outcome, not an error.
            Err(mut o)
                if matches!(case, PayCase::Hang9001 | PayCase::Reset9002)
                    && o.kind == crate::measure::OutcomeKind::Transport =>
            {
                o.error = false;
                o
            }
            Err(o) => o,
        }
    }

    async fn precreate(&self, seq: u64) -> Outcome {
        let no = self.common.trade_no(seq);
        let amount = amount_for(seq);
        let biz = serde_json::json!({
            "out_trade_no": no, "subject": "loadgen qr", "total_amount": fen_to_wire(amount),
        });
        self.book.created(&no, "precreate", amount, "SENT", seq);
        match self.call("alipay.trade.precreate", biz).await {
            Ok(n) if n.code() == Some(Code::Success) => {
                self.book.status(&no, "WAIT_BUYER_PAY");
                match self.common.buyer_pay(&no).await {
                    Some(o) if !o.error => {
                        self.book.status(&no, "SUCCESS");
                        o
                    }
                    Some(o) => o,
                    None => Outcome::status("WAIT_BUYER_PAY"),
                }
            }
            Ok(n) => Outcome::gateway(&n.code, n.sub_code.as_deref(), true),
            Err(o) => o,
        }
    }
}

impl Target for GatewayTarget {
    fn execute(&self, op: OpKind, seq: u64) -> BoxFut<'_, (OpKind, Outcome)> {
        Box::pin(async move {
            let r = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            match op {
                OpKind::Pay(c) => (op, self.pay(c, seq).await),
                OpKind::Precreate => (op, self.precreate(seq).await),
                OpKind::Query => match self.book.any(r) {
                    None => (
                        OpKind::Pay(PayCase::Normal),
                        self.pay(PayCase::Normal, seq).await,
                    ),
                    Some((no, _)) => {
                        let o = match self
                            .call(
                                "alipay.trade.query",
                                serde_json::json!({ "out_trade_no": no }),
                            )
                            .await
                        {
                            Ok(n) if n.code() == Some(Code::Success) => Outcome::status(
                                n.trade_status
                                    .unwrap_or_else(|| Code::Success.as_str().into()),
                            ),
                            Ok(n) => n.refused(),
                            Err(o) => o,
                        };
                        (op, o)
                    }
                },
                OpKind::Refund => match self.book.paid_for_refund(r) {
                    None => (
                        OpKind::Pay(PayCase::Normal),
                        self.pay(PayCase::Normal, seq).await,
                    ),
                    Some((no, _)) => {
                        let biz = serde_json::json!({
                            "out_trade_no": no, "refund_amount": "0.01",
                            "out_request_no": format!("R{}", self.common.trade_no(seq)),
                        });
                        let o = match self.call("alipay.trade.refund", biz).await {
                            Ok(n) if n.code() == Some(Code::Success) => {
                                self.book.refunded(&no, 1);
                                Outcome::status("REFUND SUCCESS")
                            }
                            Ok(n) => n.refused(),
                            Err(o) => o,
                        };
                        (op, o)
                    }
                },
                OpKind::Cancel => match self.book.take_paid(r) {
                    None => (
                        OpKind::Pay(PayCase::Normal),
                        self.pay(PayCase::Normal, seq).await,
                    ),
                    Some((no, _)) => {
                        let o = match self
                            .call(
                                "alipay.trade.cancel",
                                serde_json::json!({ "out_trade_no": no }),
                            )
                            .await
                        {
                            Ok(n) if n.code() == Some(Code::Success) => {
                                self.book.cancelled(&no);
                                Outcome::status(format!(
                                    "CANCELLED {}",
                                    n.action.unwrap_or_default()
                                ))
                            }
                            Ok(n) => n.refused(),
                            Err(o) => o,
                        };
                        (op, o)
                    }
                },
            }
        })
    }

    fn kind(&self) -> &'static str {
        "gateway"
    }

    fn book(&self) -> &TradeBook {
        &self.book
    }
}

/// A default timeout for one target request: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A plain HTTP GET of one URL: the trivial target of benchmarks and tests
/// (the outcome is the HTTP status; 2xx is a success).
pub struct PlainTarget {
    url: String,
    http: Http,
    book: TradeBook,
}

impl PlainTarget {
    /// GETs `url` for every operation.
    pub fn new(url: &str, http: Http) -> Self {
        PlainTarget {
            url: url.to_string(),
            http,
            book: TradeBook::default(),
        }
    }
}

impl Target for PlainTarget {
    fn execute(&self, op: OpKind, _seq: u64) -> BoxFut<'_, (OpKind, Outcome)> {
        Box::pin(async move {
            let o = match self.http.get(&self.url).await {
                Ok(a) if a.status.is_success() => {
                    Outcome::status(format!("HTTP {}", a.status.as_u16()))
                }
                Ok(a) => Outcome::http(a.status.as_u16(), true),
                Err(e) => Outcome::transport(e.kind),
            };
            (op, o)
        })
    }

    fn kind(&self) -> &'static str {
        "http"
    }

    fn book(&self) -> &TradeBook {
        &self.book
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminals_from_a_switch_config() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("payswitch.toml");
        std::fs::write(
            &p,
            format!(
                "[server]\nlisten = [\"127.0.0.1:8080\"]\n\n[[terminals]]\nkey_id = \"POS-1\"\nsecret_hex = \"{}\"\nsmid = \"2088\"\nrate_per_sec = 20\n",
                "ab".repeat(32)
            ),
        )
        .unwrap();
        let t = load_terminals(&p).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].key_id, "POS-1");
        assert!(
            !format!("{:?}", t[0]).contains("abab"),
            "no secret in Debug"
        );
        std::fs::write(&p, "[server]\n").unwrap();
        assert!(load_terminals(&p)
            .unwrap_err()
            .to_string()
            .contains("no [[terminals]]"));
        assert_eq!(t[0].smid.as_deref(), Some("2088"));
        assert_eq!(
            t[0].attribution(),
            Some(Attribution {
                sub_merchant_id: Some("2088".into()),
                ..Default::default()
            })
        );
        let bad = [Terminal::new("k", "abcd")];
        assert_eq!(bad[0].attribution(), None);
        let common = Common {
            run_id: "LGx".into(),
            sim_base: None,
            http: Http::new(Duration::from_secs(1)),
        };
        let e = SwitchTarget::new("http://127.0.0.1:1", &bad, common, 0)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("terminals[0].secret_hex") && e.contains("32 bytes"),
            "{e}"
        );
    }

    #[test]
    fn onboarded_numbers() {
        let g = onboarded_gateway_no("2088000000000001", "A1").unwrap();
        assert_eq!(g.len(), 15);
        assert!(g.starts_with('S') && g.ends_with("_A1"), "{g}");
        assert_ne!(g, onboarded_gateway_no("2088000000000002", "A1").unwrap());
        assert_eq!(
            onboarded_gateway_no("2088000000000001", &"9".repeat(64))
                .unwrap()
                .len(),
            64
        );
        assert_eq!(onboarded_gateway_no("2088x", "A1"), None);
        assert_eq!(onboarded_gateway_no("20880000000000011", "A1"), None);
    }

    /// The mirror of the switch's scheme gives the switch's numbers.
    #[cfg(feature = "demo")]
    #[test]
    fn onboarded_numbers_are_the_switchs() {
        use engine::merchants::numbers::gateway_out_trade_no;
        for (smid, no) in [
            ("2088000000000001", "A1".to_string()),
            ("2088577692854803", "LG1a233722aa30000000000".to_string()),
            ("9999999999999999", "x".repeat(52)),
            ("2088841210927410", "y".repeat(64)),
        ] {
            assert_eq!(
                onboarded_gateway_no(smid, &no),
                Some(gateway_out_trade_no(Some(smid), &no).unwrap()),
                "{smid} {no}"
            );
        }
    }

    #[test]
    fn auth_codes_and_amounts() {
        let mut rng = rand::thread_rng();
        for case in [PayCase::Normal, PayCase::Wait1003, PayCase::Reset9002] {
            let c = auth_code(case, &mut rng);
            assert!(protocol::AuthCode::parse(&c).is_ok(), "{c}");
            assert!(c.ends_with(case.suffix()));
            let d = auth_code_for(case, "LG19a2b3c4d5e", 7);
            assert!(protocol::AuthCode::parse(&d).is_ok(), "{d}");
            assert!(d.ends_with(case.suffix()) && d.starts_with("28"), "{d}");
            assert_eq!(d, auth_code_for(case, "LG19a2b3c4d5e", 7));
        }
        // Distinct per trade and per run.
        let codes: std::collections::HashSet<String> = (0..10_000)
            .flat_map(|seq| ["LGa", "LGb"].map(|run| auth_code_for(PayCase::Normal, run, seq)))
            .collect();
        assert!(codes.len() >= 19_990, "{}", codes.len());
        for seq in 0..1000 {
            let a = amount_for(seq);
            assert!((100..100_000).contains(&a));
        }
        assert_eq!(fen_to_wire(8888), "88.88");
        assert_eq!(wire_to_fen("88.88"), Some(8888));
    }
}

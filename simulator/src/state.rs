//! The simulator's shared state: configuration, prepared keys, the ledger,
//! the current profile and the notifier, shared by `Arc` between the
//! connection tasks and the background tasks.
//!
//! Guarantee: keys are parsed once here; the request path reads the app
//! verifiers from an immutable map and the profile through a cheap read lock
//! that is written only by the control API.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::RwLock;
use protocol::{Signer, Verifier};
use tokio::sync::watch;

use crate::ledger::Ledger;
use crate::merchants::{HeartbeatLog, MerchantBook};
use crate::notify::Notifier;
use crate::profile::Profile;
use crate::{SimConfig, SimError};

/// The shared state of one running simulator, built once by [`Sim::new`]
/// at start and shared as a [`SharedSim`] by the connection tasks, the
/// methods, the control API and the background tasks (password payments,
/// 9003 landings, notifications, the retention sweeper).
pub struct Sim {
    /// The configuration it started with (never changed afterwards).
    pub cfg: SimConfig,
    /// The verifier of each app's requests, by app id (prepared once).
    pub apps: HashMap<String, Verifier>,
    /// Signs every response and notification with the simulator's key.
    pub signer: Arc<Signer>,
    /// The PEM public key of `signer`, served by `GET /_sim/alipay-public-key`.
    pub public_key_pem: String,
    /// Every trade the simulated gateway knows.
    pub ledger: Ledger,
    /// The current scenario profile; replaced whole by `PUT /_sim/profile`
    /// or [`crate::SimHandle::set_profile`], read through [`Sim::profile()`].
    pub profile: RwLock<Arc<Profile>>,
    /// Sends notifications and records their attempts.
    pub notifier: Notifier,
    /// Turns `true` when the simulator shuts down: every sleep and
    /// background task watches it.
    pub shutdown: watch::Receiver<bool>,
    /// `http://127.0.0.1:PORT` (`https://` with TLS), once bound: the base of
    /// bill download URLs.
    pub base_url: String,
    /// Calls per (trade, method), for the fault draws of the profile
    /// ([`Sim::next_call`]); cleared by `POST /_sim/reset`.
    pub calls: DashMap<String, u64>,
    /// The indirect apps (`SimConfig::indirect_apps`).
    pub indirect: HashSet<String>,
    /// Sub-merchants onboarded through ant.merchant.expand.indirect.*.
    pub merchants: MerchantBook,
    /// monitor.heartbeat.syn calls received.
    pub heartbeats: HeartbeatLog,
    /// The shift of gateway time from the wall clock (`POST /_sim/clock`), seconds.
    pub clock_offset_secs: std::sync::atomic::AtomicI64,
    /// When the simulator started (wall clock): the apps exist from that day.
    pub started_at: time::OffsetDateTime,
    /// Bill discrepancies (`POST /_sim/bills/{date}/inject`): (bill_date, kind, out_trade_no).
    pub bill_injections: parking_lot::Mutex<Vec<(String, String, String)>>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("cfg", &self.cfg)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Checks the configuration, prepares keys and builds the empty state;
    /// `base_url` is what [`Sim::base_url`] holds, `shutdown` the receiver
    /// every background task watches. Called by [`crate::start`].
    ///
    /// # Errors
    ///
    /// [`SimError::Profile`] when the profile is not valid;
    /// [`SimError::Config`] when the time scale is not a positive finite
    /// number, `default_trade_timeout` exceeds 366 days,
    /// `refund_window_days` is outside 1 to 3660, an indirect app is not one
    /// of the apps, or the notification client cannot be set up;
    /// [`SimError::AppKey`] when an app's public key does not parse;
    /// [`SimError::AlipayKey`] when the simulator's private key does not.
    pub fn new(
        cfg: SimConfig,
        base_url: String,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Sim, SimError> {
        cfg.profile.validate()?;
        if !(cfg.time_scale > 0.0 && cfg.time_scale.is_finite()) {
            return Err(SimError::Config(
                "time_scale must be a positive number".into(),
            ));
        }
        if cfg.default_trade_timeout > std::time::Duration::from_secs(366 * 86_400) {
            return Err(SimError::Config(
                "default_trade_timeout must be at most 366 days".into(),
            ));
        }
        if !(1..=3660).contains(&cfg.refund_window_days) {
            return Err(SimError::Config(format!(
                "refund_window_days must be from 1 to 3660, not {}",
                cfg.refund_window_days
            )));
        }
        let mut apps = HashMap::new();
        for a in &cfg.apps {
            let v = Verifier::from_text(&a.public_key).map_err(|source| SimError::AppKey {
                app_id: a.app_id.clone(),
                source,
            })?;
            apps.insert(a.app_id.clone(), v);
        }
        let mut indirect = HashSet::new();
        for a in &cfg.indirect_apps {
            if !apps.contains_key(a) {
                return Err(SimError::Config(format!(
                    "indirect_apps: {a} is not one of the apps"
                )));
            }
            indirect.insert(a.clone());
        }
        let signer = Signer::from_text(&cfg.alipay_private_key).map_err(SimError::AlipayKey)?;
        // The crypto library's one-time set-up now, not in the first answer.
        signer
            .warm_up()
            .map_err(|e| SimError::Config(format!("alipay private key cannot sign: {e}")))?;
        let public_key_pem = signer.public_key_pem();
        let profile = RwLock::new(Arc::new(cfg.profile.clone()));
        let notifier = Notifier::new(cfg.notify_insecure_tls)
            .map_err(|e| SimError::Config(format!("notification TLS: {e}")))?;
        Ok(Sim {
            apps,
            signer: Arc::new(signer),
            public_key_pem,
            calls: DashMap::new(),
            indirect,
            merchants: MerchantBook::default(),
            heartbeats: HeartbeatLog::default(),
            clock_offset_secs: std::sync::atomic::AtomicI64::new(0),
            started_at: time::OffsetDateTime::now_utc(),
            bill_injections: parking_lot::Mutex::new(Vec::new()),
            ledger: Ledger::default(),
            profile,
            notifier,
            shutdown,
            base_url,
            cfg,
        })
    }

    /// Whether `app_id` is an indirect app (trades need an onboarded smid).
    pub fn is_indirect(&self, app_id: &str) -> bool {
        self.indirect.contains(app_id)
    }

    /// Gateway time: the wall clock shifted by `POST /_sim/clock`. Bill
    /// availability and bill URL expiry follow it; trades are booked at wall
    /// clock time, so a shift of one day puts today's trades in yesterday's bill.
    pub fn gateway_now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
            + time::Duration::seconds(
                self.clock_offset_secs
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
    }

    /// The current gateway day (Beijing date of [`Sim::gateway_now`]).
    pub fn gateway_day(&self) -> time::Date {
        self.gateway_now()
            .to_offset(protocol::clock::BEIJING)
            .date()
    }

    /// The current profile (a cheap clone of the `Arc`; a profile replaced
    /// meanwhile does not change the one returned).
    pub fn profile(&self) -> Arc<Profile> {
        self.profile.read().clone()
    }

    /// The number of earlier calls of `method` for trade `ident` (then counts this one).
    pub fn next_call(&self, ident: &str, method: &str) -> u64 {
        let mut e = self.calls.entry(format!("{method} {ident}")).or_insert(0);
        let n = *e;
        *e += 1;
        n
    }

    /// Sleeps for `d` unless the simulator shuts down first (returns false
    /// then, and at once when it is already shutting down).
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        let mut rx = self.shutdown.clone();
        if *rx.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = rx.wait_for(|v| *v) => false,
        }
    }

    /// Sleeps until `deadline` unless the simulator shuts down first
    /// (returns false then, as [`Sim::sleep`]).
    pub async fn sleep_until(&self, deadline: tokio::time::Instant) -> bool {
        let mut rx = self.shutdown.clone();
        if *rx.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => true,
            _ = rx.wait_for(|v| *v) => false,
        }
    }
}

/// The shared state handle, as the tasks hold it.
pub type SharedSim = Arc<Sim>;

//! The merchant registry: merchants (sub-merchants with their smid) ->
//! stores -> terminals, held in memory and backed by the journal.
//!
//! Loaded once at start from the configuration (`[[merchants]]` and
//! `[[terminals]]`, kept in memory only: the file is their source) and from
//! the journal (tables `merchants`, `stores`, `terminals`, written by the
//! admin API). The terminal lookup of every request ([`Registry::terminal`])
//! is a dashmap read: it never touches the journal. Changes go journal
//! first, then memory (see `crate::admin`), so what authenticates is always
//! durable.
//!
//! Guarantees: a terminal's secrets are never in the journal in clear (they
//! are sealed with [`seal::Sealer`]); during a rotation's grace both the old
//! and the new secret verify, after it only the new one.

pub mod numbers;
pub mod seal;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use parking_lot::Mutex;

use crate::config::{Config, TerminalConfig};
use crate::store::{MerchantRecord, RegistryRecords, RegistryStatus, StoreRecord, TerminalRecord};
use crate::trade::now_ms;
use seal::{SealError, Sealer};

/// The merchant a `[[terminals]]` entry belongs to when it names none.
pub const LAB_MERCHANT: &str = "lab";

/// Why the registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The journal holds this many terminals but no registry key
    /// (`admin.secret_key_file`) is configured to open their secrets.
    #[error("the journal holds {0} terminals with sealed secrets: admin.secret_key_file is required to open them")]
    NoKey(usize),
    /// A sealed secret of the journal does not open (wrong key or corrupt
    /// row).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A journal terminal's key_id is also in `[[terminals]]` (the key_id).
    #[error("terminal {0} of the journal is also declared in [[terminals]]; remove one of them")]
    Duplicate(String),
}

/// Where a registry entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The configuration file (in memory only; changed by editing the file).
    Config,
    /// The journal (created through the admin API).
    Journal,
}

impl Origin {
    /// `config` or `journal`, as the admin API shows it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Journal => "journal",
        }
    }
}

/// A merchant with its stores.
#[derive(Debug, Clone)]
pub struct Merchant {
    /// The merchant as the journal holds it (for a merchant of the
    /// configuration: built from `[[merchants]]`).
    pub record: MerchantRecord,
    /// Its stores (only merchants of the journal have any).
    pub stores: Vec<StoreRecord>,
    /// Where it was declared.
    pub origin: Origin,
}

/// Token bucket: (tokens, last refill).
type Bucket = Arc<Mutex<(f64, Instant)>>;

/// A registered terminal: what authenticates it and what its trades carry
/// to the gateway (`cfg.smid`, `cfg.store_id`, `cfg.terminal_id`).
pub struct Terminal {
    /// key_id, the current secret, smid (the merchant's), store and terminal ids, rate.
    pub cfg: TerminalConfig,
    /// The external_id of the merchant it belongs to.
    pub external_id: String,
    /// Active, or suspended (no new payments).
    pub status: RegistryStatus,
    /// The equipment type given at registration (admin API), if any.
    pub equipment_type: Option<String>,
    /// The secret before the last rotation and until when (ms) it verifies.
    pub previous: Option<([u8; 32], i64)>,
    /// Where it was declared.
    pub origin: Origin,
    /// When it was registered (Unix ms; 0 for the configuration's).
    pub created_ms: i64,
    /// When it last changed (Unix ms; 0 for the configuration's).
    pub updated_ms: i64,
    bucket: Bucket,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("cfg", &self.cfg)
            .field("external_id", &self.external_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Terminal {
    /// A terminal of the configuration (active, no rotation).
    pub fn from_config(cfg: TerminalConfig, external_id: &str) -> Terminal {
        let bucket = Arc::new(Mutex::new((cfg.burst, Instant::now())));
        Terminal {
            cfg,
            external_id: external_id.to_owned(),
            status: RegistryStatus::Active,
            equipment_type: None,
            previous: None,
            origin: Origin::Config,
            created_ms: 0,
            updated_ms: 0,
            bucket,
        }
    }

    /// Takes one token of the terminal's bucket (refilled at
    /// `cfg.rate_per_sec`, at most `cfg.burst`); false when the terminal is
    /// over its rate (the request answers 429).
    pub fn take_token(&self) -> bool {
        let mut b = self.bucket.lock();
        let now = Instant::now();
        let refill = now.duration_since(b.1).as_secs_f64() * self.cfg.rate_per_sec;
        b.0 = (b.0 + refill).min(self.cfg.burst);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// The secrets that verify at `now_ms`: the current one, and the
    /// previous one while its grace lasts.
    pub fn secrets_at(&self, now_ms: i64) -> impl Iterator<Item = &[u8; 32]> {
        let prev = self
            .previous
            .as_ref()
            .filter(|(_, until)| now_ms < *until)
            .map(|(s, _)| s);
        std::iter::once(&self.cfg.secret).chain(prev)
    }
}

/// Why a terminal may not start a new payment (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Suspended {
    /// The terminal itself is suspended.
    #[error(
        "this terminal is suspended: no new payments (queries, cancels and refunds still work)"
    )]
    Terminal,
    /// The terminal's merchant is suspended (or not in the registry).
    #[error("this terminal's merchant is suspended: no new payments (queries, cancels and refunds still work)")]
    Merchant,
}

impl Suspended {
    /// The error code of the 403 answer: `terminal_suspended` or
    /// `merchant_suspended`.
    pub const fn code(self) -> &'static str {
        match self {
            Suspended::Terminal => "terminal_suspended",
            Suspended::Merchant => "merchant_suspended",
        }
    }
}

/// The registry: every merchant and terminal, in memory, for the request
/// path and the admin API.
pub struct Registry {
    terminals: DashMap<String, Arc<Terminal>>,
    merchants: DashMap<String, Arc<Merchant>>,
    sealer: Option<Sealer>,
    /// Admin changes run one at a time (read, decide, journal, install).
    changes: tokio::sync::Mutex<()>,
}

fn config_merchant(external_id: &str, name: &str, smid: Option<String>) -> MerchantRecord {
    MerchantRecord {
        external_id: external_id.to_owned(),
        name: name.to_owned(),
        alias_name: name.to_owned(),
        service_phone: String::new(),
        category_id: String::new(),
        source: None,
        smid,
        status: RegistryStatus::Active,
        gateway_fee_bps: 0,
        merchant_fee_bps: 0,
        relay_url: None,
        contact_info: serde_json::json!([]),
        address_info: serde_json::json!([]),
        bankcard_info: serde_json::json!([]),
        service_codes: serde_json::json!([]),
        created_ms: 0,
        updated_ms: 0,
    }
}

impl Registry {
    /// A registry of these terminals only, in memory, under the lab merchant
    /// (library users and tests that check signatures).
    pub fn in_memory(terminals: &[TerminalConfig]) -> Registry {
        let r = Registry::empty(None);
        r.put_merchant(Merchant {
            record: config_merchant(LAB_MERCHANT, LAB_MERCHANT, None),
            stores: Vec::new(),
            origin: Origin::Config,
        });
        for t in terminals {
            r.put_terminal(Terminal::from_config(t.clone(), LAB_MERCHANT));
        }
        r
    }

    fn empty(sealer: Option<Sealer>) -> Registry {
        Registry {
            terminals: DashMap::new(),
            merchants: DashMap::new(),
            sealer,
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// The configuration's merchants and terminals, then the journal's.
    ///
    /// # Errors
    /// [`RegistryError::NoKey`] when the journal holds terminals and no
    /// registry key is configured; [`RegistryError::Seal`] when a sealed
    /// secret does not open; [`RegistryError::Duplicate`] when a journal
    /// terminal's key_id is also in the configuration.
    pub fn load(
        cfg: &Config,
        sealer: Option<Sealer>,
        recs: RegistryRecords,
    ) -> Result<Registry, RegistryError> {
        let r = Registry::empty(sealer);
        let mut declared: HashMap<&str, &crate::config::MerchantConfig> = HashMap::new();
        for m in &cfg.merchants {
            declared.insert(&m.external_id, m);
        }
        let mut used: Vec<&str> = cfg
            .terminals
            .iter()
            .map(|t| {
                cfg.terminal_merchant
                    .get(&t.key_id)
                    .map_or(LAB_MERCHANT, String::as_str)
            })
            .collect();
        used.extend(cfg.merchants.iter().map(|m| m.external_id.as_str()));
        for ext in used {
            if r.merchants.contains_key(ext) {
                continue;
            }
            let mut rec = match declared.get(ext) {
                Some(m) => config_merchant(ext, &m.name, m.smid.clone()),
                None => config_merchant(ext, ext, None),
            };
            if let Some(m) = declared.get(ext) {
                rec.relay_url = m.relay_url.clone();
            }
            r.put_merchant(Merchant {
                record: rec,
                stores: Vec::new(),
                origin: Origin::Config,
            });
        }
        for t in &cfg.terminals {
            let ext = cfg
                .terminal_merchant
                .get(&t.key_id)
                .map_or(LAB_MERCHANT, String::as_str);
            let mut tc = t.clone();
            if tc.smid.is_none() {
                tc.smid = r.merchant(ext).and_then(|m| m.record.smid.clone());
            }
            r.put_terminal(Terminal::from_config(tc, ext));
        }
        for m in recs.merchants {
            // The journal wins over a config merchant of the same external_id.
            r.put_merchant(Merchant {
                record: m,
                stores: Vec::new(),
                origin: Origin::Journal,
            });
        }
        for s in recs.stores {
            if let Some(m) = r.merchant(&s.external_id) {
                let mut m = (*m).clone();
                m.stores.push(s);
                r.put_merchant(m);
            }
        }
        if !recs.terminals.is_empty() && r.sealer.is_none() {
            return Err(RegistryError::NoKey(recs.terminals.len()));
        }
        for t in recs.terminals {
            if r.terminals.contains_key(&t.key_id) {
                return Err(RegistryError::Duplicate(t.key_id));
            }
            let term = r.terminal_from_record(&t, None)?;
            r.put_terminal(term);
        }
        Ok(r)
    }

    /// Whether terminals can be created (a registry key is configured).
    pub fn can_seal(&self) -> bool {
        self.sealer.is_some()
    }

    /// Seals a secret for the journal (see [`Sealer::seal`]); None without a
    /// registry key.
    ///
    /// # Errors
    /// As [`Sealer::seal`].
    pub fn seal(&self, key_id: &str, secret: &[u8; 32]) -> Result<Option<String>, SealError> {
        self.sealer
            .as_ref()
            .map(|s| s.seal(key_id, secret))
            .transpose()
    }

    /// The in-memory terminal of a journal record (secrets opened; the rate
    /// bucket of `keep` carried over).
    ///
    /// # Errors
    /// [`RegistryError::NoKey`] without a registry key, [`RegistryError::Seal`]
    /// when its current or previous secret does not open.
    pub fn terminal_from_record(
        &self,
        t: &TerminalRecord,
        keep: Option<&Terminal>,
    ) -> Result<Terminal, RegistryError> {
        let sealer = self.sealer.as_ref().ok_or(RegistryError::NoKey(1))?;
        let secret = sealer.open(&t.key_id, &t.secret_sealed)?;
        let previous = match (&t.previous_sealed, t.previous_until_ms) {
            (Some(p), Some(until)) => Some((sealer.open(&t.key_id, p)?, until)),
            _ => None,
        };
        let smid = self
            .merchant(&t.external_id)
            .and_then(|m| m.record.smid.clone());
        let cfg = TerminalConfig {
            key_id: t.key_id.clone(),
            secret,
            smid,
            store_id: Some(t.store_id.clone()),
            terminal_id: Some(t.terminal_id.clone()),
            rate_per_sec: t.rate_per_sec,
            burst: t.burst,
        };
        let bucket = match keep {
            Some(k) if k.cfg.burst == t.burst => k.bucket.clone(),
            _ => Arc::new(Mutex::new((t.burst, Instant::now()))),
        };
        Ok(Terminal {
            cfg,
            external_id: t.external_id.clone(),
            status: t.status,
            equipment_type: t.equipment_type.clone(),
            previous,
            origin: Origin::Journal,
            created_ms: t.created_ms,
            updated_ms: t.updated_ms,
            bucket,
        })
    }

    /// A terminal by key_id (the hot path: memory only).
    pub fn terminal(&self, key_id: &str) -> Option<Arc<Terminal>> {
        self.terminals.get(key_id).map(|t| t.clone())
    }

    /// A merchant by external_id.
    pub fn merchant(&self, external_id: &str) -> Option<Arc<Merchant>> {
        self.merchants.get(external_id).map(|m| m.clone())
    }

    /// The merchant holding a smid.
    pub fn merchant_by_smid(&self, smid: &str) -> Option<Arc<Merchant>> {
        self.merchants
            .iter()
            .find(|m| m.record.smid.as_deref() == Some(smid))
            .map(|m| m.clone())
    }

    /// Every merchant, in external_id order.
    pub fn merchants(&self) -> Vec<Arc<Merchant>> {
        let mut v: Vec<Arc<Merchant>> = self.merchants.iter().map(|m| m.clone()).collect();
        v.sort_by(|a, b| a.record.external_id.cmp(&b.record.external_id));
        v
    }

    /// Every terminal, in no order (the operator console's lists).
    pub fn terminals(&self) -> Vec<Arc<Terminal>> {
        self.terminals.iter().map(|t| t.clone()).collect()
    }

    /// A merchant's terminals.
    pub fn terminals_of(&self, external_id: &str) -> Vec<Arc<Terminal>> {
        self.terminals
            .iter()
            .filter(|t| t.external_id == external_id)
            .map(|t| t.clone())
            .collect()
    }

    /// How many terminals a merchant has.
    pub fn terminal_count(&self, external_id: &str) -> usize {
        self.terminals
            .iter()
            .filter(|t| t.external_id == external_id)
            .count()
    }

    /// The smid of the terminal's merchant when that merchant was onboarded
    /// through the admin API (its numbers are then prefixed, see
    /// [`numbers`]); None for a merchant of the configuration.
    pub fn onboarded_smid(&self, key_id: &str) -> Option<String> {
        let t = self.terminals.get(key_id)?;
        let m = self.merchants.get(&t.external_id)?;
        if m.origin != Origin::Journal {
            return None;
        }
        m.record.smid.clone()
    }

    /// The smid a terminal's trades carry (None: unknown terminal or no smid).
    pub fn smid_of(&self, key_id: &str) -> Option<String> {
        self.terminals.get(key_id).and_then(|t| t.cfg.smid.clone())
    }

    /// Whether the terminal may start a new payment (pay, precreate).
    ///
    /// # Errors
    /// [`Suspended::Terminal`] when the terminal is suspended;
    /// [`Suspended::Merchant`] when its merchant is suspended or unknown.
    pub fn admit_payment(&self, t: &Terminal) -> Result<(), Suspended> {
        if t.status == RegistryStatus::Suspended {
            return Err(Suspended::Terminal);
        }
        match self.merchants.get(&t.external_id) {
            Some(m) if m.record.status == RegistryStatus::Active => Ok(()),
            _ => Err(Suspended::Merchant),
        }
    }

    /// Installs (or replaces) a merchant in memory.
    pub fn put_merchant(&self, m: Merchant) {
        self.merchants
            .insert(m.record.external_id.clone(), Arc::new(m));
    }

    /// Installs (or replaces) a terminal in memory.
    pub fn put_terminal(&self, t: Terminal) {
        self.terminals.insert(t.cfg.key_id.clone(), Arc::new(t));
    }

    /// Brings the memory up to the journal's registry (several nodes: an
    /// admin change made at another node). Merchants, their stores and
    /// terminals of the journal replace those in memory when they differ; a
    /// terminal keeps its rate bucket. Returns how many entries changed.
    ///
    /// # Errors
    /// [`RegistryError::Seal`] when a sealed secret does not open,
    /// [`RegistryError::NoKey`] when terminals exist and no key is set.
    pub fn sync(&self, recs: RegistryRecords) -> Result<usize, RegistryError> {
        let mut changed = 0;
        let mut stores: HashMap<String, Vec<StoreRecord>> = HashMap::new();
        for s in recs.stores {
            stores.entry(s.external_id.clone()).or_default().push(s);
        }
        for m in recs.merchants {
            let st = stores.remove(&m.external_id).unwrap_or_default();
            let same = self.merchants.get(&m.external_id).is_some_and(|cur| {
                cur.origin == Origin::Journal && cur.record == m && cur.stores == st
            });
            if !same {
                changed += 1;
                self.put_merchant(Merchant {
                    record: m,
                    stores: st,
                    origin: Origin::Journal,
                });
            }
        }
        for t in recs.terminals {
            let cur = self.terminal(&t.key_id);
            if let Some(c) = &cur {
                if c.origin != Origin::Journal
                    || (c.updated_ms == t.updated_ms && c.status == t.status)
                {
                    continue;
                }
            }
            let term = self.terminal_from_record(&t, cur.as_deref())?;
            self.put_terminal(term);
            changed += 1;
        }
        Ok(changed)
    }

    /// Serialises admin changes: hold the guard from reading the current
    /// state to installing the new one.
    pub async fn change(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }
}

/// Milliseconds now (re-exported for the admin API).
pub fn now() -> i64 {
    now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tc(key: &str, secret: u8) -> TerminalConfig {
        TerminalConfig {
            key_id: key.into(),
            secret: [secret; 32],
            smid: None,
            store_id: None,
            terminal_id: None,
            rate_per_sec: 1.0,
            burst: 2.0,
        }
    }

    #[test]
    fn previous_secret_verifies_only_during_grace() {
        let mut t = Terminal::from_config(tc("K", 1), LAB_MERCHANT);
        t.previous = Some(([2; 32], 1_000));
        assert_eq!(t.secrets_at(999).count(), 2);
        assert_eq!(t.secrets_at(1_000).count(), 1);
        assert_eq!(t.secrets_at(5_000).next(), Some(&[1; 32]));
    }

    #[test]
    fn suspension_of_terminal_or_merchant() {
        let r = Registry::in_memory(&[tc("K", 1)]);
        let t = r.terminal("K").unwrap();
        assert!(r.admit_payment(&t).is_ok());
        let mut m = (*r.merchant(LAB_MERCHANT).unwrap()).clone();
        m.record.status = RegistryStatus::Suspended;
        r.put_merchant(m);
        assert_eq!(r.admit_payment(&t), Err(Suspended::Merchant));
        let mut t2 = Terminal::from_config(tc("K", 1), LAB_MERCHANT);
        t2.status = RegistryStatus::Suspended;
        assert_eq!(r.admit_payment(&t2), Err(Suspended::Terminal));
    }
}

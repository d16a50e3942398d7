//! The sub-merchants onboarded through `ant.merchant.expand.indirect.*` and
//! the `monitor.heartbeat.syn` calls received: the simulator's records of
//! both, read by the methods and by the control API.
//!
//! Guarantees: a smid (`sub_merchant_id`) is `2088` + 12 digits, derived from
//! a counter that is never reset (a bijection of it, so smids are unique for
//! the life of the process and the same requests from a fresh start give the
//! same smids); an external_id is unique per app; creating and modifying one
//! merchant happen under one lock, so two concurrent creates of one
//! external_id answer the same smid. Heartbeats are kept in arrival order,
//! at most [`HEARTBEAT_CAP`] (the oldest are dropped first).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use protocol::response::{
    IndirectAddressInfo, IndirectBankcardInfo, IndirectContactInfo, IndirectSiteInfo,
};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The level every onboarded merchant gets (the real gateway grades M0 to M3).
pub const INDIRECT_LEVEL: &str = "INDIRECT_LEVEL_M1";

/// How many heartbeats are kept (the oldest are dropped beyond).
pub const HEARTBEAT_CAP: usize = 100_000;

/// Every field of a create (and what a modify may change), as checked by
/// [`crate::methods::indirect`]; serialised under the request's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct MerchantInfo {
    /// The acquirer's own id of the merchant; unique per app, never changed.
    pub external_id: String,
    /// The merchant's registered name (at most 128 characters).
    pub name: String,
    /// The short name buyers see (at most 64 characters).
    pub alias_name: String,
    /// The customer service phone (digits and `-`).
    pub service_phone: String,
    /// The business category; required unless `mcc` and `org_pid` are given.
    pub category_id: Option<String>,
    /// The 4-digit merchant category code (UnionPay / NetsUnion onboarding,
    /// with `org_pid`).
    pub mcc: Option<String>,
    /// The pid (`2088` + 12 digits) of the organisation, with `mcc`.
    pub org_pid: Option<String>,
    /// The pid of the institution the merchant comes from.
    pub source: Option<String>,
    /// The business licence number.
    pub business_license: Option<String>,
    /// The kind of licence (`NATIONAL_LEGAL`, `NATIONAL_LEGAL_MERGE`,
    /// `INST_RGST_CTF`).
    pub business_license_type: Option<String>,
    /// The contacts (at least one).
    pub contact_info: Vec<IndirectContactInfo>,
    /// The business addresses.
    pub address_info: Vec<IndirectAddressInfo>,
    /// The settlement bank cards.
    pub bankcard_info: Vec<IndirectBankcardInfo>,
    /// The merchant's Alipay logon ids.
    pub logon_id: Vec<String>,
    /// The contents of the merchant's payment codes.
    pub pay_code_info: Vec<String>,
    /// The services granted (a modify's list replaces it).
    pub service_codes: Vec<String>,
    /// Where the merchant sells (web sites, apps...).
    pub site_info: Vec<IndirectSiteInfo>,
    /// A free remark (at most 512 characters).
    pub memo: Option<String>,
}

/// One onboarded sub-merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubMerchant {
    /// Its smid: `2088` + 12 digits ([`smid_of`]).
    pub sub_merchant_id: String,
    /// The app (acquirer) that onboarded it; only its trades may name the smid.
    pub app_id: String,
    /// Its current record.
    pub info: MerchantInfo,
    /// When it was onboarded (wall clock).
    pub created_at: OffsetDateTime,
    /// When it was last modified (its creation before any modify).
    pub modified_at: OffsetDateTime,
    /// How many modifies were applied.
    pub modify_count: u32,
}

impl SubMerchant {
    /// Whether the merchant holds face-to-face service (trades need it).
    pub fn has_f2f(&self) -> bool {
        self.info.service_codes.iter().any(|c| c == "F2F")
    }
}

/// The control API's view of a sub-merchant (`GET /_sim/merchants`): the
/// record's fields flattened, times in gateway format.
#[derive(Debug, Clone, Serialize)]
pub struct SubMerchantView {
    /// [`SubMerchant::sub_merchant_id`].
    pub sub_merchant_id: String,
    /// [`SubMerchant::app_id`].
    pub app_id: String,
    /// Always [`INDIRECT_LEVEL`].
    pub indirect_level: &'static str,
    /// The record, its fields at the top level.
    #[serde(flatten)]
    pub info: MerchantInfo,
    /// [`SubMerchant::created_at`], `yyyy-MM-dd HH:mm:ss` Beijing time.
    pub gmt_create: String,
    /// [`SubMerchant::modified_at`], same format.
    pub gmt_modified: String,
    /// [`SubMerchant::modify_count`].
    pub modify_count: u32,
}

impl SubMerchantView {
    /// The view of `m`.
    pub fn of(m: &SubMerchant) -> SubMerchantView {
        SubMerchantView {
            sub_merchant_id: m.sub_merchant_id.clone(),
            app_id: m.app_id.clone(),
            indirect_level: INDIRECT_LEVEL,
            info: m.info.clone(),
            gmt_create: protocol::clock::format_gateway_time(m.created_at),
            gmt_modified: protocol::clock::format_gateway_time(m.modified_at),
            modify_count: m.modify_count,
        }
    }
}

#[derive(Debug, Default)]
struct Book {
    by_smid: HashMap<String, SubMerchant>,
    /// (app_id, external_id) -> smid.
    by_external: HashMap<(String, String), String>,
    /// smids in onboarding order (for listing).
    order: Vec<String>,
}

/// The onboarded sub-merchants. Touched by the onboarding methods (rare)
/// and read once per trade of an indirect app; one lock is ample.
#[derive(Debug, Default)]
pub struct MerchantBook {
    book: RwLock<Book>,
    counter: AtomicU64,
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new merchant.
    New(SubMerchant),
    /// The external_id was onboarded already: that merchant, unchanged.
    Existing(SubMerchant),
}

/// The smid of counter value `n`: `2088` + 12 digits, a bijection of `n`
/// modulo 10^12 (the multiplier is coprime with 10), so never repeated.
pub fn smid_of(n: u64) -> String {
    const M: u64 = 1_000_000_000_000;
    const A: u64 = 736_481_927_393;
    const B: u64 = 104_729_000_017;
    let v = ((u128::from(n % M) * u128::from(A) + u128::from(B)) % u128::from(M)) as u64;
    format!("2088{v:012}")
}

impl MerchantBook {
    /// Onboards `info` for `app_id`, or answers the merchant its external_id
    /// already names.
    pub fn create(&self, app_id: &str, info: MerchantInfo, at: OffsetDateTime) -> Created {
        let mut b = self.book.write();
        let key = (app_id.to_owned(), info.external_id.clone());
        if let Some(m) = b.by_external.get(&key).and_then(|s| b.by_smid.get(s)) {
            return Created::Existing(m.clone());
        }
        let smid = loop {
            let s = smid_of(self.counter.fetch_add(1, Ordering::Relaxed) + 1);
            if !b.by_smid.contains_key(&s) {
                break s;
            }
        };
        let m = SubMerchant {
            sub_merchant_id: smid.clone(),
            app_id: app_id.to_owned(),
            info,
            created_at: at,
            modified_at: at,
            modify_count: 0,
        };
        b.by_external.insert(key, smid.clone());
        b.by_smid.insert(smid.clone(), m.clone());
        b.order.push(smid);
        Created::New(m)
    }

    /// The merchant of `app_id` with this smid (`None` for another app's).
    pub fn get(&self, app_id: &str, smid: &str) -> Option<SubMerchant> {
        self.book
            .read()
            .by_smid
            .get(smid)
            .filter(|m| m.app_id == app_id)
            .cloned()
    }

    /// Any merchant by smid (control API).
    pub fn get_any(&self, smid: &str) -> Option<SubMerchant> {
        self.book.read().by_smid.get(smid).cloned()
    }

    /// The merchant of `app_id` with this external_id.
    pub fn by_external_id(&self, app_id: &str, external_id: &str) -> Option<SubMerchant> {
        let b = self.book.read();
        b.by_external
            .get(&(app_id.to_owned(), external_id.to_owned()))
            .and_then(|s| b.by_smid.get(s))
            .cloned()
    }

    /// Replaces the record of `smid` with what `f` makes of it (under the
    /// lock), counting the modify; `f` may refuse with an error, which
    /// leaves the record unchanged and is returned. `None` when the smid is
    /// unknown.
    pub fn modify<E>(
        &self,
        smid: &str,
        at: OffsetDateTime,
        f: impl FnOnce(&MerchantInfo) -> Result<MerchantInfo, E>,
    ) -> Option<Result<SubMerchant, E>> {
        let mut b = self.book.write();
        let m = b.by_smid.get_mut(smid)?;
        let info = match f(&m.info) {
            Ok(i) => i,
            Err(e) => return Some(Err(e)),
        };
        m.info = info;
        m.modified_at = at;
        m.modify_count += 1;
        Some(Ok(m.clone()))
    }

    /// Every merchant, in onboarding order.
    pub fn list(&self) -> Vec<SubMerchant> {
        let b = self.book.read();
        b.order
            .iter()
            .filter_map(|s| b.by_smid.get(s).cloned())
            .collect()
    }

    /// Forgets every merchant (the counter goes on, so smids are never reused).
    pub fn clear(&self) {
        *self.book.write() = Book::default();
    }
}

/// One monitor.heartbeat.syn call as received.
#[derive(Debug, Clone, Serialize)]
pub struct Heartbeat {
    /// Arrival number, from 1 (not reset).
    pub seq: u64,
    /// The app that sent it.
    pub app_id: String,
    /// When the simulator received it, `yyyy-MM-dd HH:mm:ss` Beijing time.
    pub received_at: String,
    /// The same instant, Unix milliseconds.
    pub received_at_ms: i128,
    /// `equipment_id` as sent (null when missing).
    pub equipment_id: Option<String>,
    /// The `code` the simulator answered (`10000`, `20000`, `40004`).
    pub code: String,
    /// The `sub_code` it answered, if any.
    pub sub_code: Option<String>,
    /// The `sub_msg` it answered, if any.
    pub sub_msg: Option<String>,
    /// Every biz_content field as sent.
    pub fields: Map<String, Value>,
}

/// The heartbeats received, oldest first.
#[derive(Debug, Default)]
pub struct HeartbeatLog {
    list: Mutex<std::collections::VecDeque<Heartbeat>>,
    seq: AtomicU64,
}

impl HeartbeatLog {
    /// The next arrival number.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Keeps `h`, dropping the oldest beyond [`HEARTBEAT_CAP`].
    pub fn record(&self, h: Heartbeat) {
        let mut l = self.list.lock();
        if l.len() >= HEARTBEAT_CAP {
            l.pop_front();
        }
        l.push_back(h);
    }

    /// The heartbeats of one equipment (all without a filter), newest last.
    pub fn list(&self, equipment_id: Option<&str>) -> Vec<Heartbeat> {
        self.list
            .lock()
            .iter()
            .filter(|h| equipment_id.map_or(true, |e| h.equipment_id.as_deref() == Some(e)))
            .cloned()
            .collect()
    }

    /// Forgets every heartbeat (`POST /_sim/reset`); arrival numbers go on.
    pub fn clear(&self) {
        self.list.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smids_are_unique_and_shaped() {
        let mut seen = std::collections::HashSet::new();
        for n in 1..5000 {
            let s = smid_of(n);
            assert_eq!(s.len(), 16);
            assert!(s.starts_with("2088"));
            assert!(s.bytes().all(|b| b.is_ascii_digit()));
            assert!(seen.insert(s));
        }
        assert_eq!(smid_of(7), smid_of(7));
    }

    #[test]
    fn create_is_idempotent_per_app_and_external_id() {
        let b = MerchantBook::default();
        let at = OffsetDateTime::now_utc();
        let info = MerchantInfo {
            external_id: "M1".into(),
            ..Default::default()
        };
        let Created::New(a) = b.create("app1", info.clone(), at) else {
            panic!("new")
        };
        let Created::Existing(a2) = b.create("app1", info.clone(), at) else {
            panic!("existing")
        };
        assert_eq!(a.sub_merchant_id, a2.sub_merchant_id);
        let Created::New(c) = b.create("app2", info, at) else {
            panic!("other app")
        };
        assert_ne!(a.sub_merchant_id, c.sub_merchant_id);
        assert!(b.get("app2", &a.sub_merchant_id).is_none());
        b.clear();
        assert!(b.list().is_empty());
    }
}

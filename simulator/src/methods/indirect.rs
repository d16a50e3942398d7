//! `ant.merchant.expand.indirect.create`, `.query` and `.modify`
//! (docs/PROTOCOL.md §5, 银行间连商户入驻), and the check that a trade of an
//! indirect app names an onboarded sub-merchant (`sub_merchant.merchant_id`,
//! docs/PROTOCOL.md §9.7).
//!
//! Each method first decides from the request alone (parse and validate
//! every field: [`parse_create`], [`parse_patch`], [`apply_patch`]), then
//! applies the decision to the [`crate::merchants::MerchantBook`].
//!
//! Every refusal is 40004 `ACQ.INVALID_PARAMETER` with a `sub_msg` naming the
//! field (`缺少必选参数<field>` or `参数无效: <field> <why>`; nested fields as
//! `contact_info[0].mobile`), except a trade whose sub-merchant lacks the
//! `F2F` service (40004 `ACQ.ACCESS_FORBIDDEN`). The real sub-codes are
//! UNCONFIRMED (docs/PROTOCOL.md §5); the limits below are the simulator's choice
//! (UNCONFIRMED, documented in docs/SIMULATOR.md).

use protocol::codes::sub;
use protocol::response::{
    serialize_node, IndirectAddressInfo, IndirectBankcardInfo, IndirectContactInfo,
    IndirectMerchantResponse, IndirectQueryResponse, IndirectSiteInfo,
};
use protocol::Code;
use serde_json::{Map, Value};

use super::{biz_failed, now, MethodReply};
use crate::biz::{Biz, BizError};
use crate::merchants::{Created, MerchantInfo, SubMerchant, INDIRECT_LEVEL};
use crate::state::Sim;

type R<T> = Result<T, BizError>;

/// Most entries accepted in one list field (UNCONFIRMED).
pub const MAX_LIST: usize = 20;

fn missing(field: &str) -> BizError {
    BizError {
        sub_code: sub::ACQ_INVALID_PARAMETER,
        sub_msg: format!("缺少必选参数{field}"),
    }
}

fn invalid(field: &str, why: &str) -> BizError {
    BizError {
        sub_code: sub::ACQ_INVALID_PARAMETER,
        sub_msg: format!("参数无效: {field} {why}"),
    }
}

/// A string field of `m` (numbers taken as their text; empty is absent).
fn text(m: &Map<String, Value>, field: &str, name: &str) -> R<Option<String>> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

/// The shape rule of one string field.
#[derive(Clone, Copy)]
enum Shape {
    /// Any text of at most N characters.
    Text(usize),
    /// Digits and `-`, at most N characters.
    Phone(usize),
    /// Letters, digits, `_` and `-`, at most N characters.
    Code(usize),
    /// Exactly N digits.
    Digits(usize),
    /// A partner id: `2088` + 12 digits.
    Pid,
    /// A mainland mobile number: 11 digits starting with 1.
    Mobile,
    /// One of these values.
    OneOf(&'static [&'static str]),
}

fn check(field: &str, v: &str, shape: Shape) -> R<()> {
    let n = v.chars().count();
    let ok = match shape {
        Shape::Text(max) => n <= max,
        Shape::Phone(max) => n <= max && v.bytes().all(|b| b.is_ascii_digit() || b == b'-'),
        Shape::Code(max) => {
            n <= max
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        Shape::Digits(len) => n == len && v.bytes().all(|b| b.is_ascii_digit()),
        Shape::Pid => n == 16 && v.starts_with("2088") && v.bytes().all(|b| b.is_ascii_digit()),
        Shape::Mobile => n == 11 && v.starts_with('1') && v.bytes().all(|b| b.is_ascii_digit()),
        Shape::OneOf(values) => values.contains(&v),
    };
    if ok {
        return Ok(());
    }
    let why = match shape {
        Shape::Text(max) => format!("longer than {max} characters"),
        Shape::Phone(max) => format!("must be digits and '-', at most {max}"),
        Shape::Code(max) => format!("must be letters, digits, '_' or '-', at most {max}"),
        Shape::Digits(len) => format!("must be {len} digits"),
        Shape::Pid => "must be a pid: 2088 and 12 digits".into(),
        Shape::Mobile => "must be 11 digits starting with 1".into(),
        Shape::OneOf(values) => format!("must be one of {}", values.join(", ")),
    };
    Err(invalid(field, &why))
}

/// An optional string field of `m` checked against `shape`.
fn field(m: &Map<String, Value>, prefix: &str, name: &str, shape: Shape) -> R<Option<String>> {
    let full = format!("{prefix}{name}");
    let v = text(m, &full, name)?;
    if let Some(s) = &v {
        check(&full, s, shape)?;
    }
    Ok(v)
}

/// A required string field of `m` checked against `shape`.
fn req_field(m: &Map<String, Value>, prefix: &str, name: &str, shape: Shape) -> R<String> {
    field(m, prefix, name, shape)?.ok_or_else(|| missing(&format!("{prefix}{name}")))
}

/// A list field: a JSON array (or a string holding one), at most [`MAX_LIST`].
fn list(m: &Map<String, Value>, name: &str) -> R<Option<Vec<Value>>> {
    let items = match m.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => return Err(invalid(name, "must be a JSON array")),
        },
        Some(_) => return Err(invalid(name, "must be a JSON array")),
    };
    if items.len() > MAX_LIST {
        return Err(invalid(name, &format!("has more than {MAX_LIST} entries")));
    }
    Ok(Some(items))
}

/// A list of objects, each read by `f` (with its `name[i].` prefix).
fn objects<T>(
    m: &Map<String, Value>,
    name: &str,
    f: impl Fn(&Map<String, Value>, &str) -> R<T>,
) -> R<Option<Vec<T>>> {
    let Some(items) = list(m, name)? else {
        return Ok(None);
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let prefix = format!("{name}[{i}].");
            match v {
                Value::Object(o) => f(o, &prefix),
                _ => Err(invalid(&format!("{name}[{i}]"), "must be an object")),
            }
        })
        .collect::<R<Vec<T>>>()
        .map(Some)
}

/// A list of strings, each checked against `shape`.
fn strings(m: &Map<String, Value>, name: &str, shape: Shape) -> R<Option<Vec<String>>> {
    let Some(items) = list(m, name)? else {
        return Ok(None);
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let full = format!("{name}[{i}]");
            let s = match v {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(invalid(&full, "must be a non-empty string")),
            };
            check(&full, &s, shape)?;
            Ok(s)
        })
        .collect::<R<Vec<String>>>()
        .map(Some)
}

/// The values of `contact_info[].type` (legal person, controller, agent, other).
pub const CONTACT_TYPES: &[&str] = &["LEGAL_PERSON", "CONTROLLER", "AGENT", "OTHER"];
/// The values of `contact_info[].tag[]`.
pub const CONTACT_TAGS: &[&str] = &["02", "06", "11", "08"];
/// The values of `business_license_type`.
pub const LICENSE_TYPES: &[&str] = &["NATIONAL_LEGAL", "NATIONAL_LEGAL_MERGE", "INST_RGST_CTF"];
/// The values of `service_codes[]`; a trade of an indirect app needs `F2F`.
pub const SERVICE_CODES: &[&str] = &["F2F", "PC", "APP", "PRE_F2F", "PRE_APP"];
/// The values of `address_info[].type` (the only one documented, and the default).
pub const ADDRESS_TYPES: &[&str] = &["BUSINESS_ADDRESS"];
/// The values of `site_info[].site_type`: `01` web (needs `site_url`),
/// `02` app (needs `site_name`), `03` service window, `04` official
/// account, `05` other, `06` mini program.
pub const SITE_TYPES: &[&str] = &["01", "02", "03", "04", "05", "06"];

fn contact(o: &Map<String, Value>, p: &str) -> R<IndirectContactInfo> {
    let c = IndirectContactInfo {
        name: req_field(o, p, "name", Shape::Text(64))?,
        contact_type: req_field(o, p, "type", Shape::OneOf(CONTACT_TYPES))?,
        id_card_no: field(o, p, "id_card_no", Shape::Code(32))?,
        mobile: field(o, p, "mobile", Shape::Mobile)?,
        phone: field(o, p, "phone", Shape::Phone(20))?,
        email: field(o, p, "email", Shape::Text(128))?,
        tag: strings_at(o, p, "tag", Shape::OneOf(CONTACT_TAGS))?,
    };
    if let Some(e) = &c.email {
        if !e.contains('@') {
            return Err(invalid(&format!("{p}email"), "must contain @"));
        }
    }
    if c.mobile.is_none() && c.phone.is_none() {
        return Err(missing(&format!("{p}mobile")));
    }
    Ok(c)
}

/// [`strings`] for a nested list: the value under `name`, errors named `prefix` + `name`.
fn strings_at(
    o: &Map<String, Value>,
    prefix: &str,
    name: &str,
    shape: Shape,
) -> R<Option<Vec<String>>> {
    let mut m = Map::new();
    let full = format!("{prefix}{name}");
    if let Some(v) = o.get(name) {
        m.insert(full.clone(), v.clone());
    }
    strings(&m, &full, shape)
}

/// A coordinate: a decimal number within ±`max`, at most 6 decimals.
fn coordinate(o: &Map<String, Value>, p: &str, name: &str, max: f64) -> R<Option<String>> {
    let full = format!("{p}{name}");
    let Some(v) = text(o, &full, name)? else {
        return Ok(None);
    };
    let decimals = v.split_once('.').map_or(0, |(_, d)| d.len());
    let ok = v
        .parse::<f64>()
        .is_ok_and(|x| x.is_finite() && x.abs() <= max)
        && decimals <= 6
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    if !ok {
        return Err(invalid(
            &full,
            &format!("must be a number within ±{max} with at most 6 decimals"),
        ));
    }
    Ok(Some(v))
}

fn address(o: &Map<String, Value>, p: &str) -> R<IndirectAddressInfo> {
    Ok(IndirectAddressInfo {
        province_code: req_field(o, p, "province_code", Shape::Digits(6))?,
        city_code: req_field(o, p, "city_code", Shape::Digits(6))?,
        district_code: req_field(o, p, "district_code", Shape::Digits(6))?,
        address: req_field(o, p, "address", Shape::Text(256))?,
        longitude: coordinate(o, p, "longitude", 180.0)?,
        latitude: coordinate(o, p, "latitude", 90.0)?,
        poiid: field(o, p, "poiid", Shape::Code(64))?,
        address_type: Some(
            field(o, p, "type", Shape::OneOf(ADDRESS_TYPES))?
                .unwrap_or_else(|| "BUSINESS_ADDRESS".into()),
        ),
    })
}

fn bankcard(o: &Map<String, Value>, p: &str) -> R<IndirectBankcardInfo> {
    let card_no = req_field(o, p, "card_no", Shape::Text(32))?;
    if card_no.len() < 8 || !card_no.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(&format!("{p}card_no"), "must be 8 to 32 digits"));
    }
    Ok(IndirectBankcardInfo {
        card_no,
        card_name: req_field(o, p, "card_name", Shape::Text(128))?,
        bank_branch_name: field(o, p, "bank_branch_name", Shape::Text(128))?,
    })
}

fn site(o: &Map<String, Value>, p: &str) -> R<IndirectSiteInfo> {
    let s = IndirectSiteInfo {
        site_type: req_field(o, p, "site_type", Shape::OneOf(SITE_TYPES))?,
        site_url: field(o, p, "site_url", Shape::Text(512))?,
        site_name: field(o, p, "site_name", Shape::Text(128))?,
        account: field(o, p, "account", Shape::Text(128))?,
        password: field(o, p, "password", Shape::Text(128))?,
    };
    // The SDK's doc: a web site needs site_url, an app site_name.
    if s.site_type == "01" && s.site_url.is_none() {
        return Err(missing(&format!("{p}site_url")));
    }
    if s.site_type == "02" && s.site_name.is_none() {
        return Err(missing(&format!("{p}site_name")));
    }
    Ok(s)
}

/// The fields of a create or modify as sent, each checked; absent is `None`.
/// Each field is the [`MerchantInfo`] field of the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    /// [`MerchantInfo::external_id`]: letters, digits, `_`, `-`, at most 64.
    pub external_id: Option<String>,
    /// [`MerchantInfo::name`]: at most 128 characters.
    pub name: Option<String>,
    /// [`MerchantInfo::alias_name`]: at most 64 characters.
    pub alias_name: Option<String>,
    /// [`MerchantInfo::service_phone`]: digits and `-`, at most 20.
    pub service_phone: Option<String>,
    /// [`MerchantInfo::category_id`]: letters, digits, `_`, `-`, at most 32.
    pub category_id: Option<String>,
    /// [`MerchantInfo::mcc`]: 4 digits.
    pub mcc: Option<String>,
    /// [`MerchantInfo::org_pid`]: a pid, `2088` + 12 digits.
    pub org_pid: Option<String>,
    /// [`MerchantInfo::source`]: a pid, `2088` + 12 digits.
    pub source: Option<String>,
    /// [`MerchantInfo::business_license`]: letters, digits, `_`, `-`, at most 64.
    pub business_license: Option<String>,
    /// [`MerchantInfo::business_license_type`]: one of [`LICENSE_TYPES`].
    pub business_license_type: Option<String>,
    /// [`MerchantInfo::contact_info`], each contact checked.
    pub contact_info: Option<Vec<IndirectContactInfo>>,
    /// [`MerchantInfo::address_info`], each address checked (its `type`
    /// defaulted to `BUSINESS_ADDRESS`).
    pub address_info: Option<Vec<IndirectAddressInfo>>,
    /// [`MerchantInfo::bankcard_info`], each card checked.
    pub bankcard_info: Option<Vec<IndirectBankcardInfo>>,
    /// [`MerchantInfo::logon_id`]: at most 100 characters each.
    pub logon_id: Option<Vec<String>>,
    /// [`MerchantInfo::pay_code_info`]: at most 512 characters each.
    pub pay_code_info: Option<Vec<String>>,
    /// [`MerchantInfo::service_codes`]: each one of [`SERVICE_CODES`],
    /// duplicates collapsed.
    pub service_codes: Option<Vec<String>>,
    /// [`MerchantInfo::site_info`], each site checked.
    pub site_info: Option<Vec<IndirectSiteInfo>>,
    /// [`MerchantInfo::memo`]: at most 512 characters.
    pub memo: Option<String>,
}

/// Reads and checks every field present (pure); every list holds at most
/// [`MAX_LIST`] entries.
///
/// # Errors
///
/// A [`BizError`] with `ACQ.INVALID_PARAMETER` naming the first field at
/// fault (nested ones with their index, `contact_info[0].mobile`): a value
/// of the wrong shape or enum, too long, a list that is not a JSON array or
/// is too long, a required field of a nested entry missing.
pub fn parse_patch(biz: &Biz) -> R<Patch> {
    let m = biz.fields();
    let mut service_codes = strings(m, "service_codes", Shape::OneOf(SERVICE_CODES))?;
    if let Some(codes) = service_codes.as_mut() {
        let mut seen = Vec::new();
        codes.retain(|c| {
            let first = !seen.contains(c);
            seen.push(c.clone());
            first
        });
    }
    Ok(Patch {
        external_id: field(m, "", "external_id", Shape::Code(64))?,
        name: field(m, "", "name", Shape::Text(128))?,
        alias_name: field(m, "", "alias_name", Shape::Text(64))?,
        service_phone: field(m, "", "service_phone", Shape::Phone(20))?,
        category_id: field(m, "", "category_id", Shape::Code(32))?,
        mcc: field(m, "", "mcc", Shape::Digits(4))?,
        org_pid: field(m, "", "org_pid", Shape::Pid)?,
        source: field(m, "", "source", Shape::Pid)?,
        business_license: field(m, "", "business_license", Shape::Code(64))?,
        business_license_type: field(m, "", "business_license_type", Shape::OneOf(LICENSE_TYPES))?,
        contact_info: objects(m, "contact_info", contact)?,
        address_info: objects(m, "address_info", address)?,
        bankcard_info: objects(m, "bankcard_info", bankcard)?,
        logon_id: strings(m, "logon_id", Shape::Text(100))?,
        pay_code_info: strings(m, "pay_code_info", Shape::Text(512))?,
        service_codes,
        site_info: objects(m, "site_info", site)?,
        memo: field(m, "", "memo", Shape::Text(512))?,
    })
}

/// The rules a whole record must keep: category_id, or mcc with org_pid
/// (UnionPay/NetsUnion onboarding); at least one contact.
fn check_record(info: &MerchantInfo) -> R<()> {
    if info.category_id.is_none() {
        match (&info.mcc, &info.org_pid) {
            (Some(_), Some(_)) => {}
            (Some(_), None) => return Err(missing("org_pid")),
            (None, Some(_)) => return Err(missing("mcc")),
            (None, None) => return Err(missing("category_id")),
        }
    }
    if info.contact_info.is_empty() {
        return Err(missing("contact_info"));
    }
    Ok(())
}

/// The record a create asks for (pure): required fields, defaults
/// (`service_codes` `["F2F"]`, address `type` `BUSINESS_ADDRESS`).
///
/// # Errors
///
/// As [`parse_patch`]; and `ACQ.INVALID_PARAMETER` (`缺少必选参数<field>`)
/// when `external_id`, `name`, `alias_name`, `service_phone` or
/// `contact_info` is missing, or neither `category_id` nor both `mcc` and
/// `org_pid` are given.
pub fn parse_create(biz: &Biz) -> R<MerchantInfo> {
    let p = parse_patch(biz)?;
    let info = MerchantInfo {
        external_id: p.external_id.ok_or_else(|| missing("external_id"))?,
        name: p.name.ok_or_else(|| missing("name"))?,
        alias_name: p.alias_name.ok_or_else(|| missing("alias_name"))?,
        service_phone: p.service_phone.ok_or_else(|| missing("service_phone"))?,
        category_id: p.category_id,
        mcc: p.mcc,
        org_pid: p.org_pid,
        source: p.source,
        business_license: p.business_license,
        business_license_type: p.business_license_type,
        contact_info: p.contact_info.unwrap_or_default(),
        address_info: p.address_info.unwrap_or_default(),
        bankcard_info: p.bankcard_info.unwrap_or_default(),
        logon_id: p.logon_id.unwrap_or_default(),
        pay_code_info: p.pay_code_info.unwrap_or_default(),
        service_codes: p.service_codes.unwrap_or_else(|| vec!["F2F".into()]),
        site_info: p.site_info.unwrap_or_default(),
        memo: p.memo,
    };
    check_record(&info)?;
    Ok(info)
}

/// A modify over `info` (pure): every field sent replaces the current one,
/// lists as a whole (so `service_codes` replaces the set: a service left out
/// is cancelled); fields not sent stay. The external_id cannot change.
///
/// # Errors
///
/// `ACQ.INVALID_PARAMETER` when the patch's `external_id` is not the
/// record's, or the result breaks a create rule (no `category_id` nor
/// `mcc` with `org_pid`; no contact).
pub fn apply_patch(info: &MerchantInfo, p: Patch) -> R<MerchantInfo> {
    if p.external_id
        .as_ref()
        .is_some_and(|e| *e != info.external_id)
    {
        return Err(invalid("external_id", "does not match sub_merchant_id"));
    }
    let mut n = info.clone();
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = p.$f { n.$f = v; } )* };
    }
    macro_rules! set_opt {
        ($($f:ident),*) => { $( if p.$f.is_some() { n.$f = p.$f; } )* };
    }
    set!(name, alias_name, service_phone);
    set!(
        contact_info,
        address_info,
        bankcard_info,
        logon_id,
        pay_code_info
    );
    set!(service_codes, site_info);
    set_opt!(category_id, mcc, org_pid, source, business_license);
    set_opt!(business_license_type, memo);
    check_record(&n)?;
    Ok(n)
}

fn merchant_node(m: &SubMerchant) -> String {
    serialize_node(&IndirectMerchantResponse {
        code: Code::Success.as_str().into(),
        msg: Code::Success.msg().into(),
        sub_merchant_id: Some(m.sub_merchant_id.clone()),
        service_codes: Some(m.info.service_codes.clone()),
        ..Default::default()
    })
}

fn non_empty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// The query answer of a merchant: every create field, the smid and the level.
pub fn query_node(m: &SubMerchant) -> IndirectQueryResponse {
    let i = &m.info;
    IndirectQueryResponse {
        code: Code::Success.as_str().into(),
        msg: Code::Success.msg().into(),
        sub_merchant_id: Some(m.sub_merchant_id.clone()),
        external_id: Some(i.external_id.clone()),
        name: Some(i.name.clone()),
        alias_name: Some(i.alias_name.clone()),
        service_phone: Some(i.service_phone.clone()),
        category_id: i.category_id.clone(),
        mcc: i.mcc.clone(),
        org_pid: i.org_pid.clone(),
        source: i.source.clone(),
        business_license: i.business_license.clone(),
        business_license_type: i.business_license_type.clone(),
        contact_info: non_empty(&i.contact_info),
        address_info: non_empty(&i.address_info),
        bankcard_info: non_empty(&i.bankcard_info),
        logon_id: non_empty(&i.logon_id),
        pay_code_info: non_empty(&i.pay_code_info),
        service_codes: Some(i.service_codes.clone()),
        site_info: non_empty(&i.site_info),
        memo: i.memo.clone(),
        indirect_level: Some(INDIRECT_LEVEL.into()),
        ..Default::default()
    }
}

/// ant.merchant.expand.indirect.create: a new smid, or the existing one of
/// an external_id onboarded already (the record is not changed then).
pub fn create(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let info = match parse_create(biz) {
        Ok(i) => i,
        Err(e) => return biz_failed(e),
    };
    match sim.merchants.create(app_id, info, now()) {
        Created::New(m) | Created::Existing(m) => MethodReply::node(merchant_node(&m)),
    }
}

/// The merchant a query or modify names: `sub_merchant_id` wins, else
/// `external_id` (with `org_pid`, when sent, matching the record's).
fn find(sim: &Sim, app_id: &str, biz: &Biz) -> R<SubMerchant> {
    let smid = field(biz.fields(), "", "sub_merchant_id", Shape::Digits(16))?;
    let ext = field(biz.fields(), "", "external_id", Shape::Code(64))?;
    let org = field(biz.fields(), "", "org_pid", Shape::Pid)?;
    if let Some(s) = smid {
        return sim
            .merchants
            .get(app_id, &s)
            .ok_or_else(|| invalid("sub_merchant_id", "商户不存在"));
    }
    let Some(e) = ext else {
        return Err(missing("sub_merchant_id"));
    };
    sim.merchants
        .by_external_id(app_id, &e)
        .filter(|m| org.is_none() || m.info.org_pid == org)
        .ok_or_else(|| invalid("external_id", "商户不存在"))
}

/// ant.merchant.expand.indirect.query: the record of the merchant named by
/// `sub_merchant_id` (or `external_id`, with `org_pid` when sent), of this app.
pub fn query(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    match find(sim, app_id, biz) {
        Ok(m) => MethodReply::node(serialize_node(&query_node(&m))),
        Err(e) => biz_failed(e),
    }
}

/// ant.merchant.expand.indirect.modify: [`apply_patch`] to the merchant
/// named as for [`query`], under the book's lock.
pub fn modify(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let decided = (|| -> R<(SubMerchant, Patch)> {
        let m = find(sim, app_id, biz)?;
        Ok((m, parse_patch(biz)?))
    })();
    let (m, patch) = match decided {
        Ok(v) => v,
        Err(e) => return biz_failed(e),
    };
    match sim
        .merchants
        .modify(&m.sub_merchant_id, now(), |info| apply_patch(info, patch))
    {
        Some(Ok(m)) => MethodReply::node(merchant_node(&m)),
        Some(Err(e)) => biz_failed(e),
        None => biz_failed(invalid("sub_merchant_id", "商户不存在")),
    }
}

/// `sub_merchant.merchant_id` of a trade request, when sent: `sub_merchant`
/// is an object (or a string holding one, as docs/PROTOCOL.md §9 describes it).
///
/// # Errors
///
/// `ACQ.INVALID_PARAMETER` when `sub_merchant` is not a JSON object (nor a
/// string holding one), its `merchant_id` is missing or not letters,
/// digits, `_`, `-` of at most 32, or its `merchant_type` is not so either.
pub fn sub_merchant_id(biz: &Biz) -> R<Option<String>> {
    let parsed;
    let o = match biz.fields().get("sub_merchant") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => {
                parsed = o;
                &parsed
            }
            _ => return Err(invalid("sub_merchant", "must be a JSON object")),
        },
        Some(_) => return Err(invalid("sub_merchant", "must be a JSON object")),
    };
    let id = req_field(o, "sub_merchant.", "merchant_id", Shape::Code(32))?;
    field(o, "sub_merchant.", "merchant_type", Shape::Code(32))?;
    Ok(Some(id))
}

/// For an indirect app, the trade must name an onboarded smid of that app
/// holding the F2F service; other apps' trades pass (the smid is recorded).
///
/// # Errors
///
/// For an indirect app: `ACQ.INVALID_PARAMETER` naming
/// `sub_merchant.merchant_id` when `smid` is `None` or not a sub-merchant
/// this app onboarded; `ACQ.ACCESS_FORBIDDEN` when that sub-merchant lacks
/// the `F2F` service.
pub fn check_trade(sim: &Sim, app_id: &str, smid: Option<&str>) -> R<()> {
    if !sim.is_indirect(app_id) {
        return Ok(());
    }
    let Some(s) = smid else {
        return Err(missing("sub_merchant.merchant_id"));
    };
    match sim.merchants.get(app_id, s) {
        None => Err(invalid("sub_merchant.merchant_id", "未入驻的受理商户")),
        Some(m) if !m.has_f2f() => Err(BizError {
            sub_code: sub::ACQ_ACCESS_FORBIDDEN,
            sub_msg: "无权限使用接口: sub_merchant.merchant_id 未开通当面付服务(F2F)".into(),
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn biz(v: serde_json::Value) -> Biz {
        Biz::parse(&v.to_string()).unwrap()
    }

    fn full() -> serde_json::Value {
        serde_json::json!({
            "external_id": "M001", "name": "上海测试便利店", "alias_name": "测试店",
            "service_phone": "021-12345678", "category_id": "2015050700000000",
            "contact_info": [{"name": "张三", "type": "LEGAL_PERSON", "mobile": "13800000000", "tag": ["06"]}],
            "address_info": [{"province_code": "310000", "city_code": "310100",
                              "district_code": "310104", "address": "漕溪北路1号",
                              "longitude": "121.437000", "latitude": 31.19}]
        })
    }

    #[test]
    fn create_fields_defaults_and_errors_name_the_field() {
        let i = parse_create(&biz(full())).unwrap();
        assert_eq!(i.service_codes, vec!["F2F"]);
        assert_eq!(
            i.address_info[0].address_type.as_deref(),
            Some("BUSINESS_ADDRESS")
        );
        assert_eq!(
            i.contact_info[0].tag.as_deref(),
            Some(&["06".to_owned()][..])
        );
        let err = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = full();
            f(&mut v);
            parse_create(&biz(v)).unwrap_err().sub_msg
        };
        assert!(err(&|v| {
            v.as_object_mut().unwrap().remove("alias_name");
        })
        .contains("alias_name"));
        assert!(
            err(&|v| v["contact_info"][0]["type"] = "BOSS".into()).contains("contact_info[0].type")
        );
        assert!(
            err(&|v| v["contact_info"][0]["tag"] = serde_json::json!(["99"]))
                .contains("contact_info[0].tag[0]")
        );
        assert!(
            err(&|v| v["address_info"][0]["latitude"] = "31.1234567".into())
                .contains("address_info[0].latitude")
        );
        assert!(
            err(&|v| v["service_codes"] = serde_json::json!(["WAP"])).contains("service_codes[0]")
        );
        let e = err(&|v| {
            v.as_object_mut().unwrap().remove("category_id");
            v["mcc"] = "5976".into();
        });
        assert!(e.contains("org_pid"), "{e}");
        let mut v = full();
        v.as_object_mut().unwrap().remove("category_id");
        v["mcc"] = "5976".into();
        v["org_pid"] = "2088000000000001".into();
        assert!(parse_create(&biz(v)).is_ok());
    }

    #[test]
    fn modify_replaces_service_codes_and_keeps_the_rest() {
        let i = parse_create(&biz(full())).unwrap();
        let p = parse_patch(&biz(
            serde_json::json!({"service_codes": ["PRE_F2F", "PRE_F2F"]}),
        ))
        .unwrap();
        let n = apply_patch(&i, p).unwrap();
        assert_eq!(n.service_codes, vec!["PRE_F2F"]);
        assert_eq!(n.name, i.name);
        let p = parse_patch(&biz(serde_json::json!({"external_id": "OTHER"}))).unwrap();
        assert!(apply_patch(&i, p)
            .unwrap_err()
            .sub_msg
            .contains("external_id"));
    }
}

//! Merchants and stores: create (onboarding through
//! `ant.merchant.expand.indirect.create`), list, show, patch (`.modify`
//! for the gateway's fields), suspend and resume; stores of a merchant.

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use protocol::method::ExtMethod;
use protocol::response::IndirectMerchantResponse;
use protocol::StoreId;
use serde_json::{json, Map, Value};

use super::{code_field, created, int_field, journal_only, not_found, ok, Admin, Caller};
use crate::api::{ApiError, Fields};
use crate::gateway::Outcome;
use crate::merchants::Merchant;
use crate::store::{MerchantRecord, RegistryStatus, StoreRecord, Write};
use crate::trade::now_ms;

/// The fields the gateway holds (sent with create and modify).
const GATEWAY_FIELDS: [&str; 9] = [
    "name",
    "alias_name",
    "service_phone",
    "category_id",
    "source",
    "contact_info",
    "address_info",
    "bankcard_info",
    "service_codes",
];
/// The fields only the switch holds.
const LOCAL_FIELDS: [&str; 3] = ["gateway_fee_bps", "merchant_fee_bps", "relay_url"];
/// Most entries of a list field.
const MAX_LIST: usize = 20;

type Answer = Result<Response<Full<Bytes>>, ApiError>;

/// The gateway's field name in a 40004 sub_msg (`缺少必选参数X`,
/// `参数无效: X why`), when it names one.
fn gateway_field(sub_msg: &str) -> Option<String> {
    let rest = sub_msg
        .strip_prefix("缺少必选参数")
        .or_else(|| sub_msg.strip_prefix("参数无效: "))?;
    let f: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    (!f.is_empty()).then_some(f)
}

/// What the gateway answered, as an admin error (nothing was stored).
fn gateway_refusal(
    method: ExtMethod,
    o: Outcome<IndirectMerchantResponse>,
) -> Result<IndirectMerchantResponse, ApiError> {
    match o {
        Outcome::Unknown(why) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "gateway_unavailable",
            format!("{} got no verified answer ({why}); nothing was stored, retry (onboarding is idempotent on external_id)", method.as_str()),
        )),
        Outcome::Answer(a) if a.code == protocol::Code::Success.as_str() => Ok(a),
        Outcome::Answer(a) => {
            let sub_msg = a.sub_msg.clone().unwrap_or_default();
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                "gateway_refused",
                format!(
                    "{} refused: {} {} {}",
                    method.as_str(),
                    a.code,
                    a.sub_code.as_deref().unwrap_or(""),
                    sub_msg
                ),
            );
            e.field = gateway_field(&sub_msg);
            Err(e)
        }
    }
}

/// A required or optional text field checked for length (and shape).
fn text(f: &Fields, k: &str, max: usize, required: bool) -> Result<Option<String>, ApiError> {
    let v = f.text(k, max)?;
    if required && v.is_none() {
        return Err(ApiError::missing(k));
    }
    Ok(v)
}

/// A list of at most [`MAX_LIST`] objects (or strings, for service_codes).
fn list(f: &Fields, k: &str, objects: bool) -> Result<Option<Value>, ApiError> {
    match f.0.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a))
            if a.len() <= MAX_LIST
                && a.iter().all(|x| {
                    if objects {
                        x.is_object()
                    } else {
                        x.is_string()
                    }
                }) =>
        {
            Ok(Some(Value::Array(a.clone())))
        }
        Some(_) => Err(ApiError::field(
            k,
            format!(
                "must be an array of at most {MAX_LIST} {}",
                if objects { "objects" } else { "strings" }
            ),
        )),
    }
}

fn relay_url(f: &Fields, allow_private: bool) -> Result<Option<String>, ApiError> {
    match f.opt_str("relay_url")? {
        None => Ok(None),
        Some(u)
            if (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= 256
                && u.parse::<http::Uri>().is_ok() =>
        {
            if let Some(why) = crate::flow::relay_destination_refused(u, allow_private) {
                return Err(ApiError::field("relay_url", why));
            }
            Ok(Some(u.to_owned()))
        }
        Some(_) => Err(ApiError::field(
            "relay_url",
            "must be an http(s) URL of at most 256 characters",
        )),
    }
}

fn service_phone(f: &Fields, required: bool) -> Result<Option<String>, ApiError> {
    let v = text(f, "service_phone", 20, required)?;
    if let Some(p) = &v {
        if !p.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Err(ApiError::field("service_phone", "must be digits and '-'"));
        }
    }
    Ok(v)
}

/// The gateway's fields present in `f`, as biz_content entries.
fn gateway_biz(f: &Fields) -> Map<String, Value> {
    let mut m = Map::new();
    for k in GATEWAY_FIELDS {
        if let Some(v) = f.0.get(k).filter(|v| !v.is_null()) {
            m.insert(k.to_owned(), v.clone());
        }
    }
    m
}

impl Admin {
    pub(super) fn merchant(&self, ext: &str) -> Result<Arc<Merchant>, ApiError> {
        self.registry()
            .merchant(ext)
            .ok_or_else(|| not_found("merchant", ext))
    }

    pub(super) fn merchant_json(&self, m: &Merchant) -> Value {
        let r = &m.record;
        json!({
            "external_id": r.external_id,
            "name": r.name,
            "alias_name": r.alias_name,
            "service_phone": r.service_phone,
            "category_id": r.category_id,
            "source": r.source,
            "smid": r.smid,
            "status": r.status.as_str(),
            "gateway_fee_bps": r.gateway_fee_bps,
            "merchant_fee_bps": r.merchant_fee_bps,
            "relay_url": r.relay_url,
            "contact_info": r.contact_info,
            "address_info": r.address_info,
            "bankcard_info": r.bankcard_info,
            "service_codes": r.service_codes,
            "stores": m.stores.iter().map(|s| json!({
                "store_id": s.store_id, "name": s.name, "address": s.address,
            })).collect::<Vec<_>>(),
            "terminal_count": self.registry().terminal_count(&r.external_id),
            "origin": m.origin.as_str(),
            "created_ms": r.created_ms,
            "updated_ms": r.updated_ms,
        })
    }

    /// POST /admin/v1/merchants
    pub(super) async fn create_merchant(&self, caller: &Caller, body: &[u8]) -> Answer {
        let mut allowed = vec!["external_id"];
        allowed.extend(GATEWAY_FIELDS);
        allowed.extend(LOCAL_FIELDS);
        let f = Fields::parse(body, &allowed)?;
        let external_id =
            code_field(&f, "external_id", 64)?.ok_or_else(|| ApiError::missing("external_id"))?;
        let name = text(&f, "name", 128, true)?.unwrap_or_default();
        let alias_name = text(&f, "alias_name", 64, true)?.unwrap_or_default();
        let phone = service_phone(&f, true)?.unwrap_or_default();
        let category_id =
            code_field(&f, "category_id", 32)?.ok_or_else(|| ApiError::missing("category_id"))?;
        let source = code_field(&f, "source", 32)?;
        let contact_info = list(&f, "contact_info", true)?;
        if !contact_info
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            return Err(ApiError::missing("contact_info"));
        }
        let address_info = list(&f, "address_info", true)?;
        let bankcard_info = list(&f, "bankcard_info", true)?;
        let service_codes = list(&f, "service_codes", false)?;
        let gateway_fee_bps = int_field(&f, "gateway_fee_bps", 0, 10_000)?
            .ok_or_else(|| ApiError::missing("gateway_fee_bps"))?;
        let merchant_fee_bps = int_field(&f, "merchant_fee_bps", 0, 10_000)?
            .ok_or_else(|| ApiError::missing("merchant_fee_bps"))?;
        let relay_url = relay_url(
            &f,
            self.flows().config().server.relay_allow_private_addresses,
        )?;

        let _guard = self.registry().change().await;
        if let Some(existing) = self.registry().merchant(&external_id) {
            // The same external_id again: the merchant as it stands, no second onboarding.
            return Ok(ok(self.merchant_json(&existing)));
        }
        let mut biz = gateway_biz(&f);
        biz.insert("external_id".into(), json!(external_id));
        let answer = self
            .flows()
            .gateway()
            .call_ext::<IndirectMerchantResponse>(
                ExtMethod::IndirectCreate,
                &Value::Object(biz).to_string(),
            )
            .await;
        let a = gateway_refusal(ExtMethod::IndirectCreate, answer)?;
        let smid = a
            .sub_merchant_id
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "gateway_unavailable",
                    "the onboarding answer carries no sub_merchant_id; nothing was stored",
                )
            })?;
        if let Some(other) = self.registry().merchant_by_smid(&smid) {
            let detail = json!({"external_id": external_id, "smid": smid,
                                "registered_to": other.record.external_id});
            self.journal(
                caller,
                format!("merchant/{external_id}"),
                "admin_merchant_smid_conflict",
                detail,
                Vec::new(),
            )
            .await?;
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "smid_taken",
                format!(
                    "the gateway answered smid {smid}, already registered to merchant {}; one smid per merchant: nothing was stored",
                    other.record.external_id
                ),
            ));
        }
        let now = now_ms();
        let rec = MerchantRecord {
            external_id: external_id.clone(),
            name,
            alias_name,
            service_phone: phone,
            category_id,
            source,
            smid: Some(smid.clone()),
            status: RegistryStatus::Active,
            gateway_fee_bps: u32::try_from(gateway_fee_bps).unwrap_or(0),
            merchant_fee_bps: u32::try_from(merchant_fee_bps).unwrap_or(0),
            relay_url,
            contact_info: contact_info.unwrap_or_else(|| json!([])),
            address_info: address_info.unwrap_or_else(|| json!([])),
            bankcard_info: bankcard_info.unwrap_or_else(|| json!([])),
            service_codes: a
                .service_codes
                .clone()
                .map(|c| json!(c))
                .or(service_codes)
                .unwrap_or_else(|| json!([])),
            created_ms: now,
            updated_ms: now,
        };
        self.journal(
            caller,
            format!("merchant/{external_id}"),
            "admin_merchant_created",
            json!({"external_id": external_id, "smid": smid, "name": rec.name,
                   "gateway_fee_bps": rec.gateway_fee_bps, "merchant_fee_bps": rec.merchant_fee_bps}),
            vec![Write::Merchant(Box::new(rec.clone()))],
        )
        .await?;
        let m = Merchant {
            record: rec,
            stores: Vec::new(),
            origin: crate::merchants::Origin::Journal,
        };
        let v = self.merchant_json(&m);
        self.registry().put_merchant(m);
        tracing::info!(external_id = %external_id, smid = %smid, token = %caller.token_id, "merchant onboarded");
        Ok(created(v))
    }

    /// PATCH /admin/v1/merchants/{external_id}
    pub(super) async fn patch_merchant(&self, caller: &Caller, ext: &str, body: &[u8]) -> Answer {
        let mut allowed: Vec<&str> = GATEWAY_FIELDS.to_vec();
        allowed.extend(LOCAL_FIELDS);
        allowed.extend(["external_id", "smid", "status"]);
        let f = Fields::parse(body, &allowed)?;
        for k in ["external_id", "smid", "status"] {
            if f.0.contains_key(k) {
                return Err(ApiError::field(
                    k,
                    "cannot be changed (status: use /suspend and /resume)",
                ));
            }
        }
        if f.0.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "nothing_to_change",
                "the body names no field to change",
            ));
        }
        // Validate everything before anything is sent.
        let name = text(&f, "name", 128, false)?;
        let alias_name = text(&f, "alias_name", 64, false)?;
        let phone = service_phone(&f, false)?;
        let category_id = code_field(&f, "category_id", 32)?;
        let source = code_field(&f, "source", 32)?;
        let contact_info = list(&f, "contact_info", true)?;
        let address_info = list(&f, "address_info", true)?;
        let bankcard_info = list(&f, "bankcard_info", true)?;
        let service_codes = list(&f, "service_codes", false)?;
        let gateway_fee_bps = int_field(&f, "gateway_fee_bps", 0, 10_000)?;
        let merchant_fee_bps = int_field(&f, "merchant_fee_bps", 0, 10_000)?;
        let relay = relay_url(
            &f,
            self.flows().config().server.relay_allow_private_addresses,
        )?;

        let _guard = self.registry().change().await;
        let cur = self.merchant(ext)?;
        journal_only(cur.origin, "merchant", ext)?;
        let mut rec = cur.record.clone();
        let biz = gateway_biz(&f);
        let mut answered_codes = None;
        if !biz.is_empty() {
            let mut biz = biz;
            biz.insert(
                "sub_merchant_id".into(),
                json!(rec.smid.clone().unwrap_or_default()),
            );
            biz.insert("external_id".into(), json!(rec.external_id));
            let answer = self
                .flows()
                .gateway()
                .call_ext::<IndirectMerchantResponse>(
                    ExtMethod::IndirectModify,
                    &Value::Object(biz).to_string(),
                )
                .await;
            let a = gateway_refusal(ExtMethod::IndirectModify, answer)?;
            answered_codes = a.service_codes;
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = $f { rec.$f = v; } )* };
        }
        set!(
            name,
            alias_name,
            category_id,
            contact_info,
            address_info,
            bankcard_info
        );
        if let Some(v) = phone {
            rec.service_phone = v;
        }
        if source.is_some() {
            rec.source = source;
        }
        if let Some(v) = service_codes {
            rec.service_codes = v;
        }
        if let Some(c) = answered_codes {
            // What the gateway granted wins over what was asked.
            rec.service_codes = json!(c);
        }
        if let Some(v) = gateway_fee_bps {
            rec.gateway_fee_bps = u32::try_from(v).unwrap_or(0);
        }
        if let Some(v) = merchant_fee_bps {
            rec.merchant_fee_bps = u32::try_from(v).unwrap_or(0);
        }
        if relay.is_some() {
            rec.relay_url = relay;
        }
        rec.updated_ms = now_ms();
        let changed: Vec<&String> = f.0.keys().collect();
        self.journal(
            caller,
            format!("merchant/{ext}"),
            "admin_merchant_modified",
            json!({"external_id": ext, "changed": changed, "gateway_modified": !gateway_biz(&f).is_empty()}),
            vec![Write::Merchant(Box::new(rec.clone()))],
        )
        .await?;
        let mut m = (*cur).clone();
        m.record = rec;
        let v = self.merchant_json(&m);
        self.registry().put_merchant(m);
        Ok(ok(v))
    }

    /// POST /admin/v1/merchants/{external_id}/suspend and /resume
    pub(crate) async fn merchant_status(
        &self,
        caller: &Caller,
        ext: &str,
        suspend: bool,
    ) -> Answer {
        let _guard = self.registry().change().await;
        let cur = self.merchant(ext)?;
        journal_only(cur.origin, "merchant", ext)?;
        let status = if suspend {
            RegistryStatus::Suspended
        } else {
            RegistryStatus::Active
        };
        let mut m = (*cur).clone();
        if m.record.status != status {
            m.record.status = status;
            m.record.updated_ms = now_ms();
            self.journal(
                caller,
                format!("merchant/{ext}"),
                if suspend {
                    "admin_merchant_suspended"
                } else {
                    "admin_merchant_resumed"
                },
                json!({"external_id": ext, "status": status.as_str()}),
                vec![Write::Merchant(Box::new(m.record.clone()))],
            )
            .await?;
            self.registry().put_merchant(m.clone());
        }
        Ok(ok(self.merchant_json(&m)))
    }

    /// POST /admin/v1/merchants/{external_id}/stores
    pub(super) async fn create_store(&self, caller: &Caller, ext: &str, body: &[u8]) -> Answer {
        let f = Fields::parse(body, &["store_id", "name", "address"])?;
        let store_id = StoreId::parse(f.str("store_id")?)
            .map_err(|e| ApiError::field("store_id", e.to_string()))?
            .into_string();
        let name = text(&f, "name", 64, true)?.unwrap_or_default();
        let address = text(&f, "address", 256, false)?;
        let _guard = self.registry().change().await;
        let cur = self.merchant(ext)?;
        journal_only(cur.origin, "merchant", ext)?;
        let store_json = |s: &StoreRecord| json!({"external_id": ext, "store_id": s.store_id, "name": s.name, "address": s.address});
        if let Some(s) = cur.stores.iter().find(|s| s.store_id == store_id) {
            if s.name == name && s.address == address {
                return Ok(ok(store_json(s)));
            }
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("store {store_id} of merchant {ext} exists with different content"),
            );
            e.field = Some("store_id".into());
            return Err(e);
        }
        let rec = StoreRecord {
            external_id: ext.to_owned(),
            store_id: store_id.clone(),
            name,
            address,
            created_ms: now_ms(),
        };
        self.journal(
            caller,
            format!("merchant/{ext}"),
            "admin_store_created",
            json!({"external_id": ext, "store_id": store_id, "name": rec.name}),
            vec![Write::MerchantStore(Box::new(rec.clone()))],
        )
        .await?;
        let v = store_json(&rec);
        let mut m = (*cur).clone();
        m.stores.push(rec);
        self.registry().put_merchant(m);
        Ok(created(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_field_from_sub_msg() {
        assert_eq!(
            gateway_field("缺少必选参数alias_name").as_deref(),
            Some("alias_name")
        );
        assert_eq!(
            gateway_field("参数无效: contact_info[0].mobile must be 11 digits").as_deref(),
            Some("contact_info[0].mobile")
        );
        assert_eq!(gateway_field("系统繁忙"), None);
    }
}

//! `monitor.heartbeat.syn` (交易保障 / 收银机心跳, docs/PROTOCOL.md §5):
//! validates the heartbeat ([`validate`], pure), answers 10000 with the
//! acquirer's `pid` (or 20000 when the profile's `behaviour.heartbeat_fail`
//! is set, or 40004 `ACQ.INVALID_PARAMETER` naming the field), and records
//! every call, valid or not, with all its fields and the time received.

use protocol::codes::sub;
use protocol::response::{serialize_node, HeartbeatSynResponse};
use protocol::{clock, Code};
use serde_json::{Map, Value};

use super::{now, sub_msg, MethodReply};
use crate::biz::{Biz, BizError};
use crate::merchants::Heartbeat;
use crate::state::Sim;

type R<T> = Result<T, BizError>;

/// The values of the required `product` field, as the F2F demo sends them.
pub const PRODUCTS: &[&str] = &["FP", "MP"];
/// The values of the required `type` field: the kind of equipment (cash
/// register, store, vending machine, POS...).
pub const TYPES: &[&str] = &["CR", "STORE", "VM", "MD", "SOFT_POS", "POS", "ALI_POS"];
/// The values of the required `equipment_status` field (a bare number is
/// taken as its text).
pub const EQUIPMENT_STATUSES: &[&str] = &["10", "20", "30", "40", "41"];
/// The values `exception_info` may join with `|` (printer, scanner, other).
pub const EXCEPTIONS: &[&str] = &["HE_PRINTER", "HE_SCANER", "HE_OTHER"];
/// The values of a `trade_info` entry's `STAT`.
pub const TRADE_STATS: &[&str] = &["S", "I", "F", "P", "X", "Y", "Z", "C"];
/// Most `trade_info` entries in one heartbeat (the demo's limit).
pub const MAX_TRADE_INFO: usize = 30;

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

fn one_of(biz: &Biz, name: &str, values: &[&str], required: bool) -> R<Option<String>> {
    match biz.opt(name)? {
        None if required => Err(missing(name)),
        None => Ok(None),
        Some(v) if values.contains(&v.as_str()) => Ok(Some(v)),
        Some(_) => Err(invalid(
            name,
            &format!("must be one of {}", values.join(", ")),
        )),
    }
}

fn short(biz: &Biz, name: &str, max: usize) -> R<Option<String>> {
    biz.text(name, max)
        .map_err(|_| invalid(name, &format!("longer than {max} characters")))
}

/// A JSON value that may arrive as itself or as a string holding it.
fn json_or_string(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

fn trade_info(v: &Value) -> R<()> {
    let Some(Value::Array(items)) = json_or_string(v) else {
        return Err(invalid("trade_info", "must be a JSON array"));
    };
    if items.len() > MAX_TRADE_INFO {
        return Err(invalid(
            "trade_info",
            &format!("has more than {MAX_TRADE_INFO} entries"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let p = format!("trade_info[{i}]");
        let Value::Object(o) = item else {
            return Err(invalid(&p, "must be an object"));
        };
        match o.get("OTN") {
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 64 => {}
            None | Some(Value::Null) => return Err(missing(&format!("{p}.OTN"))),
            Some(_) => return Err(invalid(&format!("{p}.OTN"), "must be a string of 1 to 64")),
        }
        // A number (the demo sends a double); a numeric string is taken too.
        let tc = match o.get("TC") {
            None | Some(Value::Null) => return Err(missing(&format!("{p}.TC"))),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.parse::<f64>().ok(),
            Some(_) => None,
        };
        if !tc.is_some_and(|t| (0.0..=99.0).contains(&t)) {
            return Err(invalid(&format!("{p}.TC"), "must be a number from 0 to 99"));
        }
        match o.get("STAT") {
            Some(Value::String(s)) if TRADE_STATS.contains(&s.as_str()) => {}
            None | Some(Value::Null) => return Err(missing(&format!("{p}.STAT"))),
            Some(_) => {
                return Err(invalid(
                    &format!("{p}.STAT"),
                    &format!("must be one of {}", TRADE_STATS.join(", ")),
                ))
            }
        }
    }
    Ok(())
}

/// Checks a heartbeat (pure): the demo's required fields, the enums, the
/// time format and `trade_info`.
///
/// # Errors
///
/// A [`BizError`] with `ACQ.INVALID_PARAMETER` naming the first field at
/// fault: `缺少必选参数<field>` when a required field (`product`, `type`,
/// `equipment_id`, `equipment_status`, `time`, a `trade_info` entry's `OTN`,
/// `TC` or `STAT`) is missing, `参数无效: <field> <why>` when a value is not
/// one of its enum, too long, not `yyyy-MM-dd HH:mm:ss`, or not the JSON
/// shape it must have.
pub fn validate(biz: &Biz) -> R<()> {
    one_of(biz, "product", PRODUCTS, true)?;
    one_of(biz, "type", TYPES, true)?;
    let eq = biz
        .opt("equipment_id")?
        .ok_or_else(|| missing("equipment_id"))?;
    if eq.chars().count() > 64 {
        return Err(invalid("equipment_id", "longer than 64 characters"));
    }
    one_of(biz, "equipment_status", EQUIPMENT_STATUSES, true)?;
    let t = biz.opt("time")?.ok_or_else(|| missing("time"))?;
    if clock::parse_gateway_time(&t).is_err() {
        return Err(invalid("time", "must be yyyy-MM-dd HH:mm:ss"));
    }
    biz.store_id()?;
    short(biz, "network_type", 16)?;
    short(biz, "mac", 64)?;
    short(biz, "ip", 64)?;
    short(biz, "sys_service_provider_id", 64)?;
    short(biz, "manufacturer_app_id", 64)?;
    if let Some(e) = biz.opt("exception_info")? {
        if !e.split('|').all(|x| EXCEPTIONS.contains(&x)) {
            return Err(invalid(
                "exception_info",
                &format!("must be {} joined by |", EXCEPTIONS.join(", ")),
            ));
        }
    }
    if let Some(v) = biz.fields().get("extend_info").filter(|v| !v.is_null()) {
        if !matches!(json_or_string(v), Some(Value::Object(_))) {
            return Err(invalid("extend_info", "must be a JSON object"));
        }
    }
    if let Some(v) = biz.fields().get("trade_info").filter(|v| !v.is_null()) {
        trade_info(v)?;
    }
    Ok(())
}

/// monitor.heartbeat.syn: answers and records the heartbeat in
/// [`Sim::heartbeats`], valid or not.
pub fn heartbeat(sim: &Sim, app_id: &str, biz: &Biz) -> MethodReply {
    let at = now();
    let verdict = validate(biz);
    let fail = sim.profile().behaviour.heartbeat_fail;
    let r = match verdict {
        Err(e) => HeartbeatSynResponse {
            code: Code::BusinessFailed.as_str().into(),
            msg: Code::BusinessFailed.msg().into(),
            sub_code: Some(e.sub_code.into()),
            sub_msg: Some(e.sub_msg),
            pid: None,
        },
        Ok(()) if fail => HeartbeatSynResponse {
            code: Code::ServiceUnavailable.as_str().into(),
            msg: Code::ServiceUnavailable.msg().into(),
            sub_code: Some(sub::ISP_UNKNOW_ERROR.into()),
            sub_msg: Some(sub_msg(sub::ISP_UNKNOW_ERROR)),
            pid: None,
        },
        Ok(()) => HeartbeatSynResponse {
            code: Code::Success.as_str().into(),
            msg: Code::Success.msg().into(),
            pid: Some(crate::ledger::seller_id(app_id)),
            ..Default::default()
        },
    };
    let fields: Map<String, Value> = biz.fields().clone();
    sim.heartbeats.record(Heartbeat {
        seq: sim.heartbeats.next_seq(),
        app_id: app_id.to_owned(),
        received_at: clock::format_gateway_time(at),
        received_at_ms: at.unix_timestamp_nanos() / 1_000_000,
        equipment_id: biz.opt("equipment_id").ok().flatten(),
        code: r.code.clone(),
        sub_code: r.sub_code.clone(),
        sub_msg: r.sub_msg.clone(),
        fields,
    });
    MethodReply::node(serialize_node(&r))
}

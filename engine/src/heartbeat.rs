//! Heartbeats (交易保障, docs/PROTOCOL.md §8 and §9; §5 `monitor.heartbeat.syn`):
//! every `heartbeat.interval_secs` (900 s by default, at most 1800) the switch
//! sends one heartbeat per active terminal of an active merchant, with that
//! terminal's barcode pays since its last heartbeat as `trade_info` (at most
//! 30, from [`crate::flow::paylog`]).
//!
//! Guarantees: heartbeats run in their own task and never hold a lock or a
//! journal commit that a payment needs; a failed heartbeat is counted
//! (`payswitch_heartbeats_total{result}`) and retried at the next tick (its
//! pays are put in the next heartbeat, within the 30-entry bound); one
//! terminal's heartbeats never overlap. They go to `heartbeat.url` (the
//! gateway's URL by default); an unsigned answer (the real monitoring
//! gateway's) is taken as it stands, a signed one must verify.

use std::sync::Arc;

use serde_json::json;

use crate::flow::paylog::PayRecord;
use crate::flow::Flows;
use crate::store::RegistryStatus;

/// The named lease that says which node sends the heartbeats.
const HEARTBEAT_LEASE: &str = "heartbeats";

/// The equipment type sent when a terminal has none (收银机).
const DEFAULT_EQUIPMENT_TYPE: &str = "CR";

/// The biz_content of one terminal's heartbeat, as the official demo sends
/// it: product `FP`, `type` (the terminal's equipment type, `CR` when it has
/// none), `equipment_id`, `equipment_status` `30`, `time` (gateway time,
/// `yyyy-MM-dd HH:mm:ss`), `network_type`, and when given `store_id`,
/// `sys_service_provider_id` and `trade_info` (the pays as a JSON array in a
/// string: `OTN` out_trade_no, `TC` seconds taken, `STAT` outcome letter;
/// omitted when there is no pay). The caller bounds `pays` to
/// [`crate::flow::paylog::PAYS_PER_TERMINAL`].
pub fn heartbeat_biz(
    equipment_type: Option<&str>,
    equipment_id: &str,
    store_id: Option<&str>,
    network_type: &str,
    sys_service_provider_id: Option<&str>,
    time: &str,
    pays: &[PayRecord],
) -> String {
    let trade_info: Vec<serde_json::Value> = pays
        .iter()
        .map(|p| json!({"OTN": p.out_trade_no, "TC": p.took_secs, "STAT": p.stat.letter()}))
        .collect();
    let mut biz = json!({
        "product": "FP",
        "type": equipment_type.unwrap_or(DEFAULT_EQUIPMENT_TYPE),
        "equipment_id": equipment_id,
        "equipment_status": "30",
        "time": time,
        "network_type": network_type,
    });
    if let Some(s) = store_id {
        biz["store_id"] = json!(s);
    }
    if let Some(p) = sys_service_provider_id {
        biz["sys_service_provider_id"] = json!(p);
    }
    if !trade_info.is_empty() {
        // A JSON array as a string, as the official demo sends it.
        biz["trade_info"] = json!(serde_json::Value::Array(trade_info).to_string());
    }
    biz.to_string()
}

/// Sends heartbeats until the switch stops: returns at once when
/// `heartbeat.enabled` is false, otherwise every `heartbeat.interval` while
/// this node holds the `heartbeats` lease (one node of several sends them).
/// Spawned by [`crate::server::start`].
pub async fn run(flows: Arc<Flows>) {
    let hb = flows.config().heartbeat.clone();
    if !hb.enabled {
        return;
    }
    // The official demo's first heartbeat comes 5 s after start.
    if !flows
        .pause(hb.interval.min(std::time::Duration::from_secs(5)))
        .await
    {
        return;
    }
    // Validated by the config (an http(s) URL).
    let url: Option<http::Uri> = hb.url.as_deref().and_then(|u| u.parse().ok());
    // Pays taken from the log but not delivered (a failed heartbeat).
    let pending: dashmap::DashMap<String, Vec<PayRecord>> = dashmap::DashMap::new();
    loop {
        // Several nodes: one of them sends every terminal's heartbeats (the
        // lease passes on when it dies).
        let store = flows.store().clone();
        let mine = tokio::task::spawn_blocking(move || store.try_lease(HEARTBEAT_LEASE))
            .await
            .map(|r| r.unwrap_or(false))
            .unwrap_or(false);
        if !mine {
            if !flows.pause(hb.interval).await {
                return;
            }
            continue;
        }
        let registry = flows.registry().clone();
        for m in registry.merchants() {
            if m.record.status != RegistryStatus::Active {
                continue;
            }
            for t in registry.terminals_of(&m.record.external_id) {
                if t.status != RegistryStatus::Active {
                    continue;
                }
                let key = t.cfg.key_id.clone();
                let mut pays = pending.remove(&key).map(|(_, v)| v).unwrap_or_default();
                pays.extend(flows.pay_log().take(&key));
                let excess = pays
                    .len()
                    .saturating_sub(crate::flow::paylog::PAYS_PER_TERMINAL);
                pays.drain(..excess);
                let equipment_id = t.cfg.terminal_id.clone().unwrap_or_else(|| key.clone());
                let biz = heartbeat_biz(
                    t.equipment_type.as_deref(),
                    &equipment_id,
                    t.cfg.store_id.as_deref(),
                    &hb.network_type,
                    flows.config().gateway.sys_service_provider_id.as_deref(),
                    &protocol::clock::gateway_now(),
                    &pays,
                );
                let out = flows.gateway().heartbeat(url.as_ref(), &biz).await;
                let ok = matches!(&out, Ok(code) if code == protocol::Code::Success.as_str());
                let result = if ok { "ok" } else { "failed" };
                flows
                    .metrics()
                    .inc("payswitch_heartbeats_total", &[("result", result)]);
                if !ok {
                    tracing::warn!(key_id = %key, "heartbeat failed; retried at the next tick");
                    pending.insert(key, pays);
                }
            }
        }
        if !flows.pause(hb.interval).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::paylog::PayStat;

    #[test]
    fn biz_has_the_demo_fields_and_trade_info() {
        let pays = vec![PayRecord {
            out_trade_no: "o1".into(),
            took_secs: 1.5,
            stat: PayStat::Success,
        }];
        let b: serde_json::Value = serde_json::from_str(&heartbeat_biz(
            None,
            "POS_01",
            Some("NJ_001"),
            "LAN",
            None,
            "2026-12-01 10:00:00",
            &pays,
        ))
        .unwrap();
        assert_eq!(b["product"], "FP");
        assert_eq!(b["type"], "CR");
        assert_eq!(b["equipment_id"], "POS_01");
        assert_eq!(b["store_id"], "NJ_001");
        let ti: serde_json::Value =
            serde_json::from_str(b["trade_info"].as_str().unwrap()).unwrap();
        assert_eq!(ti[0]["OTN"], "o1");
        assert_eq!(ti[0]["STAT"], "S");
        assert_eq!(ti[0]["TC"], 1.5);
        let b: serde_json::Value = serde_json::from_str(&heartbeat_biz(
            Some("VM"),
            "x",
            None,
            "LAN",
            Some("2088"),
            "t",
            &[],
        ))
        .unwrap();
        assert!(b.get("trade_info").is_none());
        assert_eq!(b["sys_service_provider_id"], "2088");
    }
}

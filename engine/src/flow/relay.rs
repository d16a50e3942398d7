//! Relays the final result of each precreated trade that named a merchant
//! notify_url: a POST of the trade JSON, authenticated like the terminal API
//! in the other direction (`Authorization: PSW1-HMAC-SHA256 key=<creating
//! terminal>, ts, nonce, sig` over the same string, with that terminal's
//! secret). 2xx ends it; otherwise up to [`RELAY_ATTEMPTS`] attempts with
//! back-off. The relay row is committed together with the trade's final
//! state, each attempt is journaled (`relay` events, the row's attempt
//! count), and pending relays are resumed after a restart.

use serde_json::json;

use super::Flows;
use crate::store::{Relay, RelayStatus, Write};
use crate::trade::{now_ms, Trade};

/// Attempts per relayed result (back-off from `policy.unknown_retry_initial_ms`, doubling).
pub const RELAY_ATTEMPTS: u32 = 8;

/// Relay POSTs in flight at most (the others wait their turn).
pub const RELAYS_IN_FLIGHT: usize = 64;

/// Why a relay URL is refused before anything is sent; `None` when it may
/// be relayed to. Refused: a URL that does not parse, a scheme other than
/// http(s), no host and, unless `allow_private`
/// (`server.relay_allow_private_addresses`, labs only), a loopback name or a
/// loopback, private, link-local, shared (100.64/10), unspecified or
/// broadcast address. Checked when the configuration is validated, when a
/// merchant's relay URL is registered (admin API) and before each relay.
pub fn relay_destination_refused(url: &str, allow_private: bool) -> Option<String> {
    let Ok(u) = url.parse::<http::Uri>() else {
        return Some("not a valid URL".into());
    };
    match u.scheme_str() {
        Some("http" | "https") => {}
        _ => return Some("only http and https URLs are relayed to".into()),
    }
    let Some(host) = u.host() else {
        return Some("the URL has no host".into());
    };
    if allow_private {
        return None;
    }
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.ends_with(".localhost") {
        return Some(format!("{h} is a loopback name (server.relay_allow_private_addresses = true allows it in labs)"));
    }
    let private = match h.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64
        }
        Ok(std::net::IpAddr::V6(a)) => {
            a.is_loopback()
                || a.is_unspecified()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80
                || a.to_ipv4_mapped()
                    .is_some_and(|v| v.is_loopback() || v.is_private())
        }
        Err(_) => false,
    };
    private.then(|| {
        format!("{h} is a loopback, private or link-local address (server.relay_allow_private_addresses = true allows it in labs)")
    })
}

impl Flows {
    /// The relay row committed with a trade's final state.
    pub(super) fn relay_row(&self, t: &Trade, url: &str) -> Write {
        Write::Relay(Box::new(Relay {
            app_id: t.app_id.clone(),
            out_trade_no: t.out_trade_no.clone(),
            url: url.to_owned(),
            status: RelayStatus::Pending,
            attempts: 0,
            updated_ms: now_ms(),
        }))
    }

    /// Starts the relay of a trade that just became final.
    pub(super) fn start_relay(&self, t: &Trade) {
        if let Some(url) = &t.merchant_notify_url {
            let Write::Relay(r) = self.relay_row(t, url) else {
                return;
            };
            self.resume_relay(*r);
        }
    }

    /// Runs a (pending) relay in its own task.
    pub(super) fn resume_relay(&self, r: Relay) {
        let Some(me) = self.self_ref() else {
            return;
        };
        let me2 = me.clone();
        let no = r.out_trade_no.clone();
        me.spawn(&no, async move { me2.relay_one(r).await });
    }

    async fn relay_one(&self, mut row: Relay) {
        let Ok(Some(slot)) = self.load_trade(&row.out_trade_no).await else {
            return;
        };
        let t = slot.published();
        let Some(reg) = self.registry.terminal(&t.terminal) else {
            self.note(
                &t,
                "relay",
                json!({"url": row.url, "result": "the creating terminal is no longer registered"}),
            );
            row.status = RelayStatus::GaveUp;
            let _ = self.commit_durable(vec![Write::Relay(Box::new(row))]).await;
            return;
        };
        let term = &reg.cfg;
        if let Some(why) =
            relay_destination_refused(&row.url, self.cfg.server.relay_allow_private_addresses)
        {
            self.note(
                &t,
                "relay",
                json!({"url": row.url, "result": format!("refused: {why}")}),
            );
            row.status = RelayStatus::GaveUp;
            let _ = self.commit_durable(vec![Write::Relay(Box::new(row))]).await;
            self.metrics
                .inc("payswitch_relays_total", &[("result", "refused")]);
            return;
        }
        let pq = row
            .url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.path_and_query().map(|p| p.as_str().to_owned()))
            .unwrap_or_else(|| "/".into());
        let body = serde_json::to_string(&crate::contract::trade_answer(&t)).unwrap_or_default();
        let mut backoff = self.cfg.policy.unknown_retry_initial;
        for _ in 0..row.attempts.min(RELAY_ATTEMPTS) {
            backoff = (backoff * 2).min(self.cfg.policy.unknown_retry_max);
        }
        while row.attempts < RELAY_ATTEMPTS {
            let auth = terminal::header::authorization(
                &term.key_id,
                &term.secret,
                "POST",
                &pq,
                now_ms() / 1000,
                &terminal::header::new_nonce(),
                body.as_bytes(),
            );
            let r = {
                let _permit = self.relay_permits.acquire().await;
                self.gw.post_json(&row.url, &auth, body.clone()).await
            };
            let ok = matches!(&r, Ok(s) if s.is_success());
            let result = match &r {
                Ok(s) => s.as_u16().to_string(),
                Err(e) => e.clone(),
            };
            row.attempts += 1;
            row.updated_ms = now_ms();
            row.status = if ok {
                RelayStatus::Delivered
            } else if row.attempts >= RELAY_ATTEMPTS {
                RelayStatus::GaveUp
            } else {
                RelayStatus::Pending
            };
            let writes = vec![
                Write::Relay(Box::new(row.clone())),
                super::ev(
                    &t,
                    "relay",
                    json!({"attempt": row.attempts, "url": row.url, "result": result}),
                ),
            ];
            if self.commit_durable(writes).await.is_err() {
                return;
            }
            if ok {
                self.metrics
                    .inc("payswitch_relays_total", &[("result", "delivered")]);
                return;
            }
            if row.status == RelayStatus::GaveUp || !self.pause(backoff).await {
                break;
            }
            backoff = (backoff * 2).min(self.cfg.policy.unknown_retry_max);
        }
        if row.status == RelayStatus::GaveUp {
            tracing::warn!(out_trade_no = %t.out_trade_no, "merchant notification relay gave up");
            self.metrics
                .inc("payswitch_relays_total", &[("result", "gave_up")]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::relay_destination_refused as refused;

    #[test]
    fn relays_go_to_public_http_urls_only() {
        for ok in [
            "https://merchant.example.com/notify",
            "http://203.0.113.7:8080/n",
            "https://[2001:db8::1]/n",
        ] {
            assert_eq!(refused(ok, false), None, "{ok}");
        }
        for bad in [
            "http://127.0.0.1/n",
            "http://localhost:9000/n",
            "http://10.1.2.3/n",
            "http://192.168.0.9/n",
            "http://172.16.5.5/n",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/n",
            "http://0.0.0.0/n",
            "http://[::1]/n",
            "http://[fd00::1]/n",
            "http://[fe80::1]/n",
            "http://[::ffff:127.0.0.1]/n",
        ] {
            assert!(refused(bad, false).is_some(), "{bad}");
            assert_eq!(refused(bad, true), None, "{bad} allowed in labs");
        }
        assert!(refused("ftp://merchant.example.com/n", true).is_some());
        assert!(refused("not a url", true).is_some());
    }
}

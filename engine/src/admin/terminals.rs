//! Terminals: create (the switch generates the 32-byte secret and shows it
//! once), show (never the secret), suspend, resume, rotate (the old secret
//! keeps working for `grace_secs`).

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use protocol::TerminalId;
use rand::RngCore;
use serde_json::{json, Value};

use super::{
    code_field, created, int_field, journal_only, not_found, num_field, ok, Admin, Caller,
};
use crate::api::{ApiError, Fields};
use crate::merchants::{RegistryError, Terminal};
use crate::store::{RegistryStatus, TerminalRecord, Write};
use crate::trade::now_ms;

type Answer = Result<Response<Full<Bytes>>, ApiError>;

/// Default grace of a rotation: the old secret verifies one more day.
pub const DEFAULT_GRACE_SECS: u64 = 86_400;
/// Longest grace of a rotation (30 days).
pub const MAX_GRACE_SECS: u64 = 30 * 86_400;
/// Default rate of a terminal (requests per second), as `[[terminals]]`.
const DEFAULT_RATE: f64 = 50.0;

fn no_key() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::CONFLICT,
        "registry_key_missing",
        "terminal secrets are journaled sealed under admin.secret_key_file, which is not configured; set it (32 bytes hex, mode 0600) to create or rotate terminals",
    );
    e.field = Some("admin.secret_key_file".into());
    e
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "terminal secret could not be sealed or opened");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "registry_key_error",
        "the terminal secret could not be sealed; nothing was changed",
    )
}

fn fresh_secret() -> [u8; 32] {
    let mut s = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

fn fresh_key_id() -> String {
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("PT{}", hex::encode_upper(b))
}

impl Admin {
    pub(super) fn terminal(&self, key: &str) -> Result<Arc<Terminal>, ApiError> {
        self.registry()
            .terminal(key)
            .ok_or_else(|| not_found("terminal", key))
    }

    /// The terminal as the admin API shows it: never a secret.
    pub(super) fn terminal_json(&self, t: &Terminal) -> Value {
        let now = now_ms();
        json!({
            "key_id": t.cfg.key_id,
            "external_id": t.external_id,
            "smid": t.cfg.smid,
            "store_id": t.cfg.store_id,
            "terminal_id": t.cfg.terminal_id,
            "equipment_type": t.equipment_type,
            "rate_per_sec": t.cfg.rate_per_sec,
            "burst": t.cfg.burst,
            "status": t.status.as_str(),
            "previous_secret_valid_until_ms": t.previous.as_ref().map(|p| p.1).filter(|u| *u > now),
            "origin": t.origin.as_str(),
            "created_ms": t.created_ms,
            "updated_ms": t.updated_ms,
        })
    }

    fn record_of(&self, t: &Terminal) -> Result<TerminalRecord, ApiError> {
        let key = &t.cfg.key_id;
        let sealed = self
            .registry()
            .seal(key, &t.cfg.secret)
            .map_err(internal)?
            .ok_or_else(no_key)?;
        let previous_sealed = match &t.previous {
            Some((p, _)) => Some(
                self.registry()
                    .seal(key, p)
                    .map_err(internal)?
                    .ok_or_else(no_key)?,
            ),
            None => None,
        };
        Ok(TerminalRecord {
            key_id: key.clone(),
            external_id: t.external_id.clone(),
            store_id: t.cfg.store_id.clone().unwrap_or_default(),
            terminal_id: t.cfg.terminal_id.clone().unwrap_or_default(),
            equipment_type: t.equipment_type.clone(),
            rate_per_sec: t.cfg.rate_per_sec,
            burst: t.cfg.burst,
            status: t.status,
            secret_sealed: sealed,
            previous_sealed,
            previous_until_ms: t.previous.as_ref().map(|p| p.1),
            created_ms: t.created_ms,
            updated_ms: t.updated_ms,
        })
    }

    /// Journals a terminal record with its event, then installs it.
    async fn commit_terminal(
        &self,
        caller: &Caller,
        rec: TerminalRecord,
        keep: Option<&Terminal>,
        kind: &str,
        detail: Value,
    ) -> Result<Arc<Terminal>, ApiError> {
        let term = self
            .registry()
            .terminal_from_record(&rec, keep)
            .map_err(|e| match e {
                RegistryError::NoKey(_) => no_key(),
                e => internal(e),
            })?;
        let key = rec.key_id.clone();
        self.journal(
            caller,
            format!("terminal/{key}"),
            kind,
            detail,
            vec![Write::Terminal(Box::new(rec))],
        )
        .await?;
        self.registry().put_terminal(term);
        self.terminal(&key)
    }

    /// POST /admin/v1/merchants/{external_id}/terminals
    pub(super) async fn create_terminal(&self, caller: &Caller, ext: &str, body: &[u8]) -> Answer {
        let f = Fields::parse(
            body,
            &[
                "store_id",
                "terminal_id",
                "equipment_type",
                "rate_per_sec",
                "burst",
            ],
        )?;
        let store_id = f.str("store_id")?.to_owned();
        let terminal_id = TerminalId::parse(f.str("terminal_id")?)
            .map_err(|e| ApiError::field("terminal_id", e.to_string()))?
            .into_string();
        let equipment_type = code_field(&f, "equipment_type", 16)?;
        let rate = num_field(&f, "rate_per_sec", 1_000_000.0)?.unwrap_or(DEFAULT_RATE);
        let burst = num_field(&f, "burst", 10_000_000.0)?.unwrap_or(rate.max(1.0) * 2.0);
        if burst < 1.0 {
            return Err(ApiError::field("burst", "must be at least 1"));
        }
        if !self.registry().can_seal() {
            return Err(no_key());
        }
        let _guard = self.registry().change().await;
        let m = self.merchant(ext)?;
        journal_only(m.origin, "merchant", ext)?;
        if !m.stores.iter().any(|s| s.store_id == store_id) {
            return Err(ApiError::field(
                "store_id",
                format!("is not a store of merchant {ext} (create it with POST /admin/v1/merchants/{ext}/stores)"),
            ));
        }
        if self.terminal_taken(ext, &store_id, &terminal_id) {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("terminal {terminal_id} of store {store_id} already has a key; rotate its secret instead"),
            );
            e.field = Some("terminal_id".into());
            return Err(e);
        }
        let mut key_id = fresh_key_id();
        while self.registry().terminal(&key_id).is_some() {
            key_id = fresh_key_id();
        }
        let secret = fresh_secret();
        let now = now_ms();
        let t = Terminal::from_config(
            crate::config::TerminalConfig {
                key_id: key_id.clone(),
                secret,
                smid: m.record.smid.clone(),
                store_id: Some(store_id.clone()),
                terminal_id: Some(terminal_id.clone()),
                rate_per_sec: rate,
                burst,
            },
            ext,
        );
        let mut rec = self.record_of(&t)?;
        rec.equipment_type = equipment_type;
        rec.created_ms = now;
        rec.updated_ms = now;
        let detail = json!({"key_id": key_id, "external_id": ext, "store_id": store_id,
                            "terminal_id": terminal_id, "rate_per_sec": rate, "burst": burst});
        let term = self
            .commit_terminal(caller, rec, None, "admin_terminal_created", detail)
            .await?;
        let mut v = self.terminal_json(&term);
        v["secret_hex"] = json!(hex::encode(secret));
        tracing::info!(key_id = %key_id, external_id = %ext, token = %caller.token_id, "terminal created");
        Ok(created(v))
    }

    fn terminal_taken(&self, ext: &str, store_id: &str, terminal_id: &str) -> bool {
        self.registry().terminals_of(ext).iter().any(|t| {
            t.cfg.store_id.as_deref() == Some(store_id)
                && t.cfg.terminal_id.as_deref() == Some(terminal_id)
        })
    }

    /// POST /admin/v1/terminals/{key_id}/suspend and /resume
    pub(crate) async fn terminal_status(
        &self,
        caller: &Caller,
        key: &str,
        suspend: bool,
    ) -> Answer {
        let _guard = self.registry().change().await;
        let cur = self.terminal(key)?;
        journal_only(cur.origin, "terminal", key)?;
        let status = if suspend {
            RegistryStatus::Suspended
        } else {
            RegistryStatus::Active
        };
        if cur.status == status {
            return Ok(ok(self.terminal_json(&cur)));
        }
        let mut rec = self.record_of(&cur)?;
        rec.status = status;
        rec.updated_ms = now_ms();
        let kind = if suspend {
            "admin_terminal_suspended"
        } else {
            "admin_terminal_resumed"
        };
        let term = self
            .commit_terminal(
                caller,
                rec,
                Some(&cur),
                kind,
                json!({"key_id": key, "status": status.as_str()}),
            )
            .await?;
        Ok(ok(self.terminal_json(&term)))
    }

    /// POST /admin/v1/terminals/{key_id}/rotate
    pub(crate) async fn rotate(&self, caller: &Caller, key: &str, body: &[u8]) -> Answer {
        let grace_secs = if body.iter().all(u8::is_ascii_whitespace) {
            DEFAULT_GRACE_SECS
        } else {
            let f = Fields::parse(body, &["grace_secs"])?;
            int_field(&f, "grace_secs", 0, MAX_GRACE_SECS)?.unwrap_or(DEFAULT_GRACE_SECS)
        };
        if !self.registry().can_seal() {
            return Err(no_key());
        }
        let _guard = self.registry().change().await;
        let cur = self.terminal(key)?;
        journal_only(cur.origin, "terminal", key)?;
        let secret = fresh_secret();
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(grace_secs * 1000).unwrap_or(i64::MAX));
        let mut rec = self.record_of(&cur)?;
        rec.previous_sealed = (grace_secs > 0).then(|| rec.secret_sealed.clone());
        rec.previous_until_ms = (grace_secs > 0).then_some(until);
        rec.secret_sealed = self
            .registry()
            .seal(key, &secret)
            .map_err(internal)?
            .ok_or_else(no_key)?;
        rec.updated_ms = now;
        let term = self
            .commit_terminal(
                caller,
                rec,
                Some(&cur),
                "admin_terminal_rotated",
                json!({"key_id": key, "grace_secs": grace_secs,
                       "previous_valid_until_ms": (grace_secs > 0).then_some(until)}),
            )
            .await?;
        let mut v = self.terminal_json(&term);
        v["secret_hex"] = json!(hex::encode(secret));
        v["grace_secs"] = json!(grace_secs);
        Ok(ok(v))
    }
}

//! The simulator's configuration file (TOML), for the `alipay-sim --config`
//! flag: listen address, time scale, delays, the apps and their public keys,
//! the signing key and the profile. Relative key and profile paths are read
//! from the file's own folder.
//!
//! Guarantee: unknown keys are refused (a typo does not pass silently), and
//! errors name the file or field at fault without quoting key material.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{AppRegistration, Profile, SimConfig, SimError};

/// The file's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub time_scale: Option<f64>,
    pub password_delay_secs: Option<f64>,
    pub client_timeout_hint_secs: Option<f64>,
    pub timestamp_window_secs: Option<u64>,
    /// Magic 9003: milliseconds from the dropped connection to the landing (not scaled).
    pub late_landing_ms: Option<u64>,
    pub default_trade_timeout_secs: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub notify_insecure_tls: Option<bool>,
    /// Forget paid or closed trades unchanged for this many seconds.
    pub retain_secs: Option<u64>,
    /// Days after payment a trade can be refunded (default 90).
    pub refund_window_days: Option<u32>,
    /// The indirect apps (their trades must name an onboarded sub-merchant).
    pub indirect_apps: Option<Vec<String>>,
    /// The key that signs responses and notifications (PEM or base64 file).
    pub alipay_private_key_file: Option<PathBuf>,
    /// The apps; when present they replace the demo app.
    #[serde(rename = "app")]
    pub apps: Vec<FileApp>,
    /// A profile file (TOML or JSON)...
    pub profile_file: Option<PathBuf>,
    /// ...or the profile inline.
    pub profile: Option<Profile>,
}

/// One app of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileApp {
    pub app_id: String,
    /// The public key file...
    pub public_key_file: Option<PathBuf>,
    /// ...or the key text inline (PEM or bare base64).
    pub public_key: Option<String>,
}

fn read(base: &Path, p: &Path) -> Result<String, SimError> {
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    std::fs::read_to_string(&full)
        .map_err(|e| SimError::Config(format!("cannot read {}: {e}", full.display())))
}

fn secs(v: f64, field: &str) -> Result<Duration, SimError> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| SimError::Config(format!("{field} must be a non-negative number")))
}

impl FileConfig {
    /// Parses the TOML text of a configuration file.
    pub fn parse(text: &str) -> Result<FileConfig, SimError> {
        toml::from_str(text).map_err(|e| SimError::Config(e.to_string()))
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<(FileConfig, PathBuf), SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Config(format!("cannot read {}: {e}", path.display())))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok((FileConfig::parse(&text)?, base))
    }

    /// Applies the file over `cfg` (usually [`SimConfig::demo`]), reading key
    /// and profile files relative to `base`.
    pub fn apply(self, mut cfg: SimConfig, base: &Path) -> Result<SimConfig, SimError> {
        if let Some(v) = self.listen {
            cfg.listen = v;
        }
        if let Some(v) = self.time_scale {
            cfg.time_scale = v;
        }
        if let Some(v) = self.password_delay_secs {
            cfg.password_delay = secs(v, "password_delay_secs")?;
        }
        if let Some(v) = self.client_timeout_hint_secs {
            cfg.client_timeout_hint = secs(v, "client_timeout_hint_secs")?;
        }
        if let Some(v) = self.late_landing_ms {
            cfg.late_landing = Duration::from_millis(v);
        }
        if let Some(v) = self.timestamp_window_secs {
            cfg.timestamp_window = Duration::from_secs(v);
        }
        if let Some(v) = self.default_trade_timeout_secs {
            cfg.default_trade_timeout = Duration::from_secs(v);
        }
        if let Some(v) = self.max_body_bytes {
            cfg.max_body_bytes = v;
        }
        if let Some(v) = self.notify_insecure_tls {
            cfg.notify_insecure_tls = v;
        }
        if let Some(v) = self.retain_secs {
            cfg.retention = Some(Duration::from_secs(v));
        }
        if let Some(v) = self.refund_window_days {
            cfg.refund_window_days = v;
        }
        if let Some(v) = self.indirect_apps {
            cfg.indirect_apps = v;
        }
        if let Some(p) = &self.alipay_private_key_file {
            cfg.alipay_private_key = read(base, p)?;
        }
        if !self.apps.is_empty() {
            cfg.apps.clear();
            for a in self.apps {
                let public_key = match (a.public_key_file, a.public_key) {
                    (Some(f), None) => read(base, &f)?,
                    (None, Some(k)) => k,
                    _ => {
                        return Err(SimError::Config(format!(
                            "app {}: give exactly one of public_key_file and public_key",
                            a.app_id
                        )))
                    }
                };
                cfg.apps.push(AppRegistration {
                    app_id: a.app_id,
                    public_key,
                });
            }
        }
        match (self.profile_file, self.profile) {
            (Some(_), Some(_)) => {
                return Err(SimError::Config(
                    "give profile_file or [profile], not both".into(),
                ))
            }
            (Some(f), None) => cfg.profile = Profile::parse(&read(base, &f)?)?,
            (None, Some(p)) => {
                p.validate()?;
                cfg.profile = p;
            }
            (None, None) => {}
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_over_the_demo() {
        let dir = std::env::temp_dir().join(format!("alipay-sim-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.pem"), crate::DEMO_APP_PUBLIC_KEY).unwrap();
        let f = FileConfig::parse(
            r#"
listen = "127.0.0.1:9999"
time_scale = 60
late_landing_ms = 250
refund_window_days = 30
[[app]]
app_id = "2021000000000002"
public_key_file = "app.pem"
[profile]
seed = 9
[profile.pay]
wait_password = 0.1
"#,
        )
        .unwrap();
        let cfg = f.apply(SimConfig::demo(), &dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cfg.listen.port(), 9999);
        assert_eq!(cfg.time_scale, 60.0);
        assert_eq!(cfg.late_landing, Duration::from_millis(250));
        assert_eq!(cfg.refund_window_days, 30);
        assert_eq!(cfg.apps.len(), 1);
        assert_eq!(cfg.apps[0].app_id, "2021000000000002");
        assert_eq!(cfg.profile.seed, 9);
        assert!(FileConfig::parse("lisen = \"x\"").is_err());
        let ind = FileConfig::parse("indirect_apps = [\"2021000000000001\"]").unwrap();
        let cfg = ind.apply(SimConfig::demo(), Path::new(".")).unwrap();
        assert_eq!(cfg.indirect_apps, vec![crate::DEMO_APP_ID.to_owned()]);
        let both = FileConfig::parse("[[app]]\napp_id = \"1\"\n").unwrap();
        assert!(both.apply(SimConfig::demo(), Path::new(".")).is_err());
    }
}

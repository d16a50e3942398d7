//! The `alipay-sim` configuration: the TOML file of `--config` (listen
//! address, time scale, delays, the apps and their public keys, the signing
//! key and the profile; relative key and profile paths are read from the
//! file's own folder), and [`resolve`], which merges the command line's
//! [`Flags`] over the file over the defaults (docs/SIMULATOR.md).
//!
//! Guarantees: a flag overrides the file, the file overrides the default;
//! unknown keys are refused (a typo does not pass silently); errors name the
//! flag, file or field at fault without quoting key material.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{AppRegistration, Profile, ProfileError, SimConfig, SimError, DEMO_APP_ID};

/// The shape of a `--config` TOML file. Every key is optional (absent
/// leaves the [`SimConfig`] value it is applied over); an unknown key is
/// refused. Each key sets the [`SimConfig`] field of the same name, in the
/// unit its name carries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// [`SimConfig::listen`].
    pub listen: Option<SocketAddr>,
    /// [`SimConfig::time_scale`] (checked positive at start).
    pub time_scale: Option<f64>,
    /// [`SimConfig::password_delay`], seconds (fractions allowed, not negative).
    pub password_delay_secs: Option<f64>,
    /// [`SimConfig::client_timeout_hint`], seconds (fractions allowed, not negative).
    pub client_timeout_hint_secs: Option<f64>,
    /// [`SimConfig::timestamp_window`], whole seconds.
    pub timestamp_window_secs: Option<u64>,
    /// Magic 9003: milliseconds from the dropped connection to the landing (not scaled).
    pub late_landing_ms: Option<u64>,
    /// [`SimConfig::default_trade_timeout`], whole seconds (at most 366 days).
    pub default_trade_timeout_secs: Option<u64>,
    /// [`SimConfig::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// [`SimConfig::notify_insecure_tls`].
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

/// One `[[app]]` table of the file: an app id and exactly one of
/// `public_key_file` and `public_key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileApp {
    /// [`AppRegistration::app_id`].
    pub app_id: String,
    /// The public key file (PEM or bare base64; relative to the file's folder)...
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
    /// Parses the TOML text of a configuration file (no file is read yet).
    ///
    /// # Errors
    ///
    /// [`SimError::Config`] when the text is not TOML, holds an unknown key
    /// or a value of the wrong type (the message names the key).
    pub fn parse(text: &str) -> Result<FileConfig, SimError> {
        toml::from_str(text).map_err(|e| SimError::Config(e.to_string()))
    }

    /// Reads and parses a configuration file; returns it with the folder its
    /// relative paths start from (the file's own folder).
    ///
    /// # Errors
    ///
    /// [`SimError::Config`] when the file cannot be read (the message names
    /// it) or [`FileConfig::parse`] refuses its text.
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
    /// and profile files relative to `base`. Apps, when the file names any,
    /// replace those of `cfg`.
    ///
    /// # Errors
    ///
    /// [`SimError::Config`] when a duration is negative or not a number, a
    /// key or profile file cannot be read, an app gives both or neither of
    /// `public_key_file` and `public_key`, or both `profile_file` and
    /// `[profile]` are given; [`SimError::Profile`] when the profile is not
    /// valid.
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

/// Where the binary listens when neither a flag nor the file says
/// (`SimConfig::demo` listens on a free port instead, for tests).
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 9090));

/// The command line of `alipay-sim`, as parsed: `None`, `false` or empty
/// leaves the file's value, or the default. Names follow the flags
/// (docs/SIMULATOR.md), with their units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    /// `--config FILE`: the configuration file the other flags override.
    pub config: Option<PathBuf>,
    /// `--listen ADDR`.
    pub listen: Option<SocketAddr>,
    /// `--time-scale N`.
    pub time_scale: Option<f64>,
    /// `--profile FILE` (TOML, or JSON).
    pub profile: Option<PathBuf>,
    /// `--app APP_ID=PUBLIC_KEY_FILE`, repeated: they replace the file's
    /// apps and the demo app.
    pub apps: Vec<String>,
    /// `--alipay-private-key FILE`.
    pub alipay_private_key: Option<PathBuf>,
    /// `--password-delay S`.
    pub password_delay_secs: Option<f64>,
    /// `--client-timeout-hint S`.
    pub client_timeout_hint_secs: Option<f64>,
    /// `--late-landing-ms MS`.
    pub late_landing_ms: Option<u64>,
    /// `--timestamp-window S`.
    pub timestamp_window_secs: Option<u64>,
    /// `--notify-insecure-tls` (true turns it on; false leaves the file's).
    pub notify_insecure_tls: bool,
    /// `--retain-secs N`.
    pub retain_secs: Option<u64>,
    /// `--fee-rate SMID=BPS`, repeated.
    pub fee_rates: Vec<String>,
    /// `--refund-window-days N`.
    pub refund_window_days: Option<u32>,
    /// `--default-fee-bps N`.
    pub default_fee_bps: Option<u32>,
    /// `--app-indirect APP_ID`, repeated: added to the file's.
    pub indirect_apps: Vec<String>,
    /// `--demo-indirect`: the demo app is indirect even when the file names apps.
    pub demo_indirect: bool,
    /// `--demo-direct`: the built-in demo app is direct.
    pub demo_direct: bool,
    /// `--tls-cert FILE` (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key FILE` (with `tls_cert`).
    pub tls_key: Option<PathBuf>,
}

/// The merged configuration: what [`resolve`] and [`merge`] return.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// What [`crate::start`] takes.
    pub config: SimConfig,
    /// Whether responses are signed with the insecure demo key (neither
    /// `--alipay-private-key` nor the file named a key): worth a warning.
    pub insecure_demo_key: bool,
}

/// Why the command line and the file do not make a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag's value was refused; `flag` is its name without the dashes.
    #[error("--{flag} {value:?}: {reason}")]
    Flag {
        /// The flag, without its leading dashes (`fee-rate`).
        flag: &'static str,
        /// The value as given (never key material: flags name key files).
        value: String,
        /// What the value should have been.
        reason: String,
    },
    /// A file a flag names could not be read (`what` says which file).
    #[error("reading {what} from {}", path.display())]
    Read {
        /// Which file, in words (`the signing key (--alipay-private-key)`).
        what: String,
        /// The path as given.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The `--profile` file is not a valid profile.
    #[error("profile {}", path.display())]
    Profile {
        /// The `--profile` path.
        path: PathBuf,
        /// Why the profile was refused (names the profile field).
        #[source]
        source: ProfileError,
    },
    /// The configuration file, or a file it names, was refused (the message
    /// names the file or the field).
    #[error(transparent)]
    File(#[from] SimError),
}

fn flag_error(flag: &'static str, value: impl ToString, reason: &str) -> ConfigError {
    ConfigError::Flag {
        flag,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn flag_secs(v: f64, flag: &'static str) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(v).map_err(|_| flag_error(flag, v, "must be a non-negative number"))
}

fn read_flag_file(what: String, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the `--config` file, if any, and merges the flags over it over the
/// defaults ([`SimConfig::demo`] listening on [`DEFAULT_LISTEN`]).
///
/// # Errors
///
/// [`ConfigError::File`] when the configuration file cannot be read or is
/// refused (a key it does not know, a bad value, a key or profile file it
/// names); [`ConfigError::Flag`] when a flag's value is refused;
/// [`ConfigError::Read`] when a key file a flag names cannot be read;
/// [`ConfigError::Profile`] when the `--profile` file is not a profile.
pub fn resolve(flags: &Flags) -> Result<Resolved, ConfigError> {
    let file = match &flags.config {
        Some(path) => Some(FileConfig::load(path)?),
        None => None,
    };
    merge(file, flags)
}

/// Merges the flags over a configuration file already read (with the folder
/// its relative paths start from) over the defaults: [`resolve`] without
/// reading the `--config` file.
///
/// # Errors
///
/// As [`resolve`].
pub fn merge(file: Option<(FileConfig, PathBuf)>, flags: &Flags) -> Result<Resolved, ConfigError> {
    let mut cfg = SimConfig::demo();
    cfg.listen = DEFAULT_LISTEN;
    // Whether the file names a signing key, and its apps or indirect apps.
    let (mut insecure_demo_key, mut file_names_apps) = (true, false);
    if let Some((file, base)) = file {
        insecure_demo_key = file.alipay_private_key_file.is_none();
        file_names_apps = !file.apps.is_empty() || file.indirect_apps.is_some();
        cfg = file.apply(cfg, &base)?;
    }
    apply_scalars(&mut cfg, flags)?;
    apply_apps(&mut cfg, flags, file_names_apps)?;
    if let Some(p) = &flags.alipay_private_key {
        cfg.alipay_private_key =
            read_flag_file("the signing key (--alipay-private-key)".into(), p)?;
        insecure_demo_key = false;
    }
    if let Some(p) = &flags.profile {
        let text = read_flag_file("the profile (--profile)".into(), p)?;
        cfg.profile = Profile::parse(&text).map_err(|source| ConfigError::Profile {
            path: p.clone(),
            source,
        })?;
    }
    Ok(Resolved {
        config: cfg,
        insecure_demo_key,
    })
}

/// The flags of one value each (the listener, times, fees, TLS).
fn apply_scalars(cfg: &mut SimConfig, f: &Flags) -> Result<(), ConfigError> {
    if let Some(v) = f.listen {
        cfg.listen = v;
    }
    if let Some(v) = f.time_scale {
        cfg.time_scale = v;
    }
    if let Some(v) = f.password_delay_secs {
        cfg.password_delay = flag_secs(v, "password-delay")?;
    }
    if let Some(v) = f.client_timeout_hint_secs {
        cfg.client_timeout_hint = flag_secs(v, "client-timeout-hint")?;
    }
    if let Some(v) = f.late_landing_ms {
        cfg.late_landing = Duration::from_millis(v);
    }
    if let Some(v) = f.timestamp_window_secs {
        cfg.timestamp_window = Duration::from_secs(v);
    }
    if f.notify_insecure_tls {
        cfg.notify_insecure_tls = true;
    }
    for r in &f.fee_rates {
        let Some((smid, bps)) = r.split_once('=') else {
            return Err(flag_error("fee-rate", r, "must be SMID=BPS"));
        };
        let bps: u32 = bps
            .parse()
            .map_err(|_| flag_error("fee-rate", r, "BPS must be a whole number"))?;
        cfg.fee_rates.insert(smid.to_owned(), bps);
    }
    if let Some(v) = f.default_fee_bps {
        cfg.default_fee_bps = v;
    }
    if let Some(v) = f.refund_window_days {
        cfg.refund_window_days = v;
    }
    match (&f.tls_cert, &f.tls_key) {
        (Some(c), Some(k)) => cfg.tls = Some((c.clone(), k.clone())),
        (Some(c), None) => return Err(flag_error("tls-cert", c.display(), "needs --tls-key")),
        (None, Some(k)) => return Err(flag_error("tls-key", k.display(), "needs --tls-cert")),
        (None, None) => {}
    }
    if let Some(v) = f.retain_secs {
        cfg.retention = Some(Duration::from_secs(v));
    }
    Ok(())
}

/// `--app`, `--app-indirect`, `--demo-indirect`, `--demo-direct`. The
/// built-in demo app (served when neither `--app` nor the file names an app
/// or an indirect app) is an indirect acquirer's app, as an acquirer's is
/// (docs/PROTOCOL.md §9): its trades must name an onboarded sub-merchant, unless
/// `--demo-direct`.
fn apply_apps(cfg: &mut SimConfig, f: &Flags, file_names_apps: bool) -> Result<(), ConfigError> {
    if !f.apps.is_empty() {
        cfg.apps.clear();
        for a in &f.apps {
            let Some((id, file)) = a.split_once('=') else {
                return Err(flag_error("app", a, "must be APP_ID=PUBLIC_KEY_FILE"));
            };
            let public_key =
                read_flag_file(format!("the public key of app {id}"), Path::new(file))?;
            cfg.apps.push(AppRegistration {
                app_id: id.to_owned(),
                public_key,
            });
        }
    }
    for a in &f.indirect_apps {
        if !cfg.indirect_apps.contains(a) {
            cfg.indirect_apps.push(a.clone());
        }
    }
    let builtin_demo = f.apps.is_empty() && !file_names_apps;
    if (f.demo_indirect || (builtin_demo && !f.demo_direct))
        && !cfg.indirect_apps.iter().any(|a| a == DEMO_APP_ID)
    {
        cfg.indirect_apps.push(DEMO_APP_ID.to_owned());
    }
    Ok(())
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

    /// A folder with the demo app's public key (`app.pem`) and a
    /// configuration file (`sim.toml`) of this text.
    fn folder(toml: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.pem"), crate::DEMO_APP_PUBLIC_KEY).unwrap();
        let cfg = dir.path().join("sim.toml");
        std::fs::write(&cfg, toml).unwrap();
        (dir, cfg)
    }

    fn with_file(path: &Path) -> Flags {
        Flags {
            config: Some(path.to_path_buf()),
            ..Flags::default()
        }
    }

    fn refused(f: &Flags) -> String {
        match resolve(f) {
            Ok(_) => panic!("accepted {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn without_flags_or_file_the_defaults_hold() {
        let r = resolve(&Flags::default()).unwrap();
        let demo = SimConfig::demo();
        assert_eq!(r.config.listen, DEFAULT_LISTEN);
        assert_eq!(r.config.listen.to_string(), "127.0.0.1:9090");
        assert_eq!(r.config.time_scale, 1.0);
        assert_eq!(r.config.password_delay, Duration::from_secs(10));
        assert_eq!(r.config.client_timeout_hint, Duration::from_secs(20));
        assert_eq!(r.config.late_landing, Duration::from_millis(3000));
        assert_eq!(r.config.timestamp_window, Duration::from_secs(900));
        assert_eq!(r.config.refund_window_days, 90);
        assert_eq!(r.config.default_fee_bps, 60);
        assert_eq!(r.config.retention, None);
        assert!(r.config.tls.is_none() && !r.config.notify_insecure_tls);
        assert_eq!(r.config.apps, demo.apps);
        assert_eq!(r.config.profile, Profile::default());
        // The built-in demo app is indirect in the binary.
        assert_eq!(r.config.indirect_apps, vec![DEMO_APP_ID.to_owned()]);
        assert!(r.insecure_demo_key);
    }

    #[test]
    fn the_file_overrides_the_defaults() {
        let (_dir, path) = folder(
            "listen = \"127.0.0.1:9999\"\ntime_scale = 60\npassword_delay_secs = 2.5\n\
             timestamp_window_secs = 60\nnotify_insecure_tls = true\nretain_secs = 30\n\
             refund_window_days = 30\nalipay_private_key_file = \"app.pem\"\n",
        );
        let r = resolve(&with_file(&path)).unwrap();
        assert_eq!(r.config.listen.port(), 9999);
        assert_eq!(r.config.time_scale, 60.0);
        assert_eq!(r.config.password_delay, Duration::from_millis(2500));
        assert_eq!(r.config.timestamp_window, Duration::from_secs(60));
        assert!(r.config.notify_insecure_tls);
        assert_eq!(r.config.retention, Some(Duration::from_secs(30)));
        assert_eq!(r.config.refund_window_days, 30);
        assert_eq!(r.config.alipay_private_key, crate::DEMO_APP_PUBLIC_KEY);
        assert!(!r.insecure_demo_key, "the file named the key");
        // What the file leaves out keeps its default.
        assert_eq!(r.config.late_landing, Duration::from_millis(3000));
    }

    #[test]
    fn a_flag_overrides_the_file() {
        let (dir, path) = folder(
            "listen = \"127.0.0.1:9999\"\ntime_scale = 60\npassword_delay_secs = 2.5\n\
             late_landing_ms = 250\nrefund_window_days = 30\n\
             indirect_apps = [\"2021000000000002\"]\n\
             [[app]]\napp_id = \"2021000000000002\"\npublic_key_file = \"app.pem\"\n\
             [profile]\nseed = 9\n",
        );
        std::fs::write(dir.path().join("p.toml"), "seed = 77\n").unwrap();
        let app = format!("2021000000000003={}", dir.path().join("app.pem").display());
        let f = Flags {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            time_scale: Some(2.0),
            password_delay_secs: Some(1.5),
            late_landing_ms: Some(10),
            refund_window_days: Some(7),
            apps: vec![app],
            indirect_apps: vec!["2021000000000003".into()],
            fee_rates: vec!["2088000000000001=38".into()],
            default_fee_bps: Some(55),
            profile: Some(dir.path().join("p.toml")),
            alipay_private_key: Some(dir.path().join("app.pem")),
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..with_file(&path)
        };
        let r = resolve(&f).unwrap();
        assert_eq!(r.config.listen.port(), 7000);
        assert_eq!(r.config.time_scale, 2.0);
        assert_eq!(r.config.password_delay, Duration::from_millis(1500));
        assert_eq!(r.config.late_landing, Duration::from_millis(10));
        assert_eq!(r.config.refund_window_days, 7);
        // --app replaces the file's apps; --app-indirect adds to its indirect apps.
        assert_eq!(r.config.apps.len(), 1);
        assert_eq!(r.config.apps[0].app_id, "2021000000000003");
        assert_eq!(
            r.config.indirect_apps,
            vec!["2021000000000002".to_owned(), "2021000000000003".to_owned()]
        );
        assert_eq!(r.config.fee_rates["2088000000000001"], 38);
        assert_eq!(r.config.default_fee_bps, 55);
        assert_eq!(r.config.profile.seed, 77);
        assert_eq!(
            r.config.tls,
            Some((PathBuf::from("c.pem"), PathBuf::from("k.pem")))
        );
        assert!(!r.insecure_demo_key);
    }

    #[test]
    fn the_demo_app_is_indirect_unless_told_or_apps_are_named() {
        let direct = Flags {
            demo_direct: true,
            ..Flags::default()
        };
        assert!(resolve(&direct).unwrap().config.indirect_apps.is_empty());
        let (_dir, path) =
            folder("[[app]]\napp_id = \"2021000000000001\"\npublic_key_file = \"app.pem\"\n");
        assert!(resolve(&with_file(&path))
            .unwrap()
            .config
            .indirect_apps
            .is_empty());
        let indirect = Flags {
            demo_indirect: true,
            ..with_file(&path)
        };
        assert_eq!(
            resolve(&indirect).unwrap().config.indirect_apps,
            vec![DEMO_APP_ID.to_owned()]
        );
    }

    #[test]
    fn a_bad_value_names_its_flag_or_field() {
        let bad = |f: Flags, name: &str| {
            let e = refused(&f);
            assert!(e.contains(name), "{e:?} should name {name}");
        };
        bad(
            Flags {
                password_delay_secs: Some(-1.0),
                ..Flags::default()
            },
            "--password-delay",
        );
        bad(
            Flags {
                client_timeout_hint_secs: Some(f64::NAN),
                ..Flags::default()
            },
            "--client-timeout-hint",
        );
        bad(
            Flags {
                fee_rates: vec!["2088000000000001".into()],
                ..Flags::default()
            },
            "--fee-rate",
        );
        bad(
            Flags {
                fee_rates: vec!["2088000000000001=0.5".into()],
                ..Flags::default()
            },
            "BPS must be a whole number",
        );
        bad(
            Flags {
                apps: vec!["no-equals-sign".into()],
                ..Flags::default()
            },
            "APP_ID=PUBLIC_KEY_FILE",
        );
        bad(
            Flags {
                apps: vec!["2021000000000009=/nonexistent/app.pem".into()],
                ..Flags::default()
            },
            "the public key of app 2021000000000009",
        );
        bad(
            Flags {
                profile: Some("/nonexistent/profile.toml".into()),
                ..Flags::default()
            },
            "--profile",
        );
        bad(
            Flags {
                tls_cert: Some("c.pem".into()),
                ..Flags::default()
            },
            "--tls-cert",
        );
        bad(
            Flags {
                config: Some("/nonexistent/sim.toml".into()),
                ..Flags::default()
            },
            "/nonexistent/sim.toml",
        );
        let (_dir, path) = folder("password_delay_secs = -1\n");
        bad(with_file(&path), "password_delay_secs");
        let (_dir, path) = folder("lisen = \"127.0.0.1:1\"\n");
        bad(with_file(&path), "lisen");
        let (_dir, path) = folder("time_scale = \"fast\"\n");
        bad(with_file(&path), "time_scale");
        // The profile's own field.
        let (dir, path) = folder("time_scale = 1\n");
        std::fs::write(dir.path().join("p.toml"), "seed = \"x\"\n").unwrap();
        let f = Flags {
            profile: Some(dir.path().join("p.toml")),
            ..with_file(&path)
        };
        let e = resolve(&f).unwrap_err();
        let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(
            chain.contains("p.toml") && chain.contains("seed"),
            "{chain}"
        );
    }
}

//! PostgreSQL for the tests: the server `PAYSWITCH_TEST_PG_URL` names (a
//! role that may CREATE DATABASE), else the local cluster (started with
//! `pg_ctlcluster` when it is down; a `payswitch_test` role is created as
//! the `postgres` user). Every test gets its own fresh database, dropped at
//! the end, so tests run in parallel. Without a server a test prints why
//! and skips; under `CI=true` it fails instead.

use std::process::Command;
use std::sync::OnceLock;

use rand::Rng;

const ROLE: &str = "payswitch_test";

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The local cluster: started if down, the test role created. Returns the
/// admin URL.
fn local_cluster() -> Result<String, String> {
    let list = run(Command::new("pg_lsclusters").arg("--no-header"))
        .map_err(|e| format!("no local PostgreSQL (pg_lsclusters: {e})"))?;
    let line = list
        .lines()
        .find(|l| l.split_whitespace().count() >= 4)
        .ok_or("pg_lsclusters lists no cluster")?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let (ver, name, port, status) = (f[0], f[1], f[2], f[3]);
    if status != "online" {
        // Another test binary may start it at the same moment: check after.
        let _ = run(Command::new("pg_ctlcluster").args([ver, name, "start"]));
        let list = run(Command::new("pg_lsclusters").arg("--no-header"))?;
        if !list
            .lines()
            .any(|l| l.split_whitespace().nth(3) == Some("online"))
        {
            return Err(format!("pg_ctlcluster {ver} {name} start did not start it"));
        }
    }
    let sql = format!(
        "DO $$ BEGIN CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{ROLE}'; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
    );
    run(Command::new("runuser").args([
        "-u",
        "postgres",
        "--",
        "psql",
        "-q",
        "-p",
        port,
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        &sql,
    ]))
    .map_err(|e| format!("cannot create the test role: {e}"))?;
    Ok(format!(
        "postgres://{ROLE}:{ROLE}@127.0.0.1:{port}/postgres"
    ))
}

/// The admin URL, found once per test binary.
fn admin_url() -> &'static Result<String, String> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("PAYSWITCH_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Ok(u),
        _ => local_cluster(),
    })
}

/// `url` with its database name replaced by `db`.
pub fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{db}{query}", &base[..authority_end])
}

async fn admin_client(url: &str) -> Result<tokio_postgres::Client, String> {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    tokio::spawn(conn);
    Ok(c)
}

/// A fresh database of its own for one test.
pub struct PgDb {
    /// Connects to the test database.
    pub url: String,
    admin: String,
    name: String,
}

fn skip_or_fail(test: &str, reason: &str) -> Option<PgDb> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: PostgreSQL is required in CI: {reason}");
    }
    eprintln!("skipping {test}: no PostgreSQL server can be had: {reason}");
    None
}

impl PgDb {
    /// A new empty database; None (the reason printed) when no server can
    /// be had.
    pub async fn fresh(test: &str) -> Option<PgDb> {
        let admin = match admin_url() {
            Ok(u) => u.clone(),
            Err(e) => return skip_or_fail(test, e),
        };
        let client = match admin_client(&admin).await {
            Ok(c) => c,
            Err(e) => return skip_or_fail(test, &e),
        };
        let tag: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(24)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!(
            "payswitch_test_{tag}_{:08x}",
            rand::thread_rng().gen::<u32>()
        );
        if let Err(e) = client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
        {
            return skip_or_fail(test, &format!("CREATE DATABASE: {e}"));
        }
        Some(PgDb {
            url: with_db(&admin, &name),
            admin,
            name,
        })
    }

    /// A separate client on the test database (raw SQL beside the store).
    pub async fn client(&self) -> tokio_postgres::Client {
        admin_client(&self.url).await.expect("test database")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Its own thread and runtime: drop may run inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(c) = admin_client(&admin).await {
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

//! The test harness: the real application on port 0 with a fresh SQLite file, signed-in and
//! anonymous clients, an API token, captured logs.
#![allow(dead_code)]

pub mod fake_provider;
pub mod oauth_flow;
pub mod server_process;
pub mod smtp_server;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use server::config::Config;
use server::secrets::{KeySource, Keyring};
use server::store::{Store, TokenScope};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "smtp-Pa55word-never-shown";
pub const CLIENT_SECRET: &str = "client~Secret.value-never-shown";
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// The test key (bytes 0..32); fixed so that a restarted server reads what the first stored.
pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// One running server on its own database file.
pub struct TestApp {
    pub addr: SocketAddr,
    /// A browser-like client: signed in, with a cookie jar, sending this site's `Origin`.
    pub client: reqwest::Client,
    /// A client with no session and no token.
    pub anon: reqwest::Client,
    /// An API token for the REST helpers.
    pub token: String,
    pub store: Store,
    pub logs: Logs,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: JoinHandle<()>,
}

/// Nothing here may take long: a hang must fail with a message, never eat the CI budget.
pub const STEP: Duration = Duration::from_secs(20);

/// Everything the servers of this test binary logged (all tests share one log), to search
/// for secrets. Also echoed to the test's output, shown when a test fails.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

pub fn logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=warn,hyper=info,hyper_util=info,tower_sessions=info")
            .with_writer(move || sink.clone())
            .init();
        logs
    })
    .clone()
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

pub fn test_config(db: &Path) -> Config {
    Config {
        site_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url(db),
        base_path: "/ConMasManager".into(),
        server_ip: Some("192.0.2.10".parse().unwrap()),
        site_root: "target/site".into(),
        site_pkg_dir: "pkg".into(),
        output_name: "mail-settings".into(),
        hash_files: false,
        http: server::config::HttpLimits::default(),
        notify_rate: server::config::NotifyRate::default(),
        retention: server::config::Retention::default(),
        secret_key: KeySource::Env {
            current: SecretString::from(KEY),
            previous: None,
        },
        public_origins: vec![],
        cookie_secure: false,
        admin: Some((ADMIN.into(), SecretString::from(ADMIN_PASSWORD))),
        session_idle: Duration::from_secs(1800),
        session_max: Duration::from_secs(8 * 3600),
        providers: server::config::ProviderEndpoints {
            system_proxy: false,
            ..Default::default()
        },
        smtp_ca_file: None,
        smtp_timeout: Duration::from_secs(30),
        smtp_pool_size: 4,
        time_offset: time::UtcOffset::from_hms(9, 0, 0).unwrap(),
        worker: server::config::WorkerConfig {
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            idle: Duration::from_millis(200),
            lease: Duration::from_secs(5),
            ..Default::default()
        },
        alerts: server::service::alerts::AlertConfig {
            poll: Duration::from_millis(100),
            retry_base: Duration::from_millis(200),
            timeout: Duration::from_secs(5),
            expiry_check: Duration::from_millis(300),
        },
    }
}

impl TestApp {
    pub async fn spawn(db: &Path) -> TestApp {
        Self::spawn_with(test_config(db)).await
    }

    pub async fn spawn_with(config: Config) -> TestApp {
        Self::spawn_with_login(config, ADMIN, ADMIN_PASSWORD).await
    }

    /// Starts the server and signs `client` in as `user`.
    pub async fn spawn_with_login(config: Config, user: &str, password: &str) -> TestApp {
        let logs = logs();
        let keys = Keyring::load(&config.secret_key).unwrap();
        let store = Store::open(&config.database_url, &config.base_path, keys)
            .await
            .expect("store opens");
        let app = server::router(&config, store.clone())
            .await
            .expect("router builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = config.http.clone();
        let server = tokio::spawn(async move {
            server::http::server::serve(listener, app, limits, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let mut origin = reqwest::header::HeaderMap::new();
        origin.insert("origin", format!("http://{addr}").parse().unwrap());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .default_headers(origin)
            .timeout(STEP)
            .no_proxy()
            .build()
            .unwrap();
        let anon = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(STEP)
            .no_proxy()
            .build()
            .unwrap();
        // A second app on the same database gets its own "tests" token (names are unique
        // among live tokens).
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1
             WHERE name = 'tests' AND revoked_at IS NULL",
        )
        .bind(server::clock::now_ms())
        .execute(store.pool())
        .await
        .unwrap();
        let token = api_token(&store, "tests", TokenScope::Admin).await;
        let app = TestApp {
            addr,
            client,
            anon,
            token,
            store,
            logs,
            shutdown,
            server,
        };
        let res = app.login(&app.client, user, password).await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "the test administrator signs in"
        );
        app
    }

    /// Posts the sign-in form.
    pub async fn login(
        &self,
        client: &reqwest::Client,
        user: &str,
        password: &str,
    ) -> reqwest::Response {
        client
            .post(self.url("/ConMasManager/System/Login"))
            .header("origin", format!("http://{}", self.addr))
            .form(&[("username", user), ("password", password), ("next", "")])
            .send()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        // Dropping the clients closes their keep-alive connections, so the shutdown ends.
        drop(self.client);
        drop(self.anon);
        let _ = self.shutdown.send(());
        tokio::time::timeout(STEP, self.server)
            .await
            .expect("the server stops within the step timeout")
            .expect("the server task ends cleanly");
        // The application's tasks (its heartbeat among them) ended with the server: a clean
        // stop removes its row, as the server binary's does (unless a test closed the store).
        let _ = self.store.unregister(self.store.instance()).await;
        tokio::time::timeout(STEP, self.store.close())
            .await
            .expect("the database closes within the step timeout");
    }

    /// A GET without session or token.
    pub async fn anon_get(&self, path: &str) -> reqwest::Response {
        self.anon.get(self.url(path)).send().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get_settings(&self) -> Value {
        let res = self
            .anon
            .get(self.url("/ConMasManager/api/v1/mail-settings"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.text().await.unwrap();
        assert_no_secret(&body);
        serde_json::from_str(&body).unwrap()
    }

    /// PUT, returning status and parsed body; every body is checked for secrets.
    pub async fn put_settings(&self, body: &Value) -> (StatusCode, Value) {
        self.put_raw(&body.to_string(), "application/json", None)
            .await
    }

    pub async fn put_raw(
        &self,
        body: &str,
        content_type: &str,
        lang: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .anon
            .put(self.url("/ConMasManager/api/v1/mail-settings"))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body.to_string());
        if let Some(lang) = lang {
            req = req.header("accept-language", lang);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_no_secret(&text);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

pub fn assert_no_secret(body: &str) {
    assert!(
        !body.contains(PASSWORD),
        "a response carried the SMTP password: {body}"
    );
    assert!(
        !body.contains(CLIENT_SECRET),
        "a response carried the client secret: {body}"
    );
}

/// Waits (up to 15 s) until `cond` holds.
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Writes a notification row as it is (`recipients` as stored, maybe damaged), created at
/// `created_ms` and due at `due_ms`, bypassing the submission checks.
pub async fn insert_notification(
    pool: &sqlx::AnyPool,
    id: &str,
    recipients: &str,
    status: &str,
    due_ms: i64,
    created_ms: i64,
) {
    sqlx::query(
        "INSERT INTO notifications (id, actor, recipients, subject, body, message_id, status,
             next_attempt_at, created_at, updated_at)
         VALUES ($1, 'token:tests', $2, 's', 'b', $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(recipients)
    .bind(format!("<{id}@example.co.jp>"))
    .bind(status)
    .bind(due_ms)
    .bind(created_ms)
    .bind(created_ms)
    .execute(pool)
    .await
    .unwrap();
}

/// A new API token's value, created as `server token create` does.
pub async fn api_token(store: &Store, name: &str, scope: TokenScope) -> String {
    let token = server::service::accounts::create_api_token(store, name, scope, None, "tests")
        .await
        .unwrap();
    token.expose_secret().to_string()
}

/// A free TCP port on 127.0.0.1 (for a server process of its own).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The database a test's file names: the SQLite file itself or, when `TEST_POSTGRES` names a
/// PostgreSQL server (the test script's throwaway cluster, e.g. `postgres://postgres@127.0.0.1:5433`),
/// a database of its own there, created on first use. The test script runs every test on both.
pub fn database_url(db: &Path) -> String {
    match std::env::var("TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => postgres_database(server.trim_end_matches('/'), db),
        _ => format!("sqlite://{}", db.display()),
    }
}

/// Whether this run is the PostgreSQL one.
pub fn on_postgres() -> bool {
    std::env::var("TEST_POSTGRES").is_ok_and(|s| !s.is_empty())
}

fn postgres_database(server: &str, db: &Path) -> String {
    use std::hash::{Hash, Hasher};
    static CREATED: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut hasher);
    let name = format!("t_{:016x}", hasher.finish());
    let url = format!("{server}/{name}");
    let mut created = CREATED.get_or_init(Default::default).lock().unwrap();
    if created.insert(name.clone()) {
        let admin = format!("{server}/postgres");
        // Its own thread and runtime: this is called from sync code inside async tests.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    use sqlx::Connection as _;
                    let mut conn = sqlx::PgConnection::connect(&admin)
                        .await
                        .expect("the test PostgreSQL server answers (TEST_POSTGRES)");
                    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                        .await
                        .expect("a test database is created");
                })
        })
        .join()
        .unwrap();
    }
    url
}

/// Everything the database holds, as a backup would: the SQLite files beside `db`, or a
/// `pg_dump` of the test's PostgreSQL database.
pub fn database_contents(db: &Path) -> Vec<Vec<u8>> {
    if on_postgres() {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin/pg_dump")))
            .filter(|p| p.exists())
            .max()
            .expect("pg_dump");
        let out = std::process::Command::new(bin)
            .arg(database_url(db))
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        vec![out.stdout]
    } else {
        std::fs::read_dir(db.parent().unwrap())
            .unwrap()
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect()
    }
}

pub fn fresh_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.db");
    (dir, path)
}

pub fn valid_smtp() -> Value {
    json!({
        "auth": "smtp",
        "smtp": {
            "server": "smtp.example.co.jp",
            "port": 587,
            "user": "notice@example.co.jp",
            "password": PASSWORD,
            "ssl": true
        },
        "manager_root": "https://reports.example.co.jp/ConMasManager"
    })
}

pub fn error_codes(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `POST {base}/api/v1/mail/test` with the API token (English answers).
pub async fn post_test_mail(
    app: &TestApp,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let res = app
        .anon
        .post(app.url("/ConMasManager/api/v1/mail/test"))
        .bearer_auth(&app.token)
        .header("accept-language", "en")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

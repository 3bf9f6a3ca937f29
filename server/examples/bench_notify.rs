//! Throughput of the notification pipeline (a benchmark, not a test): notifications accepted per
//! second through `POST {base}/api/v1/notifications`, and delivered per second by the worker
//! to an SMTP sink. Run by `make bench` (scripts/bench.sh), which starts Postfix's smtp-sink.
//!
//!   bench_notify --smtp-port P [--count N] [--concurrency C] [--pool SIZE]
//!                [--postgres postgres://user@host:port]
//!
//! SQLite in a temporary file by default; with `--postgres`, a new database on that server.

use secrecy::{ExposeSecret, SecretString};
use server::config::{Config, ProviderEndpoints};
use server::secrets::{KeySource, Keyring};
use server::store::{Status, Store};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let smtp_port = arg("--smtp-port", 2525) as u16;
    let count = arg("--count", 2000) as usize;
    let concurrency = arg("--concurrency", 8) as usize;
    let pool = arg("--pool", 4) as usize;

    let postgres = std::env::args().skip_while(|a| a != "--postgres").nth(1);
    let dir = tempfile_dir()?;
    let database_url = match &postgres {
        Some(server) => {
            use sqlx::{Connection as _, Executor as _};
            let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await?;
            format!("{server}/{name}")
        }
        None => format!("sqlite://{}", dir.join("bench.db").display()),
    };
    let database = if postgres.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let config = Config {
        site_addr: "127.0.0.1:0".parse()?,
        database_url,
        base_path: "/ConMasManager".into(),
        server_ip: Some("192.0.2.10".parse()?),
        site_root: "target/site".into(),
        site_pkg_dir: "pkg".into(),
        output_name: "mail-settings".into(),
        hash_files: false,
        http: server::config::HttpLimits::default(),
        // The bench measures the API and the durable insert, not the per-token limit (which
        // `NOTIFY_RATE_PER_SECOND` / `NOTIFY_BURST` set for real callers).
        notify_rate: server::config::NotifyRate {
            per_second: 1_000_000,
            burst: 1_000_000,
        },
        retention: server::config::Retention::default(),
        secret_key: KeySource::Env {
            current: SecretString::from(server::secrets::generate_key_text()),
            previous: None,
        },
        public_origins: vec![],
        cookie_secure: false,
        // An administrator exists, so no set-up link is printed.
        admin: Some(("bench".into(), server::secrets::generate_key_text())),
        session_idle: Duration::from_secs(1800),
        session_max: Duration::from_secs(8 * 3600),
        providers: ProviderEndpoints {
            system_proxy: false,
            ..Default::default()
        },
        smtp_ca_file: None,
        smtp_timeout: Duration::from_secs(30),
        time_offset: time::UtcOffset::from_hms(9, 0, 0)?,
        worker: server::config::WorkerConfig {
            idle: Duration::from_millis(50),
            ..Default::default()
        },
        alerts: Default::default(),
        smtp_pool_size: pool,
    };
    let keys = Keyring::load(&config.secret_key)?;
    let store = Store::open(&config.database_url, &config.base_path, keys).await?;
    let app = server::router(&config, store.clone()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let limits = config.http.clone();
    tokio::spawn(async move {
        let _ = server::http::server::serve(listener, app, limits, std::future::pending()).await;
    });
    let token = server::service::accounts::create_api_token(
        &store,
        "bench",
        server::store::TokenScope::Notify,
        None,
        "bench",
    )
    .await?;
    let token = token.expose_secret().to_string();
    // Settings need an administrator's token; the submissions use the notify one.
    let admin = server::service::accounts::create_api_token(
        &store,
        "bench-admin",
        server::store::TokenScope::Admin,
        None,
        "bench",
    )
    .await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let base = format!("http://{addr}/ConMasManager");

    let put = http
        .put(format!("{base}/api/v1/mail-settings"))
        .bearer_auth(admin.expose_secret())
        .json(&serde_json::json!({
            "auth": "smtp",
            "smtp": {"server": "127.0.0.1", "port": smtp_port, "user": "bench@example.co.jp",
                     "password": "bench-password", "ssl": false},
            "manager_root": "https://reports.example.co.jp/ConMasManager"
        }))
        .send()
        .await?;
    anyhow::ensure!(put.status().is_success(), "settings: {}", put.text().await?);

    // Accepting: the worker is held back, so this measures the API and the durable insert.
    store
        .set_queue_paused(Some(("bench", "held for the benchmark")), 0)
        .await?;
    let started = Instant::now();
    let per_task = count.div_ceil(concurrency);
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for n in t * per_task..((t + 1) * per_task).min(count) {
                let res = http
                    .post(format!("{base}/api/v1/notifications"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({
                        "subject": "[{rep_name}] が提出されました",
                        "body": "{user_name} さんが {rep_name} (#{rep_id}) を提出しました。\n{rep_url}",
                        "to": [format!("user{n}@example.co.jp")],
                        "data": {"rep_name": "点検報告書", "rep_id": n.to_string(), "user_name": "山田",
                                 "rep_path": format!("/Report/{n}")}
                    }))
                    .send()
                    .await
                    .expect("submission");
                assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let accept = started.elapsed();

    // Delivering: release the queue and wait until every notification is sent.
    let started = Instant::now();
    store.set_queue_paused(None, 0).await?;
    loop {
        let (_, sent) = store.notifications(Some(Status::Sent), 1, 0).await?;
        if sent as usize == count {
            break;
        }
        let (_, failed) = store.notifications(Some(Status::Failed), 1, 0).await?;
        anyhow::ensure!(failed == 0, "{failed} notifications failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deliver = started.elapsed();
    println!(
        "db={database} pool={pool} count={count} concurrency={concurrency} accepted_per_s={:.0} delivered_per_s={:.0}",
        count as f64 / accept.as_secs_f64(),
        count as f64 / deliver.as_secs_f64()
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("bench-notify-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

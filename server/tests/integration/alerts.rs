//! Alerts without mail: a real HTTP receiver gets the JSON the webhook of Slack, Teams or any
//! receiver would, when a wrong password pauses the queue; retried when the receiver fails;
//! once per kind per hour; the address never shown, logged or put in an error; the test button.

use crate::common;

use axum::extract::State;
use axum::http::HeaderMap;
use common::smtp_server::{SMTP_PASSWORD, SMTP_USER, SmtpServer};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The secret part of the receiver's address, as Slack's and Teams' addresses carry one.
const HOOK_SECRET: &str = "T0AAAA/B0BBBB/hook-secret-7f3a9c";

/// Every POST the receiver got: its headers and JSON body.
type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A webhook receiver on 127.0.0.1 that records every POST; the first `fail_first` get 500.
struct Receiver {
    port: u16,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let seen: Seen = Arc::default();
        let handler = |State((seen, fail_first)): State<(Seen, usize)>,
                       headers: HeaderMap,
                       axum::Json(body): axum::Json<Value>| async move {
            let mut seen = seen.lock().unwrap();
            seen.push((headers, body));
            if seen.len() <= fail_first {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        };
        let app = axum::Router::new()
            .route(
                &format!("/services/{HOOK_SECRET}"),
                axum::routing::post(handler),
            )
            .with_state((seen.clone(), fail_first));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { port, seen, task }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/services/{HOOK_SECRET}", self.port)
    }

    fn bodies(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn save(app: &TestApp, smtp_port: u16, password: &str, alerts: Value) -> Value {
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "smtp",
            "smtp": {"server": "127.0.0.1", "port": smtp_port, "user": SMTP_USER,
                     "password": password, "ssl": false},
            "manager_root": "https://reports.example.co.jp/ConMasManager0001",
            "alerts": alerts,
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn submit(app: &TestApp, n: usize) {
    let res = app
        .anon
        .post(app.url("/ConMasManager/api/v1/notifications"))
        .bearer_auth(&app.token)
        .json(&json!({"subject": "s", "body": "b", "to": [format!("user{n}@example.co.jp")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_pauses_the_queue_and_the_webhook_hears_it_once() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    // The receiver fails twice: the alert is retried until it is taken.
    let receiver = Receiver::start(2).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let saved = save(
        &app,
        smtp.port,
        "a-wrong-password",
        json!({"enabled": true, "webhook_url": receiver.url()}),
    )
    .await;
    // Write-only: the answer says that one is set and where, never the address.
    assert_eq!(saved["alerts"]["enabled"], true);
    assert_eq!(saved["alerts"]["webhook_set"], true);
    assert_eq!(saved["alerts"]["webhook_host"], "127.0.0.1");
    assert!(!saved.to_string().contains(HOOK_SECRET), "{saved}");
    assert!(!app.get_settings().await.to_string().contains(HOOK_SECRET));

    submit(&app, 1).await;
    eventually("the alert delivered after two failures", || async {
        receiver.bodies().len() == 3
    })
    .await;
    let bodies = receiver.bodies();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "every retry sends the same alert"
    );
    let alert = &bodies[0];
    assert_eq!(alert["event"], "queue_paused");
    let at = alert["at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
        "{at}"
    );
    let detail = alert["detail"].as_str().unwrap();
    assert!(detail.starts_with("auth_failed at auth: 535"), "{detail}");
    let text = alert["text"].as_str().unwrap();
    assert!(
        text.contains("Mail sending paused") && text.contains("535"),
        "{text}"
    );
    assert!(!alert.to_string().contains(SMTP_PASSWORD));
    assert_eq!(
        receiver.seen.lock().unwrap()[0].0["content-type"],
        "application/json"
    );

    // Paused again within the hour (the settings saved, still wrong): no second alert.
    save(&app, smtp.port, "still-wrong", json!({"enabled": true})).await;
    submit(&app, 2).await;
    let store = app.store.clone();
    eventually("paused again", || {
        let store = store.clone();
        async move { store.queue_paused().await.unwrap().is_some() }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        receiver.bodies().len(),
        3,
        "a second alert of the same kind within the hour"
    );

    // The address reached no log line, at any level.
    let logs = app.logs.text();
    assert!(
        logs.contains("alert delivered"),
        "the sender logs what it did"
    );
    assert!(logs.contains("http 500"), "and why an attempt failed");
    assert!(
        !logs.contains(HOOK_SECRET),
        "the webhook address reached the log"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_off_send_nothing_and_bad_addresses_are_refused_with_nothing_saved() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let receiver = Receiver::start(0).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    // Saved, but off: a pause alerts nobody.
    save(
        &app,
        smtp.port,
        "a-wrong-password",
        json!({"enabled": false, "webhook_url": receiver.url()}),
    )
    .await;
    submit(&app, 1).await;
    let store = app.store.clone();
    eventually("the queue paused", || {
        let store = store.clone();
        async move { store.queue_paused().await.unwrap().is_some() }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(
        receiver.bodies().is_empty(),
        "an alert went out while alerts were off"
    );

    let version = app.get_settings().await["version"].clone();
    for (url, code) in [
        ("http://hooks.example.com/x", "webhook_url_not_https"),
        (
            "https://user:pw@hooks.example.com/x",
            "webhook_url_credentials",
        ),
        ("https://hooks example.com/x", "webhook_url_invalid"),
        ("ftp://hooks.example.com/", "webhook_url_not_https"),
    ] {
        let (status, body) = app
            .put_settings(&json!({
                "auth": "smtp",
                "smtp": {"server": "127.0.0.1", "port": smtp.port, "user": SMTP_USER, "ssl": false},
                "manager_root": "https://reports.example.co.jp/ConMasManager0001",
                "alerts": {"enabled": true, "webhook_url": url},
            }))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        let errors = error_codes(&body);
        assert!(
            errors.contains(&("alerts.webhook_url".to_string(), code.to_string())),
            "{url}: {body}"
        );
        assert!(
            !body.to_string().contains("pw@"),
            "the refused address is not echoed"
        );
    }
    assert_eq!(
        app.get_settings().await["version"],
        version,
        "nothing saved"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_alert_goes_to_the_typed_or_saved_address_and_says_what_happened() {
    let good = Receiver::start(0).await;
    let failing = Receiver::start(usize::MAX).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let test = |url: Option<String>| {
        let app = &app;
        async move {
            let res = app
                .client
                .post(app.url("/api/mail_settings/test_alert"))
                .json(&json!({ "webhook_url": url }))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            assert!(!body.contains(HOOK_SECRET), "the address came back: {body}");
            (status, body)
        }
    };
    // Nothing typed, nothing saved.
    let (status, body) = test(None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("webhook_url_required"), "{body}");
    // A refused address is checked before anything is sent.
    let (status, body) = test(Some("http://hooks.example.com/x".into())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("webhook_url_not_https"), "{body}");
    // Typed, not saved.
    let (status, body) = test(Some(good.url())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(result["delivered"], true);
    assert_eq!(result["status"], 200);
    assert_eq!(good.bodies()[0]["event"], "test");
    // A receiver that fails: said, with its status.
    let (_, body) = test(Some(failing.url())).await;
    let result: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(result["delivered"], false);
    assert_eq!(result["status"], 500);
    assert_eq!(result["error"], "http 500");
    // Nothing listening: said, without the address.
    let closed = format!("http://127.0.0.1:{}/services/{HOOK_SECRET}", free_port());
    let (_, body) = test(Some(closed)).await;
    let result: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(result["delivered"], false);
    assert_eq!(result["error"], "connection failed");
    // Saved: the button with nothing typed uses it.
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    save(
        &app,
        smtp.port,
        SMTP_PASSWORD,
        json!({"enabled": true, "webhook_url": good.url()}),
    )
    .await;
    let (status, _) = test(None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(good.bodies().len(), 2);
    assert!(!app.logs.text().contains(HOOK_SECRET));
    app.stop().await;
}

/// The REST twin of the button, for scripts: the typed address or the saved one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_sends_a_test_alert() {
    let good = Receiver::start(0).await;
    let failing = Receiver::start(usize::MAX).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let post = |body: Option<Value>| {
        let app = &app;
        async move {
            let mut req = app
                .anon
                .post(app.url("/ConMasManager/api/v1/alerts/test"))
                .bearer_auth(&app.token);
            if let Some(body) = body {
                req = req.json(&body);
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            let text = res.text().await.unwrap();
            assert!(!text.contains(HOOK_SECRET), "{text}");
            (status, text)
        }
    };
    let (status, body) = post(None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("webhook_url_required"), "{body}");
    let (status, body) = post(Some(json!({"webhook_url": good.url()}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(good.bodies()[0]["event"], "test");
    let (status, body) = post(Some(json!({"webhook_url": failing.url()}))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("http 500"), "{body}");
    let (status, body) = post(Some(json!({"webhook": good.url()}))).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown member: {body}"
    );
    app.stop().await;
}

/// The OAuth side: a dead refresh token (`invalid_grant`) and a client secret about to expire
/// each reach the webhook, with what to look at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_refresh_token_and_an_expiring_secret_reach_the_webhook() {
    use common::fake_provider::FakeProvider;
    use common::oauth_flow::*;
    let fake = FakeProvider::start().await;
    let receiver = Receiver::start(0).await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");
    let put = |extra: Value| {
        let app = &app;
        async move {
            let current = app.get_settings().await;
            let mut body = json!({
                "auth": "oauth",
                "manager_root": root(app),
                "version": current["version"],
            });
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (status, body) = app.put_settings(&body).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    put(json!({"alerts": {"enabled": true, "webhook_url": receiver.url()}})).await;
    let event_seen = |event: &'static str| {
        let receiver = &receiver;
        move || async move { receiver.bodies().iter().any(|b| b["event"] == event) }
    };

    fake.token_errors(json!([{"status": 400, "body": {
        "error": "invalid_grant",
        "error_description": "AADSTS700082: The refresh token has expired due to inactivity.",
        "error_codes": [700082]
    }}]))
    .await;
    assert_eq!(check(&app).await.0, StatusCode::BAD_GATEWAY);
    eventually("the reconnect alert", event_seen("oauth_reconnect")).await;
    let alert = receiver
        .bodies()
        .into_iter()
        .find(|b| b["event"] == "oauth_reconnect")
        .unwrap();
    let detail = alert["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("microsoft (")
            && detail.contains("reconnect_needed: invalid_grant AADSTS700082"),
        "{detail}"
    );
    assert!(alert["text"].as_str().unwrap().contains("connected again"));

    // The client secret ends in ten days: the daily check says so once.
    let in_ten_days = time::OffsetDateTime::now_utc().date() + time::Duration::days(10);
    let date = format!(
        "{:04}-{:02}-{:02}",
        in_ten_days.year(),
        u8::from(in_ten_days.month()),
        in_ten_days.day()
    );
    // So does the Microsoft backup's, in the same alert (one alert of a kind an hour).
    const BACKUP_CLIENT: &str = "0b0b0b0b-1111-4222-8333-444455556666";
    put(
        json!({"oauth": {"provider": "microsoft", "client_id": MS_CLIENT_ID, "tenant_id": TENANT,
                          "client_secret_expires_on": date},
               "backup": {"oauth": {"tenant_id": TENANT, "client_id": BACKUP_CLIENT,
                                    "client_secret": "backup-secret-value",
                                    "client_secret_expires_on": date,
                                    "sender": "backup@contoso.com"}}}),
    )
    .await;
    eventually("the expiry alert", event_seen("secret_expiring")).await;
    let alert = receiver
        .bodies()
        .into_iter()
        .find(|b| b["event"] == "secret_expiring")
        .unwrap();
    let detail = alert["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        format!(
            "client secret of {MS_CLIENT_ID} expires on {date} (10 days); \
             backup client secret of {BACKUP_CLIENT} expires on {date} (10 days)"
        )
    );
    // Checked every 300 ms here, sent once a day.
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let count = receiver
        .bodies()
        .iter()
        .filter(|b| b["event"] == "secret_expiring")
        .count();
    assert_eq!(count, 1);
    let bodies = receiver
        .bodies()
        .iter()
        .map(Value::to_string)
        .collect::<String>();
    assert!(!bodies.contains(CLIENT_SECRET));
    assert!(!bodies.contains("backup-secret-value"));
    app.stop().await;
}

//! Notifications end to end: submitted over the REST API, stored in the outbox, delivered by
//! the worker to a real SMTP server, retried, paused on refused credentials, never duplicated by
//! a client's retry.

mod common;

use common::smtp_server::{SMTP_PASSWORD, SMTP_USER, SmtpServer};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn save_smtp(app: &TestApp, port: u16, password: &str) {
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "smtp",
            "smtp": {"server": "127.0.0.1", "port": port, "user": SMTP_USER, "password": password, "ssl": false},
            "manager_root": "https://reports.example.co.jp/ConMasManager0001",
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn submit(app: &TestApp, body: Value, key: Option<&str>) -> (StatusCode, Value) {
    let mut req = app
        .anon
        .post(app.url("/ConMasManager/api/v1/notifications"))
        .bearer_auth(&app.token)
        .json(&body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

fn notification(n: usize) -> Value {
    json!({
        "subject": "[{rep_name}] が提出されました",
        "body": "{user_name} さんが {rep_name} (#{rep_id}) を提出しました。\n{rep_url}\n{sys_date}",
        "to": [format!("user{n}@example.co.jp")],
        "data": {"rep_name": format!("点検報告書 {n}"), "rep_id": n.to_string(),
                 "user_name": "山田", "rep_path": format!("/Report/{n}")}
    })
}

/// Waits until `cond` holds (the worker runs in the background).
async fn eventually<F, Fut>(what: &str, mut cond: F)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_arrives_complete_and_rendered() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let (status, body) = submit(&app, notification(n), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    eventually("20 mails at the SMTP server", || async {
        smtp.messages().await.len() == 20
    })
    .await;
    for id in &ids {
        let n = app.store.notification(id).await.unwrap().unwrap();
        assert_eq!(n.status, server::store::Status::Sent, "{id}");
        assert_eq!(n.attempts, 1);
    }
    let messages = smtp.messages().await;
    let mut seen: Vec<String> = messages
        .iter()
        .map(|m| m["rcpt_tos"][0].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    let mut expected: Vec<String> = (0..20).map(|n| format!("user{n}@example.co.jp")).collect();
    expected.sort();
    assert_eq!(seen, expected, "each exactly once");
    let one = messages
        .iter()
        .find(|m| m["rcpt_tos"][0] == "user7@example.co.jp")
        .unwrap();
    let mail = mailparse::parse_mail(one["data"].as_str().unwrap().as_bytes()).unwrap();
    use mailparse::MailHeaderMap;
    assert_eq!(
        mail.headers.get_first_value("Subject").unwrap(),
        "[点検報告書 7] が提出されました"
    );
    let body = mail.get_body().unwrap();
    assert!(
        body.contains("山田 さんが 点検報告書 7 (#7) を提出しました。"),
        "{body}"
    );
    assert!(
        body.contains("https://reports.example.co.jp/ConMasManager0001/Report/7"),
        "{body}"
    );
    let stored = app.store.notification(&ids[7]).await.unwrap().unwrap();
    assert_eq!(
        mail.headers.get_first_value("Message-ID").unwrap(),
        stored.message_id
    );
    assert!(smtp.connections().await < 20, "connections are reused");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_retry_with_the_same_idempotency_key_sends_once() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let (first, a) = submit(&app, notification(1), Some("order-4711")).await;
    let (second, b) = submit(&app, notification(1), Some("order-4711")).await;
    assert_eq!(first, StatusCode::ACCEPTED);
    assert_eq!(second, StatusCode::OK);
    assert_eq!(a["id"], b["id"]);
    assert_eq!(b["duplicate"], true);
    eventually("the mail", || async { smtp.messages().await.len() == 1 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smtp_server_down_mid_burst_delays_but_loses_nothing() {
    let mut smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let port = smtp.port;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, port, SMTP_PASSWORD).await;
    for n in 0..5 {
        submit(&app, notification(n), None).await;
    }
    eventually("the first five", || async {
        smtp.messages().await.len() == 5
    })
    .await;
    smtp.stop();
    let mut ids = Vec::new();
    for n in 5..15 {
        let (_, body) = submit(&app, notification(n), None).await;
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    // They fail and are scheduled again, with the reason kept.
    let store = app.store.clone();
    let first = ids[0].clone();
    eventually("a retry scheduled", || {
        let store = store.clone();
        let first = first.clone();
        async move {
            store
                .notification(&first)
                .await
                .unwrap()
                .is_some_and(|n| n.status == server::store::Status::Retrying)
        }
    })
    .await;
    let n = app.store.notification(&ids[0]).await.unwrap().unwrap();
    assert_eq!(n.last_error_code.as_deref(), Some("connection_refused"));
    // Back on the same port: everything arrives.
    let smtp = SmtpServer::start(&[
        "--auth",
        &format!("{SMTP_USER}:{SMTP_PASSWORD}"),
        "--port",
        &port.to_string(),
    ])
    .await;
    eventually("the other ten", || async {
        smtp.messages().await.len() == 10
    })
    .await;
    for id in &ids {
        let n = app.store.notification(id).await.unwrap().unwrap();
        assert_eq!(n.status, server::store::Status::Sent);
        assert!(n.attempts >= 2);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_pause_the_queue_until_the_settings_change() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, "a-wrong-password").await;
    let (_, body) = submit(&app, notification(1), None).await;
    let id = body["id"].as_str().unwrap().to_string();
    let store = app.store.clone();
    eventually("the queue paused", || {
        let store = store.clone();
        async move { store.queue_paused().await.unwrap().is_some() }
    })
    .await;
    let (code, reply, _) = app.store.queue_paused().await.unwrap().unwrap();
    assert_eq!(code, "auth_failed");
    assert!(reply.starts_with("535"), "{reply}");
    // Not burning attempts while paused.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let n = app.store.notification(&id).await.unwrap().unwrap();
    assert_eq!(n.attempts, 0, "the refused attempt is not counted");
    assert!(smtp.messages().await.is_empty());
    // The fix: the right password; the queue resumes and the mail goes.
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    eventually("the mail after the fix", || async {
        smtp.messages().await.len() == 1
    })
    .await;
    assert!(app.store.queue_paused().await.unwrap().is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submissions_are_refused_with_the_reason() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let mut bad = notification(1);
    bad["body"] = json!("{rep_nam} {sys_date");
    let (status, body) = submit(&app, bad, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "template_invalid");
    let kinds: Vec<&str> = body["template_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["unknown_code", "unclosed"]);
    let mut bad = notification(1);
    bad["to"] = json!(["not an address"]);
    let (status, body) = submit(&app, bad, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "recipient_invalid");
    let mut bad = notification(1);
    bad["to"] = json!(
        (0..101)
            .map(|n| format!("u{n}@example.co.jp"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        submit(&app, bad, None).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, body) = submit(
        &app,
        json!({"template": "nope", "to": ["a@example.co.jp"]}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "template_unknown");
    // Only with a token or a session.
    let res = app
        .anon
        .post(app.url("/ConMasManager/api/v1/notifications"))
        .json(&notification(1))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(res.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
        "{}",
        res.status()
    );
    let (list, total) = app.store.notifications(None, 10, 0).await.unwrap();
    assert!(list.is_empty() && total == 0, "nothing half-stored");
    app.stop().await;
}

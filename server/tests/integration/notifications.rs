//! Notifications end to end: submitted over the REST API, stored in the outbox, delivered by
//! the worker to a real SMTP server, retried, paused on refused credentials, never duplicated by
//! a client's retry.

use crate::common;

use common::server_process::ServerProcess;
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

/// An SMTP server with this test's account that takes `ms` to receive each message.
async fn slow_smtp(ms: u32) -> SmtpServer {
    SmtpServer::start(&[
        "--auth",
        &format!("{SMTP_USER}:{SMTP_PASSWORD}"),
        "--data-delay-ms",
        &ms.to_string(),
    ])
    .await
}

/// The first recipient of each message the SMTP server received, sorted.
fn first_recipients(messages: &[Value]) -> Vec<String> {
    let mut seen: Vec<String> = messages
        .iter()
        .map(|m| m["rcpt_tos"][0].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    seen
}

/// How many notifications arrived, each counted once however often it came.
fn distinct_recipients(messages: &[Value]) -> usize {
    let mut seen = first_recipients(messages);
    seen.dedup();
    seen.len()
}

/// A notification delivered twice (at-least-once) came under one Message-ID both times.
fn assert_one_message_id_each(messages: &[Value]) {
    let mut ids: std::collections::HashMap<String, std::collections::HashSet<String>> =
        Default::default();
    for m in messages {
        use mailparse::MailHeaderMap;
        let mail = mailparse::parse_mail(m["data"].as_str().unwrap().as_bytes()).unwrap();
        ids.entry(m["rcpt_tos"][0].as_str().unwrap().to_string())
            .or_default()
            .insert(mail.headers.get_first_value("Message-ID").unwrap());
    }
    assert!(
        ids.values().all(|set| set.len() == 1),
        "one Message-ID per notification"
    );
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
    let seen = first_recipients(&messages);
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
    // The health check says so (and stays 200: the server itself is fine).
    let health = app.anon_get("/ConMasManager/health").await;
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["worker"], "running");
    assert_eq!(health["queue"]["paused"], true);
    assert_eq!(health["queue"]["paused_code"], "auth_failed");
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
    assert_eq!(body["errors"][0]["code"], "template_invalid");
    let kinds: Vec<&str> = body["errors"][0]["template_errors"]
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
    assert_eq!(body["errors"][0]["code"], "recipient_invalid");
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
    assert_eq!(body["errors"][0]["code"], "template_unknown");
    // Only with a token or a session.
    let res = app
        .anon
        .post(app.url("/ConMasManager/api/v1/notifications"))
        .json(&notification(1))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(
            res.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ),
        "{}",
        res.status()
    );
    let (list, total) = app.store.notifications(None, 10, 0).await.unwrap();
    assert!(list.is_empty() && total == 0, "nothing half-stored");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_burst_loses_nothing() {
    // A slow server (30 ms per message), so the kill lands in the middle of the burst.
    let smtp = slow_smtp(30).await;
    let (dir, db) = fresh_db();
    // Settings and a token through the test app, then the real binary on the same database.
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let token = app.token.clone();
    app.stop().await;
    let port = free_port();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(STEP)
        .build()
        .unwrap();
    let mut server = ServerProcess::start(&db, port);
    server.ready(&http).await;
    let total = 60;
    for n in 0..total {
        let res = http
            .post(format!(
                "{}/ConMasManager/api/v1/notifications",
                server.addr
            ))
            .bearer_auth(&token)
            .json(&notification(n))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    // Kill -9 while the burst is going out.
    eventually("some mails out", || async {
        !smtp.messages().await.is_empty()
    })
    .await;
    server.kill();
    let before = smtp.messages().await.len();
    let server = ServerProcess::start(&db, port);
    server.ready(&http).await;
    eventually("every notification delivered", || async {
        distinct_recipients(&smtp.messages().await) == total
    })
    .await;
    assert!(
        before < total,
        "the kill came mid-burst ({before} of {total} delivered)"
    );
    // At-least-once: a mail cut off at the kill may come twice, then with the same Message-ID.
    let messages = smtp.messages().await;
    assert!(messages.len() >= total, "{} of {total}", messages.len());
    assert_one_message_id_each(&messages);
    // Only what the killed process had claimed (one round, at most a batch) comes twice.
    let batch = server::config::WorkerConfig::default().batch as usize;
    assert!(
        messages.len() - total <= batch,
        "{} duplicates, more than one round of {batch}",
        messages.len() - total
    );
    drop(server);
    drop(dir);
}

/// Two server processes on one database (SQLite here, PostgreSQL in the test script's second
/// run): both take submissions and send, no notification goes out twice while both live, and
/// when one is killed mid-burst the other takes over what it held: everything arrives, a
/// duplicate only under its Message-ID and only for what the dead one had claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_queue_and_one_takes_over_when_the_other_is_killed() {
    let smtp = slow_smtp(20).await;
    let (dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let token = app.token.clone();
    app.stop().await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(STEP)
        .build()
        .unwrap();
    let mut first = ServerProcess::start(&db, free_port());
    let second = ServerProcess::start(&db, free_port());
    first.ready(&http).await;
    second.ready(&http).await;
    let submit = |addr: String, n: usize| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let res = http
                .post(format!("{addr}/ConMasManager/api/v1/notifications"))
                .bearer_auth(&token)
                .json(&notification(n))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::ACCEPTED);
        }
    };
    // A calm part first: with both alive, every notification goes out exactly once.
    for n in 0..20 {
        let addr = if n % 2 == 0 {
            &first.addr
        } else {
            &second.addr
        };
        submit(addr.clone(), n).await;
    }
    eventually("the first twenty delivered", || async {
        distinct_recipients(&smtp.messages().await) == 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().await.len(),
        20,
        "two live servers sent a notification twice"
    );
    // Then a burst to both, and the first killed while it is going out.
    let total = 100;
    for n in 20..total {
        let addr = if n % 2 == 0 {
            &first.addr
        } else {
            &second.addr
        };
        submit(addr.clone(), n).await;
    }
    eventually("some of the burst out", || async {
        smtp.messages().await.len() > 25
    })
    .await;
    first.kill();
    let before = smtp.messages().await.len();
    // The survivor notices within a heartbeat (10 s) that the killed process is gone.
    for _ in 0..400 {
        if distinct_recipients(&smtp.messages().await) == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let messages = smtp.messages().await;
    assert_eq!(
        distinct_recipients(&messages),
        total,
        "every notification delivered by the survivor"
    );
    assert!(
        before < total,
        "the kill came mid-burst ({before} of {total})"
    );
    assert_one_message_id_each(&messages);
    let batch = server::config::WorkerConfig::default().batch as usize;
    assert!(
        messages.len() - total <= batch,
        "{} duplicates, more than the killed process's one round of {batch}",
        messages.len() - total
    );
    drop(second);
    drop(dir);
}

/// The connection's sending limits: a burst over the per-minute limit waits in the queue
/// (status `waiting`, with the time it may go) and then goes, never more than the limit within
/// a window. Limits that make no sense are refused with what to do, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_sending_limit_waits_and_then_goes() {
    let smtp = slow_smtp(0).await;
    let (_dir, db) = fresh_db();
    let mut config = test_config(&db);
    // "A minute" of two seconds, so the test sees several windows.
    config.worker.limit_minute = Duration::from_secs(2);
    let app = TestApp::spawn_with(config).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let limits = app.url("/ConMasManager/api/v1/sending-limits");
    let put = |body: Value| {
        let request = app.anon.put(&limits).bearer_auth(&app.token).json(&body);
        async move {
            let res = request.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let get = || async {
        app.anon
            .get(&limits)
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    for (body, code) in [
        (json!({"preset": "custom"}), "custom_without_limit"),
        (
            json!({"preset": "custom", "per_minute": 0}),
            "limit_out_of_range",
        ),
        (
            json!({"preset": "custom", "per_day": 10_000_001}),
            "limit_out_of_range",
        ),
        (json!({"preset": "fastest"}), "invalid_json"),
    ] {
        let (status, problem) = put(body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["errors"][0]["code"], code, "{body}: {problem}");
        assert!(problem["errors"][0]["message"].as_str().unwrap().len() > 20);
    }
    let res = app
        .anon
        .put(&limits)
        .bearer_auth(&app.token)
        .header("content-type", "text/plain")
        .body(r#"{"preset": "unlimited"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let meter = get().await;
    assert_eq!(meter["saved"]["preset"], "automatic", "nothing was stored");
    assert_eq!(
        meter["preset"], "unlimited",
        "an unknown SMTP server has no limit"
    );
    assert_eq!(meter["connection"]["key"], "smtp:127.0.0.1");

    let (status, meter) = put(json!({"preset": "custom", "per_minute": 3})).await;
    assert_eq!(status, StatusCode::OK, "{meter}");
    assert_eq!(meter["limits"]["per_minute"], 3);
    let started = std::time::Instant::now();
    let total = 8;
    for n in 0..total {
        let (status, _) = submit(&app, notification(n), None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    eventually("the first window's three", || async {
        smtp.messages().await.len() == 3
    })
    .await;
    eventually("the rest waiting, with their time", || async {
        get().await["waiting"] == total - 3
    })
    .await;
    let meter = get().await;
    assert_eq!(meter["used_minute"], 3, "{meter}");
    assert!(meter["next_at"].is_string(), "{meter}");
    let (waiting, _) = app
        .store
        .notifications(Some(server::store::Status::Waiting), 10, 0)
        .await
        .unwrap();
    assert_eq!(waiting.len(), total - 3);
    assert!(
        waiting
            .iter()
            .all(|n| n.next_attempt_at > server::clock::now_ms() - 100),
        "each waits until the window frees"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().await.len(),
        3,
        "nothing more within the window"
    );
    eventually("every notification delivered", || async {
        smtp.messages().await.len() == total
    })
    .await;
    // Eight at three per window: the last three could not go before two windows had passed.
    assert!(
        started.elapsed() >= Duration::from_millis(3_900),
        "{:?}",
        started.elapsed()
    );
    let (list, _) = app.store.notifications(None, 20, 0).await.unwrap();
    assert!(list.iter().all(|n| n.status == server::store::Status::Sent));
    let audit = app.store.audit_entries(20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|(_, _, action, detail)| action == "limits.save" && detail.contains("custom")),
        "{audit:?}"
    );
    app.stop().await;
}

/// Recipients a day: a notification that would go over waits (with the day's window as its
/// time), and the mail behind it keeps its order; raising the limit lets them go at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_over_the_recipients_a_day_waits_for_the_window() {
    let smtp = slow_smtp(0).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let put = |body: Value| {
        let request = app
            .anon
            .put(app.url("/ConMasManager/api/v1/sending-limits"))
            .bearer_auth(&app.token)
            .json(&body);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        put(json!({"preset": "custom", "recipients_per_day": 3})).await,
        StatusCode::OK
    );
    let to_two = |n: usize| {
        let mut body = notification(n);
        body["to"] = json!([format!("a{n}@example.co.jp"), format!("b{n}@example.co.jp")]);
        body
    };
    for body in [to_two(1), to_two(2), notification(3)] {
        let (status, _) = submit(&app, body, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let store = app.store.clone();
    eventually("the second and third waiting", || {
        let store = store.clone();
        async move {
            let (waiting, _) = store
                .notifications(Some(server::store::Status::Waiting), 10, 0)
                .await
                .unwrap();
            waiting.len() == 2
        }
    })
    .await;
    let messages = smtp.messages().await;
    assert_eq!(
        messages.len(),
        1,
        "only the first (two recipients of three) went"
    );
    assert_eq!(messages[0]["rcpt_tos"][0], "a1@example.co.jp");
    let (waiting, _) = app
        .store
        .notifications(Some(server::store::Status::Waiting), 10, 0)
        .await
        .unwrap();
    let hours = (waiting[0].next_attempt_at - server::clock::now_ms()) / 3_600_000;
    assert!(hours >= 23, "waits for the day's window, not {hours} h");

    assert_eq!(
        put(json!({"preset": "custom", "recipients_per_day": 10})).await,
        StatusCode::OK
    );
    eventually("the rest delivered", || async {
        smtp.messages().await.len() == 3
    })
    .await;
    let order: Vec<String> = smtp
        .messages()
        .await
        .iter()
        .map(|m| m["rcpt_tos"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order[0], "a1@example.co.jp");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_smaller_notification_does_not_overtake_one_waiting_for_the_day() {
    // The race the test above can meet: each notification arrives in a round of its own. The
    // second (two recipients) waits for the day's window; the third (one recipient) would fit
    // in the place left, but must not overtake it: a stream of small ones would keep the
    // larger one waiting for ever.
    let smtp = slow_smtp(0).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let limits = |per_day: u32| {
        let request = app
            .anon
            .put(app.url("/ConMasManager/api/v1/sending-limits"))
            .bearer_auth(&app.token)
            .json(&json!({"preset": "custom", "recipients_per_day": per_day}));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(limits(3).await, StatusCode::OK);
    let to_two = |n: usize| {
        let mut body = notification(n);
        body["to"] = json!([format!("a{n}@example.co.jp"), format!("b{n}@example.co.jp")]);
        body
    };
    let store = app.store.clone();
    let waiting = || {
        let store = store.clone();
        async move {
            let (rows, _) = store
                .notifications(Some(server::store::Status::Waiting), 10, 0)
                .await
                .unwrap();
            rows.len()
        }
    };
    assert_eq!(submit(&app, to_two(1), None).await.0, StatusCode::ACCEPTED);
    eventually("the first delivered", || async {
        smtp.messages().await.len() == 1
    })
    .await;
    assert_eq!(submit(&app, to_two(2), None).await.0, StatusCode::ACCEPTED);
    eventually("the second waiting", || async { waiting().await == 1 }).await;
    assert_eq!(
        submit(&app, notification(3), None).await.0,
        StatusCode::ACCEPTED
    );
    eventually("the third waiting behind it", || async {
        waiting().await == 2
    })
    .await;
    // Rounds go on meanwhile: the third stays behind the second.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(waiting().await, 2);
    assert_eq!(
        smtp.messages().await.len(),
        1,
        "nothing overtook the waiting mail"
    );

    assert_eq!(limits(10).await, StatusCode::OK);
    eventually("the rest delivered", || async {
        smtp.messages().await.len() == 3
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_throttling_is_waited_out_as_told() {
    use common::fake_provider::FakeProvider;
    use common::oauth_flow::*;
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");
    fake.control(json!({"sendErrors": [{"status": 429, "headers": {"Retry-After": "2"},
        "body": {"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}}}]}))
        .await;
    let (_, body) = submit(&app, notification(1), None).await;
    let id = body["id"].as_str().unwrap().to_string();
    let store = app.store.clone();
    let watched = id.clone();
    eventually("the throttled attempt", || {
        let store = store.clone();
        let watched = watched.clone();
        async move {
            store
                .notification(&watched)
                .await
                .unwrap()
                .is_some_and(|n| n.status == server::store::Status::Retrying)
        }
    })
    .await;
    let n = app.store.notification(&id).await.unwrap().unwrap();
    assert_eq!(n.last_error_code.as_deref(), Some("throttled"));
    assert!(
        n.next_attempt_at - n.updated_at >= 2000,
        "waits the 2 s asked for, not the 0.2 s backoff"
    );
    for k in 2..6 {
        submit(&app, notification(k), None).await;
    }
    let sends = || async {
        fake.stats().await["sends"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == 202)
            .count()
    };
    eventually("all five through Graph", || async { sends().await == 5 }).await;
    let n = app.store.notification(&id).await.unwrap().unwrap();
    assert_eq!(n.status, server::store::Status::Sent);
    assert!(n.sent_at.unwrap() - n.created_at >= 2000);
    let stats = fake.stats().await;
    let refreshes = stats["token"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["grant_type"] == "refresh_token")
        .count();
    assert_eq!(
        refreshes, 0,
        "one token serves every send while it is valid"
    );
    app.stop().await;
}

/// The Message-ID of a notification sent through an OAuth connection is on the domain of the
/// connected account (the From), not on the SMTP user's, for both mail APIs; and it is the one
/// kept with the notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_id_is_on_the_senders_domain_for_every_api() {
    use common::fake_provider::FakeProvider;
    use common::oauth_flow::*;
    use mailparse::MailHeaderMap;
    for (provider, account) in [
        ("microsoft", "sender@contoso.com"),
        ("google", "notice@gmail.example"),
    ] {
        let fake = FakeProvider::start().await;
        // The Graph account differs from the SMTP user that `save_oauth` also stores
        // (notice@contoso.example); Google's consenting account does already.
        fake.control(json!({"me": {"id": "8f0c5e1a-0000-4000-8000-000000000001",
            "displayName": "Sender", "mail": account, "userPrincipalName": account}}))
            .await;
        let (_dir, app) = spawn(&fake).await;
        save_oauth(&app, provider, CLIENT_SECRET).await;
        assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");
        let (status, body) = submit(&app, notification(1), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let delivered = || async {
            fake.stats().await["sends"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["status"] == 202 || s["status"] == 200)
                .cloned()
        };
        eventually("the mail at the API", || async {
            delivered().await.is_some()
        })
        .await;
        let send = delivered().await.unwrap();
        let mime = send["mime"].as_str().unwrap();
        let mail = mailparse::parse_mail(mime.as_bytes()).unwrap();
        let from = mail.headers.get_first_value("From").unwrap();
        assert!(from.contains(account), "{provider}: From {from}");
        let message_id = mail.headers.get_first_value("Message-ID").unwrap();
        let domain = account.rsplit_once('@').unwrap().1;
        assert!(
            message_id.ends_with(&format!("@{domain}>")),
            "{provider}: Message-ID {message_id} is not on {domain}"
        );
        let stored = app.store.notification(&id).await.unwrap().unwrap();
        assert_eq!(message_id, stored.message_id, "{provider}");
        app.stop().await;
    }
}

/// A damaged stored row (recipients unreadable) is never sent to a guessed recipient (an empty
/// list used to mean "the sender"): the worker marks it failed with the reason, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_stored_notification_is_failed_not_sent_to_the_sender() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "smtp",
            "smtp": {"server": "127.0.0.1", "port": smtp.port, "user": SMTP_USER,
                     "password": SMTP_PASSWORD, "ssl": false},
            "manager_root": "http://{0}/ConMasManager"
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = server::clock::now_ms();
    for (id, recipients) in [("damaged-json", "not json"), ("damaged-empty", "[]")] {
        insert_notification(app.store.pool(), id, recipients, "queued", now, now).await;
    }
    eventually("both rows given up", || async {
        let failed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications
             WHERE status = 'failed' AND last_error_code = 'stored_row_unreadable'",
        )
        .fetch_one(app.store.pool())
        .await
        .unwrap();
        failed == 2
    })
    .await;
    let reply: String =
        sqlx::query_scalar("SELECT last_error_reply FROM notifications WHERE id = 'damaged-json'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert!(reply.contains("recipients"), "{reply}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(smtp.messages().await.is_empty(), "nothing was sent");
    app.stop().await;
}

/// The worker sends several notifications at once, one per pooled SMTP connection and never
/// more: a slow server (300 ms per message) receives up to `SMTP_POOL_SIZE` messages at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_goes_out_over_several_connections_at_once_within_the_pool_size() {
    let smtp = slow_smtp(300).await;
    let (_dir, db) = fresh_db();
    let mut config = test_config(&db);
    config.smtp_pool_size = 3;
    let app = TestApp::spawn_with(config).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    for n in 0..12 {
        let (status, body) = submit(&app, notification(n), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    eventually("12 mails at the SMTP server", || async {
        smtp.messages().await.len() == 12
    })
    .await;
    let peak = smtp.peak_concurrent_messages().await;
    assert!(peak >= 2, "sent one at a time (peak {peak})");
    assert!(peak <= 3, "more at once than the pool size: {peak}");
    assert_eq!(
        distinct_recipients(&smtp.messages().await),
        12,
        "each exactly once"
    );
    app.stop().await;
}

/// Saves `delivery` over the stored settings through the REST API (nothing else changes).
async fn save_delivery(app: &TestApp, delivery: Value) -> (StatusCode, Value) {
    let current = app.get_settings().await;
    app.put_settings(&json!({
        "auth": current["auth"],
        "manager_root": current["manager_root"],
        "delivery": delivery,
        "version": current["version"],
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn divert_sends_everything_to_one_address_and_names_the_original_recipients() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let (status, body) = save_delivery(
        &app,
        json!({"divert_to": " qa@example.co.jp ", "paused": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["delivery"]["divert_to"], "qa@example.co.jp", "trimmed");
    // The SMTP password was kept: divert is no change of the SMTP target.
    assert_eq!(body["smtp"]["password_set"], true);
    let health = app
        .anon_get("/ConMasManager/health")
        .await
        .text()
        .await
        .unwrap();
    assert!(health.contains(r#""diverted":true"#), "{health}");
    assert!(
        !health.contains("qa@example.co.jp"),
        "no address without sign-in: {health}"
    );

    let (status, body) = submit(
        &app,
        json!({"subject": "点検", "body": "本文",
               "to": ["yamada@example.co.jp", "sato@example.co.jp"]}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    eventually("the diverted mail at the SMTP server", || async {
        smtp.messages().await.len() == 1
    })
    .await;
    let messages = smtp.messages().await;
    assert_eq!(messages[0]["rcpt_tos"], json!(["qa@example.co.jp"]));
    use mailparse::MailHeaderMap;
    let mail = mailparse::parse_mail(messages[0]["data"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(
        mail.headers.get_first_value("X-Original-To").unwrap(),
        "yamada@example.co.jp, sato@example.co.jp"
    );
    assert_eq!(
        mail.headers.get_first_value("To").unwrap(),
        "qa@example.co.jp"
    );
    eventually("the notification marked sent", || async {
        app.store.notification(&id).await.unwrap().unwrap().status == server::store::Status::Sent
    })
    .await;
    let n = app.store.notification(&id).await.unwrap().unwrap();
    assert_eq!(n.diverted_to.as_deref(), Some("qa@example.co.jp"));
    assert_eq!(n.recipients, ["yamada@example.co.jp", "sato@example.co.jp"]);

    // Divert off: the next one goes to its own recipients, and the log says nothing diverted.
    let (status, body) = save_delivery(&app, json!({"divert_to": null, "paused": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = submit(&app, notification(1), None).await;
    let id = body["id"].as_str().unwrap().to_string();
    eventually("the second mail", || async {
        smtp.messages().await.len() == 2
    })
    .await;
    let messages = smtp.messages().await;
    assert_eq!(messages[1]["rcpt_tos"], json!(["user1@example.co.jp"]));
    let mail = mailparse::parse_mail(messages[1]["data"].as_str().unwrap().as_bytes()).unwrap();
    assert!(mail.headers.get_first_value("X-Original-To").is_none());
    eventually("the second marked sent", || async {
        app.store.notification(&id).await.unwrap().unwrap().status == server::store::Status::Sent
    })
    .await;
    assert_eq!(
        app.store
            .notification(&id)
            .await
            .unwrap()
            .unwrap()
            .diverted_to,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_accepts_and_holds_until_resumed() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    let (status, body) = save_delivery(&app, json!({"divert_to": null, "paused": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["delivery"]["paused"], true);
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, body) = submit(&app, notification(n), None).await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "accepted while paused: {body}"
        );
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    // Several worker rounds (the test worker idles 50 ms) and submissions that wake it: nothing
    // goes, nothing is claimed or counted as an attempt.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        smtp.messages().await.is_empty(),
        "nothing sent while paused"
    );
    for id in &ids {
        let n = app.store.notification(id).await.unwrap().unwrap();
        assert_eq!(n.status, server::store::Status::Queued, "{id}");
        assert_eq!(n.attempts, 0, "{id}");
    }
    // A save that does not mention `delivery` keeps the pause.
    save_smtp(&app, smtp.port, SMTP_PASSWORD).await;
    assert_eq!(app.get_settings().await["delivery"]["paused"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(smtp.messages().await.is_empty(), "still paused");

    let (status, body) = save_delivery(&app, json!({"divert_to": null, "paused": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    eventually("the held mail goes once resumed", || async {
        smtp.messages().await.len() == 3
    })
    .await;
    let audit = app.store.audit_entries(20).await.unwrap();
    assert!(
        audit
            .iter()
            .filter(|(_, _, action, _)| action == "settings.save")
            .filter(|(_, _, _, fields)| fields.contains("delivery.paused"))
            .count()
            == 2,
        "the pause and the resume are in the audit log: {audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_divert_address_is_refused_and_nothing_is_stored() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let (status, _) = app.put_settings(&valid_smtp()).await;
    assert_eq!(status, StatusCode::OK);
    let before = app.get_settings().await;
    for (bad, code) in [
        (json!("qa.example.co.jp"), "mailbox_missing_at"),
        (json!("QA <qa@example.co.jp>"), "mailbox_display_name"),
        (
            json!("qa@example.co.jp\r\nBcc: all@example.co.jp"),
            "control_characters",
        ),
        (
            json!("a".repeat(300) + "@example.co.jp"),
            "mailbox_local_too_long",
        ),
        (json!("a@".to_string() + &"b".repeat(2000)), "too_long"),
    ] {
        let (status, body) = save_delivery(&app, json!({"divert_to": bad, "paused": true})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(
            error_codes(&body),
            [("delivery.divert_to".to_string(), code.to_string())],
            "{bad}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let (status, body) = save_delivery(&app, json!({"divert": "qa@example.co.jp"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        error_codes(&body),
        [("delivery.divert".to_string(), "unknown_field".to_string())]
    );
    assert_eq!(app.get_settings().await, before, "nothing stored");
}

/// `GET {base}/api/v1/notifications/export?{query}` with the admin token.
async fn export(app: &TestApp, query: &str) -> reqwest::Response {
    app.anon
        .get(app.url(&format!(
            "/ConMasManager/api/v1/notifications/export?{query}"
        )))
        .bearer_auth(&app.token)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_searched_literally_and_exported_as_filtered() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    // Held, so everything stays queued while the test looks.
    let mut settings = valid_smtp();
    settings["delivery"] = json!({"divert_to": null, "paused": true});
    let (status, body) = app.put_settings(&settings).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ids = std::collections::HashMap::new();
    for (to, subject) in [
        ("yamada@example.co.jp", "点検 100% 完了"),
        (
            "sato@example.co.jp",
            "=HYPERLINK(\"https://evil.example\",\"開く\")",
        ),
        ("suzuki_x@example.co.jp", "日報"),
        ("tanaka@example.co.jp", "週報, \"特記\" あり\n2行目"),
    ] {
        let (status, body) = submit(
            &app,
            json!({"subject": subject.replace('\n', " "), "body": "本文", "to": [to]}),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.insert(to, body["id"].as_str().unwrap().to_string());
    }
    let found = |q: &str| {
        let store = app.store.clone();
        let q = q.to_string();
        async move {
            let (rows, total) = store
                .search_notifications(None, Some(&q), 50, 0)
                .await
                .unwrap();
            assert_eq!(rows.len() as i64, total);
            let mut to: Vec<String> = rows.into_iter().map(|n| n.recipients[0].clone()).collect();
            to.sort();
            to
        }
    };
    assert_eq!(found("YAMADA").await, ["yamada@example.co.jp"], "no case");
    assert_eq!(
        found("点検").await,
        ["yamada@example.co.jp"],
        "Japanese subject"
    );
    assert_eq!(found("%").await, ["yamada@example.co.jp"], "% is literal");
    assert_eq!(found("_").await, ["suzuki_x@example.co.jp"], "_ is literal");
    assert_eq!(found("example.co.jp").await.len(), 4);
    let sato = ids["sato@example.co.jp"].clone();
    assert_eq!(found(&sato).await, ["sato@example.co.jp"], "by id");

    // CSV: BOM, header, every row, a formula made text, commas and quotes kept in one cell.
    let res = export(&app, "format=csv").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"mail-log-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let bytes = res.bytes().await.unwrap();
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "a byte-order mark for Excel"
    );
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "created_at",
            "status",
            "attempts",
            "recipients",
            "diverted_to",
            "subject",
            "sent_at",
            "delivered_via",
            "next_attempt_at",
            "error_code",
            "error_step",
            "error_reply"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 4);
    let sato_row = records.iter().find(|r| r[0] == *sato).unwrap();
    assert_eq!(
        &sato_row[6],
        "'=HYPERLINK(\"https://evil.example\",\"開く\")"
    );
    assert_eq!(&sato_row[2], "queued");
    assert!(!sato_row[9].is_empty(), "when it is due");
    let tanaka = records
        .iter()
        .find(|r| &r[4] == "tanaka@example.co.jp")
        .unwrap();
    assert_eq!(&tanaka[6], "週報, \"特記\" あり 2行目");
    assert!(
        !String::from_utf8_lossy(&bytes).contains("本文"),
        "bodies are not exported"
    );

    // JSON, with the filter and the search.
    let res = export(&app, "format=json&status=queued&q=SATO").await;
    assert_eq!(res.status(), StatusCode::OK);
    let rows: Value = res.json().await.unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["id"], sato);
    assert_eq!(rows[0]["recipients"], json!(["sato@example.co.jp"]));
    assert_eq!(rows[0]["diverted_to"], Value::Null);
    let none: Value = export(&app, "format=json&status=sent")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    // Refused with the reason, before any work.
    for (query, code) in [
        ("format=xml", "export_format_invalid"),
        ("status=lost", "status_invalid"),
        (&*format!("q={}", "a".repeat(201)), "search_too_long"),
    ] {
        let res = export(&app, query).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], code, "{body}");
        assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
    }
    // A token that may only submit notifications cannot read the log.
    let notify = api_token(&app.store, "submit-only", server::store::TokenScope::Notify).await;
    let res = app
        .anon
        .get(app.url("/ConMasManager/api/v1/notifications/export?format=csv"))
        .bearer_auth(&notify)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Each export is in the audit log.
    let audit = app.store.audit_entries(50).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|(_, _, action, _)| action == "log.export")
            .count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_export_is_paged_without_losing_or_repeating_a_row() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let now = server::clock::now_ms();
    // 1,234 rows over three pages of the stream, several created in the same millisecond
    // (the id breaks the tie), due far ahead so the worker leaves them alone.
    for n in 0..1234 {
        insert_notification(
            app.store.pool(),
            &format!("n{n:05}"),
            r#"["a@example.co.jp"]"#,
            "queued",
            now + 86_400_000,
            now - (n / 3) as i64,
        )
        .await;
    }
    let rows: Value = export(&app, "format=json").await.json().await.unwrap();
    let ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1234);
    let distinct: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(distinct.len(), 1234, "no row twice");
    assert_eq!(ids[0], "n00000", "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_export_ends_cleanly() {
    // Browsers ask for compression: the compression layer polls the body once more after its
    // end, which a plain unfold stream answered with a panic (a cancelled download).
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let now = server::clock::now_ms();
    insert_notification(
        app.store.pool(),
        "gz1",
        r#"["a@example.co.jp"]"#,
        "failed",
        now,
        now,
    )
    .await;
    let res = app
        .anon
        .get(app.url("/ConMasManager/api/v1/notifications/export?format=csv"))
        .bearer_auth(&app.token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let gz = res.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    assert!(text.contains("gz1,"), "{text}");
}

/// The backup connection (issue 14): with the main SMTP server unreachable, notifications go
/// out through the backup, the delivery log says so and the page shows when and why; a failure
/// that is the recipient's does not go to the backup; the backup needs its own password, shown
/// only as set, and `"backup": null` removes it and forgets the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_connection_takes_over_when_the_main_server_fails() {
    let backup = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let put = |main_port: u16, backup_block: Value| {
        let app = &app;
        async move {
            let current = app.get_settings().await;
            app.put_settings(&json!({
                "auth": "smtp",
                // `localhost` for the main server, `127.0.0.1` for the backup: two connections
                // with sending limits of their own.
                "smtp": {"server": "localhost", "port": main_port, "user": SMTP_USER,
                         "password": SMTP_PASSWORD, "ssl": false},
                "backup": backup_block,
                "manager_root": "https://reports.example.co.jp/ConMasManager0001",
                "version": current["version"],
            }))
            .await
        }
    };
    let backup_smtp = |password: Option<&str>| {
        json!({"smtp": {"server": "127.0.0.1", "port": backup.port, "user": SMTP_USER,
                        "password": password, "ssl": false}})
    };
    // Nothing listens on the main server's port.
    let closed = free_port();
    let (status, body) = put(closed, backup_smtp(None)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        error_codes(&body),
        vec![(
            "backup.smtp.password".to_string(),
            "password_required".to_string()
        )]
    );
    let (status, body) = put(closed, backup_smtp(Some(SMTP_PASSWORD))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["backup"]["smtp"]["password_set"], true);
    assert_no_secret(&body.to_string());
    // What a script read can be sent back as it is.
    let mut again = app.get_settings().await;
    again["smtp"]["password"] = json!(null);
    let (status, body) = app.put_settings(&again).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["backup"]["smtp"]["password_set"], true);

    let (_, body) = submit(&app, notification(1), None).await;
    let id = body["id"].as_str().unwrap().to_string();
    eventually("the mail through the backup", || async {
        backup.messages().await.len() == 1
    })
    .await;
    let store = app.store.clone();
    let sent_id = id.clone();
    eventually("marked sent", || {
        let (store, id) = (store.clone(), sent_id.clone());
        async move {
            store.notification(&id).await.unwrap().unwrap().status == server::store::Status::Sent
        }
    })
    .await;
    let n = app.store.notification(&id).await.unwrap().unwrap();
    assert_eq!(n.delivered_via.as_deref(), Some("backup"));
    assert_eq!(n.attempts, 1);
    let mail = &backup.messages().await[0];
    assert_eq!(mail["rcpt_tos"], json!(["user1@example.co.jp"]));
    let (at, reason) = app.store.backup_last_use().await.unwrap().unwrap();
    assert!(at > 0);
    assert!(
        reason.starts_with("connection_refused at connect"),
        "{reason}"
    );
    // The delivery log says which connection delivered.
    let log: Value = app
        .client
        .get(app.url("/ConMasManager/api/v1/notifications/export?format=json&status=sent"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["delivered_via"], "backup", "{log}");
    // The sending limits count it against the backup's connection, not the main one's.
    let usage = |key: &'static str| {
        let store = store.clone();
        async move {
            store
                .quota_usage(key, server::clock::now_ms(), 60_000)
                .await
                .unwrap()
                .day
        }
    };
    assert_eq!(usage("smtp:localhost").await, 0);
    assert_eq!(usage("smtp:127.0.0.1").await, 1);

    // The recipient's fault is not the main connection's: no backup for it.
    let main = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    main.replies(json!({"RCPT": "550 5.1.1 <user2@example.co.jp>: Recipient address rejected"}))
        .await;
    let (status, body) = put(main.port, backup_smtp(None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = submit(&app, notification(2), None).await;
    let id = body["id"].as_str().unwrap().to_string();
    let failed_id = id.clone();
    eventually("given up", || {
        let (store, id) = (store.clone(), failed_id.clone());
        async move {
            store.notification(&id).await.unwrap().unwrap().status == server::store::Status::Failed
        }
    })
    .await;
    assert_eq!(
        backup.messages().await.len(),
        1,
        "nothing more through the backup"
    );
    assert!(
        app.store
            .notification(&id)
            .await
            .unwrap()
            .unwrap()
            .delivered_via
            .is_none()
    );

    // The backup is tested before it is needed: the test mail goes through it, on a fresh
    // connection, every step shown; only with the saved settings.
    let (status, report) =
        post_test_mail(&app, json!({"to": "ops@example.co.jp", "backup": true})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["transport"], "smtp");
    assert_eq!(
        backup.messages().await.len(),
        2,
        "the test mail, through the backup"
    );
    assert_eq!(
        backup.messages().await[1]["rcpt_tos"],
        json!(["ops@example.co.jp"])
    );
    let (status, body) = post_test_mail(
        &app,
        json!({"to": "ops@example.co.jp", "backup": true, "settings": app.get_settings().await}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_codes(&body)[0].1, "backup_test_saved_only");

    // No backup any more: the password is forgotten with it.
    let (status, body) = put(main.port, json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["backup"].is_null());
    let (status, body) =
        post_test_mail(&app, json!({"to": "ops@example.co.jp", "backup": true})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_codes(&body)[0].1, "backup_not_set");
    assert!(
        body.to_string().contains("No backup connection is saved"),
        "{body}"
    );
    assert!(
        app.store
            .secret(server::store::secret_names::BACKUP_SMTP_PASSWORD)
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

/// A Microsoft 365 mailbox as the backup connection (issue 14): with the main SMTP server
/// unreachable, the backup's own app gets a token with the client credentials grant (its own
/// client ID and secret, never the main connection's), Graph sends as the backup's mailbox,
/// the token is kept for the next mail, and the mail counts against the backup mailbox's own
/// limits. Its fields are checked like the app-only main connection's; switching the backup
/// back to SMTP forgets its client secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_microsoft_backup_takes_over_with_its_own_app() {
    use common::fake_provider::FakeProvider;
    use common::oauth_flow::TENANT;
    const BACKUP_CLIENT: &str = "0b0b0b0b-1111-4222-8333-444455556666";
    const BACKUP_SECRET: &str = "backup-app-secret~value";
    const BACKUP_MAILBOX: &str = "backup@contoso.com";
    let fake = FakeProvider::start().await;
    // An SMTP pool wider than Graph's 4 requests per mailbox.
    let (_dir, db) = fresh_db();
    let mut config = test_config(&db);
    config.providers = fake.endpoints();
    config.smtp_pool_size = 8;
    let app = TestApp::spawn_with(config).await;
    let closed = free_port();
    let put = |backup_block: Value| {
        let app = &app;
        async move {
            let current = app.get_settings().await;
            app.put_settings(&json!({
                "auth": "smtp",
                "smtp": {"server": "localhost", "port": closed, "user": SMTP_USER,
                         "password": SMTP_PASSWORD, "ssl": false},
                "backup": backup_block,
                "manager_root": "https://reports.example.co.jp/ConMasManager0001",
                "version": current["version"],
            }))
            .await
        }
    };
    let microsoft = |tenant: &str, secret: Option<&str>, sender: &str| {
        json!({"oauth": {"tenant_id": tenant, "client_id": BACKUP_CLIENT, "client_secret": secret,
                         "client_secret_expires_on": "2027-03-31", "sender": sender}})
    };

    // Refused field by field, under the backup's own names.
    let (status, body) = put(microsoft("not a tenant", None, "Backup <b@contoso.com>")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<String> = error_codes(&body).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "backup.oauth.tenant_id",
            "backup.oauth.client_secret",
            "backup.oauth.sender"
        ]
    );
    let (status, body) = put(microsoft(TENANT, Some(BACKUP_SECRET), BACKUP_MAILBOX)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["backup"]["oauth"]["client_secret_set"], true);
    assert_eq!(body["backup"]["oauth"]["sender"], BACKUP_MAILBOX);
    assert!(!body.to_string().contains(BACKUP_SECRET));
    // What a script read can be sent back as it is (the secret stays for the same app).
    let mut again = app.get_settings().await;
    again["smtp"]["password"] = json!(null);
    let (status, body) = app.put_settings(&again).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["backup"]["oauth"]["client_secret_set"], true);

    // Only the backup's secret opens the token endpoint.
    fake.control(json!({"clientSecret": BACKUP_SECRET})).await;
    let store = app.store.clone();
    let sent = |id: String| {
        let store = store.clone();
        async move {
            eventually("marked sent", || {
                let (store, id) = (store.clone(), id.clone());
                async move {
                    store.notification(&id).await.unwrap().unwrap().status
                        == server::store::Status::Sent
                }
            })
            .await;
            store.notification(&id).await.unwrap().unwrap()
        }
    };
    let (_, body) = submit(&app, notification(1), None).await;
    let n = sent(body["id"].as_str().unwrap().to_string()).await;
    assert_eq!(n.delivered_via.as_deref(), Some("backup"));
    let stats = fake.stats().await;
    let tokens = stats["token"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["grant_type"], "client_credentials");
    assert_eq!(tokens[0]["client_id"], BACKUP_CLIENT);
    assert_eq!(tokens[0]["path"], format!("/{TENANT}/oauth2/v2.0/token"));
    let send = &stats["sends"][0];
    assert_eq!(send["mailbox"], BACKUP_MAILBOX);
    assert_eq!(send["token"], stats["issuedAccess"][0]);
    let mime = send["mime"].as_str().unwrap();
    assert!(mime.contains(&format!("From: {BACKUP_MAILBOX}")), "{mime}");
    assert!(mime.contains("To: user1@example.co.jp"), "{mime}");
    let (_, reason) = app.store.backup_last_use().await.unwrap().unwrap();
    assert!(reason.starts_with("connection_refused"), "{reason}");

    // The next mail uses the kept token.
    let (_, body) = submit(&app, notification(2), None).await;
    sent(body["id"].as_str().unwrap().to_string()).await;
    let stats = fake.stats().await;
    assert_eq!(stats["token"].as_array().unwrap().len(), 1);
    assert_eq!(stats["sends"].as_array().unwrap().len(), 2);
    // Counted against the backup mailbox's own limits, with Graph's preset.
    let usage = |key: String| {
        let store = store.clone();
        async move {
            store
                .quota_usage(&key, server::clock::now_ms(), 60_000)
                .await
                .unwrap()
                .day
        }
    };
    assert_eq!(usage(format!("microsoft:{BACKUP_MAILBOX}")).await, 2);
    assert_eq!(usage("smtp:localhost".into()).await, 0);

    // A burst: the round is as wide as the SMTP pool (8), but no more than Graph's 4 requests
    // per mailbox are in flight (the fake answers 429 beyond that, as Graph does).
    fake.control(json!({"sendDelayMs": 150})).await;
    let mut ids = Vec::new();
    for n in 3..13 {
        let (_, body) = submit(&app, notification(n), None).await;
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    for id in ids {
        assert_eq!(sent(id).await.delivered_via.as_deref(), Some("backup"));
    }
    let stats = fake.stats().await;
    let most = stats["maxInFlight"][BACKUP_MAILBOX].as_u64().unwrap();
    assert!((2..=4).contains(&most), "{most} in flight at once");
    let statuses: Vec<&Value> = stats["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["status"])
        .collect();
    assert_eq!(statuses.len(), 12, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");

    // The test mail through the backup: its app's token, Graph as its mailbox.
    fake.control(json!({"sendDelayMs": 0})).await;
    let (status, report) =
        post_test_mail(&app, json!({"to": "ops@example.co.jp", "backup": true})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["transport"], "microsoft_graph");
    assert_eq!(report["from"], BACKUP_MAILBOX);
    let stats = fake.stats().await;
    assert_eq!(stats["sends"][12]["mailbox"], BACKUP_MAILBOX);
    // The main connection's test still goes to the main server (down).
    let (status, report) = post_test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{report}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["failure"]["code"], "connection_refused");
    assert_eq!(report["transport"], "smtp");

    // Another client ID: the stored secret does not go to it.
    let mut other = microsoft(TENANT, None, BACKUP_MAILBOX);
    other["oauth"]["client_id"] = json!("0c0c0c0c-1111-4222-8333-444455556666");
    let (status, body) = put(other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        error_codes(&body),
        vec![(
            "backup.oauth.client_secret".to_string(),
            "client_secret_required".to_string()
        )]
    );
    // Back to an SMTP backup: the client secret is forgotten.
    let (status, body) = put(json!({"smtp": {"server": "127.0.0.1", "port": closed,
        "user": SMTP_USER, "password": SMTP_PASSWORD, "ssl": false}}))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["backup"]["oauth"].is_null());
    assert!(
        app.store
            .secret(server::store::secret_names::BACKUP_OAUTH_CLIENT_SECRET)
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

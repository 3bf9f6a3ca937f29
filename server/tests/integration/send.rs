//! Really sending mail: a real SMTP server process (aiosmtpd) for SMTP, and the local fakes of
//! Graph `sendMail` and Gmail `messages.send` that check each request as documented.

use crate::common;

use common::fake_provider::FakeProvider;
use common::oauth_flow::*;
use common::smtp_server::{SMTP_PASSWORD, SMTP_USER, SmtpServer};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn spawn_app(smtp_ca: Option<&std::path::Path>) -> (tempfile::TempDir, TestApp) {
    let (dir, db) = fresh_db();
    let mut config = test_config(&db);
    config.smtp_ca_file = smtp_ca.map(|p| p.to_path_buf());
    (dir, TestApp::spawn_with(config).await)
}

async fn save_smtp(app: &TestApp, server: &str, port: u16, ssl: bool, password: &str) {
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "smtp",
            "smtp": {"server": server, "port": port, "user": SMTP_USER, "password": password, "ssl": ssl},
            "manager_root": "https://reports.example.co.jp/ConMasManager",
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn test_mail(app: &TestApp, body: Value) -> (StatusCode, Value) {
    post_test_mail(app, body).await
}

/// `(step, status)` pairs of a report.
fn steps(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn parsed(data: &str) -> mailparse::ParsedMail<'_> {
    mailparse::parse_mail(data.as_bytes()).expect("a well-formed MIME message")
}

fn header(mail: &mailparse::ParsedMail<'_>, name: &str) -> String {
    use mailparse::MailHeaderMap;
    mail.headers.get_first_value(name).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_auth_deliver_with_the_right_envelope_headers_and_body() {
    let smtp = SmtpServer::start(&[
        "--starttls",
        "--auth",
        &format!("{SMTP_USER}:{SMTP_PASSWORD}"),
    ])
    .await;
    let (_dir, app) = spawn_app(Some(&smtp.cert)).await;
    save_smtp(&app, "127.0.0.1", smtp.port, true, SMTP_PASSWORD).await;

    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["transport"], "smtp");
    assert_eq!(
        steps(&report),
        pairs(&[
            ("resolve", "ok"),
            ("connect", "ok"),
            ("starttls", "ok"),
            ("auth", "ok"),
            ("envelope", "ok"),
            ("data", "ok"),
        ])
    );
    let tls = &report["steps"][2]["detail"];
    assert!(
        tls.as_str().unwrap().contains("127.0.0.1"),
        "certificate subject: {tls}"
    );
    assert!(tls.as_str().unwrap().contains("valid"), "validity: {tls}");

    let messages = smtp.messages().await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m["mail_from"], SMTP_USER);
    assert_eq!(m["rcpt_tos"], json!(["ops@example.co.jp"]));
    assert_eq!(m["tls"], true, "sent after STARTTLS");
    assert_eq!(m["auth_user"], SMTP_USER);
    let mail = parsed(m["data"].as_str().unwrap());
    assert_eq!(header(&mail, "From"), SMTP_USER);
    assert_eq!(header(&mail, "To"), "ops@example.co.jp");
    assert_eq!(
        header(&mail, "Subject"),
        "テストメール（メール基本設定） / Test mail (mail settings)",
        "UTF-8 subject in encoded words"
    );
    assert!(header(&mail, "Message-ID").ends_with("@example.co.jp>"));
    assert!(!header(&mail, "Date").is_empty());
    let body = mail.get_body().unwrap();
    assert!(body.contains("テストメール送信"), "{body}");
    assert!(body.contains("Method: SMTP 127.0.0.1"), "{body}");

    // Audited; the password appears nowhere.
    let audit = app.store.audit_entries(5).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|(_, _, action, detail)| action == "mail.test"
                && detail == "smtp to ops@example.co.jp: ok")
    );
    assert!(!app.logs.text().contains(SMTP_PASSWORD));
    assert!(!report.to_string().contains(SMTP_PASSWORD));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_port_25_style_and_a_relay_without_auth() {
    // Plain with AUTH (SSL off): STARTTLS skipped, AUTH done; the default recipient is the sender.
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, app) = spawn_app(None).await;
    save_smtp(&app, "127.0.0.1", smtp.port, false, SMTP_PASSWORD).await;
    let (status, report) = test_mail(&app, json!({"to": ""})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(steps(&report)[2], ("starttls".into(), "skipped".into()));
    let detail = report["steps"][2]["detail"].as_str().unwrap();
    assert!(
        detail.contains("the password travels unencrypted"),
        "{detail}"
    );
    assert_eq!(steps(&report)[3], ("auth".into(), "ok".into()));
    let m = &smtp.messages().await[0];
    assert_eq!(m["rcpt_tos"], json!([SMTP_USER]));
    assert_eq!(m["tls"], false);

    // A relay that offers no AUTH: the step says so and the mail goes.
    let relay = SmtpServer::start(&[]).await;
    save_smtp(&app, "127.0.0.1", relay.port, false, SMTP_PASSWORD).await;
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(steps(&report)[3], ("auth".into(), "skipped".into()));
    assert_eq!(relay.messages().await.len(), 1);
    app.stop().await;
}

/// The failed step, its code and the server's reply.
fn failed(report: &Value) -> (String, String, String) {
    let f = &report["failure"];
    (
        f["step"].as_str().unwrap().to_string(),
        f["code"].as_str().unwrap().to_string(),
        f["reply"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_failures_name_their_step_and_what_to_do() {
    let smtp = SmtpServer::start(&[
        "--starttls",
        "--auth",
        &format!("{SMTP_USER}:{SMTP_PASSWORD}"),
    ])
    .await;
    let (_dir, app) = spawn_app(Some(&smtp.cert)).await;

    // Wrong password: 535 5.7.8 at AUTH, nothing after it runs.
    save_smtp(&app, "127.0.0.1", smtp.port, true, "not-the-password").await;
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(report["ok"], false);
    let (step, code, reply) = failed(&report);
    assert_eq!((step.as_str(), code.as_str()), ("auth", "auth_failed"));
    assert!(reply.starts_with("535 5.7.8"), "{reply}");
    assert!(report["message"].as_str().unwrap().contains("app password"));
    assert_eq!(
        steps(&report).last().unwrap(),
        &("auth".into(), "failed".into())
    );
    assert_eq!(report["failure"]["retryable"], false);

    // SSL off against a server that offers STARTTLS: it is used (Postfix's `may`), so the
    // password does not travel in clear; the step says the certificate was not checked.
    save_smtp(&app, "127.0.0.1", smtp.port, false, SMTP_PASSWORD).await;
    let before = smtp.messages().await.len();
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(steps(&report)[2], ("starttls".into(), "ok".into()));
    let detail = report["steps"][2]["detail"].as_str().unwrap();
    assert!(detail.contains("certificate not checked"), "{detail}");
    let arrived = smtp.messages().await;
    assert_eq!(arrived.len(), before + 1);
    assert_eq!(
        arrived[before]["tls"], true,
        "encrypted although SSL is off"
    );
    assert_eq!(arrived[before]["auth_user"], SMTP_USER);

    // Microsoft 365's and others' replies, as the fields see them.
    save_smtp(&app, "127.0.0.1", smtp.port, true, SMTP_PASSWORD).await;
    for (replies, step, code, retryable) in [
        (
            json!({"AUTH": "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."}),
            "auth",
            "smtp_auth_disabled",
            false,
        ),
        (
            json!({"MAIL": "550 5.7.60 SMTP; Client does not have permissions to send as this sender"}),
            "envelope",
            "send_as_denied",
            false,
        ),
        (
            json!({"MAIL": "530 5.7.0 Must issue a STARTTLS command first"}),
            "envelope",
            "starttls_required",
            false,
        ),
        (
            json!({"RCPT": "554 5.7.1 <ops@example.co.jp>: Relay access denied"}),
            "envelope",
            "relay_denied",
            false,
        ),
        (
            json!({"MAIL": "421 4.7.0 Try again later, closing connection."}),
            "envelope",
            "temporary",
            true,
        ),
        (
            json!({"DATA": "550 5.7.30 Basic authentication is not supported for Client Submission."}),
            "data",
            "basic_auth_blocked",
            false,
        ),
    ] {
        smtp.replies(replies.clone()).await;
        let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{replies}");
        let (s, c, _) = failed(&report);
        assert_eq!(
            (s.as_str(), c.as_str()),
            (step, code),
            "{replies}: {report}"
        );
        assert_eq!(report["failure"]["retryable"], retryable, "{replies}");
    }
    smtp.replies(json!({})).await;

    // Something listens but never greets: a timeout at connect, not a hang.
    let (_dir2, slow_app) = {
        let (dir, db) = fresh_db();
        let mut config = test_config(&db);
        config.smtp_timeout = std::time::Duration::from_secs(1);
        (dir, TestApp::spawn_with(config).await)
    };
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    save_smtp(&slow_app, "127.0.0.1", silent_port, true, SMTP_PASSWORD).await;
    let (_, report) = test_mail(&slow_app, json!({"to": "ops@example.co.jp"})).await;
    let (step, code, _) = failed(&report);
    assert_eq!(
        (step.as_str(), code.as_str()),
        ("connect", "timeout"),
        "{report}"
    );
    assert_eq!(report["failure"]["retryable"], true);
    holder.abort();

    // A name that does not resolve (`.invalid` never does, RFC 6761).
    save_smtp(
        &slow_app,
        "smtp.no-such-host.invalid",
        587,
        true,
        SMTP_PASSWORD,
    )
    .await;
    let (_, report) = test_mail(&slow_app, json!({"to": "ops@example.co.jp"})).await;
    let (step, code, _) = failed(&report);
    assert_eq!(step, "resolve", "{report}");
    assert!(code == "dns_failed" || code == "timeout", "{report}");
    slow_app.stop().await;

    // Nothing listens: refused at connect.
    let closed = free_port();
    save_smtp(&app, "127.0.0.1", closed, true, SMTP_PASSWORD).await;
    let (_, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    let (step, code, _) = failed(&report);
    assert_eq!(
        (step.as_str(), code.as_str()),
        ("connect", "connection_refused")
    );
    assert_eq!(report["failure"]["retryable"], true);
    assert!(!app.logs.text().contains(SMTP_PASSWORD));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_not_valid_for_the_host_or_not_trusted_are_refused() {
    // Trusted, but issued for another name.
    let smtp = SmtpServer::start(&["--starttls", "--cert-san", "dns:mail.example.test"]).await;
    let (_dir, app) = spawn_app(Some(&smtp.cert)).await;
    save_smtp(&app, "127.0.0.1", smtp.port, true, SMTP_PASSWORD).await;
    let (_, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    let (step, code, reply) = failed(&report);
    assert_eq!(
        (step.as_str(), code.as_str()),
        ("starttls", "certificate_invalid"),
        "{reply}"
    );
    app.stop().await;

    // Right name, but nobody vouches for it (no SMTP_CA_FILE).
    let smtp = SmtpServer::start(&[
        "--starttls",
        "--auth",
        &format!("{SMTP_USER}:{SMTP_PASSWORD}"),
    ])
    .await;
    let (_dir, app) = spawn_app(None).await;
    save_smtp(&app, "127.0.0.1", smtp.port, true, SMTP_PASSWORD).await;
    let (_, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    let (step, code, _) = failed(&report);
    assert_eq!(
        (step.as_str(), code.as_str()),
        ("starttls", "certificate_invalid")
    );
    assert!(smtp.messages().await.is_empty());
    // With SSL off the same server's STARTTLS is still used, unchecked: encrypted beats clear.
    save_smtp(&app, "127.0.0.1", smtp.port, false, SMTP_PASSWORD).await;
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(smtp.messages().await[0]["tls"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_being_edited_are_tested_before_they_are_saved() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, app) = spawn_app(None).await;
    // Saved: the wrong password.
    save_smtp(&app, "127.0.0.1", smtp.port, false, "old-wrong-password").await;
    let before = app.get_settings().await["version"].clone();
    let edited = json!({
        "auth": "smtp",
        "smtp": {"server": "127.0.0.1", "port": smtp.port, "user": SMTP_USER, "password": SMTP_PASSWORD, "ssl": false},
        "manager_root": "https://reports.example.co.jp/ConMasManager",
    });
    let (status, report) =
        test_mail(&app, json!({"to": "ops@example.co.jp", "settings": edited})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(smtp.messages().await.len(), 1);
    assert_eq!(
        app.get_settings().await["version"],
        before,
        "nothing was saved"
    );

    // Invalid edited settings: 422 with the fields, nothing sent.
    let (status, body) = test_mail(
        &app,
        json!({"to": "ops@example.co.jp", "settings": {"auth": "smtp",
            "smtp": {"server": "127.0.0.1", "port": 465, "user": SMTP_USER, "ssl": true},
            "manager_root": "https://reports.example.co.jp/ConMasManager"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Another port is another target: the stored password is not for it either.
    assert_eq!(
        error_codes(&body),
        vec![
            ("smtp.port".to_string(), "port_465_unsupported".to_string()),
            ("smtp.password".to_string(), "password_required".to_string())
        ]
    );
    // A recipient that is not a mailbox.
    let (status, report) = test_mail(&app, json!({"to": "not an address"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(failed(&report).1, "recipient_invalid");
    assert_eq!(smtp.messages().await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_test_sub_command_prints_the_steps() {
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (dir, app) = spawn_app(None).await;
    save_smtp(&app, "127.0.0.1", smtp.port, false, SMTP_PASSWORD).await;
    let db = dir.path().join("settings.db");
    let run = move |to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["send-test", "--to", to])
            .env("DATABASE_URL", common::database_url(&db))
            .env("MAIL_SECRET_KEY", KEY)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = tokio::task::spawn_blocking(move || (run("ops@example.co.jp"), run("bad address")))
        .await
        .unwrap();
    let (ok, bad) = out;
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout.contains("auth      ok"), "{stdout}");
    assert!(stdout.contains("Delivered."), "{stdout}");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("recipient_invalid"));
    assert_eq!(smtp.messages().await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_graph_send_mail_with_one_refresh_after_a_401() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");

    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["transport"], "microsoft_graph");
    assert_eq!(
        steps(&report),
        pairs(&[("token", "ok"), ("api_call", "ok")])
    );
    assert_eq!(report["from"], "notice@contoso.example");
    let stats = fake.stats().await;
    let sent = &stats["sends"][0];
    assert_eq!(sent["api"], "graph");
    assert_eq!(sent["status"], 202);
    assert_eq!(sent["contentType"], "text/plain");
    assert_eq!(
        sent["token"], stats["issuedAccess"][0],
        "the connection's token"
    );
    let mail = parsed(sent["mime"].as_str().unwrap());
    assert_eq!(header(&mail, "From"), "notice@contoso.example");
    assert_eq!(header(&mail, "To"), "ops@example.co.jp");
    assert!(header(&mail, "Subject").starts_with("テストメール"));
    assert!(mail.get_body().unwrap().contains("OAuth microsoft"));

    // The API refuses the token once: one refresh, one retry, delivered.
    fake.control(json!({"sendErrors": [{"status": 401, "body": {"error": {"code": "InvalidAuthenticationToken"}}}]}))
        .await;
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let stats = fake.stats().await;
    let refreshes = stats["token"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["grant_type"] == "refresh_token")
        .count();
    assert_eq!(refreshes, 1);
    assert_eq!(stats["sends"].as_array().unwrap().len(), 3);

    // Refused twice: no loop, the failure is reported.
    fake.control(json!({"sendErrors": [
        {"status": 401, "body": {"error": {"code": "InvalidAuthenticationToken"}}},
        {"status": 401, "body": {"error": {"code": "InvalidAuthenticationToken"}}}
    ]}))
    .await;
    let (_, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(failed(&report).1, "token_unavailable");
    assert_eq!(fake.stats().await["sends"].as_array().unwrap().len(), 5);

    for (answer, code, retryable) in [
        (
            json!({"status": 403, "body": {"error": {"code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again."}}}),
            "graph_access_denied",
            false,
        ),
        (
            json!({"status": 403, "body": {"error": {"code": "ErrorSendAsDenied", "message": "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account."}}}),
            "graph_send_as_denied",
            false,
        ),
        (
            json!({"status": 404, "body": {"error": {"code": "MailboxNotEnabledForRESTAPI", "message": "The mailbox is either inactive, soft-deleted, or is hosted on-premise."}}}),
            "mailbox_not_enabled",
            false,
        ),
        (
            json!({"status": 429, "headers": {"Retry-After": "7"}, "body": {"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}}}),
            "throttled",
            true,
        ),
        (
            json!({"status": 503, "body": {"error": {"code": "ServiceUnavailable"}}}),
            "provider_unavailable",
            true,
        ),
    ] {
        fake.control(json!({"sendErrors": [answer.clone()]})).await;
        let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let (step, c, reply) = failed(&report);
        assert_eq!((step.as_str(), c.as_str()), ("api_call", code), "{answer}");
        assert!(
            reply.starts_with(&format!("HTTP {}", answer["status"])),
            "{reply}"
        );
        assert_eq!(report["failure"]["retryable"], retryable);
        if code == "throttled" {
            assert_eq!(report["failure"]["retry_after_secs"], 7);
        }
    }
    let tokens = fake.issued_tokens().await;
    let logs = app.logs.text();
    assert!(tokens.iter().all(|t| !logs.contains(t.as_str())));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_api_send_with_raw_base64url() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    fake.control(json!({"idClaims": {"email": "sender@gmail.example"}}))
        .await;
    save_oauth(&app, "google", CLIENT_SECRET).await;
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");

    let (status, report) = test_mail(&app, json!({"to": ""})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["transport"], "gmail_api");
    assert_eq!(
        report["to"], "sender@gmail.example",
        "to the sender by default"
    );
    let sent = &fake.stats().await["sends"][0];
    assert_eq!(sent["api"], "gmail");
    assert_eq!(sent["status"], 200);
    assert!(
        sent["contentType"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    let mail = parsed(sent["mime"].as_str().unwrap());
    assert_eq!(header(&mail, "From"), "sender@gmail.example");
    assert!(
        report["steps"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("id msg-1")
    );

    for (answer, code) in [
        (
            json!({"status": 403, "body": {"error": {"code": 403, "message": "Request had insufficient authentication scopes.", "status": "PERMISSION_DENIED",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}],
            "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}]}}}),
            "gmail_insufficient_permissions",
        ),
        (
            json!({"status": 400, "body": {"error": {"code": 400, "message": "Precondition check failed.", "status": "FAILED_PRECONDITION",
            "errors": [{"message": "Precondition check failed.", "domain": "global", "reason": "failedPrecondition"}]}}}),
            "gmail_not_enabled",
        ),
        (
            json!({"status": 429, "body": {"error": {"code": 429, "message": "User-rate limit exceeded (Mail sending)", "status": "RESOURCE_EXHAUSTED",
            "errors": [{"reason": "rateLimitExceeded"}]}}}),
            "throttled",
        ),
        (
            json!({"status": 403, "body": {"error": {"code": 403, "message": "User Rate Limit Exceeded", "errors": [{"reason": "userRateLimitExceeded"}]}}}),
            "throttled",
        ),
    ] {
        fake.control(json!({"sendErrors": [answer.clone()]})).await;
        let (_, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
        assert_eq!(failed(&report).1, code, "{answer}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_mails_reuses_one_smtp_connection() {
    let smtp = SmtpServer::start(&[
        "--starttls",
        "--auth",
        &format!("{SMTP_USER}:{SMTP_PASSWORD}"),
    ])
    .await;
    let (_dir, app) = spawn_app(Some(&smtp.cert)).await;
    save_smtp(&app, "127.0.0.1", smtp.port, true, SMTP_PASSWORD).await;
    let endpoints = server::config::ProviderEndpoints {
        system_proxy: false,
        ..Default::default()
    };
    let oauth = std::sync::Arc::new(server::oauth::OauthService::new(
        app.store.clone(),
        endpoints.clone(),
        None,
    ));
    let mailer = server::transport::Mailer::new(
        app.store.clone(),
        oauth,
        &endpoints,
        Some(&smtp.cert),
        std::time::Duration::from_secs(30),
        4,
    );
    for n in 0..5 {
        let subject = format!("通知 {n}");
        let report = mailer
            .send_saved(&server::transport::Outgoing {
                to: &["ops@example.co.jp".to_string()],
                original_to: &[],
                subject: &subject,
                body: "本文",
                message_id: None,
            })
            .await;
        assert!(report.ok, "{report:?}");
        let reused = report
            .steps
            .iter()
            .filter(|s| s.detail == "connection reused")
            .count();
        assert_eq!(reused, if n == 0 { 0 } else { 4 }, "mail {n}");
    }
    assert_eq!(smtp.messages().await.len(), 5);
    assert_eq!(smtp.connections().await, 1, "one connection for the burst");
    // The test mail never reuses: every step is shown.
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(steps(&report).iter().all(|(_, s)| s == "ok"));
    assert_eq!(smtp.connections().await, 2);
    app.stop().await;
}

/// Microsoft app-only: no user connects. The client credentials grant gives the token (scope
/// `{graph}/.default`, the secret in the body); mail goes to Graph `/users/{sender}/sendMail`
/// from the sending mailbox; the token is kept for the next mail and replaced once after a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_app_only_sends_as_the_mailbox_without_a_user() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    let put = |provider: &'static str, flow: &'static str, sender: &'static str| {
        let app = &app;
        async move {
            let current = app.get_settings().await;
            let (client_id, tenant) = match provider {
                "microsoft" => (MS_CLIENT_ID, TENANT),
                _ => (GOOGLE_CLIENT_ID, ""),
            };
            app.put_settings(&json!({
                "auth": "oauth",
                "oauth": {"provider": provider, "client_id": client_id, "client_secret": CLIENT_SECRET,
                          "tenant_id": tenant, "flow": flow, "sender": sender},
                "manager_root": root(app),
                "version": current["version"],
            }))
            .await
        }
    };
    // Refused with the field named: Google has no app-only sending; app-only needs a mailbox.
    let (status, body) = put("google", "app_only", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&body),
        vec![("oauth.flow".into(), "app_only_microsoft_only".into())]
    );
    let (status, body) = put("microsoft", "app_only", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&body),
        vec![("oauth.sender".into(), "mailbox_required".into())]
    );
    let (status, body) = put("microsoft", "app_only", "Notice <notice@contoso.com>").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_codes(&body)[0].0, "oauth.sender");
    let (status, body) = put("microsoft", "app_only", "notice@contoso.com").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["oauth"]["flow"], "app_only");
    assert_eq!(body["oauth"]["sender"], "notice@contoso.com");

    // The page's status: nothing connected, the mailbox named; connecting is refused.
    let status_body = oauth_status(&app).await;
    assert_eq!(status_body["app_only_sender"], "notice@contoso.com");
    assert!(status_body["account"].is_null());
    let (code, body) = connect_url(&app, &app.client).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["transport"], "microsoft_graph");
    assert_eq!(report["from"], "notice@contoso.com");
    assert_eq!(
        steps(&report),
        pairs(&[("token", "ok"), ("api_call", "ok")])
    );
    let stats = fake.stats().await;
    let tokens: Vec<&Value> = stats["token"].as_array().unwrap().iter().collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["grant_type"], "client_credentials");
    assert_eq!(
        tokens[0]["scope"],
        format!("{}/.default", fake.endpoints().microsoft_graph)
    );
    assert_eq!(tokens[0]["client_id"], MS_CLIENT_ID);
    assert_eq!(tokens[0]["path"], format!("/{TENANT}/oauth2/v2.0/token"));
    let sent = &stats["sends"][0];
    assert_eq!(sent["mailbox"], "notice@contoso.com");
    assert_eq!(sent["status"], 202);
    assert_eq!(sent["token"], stats["issuedAccess"][0]);
    let mail = parsed(sent["mime"].as_str().unwrap());
    assert_eq!(header(&mail, "From"), "notice@contoso.com");
    assert!(header(&mail, "Message-ID").ends_with("@contoso.com>"));

    // The next mail uses the kept token; a 401 gets one new token and one retry.
    fake.control(json!({"sendErrors": [{"status": 401, "body": {"error": {"code": "InvalidAuthenticationToken"}}}]}))
        .await;
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let stats = fake.stats().await;
    assert_eq!(
        stats["token"].as_array().unwrap().len(),
        2,
        "one new token after the 401"
    );
    assert_eq!(stats["sends"].as_array().unwrap().len(), 3);

    // "Check token" asks for a new one; a wrong secret is named as such.
    let (status, body) = check(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["code"], "token_ok");
    fake.control(json!({"clientSecret": "another-secret"}))
        .await;
    let (status, body) = check(&app).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "wrong_secret");
    assert!(!body.to_string().contains(CLIENT_SECRET));
    app.stop().await;
}

/// A certificate and its unencrypted RSA key made by the `openssl` command, valid for `days`.
fn openssl_pair(dir: &std::path::Path, name: &str, days: u32) -> (String, String) {
    let key = dir.join(format!("{name}-key.pem"));
    let cert = dir.join(format!("{name}-cert.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj"])
        .arg(format!("/CN={name}.contoso.example"))
        .args(["-days", &days.to_string(), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(cert).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    )
}

/// Runs `openssl` with `args` on `input` (stdin) and returns what it printed.
fn openssl(args: &[&str], input: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Microsoft with a certificate instead of a client secret (tenants that forbid secrets): the
/// save refuses what cannot work (no key, an encrypted key, a key of another certificate, a
/// certificate that is not RSA or not a certificate) with the field named and nothing saved;
/// the token requests then carry a client assertion that the fake checks as Microsoft does
/// (RS256 signature against the registered certificate, x5t#S256, aud, iss/sub, lifetime, jti),
/// for app-only sending; a certificate the app registration does not know is named as such;
/// the page shows the thumbprint and expiry, and warns as the certificate nears its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_certificate_signs_the_token_requests_and_bad_pairs_are_refused() {
    let fake = FakeProvider::start().await;
    let (dir, app) = spawn(&fake).await;
    let (cert, key) = openssl_pair(dir.path(), "notice", 20);
    let (other_cert, other_key) = openssl_pair(dir.path(), "other", 365);
    let put = |cert: Option<&str>, key: Option<&str>| {
        let app = &app;
        let body = json!({
            "auth": "oauth",
            "oauth": {"provider": "microsoft", "client_id": MS_CLIENT_ID, "tenant_id": TENANT,
                      "flow": "app_only", "sender": "notice@contoso.com",
                      "credential": "certificate", "certificate": cert, "certificate_key": key},
            "manager_root": root(app),
        });
        async move { app.put_settings(&body).await }
    };
    let refused = |body: &Value| error_codes(body);

    // Nothing uploaded: both are asked for (no client secret is).
    let (status, body) = put(None, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        refused(&body),
        vec![
            ("oauth.certificate".into(), "certificate_required".into()),
            (
                "oauth.certificate_key".into(),
                "certificate_key_required".into()
            )
        ]
    );
    // A password-protected key, a key of another certificate, a key that is not a key.
    let encrypted = openssl(&["pkey", "-aes256", "-passout", "pass:secret"], &key);
    let (_, body) = put(Some(&cert), Some(&encrypted)).await;
    assert_eq!(
        refused(&body),
        vec![(
            "oauth.certificate_key".into(),
            "certificate_key_encrypted".into()
        )]
    );
    let (_, body) = put(Some(&cert), Some(&other_key)).await;
    assert_eq!(
        refused(&body),
        vec![(
            "oauth.certificate_key".into(),
            "certificate_key_mismatch".into()
        )]
    );
    let (_, body) = put(Some(&cert), Some(&cert)).await;
    assert_eq!(
        refused(&body),
        vec![(
            "oauth.certificate_key".into(),
            "certificate_key_invalid".into()
        )]
    );
    // A certificate that is not one, and an EC certificate (assertions are RS256).
    let (_, body) = put(
        Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
        Some(&key),
    )
    .await;
    assert_eq!(
        refused(&body),
        vec![("oauth.certificate".into(), "certificate_invalid".into())]
    );
    let ec_key = openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        "",
    );
    let ec_key_file = dir.path().join("ec-key.pem");
    std::fs::write(&ec_key_file, &ec_key).unwrap();
    let ec_cert = openssl(
        &[
            "req",
            "-x509",
            "-key",
            ec_key_file.to_str().unwrap(),
            "-subj",
            "/CN=ec",
            "-days",
            "30",
        ],
        "",
    );
    let (_, body) = put(Some(&ec_cert), Some(&key)).await;
    assert_eq!(
        refused(&body),
        vec![("oauth.certificate".into(), "certificate_invalid".into())]
    );
    // Google takes no certificate.
    let (_, body) = app
        .put_settings(&json!({
            "auth": "oauth",
            "oauth": {"provider": "google", "client_id": GOOGLE_CLIENT_ID,
                      "client_secret": CLIENT_SECRET, "credential": "certificate"},
            "manager_root": root(&app),
        }))
        .await;
    assert_eq!(
        refused(&body),
        vec![(
            "oauth.credential".into(),
            "certificate_microsoft_only".into()
        )]
    );
    assert_eq!(app.get_settings().await["version"], 0, "nothing was saved");

    // The pair (the key in PKCS#1 form works as well as PKCS#8) is saved; the page shows the
    // certificate's SHA-1 thumbprint as Azure lists it, never the key.
    let pkcs1 = openssl(&["pkey", "-traditional"], &key);
    assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"));
    let (status, body) = put(Some(&cert), Some(&pkcs1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let thumbprint = openssl(&["x509", "-noout", "-fingerprint", "-sha1"], &cert)
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "");
    assert_eq!(body["oauth"]["certificate_info"]["thumbprint"], thumbprint);
    assert_eq!(body["oauth"]["certificate_key_set"], true);
    assert_eq!(body["oauth"]["client_secret_set"], false);
    assert!(
        body["oauth"]["certificate_info"]["subject"]
            .as_str()
            .unwrap()
            .contains("notice.contoso.example")
    );
    let page = app.get_settings().await.to_string();
    assert!(!page.contains("PRIVATE KEY") && !page.contains(key.lines().nth(1).unwrap()));

    // The fake knows the certificate: the app-only token comes with a good assertion.
    fake.control(json!({"clientCertificate": cert})).await;
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["from"], "notice@contoso.com");
    let stats = fake.stats().await;
    let token = &stats["token"][0];
    assert_eq!(token["grant_type"], "client_credentials");
    assert_eq!(token["assertion"], "ok", "{token}");
    assert_eq!(token["has_client_secret"], false);
    assert_eq!(stats["sends"][0]["status"], 202);

    // The status warns: the certificate ends within 30 days.
    let status_body = oauth_status(&app).await;
    let days = status_body["secret_expires_in_days"].as_i64().unwrap();
    assert!((19..=20).contains(&days), "{status_body}");

    // Another certificate on the app registration: refused, named as the certificate.
    fake.control(json!({"clientCertificate": other_cert})).await;
    let (status, body) = check(&app).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "certificate_rejected");
    assert!(!body.to_string().contains("PRIVATE"));

    // Delegated with the certificate: the code exchange and the refresh carry assertions too.
    fake.control(json!({"clientCertificate": cert})).await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "oauth",
            "oauth": {"provider": "microsoft", "client_id": MS_CLIENT_ID, "tenant_id": TENANT,
                      "credential": "certificate"},
            "manager_root": root(&app),
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (location, _) = connect_through(&app, &fake).await;
    assert_eq!(outcome(&location), "connected", "{location}");
    let (status, body) = check(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stats = fake.stats().await;
    let grants: Vec<(String, String)> = stats["token"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["grant_type"] != "client_credentials")
        .map(|t| {
            (
                t["grant_type"].as_str().unwrap().to_string(),
                t["assertion"].as_str().unwrap_or("none").to_string(),
            )
        })
        .collect();
    assert_eq!(
        grants,
        vec![
            ("authorization_code".to_string(), "ok".to_string()),
            ("refresh_token".to_string(), "ok".to_string())
        ]
    );

    // Saving other fields keeps the stored pair; a new key alone is checked against the
    // stored certificate.
    let (status, body) = put(None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["oauth"]["certificate_info"]["thumbprint"], thumbprint);
    assert_eq!(body["oauth"]["certificate_key_set"], true);
    let (_, body) = put(None, Some(&other_key)).await;
    assert_eq!(
        refused(&body),
        vec![(
            "oauth.certificate_key".into(),
            "certificate_key_mismatch".into()
        )]
    );
    // The key belongs to the app: another client ID asks for it again.
    let (status, body) = app
        .put_settings(&json!({
            "auth": "oauth",
            "oauth": {"provider": "microsoft", "client_id": "11111111-2222-3333-4444-555555555555",
                      "tenant_id": TENANT, "credential": "certificate"},
            "manager_root": root(&app),
        }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        refused(&body),
        vec![(
            "oauth.certificate_key".into(),
            "certificate_key_required".into()
        )]
    );
    app.stop().await;
}

/// Delegated sending as another address (issue 14): Microsoft asks for Mail.Send.Shared too
/// and sends through Graph `/users/{shared}/sendMail` From the shared mailbox (the fake refuses
/// that without the permission, as Graph does); a grant without it is named on the page;
/// Google sends From the alias through `users/me`; app-only refuses it (its mailbox is
/// `sender`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_mail_goes_out_as_the_shared_mailbox_or_alias() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    let put = |provider: &'static str, flow: &'static str, send_as: &'static str| {
        let app = &app;
        async move {
            let (client_id, tenant) = match provider {
                "microsoft" => (MS_CLIENT_ID, TENANT),
                _ => (GOOGLE_CLIENT_ID, ""),
            };
            app.put_settings(&json!({
                "auth": "oauth",
                "oauth": {"provider": provider, "client_id": client_id, "client_secret": CLIENT_SECRET,
                          "tenant_id": tenant, "flow": flow, "sender": "notice@contoso.com",
                          "send_as": send_as},
                "manager_root": root(app),
            }))
            .await
        }
    };
    let (status, body) = put("microsoft", "app_only", "shared@contoso.example").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        error_codes(&body),
        vec![("oauth.send_as".into(), "send_as_delegated_only".into())]
    );
    let (_, body) = put("microsoft", "delegated", "Shared <shared@contoso.example>").await;
    assert_eq!(error_codes(&body)[0].0, "oauth.send_as");

    // Microsoft: the consent asks for Mail.Send.Shared; mail goes out as the shared mailbox.
    let (status, body) = put("microsoft", "delegated", " shared@contoso.example ").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["oauth"]["send_as"], "shared@contoso.example");
    let (location, _) = connect_through(&app, &fake).await;
    assert_eq!(outcome(&location), "connected", "{location}");
    let stats = fake.stats().await;
    let asked = stats["authorize"][0]["query"]["scope"].as_str().unwrap();
    assert!(asked.split(' ').any(|s| s == "Mail.Send.Shared"), "{asked}");
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["from"], "shared@contoso.example");
    let stats = fake.stats().await;
    let sent = &stats["sends"][0];
    assert_eq!(sent["mailbox"], "shared@contoso.example");
    assert_eq!(sent["status"], 202);
    let mail = parsed(sent["mime"].as_str().unwrap());
    assert_eq!(header(&mail, "From"), "shared@contoso.example");

    // A grant without Mail.Send.Shared: named on the page, and Graph refuses the send.
    fake.control(json!({"dropScopes": ["Mail.Send.Shared"]}))
        .await;
    let (location, _) = connect_through(&app, &fake).await;
    assert!(
        outcome(&location).starts_with("scope_missing"),
        "{location}"
    );
    let status_body = oauth_status(&app).await;
    assert_eq!(status_body["problem"]["code"], "scope_missing");
    assert!(
        status_body["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("Mail.Send.Shared")
    );
    let (_, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(report["failure"]["code"], "graph_access_denied", "{report}");
    fake.control(json!({"dropScopes": []})).await;

    // Google: the consent also asks to read the Gmail settings, to check the alias.
    let (status, body) = put("google", "delegated", "alias@example.co.jp").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (location, _) = connect_through(&app, &fake).await;
    let stats = fake.stats().await;
    let asked = stats["authorize"].as_array().unwrap().last().unwrap()["query"]["scope"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        asked
            .split(' ')
            .any(|s| s == "https://www.googleapis.com/auth/gmail.settings.basic"),
        "{asked}"
    );
    // Not an alias of the account: Gmail would send it from the account's own address, so
    // the connection names the problem and nothing is sent.
    assert!(
        outcome(&location).starts_with("send_as_not_verified"),
        "{location}"
    );
    let problem = &oauth_status(&app).await["problem"];
    assert_eq!(problem["code"], "send_as_not_verified");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("alias@example.co.jp")
    );
    let sends_before = fake.stats().await["sends"].as_array().unwrap().len();
    let (_, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(report["failure"]["code"], "token_unavailable", "{report}");
    assert!(
        report["failure"]["reply"]
            .as_str()
            .unwrap()
            .starts_with("send_as_not_verified"),
        "{report}"
    );
    assert_eq!(
        fake.stats().await["sends"].as_array().unwrap().len(),
        sends_before
    );
    // Added in Gmail but not confirmed yet: Check token still names it.
    fake.control(json!({"gmailSendAs": {"alias@example.co.jp": "pending"}}))
        .await;
    let (status, body) = check(&app).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let problem = &oauth_status(&app).await["problem"];
    assert_eq!(problem["code"], "send_as_not_verified");
    assert!(problem["detail"].as_str().unwrap().contains("pending"));
    // Confirmed: Check token clears the problem, and mail goes out From the alias through
    // users/me.
    fake.control(json!({"gmailSendAs": {"alias@example.co.jp": "accepted"}}))
        .await;
    let (status, body) = check(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(oauth_status(&app).await["problem"].is_null());
    let (status, report) = test_mail(&app, json!({"to": "ops@example.co.jp"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["from"], "alias@example.co.jp");
    let stats = fake.stats().await;
    let sent = stats["sends"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(sent["api"], "gmail");
    assert!(sent["mailbox"].is_null());
    let mail = parsed(sent["mime"].as_str().unwrap());
    assert_eq!(header(&mail, "From"), "alias@example.co.jp");
    // A grant without the settings scope is named as such; the alias is not read with it.
    fake.control(json!({"dropScopes": ["https://www.googleapis.com/auth/gmail.settings.basic"]}))
        .await;
    let reads = fake.stats().await["sendAs"].as_array().unwrap().len();
    let (location, _) = connect_through(&app, &fake).await;
    assert!(
        outcome(&location).starts_with("scope_missing"),
        "{location}"
    );
    assert!(
        oauth_status(&app).await["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("gmail.settings.basic")
    );
    assert_eq!(
        fake.stats().await["sendAs"].as_array().unwrap().len(),
        reads
    );
    app.stop().await;
}

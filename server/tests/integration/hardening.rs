//! Attacks against the console, each performed for real against the running server, now
//! refused or harmless (issue "Hardening: attacks that work against the console today").

use crate::common;

use common::smtp_server::{SMTP_PASSWORD, SMTP_USER, SmtpServer};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn smtp_block(port: u16, ssl: bool, password: Option<&str>) -> Value {
    json!({"server": "127.0.0.1", "port": port, "user": SMTP_USER, "password": password, "ssl": ssl})
}

/// The stored SMTP password goes only to the server it was entered for. An edited test mail
/// (or a save) that points elsewhere without typing the password is refused before any
/// connection, naming the field; the other server never sees a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_password_cannot_be_sent_to_another_server() {
    let legit = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    // The attacker's server would accept any AUTH and record it.
    let attacker = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:anything")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "smtp",
            "smtp": smtp_block(legit.port, false, Some(SMTP_PASSWORD)),
            "manager_root": "https://reports.example.co.jp/ConMasManager",
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Edited settings, unsaved: another port (the attacker's), no password typed.
    let edited = |smtp: Value| {
        json!({"to": "someone@example.co.jp", "settings": {
            "auth": "smtp", "smtp": smtp,
            "manager_root": "https://reports.example.co.jp/ConMasManager"}})
    };
    let (status, body) = post_test_mail(&app, edited(smtp_block(attacker.port, false, None))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        error_codes(&body).contains(&("smtp.password".into(), "password_required".into())),
        "{body}"
    );
    // Another user, or SSL switched, on the legitimate server: also a new target.
    let mut other_user = smtp_block(legit.port, false, None);
    other_user["user"] = json!("someone-else@example.co.jp");
    let (status, body) = post_test_mail(&app, edited(other_user)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        attacker.connections().await,
        0,
        "nothing reached the other server"
    );
    assert_eq!(legit.connections().await, 0);

    // The same through a save: refused, nothing stored, the stored password still works.
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "smtp", "smtp": smtp_block(attacker.port, false, None),
            "manager_root": "https://reports.example.co.jp/ConMasManager",
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        error_codes(&body).contains(&("smtp.password".into(), "password_required".into())),
        "{body}"
    );
    let (status, body) = post_test_mail(&app, json!({"to": "someone@example.co.jp"})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the saved settings still send: {body}"
    );
    assert_eq!(attacker.connections().await, 0);
    assert_eq!(legit.messages().await.len(), 1);

    // Switched to OAuth, the SMTP block edited as typed: the password is forgotten, so that
    // switching back later cannot send it to the new host either.
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "oauth",
            "smtp": smtp_block(attacker.port, false, None),
            "oauth": {"provider": "google", "client_id": "1234567890-abc.apps.googleusercontent.com",
                      "client_secret": CLIENT_SECRET, "tenant_id": ""},
            "manager_root": "https://reports.example.co.jp/ConMasManager",
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["smtp"]["password_set"], false, "{body}");
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "smtp",
            "manager_root": "https://reports.example.co.jp/ConMasManager",
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(attacker.connections().await, 0);
    app.stop().await;
}

/// A stored OAuth client secret belongs to one app: another client ID or tenant needs the
/// secret typed again, so it is never presented to another app's token endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_client_secret_stays_with_its_client() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let oauth = |client_id: &str, tenant: &str, secret: Option<&str>| {
        json!({"provider": "microsoft", "client_id": client_id, "tenant_id": tenant,
               "client_secret": secret})
    };
    let put = |oauth: Value| {
        let app = &app;
        async move {
            let current = app.get_settings().await;
            app.put_settings(&json!({
                "auth": "oauth", "oauth": oauth,
                "manager_root": "https://reports.example.co.jp/ConMasManager",
                "version": current["version"],
            }))
            .await
        }
    };
    const ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
    const OTHER_ID: &str = "0a1b2c3d-4e5f-4789-abcd-ef0123456789";
    let (status, body) = put(oauth(ID, "contoso.onmicrosoft.com", Some(CLIENT_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Same app: the stored secret is kept.
    let (status, body) = put(oauth(ID, "contoso.onmicrosoft.com", None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["oauth"]["client_secret_set"], true);
    for (id, tenant) in [
        (OTHER_ID, "contoso.onmicrosoft.com"),
        (ID, "fabrikam.onmicrosoft.com"),
    ] {
        let (status, body) = put(oauth(id, tenant, None)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{id} {tenant}: {body}"
        );
        assert!(
            error_codes(&body).contains(&(
                "oauth.client_secret".into(),
                "client_secret_required".into()
            )),
            "{body}"
        );
    }
    assert_eq!(app.get_settings().await["oauth"]["client_secret_set"], true);
    app.stop().await;
}

/// A client whose connections come from `from` (any 127.x address reaches the test server).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// A body refused by its Content-Length: 413 at once, and the connection closed without reading
/// the body, so the client may see the close before the answer (never a timeout).
fn assert_refused_as_too_large(answer: reqwest::Result<reqwest::Response>) {
    match answer {
        Ok(res) => assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(e.is_request() && !e.is_timeout(), "{e:?}"),
    }
}

async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    user: &str,
    password: &str,
) -> (StatusCode, String) {
    let res = client
        .post(app.url("/ConMasManager/System/Login"))
        .header("origin", format!("http://{}", app.addr))
        .form(&[("username", user), ("password", password), ("next", "")])
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (res.status(), location)
}

/// Anonymous sign-in floods: a huge form is refused by size before it is read; a thousand
/// distinct names from one address cost a bounded number of audit rows, and no full name
/// reaches the log or the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_is_refused_cheaply_and_leaves_bounded_traces() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let flood = client_from("127.0.0.3");

    // Refused by its Content-Length: 413 at once, and the connection is closed without
    // reading the body, so the client may see the close before the answer.
    let huge = "x".repeat(50_000);
    let answer = flood
        .post(app.url("/ConMasManager/System/Login"))
        .header("origin", format!("http://{}", app.addr))
        .form(&[
            ("username", huge.as_str()),
            ("password", "pw"),
            ("next", ""),
        ])
        .send()
        .await;
    assert_refused_as_too_large(answer);

    let name = |n: usize| format!("{n:04}{}", "n".repeat(246));
    let started = std::time::Instant::now();
    let mut throttled = 0;
    for n in 0..1000 {
        let (status, location) = sign_in(&app, &flood, &name(n), "wrong password").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        throttled += usize::from(location.contains("error=throttled"));
    }
    eprintln!(
        "1,000 flood sign-ins: {:?}, {} throttled",
        started.elapsed(),
        throttled
    );
    // 20 tries per address, then one every 15 s: the rest is refused before any work.
    assert!(throttled >= 975, "{throttled} of 1,000 throttled");

    let audit = app.store.audit_entries(5000).await.unwrap();
    let failed = audit.iter().filter(|a| a.2 == "login_failed").count();
    let throttled_rows = audit.iter().filter(|a| a.2 == "login_throttled").count();
    assert!(failed <= 25, "{failed} failure rows");
    assert!(
        throttled_rows <= 2,
        "{throttled_rows} throttled rows: one a minute per address"
    );
    assert!(
        audit.iter().all(|a| a.1.chars().count() <= 65),
        "names in the audit log are cut short"
    );
    assert!(!app.logs.text().contains(&name(999)[..100]));
    assert!(!app.logs.text().contains(&huge[..1000]));
    app.stop().await;
}

/// The same flood against the server binary in a process of its own, so that its memory can be
/// measured alone: 1,000 sign-ins with distinct 250-byte names (and 50 KB ones, refused by
/// size) leave the server's memory about where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_leaves_the_servers_memory_bounded() {
    use common::server_process::ServerProcess;
    let (_dir, db) = fresh_db();
    let port = free_port();
    let server = ServerProcess::start_with(&db, port, &[("ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let flood = client_from("127.0.0.3");
    server.ready(&flood).await;
    let login = format!("{}/ConMasManager/System/Login", server.addr);
    let post = |user: String| {
        flood
            .post(&login)
            .header("origin", &server.addr)
            .form(&[
                ("username", user.as_str()),
                ("password", "wrong"),
                ("next", ""),
            ])
            .send()
    };
    // Warm up (first sign-in, allocator arenas), then measure.
    let _ = post("warm-up".into()).await.unwrap();
    let before = server.rss_kib();
    let huge = "x".repeat(50_000);
    for n in 0..1000 {
        if n % 10 == 0 {
            // Refused by size while it is still being sent: 413, or the connection closed
            // under the rest of the body. Its own connection, so no other request is cut.
            let res = client_from("127.0.0.3")
                .post(&login)
                .header("origin", &server.addr)
                .form(&[
                    ("username", huge.as_str()),
                    ("password", "wrong"),
                    ("next", ""),
                ])
                .send()
                .await;
            assert!(
                res.as_ref()
                    .map_or(true, |r| r.status() == StatusCode::PAYLOAD_TOO_LARGE),
                "{res:?}"
            );
            continue;
        }
        let res = post(format!("{n:04}{}", "n".repeat(246))).await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let after = server.rss_kib();
    let grown = after.saturating_sub(before);
    eprintln!(
        "server memory: {before} KiB before, {after} KiB after 1,000 flood sign-ins (+{grown} KiB)"
    );
    assert!(grown < 16 * 1024, "the server grew by {grown} KiB");
}

/// Wrong passwords for `admin` from other addresses do not keep the administrator out: a
/// correct password from an address without failures gets in, while the guessing addresses
/// stay throttled even with the right password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_from_other_addresses_cannot_lock_the_administrator_out() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let guesser = client_from(from);
        for _ in 0..10 {
            sign_in(&app, &guesser, ADMIN, "wrong password!!").await;
        }
    }
    // The guessers' own pair limits are spent: even the right password waits there.
    let (_, location) = sign_in(&app, &client_from("127.0.0.2"), ADMIN, ADMIN_PASSWORD).await;
    assert!(location.contains("error=throttled"), "{location}");
    // The account's limit is spent too; a new address with one wrong guess is throttled after
    // it, right password or not.
    let newcomer = client_from("127.0.0.6");
    let (_, location) = sign_in(&app, &newcomer, ADMIN, "wrong password!!").await;
    assert!(location.contains("error="), "{location}");
    let (_, location) = sign_in(&app, &newcomer, ADMIN, ADMIN_PASSWORD).await;
    assert!(location.contains("error=throttled"), "{location}");
    // The administrator, from an address without failures, gets in.
    let (status, location) = sign_in(&app, &client_from("127.0.0.5"), ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.ends_with("/ConMasManager/System/MailSetting"),
        "{location}"
    );
    app.stop().await;
}

/// The same guessing spread over two servers on one database (behind a load balancer): the
/// limits add up to one budget, not one per server, and the administrator still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_sign_in_budget() {
    let (_dir, db) = fresh_db();
    let a = TestApp::spawn(&db).await;
    let b = TestApp::spawn(&db).await;
    // Five guesses per address on each server: the pair limit (10) is spent across both.
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let guesser = client_from(from);
        for _ in 0..5 {
            sign_in(&a, &guesser, ADMIN, "wrong password!!").await;
            sign_in(&b, &guesser, ADMIN, "wrong password!!").await;
        }
    }
    for app in [&a, &b] {
        let (_, location) = sign_in(app, &client_from("127.0.0.2"), ADMIN, ADMIN_PASSWORD).await;
        assert!(location.contains("error=throttled"), "{location}");
    }
    // The account's limit (30) is spent by the 30 guesses over both servers: a newcomer that
    // failed once on one server is throttled on the other, right password or not.
    let newcomer = client_from("127.0.0.6");
    let (_, location) = sign_in(&a, &newcomer, ADMIN, "wrong password!!").await;
    assert!(location.contains("error="), "{location}");
    let (_, location) = sign_in(&b, &newcomer, ADMIN, ADMIN_PASSWORD).await;
    assert!(location.contains("error=throttled"), "{location}");
    // The administrator, from an address without failures, gets in on either.
    let (status, location) = sign_in(&b, &client_from("127.0.0.5"), ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.ends_with("/ConMasManager/System/MailSetting"),
        "{location}"
    );
    b.stop().await;
    a.stop().await;
}

async fn submit(app: &TestApp, body: &Value, key: Option<&str>) -> (StatusCode, Value) {
    let mut req = app
        .anon
        .post(app.url("/ConMasManager/api/v1/notifications"))
        .bearer_auth(&app.token)
        .json(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// One request cannot make the server render gigabytes: sizes are checked before rendering
/// (and a known Idempotency-Key answers before anything is rendered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_that_would_render_huge_is_refused_before_rendering() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let notification = |subject: String, body: String, value: String| {
        json!({"subject": subject, "body": body, "to": ["user@example.co.jp"],
               "data": {"rep_id": value, "rep_name": "点検報告書"}})
    };
    // 10,000 codes × an 8 KB value = 80 MB of body.
    let started = std::time::Instant::now();
    let (status, body) = submit(
        &app,
        &notification("s".into(), "{rep_id}".repeat(10_000), "x".repeat(8 * 1024)),
        None,
    )
    .await;
    let refused_in = started.elapsed();
    eprintln!("the largest rendering (80 MB) refused in {refused_in:?}");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "body_too_long");
    assert_eq!(body["errors"][0]["bytes"], 10_000 * 8 * 1024);

    // A 200 KB value is refused as such.
    let (status, body) = submit(
        &app,
        &notification("s".into(), "{rep_id}".into(), "x".repeat(200_000)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "value_too_long");
    assert_eq!(body["errors"][0]["field"], "rep_id");

    // The subject is one header line: at most 998 bytes once rendered.
    let (status, body) = submit(
        &app,
        &notification("{rep_id}".repeat(20), "b".into(), "x".repeat(100)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "subject_too_long");

    // A body over the request limit is refused by its Content-Length before it is read: 413,
    // and the connection is closed, so the client may see the close before the answer.
    let answer = app
        .anon
        .post(app.url("/ConMasManager/api/v1/notifications"))
        .bearer_auth(&app.token)
        .json(&notification(
            "s".into(),
            "b".repeat(3 * 1024 * 1024),
            "1".into(),
        ))
        .send()
        .await;
    assert_refused_as_too_large(answer);

    // A retry under a known Idempotency-Key answers before rendering anything.
    let ok = notification("{rep_name}".into(), "#{rep_id}".into(), "1".into());
    let (status, first) = submit(&app, &ok, Some("order-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let huge = notification("s".into(), "{rep_id}".repeat(10_000), "x".repeat(8 * 1024));
    let (status, again) = submit(&app, &huge, Some("order-1")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["duplicate"], true);
    app.stop().await;
}

/// SMTP smuggling: a template body with bare `<LF>.<LF>` / `<CR>.<CR>` and a second SMTP
/// transaction after them arrives as one message, with those lines as its text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_line_endings_in_a_template_cannot_smuggle_a_second_message() {
    use mailparse::MailHeaderMap;
    let smtp = SmtpServer::start(&["--auth", &format!("{SMTP_USER}:{SMTP_PASSWORD}")]).await;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "smtp", "smtp": smtp_block(smtp.port, false, Some(SMTP_PASSWORD)),
            "manager_root": "https://reports.example.co.jp/ConMasManager",
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let payload = "first line\n.\nMAIL FROM:<boss@example.co.jp>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled\r.\rlast line";
    let (status, body) = submit(
        &app,
        &json!({"subject": "report", "body": payload, "to": ["user@example.co.jp"]}),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    for _ in 0..100 {
        if !smtp.messages().await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Give a smuggled second message time to show up, if there were one.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let messages = smtp.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["rcpt_tos"], json!(["user@example.co.jp"]));
    let mail = mailparse::parse_mail(messages[0]["data"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(mail.headers.get_first_value("Subject").unwrap(), "report");
    let text = mail.get_body().unwrap();
    assert!(text.contains("RCPT TO:<victim@example.net>"), "{text}");
    assert!(text.contains("last line"), "{text}");
    app.stop().await;
}

/// Sends one request exactly as written (an HTTP client would resolve `..` before sending) and
/// returns the status code.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

/// `/pkg/../…` passed the access check as a bundle file: dot segments, plain or encoded, are
/// refused before it, and the settings page is never rendered for an anonymous caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_cannot_walk_past_the_access_check() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    for path in [
        "/pkg/../ConMasManager/System/MailSetting",
        "/pkg/%2e%2e/ConMasManager/System/MailSetting",
        "/pkg/..%2fConMasManager/System/MailSetting",
        "/pkg/./../ConMasManager/api/v1/mail-settings",
        "/ConMasManager/System/Login/../MailSetting",
    ] {
        assert_eq!(raw_get(app.addr, path).await, 400, "{path}");
    }
    // The plain paths behave as before: a page needs the sign-in.
    assert_eq!(
        raw_get(app.addr, "/ConMasManager/System/MailSetting").await,
        303
    );
    app.stop().await;
}

/// Seconds until the server closes `stream` (reads until end of file), at most `max`.
async fn seconds_until_closed(stream: &mut (impl tokio::io::AsyncRead + Unpin), max: f64) -> f64 {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = max - started.elapsed().as_secs_f64();
        assert!(left > 0.0, "still open after {max} s");
        match tokio::time::timeout(
            std::time::Duration::from_secs_f64(left),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed().as_secs_f64(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("still open after {max} s"),
        }
    }
}

/// A client dribbling its headers, an idle keep-alive connection and a crowd of idle
/// connections: none can hold the server (shortened limits, the defaults are in
/// `HttpLimits::default`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let (_dir, db) = fresh_db();
    let mut config = test_config(&db);
    config.http = server::config::HttpLimits {
        header_read: std::time::Duration::from_secs(2),
        request: std::time::Duration::from_secs(30),
        max_connections: 3,
        connection_lifetime: std::time::Duration::from_secs(4),
    };
    let app = TestApp::spawn_with(config).await;

    // Headers one line every second: cut off once the header time is up.
    let slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut watcher, mut writer) = slow.into_split();
    writer
        .write_all(b"GET /ConMasManager/health HTTP/1.1\r\n")
        .await
        .unwrap();
    let (closed_tx, mut closed_rx) = tokio::sync::oneshot::channel::<()>();
    let dribble = async move {
        for n in 0..30 {
            tokio::select! {
                _ = &mut closed_rx => break,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
            if writer
                .write_all(format!("X-Slow-{n}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let watch = async move {
        let cut = seconds_until_closed(&mut watcher, 20.0).await;
        let _ = closed_tx.send(());
        cut
    };
    let (_, cut) = tokio::join!(dribble, watch);
    eprintln!("a client sending a header line a second was cut off after {cut:.1} s");
    assert!(cut < 6.0, "{cut} s");

    // A keep-alive connection left idle after its answer is closed too.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(
        format!(
            "GET /ConMasManager/health HTTP/1.1\r\nHost: {}\r\n\r\n",
            app.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let idle_cut = seconds_until_closed(&mut idle, 20.0).await;
    eprintln!("an idle keep-alive connection was closed after {idle_cut:.1} s");

    // Three silent connections fill the slots; the next client is served once the server
    // has cut them off, not never.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let res = app
        .anon
        .get(app.url("/ConMasManager/health"))
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success() || res.status() == StatusCode::SERVICE_UNAVAILABLE);
    let waited = started.elapsed().as_secs_f64();
    eprintln!("with every slot held by a silent client, the next one waited {waited:.1} s");
    assert!(waited >= 1.0, "the slots were full: {waited} s");
    drop(silent);
    app.stop().await;
}

/// No OAuth authorization code, `state` or set-up token reaches the log, at debug level
/// either (the test log records everything from debug up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_setup_tokens_stay_out_of_the_log() {
    use common::fake_provider::FakeProvider;
    use common::oauth_flow::*;
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;
    let (location, callback) = connect_through(&app, &fake).await;
    assert_eq!(outcome(&location), "connected");
    let query: std::collections::HashMap<String, String> = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let code = &query["code"];
    let state = &query["state"];
    assert!(code.len() >= 8 && state.len() >= 8, "{callback}");

    let marker = "setup-token-marker-5f1c2a9e";
    let _ = app
        .anon
        .get(app.url(&format!("/ConMasManager/System/Setup?token={marker}")))
        .send()
        .await
        .unwrap();
    let logs = app.logs.text();
    assert!(
        logs.contains("/System/MailOAuthMicrosoft"),
        "the request is logged, by path"
    );
    assert!(
        !logs.contains(code.as_str()),
        "the authorization code reached the log"
    );
    assert!(!logs.contains(state.as_str()), "the state reached the log");
    assert!(!logs.contains(marker), "the set-up token reached the log");
    app.stop().await;
}

/// A burst of submissions on one token gets 429 with `Retry-After` past the token's burst;
/// another token is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_cannot_flood_the_notification_api() {
    let (_dir, db) = fresh_db();
    let mut config = test_config(&db);
    config.notify_rate = server::config::NotifyRate {
        per_second: 1,
        burst: 5,
    };
    let app = TestApp::spawn_with(config).await;
    let one = json!({"subject": "s", "body": "b", "to": ["user@example.co.jp"]});
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..12 {
        let res = app
            .anon
            .post(app.url("/ConMasManager/api/v1/notifications"))
            .bearer_auth(&app.token)
            .json(&one)
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
        }
        statuses.push(res.status().as_u16());
    }
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!((5..=6).contains(&accepted), "{statuses:?}");
    assert_eq!(accepted + limited, 12, "{statuses:?}");
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");

    // Another token has its own budget.
    let other = api_token(&app.store, "other", server::store::TokenScope::Admin).await;
    let res = app
        .anon
        .post(app.url("/ConMasManager/api/v1/notifications"))
        .bearer_auth(&other)
        .json(&one)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.stop().await;
}

/// Two server processes on one PostgreSQL database share a token's submission budget: the
/// burst is spent across both, not once per process. On SQLite (one process per database) each
/// process keeps it in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_submission_budget() {
    let (_dir, db) = fresh_db();
    let rate = server::config::NotifyRate {
        per_second: 1,
        burst: 5,
    };
    let mut config = test_config(&db);
    config.notify_rate = rate;
    let a = TestApp::spawn_with(config).await;
    let mut config = test_config(&db);
    config.notify_rate = rate;
    let b = TestApp::spawn_with(config).await;
    // The second start replaced the first one's test token: one token for both.
    let token = b.token.clone();
    let one = json!({"subject": "s", "body": "b", "to": ["user@example.co.jp"]});
    let mut accepted = 0;
    for _ in 0..6 {
        for app in [&a, &b] {
            let res = app
                .anon
                .post(app.url("/ConMasManager/api/v1/notifications"))
                .bearer_auth(&token)
                .json(&one)
                .send()
                .await
                .unwrap();
            match res.status() {
                StatusCode::ACCEPTED => accepted += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    assert!(res.headers().get("retry-after").is_some());
                }
                other => panic!("{other}"),
            }
        }
    }
    if a.store.backend() == server::store::Backend::Postgres {
        assert!((5..=6).contains(&accepted), "{accepted} accepted over both");
    } else {
        assert!(
            (10..=12).contains(&accepted),
            "{accepted} accepted over both"
        );
    }
    b.stop().await;
    a.stop().await;
}

/// The database (and its WAL and shared-memory files) holds sealed secrets, sessions and the
/// audit log: readable by the server's user only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let (status, body) = app.put_settings(&valid_smtp()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let files = server::store::Store::database_files(&format!("sqlite://{}", db.display()));
    assert_eq!(files.len(), 3);
    let mut seen = 0;
    for file in files {
        if let Ok(meta) = std::fs::metadata(&file) {
            seen += 1;
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o600,
                "{}",
                file.display()
            );
        }
    }
    assert!(seen >= 2, "the database and its WAL exist");
    app.stop().await;
}

/// `{rep_url}` keeps ManagerRoot's host whatever `rep_path` says: `http://{0}` followed by
/// `@evil.example/` would have been a link to evil.example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_path_cannot_move_the_link_to_another_host() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let mut settings = valid_smtp();
    settings["manager_root"] = json!("http://{0}");
    let (status, body) = app.put_settings(&settings).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let with_path = |path: &str| {
        json!({"subject": "s", "body": "{rep_url}", "to": ["user@example.co.jp"],
               "data": {"rep_path": path}})
    };
    for hostile in [
        "@evil.example/x",
        "//evil.example/x",
        ".evil.example",
        "/a b",
    ] {
        let (status, body) = submit(&app, &with_path(hostile), None).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{hostile}: {body}"
        );
        assert_eq!(body["errors"][0]["code"], "rep_path_invalid", "{hostile}");
    }
    let (status, body) = submit(&app, &with_path("/Report/7"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let stored = app
        .store
        .notification(body["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.body.ends_with("/Report/7"), "{}", stored.body);
    assert!(stored.body.starts_with("http://"), "{}", stored.body);
    app.stop().await;
}

/// `/health` answers for the database and the worker: a database that no longer answers
/// makes it 503, so a load balancer takes the instance out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_database_and_the_worker() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let res = app.anon_get("/ConMasManager/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["worker"], "running");
    assert_eq!(body["stopped_tasks"], json!([]));
    assert_eq!(body["queue"]["paused"], false);
    app.store.close().await;
    let res = app.anon_get("/ConMasManager/health").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"], "unavailable");
    app.stop().await;
}

/// Runs the `server` binary's operator command on `db`: (success, stdout, stderr).
fn cli(db: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    cli_with(db, args, &[])
}

/// [`cli`] with more environment variables.
fn cli_with(db: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .env("DATABASE_URL", common::database_url(db))
        .env("MAIL_SECRET_KEY", KEY)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A submissions-only token cannot read or change the settings, send test mails or touch the
/// OAuth connection; an expired token is refused with its own code; names are unique among live
/// tokens; the list shows scope, expiry and last use, never the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_token_only_submits_and_tokens_expire() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let (ok, notify, err) = cli(
        &db,
        &[
            "token",
            "create",
            "--name",
            "reports",
            "--scope",
            "notify",
            "--expires-days",
            "30",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        err.contains("scope notify") && err.contains("30 days"),
        "{err}"
    );
    let notify = notify.trim().to_string();

    let (ok, _, err) = cli(&db, &["token", "create", "--name", "REPORTS"]);
    assert!(!ok, "a second live token of the same name is refused");
    assert!(err.contains("named \"REPORTS\" already"), "{err}");
    let (ok, _, err) = cli(
        &db,
        &["token", "create", "--name", "x", "--expires-days", "0"],
    );
    assert!(!ok);
    assert!(err.contains("--expires-days must be 1 to 3650"), "{err}");
    let (ok, _, err) = cli(&db, &["token", "create", "--name", "x", "--scope", "root"]);
    assert!(!ok);
    assert!(err.contains("admin") && err.contains("notify"), "{err}");

    // The attacks a leaked notification token allowed before: read, change, test-send, OAuth.
    let base = "/ConMasManager/api/v1";
    let attempts = [
        (reqwest::Method::GET, format!("{base}/mail-settings"), None),
        (
            reqwest::Method::PUT,
            format!("{base}/mail-settings"),
            Some(valid_smtp()),
        ),
        (
            reqwest::Method::GET,
            format!("{base}/mail-settings/export"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("{base}/mail/test"),
            Some(json!({"to": "attacker@example.com"})),
        ),
        (reqwest::Method::GET, format!("{base}/oauth"), None),
        (reqwest::Method::POST, format!("{base}/oauth/check"), None),
        (
            reqwest::Method::POST,
            format!("{base}/oauth/disconnect"),
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let mut req = app
            .anon
            .request(method.clone(), app.url(&path))
            .bearer_auth(&notify);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert!(
            res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("insufficient_scope")
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["code"], "insufficient_scope",
            "{method} {path}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("--scope admin")
        );
    }
    app.get_settings().await; // an admin token still reads them
    let res = app
        .anon
        .post(app.url(&format!("{base}/notifications")))
        .bearer_auth(&notify)
        .json(&json!({"subject": "s", "body": "b", "to": ["user@example.co.jp"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED, "a notify token submits");

    // The list: scope, expiry, last use; no token, no hash.
    let (ok, list, err) = cli(&db, &["token", "list"]);
    assert!(ok, "{err}");
    let line = list
        .lines()
        .find(|l| l.contains("\treports\t"))
        .expect(&list);
    assert!(line.contains("\tnotify\t"), "{line}");
    assert!(
        !line.contains("\tnever\tnever"),
        "expiry and last use are set: {line}"
    );
    assert!(!list.contains(&notify[4..]), "the list shows no token");

    // Expiry: the same token once its date has passed.
    sqlx::query("UPDATE api_tokens SET expires_at = 1577836800000 WHERE name = 'reports'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let res = app
        .anon
        .post(app.url(&format!("{base}/notifications")))
        .bearer_auth(&notify)
        .json(&json!({"subject": "s", "body": "b", "to": ["user@example.co.jp"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "token_expired");

    // A revoked name can be used again; the default scope stays admin (old scripts keep working).
    let id = notify.split('_').nth(1).unwrap();
    let (ok, _, err) = cli(&db, &["token", "revoke", id]);
    assert!(ok, "{err}");
    let (ok, admin, err) = cli(&db, &["token", "create", "--name", "reports"]);
    assert!(ok, "{err}");
    let res = app
        .anon
        .get(app.url(&format!("{base}/mail-settings")))
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.stop().await;
}

/// Finished notifications past 90 days and audit entries past 365 days are deleted in small
/// batches; queued and retrying notifications stay whatever their age, and recent rows stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_notifications_and_audit_entries_are_purged_in_batches() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let pool = app.store.pool();
    let day: i64 = 86_400_000;
    let now = server::clock::now_ms();
    let rows = [
        ("old-sent", "sent", now - 91 * day),
        ("old-failed", "failed", now - 200 * day),
        ("old-cancelled", "cancelled", now - 91 * day),
        ("old-retrying", "retrying", now - 91 * day),
        ("old-queued", "queued", now - 120 * day),
        ("recent-sent", "sent", now - 89 * day),
        ("old-sent-2", "sent", now - 95 * day),
    ];
    for (id, status, created) in rows {
        // Due far in the future, so the worker leaves the queued ones alone during the test.
        insert_notification(
            pool,
            id,
            "[\"a@example.co.jp\"]",
            status,
            now + 3600 * 1000,
            created,
        )
        .await;
    }
    for (days, n) in [(400, 5), (366, 1), (10, 2)] {
        for _ in 0..n {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, fields)
                 VALUES ($1, 'tests', 'old', '')",
            )
            .bind(now - days * day)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    let retention = server::config::Retention {
        batch: 2,
        ..Default::default()
    };
    let purged = server::service::retention::purge(&app.store, &retention)
        .await
        .unwrap();
    assert_eq!(purged.notifications, 4);
    assert_eq!(purged.audit_entries, 6);
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM notifications ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(left, ["old-queued", "old-retrying", "recent-sent"]);
    let old_audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'old'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(old_audit, 2, "the entries of 10 days ago stay");
    let log = app.store.audit_entries(5).await.unwrap();
    assert!(
        log.iter()
            .any(|(_, actor, action, fields)| actor == "system"
                && action == "retention_purge"
                && fields.starts_with("4 notifications older than 90 days, 6 audit entries")),
        "{log:?}"
    );
    // Nothing left to do: a second purge deletes nothing and writes no audit row.
    let again = server::service::retention::purge(&app.store, &retention)
        .await
        .unwrap();
    assert_eq!(again, server::service::retention::Purged::default());
    app.stop().await;
}

/// A typo in a `PUT` (`smtp.passwrod`) was dropped silently and the save "worked" without the
/// password: unknown members are now refused with 422 naming each, and nothing is saved. The
/// read-only members of the `GET` answer may be sent back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_in_a_put_are_refused_by_name() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let mut typo = valid_smtp();
    let password = typo["smtp"]["password"].take();
    typo["smtp"]["passwrod"] = password;
    typo["manager_rot"] = json!("https://x.example.co.jp/ConMasManager");
    let (status, body) = app
        .put_raw(&typo.to_string(), "application/json", Some("en"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let errors = body["errors"].as_array().unwrap();
    let mut fields: Vec<&str> = errors
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["manager_rot", "smtp.passwrod"], "{body}");
    assert!(errors.iter().all(|e| e["code"] == "unknown_field"));
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("smtp.password") && message.contains("Nothing was saved"));
    assert_eq!(app.get_settings().await["version"], 0, "nothing was saved");

    // GET, change one thing, PUT back: the read-only members are no typo.
    let mut with_alerts = valid_smtp();
    with_alerts["alerts"] = json!({"enabled": true, "webhook_url": "https://hooks.example.com/x"});
    let (status, saved) = app.put_settings(&with_alerts).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let mut round = app.get_settings().await;
    round["manager_root"] = json!("https://reports2.example.co.jp/ConMasManager");
    round["smtp"]["password"] = Value::Null;
    let (status, body) = app.put_settings(&round).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    app.stop().await;
}

/// DNS rebinding: a page on `attacker.example`, re-pointed at the console's address, talks to
/// the console under the attacker's name (same origin for the browser, Origin = Host for the
/// server). Names other than `PUBLIC_ORIGIN`'s (and IP literals, localhost) are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebound_host_name_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_dir, db) = fresh_db();
    let mut config = test_config(&db);
    config.public_origins = vec!["https://reports.example.co.jp".into()];
    let app = TestApp::spawn_with(config).await;
    let send = |request: String| async move {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    let port = app.addr.port();
    let form = "username=admin&password=guess&next=";
    let attacks = [
        format!(
            "GET /ConMasManager/System/Login HTTP/1.1\r\nHost: attacker.example:{port}\r\nConnection: close\r\n\r\n"
        ),
        format!(
            "POST /ConMasManager/System/Login HTTP/1.1\r\nHost: attacker.example:{port}\r\nOrigin: http://attacker.example:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ),
        "GET /ConMasManager/health HTTP/1.1\r\nHost: reports.example.co.jp.attacker.example\r\nConnection: close\r\n\r\n".to_string(),
    ];
    for attack in attacks {
        let answer = send(attack.clone()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{attack}\n{answer}");
        assert!(
            answer.contains("add its address to PUBLIC_ORIGIN"),
            "{answer}"
        );
    }
    let audit = app.store.audit_entries(50).await.unwrap();
    assert!(
        !audit.iter().any(|a| a.2 == "login_failed"),
        "the rebound sign-in never reached the password check"
    );
    for host in [
        "reports.example.co.jp".to_string(),
        "REPORTS.example.co.jp:443".to_string(),
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
    ] {
        let answer = send(format!(
            "GET /ConMasManager/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ))
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{host}: {answer}");
    }
    app.stop().await;
}

/// A copy of the database must not hold a usable session: the table keeps a hash of each id,
/// and a cookie made from a stored row does not sign anyone in, while the real cookie does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_ids_are_stored_hashed() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let res = app.login(&app.anon, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("mail_settings_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let id = cookie.split_once('=').unwrap().1.to_string();
    let table = if on_postgres() {
        "tower_sessions.sessions"
    } else {
        "sessions"
    };
    let stored: Vec<String> = sqlx::query_scalar(&format!("SELECT id FROM {table}"))
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    assert!(!stored.is_empty());
    assert!(
        !stored.contains(&id),
        "the table holds the cookie's id itself"
    );

    let page = "/ConMasManager/System/MailSetting";
    let with = |cookie: String| {
        let url = app.url(page);
        let anon = app.anon.clone();
        async move {
            anon.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        with(cookie.clone()).await,
        StatusCode::OK,
        "the real cookie works"
    );
    for row in stored {
        assert_eq!(
            with(format!("mail_settings_session={row}")).await,
            StatusCode::SEE_OTHER,
            "a stored id used as a cookie leads to the sign-in page"
        );
    }
    app.stop().await;
}

/// `rotate-key` beside a running server would leave the server sealing new secrets (a refreshed
/// token) with the old key: it refuses while a server's heartbeat is fresh, changes nothing, and
/// works once the server has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_refuses_while_a_server_uses_the_database() {
    use common::server_process::ServerProcess;
    let (_dir, db) = fresh_db();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let port = free_port();
    let mut server = ServerProcess::start_with(&db, port, &[("ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    server.ready(&http).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&common::database_url(&db))
        .await
        .unwrap();
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM server_instances")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    eventually("the server's heartbeat", || async { rows().await == 1 }).await;
    let rotate = || {
        cli_with(
            &db,
            &["rotate-key"],
            &[(
                "MAIL_SECRET_KEY_NEW",
                "BBECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )],
        )
    };
    let (ok, _, refused) = rotate();
    assert!(!ok, "rotate-key ran beside a live server");
    assert!(
        refused.contains("a server is using this database"),
        "{refused}"
    );
    assert!(refused.contains("Nothing was changed"), "{refused}");
    let rotations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'key_rotated'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(rotations, 0);

    server.terminate();
    assert_eq!(rows().await, 0, "a clean stop removes the server's row");
    let (ok, _, err) = rotate();
    assert!(ok, "after a clean stop: {err}");
    pool.close().await;
}

/// A template id that cannot exist (100 KB, or with a quote) is refused by its form, without a
/// look-up, and the answer repeats at most 64 characters of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_template_id_is_refused_by_its_form() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    for id in [
        "x".repeat(100_000),
        "report' OR '1'='1".to_string(),
        String::new(),
    ] {
        let (status, body) = submit(
            &app,
            &json!({"template": id, "to": ["user@example.co.jp"]}),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errors"][0]["code"], "template_unknown");
        assert!(
            body["errors"][0]["message"].as_str().unwrap().len() < 200,
            "{body}"
        );
    }
    app.stop().await;
}

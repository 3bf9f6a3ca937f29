//! REST API against the real application: real router, real SQLite file, real HTTP on port 0.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_put_then_get_round_trip() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;

    let initial = app.get_settings().await;
    assert_eq!(initial["version"], 0);
    assert_eq!(initial["manager_root"], "http://{0}/ConMasManager");

    let (status, saved) = app.put_settings(&valid_smtp()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let got = app.get_settings().await;
    assert_eq!(saved, got);
    assert_eq!(got["auth"], "smtp");
    assert_eq!(got["smtp"]["server"], "smtp.example.co.jp");
    assert_eq!(got["smtp"]["port"], 587);
    assert_eq!(got["smtp"]["user"], "notice@example.co.jp");
    assert_eq!(got["smtp"]["ssl"], true);
    assert_eq!(got["smtp"]["password_set"], true);
    assert!(got["smtp"].get("password").is_none());
    assert_eq!(
        got["manager_root"],
        "https://reports.example.co.jp/ConMasManager"
    );
    assert_eq!(got["version"], 1);
    assert_eq!(got["updated_by"], "token:tests");

    // The secret really is stored, in the one place secrets live.
    let stored = app
        .store
        .secret("smtp_password")
        .await
        .unwrap()
        .expect("password stored");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&stored), PASSWORD);

    // A PUT without the password keeps it while the server is the same; the audit log names
    // fields, never values.
    let mut again = valid_smtp();
    again["smtp"]["password"] = Value::Null;
    again["manager_root"] = json!("https://reports2.example.co.jp/ConMasManager");
    let (status, body) = app.put_settings(&again).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["smtp"]["password_set"], true);
    let stored = app.store.secret("smtp_password").await.unwrap().unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&stored), PASSWORD);
    let audit = app.store.audit_entries(10).await.unwrap();
    assert_eq!(audit[0].3, "manager_root");
    // Another server: the stored password is not for it, and must be typed again.
    again["smtp"]["server"] = json!("smtp2.example.co.jp");
    let (status, body) = app.put_settings(&again).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        error_codes(&body),
        vec![("smtp.password".to_string(), "password_required".to_string())]
    );
    assert!(audit[1].3.contains("smtp.password"));
    assert!(audit.iter().all(|a| !a.3.contains(PASSWORD)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invalid_field_is_refused_and_nothing_changes() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let (status, _) = app.put_settings(&valid_smtp()).await;
    assert_eq!(status, StatusCode::OK);
    let before = app.get_settings().await;

    let cases: Vec<(&str, Value, &str)> = vec![
        ("/smtp/port", json!(465), "port_465_unsupported"),
        ("/smtp/port", json!(0), "port_out_of_range"),
        ("/smtp/port", json!(70000), "port_out_of_range"),
        (
            "/smtp/server",
            json!("smtp://smtp.example.co.jp"),
            "server_has_scheme",
        ),
        (
            "/smtp/server",
            json!("smtp.example.co.jp:587"),
            "server_has_port",
        ),
        ("/smtp/server", json!(""), "server_required"),
        (
            "/smtp/user",
            json!("first..last@example.co.jp"),
            "mailbox_local_invalid",
        ),
        (
            "/smtp/user",
            json!("Jane <jane@example.co.jp>"),
            "mailbox_display_name",
        ),
        (
            "/smtp/user",
            json!("user@192.0.2.1"),
            "mailbox_ip_needs_brackets",
        ),
        (
            "/smtp/user",
            json!("notice@example.co.jp\r\nBcc: x@evil.example"),
            "control_characters",
        ),
        ("/smtp/password", json!("pass\nword"), "control_characters"),
        ("/smtp/ssl", json!(false), "port_587_requires_ssl"),
        (
            "/manager_root",
            json!("reports.example.co.jp"),
            "manager_root_scheme",
        ),
        (
            "/manager_root",
            json!("https://{0}.example.co.jp/"),
            "manager_root_placeholder_position",
        ),
        (
            "/manager_root",
            json!("https://reports.example.co.jp/?a=b"),
            "manager_root_query_fragment",
        ),
    ];
    for (pointer, value, code) in cases {
        let mut body = valid_smtp();
        *body.pointer_mut(pointer).unwrap() = value.clone();
        let (status, res) = app.put_settings(&body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{pointer} = {value}: {res}"
        );
        let field = pointer.trim_start_matches('/').replace('/', ".");
        let field = if field == "smtp.ssl" {
            "smtp.ssl".to_string()
        } else {
            field
        };
        assert!(
            error_codes(&res).contains(&(field.clone(), code.to_string())),
            "{pointer} = {value}: expected {field}/{code}, got {res}"
        );
        let message = res["errors"][0]["message"].as_str().unwrap();
        assert!(!message.is_empty());
        assert_eq!(
            app.get_settings().await,
            before,
            "{pointer} = {value} changed the stored settings"
        );
    }

    // Port 25 with SSL on: the mismatch is named on the SSL box.
    let mut body = valid_smtp();
    body["smtp"]["port"] = json!(25);
    let (status, res) = app.put_settings(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&res),
        vec![("smtp.ssl".into(), "port_25_requires_no_ssl".into())]
    );

    // OAuth selected with bad identifiers: every field is named.
    let body = json!({
        "auth": "oauth",
        "oauth": {"provider": "microsoft", "client_id": "not-a-guid", "client_secret": null, "tenant_id": "common"},
        "manager_root": "https://reports.example.co.jp/ConMasManager"
    });
    let (status, res) = app.put_settings(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&res),
        vec![
            (
                "oauth.client_id".into(),
                "microsoft_client_id_invalid".into()
            ),
            (
                "oauth.tenant_id".into(),
                "microsoft_tenant_id_invalid".into()
            ),
            (
                "oauth.client_secret".into(),
                "client_secret_required".into()
            ),
        ]
    );
    assert_eq!(app.get_settings().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_name_the_problem() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let before = app.get_settings().await;

    let mut body = valid_smtp();
    body["smtp"]["port"] = json!("587");
    let (status, res) = app.put_settings(&body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&res),
        vec![("smtp.port".into(), "invalid_type".into())]
    );

    let (status, res) = app.put_settings(&json!({"smtp": {}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&res),
        vec![("auth".into(), "missing_field".into())]
    );

    let (status, res) = app.put_raw("{not json", "application/json", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&res),
        vec![("body".into(), "invalid_json".into())]
    );

    let (status, _) = app
        .put_raw(&valid_smtp().to_string(), "text/plain", None)
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(app.get_settings().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_follow_accept_language() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let mut body = valid_smtp();
    body["smtp"]["port"] = json!(465);
    let (_, ja) = app
        .put_raw(&body.to_string(), "application/json", None)
        .await;
    let (_, en) = app
        .put_raw(
            &body.to_string(),
            "application/json",
            Some("en-US,en;q=0.9"),
        )
        .await;
    let ja = ja["errors"][0]["message"].as_str().unwrap().to_string();
    let en = en["errors"][0]["message"].as_str().unwrap().to_string();
    assert!(ja.contains("ポート465"), "{ja}");
    assert!(en.contains("Port 465 (SMTPS) is not supported"), "{en}");
    assert!(
        en.contains("587") && en.contains("25"),
        "the message says what to do: {en}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_auth_type_keeps_the_other_block() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.put_settings(&valid_smtp()).await.0, StatusCode::OK);

    let oauth = json!({
        "auth": "oauth",
        "oauth": {
            "provider": "microsoft",
            "client_id": "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
            "client_secret": CLIENT_SECRET,
            "tenant_id": "contoso.onmicrosoft.com"
        },
        "manager_root": "https://reports.example.co.jp/ConMasManager"
    });
    let (status, body) = app.put_settings(&oauth).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["auth"], "oauth");
    assert_eq!(body["oauth"]["client_secret_set"], true);
    // The SMTP block was omitted: it stays as stored.
    assert_eq!(body["smtp"]["server"], "smtp.example.co.jp");
    assert_eq!(body["smtp"]["password_set"], true);

    // Back to SMTP with the OAuth block omitted: nothing of OAuth is lost either.
    let back =
        json!({"auth": "smtp", "manager_root": "https://reports.example.co.jp/ConMasManager"});
    let (status, body) = app.put_settings(&back).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["auth"], "smtp");
    assert_eq!(
        body["oauth"]["client_id"],
        "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    );
    assert_eq!(body["oauth"]["client_secret_set"], true);
    assert_eq!(body["smtp"]["user"], "notice@example.co.jp");

    // An unselected block may be sent half-typed: stored as typed, validated once selected.
    let half = json!({
        "auth": "smtp",
        "oauth": {"provider": "google", "client_id": "half-typed"},
        "manager_root": "https://reports.example.co.jp/ConMasManager"
    });
    let (status, body) = app.put_settings(&half).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["oauth"]["client_id"], "half-typed");
    assert_eq!(body["oauth"]["provider"], "google");
    // The Microsoft secret does not carry over to Google.
    assert_eq!(body["oauth"]["client_secret_set"], false);
    let select =
        json!({"auth": "oauth", "manager_root": "https://reports.example.co.jp/ConMasManager"});
    let (status, res) = app.put_settings(&select).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&res),
        vec![
            ("oauth.client_id".into(), "google_client_id_invalid".into()),
            (
                "oauth.client_secret".into(),
                "client_secret_required".into()
            ),
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_version_is_a_conflict_and_nothing_is_lost() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let mut first = valid_smtp();
    first["version"] = json!(0);
    assert_eq!(app.put_settings(&first).await.0, StatusCode::OK);

    // A second editor still holding version 0.
    let mut second = valid_smtp();
    second["version"] = json!(0);
    second["smtp"]["server"] = json!("other.example.co.jp");
    let (status, res) = app.put_settings(&second).await;
    assert_eq!(status, StatusCode::CONFLICT, "{res}");
    assert_eq!(res["current_version"], 1);
    assert_eq!(
        error_codes(&res),
        vec![("version".into(), "version_conflict".into())]
    );
    assert_eq!(
        app.get_settings().await["smtp"]["server"],
        "smtp.example.co.jp"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_survive_a_restart() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.put_settings(&valid_smtp()).await.0, StatusCode::OK);
    let before = app.get_settings().await;
    app.stop().await;

    let app = TestApp::spawn(&db).await;
    assert_eq!(app.get_settings().await, before);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_function_revalidates_what_the_browser_would_have_checked() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    // A request straight to the server function, bypassing the page's checks.
    let mut input = valid_smtp();
    input["smtp"]["port"] = json!(465);
    let res = app
        .client
        .post(app.url("/api/mail_settings/save"))
        .header("content-type", "application/json")
        .json(&json!({ "input": input }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert_no_secret(&body);
    assert!(body.contains("port_465_unsupported"), "{body}");
    assert_eq!(app.get_settings().await["version"], 0, "nothing stored");

    // The same function with valid input stores it.
    let res = app
        .client
        .post(app.url("/api/mail_settings/save"))
        .json(&json!({ "input": valid_smtp() }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let body = res.text().await.unwrap();
    assert_no_secret(&body);
    assert_eq!(app.get_settings().await["version"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_and_base_redirect_to_the_settings_page() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    for path in ["/", "/ConMasManager"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert!(res.status().is_redirection(), "{path}: {}", res.status());
        assert_eq!(
            res.headers()["location"],
            "/ConMasManager/System/MailSetting"
        );
    }
    let health = app
        .client
        .get(app.url("/ConMasManager/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_on_the_server_without_secrets() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.put_settings(&valid_smtp()).await.0, StatusCode::OK);
    for path in [
        "/ConMasManager/System/MailSetting",
        "/ConMasManager/System/MailSetting?tab=google",
        "/ConMasManager/System/MailSetting/Edit?tab=smtp",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let html = res.text().await.unwrap();
        assert_no_secret(&html);
        assert!(
            html.contains("smtp.example.co.jp"),
            "{path} renders the stored settings"
        );
    }
    let google = app
        .client
        .get(app.url("/ConMasManager/System/MailSetting?tab=google"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        google.contains("data-panel=\"google\""),
        "the tab in the URL is rendered on the server"
    );
    assert!(google.contains("https://reports.example.co.jp/ConMasManager/System/MailOAuthGoogle"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_leaves_secrets_out_and_a_new_console_asks_for_them() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.put_settings(&valid_smtp()).await.0, StatusCode::OK);
    let res = app
        .client
        .get(app.url("/ConMasManager/api/v1/mail-settings/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"mail-settings-"),
        "{disposition}"
    );
    let text = res.text().await.unwrap();
    assert_no_secret(&text);
    let file: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["format"], "mail-settings-export");
    assert_eq!(file["format_version"], 1);
    assert_eq!(file["settings"]["smtp"]["server"], "smtp.example.co.jp");
    assert_eq!(file["settings"]["smtp"]["password"], Value::Null);
    assert_eq!(file["secrets_omitted"], json!(["smtp.password"]));
    let log = app.store.audit_entries(5).await.unwrap();
    assert_eq!(log[0].2, "settings.export");
    app.stop().await;

    // Another console: the file's settings are a PUT body; the missing password is asked for.
    let (_dir2, db2) = fresh_db();
    let other = TestApp::spawn(&db2).await;
    let (status, body) = other.put_settings(&file["settings"]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        error_codes(&body).contains(&("smtp.password".into(), "password_required".into())),
        "{body}"
    );
    let mut with_password = file["settings"].clone();
    with_password["smtp"]["password"] = json!(PASSWORD);
    assert_eq!(other.put_settings(&with_password).await.0, StatusCode::OK);
    assert_eq!(
        other.get_settings().await["smtp"]["server"],
        "smtp.example.co.jp"
    );
    other.stop().await;
}

/// Many pages rendered at once on a multi-threaded runtime all answer: a render that moves to
/// another worker thread between its steps must not read the page title's signal from that
/// thread's reactive arena (with Leptos' sandboxed arenas it panicked and dropped the connection,
/// the CI failure of building_another_router_never_stalls_a_page_render).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_page_renders_all_answer() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.put_settings(&valid_smtp()).await.0, StatusCode::OK);
    for round in 0..8 {
        let renders = (0..48).map(|i| {
            let path = if i % 2 == 0 {
                "/ConMasManager/System/MailSetting"
            } else {
                "/ConMasManager/System/MailSetting/Edit"
            };
            app.client
                .get(app.url(path))
                .timeout(std::time::Duration::from_secs(20))
                .send()
        });
        for (i, res) in futures_util::future::join_all(renders)
            .await
            .into_iter()
            .enumerate()
        {
            let res = res.unwrap_or_else(|e| panic!("render {i} of round {round} answers: {e}"));
            assert_eq!(res.status(), StatusCode::OK);
            let html = res.text().await.unwrap();
            assert!(
                html.contains("<title>") && html.contains("smtp.example.co.jp"),
                "render {i} of round {round} is the whole page"
            );
        }
    }
    app.stop().await;
}

/// Building a second application in the same process (as the tests, the bench and the CLI do)
/// while pages are being rendered must not stall a render: walking the Leptos routes sets a
/// process-wide flag that parks every resource polled meanwhile (leptos-rs/leptos#4773).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn building_another_router_never_stalls_a_page_render() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.put_settings(&valid_smtp()).await.0, StatusCode::OK);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let walker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut walks = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let routes = server::http::route_inventory("/ConMasManager");
                assert!(!routes.is_empty());
                walks += 1;
            }
            walks
        })
    };
    for _ in 0..150 {
        let res = app
            .client
            .get(app.url("/ConMasManager/System/MailSetting"))
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .expect("the page answers while another router is built");
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("smtp.example.co.jp"),
            "the settings are rendered"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let walks = walker.join().unwrap();
    assert!(walks > 0, "the route list was walked during the renders");
    app.stop().await;
}

/// Every refusal of every REST route has the same body: `errors`, each entry with a `code`
/// and a `message` (and a `field` where one member is at fault).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_has_the_one_error_body() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    assert_eq!(app.put_settings(&valid_smtp()).await.0, StatusCode::OK);
    let notify_token =
        api_token(&app.store, "notify-only", server::store::TokenScope::Notify).await;
    let api = |path: &str| app.url(&format!("/ConMasManager/api/v1/{path}"));
    let bearer = format!("Bearer {}", app.token);
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "unknown API path",
            app.anon
                .get(api("nothing-here"))
                .header("authorization", &bearer),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong method",
            app.anon
                .delete(api("mail-settings"))
                .header("authorization", &bearer),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "no credentials",
            app.anon.get(api("mail-settings")),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "unknown token",
            app.anon
                .get(api("mail-settings"))
                .header("authorization", "Bearer mst_not-a-token"),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            "notify token outside its scope",
            app.anon
                .get(api("mail-settings"))
                .header("authorization", format!("Bearer {notify_token}")),
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        ),
        (
            "foreign Origin",
            app.anon
                .put(api("mail-settings"))
                .header("origin", "https://evil.example")
                .header("content-type", "application/json")
                .body("{}"),
            StatusCode::FORBIDDEN,
            "cross_origin",
        ),
        (
            "not JSON",
            app.anon
                .put(api("mail-settings"))
                .header("authorization", &bearer)
                .header("content-type", "text/plain")
                .body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_json",
        ),
        (
            "invalid field",
            app.anon
                .put(api("mail-settings"))
                .header("authorization", &bearer)
                .json(&{
                    let mut s = valid_smtp();
                    s["smtp"]["port"] = json!(465);
                    s
                }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "port_465_unsupported",
        ),
        (
            "stale version",
            app.anon
                .put(api("mail-settings"))
                .header("authorization", &bearer)
                .json(&{
                    let mut s = valid_smtp();
                    s["version"] = json!(0);
                    s
                }),
            StatusCode::CONFLICT,
            "version_conflict",
        ),
        (
            "unreadable notification",
            app.anon
                .post(api("notifications"))
                .header("authorization", &bearer)
                .header("content-type", "application/json")
                .body("[1,2"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_json",
        ),
        (
            "unknown Host",
            app.anon
                .get(api("mail-settings"))
                .header("authorization", &bearer)
                .header("host", "rebound.example"),
            StatusCode::BAD_REQUEST,
            "host_unknown",
        ),
    ];
    for (what, request, status, code) in cases {
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), status, "{what}");
        let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {content_type}"
        );
        let body: Value = res.json().await.unwrap();
        let first = &body["errors"][0];
        assert_eq!(first["code"], code, "{what}: {body}");
        assert!(
            first["message"].as_str().is_some_and(|m| m.len() > 10),
            "{what}: {body}"
        );
    }

    // A body larger than the server takes, refused from its declared length alone.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /ConMasManager/api/v1/notifications HTTP/1.1\r\nhost: {}\r\n\
         authorization: {bearer}\r\ncontent-type: application/json\r\n\
         content-length: 3000000\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut answer))
        .await
        .expect("the refusal comes before the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let json_start = answer.find("{\"errors\"").expect("a JSON error body");
    let body: Value = serde_json::from_str(&answer[json_start..]).unwrap();
    assert_eq!(body["errors"][0]["code"], "body_too_large");
    app.stop().await;
}

/// A database written before migration 0008 (text times, OAuth seconds) keeps every time:
/// after the upgrade each is in milliseconds and reads back as the same instant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_databases_keep_their_times_in_the_one_representation() {
    let (_dir, db) = fresh_db();
    let url = format!("sqlite://{}", db.display());
    {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let mut before = sqlx::migrate!("./migrations/sqlite");
        before.migrations = std::borrow::Cow::Owned(
            before
                .migrations
                .iter()
                .filter(|m| m.version <= 7)
                .cloned()
                .collect(),
        );
        before.run(&pool).await.unwrap();
        for statement in [
            "INSERT INTO mail_settings (id, auth, smtp_server, smtp_port, smtp_user, smtp_ssl,
                 oauth_provider, oauth_client_id, oauth_tenant_id, manager_root, version,
                 updated_at, updated_by)
             VALUES (1, 'smtp', 'smtp.example.co.jp', 587, 'notice@example.co.jp', 1,
                 'microsoft', '', '', 'http://{0}/ConMasManager', 4,
                 '2026-11-01T09:30:15Z', 'admin')",
            "INSERT INTO audit_log (at, actor, action, fields)
             VALUES ('2026-10-02T01:02:03Z', 'admin', 'settings.save', 'smtp.port')",
            "INSERT INTO api_tokens (name, prefix, token_hash, created_by, created_at,
                 last_used_at, revoked_at, scope, expires_at)
             VALUES ('reports', 'mst_abc', x'00', 'admin', '2026-09-01T00:00:00Z',
                 '2026-09-02T12:00:00Z', NULL, 'notify', '2027-01-01T00:00:00Z')",
            "INSERT INTO oauth_connection (id, provider, account, display_name, account_id,
                 scopes, connected_at, connected_by, refresh_token_at, access_expires_at,
                 last_refresh_at, generation)
             VALUES (1, 'microsoft', 'notice@example.co.jp', '', 'tid/oid', 'Mail.Send',
                 1790000000, 'admin', 1790000000, 1790003600, 1790001000, 'g1')",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    let keys = server::secrets::Keyring::load(&test_config(&db).secret_key).unwrap();
    let store = server::store::Store::open(&url, "/ConMasManager", keys)
        .await
        .expect("the upgrade runs");
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT typeof(t) FROM (
             SELECT updated_at AS t FROM mail_settings UNION ALL SELECT at FROM audit_log
             UNION ALL SELECT created_at FROM api_tokens UNION ALL SELECT expires_at FROM api_tokens
             UNION ALL SELECT connected_at FROM oauth_connection)",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(types, vec!["integer"], "every time is a number now");
    let settings = store.load().await.unwrap();
    assert_eq!(settings.updated_at.as_deref(), Some("2026-11-01T09:30:15Z"));
    assert_eq!(settings.version, 4);
    let audit = store.audit_entries(10).await.unwrap();
    assert_eq!(audit[0].0, "2026-10-02T01:02:03Z");
    let tokens = store.tokens().await.unwrap();
    assert_eq!(tokens[0].created_at, "2026-09-01T00:00:00Z");
    assert_eq!(
        tokens[0].last_used_at.as_deref(),
        Some("2026-09-02T12:00:00Z")
    );
    assert_eq!(
        tokens[0].expires_at.as_deref(),
        Some("2027-01-01T00:00:00Z")
    );
    assert_eq!(tokens[0].revoked_at, None);
    let connection = store.connection().await.unwrap().unwrap();
    assert_eq!(connection.connected_at, 1_790_000_000_000);
    assert_eq!(connection.access_expires_at, 1_790_003_600_000);
    assert_eq!(connection.last_refresh_at, Some(1_790_001_000_000));
    // The live-name rule of the tokens survived the rebuild of their table.
    let duplicate = sqlx::query(
        "INSERT INTO api_tokens (name, prefix, token_hash, created_by, created_at, scope)
         VALUES ('REPORTS', 'mst_def', x'00', 'admin', 0, 'admin')",
    )
    .execute(store.pool())
    .await;
    assert!(duplicate.is_err(), "names stay unique among live tokens");
    store.close().await;
}

/// A server function of the tokens page, called as the page calls it (session cookie).
async fn tokens_fn(app: &TestApp, name: &str, args: Value) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/mail_settings/{name}")))
        .json(&args)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_once_listed_without_values_and_revoked_from_the_page() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    // Refused before anything is made: the server checks what the browser checked.
    for (request, code) in [
        (
            json!({"name": "  ", "scope": "notify", "expires_days": null}),
            "name_required",
        ),
        (
            json!({"name": "a\nb", "scope": "notify", "expires_days": null}),
            "name_control_characters",
        ),
        (
            json!({"name": "x".repeat(101), "scope": "notify", "expires_days": null}),
            "name_too_long",
        ),
        (
            json!({"name": "x", "scope": "notify", "expires_days": 0}),
            "expiry_out_of_range",
        ),
        (
            json!({"name": "x", "scope": "notify", "expires_days": 3651}),
            "expiry_out_of_range",
        ),
    ] {
        let (status, body) = tokens_fn(&app, "create_token", json!({ "request": request })).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{request}: {body}"
        );
        assert!(body.to_string().contains(code), "{request}: {body}");
    }
    let (status, body) = tokens_fn(
        &app,
        "create_token",
        json!({"request": {"name": "帳票システム", "scope": "notify", "expires_days": 30}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let id = body["row"]["id"].as_str().unwrap().to_string();
    assert!(token.starts_with(&format!("mst_{id}_")));
    assert_eq!(body["row"]["scope"], "notify");
    assert!(body["row"]["expires_at"].is_string());

    // It works, within its scope only.
    let submit = |token: String| {
        let app = &app;
        async move {
            app.anon
                .post(app.url("/ConMasManager/api/v1/notifications"))
                .bearer_auth(token)
                .json(&json!({"subject": "s", "body": "b", "to": ["a@example.co.jp"]}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(submit(token.clone()).await, StatusCode::ACCEPTED);
    let settings = app
        .anon
        .get(app.url("/ConMasManager/api/v1/mail-settings"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), StatusCode::FORBIDDEN);

    // The same name again is refused while the first lives.
    let (status, body) = tokens_fn(
        &app,
        "create_token",
        json!({"request": {"name": "帳票システム", "scope": "admin", "expires_days": null}}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("name_taken"), "{body}");

    // The list never holds a value or a hash.
    let (status, list) = tokens_fn(&app, "tokens", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let text = list.to_string();
    assert!(
        !text.contains(&token[id.len() + 5..]),
        "no value in the list"
    );
    let row = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap();
    assert!(row["last_used_at"].is_string(), "the submission was noted");
    assert!(row["revoked_at"].is_null());

    // Revoked: refused at once; a second revocation says it is gone.
    let (status, body) = tokens_fn(&app, "revoke_token", json!({ "id": id })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(submit(token.clone()).await, StatusCode::UNAUTHORIZED);
    let (status, body) = tokens_fn(&app, "revoke_token", json!({ "id": id })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = tokens_fn(&app, "revoke_token", json!({ "id": "x".repeat(10_000) })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit = app.store.audit_entries(50).await.unwrap();
    for action in ["token_created", "token_revoked"] {
        assert!(
            audit
                .iter()
                .any(|(_, actor, a, _)| a == action && actor == ADMIN),
            "{action} by the administrator: {audit:?}"
        );
    }
    assert_no_secret(&text);
}

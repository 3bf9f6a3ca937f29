//! Locking the console: every route needs a session or a token, sessions and their cookie,
//! throttled sign-in, cross-site requests, security headers, secrets at rest and in logs, and
//! the operator's sub-commands.

use crate::common;

use common::*;
use reqwest::StatusCode;
use secrecy::ExposeSecret as _;
use serde_json::json;
use std::time::Duration;

const BASE: &str = "/ConMasManager";

fn is_login_redirect(res: &reqwest::Response) -> bool {
    res.status() == StatusCode::SEE_OTHER
        && res
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.starts_with(&format!("{BASE}/System/Login")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_callers_without_session_or_token() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let routes = server::http::route_inventory(BASE);
    // The inventory really is the whole application: pages, server functions, REST.
    for expected in [
        format!("{BASE}/System/MailSetting"),
        format!("{BASE}/System/MailSetting/Edit"),
        format!("{BASE}/api/v1/mail-settings"),
        "/api/mail_settings/save".to_string(),
        "/api/mail_settings/get".to_string(),
    ] {
        assert!(
            routes.iter().any(|(_, p)| *p == expected),
            "{expected} missing from {routes:?}"
        );
    }
    let public = [
        format!("{BASE}/System/Login"),
        format!("{BASE}/System/Setup"),
        format!("{BASE}/health"),
    ];
    let mut checked = 0;
    for (method, path) in &routes {
        if public.contains(path) {
            continue;
        }
        let origin = format!("http://{}", app.addr);
        for token in [None, Some("mst_0000_wrong"), Some(app.token.as_str())] {
            let mut req = app
                .anon
                .request(method.clone(), app.url(path))
                .header("origin", &origin)
                .header("content-type", "application/json")
                .body("{}");
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            let rest_api = path.starts_with(&format!("{BASE}/api/"));
            let valid_token_on_rest = token == Some(app.token.as_str()) && rest_api;
            if valid_token_on_rest {
                assert_ne!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
                continue;
            }
            let page = *method == reqwest::Method::GET
                && token.is_none()
                && !path.starts_with("/api/")
                && !rest_api;
            if page {
                assert!(is_login_redirect(&res), "{method} {path}: {}", res.status());
            } else {
                assert_eq!(
                    res.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with token {token:?}"
                );
                let body: serde_json::Value = res.json().await.unwrap();
                assert!(
                    body["errors"][0]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty())
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} requests checked");
    // Unknown paths do not reveal anything either.
    let res = app.anon_get(&format!("{BASE}/nope")).await;
    assert!(is_login_redirect(&res));
    // The deep link comes back after sign-in.
    let res = app
        .anon_get(&format!("{BASE}/System/MailSetting/Edit?tab=google"))
        .await;
    assert_eq!(
        res.headers()["location"],
        "/ConMasManager/System/Login?next=%2FConMasManager%2FSystem%2FMailSetting%2FEdit%3Ftab%3Dgoogle"
    );
    // Public routes stay reachable.
    let health = app.anon_get(&format!("{BASE}/health")).await;
    assert_eq!(health.status(), StatusCode::OK);
    // The sign-in form carries the deep link in its server-rendered HTML (usable before the
    // WebAssembly has loaded).
    let login = app
        .anon_get(&format!(
            "{BASE}/System/Login?next=%2FConMasManager%2FSystem%2FMailSetting%3Ftab%3Dgoogle"
        ))
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let html = login.text().await.unwrap();
    assert!(
        html.contains("name=\"next\" value=\"/ConMasManager/System/MailSetting?tab=google\""),
        "{html}"
    );
    // With administrators present, the set-up page is closed.
    let setup = app.anon_get(&format!("{BASE}/System/Setup")).await;
    assert!(is_login_redirect(&setup));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_is_locked_down_rotated_and_ended_at_logout() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    // A session id planted before sign-in is not the one used after it.
    let planted = "mail_settings_session=planted-by-someone-else";
    let res = browser
        .post(app.url(&format!("{BASE}/System/Login")))
        .header("origin", format!("http://{}", app.addr))
        .header("cookie", planted)
        .form(&[
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/ConMasManager/System/MailSetting"
    );
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("mail_settings_session="), "{cookie}");
    assert!(!cookie.contains("planted-by-someone-else"));
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http here: {cookie}");
    let session = cookie.split(';').next().unwrap().to_string();

    let page = |c: String| {
        let browser = browser.clone();
        let url = app.url(&format!("{BASE}/System/MailSetting"));
        async move { browser.get(url).header("cookie", c).send().await.unwrap() }
    };
    let res = page(session.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"viewer\""),
        "the page names who is signed in"
    );
    // The text node may be followed by a hydration marker (`<!>`).
    assert!(
        html.contains(r#"<strong id="viewer">admin<"#),
        "the signed-in administrator is named"
    );
    // The audit log on the page shows this sign-in.
    assert!(
        html.contains("id=\"audit-log\""),
        "the audit log is on the page"
    );
    assert!(html.contains("data-action=\"login\""));

    // Logout ends the session on the server: the old cookie no longer works.
    let res = browser
        .post(app.url(&format!("{BASE}/System/Logout")))
        .header("origin", format!("http://{}", app.addr))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(is_login_redirect(&page(session.clone()).await));
    app.stop().await;

    // Behind https (PUBLIC_ORIGIN), the cookie is Secure.
    let mut config = test_config(&db);
    config.public_origins = vec!["https://reports.example.co.jp".into()];
    config.cookie_secure = true;
    let app = TestApp::spawn_with(config).await;
    let res = app.login(&app.anon, ADMIN, ADMIN_PASSWORD).await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_and_after_the_absolute_limit() {
    let (_dir, db) = fresh_db();
    let idle = {
        let mut c = test_config(&db);
        c.session_idle = Duration::from_secs(1);
        c
    };
    let absolute = {
        let mut c = test_config(&db);
        c.session_max = Duration::from_secs(1);
        c
    };
    let page = format!("{BASE}/System/MailSetting");
    for config in [idle, absolute] {
        let app = TestApp::spawn_with(config).await;
        let res = app.client.get(app.url(&page)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let res = app.client.get(app.url(&page)).send().await.unwrap();
        assert!(is_login_redirect(&res), "{}", res.status());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_get_one_answer_and_are_throttled() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let location =
        |res: &reqwest::Response| res.headers()["location"].to_str().unwrap().to_string();
    // Unknown user and wrong password: the same answer.
    let unknown = app.login(&app.anon, "nobody", ADMIN_PASSWORD).await;
    let wrong = app.login(&app.anon, ADMIN, "wrong password!!").await;
    assert_eq!(location(&unknown), location(&wrong));
    assert!(location(&wrong).contains("error=invalid"));
    assert!(unknown.headers().get("set-cookie").is_none());
    // The account allows ten tries (the harness used one), then even the right password waits.
    for _ in 0..8 {
        let res = app.login(&app.anon, ADMIN, "wrong password!!").await;
        assert!(location(&res).contains("error=invalid"));
    }
    let res = app.login(&app.anon, ADMIN, ADMIN_PASSWORD).await;
    assert!(
        location(&res).contains("error=throttled"),
        "{}",
        location(&res)
    );
    let log = app.store.audit_entries(50).await.unwrap();
    assert!(log.iter().any(|(_, _, action, _)| action == "login_failed"));
    assert!(
        log.iter()
            .any(|(_, _, action, _)| action == "login_throttled")
    );
    assert!(
        log.iter()
            .any(|(_, actor, action, _)| action == "login" && actor == ADMIN)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_change_nothing() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let save = |origin: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.url("/api/mail_settings/save"))
            .json(&json!({ "input": valid_smtp() }));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req
    };
    for origin in ["https://evil.example", "null"] {
        let res = save(Some(origin)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "cross_origin");
    }
    let res = save(None)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let logout = app
        .client
        .post(app.url(&format!("{BASE}/System/Logout")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get_settings().await["version"], 0, "nothing stored");
    // The same request from the console's own page works (and the session survived).
    let res = save(None).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(app.get_settings().await["version"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_every_kind_of_answer() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let page = app
        .client
        .get(app.url(&format!("{BASE}/System/MailSetting")))
        .send()
        .await
        .unwrap();
    let api = app
        .anon
        .get(app.url(&format!("{BASE}/api/v1/mail-settings")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let denied = app.anon_get(&format!("{BASE}/api/v1/mail-settings")).await;
    let login = app.anon_get(&format!("{BASE}/System/Login")).await;
    for res in [&page, &api, &denied, &login] {
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-store");
    }
    // Each inline script carries this response's nonce.
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    // (An empty `<script></script>` runs nothing; the HTML standard skips it before any CSP check.)
    let scripts = html.matches("<script").count() - html.matches("<script></script>").count();
    assert!(scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every <script> has the nonce: {html}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_not_in_the_database_file_nor_in_the_logs() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    let (status, _) = app.put_settings(&valid_smtp()).await;
    assert_eq!(status, StatusCode::OK);
    let mut oauth = valid_smtp();
    oauth["auth"] = json!("oauth");
    oauth["oauth"] = json!({
        "provider": "google",
        "client_id": "123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com",
        "client_secret": CLIENT_SECRET,
        "tenant_id": ""
    });
    oauth["version"] = json!(1);
    let (status, body) = app.put_settings(&oauth).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The values are there for the server …
    let password = app.store.secret("smtp_password").await.unwrap().unwrap();
    assert_eq!(password.expose_secret(), PASSWORD);
    let token = app.token.clone();
    app.stop().await;
    // … but nothing of the database holds their bytes (or the admin password, or the token):
    // not its files (SQLite), not a full dump (PostgreSQL, binary columns as hex there).
    let dumps = database_contents(&db);
    let plain = b"smtp.example.co.jp";
    assert!(
        dumps
            .iter()
            .any(|b| b.windows(plain.len()).any(|w| w == plain)),
        "the contents searched hold the saved settings"
    );
    for bytes in &dumps {
        for secret in [PASSWORD, CLIENT_SECRET, ADMIN_PASSWORD, token.as_str()] {
            let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
            for needle in [secret.as_bytes(), hex.as_bytes()] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "the database holds a secret in clear"
                );
            }
        }
    }
    let logs = logs().text();
    assert!(logs.contains("settings saved"), "the logs were captured");
    for secret in [PASSWORD, CLIENT_SECRET, ADMIN_PASSWORD, token.as_str()] {
        assert!(!logs.contains(secret), "a log line holds a secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_work_for_rest_only_and_can_be_revoked() {
    let (_dir, db) = fresh_db();
    let app = TestApp::spawn(&db).await;
    // A token does not open the pages or server functions (those need a session + Origin).
    let res = app
        .anon
        .get(app.url(&format!("{BASE}/System/MailSetting")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app.put_settings(&valid_smtp()).await;
    assert_eq!(status, StatusCode::OK);
    let prefix = app.token.split('_').nth(1).unwrap().to_string();
    assert!(app.store.revoke_token(&prefix).await.unwrap());
    let res = app
        .anon
        .get(app.url(&format!("{BASE}/api/v1/mail-settings")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let log = app.store.audit_entries(50).await.unwrap();
    assert!(
        log.iter()
            .any(|(_, actor, action, fields)| actor == "token:tests"
                && action == "settings.save"
                && fields.contains("smtp.password")),
        "{log:?}"
    );
    app.stop().await;
}

/// The `server` binary's operator commands, run as a real process on a key file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_create_admin_and_token_and_rotate_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ops.db");
    let key_file = dir.path().join("keys/secret.key");
    let run = |args: &[&str], password: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.args(args)
            .env("DATABASE_URL", common::database_url(&db))
            .env("MAIL_SECRET_KEY_FILE", &key_file)
            .env_remove("MAIL_SECRET_KEY")
            .env("RUST_LOG", "warn");
        match password {
            Some(p) => cmd.env("ADMIN_PASSWORD", p),
            None => cmd.env_remove("ADMIN_PASSWORD"),
        };
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["admin", "create", "--user", "ops"], Some("short"));
    assert!(!ok, "a short password is refused");
    assert!(err.contains("12"), "{err}");
    let (ok, out, err) = run(
        &["admin", "create", "--user", "ops"],
        Some("a long enough passphrase"),
    );
    assert!(ok, "{err}");
    assert!(out.contains("Created administrator ops"), "{out}");
    let (ok, token, err) = run(&["token", "create", "--name", "nightly export"], None);
    assert!(ok, "{err}");
    let token = token.trim().to_string();
    assert!(token.starts_with("mst_"), "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    }

    // Store a secret through the server, then rotate the key and read it back.
    let mut config = test_config(&db);
    config.secret_key = server::secrets::KeySource::File(key_file.clone());
    config.admin = None;
    let app = TestApp::spawn_with_login(config.clone(), "ops", "a long enough passphrase").await;
    let res = app
        .anon
        .put(app.url(&format!("{BASE}/api/v1/mail-settings")))
        .bearer_auth(&token)
        .json(&valid_smtp())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.stop().await;
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    let (ok, out, err) = run(&["rotate-key"], None);
    assert!(ok, "{err}");
    assert!(out.contains("Re-encrypted 1 secret"), "{out}");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_key, new_key);
    assert!(!server::secrets::pending_path(&key_file).exists());

    let app = TestApp::spawn_with_login(config, "ops", "a long enough passphrase").await;
    let password = app.store.secret("smtp_password").await.unwrap().unwrap();
    assert_eq!(password.expose_secret(), PASSWORD);
    app.stop().await;
    // The old key alone no longer reads anything.
    let old_only = server::secrets::Keyring::from_key_text(old_key.trim()).unwrap();
    let store = server::store::Store::open(&common::database_url(&db), BASE, old_only)
        .await
        .unwrap();
    assert!(store.secret("smtp_password").await.is_err());
    store.close().await;
}

/// Behind a load balancer the browser may reach any process: the set-up link one process
/// printed works on another of the same database, once, and no link works after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_link_printed_by_one_process_works_on_another_once() {
    use common::server_process::ServerProcess;
    let (_dir, db) = fresh_db();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (first, link) = ServerProcess::start_with_setup_link(&db, free_port());
    first.ready(&http).await;
    let (second, second_link) = ServerProcess::start_with_setup_link(&db, free_port());
    second.ready(&http).await;
    let token_of = |link: &str| {
        url::Url::parse(link)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .expect("the link carries the token")
    };
    let (token, second_token) = (token_of(&link), token_of(&second_link));
    assert_ne!(token, second_token, "each process prints its own token");
    let set_up = |addr: String, token: String| {
        let http = http.clone();
        async move {
            let res = http
                .post(format!("{addr}{BASE}/System/Setup"))
                .header("origin", &addr)
                .form(&[
                    ("token", token.as_str()),
                    ("username", "admin"),
                    ("password", "a long pass phrase 1"),
                    ("confirm", "a long pass phrase 1"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
            res.headers()["location"].to_str().unwrap().to_string()
        }
    };
    // A made-up token is refused before anything else is looked at.
    assert!(
        set_up(second.addr.clone(), "not-the-token".into())
            .await
            .ends_with("error=setup_token_invalid")
    );
    // The first process's link, used on the second: the administrator is created.
    assert_eq!(
        set_up(second.addr.clone(), token.clone()).await,
        format!("{BASE}/System/MailSetting")
    );
    // Neither link works again, on either process: the page is gone and so are the tokens.
    for (addr, token) in [
        (&first.addr, &token),
        (&second.addr, &token),
        (&first.addr, &second_token),
    ] {
        assert_eq!(
            set_up(addr.clone(), token.clone()).await,
            format!("{BASE}/System/Login"),
            "a set-up link worked after the administrator existed"
        );
    }
    let keys = server::secrets::Keyring::from_key_text(common::KEY).unwrap();
    let store = server::store::Store::open(&common::database_url(&db), BASE, keys)
        .await
        .unwrap();
    for token in [&token, &second_token] {
        assert!(
            !server::service::accounts::setup_token_valid(&store, token)
                .await
                .unwrap(),
            "a used-up set-up token is still stored"
        );
    }
    store.close().await;
}

//! Connecting the OAuth accounts against a real OAuth 2.0 server (oauth2-mock-server behind the
//! providers' paths): PKCE, state, the callback, refresh rotation, concurrent refreshes, the
//! errors administrators meet, revocation — and no token or secret in any answer or log line.

use crate::common;

use common::fake_provider::FakeProvider;
use common::oauth_flow::*;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Nothing the provider issued, and no client secret, in any answer or log line.
async fn assert_nothing_leaked(app: &TestApp, fake: &FakeProvider, bodies: &[String]) {
    let tokens = fake.issued_tokens().await;
    assert!(!tokens.is_empty(), "the fake issued tokens");
    let logs = app.logs.text();
    for t in tokens.iter().map(String::as_str).chain([CLIENT_SECRET]) {
        assert!(!logs.contains(t), "a token or secret reached the log");
        for b in bodies {
            assert!(!b.contains(t), "a token or secret reached an answer");
        }
    }
    // The page itself.
    let page = app
        .client
        .get(app.url("/ConMasManager/System/MailSetting?tab=microsoft"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for t in tokens.iter().map(String::as_str).chain([CLIENT_SECRET]) {
        assert!(!page.contains(t), "a token or secret reached the page");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_connects_with_pkce_and_a_single_use_state() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    fake.control(json!({"clientSecret": CLIENT_SECRET})).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;

    let (status, url) = connect_url(&app, &app.client).await;
    assert_eq!(status, StatusCode::OK);
    let url = url.as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/{TENANT}/oauth2/v2.0/authorize?", fake.base)),
        "{url}"
    );
    let q = query_of(&url);
    let redirect_uri = format!("{}/System/MailOAuthMicrosoft", root(&app));
    assert_eq!(q["redirect_uri"], redirect_uri, "the URI the page shows");
    assert_eq!(q["client_id"], MS_CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "SHA-256, base64url");
    assert!(q["state"].len() >= 16);
    assert_eq!(q["scope"], "offline_access openid Mail.Send User.Read");
    assert_eq!(
        q["login_hint"], "notice@contoso.example",
        "the SMTP sender is suggested"
    );

    let (accept, _) = fake.consent_links(&url).await;
    let callback = fake.approve(&accept).await;
    assert!(callback.starts_with(&redirect_uri), "{callback}");
    let to = follow_callback(&app, &app.client, &callback).await;
    assert_eq!(outcome(&to), "connected");
    assert!(to.contains("tab=microsoft"));

    // The exchange sent the verifier and exactly the same redirect URI.
    let stats = fake.stats().await;
    let exchange = &stats["token"][0];
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert_eq!(exchange["has_code_verifier"], true);
    assert_eq!(exchange["redirect_uri"], redirect_uri.as_str());
    assert_eq!(exchange["path"], format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(stats["me"], 1, "the account comes from Graph /me");

    let s = oauth_status(&app).await;
    assert_eq!(s["provider"], "microsoft");
    assert_eq!(s["account"], "notice@contoso.example");
    assert_eq!(s["display_name"], "Notice Sender");
    assert_eq!(s["connected_by"], ADMIN);
    assert!(s["problem"].is_null(), "{s}");
    let scopes: Vec<&str> = s["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"Mail.Send") && scopes.contains(&"User.Read"));

    // The same answer again: the state was used up, nothing changes.
    let again = follow_callback(&app, &app.client, &callback).await;
    assert_eq!(outcome(&again), "state_invalid");
    assert_eq!(fake.stats().await["token"].as_array().unwrap().len(), 1);
    assert_eq!(
        oauth_status(&app).await["account"],
        "notice@contoso.example"
    );

    // The refresh token is stored sealed, and nowhere in clear.
    let stored = app
        .store
        .secret("oauth_refresh_token")
        .await
        .unwrap()
        .unwrap();
    let issued = fake.stats().await["issuedRefresh"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&stored), issued);

    let audit = app.store.audit_entries(10).await.unwrap();
    assert!(audit.iter().any(|(_, actor, action, detail)| actor == ADMIN
        && action == "oauth.connected"
        && detail == "microsoft: notice@contoso.example"));
    let mut bodies = vec![url, callback, to, again, s.to_string()];
    bodies.push(
        app.client
            .post(app.url("/api/mail_settings/get"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_nothing_leaked(&app, &fake, &bodies).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_refresh_tokens_replace_the_old_one_and_concurrent_refreshes_collapse() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");

    // Each check is a real refresh; the fake accepts each refresh token once (strict
    // rotation), so a second check only works if the first one's new token was stored.
    let mut bodies = Vec::new();
    for round in 1..=2 {
        let (code, body) = check(&app).await;
        assert_eq!(code, StatusCode::OK, "round {round}: {body}");
        assert_eq!(body["code"], "token_ok");
        assert!(!body["status"]["last_refresh_at"].is_null());
        bodies.push(body.to_string());
    }
    let stats = fake.stats().await;
    let refreshes: Vec<&Value> = stats["token"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[0]["refresh_token"], stats["issuedRefresh"][0]);
    assert_eq!(refreshes[1]["refresh_token"], stats["issuedRefresh"][1]);
    assert_eq!(
        refreshes[0]["scope"], "offline_access openid Mail.Send User.Read",
        "Microsoft refreshes name the scopes"
    );

    // Five callers at once while a refresh takes a while: one refresh serves them all.
    fake.control(json!({"refreshDelayMs": 700})).await;
    let (a, b, c, d, e) = tokio::join!(
        check(&app),
        check(&app),
        check(&app),
        check(&app),
        check(&app)
    );
    for (code, body) in [a, b, c, d, e] {
        assert_eq!(code, StatusCode::OK, "{body}");
        bodies.push(body.to_string());
    }
    let after = fake.stats().await;
    let count = after["token"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["grant_type"] == "refresh_token")
        .count();
    assert_eq!(count, 3, "the five concurrent checks made one refresh");
    assert!(
        app.logs.text().contains("OAuth token refreshed"),
        "the logs searched below are really captured"
    );

    // A revoked or expired refresh token: "reconnect needed", with the provider's code.
    fake.token_errors(json!([{"status": 400, "body": {
        "error": "invalid_grant",
        "error_description": "AADSTS700082: The refresh token has expired due to inactivity.",
        "error_codes": [700082]
    }}]))
    .await;
    let (code, body) = check(&app).await;
    assert_eq!(code, StatusCode::BAD_GATEWAY);
    assert_eq!(body["code"], "reconnect_needed");
    assert_eq!(body["detail"], "invalid_grant AADSTS700082");
    assert_eq!(body["status"]["problem"]["code"], "reconnect_needed");
    assert!(body["message"].as_str().unwrap().len() > 20);
    let s = oauth_status(&app).await;
    assert_eq!(
        s["problem"]["code"], "reconnect_needed",
        "the page shows it"
    );
    bodies.push(body.to_string());
    assert_nothing_leaked(&app, &fake, &bodies).await;
    app.stop().await;
}

/// Two servers on one database (as two processes: each has its own store and lock) refresh a
/// strictly rotating token: concurrent checks on both make one refresh, and afterwards each
/// server refreshes with the token the other stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_spend_a_rotating_refresh_token_once() {
    let fake = FakeProvider::start().await;
    let (_dir, db) = fresh_db();
    let mut config = test_config(&db);
    config.providers = fake.endpoints();
    let a = TestApp::spawn_with(config.clone()).await;
    save_oauth(&a, "microsoft", CLIENT_SECRET).await;
    assert_eq!(outcome(&connect_through(&a, &fake).await.0), "connected");
    let b = TestApp::spawn_with(config).await;
    assert_ne!(a.store.instance(), b.store.instance());
    // The second server's start revoked the first one's test token: one token for both.
    let token = b.token.clone();
    let check_on = |app: &TestApp| {
        let request = app
            .anon
            .post(app.url("/ConMasManager/api/v1/oauth/check"))
            .bearer_auth(&token);
        async move {
            let res = request.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let refreshes = || async {
        fake.stats().await["token"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["grant_type"] == "refresh_token")
            .count()
    };
    let before = refreshes().await;
    fake.control(json!({"refreshDelayMs": 700})).await;
    let (r1, r2, r3, r4) = tokio::join!(check_on(&a), check_on(&b), check_on(&a), check_on(&b));
    for (code, body) in [r1, r2, r3, r4] {
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["code"], "token_ok");
    }
    assert_eq!(
        refreshes().await - before,
        1,
        "four checks on two servers at once made one refresh"
    );
    // Strict rotation: each refresh token is accepted once, so these only pass when each
    // server uses the token the other one stored.
    fake.control(json!({"refreshDelayMs": 0})).await;
    for app in [&b, &a, &b] {
        let (code, body) = check_on(app).await;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    assert_eq!(refreshes().await - before, 4);
    let stats = fake.stats().await;
    let used: Vec<&Value> = stats["token"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["grant_type"] == "refresh_token")
        .map(|t| &t["refresh_token"])
        .collect();
    let unique: std::collections::HashSet<String> = used.iter().map(|t| t.to_string()).collect();
    assert_eq!(unique.len(), used.len(), "no refresh token was spent twice");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_missing_and_foreign_states_are_refused_and_store_nothing() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;
    let callback = format!("{}/System/MailOAuthMicrosoft", root(&app));

    // No connect attempt at all.
    let to = follow_callback(&app, &app.client, &format!("{callback}?code=abc&state=xyz")).await;
    assert_eq!(outcome(&to), "state_invalid");

    // An attempt under way, but a forged state; then the real one is gone too (single use).
    let (_, url) = connect_url(&app, &app.client).await;
    let (accept, _) = fake.consent_links(url.as_str().unwrap()).await;
    let real = fake.approve(&accept).await;
    let forged = real.replace(&query_of(&real)["state"], "forged-state-value");
    assert_eq!(
        outcome(&follow_callback(&app, &app.client, &forged).await),
        "state_invalid"
    );
    assert_eq!(
        outcome(&follow_callback(&app, &app.client, &real).await),
        "state_invalid"
    );

    // No state parameter.
    let (_, url) = connect_url(&app, &app.client).await;
    let (accept, _) = fake.consent_links(url.as_str().unwrap()).await;
    let real = fake.approve(&accept).await;
    let code = query_of(&real)["code"].clone();
    let no_state = format!("{callback}?code={code}");
    assert_eq!(
        outcome(&follow_callback(&app, &app.client, &no_state).await),
        "state_invalid"
    );

    // Another administrator's session cannot finish this one's attempt.
    let other = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(STEP)
        .build()
        .unwrap();
    assert_eq!(
        app.login(&other, ADMIN, ADMIN_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, url) = connect_url(&app, &app.client).await;
    let (accept, _) = fake.consent_links(url.as_str().unwrap()).await;
    let real = fake.approve(&accept).await;
    assert_eq!(
        outcome(&follow_callback(&app, &other, &real).await),
        "state_invalid"
    );

    // The callback needs a signed-in administrator at all.
    let res = app.anon.get(&real).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/System/Login")
    );

    // Nothing was exchanged or stored.
    let stats = fake.stats().await;
    assert_eq!(stats["token"].as_array().unwrap().len(), 0, "{stats}");
    assert!(oauth_status(&app).await["account"].is_null());
    assert!(
        app.store
            .secret("oauth_refresh_token")
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_errors_become_what_to_do() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;

    // Token endpoint answers, shapes as Microsoft documents them (error + error_codes).
    let ms = |status: u16, error: &str, code: u64, text: &str| {
        json!({"status": status, "body": {
            "error": error,
            "error_description": format!("AADSTS{code}: {text}"),
            "error_codes": [code],
            "timestamp": "2026-11-27 05:12:00Z",
            "trace_id": "0000", "correlation_id": "0000"
        }})
    };
    for (answer, expected) in [
        (
            ms(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided.",
            ),
            "wrong_secret",
        ),
        (
            ms(
                401,
                "invalid_client",
                7000222,
                "The provided client secret keys are expired.",
            ),
            "secret_expired",
        ),
        (
            ms(
                400,
                "unauthorized_client",
                700016,
                "Application not found in the directory.",
            ),
            "client_not_found",
        ),
        (
            ms(400, "invalid_request", 90002, "Tenant not found."),
            "tenant_not_found",
        ),
        (
            ms(
                400,
                "invalid_grant",
                65001,
                "The user or administrator has not consented.",
            ),
            "consent_missing",
        ),
        (
            ms(
                400,
                "invalid_request",
                50011,
                "The redirect URI does not match.",
            ),
            "redirect_uri_mismatch",
        ),
    ] {
        fake.token_errors(json!([answer])).await;
        let (to, _) = connect_through(&app, &fake).await;
        assert_eq!(outcome(&to), expected, "{answer}");
        assert!(
            oauth_status(&app).await["account"].is_null(),
            "nothing stored for {expected}"
        );
    }

    // Consent declined on the provider's page.
    let (_, url) = connect_url(&app, &app.client).await;
    let (_, deny) = fake.consent_links(url.as_str().unwrap()).await;
    assert_eq!(
        outcome(&follow_callback(&app, &app.client, &deny).await),
        "denied"
    );

    // The wrong secret, as the fake's own check finds it.
    fake.control(json!({"clientSecret": "the-real-one"})).await;
    assert_eq!(
        outcome(&connect_through(&app, &fake).await.0),
        "wrong_secret"
    );
    fake.control(json!({"clientSecret": null})).await;

    // Mail.Send unticked: connected, but the gap is reported at once.
    fake.control(json!({"dropScopes": ["Mail.Send"]})).await;
    assert_eq!(
        outcome(&connect_through(&app, &fake).await.0),
        "scope_missing"
    );
    let s = oauth_status(&app).await;
    assert_eq!(s["problem"]["code"], "scope_missing");
    assert_eq!(s["problem"]["detail"], "Mail.Send");
    fake.control(json!({"dropScopes": []})).await;

    // Graph /me refused: the account cannot be named.
    fake.control(json!({"meStatus": 403})).await;
    let (to, _) = connect_through(&app, &fake).await;
    assert_eq!(outcome(&to), "account_unreadable");
    fake.control(json!({"meStatus": 200})).await;

    // Connected, then the provider goes away: "unreachable", not a hang.
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");
    let audit = app.store.audit_entries(50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|(_, _, action, detail)| action == "oauth.connect_failed"
                && detail == "wrong_secret: invalid_client AADSTS7000215")
    );
    assert_nothing_leaked(&app, &fake, &[]).await;
    drop(fake);
    let (code, body) = check(&app).await;
    assert_eq!(code, StatusCode::BAD_GATEWAY);
    assert_eq!(body["code"], "unreachable", "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_connects_as_the_consenting_account_and_disconnect_revokes() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    fake.control(json!({"idClaims": {"email": "sender@gmail.example", "email_verified": true}}))
        .await;
    save_oauth(&app, "google", CLIENT_SECRET).await;

    let (status_code, url) = connect_url(&app, &app.client).await;
    assert_eq!(status_code, StatusCode::OK);
    let url = url.as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/o/oauth2/v2/auth?", fake.base)));
    let q = query_of(&url);
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(
        q["scope"],
        "openid email https://www.googleapis.com/auth/gmail.send"
    );
    assert_eq!(
        q["redirect_uri"],
        format!("{}/System/MailOAuthGoogle", root(&app))
    );
    // A Microsoft callback cannot finish a Google attempt (mix-up defence).
    let (accept, _) = fake.consent_links(&url).await;
    let callback = fake.approve(&accept).await;
    let mixed = callback.replace("MailOAuthGoogle", "MailOAuthMicrosoft");
    assert_eq!(
        outcome(&follow_callback(&app, &app.client, &mixed).await),
        "state_invalid"
    );

    let (to, _) = connect_through(&app, &fake).await;
    assert_eq!(outcome(&to), "connected");
    assert!(to.contains("tab=google"));
    let s = oauth_status(&app).await;
    assert_eq!(
        s["account"], "sender@gmail.example",
        "the consenting account sends"
    );
    assert_eq!(s["provider"], "google");

    // Disconnect revokes the refresh token at Google and forgets both tokens.
    let refresh = fake.stats().await["issuedRefresh"][0]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .anon
        .post(app.url("/ConMasManager/api/v1/oauth/disconnect"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "disconnected");
    assert!(body["status"]["account"].is_null());
    assert_eq!(fake.stats().await["revoked"][0], refresh.as_str());
    assert!(
        app.store
            .secret("oauth_refresh_token")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.store
            .secret("oauth_access_token")
            .await
            .unwrap()
            .is_none()
    );

    // Connect again, then new credentials: the old tokens go.
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");
    save_oauth(&app, "google", "another-client-secret").await;
    assert!(
        oauth_status(&app).await["account"].is_null(),
        "credentials changed"
    );
    let audit = app.store.audit_entries(20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|(_, _, action, detail)| action == "oauth.disconnected"
                && detail == "credentials changed")
    );
    assert_nothing_leaked(&app, &fake, &[body.to_string()]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_needs_complete_saved_settings() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    let (status_code, body) = connect_url(&app, &app.client).await;
    assert_eq!(status_code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["Oauth"]["code"], "settings_incomplete", "{body}");
    let (code, body) = check(&app).await;
    assert_eq!(code, StatusCode::BAD_GATEWAY);
    assert_eq!(body["code"], "not_connected");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_secret_expiry_warns_thirty_days_ahead() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    let day = |offset: i64| {
        let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(offset);
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    for offset in [45, 30, 10, -3] {
        let current = app.get_settings().await;
        let (code, body) = app
            .put_settings(&json!({
                "auth": "oauth",
                "oauth": {"provider": "microsoft", "client_id": MS_CLIENT_ID, "client_secret": CLIENT_SECRET,
                          "tenant_id": TENANT, "client_secret_expires_on": day(offset)},
                "manager_root": root(&app),
                "version": current["version"],
            }))
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["oauth"]["client_secret_expires_on"], day(offset));
        let s: app::domain::OauthStatus = serde_json::from_value(oauth_status(&app).await).unwrap();
        assert_eq!(s.secret_expires_in_days, Some(offset));
        assert_eq!(s.secret_expiry_warning(), offset <= 30, "{offset} days");
    }
    // Not a date: refused with the field named, nothing stored.
    let current = app.get_settings().await;
    let (code, body) = app
        .put_settings(&json!({
            "auth": "oauth",
            "oauth": {"provider": "microsoft", "client_id": MS_CLIENT_ID, "tenant_id": TENANT,
                      "client_secret_expires_on": "2027/05/31"},
            "manager_root": root(&app),
            "version": current["version"],
        }))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_codes(&body),
        vec![(
            "oauth.client_secret_expires_on".to_string(),
            "date_invalid".to_string()
        )]
    );
    assert_eq!(app.get_settings().await["version"], current["version"]);
    app.stop().await;
}

/// A reconnect while a refresh is under way: the refresh ends after the reconnect, and before
/// it would have overwritten the new connection's tokens with its own. The new ones stand, and
/// the next refresh uses the reconnect's refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_during_a_refresh_is_not_overwritten() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");
    let first = app.store.connection().await.unwrap().unwrap();

    fake.control(json!({"refreshDelayMs": 1500})).await;
    let slow_check = {
        let url = app.url("/ConMasManager/api/v1/oauth/check");
        let (anon, token) = (app.anon.clone(), app.token.clone());
        tokio::spawn(async move {
            anon.post(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    // The refresh has reached the provider (its token is spent) when the reconnect starts.
    for _ in 0..50 {
        let stats = fake.stats().await;
        let refreshing = stats["token"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["grant_type"] == "refresh_token");
        if refreshing {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(outcome(&connect_through(&app, &fake).await.0), "connected");
    let reconnected = app.store.connection().await.unwrap().unwrap();
    assert_ne!(reconnected.generation, first.generation);
    let reconnect_refresh = app
        .store
        .secret("oauth_refresh_token")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(slow_check.await.unwrap(), StatusCode::OK);

    // The refresh that ended last did not replace the reconnect's tokens or row.
    let after = app.store.connection().await.unwrap().unwrap();
    assert_eq!(after.generation, reconnected.generation);
    assert_eq!(after.connected_at, reconnected.connected_at);
    let stored = app
        .store
        .secret("oauth_refresh_token")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&stored),
        secrecy::ExposeSecret::expose_secret(&reconnect_refresh),
        "the reconnect's refresh token stands"
    );
    assert!(app.logs.text().contains("changed during a refresh"));

    // And it works: the fake accepts each refresh token once, so this refresh succeeds only
    // with the reconnect's token.
    fake.control(json!({"refreshDelayMs": 0})).await;
    let (code, body) = check(&app).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_consent_link_is_offered_and_its_answer_reported() {
    let fake = FakeProvider::start().await;
    let (_dir, app) = spawn(&fake).await;
    save_oauth(&app, "microsoft", CLIENT_SECRET).await;
    let settings = app.get_settings().await;
    let status = oauth_status(&app).await;
    let link = url::Url::parse(status["admin_consent_url"].as_str().unwrap()).unwrap();
    // On the configured authority (here the fake; a national cloud's host likewise), for the
    // saved tenant and app, back to the registered redirect URI.
    let tenant = settings["oauth"]["tenant_id"].as_str().unwrap();
    assert_eq!(
        link.as_str().split('?').next().unwrap(),
        format!("{}/{tenant}/adminconsent", fake.base)
    );
    let q: HashMap<String, String> = link.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], settings["oauth"]["client_id"]);
    assert_eq!(
        q["redirect_uri"],
        format!("{}/System/MailOAuthMicrosoft", root(&app))
    );
    assert_eq!(q["state"], "admin_consent");
    assert_eq!(q.len(), 3, "nothing else, no secret: {link}");

    // The administrator granted it: reported, audited, nothing exchanged.
    let callback = format!("{}/System/MailOAuthMicrosoft", root(&app));
    let granted = format!("{callback}?admin_consent=True&tenant={tenant}&state=admin_consent");
    let to = follow_callback(&app, &app.client, &granted).await;
    assert_eq!(outcome(&to), "admin_consent_granted");
    // Declined: the reason as for any refusal.
    let declined = format!(
        "{callback}?error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent&state=admin_consent"
    );
    assert_eq!(
        outcome(&follow_callback(&app, &app.client, &declined).await),
        "denied"
    );
    let audit = app.store.audit_entries(20).await.unwrap();
    let answers: Vec<&str> = audit
        .iter()
        .filter(|(_, _, action, _)| action == "oauth.admin_consent")
        .map(|(_, _, _, detail)| detail.as_str())
        .collect();
    assert_eq!(answers, ["denied", "admin_consent_granted"]);
    let stats = fake.stats().await;
    assert_eq!(stats["token"].as_array().unwrap().len(), 0, "{stats}");

    // Google has no such link.
    save_oauth(&app, "google", CLIENT_SECRET).await;
    assert!(oauth_status(&app).await["admin_consent_url"].is_null());
    app.stop().await;
}

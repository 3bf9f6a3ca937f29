//! The browser's way through the OAuth connect flow, for the tests.

use super::fake_provider::FakeProvider;
use super::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const MS_CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const GOOGLE_CLIENT_ID: &str = "1234567890-abc.apps.googleusercontent.com";

pub async fn spawn(fake: &FakeProvider) -> (tempfile::TempDir, TestApp) {
    let (dir, db) = fresh_db();
    let mut config = test_config(&db);
    config.providers = fake.endpoints();
    (dir, TestApp::spawn_with(config).await)
}

pub fn root(app: &TestApp) -> String {
    format!("http://{}/ConMasManager", app.addr)
}

pub async fn save_oauth(app: &TestApp, provider: &str, secret: &str) {
    let (client_id, tenant) = match provider {
        "microsoft" => (MS_CLIENT_ID, TENANT),
        _ => (GOOGLE_CLIENT_ID, ""),
    };
    let current = app.get_settings().await;
    let (status, body) = app
        .put_settings(&json!({
            "auth": "oauth",
            "smtp": {"server": "smtp.office365.com", "port": 587, "user": "notice@contoso.example", "ssl": true},
            "oauth": {"provider": provider, "client_id": client_id, "client_secret": secret, "tenant_id": tenant},
            "manager_root": root(app),
            "version": current["version"],
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The server function the page calls: the consent URL.
pub async fn connect_url(app: &TestApp, client: &reqwest::Client) -> (StatusCode, Value) {
    let res = client
        .post(app.url("/api/mail_settings/oauth_connect"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

/// The browser's way through: connect, consent page, accept, callback. Returns the page the
/// callback sends the browser to, and the callback URL (to replay it).
pub async fn connect_through(app: &TestApp, fake: &FakeProvider) -> (String, String) {
    let (status, url) = connect_url(app, &app.client).await;
    assert_eq!(status, StatusCode::OK, "{url}");
    let (accept, _) = fake.consent_links(url.as_str().unwrap()).await;
    let callback = fake.approve(&accept).await;
    (follow_callback(app, &app.client, &callback).await, callback)
}

pub async fn follow_callback(app: &TestApp, client: &reqwest::Client, callback: &str) -> String {
    let res = client.get(callback).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "callback for {callback}"
    );
    let to = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to.starts_with("/ConMasManager/System/MailSetting?tab="),
        "{to}"
    );
    let _ = app;
    to
}

pub fn outcome(location: &str) -> String {
    location
        .split("oauth=")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// `GET {base}/api/v1/oauth` with the API token: the connection as the page shows it.
pub async fn oauth_status(app: &TestApp) -> Value {
    let res = app
        .anon
        .get(app.url("/ConMasManager/api/v1/oauth"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// `POST {base}/api/v1/oauth/check` with the API token ("Check token").
pub async fn check(app: &TestApp) -> (StatusCode, Value) {
    let res = app
        .anon
        .post(app.url("/ConMasManager/api/v1/oauth/check"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

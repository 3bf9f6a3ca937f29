//! The local stand-in for Microsoft's and Google's endpoints (`end2end/fakes/provider.mjs`,
//! around the npm package oauth2-mock-server), one process per test, stopped on drop.

use serde_json::{Value, json};
use server::config::ProviderEndpoints;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct FakeProvider {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl FakeProvider {
    pub async fn start() -> FakeProvider {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let script = format!("{root}/end2end/fakes/provider.mjs");
        assert!(
            std::path::Path::new(&format!("{root}/end2end/node_modules/oauth2-mock-server"))
                .exists(),
            "the fake provider needs the npm packages: run scripts/setup.sh (or make test)"
        );
        let mut child = Command::new("node")
            .arg(&script)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts the fake provider");
        let stdout = child.stdout.take().unwrap();
        let port = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix("PORT=")
                .expect("the fake provider prints its port")
                .parse::<u16>()
                .unwrap()
        });
        let port = tokio::time::timeout(super::STEP, port)
            .await
            .expect("the fake provider starts in time")
            .unwrap();
        FakeProvider {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(super::STEP)
                .build()
                .unwrap(),
        }
    }

    /// Every provider address pointed at this fake.
    pub fn endpoints(&self) -> ProviderEndpoints {
        ProviderEndpoints {
            microsoft_authority: self.base.clone(),
            microsoft_graph: self.base.clone(),
            google_auth: format!("{}/o/oauth2/v2/auth", self.base),
            google_token: format!("{}/token", self.base),
            google_revoke: format!("{}/revoke", self.base),
            google_userinfo: format!("{}/v1/userinfo", self.base),
            gmail_api: self.base.clone(),
            system_proxy: false,
        }
    }

    pub async fn control(&self, value: Value) {
        let res = self
            .http
            .post(format!("{}/_control", self.base))
            .json(&value)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }

    /// Queues the answers of the next token requests (documented error shapes).
    pub async fn token_errors(&self, answers: Value) {
        self.control(json!({ "tokenErrors": answers })).await;
    }

    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The consent page's links: (accept, deny).
    pub async fn consent_links(&self, authorize_url: &str) -> (String, String) {
        let page = self
            .http
            .get(authorize_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let link = |id: &str| {
            let start = page
                .find(&format!("id=\"{id}\" href=\""))
                .unwrap_or_else(|| panic!("consent page has #{id}: {page}"))
                + id.len()
                + 12;
            let end = start + page[start..].find('"').unwrap();
            page[start..end].replace("&amp;", "&")
        };
        (link("consent-accept"), link("consent-deny"))
    }

    /// Follows the mock's authorize redirect: the URL the browser would go to next.
    pub async fn approve(&self, accept_url: &str) -> String {
        let res = self.http.get(accept_url).send().await.unwrap();
        assert!(res.status().is_redirection(), "authorize redirects");
        res.headers()["location"].to_str().unwrap().to_string()
    }

    /// Every token the fake issued (to search responses and logs for them).
    pub async fn issued_tokens(&self) -> Vec<String> {
        let stats = self.stats().await;
        let mut all = Vec::new();
        for key in ["issuedAccess", "issuedRefresh"] {
            for t in stats[key].as_array().unwrap() {
                all.push(t.as_str().unwrap().to_string());
            }
        }
        all
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

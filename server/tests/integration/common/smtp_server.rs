//! A real SMTP server process for the tests: `end2end/fakes/smtp_server.py` on Debian's
//! python3-aiosmtpd, with AUTH, STARTTLS on a throwaway certificate and settable replies.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const SMTP_USER: &str = "notice@example.co.jp";
pub const SMTP_PASSWORD: &str = "smtp-Pa55word-never-shown";

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    control: String,
    /// The server's certificate (PEM), to trust through SMTP_CA_FILE.
    pub cert: std::path::PathBuf,
    http: reqwest::Client,
}

impl SmtpServer {
    /// `args`: `--starttls`, `--auth USER:PASSWORD`, `--cert-san dns:NAME`.
    pub async fn start(args: &[&str]) -> SmtpServer {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../end2end/fakes/smtp_server.py"
        );
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts the SMTP server (Debian packages python3-aiosmtpd, python3-openssl: scripts/setup.sh)");
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        });
        let line = tokio::time::timeout(super::STEP, line)
            .await
            .expect("the SMTP server starts in time")
            .unwrap();
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("the SMTP server prints {name}: {line}"))
                .to_string()
        };
        SmtpServer {
            port: field("SMTP_PORT").parse().unwrap(),
            control: format!("http://127.0.0.1:{}", field("CONTROL_PORT")),
            cert: field("CERT").into(),
            child,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(super::STEP)
                .build()
                .unwrap(),
        }
    }

    /// What arrived: `[{mail_from, rcpt_tos, data, tls, auth_user}]`.
    pub async fn messages(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/messages", self.control))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The server's counters: `{connections, peak_data}`.
    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/stats", self.control))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The most messages the server was receiving at once.
    pub async fn peak_concurrent_messages(&self) -> u64 {
        self.stats().await["peak_data"].as_u64().unwrap()
    }

    /// How many connections the server saw.
    pub async fn connections(&self) -> u64 {
        self.stats().await["connections"].as_u64().unwrap()
    }

    /// Replies sent instead of success: `{"AUTH": "535 5.7.139 …", "RCPT": …}`.
    pub async fn replies(&self, replies: Value) {
        let res = self
            .http
            .post(format!("{}/control", self.control))
            .json(&serde_json::json!({ "replies": replies }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Stops the process (the port is free again).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

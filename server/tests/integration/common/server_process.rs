//! The server binary as its own process: to kill it for real, or to measure it alone.

use super::KEY;
use std::time::Duration;

pub struct ServerProcess {
    child: std::process::Child,
    pub addr: String,
}

impl ServerProcess {
    pub fn start(db: &std::path::Path, port: u16) -> ServerProcess {
        Self::start_with(db, port, &[])
    }

    /// With extra environment variables (`ADMIN_PASSWORD`, limits …).
    pub fn start_with(db: &std::path::Path, port: u16, env: &[(&str, &str)]) -> ServerProcess {
        Self::spawn(db, port, env, std::process::Stdio::null())
    }

    /// On a database without an administrator: also returns the one-time set-up link the
    /// process prints on its standard output.
    pub fn start_with_setup_link(db: &std::path::Path, port: u16) -> (ServerProcess, String) {
        use std::io::BufRead as _;
        let mut server = Self::spawn(db, port, &[], std::process::Stdio::piped());
        let stdout = server.child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads to the end, so that the process never writes into a closed pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("?token=") {
                    let _ = tx.send(line.trim().to_string());
                }
            }
        });
        let link = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the process prints a set-up link");
        (server, link)
    }

    fn spawn(
        db: &std::path::Path,
        port: u16,
        env: &[(&str, &str)],
        stdout: std::process::Stdio,
    ) -> ServerProcess {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .env("DATABASE_URL", super::database_url(db))
            .env("MAIL_SECRET_KEY", KEY)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("SERVER_IP", "192.0.2.10")
            .env("RUST_LOG", "warn")
            .env("NO_PROXY", "127.0.0.1")
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        ServerProcess {
            child,
            addr: format!("http://127.0.0.1:{port}"),
        }
    }

    pub async fn ready(&self, http: &reqwest::Client) {
        for _ in 0..200 {
            if let Ok(r) = http
                .get(format!("{}/ConMasManager/health", self.addr))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server process did not start");
    }

    /// The process's resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Stops it with SIGTERM (a clean shutdown) and waits for it.
    pub fn terminate(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Stops it with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

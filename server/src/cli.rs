//! The `server` command line: serve (default), and the operator's sub-commands.

use crate::config::Config;
use crate::secrets::{KeySource, Keyring, generate_key_text, pending_path, write_key_file};
use crate::store::Store;
use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

#[derive(Parser, Debug)]
#[command(
    name = "server",
    version,
    about = "Mail settings console and delivery service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web console (the default).
    Serve,
    /// Administrator accounts.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// API tokens for scripts (`Authorization: Bearer …` on the REST API).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Encrypt every stored secret under a new key, then switch to it.
    ///
    /// With a key file: a new key is written to `<file>.new`, the secrets are re-encrypted in one
    /// transaction, and the new file replaces the old one (run again if interrupted).
    /// With MAIL_SECRET_KEY: give the new key in MAIL_SECRET_KEY_NEW; afterwards set
    /// MAIL_SECRET_KEY to it.
    RotateKey,
    /// Send a test mail with the saved settings and print every step (exit status 1 when a
    /// step failed).
    SendTest {
        /// Recipient; the sender itself when omitted.
        #[arg(long)]
        to: Option<String>,
        /// Through the saved backup connection instead of the main one.
        #[arg(long)]
        backup: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Create an administrator, or set a new password for an existing one. The password is read
    /// from ADMIN_PASSWORD or, when unset, from the first line of standard input.
    Create {
        #[arg(long, default_value = "admin")]
        user: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Create a token; it is printed once and only its hash is kept.
    Create {
        /// A name unique among the live tokens (it appears in the audit log and the outbox).
        #[arg(long)]
        name: String,
        /// `admin`: settings, test mails, OAuth and submissions; `notify`: submissions only.
        #[arg(long, value_enum, default_value_t = ScopeArg::Admin)]
        scope: ScopeArg,
        /// Days until the token stops working (1 to 3650); without it the token does not expire.
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List the tokens: id, name, scope, expiry, last use, revocation (never the token).
    List,
    /// Revoke a token by its id (the part after `mst_`, before the next `_`).
    Revoke { id: String },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ScopeArg {
    Admin,
    Notify,
}

impl From<ScopeArg> for crate::store::TokenScope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Admin => crate::store::TokenScope::Admin,
            ScopeArg::Notify => crate::store::TokenScope::Notify,
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let keys = Keyring::load(&config.secret_key)?;
    Store::open(&config.database_url, &config.base_path, keys).await
}

fn read_password() -> anyhow::Result<SecretString> {
    if let Ok(p) = std::env::var("ADMIN_PASSWORD")
        && !p.is_empty()
    {
        return Ok(SecretString::from(p));
    }
    eprintln!("Password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("Failed to read the password from standard input")?;
    let line = SecretString::from(line.trim_end_matches(['\r', '\n']).to_string());
    Ok(line)
}

/// Runs one operator sub-command.
pub async fn run(config: Config, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => crate::startup::run(config).await,
        Command::Admin {
            action: AdminAction::Create { user },
        } => {
            let user = user.trim().to_string();
            let password = read_password()?;
            crate::service::accounts::check_new_admin(&user, &password, "--user", "the password")?;
            let store = open_store(&config).await?;
            let hash = crate::service::accounts::hash_password(&password)?;
            let created = store.upsert_admin(&user, &hash, false).await?;
            let action = if created == Some(true) {
                "admin_created"
            } else {
                "admin_password_set"
            };
            store.audit("cli", action, &user).await?;
            store.close().await;
            println!(
                "{} administrator {user}.",
                if created == Some(true) {
                    "Created"
                } else {
                    "Set a new password for"
                }
            );
            Ok(())
        }
        Command::Token {
            action:
                TokenAction::Create {
                    name,
                    scope,
                    expires_days,
                },
        } => {
            let store = open_store(&config).await?;
            let token = crate::service::accounts::create_api_token(
                &store,
                &name,
                scope.into(),
                expires_days,
                "cli",
            )
            .await;
            store.close().await;
            let token = token?;
            eprintln!(
                "API token \"{}\" (scope {}{}) created. It is shown only now; store it safely:",
                name.trim(),
                crate::store::TokenScope::from(scope).as_str(),
                expires_days.map_or_else(String::new, |d| format!(", expires in {d} days")),
            );
            println!("{}", token.expose_secret());
            Ok(())
        }
        Command::Token {
            action: TokenAction::List,
        } => {
            let store = open_store(&config).await?;
            let tokens = store.tokens().await;
            store.close().await;
            print!("{}", token_table(&tokens?));
            Ok(())
        }
        Command::Token {
            action: TokenAction::Revoke { id },
        } => {
            let store = open_store(&config).await?;
            let done = store.revoke_token(id.trim()).await?;
            if done {
                store.audit("cli", "token_revoked", id.trim()).await?;
            }
            store.close().await;
            if !done {
                bail!("no live token has the id {id}");
            }
            println!("Revoked token {id}.");
            Ok(())
        }
        Command::RotateKey => rotate_key(&config).await,
        Command::SendTest { to, backup } => send_test(&config, to, backup).await,
    }
}

/// The `token list` table, one token a line; never the token or its hash.
fn token_table(tokens: &[crate::store::TokenListing]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("ID\tNAME\tSCOPE\tCREATED\tEXPIRES\tLAST USED\tSTATE\n");
    for t in tokens {
        let state = match &t.revoked_at {
            Some(at) => format!("revoked {at}"),
            None => "live".into(),
        };
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{} by {}\t{}\t{}\t{}",
            t.id,
            t.name,
            t.scope,
            t.created_at,
            t.created_by,
            t.expires_at.as_deref().unwrap_or("never"),
            t.last_used_at.as_deref().unwrap_or("never"),
            state
        );
    }
    out
}

async fn send_test(config: &Config, to: Option<String>, backup: bool) -> anyhow::Result<()> {
    use app::api::backend::SettingsBackend as _;
    use app::domain::StepStatus;
    use std::sync::Arc;
    let store = open_store(config).await?;
    let backend =
        crate::startup::backend(config, store.clone(), Arc::new(tokio::sync::Notify::new()));
    let request = app::domain::TestMailRequest {
        to: to.unwrap_or_default(),
        settings: None,
        backup,
    };
    let result = backend.send_test_mail(request, "cli").await;
    store.close().await;
    let report = match result {
        Ok(r) => r,
        Err(app::api::ApiError::Invalid(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            bail!(
                "the saved settings are incomplete ({}): complete them on the settings page",
                fields.join(", ")
            );
        }
        Err(e) => bail!("{e}"),
    };
    println!("{} {} -> {}", report.transport, report.from, report.to);
    for step in &report.steps {
        let status = match step.status {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "FAILED",
            StepStatus::Skipped => "skipped",
        };
        println!(
            "  {:<9} {:<7} {:>6} ms  {}",
            step.name.as_str(),
            status,
            step.millis,
            step.detail
        );
    }
    match report.failure {
        None => {
            println!("Delivered.");
            Ok(())
        }
        Some(f) => {
            let text = app::messages::send_message(app::i18n::Locale::en, f.code);
            bail!("{} at {}: {text}", f.code.as_str(), f.step.as_str())
        }
    }
}

/// Fails when a server has a recent heartbeat in the database.
async fn refuse_while_a_server_runs(store: &Store) -> anyhow::Result<()> {
    let live = store
        .live_instances(crate::startup::HEARTBEAT_STALE_MS)
        .await?;
    if let Some(server) = live.first() {
        bail!(
            "a server is using this database (host {}, process {}, last seen {} s ago): stop every server first, then run rotate-key again. Nothing was changed. (A server that was killed counts as stopped {} s after its last heartbeat.)",
            server.host,
            server.pid,
            server.seen_ms_ago / 1000,
            crate::startup::HEARTBEAT_STALE_MS / 1000
        );
    }
    Ok(())
}

async fn rotate_key(config: &Config) -> anyhow::Result<()> {
    // A running server still holds the old key: secrets it writes after the rotation (a
    // refreshed OAuth token) would be sealed with a key the next start no longer has.
    let store = open_store(config).await?;
    if let Err(running) = refuse_while_a_server_runs(&store).await {
        store.close().await;
        return Err(running);
    }
    let keys = Keyring::load(&config.secret_key)?;
    let old_id = keys.current_id();
    // The key to move to: a key file's rotation writes it to `<file>.new` first (or finds it
    // there after an interrupted run); with MAIL_SECRET_KEY the operator gives it.
    let next = match &config.secret_key {
        KeySource::File(path) => {
            let pending = pending_path(path);
            if pending.exists() {
                SecretString::from(
                    std::fs::read_to_string(&pending)
                        .with_context(|| format!("Failed to read {}", pending.display()))?
                        .trim()
                        .to_string(),
                )
            } else {
                let next = generate_key_text();
                write_key_file(&pending, &next)?;
                next
            }
        }
        KeySource::Env { .. } => SecretString::from(
            std::env::var("MAIL_SECRET_KEY_NEW")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .context("MAIL_SECRET_KEY is set: give the new key in MAIL_SECRET_KEY_NEW (e.g. `openssl rand -base64 32`)")?,
        ),
    };
    let rotated = keys.rotated_to(next.expose_secret())?;
    let new_id = rotated.current_id();
    let store = store.with_keys(rotated);
    let n = store.reencrypt_all_current().await?;
    store.audit("cli", "key_rotated", &new_id).await?;
    store.close().await;
    match &config.secret_key {
        KeySource::File(path) => {
            let pending = pending_path(path);
            std::fs::rename(&pending, path).with_context(|| {
                format!(
                    "Secrets now use the key in {}; move it over {} by hand",
                    pending.display(),
                    path.display()
                )
            })?;
            println!(
                "Re-encrypted {n} secret(s): key {old_id} → {new_id} ({}).",
                path.display()
            );
        }
        KeySource::Env { .. } => println!(
            "Re-encrypted {n} secret(s): key {old_id} → {new_id}. Now set MAIL_SECRET_KEY to the new key and remove MAIL_SECRET_KEY_NEW."
        ),
    }
    Ok(())
}

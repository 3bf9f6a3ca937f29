//! The mail settings row: read (with which secrets are set) and saved in one locked
//! transaction with its secrets and audit entry.

use super::{
    Context, Store, StoreError, delete_connection, flag, insert_audit, put_secret, secret_names,
};
use app::domain::{
    AlertsView, AuthType, BackupOauthView, BackupView, DeliveryOptions, Field, OauthCredential,
    OauthFlow, OauthView, Provider, SettingsView, SmtpView, ValidatedSettings,
};
use sqlx::{AnyConnection, Row};

use crate::secrets::Keyring;

impl Store {
    /// The stored settings, or the initial ones when nothing was saved yet.
    #[tracing::instrument(skip(self))]
    pub async fn load(&self) -> Result<SettingsView, StoreError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("Failed to get a database connection")?;
        load_with(&mut conn, &self.base_path).await
    }

    /// The stored certificate of the Microsoft certificate credential (PEM), if any.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn certificate_pem(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT oauth_certificate FROM mail_settings WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .context("Failed to read the certificate")?;
        Ok(row.and_then(|r| r.get::<Option<String>, _>("oauth_certificate")))
    }

    /// Validates against what is stored and saves in one transaction, or changes nothing.
    /// `check` runs inside the transaction, so it sees exactly the row being replaced.
    #[tracing::instrument(skip_all, fields(actor = %actor))]
    pub async fn save<E>(
        &self,
        actor: &str,
        expected_version: Option<i64>,
        check: impl FnOnce(&SettingsView) -> Result<ValidatedSettings, E>,
    ) -> Result<Result<SettingsView, E>, StoreError> {
        // The write transaction waits for other writers first, so two saves cannot interleave. The
        // transaction rolls back when dropped, also when the request is cancelled midway.
        let mut tx = self
            .begin_write()
            .await
            .context("Failed to start the save transaction")?;
        let result = save_in_tx(
            &mut tx,
            &self.base_path,
            &self.keys,
            actor,
            expected_version,
            check,
        )
        .await?;
        if result.is_ok() {
            tx.commit().await.context("Failed to commit the settings")?;
        }
        Ok(result)
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn save_in_tx<E>(
    conn: &mut AnyConnection,
    base_path: &str,
    keys: &Keyring,
    actor: &str,
    expected_version: Option<i64>,
    check: impl FnOnce(&SettingsView) -> Result<ValidatedSettings, E>,
) -> Result<Result<SettingsView, E>, StoreError> {
    let stored = load_with(conn, base_path).await?;
    if let Some(expected) = expected_version
        && expected != stored.version
    {
        return Err(StoreError::Conflict {
            current: stored.version,
        });
    }
    let valid = match check(&stored) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let s = valid.settings();
    let backup = s.backup.as_ref().and_then(BackupView::smtp);
    let backup_oauth = s.backup.as_ref().and_then(BackupView::oauth);
    let new_version = stored.version + 1;
    sqlx::query(
        "INSERT INTO mail_settings (id, auth, smtp_server, smtp_port, smtp_user, smtp_ssl, oauth_provider,
             oauth_client_id, oauth_tenant_id, oauth_secret_expires_on, manager_root, version,
             updated_at, updated_by, divert_to, delivery_paused, alerts_enabled,
             alert_webhook_host, oauth_flow, oauth_sender, oauth_credential, oauth_certificate,
             backup_on, backup_smtp_server, backup_smtp_port, backup_smtp_user, backup_smtp_ssl,
             oauth_send_as, backup_kind, backup_oauth_tenant_id, backup_oauth_client_id,
             backup_oauth_secret_expires_on, backup_oauth_sender)
         VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $16, $17, $18,
                 $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)
         ON CONFLICT (id) DO UPDATE SET
             auth = excluded.auth, smtp_server = excluded.smtp_server, smtp_port = excluded.smtp_port,
             smtp_user = excluded.smtp_user, smtp_ssl = excluded.smtp_ssl,
             oauth_provider = excluded.oauth_provider, oauth_client_id = excluded.oauth_client_id,
             oauth_tenant_id = excluded.oauth_tenant_id,
             oauth_secret_expires_on = excluded.oauth_secret_expires_on,
             manager_root = excluded.manager_root,
             version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by,
             divert_to = excluded.divert_to, delivery_paused = excluded.delivery_paused,
             alerts_enabled = excluded.alerts_enabled,
             alert_webhook_host = excluded.alert_webhook_host,
             oauth_flow = excluded.oauth_flow, oauth_sender = excluded.oauth_sender,
             oauth_credential = excluded.oauth_credential,
             oauth_certificate = COALESCE(excluded.oauth_certificate, mail_settings.oauth_certificate),
             backup_on = excluded.backup_on, backup_smtp_server = excluded.backup_smtp_server,
             backup_smtp_port = excluded.backup_smtp_port,
             backup_smtp_user = excluded.backup_smtp_user,
             backup_smtp_ssl = excluded.backup_smtp_ssl,
             oauth_send_as = excluded.oauth_send_as,
             backup_kind = excluded.backup_kind,
             backup_oauth_tenant_id = excluded.backup_oauth_tenant_id,
             backup_oauth_client_id = excluded.backup_oauth_client_id,
             backup_oauth_secret_expires_on = excluded.backup_oauth_secret_expires_on,
             backup_oauth_sender = excluded.backup_oauth_sender
         WHERE mail_settings.version = $14",
    )
    .bind(s.auth.as_str())
    .bind(&s.smtp.server)
    .bind(s.smtp.port)
    .bind(&s.smtp.user)
    .bind(i64::from(s.smtp.ssl))
    .bind(s.oauth.provider.as_str())
    .bind(&s.oauth.client_id)
    .bind(&s.oauth.tenant_id)
    .bind(&s.oauth.client_secret_expires_on)
    .bind(&s.manager_root)
    .bind(new_version)
    .bind(crate::clock::now_ms())
    .bind(actor)
    .bind(stored.version)
    .bind(s.delivery.divert())
    .bind(i64::from(s.delivery.paused))
    .bind(i64::from(s.alerts.enabled))
    .bind(&s.alerts.webhook_host)
    .bind(s.oauth.flow.as_str())
    .bind(&s.oauth.sender)
    .bind(s.oauth.credential.as_str())
    // A new certificate replaces the stored one; none given keeps it (COALESCE above).
    .bind(valid.certificate())
    .bind(i64::from(s.backup.is_some()))
    .bind(backup.map_or("", |b| b.server.as_str()))
    .bind(backup.and_then(|b| b.port))
    .bind(backup.map_or("", |b| b.user.as_str()))
    .bind(i64::from(backup.is_none_or(|b| b.ssl)))
    .bind(&s.oauth.send_as)
    .bind(if backup_oauth.is_some() { "oauth" } else { "smtp" })
    .bind(backup_oauth.map_or("", |o| o.tenant_id.as_str()))
    .bind(backup_oauth.map_or("", |o| o.client_id.as_str()))
    .bind(backup_oauth.map_or("", |o| o.client_secret_expires_on.as_str()))
    .bind(backup_oauth.map_or("", |o| o.sender.as_str()))
    .execute(&mut *conn)
    .await
    .context("Failed to write the settings")?;

    // A stored secret no longer counts once what it was entered for changed (another SMTP
    // server / port / SSL / user, another provider / client / tenant; see `merge`): forget it,
    // so it can never be sent anywhere else. The validation required a new one where needed.
    for (name, still_valid) in [
        (secret_names::SMTP_PASSWORD, s.smtp.password_set),
        (secret_names::OAUTH_CLIENT_SECRET, s.oauth.client_secret_set),
        (
            secret_names::OAUTH_CERTIFICATE_KEY,
            s.oauth.certificate_key_set,
        ),
        (
            secret_names::BACKUP_SMTP_PASSWORD,
            backup.is_some_and(|b| b.password_set),
        ),
        (
            secret_names::BACKUP_OAUTH_CLIENT_SECRET,
            backup_oauth.is_some_and(|o| o.client_secret_set),
        ),
    ] {
        if !still_valid {
            sqlx::query("DELETE FROM secrets WHERE name = $1")
                .bind(name)
                .execute(&mut *conn)
                .await
                .context("Failed to forget a secret whose server or client changed")?;
        }
    }
    put_secret(
        conn,
        keys,
        secret_names::SMTP_PASSWORD,
        valid.smtp_password(),
    )
    .await?;
    put_secret(
        conn,
        keys,
        secret_names::OAUTH_CLIENT_SECRET,
        valid.oauth_client_secret(),
    )
    .await?;
    put_secret(
        conn,
        keys,
        secret_names::ALERT_WEBHOOK_URL,
        valid.alert_webhook(),
    )
    .await?;
    put_secret(
        conn,
        keys,
        secret_names::OAUTH_CERTIFICATE_KEY,
        valid.certificate_key(),
    )
    .await?;
    if backup.is_some() {
        put_secret(
            conn,
            keys,
            secret_names::BACKUP_SMTP_PASSWORD,
            valid.backup_password(),
        )
        .await?;
    }
    if backup_oauth.is_some() {
        put_secret(
            conn,
            keys,
            secret_names::BACKUP_OAUTH_CLIENT_SECRET,
            valid.backup_client_secret(),
        )
        .await?;
    }

    // Tokens belong to the app that obtained them: new credentials mean a new connection.
    let credentials_changed = valid.changed_fields().iter().any(|f| {
        // Another address to send as needs a new consent (Microsoft: Mail.Send.Shared;
        // Google: reading the aliases), which also checks the new address.
        *f == Field::OauthSendAs
            || matches!(
                f,
                Field::OauthProvider
                    | Field::OauthFlow
                    | Field::OauthClientId
                    | Field::OauthClientSecret
                    | Field::OauthTenantId
                    | Field::OauthCredential
                    | Field::OauthCertificate
                    | Field::OauthCertificateKey
            )
    });
    if credentials_changed && delete_connection(conn).await? {
        insert_audit(
            &mut *conn,
            actor,
            "oauth.disconnected",
            "credentials changed",
        )
        .await?;
    }

    // New settings may fix what paused sending: the next attempt tries them.
    sqlx::query("UPDATE queue_state SET paused_code = NULL, paused_reply = NULL, paused_at = NULL")
        .execute(&mut *conn)
        .await
        .context("Failed to resume sending")?;

    let fields: Vec<&str> = valid
        .changed_fields()
        .iter()
        .map(|f: &Field| f.as_str())
        .collect();
    insert_audit(&mut *conn, actor, "settings.save", &fields.join(",")).await?;

    Ok(Ok(load_with(conn, base_path).await?))
}

#[tracing::instrument(level = "debug", skip_all)]
async fn load_with(conn: &mut AnyConnection, base_path: &str) -> Result<SettingsView, StoreError> {
    let row = sqlx::query(
        "SELECT auth, smtp_server, smtp_port, smtp_user, smtp_ssl, oauth_provider, oauth_client_id,
                oauth_tenant_id, oauth_secret_expires_on, manager_root, version, updated_at,
                updated_by, divert_to, delivery_paused, alerts_enabled, alert_webhook_host,
                oauth_flow, oauth_sender, oauth_credential, oauth_certificate, oauth_send_as,
                backup_on, backup_kind,
                backup_smtp_server, backup_smtp_port, backup_smtp_user, backup_smtp_ssl,
                backup_oauth_tenant_id, backup_oauth_client_id, backup_oauth_secret_expires_on,
                backup_oauth_sender,
                CASE WHEN EXISTS (SELECT 1 FROM secrets WHERE name = $5) THEN 1 ELSE 0 END
                    AS backup_password_set,
                CASE WHEN EXISTS (SELECT 1 FROM secrets WHERE name = $6) THEN 1 ELSE 0 END
                    AS backup_client_secret_set,
                CASE WHEN EXISTS (SELECT 1 FROM secrets WHERE name = $3) THEN 1 ELSE 0 END
                    AS webhook_set,
                CASE WHEN EXISTS (SELECT 1 FROM secrets WHERE name = $4) THEN 1 ELSE 0 END
                    AS certificate_key_set,
                CASE WHEN EXISTS (SELECT 1 FROM secrets WHERE name = $1) THEN 1 ELSE 0 END
                    AS password_set,
                CASE WHEN EXISTS (SELECT 1 FROM secrets WHERE name = $2) THEN 1 ELSE 0 END
                    AS client_secret_set
         FROM mail_settings WHERE id = 1",
    )
    .bind(secret_names::SMTP_PASSWORD)
    .bind(secret_names::OAUTH_CLIENT_SECRET)
    .bind(secret_names::ALERT_WEBHOOK_URL)
    .bind(secret_names::OAUTH_CERTIFICATE_KEY)
    .bind(secret_names::BACKUP_SMTP_PASSWORD)
    .bind(secret_names::BACKUP_OAUTH_CLIENT_SECRET)
    .fetch_optional(&mut *conn)
    .await
    .context("Failed to read the settings")?;
    let Some(row) = row else {
        return Ok(SettingsView::initial(base_path));
    };
    let auth: String = row.get("auth");
    let provider: String = row.get("oauth_provider");
    Ok(SettingsView {
        // The CHECK constraints keep these two columns to known values.
        auth: AuthType::parse(&auth).unwrap_or_default(),
        smtp: SmtpView {
            server: row.get("smtp_server"),
            port: row.get("smtp_port"),
            user: row.get("smtp_user"),
            password_set: flag(&row, "password_set"),
            ssl: flag(&row, "smtp_ssl"),
        },
        oauth: OauthView {
            provider: Provider::parse(&provider).unwrap_or_default(),
            client_id: row.get("oauth_client_id"),
            client_secret_set: flag(&row, "client_secret_set"),
            tenant_id: row.get("oauth_tenant_id"),
            client_secret_expires_on: row.get("oauth_secret_expires_on"),
            // The CHECK constraint keeps it to the two names.
            flow: OauthFlow::parse(&row.get::<String, _>("oauth_flow")).unwrap_or_default(),
            sender: row.get("oauth_sender"),
            // The CHECK constraint keeps it to the two names.
            credential: OauthCredential::parse(&row.get::<String, _>("oauth_credential"))
                .unwrap_or_default(),
            certificate: row
                .get::<Option<String>, _>("oauth_certificate")
                .as_deref()
                .and_then(crate::oauth::certificate::info),
            certificate_key_set: flag(&row, "certificate_key_set"),
            send_as: row.get("oauth_send_as"),
        },
        manager_root: row.get("manager_root"),
        delivery: DeliveryOptions {
            divert_to: row.get("divert_to"),
            paused: flag(&row, "delivery_paused"),
        },
        alerts: AlertsView {
            enabled: flag(&row, "alerts_enabled"),
            webhook_set: flag(&row, "webhook_set"),
            webhook_host: row.get("alert_webhook_host"),
        },
        // The CHECK constraint keeps the kind to the two names.
        backup: flag(&row, "backup_on").then(|| {
            if row.get::<String, _>("backup_kind") == "oauth" {
                BackupView::Oauth(BackupOauthView {
                    tenant_id: row.get("backup_oauth_tenant_id"),
                    client_id: row.get("backup_oauth_client_id"),
                    client_secret_set: flag(&row, "backup_client_secret_set"),
                    client_secret_expires_on: row.get("backup_oauth_secret_expires_on"),
                    sender: row.get("backup_oauth_sender"),
                })
            } else {
                BackupView::Smtp(SmtpView {
                    server: row.get("backup_smtp_server"),
                    port: row.get("backup_smtp_port"),
                    user: row.get("backup_smtp_user"),
                    password_set: flag(&row, "backup_password_set"),
                    ssl: flag(&row, "backup_smtp_ssl"),
                })
            }
        }),
        version: row.get("version"),
        updated_at: Some(crate::clock::utc_text(row.get("updated_at"))),
        updated_by: Some(row.get("updated_by")),
    })
}

//! Settings as a file, for moving or backing up a console. Secrets are never in the file: the
//! import leaves them to be typed again (other products export passwords in plain text).

use super::{
    BackupInput, BackupOauthInput, BackupView, OauthInput, SettingsInput, SettingsView, SmtpInput,
};
use serde::{Deserialize, Serialize};

/// The `format` marker of an export file.
pub const EXPORT_FORMAT: &str = "mail-settings-export";
/// The version of the file layout this build writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// An export file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsExport {
    pub format: String,
    pub format_version: u32,
    /// UTC time of the export, for the administrator.
    pub exported_at: String,
    /// A `PUT` body without secrets and without a version.
    pub settings: SettingsInput,
    /// The secrets the file does not carry (`smtp.password`, `oauth.client_secret`).
    pub secrets_omitted: Vec<String>,
}

impl SettingsExport {
    /// The file for `stored`, made at `now` (UTC text).
    pub fn of(stored: &SettingsView, now: String) -> SettingsExport {
        let mut omitted = Vec::new();
        if stored.smtp.password_set {
            omitted.push("smtp.password".to_string());
        }
        if stored.oauth.client_secret_set {
            omitted.push("oauth.client_secret".to_string());
        }
        // The certificate travels with its key: both are uploaded again on the other console.
        if stored.oauth.certificate.is_some() {
            omitted.push("oauth.certificate".to_string());
        }
        if stored.oauth.certificate_key_set {
            omitted.push("oauth.certificate_key".to_string());
        }
        match &stored.backup {
            Some(BackupView::Smtp(smtp)) if smtp.password_set => {
                omitted.push("backup.smtp.password".to_string());
            }
            Some(BackupView::Oauth(oauth)) if oauth.client_secret_set => {
                omitted.push("backup.oauth.client_secret".to_string());
            }
            _ => {}
        }
        SettingsExport {
            format: EXPORT_FORMAT.to_string(),
            format_version: EXPORT_VERSION,
            exported_at: now,
            settings: SettingsInput {
                auth: stored.auth,
                smtp: Some(SmtpInput {
                    server: stored.smtp.server.clone(),
                    port: stored.smtp.port,
                    user: stored.smtp.user.clone(),
                    password: None,
                    ssl: stored.smtp.ssl,
                }),
                oauth: Some(OauthInput {
                    provider: stored.oauth.provider,
                    client_id: stored.oauth.client_id.clone(),
                    client_secret: None,
                    tenant_id: stored.oauth.tenant_id.clone(),
                    client_secret_expires_on: stored.oauth.client_secret_expires_on.clone(),
                    flow: stored.oauth.flow,
                    sender: stored.oauth.sender.clone(),
                    credential: stored.oauth.credential,
                    certificate: None,
                    certificate_key: None,
                    send_as: stored.oauth.send_as.clone(),
                }),
                manager_root: stored.manager_root.clone(),
                // Divert and pause belong to one installation (a staging copy diverts, the
                // production one must not): an import keeps the target's own.
                delivery: None,
                // Alerts too (and the webhook's address is a secret, never exported).
                alerts: None,
                backup: Some(stored.backup.as_ref().map(|b| match b {
                    BackupView::Smtp(smtp) => BackupInput::Smtp(SmtpInput {
                        server: smtp.server.clone(),
                        port: smtp.port,
                        user: smtp.user.clone(),
                        password: None,
                        ssl: smtp.ssl,
                    }),
                    BackupView::Oauth(oauth) => BackupInput::Oauth(BackupOauthInput {
                        tenant_id: oauth.tenant_id.clone(),
                        client_id: oauth.client_id.clone(),
                        client_secret: None,
                        client_secret_expires_on: oauth.client_secret_expires_on.clone(),
                        sender: oauth.sender.clone(),
                    }),
                })),
                version: None,
            },
            secrets_omitted: omitted,
        }
    }
}

/// Why a file cannot be imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportError {
    /// Not JSON at all.
    NotJson,
    /// JSON, but not an export of this console.
    NotAnExport,
    /// Written by a newer version of the console.
    UnsupportedVersion,
}

/// Reads an export file. Any secret someone added to the file by hand is dropped: the import
/// always asks for the secrets again.
pub fn parse_export(text: &str) -> Result<SettingsInput, ImportError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| ImportError::NotJson)?;
    if value.get("format").and_then(|f| f.as_str()) != Some(EXPORT_FORMAT) {
        return Err(ImportError::NotAnExport);
    }
    match value.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(EXPORT_VERSION) => {}
        Some(_) => return Err(ImportError::UnsupportedVersion),
        None => return Err(ImportError::NotAnExport),
    }
    let file: SettingsExport =
        serde_json::from_value(value).map_err(|_| ImportError::NotAnExport)?;
    let mut settings = file.settings;
    settings.version = None;
    if let Some(smtp) = settings.smtp.as_mut() {
        smtp.password = None;
    }
    if let Some(oauth) = settings.oauth.as_mut() {
        oauth.client_secret = None;
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthType, Provider, TypedSecret};

    fn stored() -> SettingsView {
        let mut s = SettingsView::initial("/ConMasManager");
        s.smtp.server = "smtp.example.co.jp".into();
        s.smtp.user = "notice@example.co.jp".into();
        s.smtp.password_set = true;
        s.oauth.provider = Provider::Google;
        s.oauth.client_id = "id".into();
        s.version = 7;
        s
    }

    #[test]
    fn export_round_trips_without_secrets_or_version() {
        let file = SettingsExport::of(&stored(), "2026-11-27T00:00:00Z".into());
        let text = serde_json::to_string_pretty(&file).unwrap();
        assert!(text.contains("\"format\": \"mail-settings-export\""));
        assert!(text.contains("smtp.password"), "it names what it left out");
        let back = parse_export(&text).unwrap();
        assert_eq!(back.auth, AuthType::Smtp);
        assert_eq!(back.smtp.as_ref().unwrap().server, "smtp.example.co.jp");
        assert_eq!(back.oauth.as_ref().unwrap().provider, Provider::Google);
        assert_eq!(back.version, None);
        assert_eq!(back.smtp.unwrap().password, None);
    }

    #[test]
    fn secrets_added_by_hand_are_dropped() {
        let mut file = SettingsExport::of(&stored(), "t".into());
        file.settings.smtp.as_mut().unwrap().password = Some(TypedSecret::new("typed-in"));
        let text = serde_json::to_string(&file).unwrap();
        assert_eq!(parse_export(&text).unwrap().smtp.unwrap().password, None);
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        assert_eq!(parse_export("not json"), Err(ImportError::NotJson));
        assert_eq!(
            parse_export("{\"auth\":\"smtp\"}"),
            Err(ImportError::NotAnExport)
        );
        assert_eq!(
            parse_export("{\"format\":\"mail-settings-export\",\"format_version\":2}"),
            Err(ImportError::UnsupportedVersion)
        );
        assert_eq!(
            parse_export("{\"format\":\"mail-settings-export\",\"format_version\":1}"),
            Err(ImportError::NotAnExport)
        );
    }
}

//! The save rules: merging an input into the stored settings, every field's check, which
//! fields changed (for the audit log), and the advice shown beside the form.

use super::{
    AuthType, BackupInput, BackupOauthView, BackupView, CertificateInfo, DeliveryOptions,
    ErrorCode, Field, FieldError, GoogleClientId, Host, MAX_FIELD_LEN, MAX_PEM_LEN, Mailbox,
    ManagerRoot, MicrosoftClientId, MicrosoftTenant, Notice, OauthCredential, OauthFlow, OauthView,
    Port, Provider, SecretChange, SettingsInput, SettingsView, SmtpInput, SmtpView, TypedSecret,
    ValidatedSettings, host, parse_date, webhook_host,
};

/// Applies a save request to the stored settings: omitted blocks and secrets stay as stored.
/// Text is trimmed here, once, at the boundary.
pub fn merge(stored: &SettingsView, input: &SettingsInput) -> SettingsView {
    let mut merged = stored.clone();
    merged.auth = input.auth;
    merged.manager_root = input.manager_root.trim().to_string();
    if let Some(delivery) = &input.delivery {
        merged.delivery = DeliveryOptions {
            divert_to: delivery
                .divert_to
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            paused: delivery.paused,
        };
    }
    if let Some(alerts) = &input.alerts {
        let url = alerts
            .webhook_url
            .as_ref()
            .map(|u| u.expose().trim())
            .filter(|u| !u.is_empty());
        merged.alerts.enabled = alerts.enabled;
        if let Some(url) = url {
            merged.alerts.webhook_set = true;
            merged.alerts.webhook_host = webhook_host(url).unwrap_or_default();
        }
    }
    if let Some(smtp) = &input.smtp {
        merged.smtp = smtp_view(smtp, Some(&stored.smtp));
    }
    match &input.backup {
        None => {}
        Some(None) => merged.backup = None,
        Some(Some(BackupInput::Smtp(smtp))) => {
            let stored = stored.backup.as_ref().and_then(BackupView::smtp);
            merged.backup = Some(BackupView::Smtp(smtp_view(smtp, stored)));
        }
        Some(Some(BackupInput::Oauth(oauth))) => {
            let mut view = BackupOauthView {
                tenant_id: oauth.tenant_id.trim().to_string(),
                client_id: oauth.client_id.trim().to_string(),
                client_secret_set: false,
                client_secret_expires_on: oauth.client_secret_expires_on.trim().to_string(),
                sender: oauth.sender.trim().to_string(),
            };
            // The stored secret only for the same app of the same tenant, as for the primary.
            let stored = stored.backup.as_ref().and_then(BackupView::oauth);
            view.client_secret_set = stored.is_some_and(|s| {
                s.client_secret_set && same_oauth_client(&s.as_oauth(), &view.as_oauth())
            }) || oauth
                .client_secret
                .as_ref()
                .is_some_and(|s| !s.expose().trim().is_empty());
            merged.backup = Some(BackupView::Oauth(view));
        }
    }
    if let Some(oauth) = &input.oauth {
        let mut view = OauthView {
            provider: oauth.provider,
            client_id: oauth.client_id.trim().to_string(),
            client_secret_set: false,
            tenant_id: oauth.tenant_id.trim().to_string(),
            client_secret_expires_on: oauth.client_secret_expires_on.trim().to_string(),
            flow: oauth.flow,
            sender: oauth.sender.trim().to_string(),
            credential: oauth.credential,
            // A new certificate is read by the server (thumbprint, subject, expiry); until then
            // it counts as present. The certificate is public: it stays when the app changes.
            certificate: if pem_given(oauth.certificate.as_deref()) {
                Some(CertificateInfo::default())
            } else {
                stored.oauth.certificate.clone()
            },
            certificate_key_set: false,
            send_as: oauth.send_as.trim().to_string(),
        };
        // A client secret belongs to one app of one provider (and tenant): it only counts
        // while provider, client ID and tenant stay the same.
        view.client_secret_set = (stored.oauth.client_secret_set
            && same_oauth_client(&stored.oauth, &view))
            || oauth
                .client_secret
                .as_ref()
                .is_some_and(|s| !s.expose().trim().is_empty());
        // The certificate's private key, likewise.
        view.certificate_key_set = (stored.oauth.certificate_key_set
            && same_oauth_client(&stored.oauth, &view))
            || pem_given(oauth.certificate_key.as_ref().map(|k| k.expose()));
        merged.oauth = view;
    }
    merged
}

/// An SMTP block as typed, trimmed. A stored password only ever goes to the server it was
/// entered for: change the host, port, SSL or user and it must be typed again (else it could be
/// handed to any server, in clear with SSL off).
fn smtp_view(smtp: &SmtpInput, stored: Option<&SmtpView>) -> SmtpView {
    let mut view = SmtpView {
        server: smtp.server.trim().to_string(),
        port: smtp.port,
        user: smtp.user.trim().to_string(),
        password_set: false,
        ssl: smtp.ssl,
    };
    view.password_set = stored.is_some_and(|s| s.password_set && same_smtp_target(s, &view))
        || smtp.password.as_ref().is_some_and(|p| !p.is_empty());
    view
}

fn pem_given(text: Option<&str>) -> bool {
    text.is_some_and(|t| !t.trim().is_empty())
}

/// The shape of a PEM certificate as typed or uploaded (the server reads it fully).
fn check_certificate_pem(pem: &str) -> Result<(), ErrorCode> {
    if pem.len() > MAX_PEM_LEN {
        return Err(ErrorCode::PemTooLong);
    }
    check_pem_characters(pem)?;
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(ErrorCode::CertificateInvalid);
    }
    Ok(())
}

/// The shape of a PEM private key as typed or uploaded: an unencrypted RSA key.
fn check_key_pem(pem: &str) -> Result<(), ErrorCode> {
    if pem.len() > MAX_PEM_LEN {
        return Err(ErrorCode::PemTooLong);
    }
    check_pem_characters(pem)?;
    if pem.contains("ENCRYPTED") {
        return Err(ErrorCode::CertificateKeyEncrypted);
    }
    if !pem.contains("-----BEGIN PRIVATE KEY-----")
        && !pem.contains("-----BEGIN RSA PRIVATE KEY-----")
    {
        return Err(ErrorCode::CertificateKeyInvalid);
    }
    Ok(())
}

/// PEM is printable ASCII in lines.
fn check_pem_characters(pem: &str) -> Result<(), ErrorCode> {
    if pem
        .chars()
        .any(|c| !matches!(c, '\n' | '\r' | '\t' | ' '..='~'))
    {
        return Err(ErrorCode::ControlCharacters);
    }
    Ok(())
}

/// True when `new` names the same SMTP server, port, TLS use and account as `stored`: the
/// stored password may be used with it. Host names compare without case.
pub fn same_smtp_target(stored: &SmtpView, new: &SmtpView) -> bool {
    stored.server.eq_ignore_ascii_case(&new.server)
        && stored.port == new.port
        && stored.ssl == new.ssl
        && stored.user == new.user
}

/// True when `new` is the same OAuth app as `stored` (provider, client ID, tenant): the stored
/// client secret may be used with it.
pub fn same_oauth_client(stored: &OauthView, new: &OauthView) -> bool {
    stored.provider == new.provider
        && stored.client_id == new.client_id
        && stored.tenant_id.eq_ignore_ascii_case(&new.tenant_id)
}

/// Every rule for a save request, against the stored settings. On success the result holds
/// exactly what is to be stored; on failure every problem is listed, one per field.
pub fn validate(
    stored: &SettingsView,
    input: &SettingsInput,
) -> Result<ValidatedSettings, Vec<FieldError>> {
    let merged = merge(stored, input);
    let smtp_password =
        SecretChange::from_input(input.smtp.as_ref().and_then(|s| s.password.as_ref()));
    let oauth_client_secret =
        SecretChange::from_trimmed(input.oauth.as_ref().and_then(|o| o.client_secret.as_ref()));
    let backup_input = input.backup.as_ref().and_then(|b| b.as_ref());
    let backup_password = SecretChange::from_input(match backup_input {
        Some(BackupInput::Smtp(smtp)) => smtp.password.as_ref(),
        _ => None,
    });
    let backup_client_secret = SecretChange::from_trimmed(match backup_input {
        Some(BackupInput::Oauth(o)) => o.client_secret.as_ref(),
        _ => None,
    });
    let oauth_input = input.oauth.as_ref();
    let certificate = oauth_input
        .and_then(|o| o.certificate.as_deref())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| format!("{c}\n"));
    let certificate_key = match oauth_input.and_then(|o| o.certificate_key.as_ref()) {
        Some(k) if !k.expose().trim().is_empty() => {
            SecretChange::Replace(TypedSecret::new(format!("{}\n", k.expose().trim())))
        }
        _ => SecretChange::Keep,
    };
    let alert_webhook =
        SecretChange::from_trimmed(input.alerts.as_ref().and_then(|a| a.webhook_url.as_ref()));

    let mut errors = check_settings(&merged);
    if let SecretChange::Replace(url) = &alert_webhook
        && let Err(code) = webhook_host(url.expose())
    {
        errors.push(FieldError::new(Field::AlertsWebhookUrl, code));
    }
    if let SecretChange::Replace(p) = &smtp_password {
        check_text(p.expose(), Field::SmtpPassword, &mut errors);
    }
    if let SecretChange::Replace(s) = &oauth_client_secret {
        check_text(s.expose(), Field::OauthClientSecret, &mut errors);
    }
    if let SecretChange::Replace(p) = &backup_password {
        check_text(p.expose(), Field::BackupSmtpPassword, &mut errors);
    }
    if let SecretChange::Replace(p) = &backup_client_secret {
        check_text(p.expose(), Field::BackupOauthClientSecret, &mut errors);
    }
    if let Some(pem) = &certificate
        && let Err(code) = check_certificate_pem(pem)
    {
        errors.push(FieldError::new(Field::OauthCertificate, code));
    }
    if let SecretChange::Replace(key) = &certificate_key
        && let Err(code) = check_key_pem(key.expose())
    {
        errors.push(FieldError::new(Field::OauthCertificateKey, code));
    }
    if !errors.is_empty() {
        return Err(dedupe(errors));
    }
    let mut changed_fields = changed_fields(stored, &merged, &smtp_password, &oauth_client_secret);
    if stored.alerts.enabled != merged.alerts.enabled {
        changed_fields.push(Field::AlertsEnabled);
    }
    if alert_webhook.is_replace() {
        changed_fields.push(Field::AlertsWebhookUrl);
    }
    if stored.oauth.credential != merged.oauth.credential {
        changed_fields.push(Field::OauthCredential);
    }
    if certificate.is_some() {
        changed_fields.push(Field::OauthCertificate);
    }
    if certificate_key.is_replace() {
        changed_fields.push(Field::OauthCertificateKey);
    }
    backup_changes(
        stored,
        &merged,
        [&backup_password, &backup_client_secret],
        &mut changed_fields,
    );
    Ok(ValidatedSettings {
        settings: merged,
        smtp_password,
        oauth_client_secret,
        alert_webhook,
        certificate,
        certificate_key,
        backup_password,
        backup_client_secret,
        changed_fields,
    })
}

/// The rules on a complete set of settings (secrets only by presence). The browser runs this on
/// every keystroke; the server runs it again before storing.
pub fn check_settings(s: &SettingsView) -> Vec<FieldError> {
    let mut errors = Vec::new();

    // Control characters and sizes: every text field, selected or not, because all of them are
    // stored and may reach a header or a log line later.
    for (field, value) in [
        (Field::SmtpServer, s.smtp.server.as_str()),
        (Field::SmtpUser, s.smtp.user.as_str()),
        (Field::OauthClientId, s.oauth.client_id.as_str()),
        (Field::OauthTenantId, s.oauth.tenant_id.as_str()),
        (
            Field::OauthSecretExpiresOn,
            s.oauth.client_secret_expires_on.as_str(),
        ),
        (Field::OauthSender, s.oauth.sender.as_str()),
        (Field::OauthSendAs, s.oauth.send_as.as_str()),
        (Field::ManagerRoot, s.manager_root.as_str()),
    ] {
        check_text(value, field, &mut errors);
    }

    if let Err(code) = ManagerRoot::parse(&s.manager_root) {
        errors.push(FieldError::new(Field::ManagerRoot, code));
    }
    // Divert: one plain address (no display name, no list), checked as a recipient is.
    if let Some(to) = &s.delivery.divert_to {
        check_text(to, Field::DeliveryDivertTo, &mut errors);
        if let Err(code) = Mailbox::parse(to) {
            errors.push(FieldError::new(Field::DeliveryDivertTo, code));
        }
    }

    if s.alerts.enabled && !s.alerts.webhook_set {
        errors.push(FieldError::new(
            Field::AlertsWebhookUrl,
            ErrorCode::WebhookUrlRequired,
        ));
    }

    match s.auth {
        AuthType::Smtp => check_smtp(&s.smtp, &PRIMARY, &mut errors),
        AuthType::Oauth => check_oauth(&s.oauth, &mut errors),
    }
    // The backup connection is checked whenever one is set: it must work when needed.
    match &s.backup {
        None => {}
        Some(BackupView::Smtp(smtp)) => {
            check_text(&smtp.server, Field::BackupSmtpServer, &mut errors);
            check_text(&smtp.user, Field::BackupSmtpUser, &mut errors);
            check_smtp(smtp, &BACKUP, &mut errors);
        }
        Some(BackupView::Oauth(oauth)) => check_backup_oauth(oauth, &mut errors),
    }
    dedupe(errors)
}

/// The fields an SMTP block's errors are reported on.
struct SmtpFields {
    server: Field,
    port: Field,
    ssl: Field,
    user: Field,
    password: Field,
}

const PRIMARY: SmtpFields = SmtpFields {
    server: Field::SmtpServer,
    port: Field::SmtpPort,
    ssl: Field::SmtpSsl,
    user: Field::SmtpUser,
    password: Field::SmtpPassword,
};

const BACKUP: SmtpFields = SmtpFields {
    server: Field::BackupSmtpServer,
    port: Field::BackupSmtpPort,
    ssl: Field::BackupSmtpSsl,
    user: Field::BackupSmtpUser,
    password: Field::BackupSmtpPassword,
};

fn check_smtp(smtp: &SmtpView, fields: &SmtpFields, errors: &mut Vec<FieldError>) {
    if let Err(code) = Host::parse(&smtp.server) {
        errors.push(FieldError::new(fields.server, code));
    }
    match Port::from_number(smtp.port) {
        Err(code) => errors.push(FieldError::new(fields.port, code)),
        Ok(port) => {
            if let Err(code) = port.check_ssl(smtp.ssl) {
                errors.push(FieldError::new(fields.ssl, code));
            }
        }
    }
    if let Err(code) = Mailbox::parse(&smtp.user) {
        errors.push(FieldError::new(fields.user, code));
    }
    if !smtp.password_set {
        errors.push(FieldError::new(
            fields.password,
            ErrorCode::PasswordRequired,
        ));
    }
}

/// The Microsoft 365 backup: the app-only rules of the primary block, on its own fields.
fn check_backup_oauth(oauth: &BackupOauthView, errors: &mut Vec<FieldError>) {
    for (field, value) in [
        (Field::BackupOauthTenantId, &oauth.tenant_id),
        (Field::BackupOauthClientId, &oauth.client_id),
        (
            Field::BackupOauthSecretExpiresOn,
            &oauth.client_secret_expires_on,
        ),
        (Field::BackupOauthSender, &oauth.sender),
    ] {
        check_text(value, field, errors);
    }
    if let Err(code) = MicrosoftTenant::parse(&oauth.tenant_id) {
        errors.push(FieldError::new(Field::BackupOauthTenantId, code));
    }
    if let Err(code) = MicrosoftClientId::parse(&oauth.client_id) {
        errors.push(FieldError::new(Field::BackupOauthClientId, code));
    }
    if !oauth.client_secret_set {
        errors.push(FieldError::new(
            Field::BackupOauthClientSecret,
            ErrorCode::ClientSecretRequired,
        ));
    }
    if !oauth.client_secret_expires_on.is_empty()
        && parse_date(&oauth.client_secret_expires_on).is_none()
    {
        errors.push(FieldError::new(
            Field::BackupOauthSecretExpiresOn,
            ErrorCode::DateInvalid,
        ));
    }
    if let Err(code) = Mailbox::parse(&oauth.sender) {
        errors.push(FieldError::new(Field::BackupOauthSender, code));
    }
}

/// The backup connection's changed fields, for the audit log (a change of kind lists every
/// field of both kinds that differs). `secrets`: the SMTP password, the client secret.
fn backup_changes(
    old: &SettingsView,
    new: &SettingsView,
    secrets: [&SecretChange; 2],
    fields: &mut Vec<Field>,
) {
    let (old_smtp, new_smtp) = (
        old.backup.as_ref().and_then(BackupView::smtp),
        new.backup.as_ref().and_then(BackupView::smtp),
    );
    let smtp_differs = |get: fn(&SmtpView) -> String| old_smtp.map(get) != new_smtp.map(get);
    let (old_oauth, new_oauth) = (
        old.backup.as_ref().and_then(BackupView::oauth),
        new.backup.as_ref().and_then(BackupView::oauth),
    );
    let oauth_differs =
        |get: fn(&BackupOauthView) -> String| old_oauth.map(get) != new_oauth.map(get);
    for (changed, field) in [
        (smtp_differs(|s| s.server.clone()), Field::BackupSmtpServer),
        (
            smtp_differs(|s| format!("{:?}", s.port)),
            Field::BackupSmtpPort,
        ),
        (smtp_differs(|s| s.user.clone()), Field::BackupSmtpUser),
        (smtp_differs(|s| s.ssl.to_string()), Field::BackupSmtpSsl),
        (secrets[0].is_replace(), Field::BackupSmtpPassword),
        (
            oauth_differs(|o| o.tenant_id.to_ascii_lowercase()),
            Field::BackupOauthTenantId,
        ),
        (
            oauth_differs(|o| o.client_id.clone()),
            Field::BackupOauthClientId,
        ),
        (secrets[1].is_replace(), Field::BackupOauthClientSecret),
        (
            oauth_differs(|o| o.client_secret_expires_on.clone()),
            Field::BackupOauthSecretExpiresOn,
        ),
        (
            oauth_differs(|o| o.sender.to_ascii_lowercase()),
            Field::BackupOauthSender,
        ),
    ] {
        if changed {
            fields.push(field);
        }
    }
}

fn check_oauth(oauth: &OauthView, errors: &mut Vec<FieldError>) {
    match oauth.provider {
        Provider::Microsoft => {
            if let Err(code) = MicrosoftClientId::parse(&oauth.client_id) {
                errors.push(FieldError::new(Field::OauthClientId, code));
            }
            if let Err(code) = MicrosoftTenant::parse(&oauth.tenant_id) {
                errors.push(FieldError::new(Field::OauthTenantId, code));
            }
            if !oauth.client_secret_expires_on.is_empty()
                && parse_date(&oauth.client_secret_expires_on).is_none()
            {
                errors.push(FieldError::new(
                    Field::OauthSecretExpiresOn,
                    ErrorCode::DateInvalid,
                ));
            }
        }
        Provider::Google => {
            if let Err(code) = GoogleClientId::parse(&oauth.client_id) {
                errors.push(FieldError::new(Field::OauthClientId, code));
            }
        }
    }
    match oauth.credential {
        OauthCredential::Certificate if oauth.provider != Provider::Microsoft => {
            errors.push(FieldError::new(
                Field::OauthCredential,
                ErrorCode::CertificateMicrosoftOnly,
            ));
        }
        OauthCredential::Certificate => {
            if oauth.certificate.is_none() {
                errors.push(FieldError::new(
                    Field::OauthCertificate,
                    ErrorCode::CertificateRequired,
                ));
            }
            if !oauth.certificate_key_set {
                errors.push(FieldError::new(
                    Field::OauthCertificateKey,
                    ErrorCode::CertificateKeyRequired,
                ));
            }
        }
        OauthCredential::Secret => {
            if !oauth.client_secret_set {
                errors.push(FieldError::new(
                    Field::OauthClientSecret,
                    ErrorCode::ClientSecretRequired,
                ));
            }
        }
    }
    if !oauth.send_as.is_empty() {
        if oauth.is_app_only() {
            // App-only sends as `sender`; there is no user whose mailbox to go beyond.
            errors.push(FieldError::new(
                Field::OauthSendAs,
                ErrorCode::SendAsDelegatedOnly,
            ));
        } else if let Err(code) = Mailbox::parse(&oauth.send_as) {
            errors.push(FieldError::new(Field::OauthSendAs, code));
        }
    }
    if oauth.flow == OauthFlow::AppOnly {
        if oauth.provider != Provider::Microsoft {
            errors.push(FieldError::new(
                Field::OauthFlow,
                ErrorCode::AppOnlyMicrosoftOnly,
            ));
        } else if let Err(code) = Mailbox::parse(&oauth.sender) {
            // The mailbox the application sends as: a plain address.
            errors.push(FieldError::new(Field::OauthSender, code));
        }
    }
}

fn check_text(value: &str, field: Field, errors: &mut Vec<FieldError>) {
    if value.chars().any(char::is_control) {
        errors.push(FieldError::new(field, ErrorCode::ControlCharacters));
    } else if value.len() > MAX_FIELD_LEN {
        errors.push(FieldError::new(field, ErrorCode::TooLong));
    }
}

/// One error per field, the first found: the most basic problem is the one to fix first.
fn dedupe(errors: Vec<FieldError>) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::with_capacity(errors.len());
    for e in errors {
        if !out.iter().any(|o| o.field == e.field) {
            out.push(e);
        }
    }
    out
}

fn changed_fields(
    old: &SettingsView,
    new: &SettingsView,
    password: &SecretChange,
    client_secret: &SecretChange,
) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut diff = |changed: bool, field: Field| {
        if changed {
            fields.push(field);
        }
    };
    diff(old.auth != new.auth, Field::Auth);
    diff(old.smtp.server != new.smtp.server, Field::SmtpServer);
    diff(old.smtp.port != new.smtp.port, Field::SmtpPort);
    diff(old.smtp.user != new.smtp.user, Field::SmtpUser);
    diff(password.is_replace(), Field::SmtpPassword);
    diff(old.smtp.ssl != new.smtp.ssl, Field::SmtpSsl);
    diff(
        old.oauth.provider != new.oauth.provider,
        Field::OauthProvider,
    );
    diff(
        old.oauth.client_id != new.oauth.client_id,
        Field::OauthClientId,
    );
    diff(client_secret.is_replace(), Field::OauthClientSecret);
    diff(
        old.oauth.tenant_id != new.oauth.tenant_id,
        Field::OauthTenantId,
    );
    diff(
        old.oauth.client_secret_expires_on != new.oauth.client_secret_expires_on,
        Field::OauthSecretExpiresOn,
    );
    diff(old.oauth.flow != new.oauth.flow, Field::OauthFlow);
    diff(
        !old.oauth.sender.eq_ignore_ascii_case(&new.oauth.sender),
        Field::OauthSender,
    );
    diff(
        !old.oauth.send_as.eq_ignore_ascii_case(&new.oauth.send_as),
        Field::OauthSendAs,
    );
    diff(old.manager_root != new.manager_root, Field::ManagerRoot);
    diff(
        old.delivery.divert_to != new.delivery.divert_to,
        Field::DeliveryDivertTo,
    );
    diff(
        old.delivery.paused != new.delivery.paused,
        Field::DeliveryPaused,
    );
    fields
}

/// Advice that does not block saving: deprecated SMTP AUTH hosts and redirect URIs the
/// providers will refuse.
pub fn notices(s: &SettingsView, server_ip: Option<std::net::IpAddr>) -> Vec<Notice> {
    let mut out = Vec::new();
    if let Some(code) = host::deprecated_smtp_auth_host(&s.smtp.server) {
        out.push(Notice::new(Field::SmtpServer, code));
    }
    if let Ok(root) = ManagerRoot::parse(&s.manager_root) {
        for provider in [Provider::Microsoft, Provider::Google] {
            for code in root.redirect_check(provider, server_ip).problems() {
                out.push(Notice::for_provider(Field::ManagerRoot, code, provider));
            }
        }
    }
    out
}

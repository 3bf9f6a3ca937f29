//! Texts for error and notice codes, from the locale files. The REST API and the page use the
//! same texts.

use crate::domain::{ErrorCode, LimitError, NoticeCode, OauthCode, SendCode, StepName};
use crate::i18n::{Locale, td_string};

/// Why sending limits cannot be saved, and what to do.
pub fn limit_message(locale: Locale, code: LimitError) -> &'static str {
    match code {
        LimitError::LimitOutOfRange => td_string!(locale, err_limit_out_of_range),
        LimitError::CustomWithoutLimit => td_string!(locale, err_custom_without_limit),
    }
}

pub fn token_message(locale: Locale, code: crate::domain::TokenError) -> &'static str {
    use crate::domain::TokenError::*;
    match code {
        NameRequired => td_string!(locale, err_token_name_required),
        NameTooLong => td_string!(locale, err_token_name_too_long),
        NameControlCharacters => td_string!(locale, err_token_name_control),
        NameTaken => td_string!(locale, err_token_name_taken),
        ExpiryOutOfRange => td_string!(locale, err_token_expiry),
        NotFound => td_string!(locale, err_token_not_found),
    }
}

/// What is wrong and what to do, for an administrator.
pub fn error_message(locale: Locale, code: ErrorCode) -> &'static str {
    use ErrorCode::*;
    match code {
        ControlCharacters => td_string!(locale, err_control_characters),
        TooLong => td_string!(locale, err_too_long),
        MailboxRequired => td_string!(locale, err_mailbox_required),
        MailboxDisplayName => td_string!(locale, err_mailbox_display_name),
        MailboxMissingAt => td_string!(locale, err_mailbox_missing_at),
        MailboxLocalInvalid => td_string!(locale, err_mailbox_local_invalid),
        MailboxQuotedInvalid => td_string!(locale, err_mailbox_quoted_invalid),
        MailboxLocalTooLong => td_string!(locale, err_mailbox_local_too_long),
        MailboxDomainInvalid => td_string!(locale, err_mailbox_domain_invalid),
        MailboxDomainNotQualified => td_string!(locale, err_mailbox_domain_not_qualified),
        MailboxIpNeedsBrackets => td_string!(locale, err_mailbox_ip_needs_brackets),
        MailboxAddressLiteralInvalid => td_string!(locale, err_mailbox_address_literal_invalid),
        MailboxTooLong => td_string!(locale, err_mailbox_too_long),
        MailboxNonAscii => td_string!(locale, err_mailbox_non_ascii),
        ServerRequired => td_string!(locale, err_server_required),
        ServerHasScheme => td_string!(locale, err_server_has_scheme),
        ServerHasPort => td_string!(locale, err_server_has_port),
        ServerHasSpace => td_string!(locale, err_server_has_space),
        ServerInvalid => td_string!(locale, err_server_invalid),
        ServerTooLong => td_string!(locale, err_server_too_long),
        PortRequired => td_string!(locale, err_port_required),
        PortNotNumber => td_string!(locale, err_port_not_number),
        PortOutOfRange => td_string!(locale, err_port_out_of_range),
        Port465Unsupported => td_string!(locale, err_port_465_unsupported),
        Port587RequiresSsl => td_string!(locale, err_port_587_requires_ssl),
        Port25RequiresNoSsl => td_string!(locale, err_port_25_requires_no_ssl),
        PasswordRequired => td_string!(locale, err_password_required),
        ClientSecretRequired => td_string!(locale, err_client_secret_required),
        ClientIdRequired => td_string!(locale, err_client_id_required),
        MicrosoftClientIdInvalid => td_string!(locale, err_microsoft_client_id_invalid),
        TenantIdRequired => td_string!(locale, err_tenant_id_required),
        MicrosoftTenantIdInvalid => td_string!(locale, err_microsoft_tenant_id_invalid),
        GoogleClientIdInvalid => td_string!(locale, err_google_client_id_invalid),
        DateInvalid => td_string!(locale, err_date_invalid),
        AppOnlyMicrosoftOnly => td_string!(locale, err_app_only_microsoft_only),
        CertificateMicrosoftOnly => td_string!(locale, err_certificate_microsoft_only),
        CertificateRequired => td_string!(locale, err_certificate_required),
        CertificateInvalid => td_string!(locale, err_certificate_invalid),
        CertificateExpired => td_string!(locale, err_certificate_expired),
        CertificateKeyRequired => td_string!(locale, err_certificate_key_required),
        CertificateKeyInvalid => td_string!(locale, err_certificate_key_invalid),
        CertificateKeyEncrypted => td_string!(locale, err_certificate_key_encrypted),
        CertificateKeyMismatch => td_string!(locale, err_certificate_key_mismatch),
        PemTooLong => td_string!(locale, err_pem_too_long),
        SendAsDelegatedOnly => td_string!(locale, err_send_as_delegated_only),
        ManagerRootRequired => td_string!(locale, err_manager_root_required),
        ManagerRootScheme => td_string!(locale, err_manager_root_scheme),
        ManagerRootInvalid => td_string!(locale, err_manager_root_invalid),
        ManagerRootPlaceholderPosition => td_string!(locale, err_manager_root_placeholder_position),
        ManagerRootQueryFragment => td_string!(locale, err_manager_root_query_fragment),
        ManagerRootCredentials => td_string!(locale, err_manager_root_credentials),
        WebhookUrlRequired => td_string!(locale, err_webhook_url_required),
        WebhookUrlNotHttps => td_string!(locale, err_webhook_url_not_https),
        WebhookUrlInvalid => td_string!(locale, err_webhook_url_invalid),
        WebhookUrlCredentials => td_string!(locale, err_webhook_url_credentials),
        BackupNotSet => td_string!(locale, err_backup_not_set),
        BackupTestSavedOnly => td_string!(locale, err_backup_test_saved_only),
        InvalidJson => td_string!(locale, err_invalid_json),
        InvalidType => td_string!(locale, err_invalid_type),
        MissingField => td_string!(locale, err_missing_field),
        UnknownField => td_string!(locale, err_unknown_field),
        VersionConflict => td_string!(locale, err_version_conflict),
    }
}

/// Advice text for a notice code.
pub fn notice_message(locale: Locale, code: NoticeCode) -> &'static str {
    use NoticeCode::*;
    match code {
        SmtpAuthDeprecatedMicrosoft => td_string!(locale, notice_smtp_auth_deprecated_microsoft),
        SmtpAuthDeprecatedGoogle => td_string!(locale, notice_smtp_auth_deprecated_google),
        RedirectHttpsRequired => td_string!(locale, notice_redirect_https_required),
        RedirectIpNotAllowed => td_string!(locale, notice_redirect_ip_not_allowed),
        RedirectPrivateAddress => td_string!(locale, notice_redirect_private_address),
    }
}

/// What happened to an OAuth step and what to do, for an administrator.
pub fn oauth_message(locale: Locale, code: OauthCode) -> &'static str {
    use OauthCode::*;
    match code {
        Connected => td_string!(locale, oauth_connected_msg),
        TokenOk => td_string!(locale, oauth_token_ok_msg),
        Disconnected => td_string!(locale, oauth_disconnected_msg),
        Denied => td_string!(locale, oauth_denied_msg),
        StateInvalid => td_string!(locale, oauth_state_invalid_msg),
        StateExpired => td_string!(locale, oauth_state_expired_msg),
        SettingsChanged => td_string!(locale, oauth_settings_changed_msg),
        SettingsIncomplete => td_string!(locale, oauth_settings_incomplete_msg),
        RedirectUriMismatch => td_string!(locale, oauth_redirect_uri_mismatch_msg),
        WrongSecret => td_string!(locale, oauth_wrong_secret_msg),
        CertificateRejected => td_string!(locale, oauth_certificate_rejected_msg),
        SecretExpired => td_string!(locale, oauth_secret_expired_msg),
        ClientNotFound => td_string!(locale, oauth_client_not_found_msg),
        TenantNotFound => td_string!(locale, oauth_tenant_not_found_msg),
        ConsentMissing => td_string!(locale, oauth_consent_missing_msg),
        ScopeMissing => td_string!(locale, oauth_scope_missing_msg),
        SendAsNotVerified => td_string!(locale, oauth_send_as_not_verified_msg),
        NoRefreshToken => td_string!(locale, oauth_no_refresh_token_msg),
        AccountUnreadable => td_string!(locale, oauth_account_unreadable_msg),
        ReconnectNeeded => td_string!(locale, oauth_reconnect_needed_msg),
        ReconnectNeededTesting => td_string!(locale, oauth_reconnect_needed_testing_msg),
        AdminConsentGranted => td_string!(locale, oauth_admin_consent_granted_msg),
        PolicyBlocked => td_string!(locale, oauth_policy_blocked_msg),
        Unreachable => td_string!(locale, oauth_unreachable_msg),
        NotConnected => td_string!(locale, oauth_not_connected_msg),
        ProviderError => td_string!(locale, oauth_provider_error_msg),
    }
}

/// What an alert was about, in a few words.
pub fn alert_event_label(locale: Locale, event: crate::domain::AlertEvent) -> &'static str {
    use crate::domain::AlertEvent::*;
    match event {
        QueuePaused => td_string!(locale, alert_event_queue_paused),
        NotificationFailed => td_string!(locale, alert_event_notification_failed),
        OauthReconnect => td_string!(locale, alert_event_oauth_reconnect),
        SecretExpiring => td_string!(locale, alert_event_secret_expiring),
        BackupUsed => td_string!(locale, alert_event_backup_used),
        Test => td_string!(locale, alert_event_test),
    }
}

/// How an alert went.
pub fn alert_state_label(locale: Locale, state: crate::domain::AlertState) -> &'static str {
    use crate::domain::AlertState::*;
    match state {
        Delivered => td_string!(locale, alert_state_delivered),
        Retrying => td_string!(locale, alert_state_retrying),
        Failed => td_string!(locale, alert_state_failed),
    }
}

/// Why a delivery failed and what to do, for an administrator.
pub fn send_message(locale: Locale, code: SendCode) -> &'static str {
    use SendCode::*;
    match code {
        DnsFailed => td_string!(locale, send_dns_failed),
        ConnectionRefused => td_string!(locale, send_connection_refused),
        Timeout => td_string!(locale, send_timeout),
        StarttlsUnavailable => td_string!(locale, send_starttls_unavailable),
        CertificateInvalid => td_string!(locale, send_certificate_invalid),
        StarttlsRequired => td_string!(locale, send_starttls_required),
        AuthFailed => td_string!(locale, send_auth_failed),
        AppPasswordRequired => td_string!(locale, send_app_password_required),
        SmtpAuthDisabled => td_string!(locale, send_smtp_auth_disabled),
        BasicAuthBlocked => td_string!(locale, send_basic_auth_blocked),
        AuthUnsupported => td_string!(locale, send_auth_unsupported),
        AuthRequired => td_string!(locale, send_auth_required),
        SendAsDenied => td_string!(locale, send_send_as_denied),
        RelayDenied => td_string!(locale, send_relay_denied),
        Temporary => td_string!(locale, send_temporary),
        Rejected => td_string!(locale, send_rejected),
        GraphAccessDenied => td_string!(locale, send_graph_access_denied),
        GraphSendAsDenied => td_string!(locale, send_graph_send_as_denied),
        MailboxNotEnabled => td_string!(locale, send_mailbox_not_enabled),
        GmailInsufficientPermissions => td_string!(locale, send_gmail_insufficient_permissions),
        GmailNotEnabled => td_string!(locale, send_gmail_not_enabled),
        Throttled => td_string!(locale, send_throttled),
        ProviderUnavailable => td_string!(locale, send_provider_unavailable),
        TokenUnavailable => td_string!(locale, send_token_unavailable),
        RecipientInvalid => td_string!(locale, send_recipient_invalid),
        SettingsInvalid => td_string!(locale, send_settings_invalid),
        Other => td_string!(locale, send_other),
    }
}

/// The name of a delivery step.
pub fn step_label(locale: Locale, step: StepName) -> &'static str {
    match step {
        StepName::Resolve => td_string!(locale, step_resolve),
        StepName::Connect => td_string!(locale, step_connect),
        StepName::Starttls => td_string!(locale, step_starttls),
        StepName::Auth => td_string!(locale, step_auth),
        StepName::Envelope => td_string!(locale, step_envelope),
        StepName::Data => td_string!(locale, step_data),
        StepName::Token => td_string!(locale, step_token),
        StepName::ApiCall => td_string!(locale, step_api_call),
    }
}

/// An internal error, with the reference under which the server log has its details.
pub fn internal_message(locale: Locale, reference: &str) -> String {
    format!(
        "{} {}: {reference}",
        td_string!(locale, err_internal),
        td_string!(locale, reference)
    )
}

/// The locale for a request's `Accept-Language` header: English when it prefers English,
/// Japanese otherwise (the administrators' language).
pub fn locale_from_accept_language(header: Option<&str>) -> Locale {
    let Some(header) = header else {
        return Locale::ja;
    };
    let mut best: Option<(f32, Locale)> = None;
    for part in header.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let locale = if tag == "ja" || tag.starts_with("ja-") {
            Locale::ja
        } else if tag == "en" || tag.starts_with("en-") {
            Locale::en
        } else {
            continue;
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, locale));
        }
    }
    best.map(|(_, l)| l).unwrap_or(Locale::ja)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_both_texts() {
        // The match above is exhaustive; this checks the texts are really there and differ.
        for code in [
            ErrorCode::Port465Unsupported,
            ErrorCode::MailboxLocalInvalid,
        ] {
            let ja = error_message(Locale::ja, code);
            let en = error_message(Locale::en, code);
            assert!(!ja.is_empty() && !en.is_empty() && ja != en);
        }
        assert!(error_message(Locale::en, ErrorCode::Port465Unsupported).contains("587"));
        assert!(error_message(Locale::ja, ErrorCode::Port465Unsupported).contains("587"));
    }

    #[test]
    fn accept_language() {
        assert_eq!(locale_from_accept_language(None), Locale::ja);
        assert_eq!(
            locale_from_accept_language(Some("en-US,en;q=0.9")),
            Locale::en
        );
        assert_eq!(
            locale_from_accept_language(Some("fr, en;q=0.5, ja;q=0.8")),
            Locale::ja
        );
        assert_eq!(locale_from_accept_language(Some("de")), Locale::ja);
    }
}

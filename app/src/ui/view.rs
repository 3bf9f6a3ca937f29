//! The read-only settings page (`/System/MailSetting`).

use super::fields::{ManagerRootInfo, NoticeList, RedirectInfo, SetupSteps};
use super::islands::{ConnectionIsland, LimitsIsland, TestMailIsland};
use super::yielding::Defer;
use super::{Links, TabBar, provider_of, use_tab};
use crate::api::{AuditEntry, PageData};
use crate::domain::{AuthType, BackupView, Field, Provider, Tab, notices};
use crate::i18n::*;
use leptos::prelude::*;

#[component]
pub fn ViewSettings(page: PageData) -> impl IntoView {
    let i18n = use_i18n();
    let tab = use_tab(&page);
    let s = page.settings.clone();
    let in_use = s.selected_tab();
    let server_ip = page.server_ip;
    let all_notices = notices(&s, server_ip);
    // Just saved: the edit form came back here with `saved=1`.
    let saved = leptos_router::hooks::use_query_map().with_untracked(|q| q.get("saved").is_some());

    let links = Links::from_context();
    let value = move |v: String| {
        if v.is_empty() {
            view! { <span class="muted">{t!(i18n, empty_value)}</span> }.into_any()
        } else {
            view! { <span class="value">{v}</span> }.into_any()
        }
    };
    let secret = move |set: bool| {
        if set {
            view! { <span class="secret-state is-set">{t!(i18n, secret_set)}</span> }.into_any()
        } else {
            view! { <span class="secret-state">{t!(i18n, secret_not_set)}</span> }.into_any()
        }
    };

    let smtp = s.smtp.clone();
    let oauth = s.oauth.clone();
    let stored_provider = oauth.provider;
    let settings_for_panel = s.clone();
    let oauth_status = page.oauth.clone();
    let callback = super::connection::callback_code();
    let panel = move || {
        let t = tab.get();
        match t {
            Tab::Smtp => {
                let smtp = smtp.clone();
                let notes = all_notices
                    .iter()
                    .filter(|n| n.field == Field::SmtpServer)
                    .copied()
                    .collect::<Vec<_>>();
                view! {
                    <dl class="settings-list">
                        <dt>{t!(i18n, smtp_server)}</dt>
                        <dd id="view-smtp-server">{value(smtp.server.clone())}</dd>
                        <dt>{t!(i18n, smtp_port)}</dt>
                        <dd id="view-smtp-port">{value(smtp.port.map(|p| p.to_string()).unwrap_or_default())}</dd>
                        <dt>{t!(i18n, smtp_user)}</dt>
                        <dd id="view-smtp-user">{value(smtp.user.clone())}</dd>
                        <dt>{t!(i18n, smtp_password)}</dt>
                        <dd id="view-smtp-password">{secret(smtp.password_set)}</dd>
                        <dt>{t!(i18n, smtp_ssl)}</dt>
                        <dd id="view-smtp-ssl">
                            {if smtp.ssl {
                                t_string!(i18n, smtp_ssl_on)
                            } else {
                                t_string!(i18n, smtp_ssl_off)
                            }}
                        </dd>
                    </dl>
                    <NoticeList notices=notes />
                }
                .into_any()
            }
            Tab::Microsoft | Tab::Google => {
                let provider = provider_of(t).unwrap_or_default();
                // Only the selected provider's credentials are stored.
                let shown = (provider == stored_provider).then(|| oauth.clone());
                let root = settings_for_panel.manager_root.clone();
                view! {
                    <dl class="settings-list">
                        <dt>{t!(i18n, client_id)}</dt>
                        <dd id="view-oauth-client-id">
                            {value(shown.as_ref().map(|o| o.client_id.clone()).unwrap_or_default())}
                        </dd>
                        {match shown.as_ref().filter(|o| o.uses_certificate()) {
                            Some(o) => {
                                let cert = o.certificate.clone().unwrap_or_default();
                                view! {
                                    <dt>{t!(i18n, oauth_credential)}</dt>
                                    <dd id="view-oauth-credential">{t!(i18n, credential_certificate)}</dd>
                                    <dt>{t!(i18n, certificate_thumbprint)}</dt>
                                    <dd id="view-oauth-certificate-thumbprint"><code>{cert.thumbprint}</code></dd>
                                    <dt>{t!(i18n, certificate_expires_on)}</dt>
                                    <dd id="view-oauth-certificate-expires">{cert.expires_on}</dd>
                                    <dt>{t!(i18n, certificate_key)}</dt>
                                    <dd id="view-oauth-certificate-key">{secret(o.certificate_key_set)}</dd>
                                }
                                .into_any()
                            }
                            None => view! {
                                <dt>{t!(i18n, client_secret)}</dt>
                                <dd id="view-oauth-client-secret">
                                    {secret(shown.as_ref().is_some_and(|o| o.client_secret_set))}
                                </dd>
                            }
                            .into_any(),
                        }}
                        {shown
                            .as_ref()
                            .and_then(|o| o.send_as().map(str::to_string))
                            .map(|send_as| view! {
                                <dt>{t!(i18n, oauth_send_as)}</dt>
                                <dd id="view-oauth-send-as">{send_as}</dd>
                            })}
                        {(provider == Provider::Microsoft)
                            .then(|| {
                                view! {
                                    <dt>{t!(i18n, tenant_id)}</dt>
                                    <dd id="view-oauth-tenant-id">
                                        {value(shown.as_ref().map(|o| o.tenant_id.clone()).unwrap_or_default())}
                                    </dd>
                                    <dt>{t!(i18n, secret_expires_on)}</dt>
                                    <dd id="view-oauth-secret-expires-on">
                                        {value(shown.as_ref().map(|o| o.client_secret_expires_on.clone()).unwrap_or_default())}
                                    </dd>
                                }
                            })}
                    </dl>
                    <ConnectionIsland provider settings=settings_for_panel.clone() status=oauth_status.clone() callback />
                    <RedirectInfo provider manager_root=Signal::stored(root) server_ip copy_island=true />
                    <SetupSteps provider />
                }
                .into_any()
            }
        }
    };

    let auth_label = move || match s.auth {
        AuthType::Smtp => t_string!(i18n, auth_smtp).to_string(),
        AuthType::Oauth => format!(
            "{} — {}",
            t_string!(i18n, auth_oauth),
            match s.oauth.provider {
                Provider::Microsoft => t_string!(i18n, provider_microsoft),
                Provider::Google => t_string!(i18n, provider_google),
            }
        ),
    };
    let updated = page.settings.updated_at.clone();
    let alerts = page.settings.alerts.clone();

    view! {
        <div class="page-head">
            <h1>{t!(i18n, page_title)}</h1>
            <a href=move || links.page(true, tab.get()) class="button primary" id="edit-button">
                {t!(i18n, edit)}
            </a>
        </div>
        {saved.then(|| view! { <super::islands::SavedBanner /> })}
        {page.paused.clone().map(|p| {
            let code = p.code;
            view! {
                <div class="banner banner-error" role="alert" id="settings-queue-paused" data-code=code.as_str()>
                    <p><strong>{t!(i18n, log_paused)}</strong></p>
                    <p>{move || crate::messages::send_message(i18n.get_locale(), code)}</p>
                    <p><a href=links.log()>{t!(i18n, log_link)}</a></p>
                </div>
            }
        })}
        <p class="hint">{t!(i18n, view_hint)}</p>
        // Each card hydrates in a task of its own: one long task kept a slow phone from
        // answering taps for a third of a second.
        <Defer>
        <section class="card">
            <dl class="settings-list">
                <dt>{t!(i18n, auth_type)}</dt>
                <dd id="view-auth">{auth_label}</dd>
                <dt>{t!(i18n, log_failures_24h)}</dt>
                <dd id="view-failures-24h" data-count=page.failures_24h.to_string()>
                    {page.failures_24h} " "
                    <a href=links.log() id="log-link">{t!(i18n, log_link)}</a>
                    " · "
                    <a href=links.templates() id="templates-link">{t!(i18n, tpl_link)}</a>
                    " · "
                    <a href=links.tokens() id="tokens-link">{t!(i18n, tokens_link)}</a>
                </dd>
                <dt>{t!(i18n, view_alerts)}</dt>
                <dd id="view-alerts" data-enabled=alerts.enabled.to_string()>
                    {if alerts.enabled {
                        view! { <span>{t!(i18n, view_alerts_on)} " " {alerts.webhook_host}</span> }.into_any()
                    } else {
                        view! { <span class="muted">{t!(i18n, view_alerts_off)}</span> }.into_any()
                    }}
                </dd>
                <dt>{t!(i18n, backup_title)}</dt>
                <dd id="view-backup" data-on=s.backup.is_some().to_string()
                    data-kind=s.backup.as_ref().map(|b| match b {
                        BackupView::Smtp(_) => "smtp",
                        BackupView::Oauth(_) => "oauth",
                    })>
                    {match s.backup.as_ref() {
                        Some(BackupView::Smtp(smtp)) => view! {
                            <span>
                                {format!("{}:{} ({})", smtp.server, smtp.port.unwrap_or_default(), smtp.user)}
                            </span>
                        }
                        .into_any(),
                        Some(BackupView::Oauth(oauth)) => view! {
                            <span>
                                {t!(i18n, backup_kind_microsoft)} " " {oauth.sender.clone()}
                            </span>
                        }
                        .into_any(),
                        None => view! { <span class="muted">{t!(i18n, backup_none)}</span> }.into_any(),
                    }}
                </dd>
                {s.backup.is_some().then(|| {
                    let used = page.backup_last_used.clone();
                    let was_used = used.is_some().to_string();
                    view! {
                        <dt>{t!(i18n, backup_last_used)}</dt>
                        <dd id="view-backup-last-used" data-used=was_used>
                            {match used {
                                Some(u) => view! { <span>{u.at} " — " {u.reason}</span> }.into_any(),
                                None => view! { <span class="muted">{t!(i18n, backup_never_used)}</span> }.into_any(),
                            }}
                        </dd>
                    }
                })}
                {page.last_alert.clone().map(|last| {
                    let (event, state) = (last.event, last.state);
                    view! {
                        <dt>{t!(i18n, view_last_alert)}</dt>
                        <dd id="view-last-alert" data-event=event.as_str()
                            data-state=state.as_str()>
                            {move || crate::messages::alert_event_label(i18n.get_locale(), event)}
                            ", " {last.at} " — "
                            {move || crate::messages::alert_state_label(i18n.get_locale(), state)}
                            {last.error.map(|e| format!(" ({e})"))}
                        </dd>
                    }
                })}
                <dt>{t!(i18n, last_saved)}</dt>
                <dd>
                    {match updated {
                        Some(at) => view! { <span>{at}</span> }.into_any(),
                        None => view! { <span class="muted">{t!(i18n, never_saved)}</span> }.into_any(),
                    }}
                </dd>
            </dl>
        </section>
        </Defer>
        <Defer>
        <section class="card">
            <TabBar edit=false current=tab in_use=Signal::stored(in_use) />
            <div class="tab-panel" id="tab-panel" role="tabpanel" data-panel=move || tab.get().as_str()>
                {panel}
            </div>
        </section>
        </Defer>
        <Defer>
        <section class="card">
            <ManagerRootInfo manager_root=Signal::stored(page.settings.manager_root.clone()) server_ip />
        </section>
        </Defer>
        <LimitsIsland meter=page.quota.clone() />
        <TestMailIsland backup=page.settings.backup.is_some() />
        <Defer>
        <section class="card" aria-labelledby="export-title">
            <h2 id="export-title">{t!(i18n, export_title)}</h2>
            <p class="hint">{t!(i18n, export_help)}</p>
            // A file download, not a page: `rel="external"` keeps the router's hands off.
            <a
                class="button"
                id="export-link"
                rel="external"
                download=""
                href=links.export()
            >
                {t!(i18n, export_button)}
            </a>
        </section>
        </Defer>
        <Defer><AuditLog entries=page.audit.clone() /></Defer>
    }
}

/// The newest audit log entries: who signed in, saved (which fields), created tokens …
#[component]
fn AuditLog(entries: Vec<AuditEntry>) -> impl IntoView {
    let i18n = use_i18n();
    let action_label = move |action: &str| match action {
        "settings.save" => t_string!(i18n, audit_settings_save).to_string(),
        "settings.export" => t_string!(i18n, audit_settings_export).to_string(),
        "login" => t_string!(i18n, audit_login).to_string(),
        "login_failed" => t_string!(i18n, audit_login_failed).to_string(),
        "login_throttled" => t_string!(i18n, audit_login_throttled).to_string(),
        "logout" => t_string!(i18n, audit_logout).to_string(),
        "admin_created" => t_string!(i18n, audit_admin_created).to_string(),
        "admin_password_set" => t_string!(i18n, audit_admin_password_set).to_string(),
        "token_created" => t_string!(i18n, audit_token_created).to_string(),
        "token_revoked" => t_string!(i18n, audit_token_revoked).to_string(),
        "key_rotated" => t_string!(i18n, audit_key_rotated).to_string(),
        "oauth.connected" => t_string!(i18n, audit_oauth_connected).to_string(),
        "oauth.disconnected" => t_string!(i18n, audit_oauth_disconnected).to_string(),
        "oauth.connect_failed" => t_string!(i18n, audit_oauth_connect_failed).to_string(),
        "oauth.checked" => t_string!(i18n, audit_oauth_checked).to_string(),
        "mail.test" => t_string!(i18n, audit_mail_test).to_string(),
        "mail.retry" => t_string!(i18n, audit_mail_retry).to_string(),
        "mail.cancel" => t_string!(i18n, audit_mail_cancel).to_string(),
        "mail.resume" => t_string!(i18n, audit_mail_resume).to_string(),
        "mail.paused" => t_string!(i18n, audit_mail_paused).to_string(),
        "template.save" => t_string!(i18n, audit_template_save).to_string(),
        "limits.save" => t_string!(i18n, limits_title).to_string(),
        other => other.to_string(),
    };
    view! {
        <section class="card" aria-labelledby="audit-title">
            <h2 id="audit-title">{t!(i18n, audit_title)}</h2>
            {if entries.is_empty() {
                view! { <p class="muted">{t!(i18n, audit_empty)}</p> }.into_any()
            } else {
                view! {
                    <table class="audit" id="audit-log">
                        <thead>
                            <tr>
                                <th scope="col">{t!(i18n, audit_at)}</th>
                                <th scope="col">{t!(i18n, audit_actor)}</th>
                                <th scope="col">{t!(i18n, audit_action)}</th>
                                <th scope="col">{t!(i18n, audit_detail)}</th>
                            </tr>
                        </thead>
                        <tbody>
                            {entries
                                .into_iter()
                                .map(|e| {
                                    let action = e.action.clone();
                                    view! {
                                        <tr data-action=e.action.clone()>
                                            <td><time datetime=e.at.clone()>{e.at.replace('T', " ").replace('Z', " UTC")}</time></td>
                                            <td>{e.actor}</td>
                                            <td>{move || action_label(&action)}</td>
                                            <td class="audit-detail">{e.detail.replace(',', ", ")}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
    }
}

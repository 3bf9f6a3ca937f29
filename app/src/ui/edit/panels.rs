//! The SMTP panel and the OAuth panels (Microsoft, Google) of the edit form.

use super::{Draft, imported};
use crate::domain::{ErrorCode, Field, NoticeCode, OauthCredential, Provider, SettingsView};
use crate::i18n::*;
use crate::ui::fields::{
    Choice, FormState, NoticeList, OauthScope, RadioGroup, RedirectInfo, SecretField, SetupSteps,
    TextField,
};
use leptos::prelude::*;

#[component]
pub(super) fn SmtpForm(
    draft: Draft,
    stored: StoredValue<SettingsView>,
    live_notices: Memo<Vec<crate::domain::Notice>>,
    /// Switches to Microsoft OAuth (the SMTP block, sender included, is kept).
    move_to_microsoft: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let form = expect_context::<FormState>();
    let smtp_notices = Signal::derive(move || {
        live_notices.with(|n| {
            n.iter()
                .filter(|n| n.field == Field::SmtpServer)
                .copied()
                .collect::<Vec<_>>()
        })
    });
    // The stored password is kept only for the same server, port, SSL and user (see
    // `domain::same_smtp_target`); once any of them changes it must be typed again.
    let password_stored = Signal::derive(move || {
        !imported()
            && stored.with_value(|s| {
                let (input, _) = draft.to_input(s.version);
                let merged = crate::domain::merge(s, &input);
                s.smtp.password_set && crate::domain::same_smtp_target(&s.smtp, &merged.smtp)
            })
    });
    let ssl_error = move || form.error_for(Field::SmtpSsl, None);
    // The fix for a port / SSL mismatch is one click away.
    let fix_ssl = move |_| {
        match ssl_error() {
            Some(ErrorCode::Port587RequiresSsl) => draft.smtp_ssl.set(true),
            Some(ErrorCode::Port25RequiresNoSsl) => draft.smtp_ssl.set(false),
            _ => {}
        }
        form.touch(Field::SmtpSsl);
    };
    view! {
        <p class="hint">{t!(i18n, smtp_only_auth_note)}</p>
        <TextField
            id="smtp-server"
            field=Field::SmtpServer
            label=Signal::derive(move || t_string!(i18n, smtp_server))
            help=Signal::derive(move || t_string!(i18n, smtp_server_help))
            value=draft.smtp_server
            placeholder="smtp.example.co.jp"
        />
        <NoticeList notices=smtp_notices />
        <Show when=move || smtp_notices.with(|n| n.iter().any(|n| n.code == NoticeCode::SmtpAuthDeprecatedMicrosoft))>
            <div class="move-to-oauth">
                <button type="button" class="button small" id="move-to-microsoft"
                    aria-describedby="move-to-microsoft-help"
                    on:click=move |_| move_to_microsoft.run(())>
                    {t!(i18n, smtp_move_to_microsoft)}
                </button>
                <p class="hint" id="move-to-microsoft-help">{t!(i18n, smtp_move_to_microsoft_help)}</p>
            </div>
        </Show>
        <TextField
            id="smtp-port"
            field=Field::SmtpPort
            label=Signal::derive(move || t_string!(i18n, smtp_port))
            help=Signal::derive(move || t_string!(i18n, smtp_port_help))
            value=draft.smtp_port
            inputmode="numeric"
        />
        <div class="field checkbox-field" class:has-error=move || ssl_error().is_some()>
            <label>
                <input
                    type="checkbox"
                    id="smtp-ssl"
                    name="smtp.ssl"
                    prop:checked=move || draft.smtp_ssl.get()
                    on:change=move |ev| {
                        draft.smtp_ssl.set(event_target_checked(&ev));
                        form.touch(Field::SmtpSsl);
                    }
                    aria-describedby="smtp-ssl-error smtp-ssl-plain-note"
                />
                {t!(i18n, smtp_ssl)}
            </label>
            <Show when=move || !draft.smtp_ssl.get()>
                <p class="hint" id="smtp-ssl-plain-note">{t!(i18n, smtp_ssl_off_note)}</p>
            </Show>
            <crate::ui::fields::ErrorText id="smtp-ssl-error".to_string() field=Field::SmtpSsl />
            <Show when=move || ssl_error().is_some_and(|c| matches!(c, ErrorCode::Port587RequiresSsl | ErrorCode::Port25RequiresNoSsl))>
                <button type="button" class="button small" id="fix-ssl" on:click=fix_ssl>
                    {move || match ssl_error() {
                        Some(ErrorCode::Port587RequiresSsl) => format!("SSL: {}", t_string!(i18n, smtp_ssl_on)),
                        _ => format!("SSL: {}", t_string!(i18n, smtp_ssl_off)),
                    }}
                </button>
            </Show>
        </div>
        <TextField
            id="smtp-user"
            field=Field::SmtpUser
            label=Signal::derive(move || t_string!(i18n, smtp_user))
            help=Signal::derive(move || t_string!(i18n, smtp_user_help))
            value=draft.smtp_user
            input_type="email"
            autocomplete="email"
            placeholder="notice@example.co.jp"
        />
        <SecretField
            id="smtp-password"
            field=Field::SmtpPassword
            label=Signal::derive(move || t_string!(i18n, smtp_password))
            stored=password_stored
            value=draft.smtp_password
        />
    }
}

/// The OAuth fields of one provider. Both providers share the `oauth.*` fields, so their
/// errors show only on the form of the provider that is selected.
#[component]
pub(super) fn OauthForm(
    provider: Provider,
    draft: Draft,
    stored: StoredValue<SettingsView>,
    server_ip: Option<std::net::IpAddr>,
) -> impl IntoView {
    let i18n = use_i18n();
    provide_context(OauthScope(provider));
    let fields = draft.oauth(provider);
    // The stored secret is kept only for the same app (client ID and tenant, see
    // `domain::same_oauth_client`); once either changes it must be typed again.
    let secret_stored = Signal::derive(move || {
        !imported()
            && stored.with_value(|s| {
                s.oauth.provider == provider
                    && s.oauth.client_secret_set
                    && s.oauth.client_id == fields.client_id.get().trim()
                    && s.oauth
                        .tenant_id
                        .eq_ignore_ascii_case(fields.tenant_id.get().trim())
            })
    });
    let ms = provider == Provider::Microsoft;
    let (client_id_id, secret_id) = match provider {
        Provider::Microsoft => ("ms-client-id", "ms-client-secret"),
        Provider::Google => ("google-client-id", "google-client-secret"),
    };
    view! {
        <Show when=move || draft.provider.get() != provider>
            <p class="hint">{t!(i18n, other_provider_note)}</p>
        </Show>
        <TextField
            id=client_id_id
            field=Field::OauthClientId
            label=Signal::derive(move || t_string!(i18n, client_id))
            help=Signal::derive(move || {
                if ms { t_string!(i18n, ms_client_id_help) } else { t_string!(i18n, google_client_id_help) }
            })
            value=fields.client_id
            placeholder=if ms { "00000000-0000-0000-0000-000000000000" } else { "1234567890-abc.apps.googleusercontent.com" }
        />
        {ms.then(|| view! { <CredentialChoice fields /> })}
        <Show when=move || !ms || fields.credential.get() == OauthCredential::Secret>
            <SecretField
                id=secret_id
                field=Field::OauthClientSecret
                label=Signal::derive(move || t_string!(i18n, client_secret))
                help=Signal::derive(move || if ms { t_string!(i18n, ms_secret_help) } else { "" })
                stored=secret_stored
                value=fields.secret
            />
        </Show>
        {ms.then(|| view! { <CertificateFields fields stored /> })}
        {ms.then(|| view! { <FlowChoice fields /> })}
        {ms.then(|| view! {
            <TextField
                id="ms-tenant-id"
                field=Field::OauthTenantId
                label=Signal::derive(move || t_string!(i18n, tenant_id))
                help=Signal::derive(move || t_string!(i18n, ms_tenant_help))
                value=fields.tenant_id
                placeholder="contoso.onmicrosoft.com"
            />
            <Show when=move || fields.credential.get() == OauthCredential::Secret>
                <TextField
                    id="ms-secret-expires-on"
                    field=Field::OauthSecretExpiresOn
                    label=Signal::derive(move || t_string!(i18n, secret_expires_on))
                    help=Signal::derive(move || t_string!(i18n, secret_expires_on_help))
                    value=fields.secret_expires_on
                    placeholder="2027-05-31"
                />
            </Show>
        })}
        <Show when=move || !ms || fields.flow.get() == crate::domain::OauthFlow::Delegated>
            <TextField
                id=if ms { "ms-send-as" } else { "google-send-as" }
                field=Field::OauthSendAs
                label=Signal::derive(move || t_string!(i18n, oauth_send_as))
                help=Signal::derive(move || {
                    if ms { t_string!(i18n, oauth_send_as_help_ms) } else { t_string!(i18n, oauth_send_as_help_google) }
                })
                value=fields.send_as
                input_type="email"
                placeholder=if ms { "notice@contoso.com" } else { "notice@example.co.jp" }
            />
        </Show>
        <p class="hint">
            {(!ms).then(|| view! { {t!(i18n, google_sender_note)} " " })}
            {t!(i18n, oauth_connect_later)}
        </p>
        <RedirectInfo provider manager_root=draft.manager_root server_ip />
        <SetupSteps provider />
    }
}

/// Microsoft: whether a user consents (delegated) or the app sends as one mailbox on its own
/// (app-only), with the mailbox for app-only and what the tenant must grant.
#[component]
fn FlowChoice(fields: super::OauthDraft) -> impl IntoView {
    use crate::domain::OauthFlow;
    let i18n = use_i18n();
    let app_only = move || fields.flow.get() == OauthFlow::AppOnly;
    let choices = vec![
        Choice {
            value: OauthFlow::Delegated,
            id: "ms-flow-delegated",
            form_value: OauthFlow::Delegated.as_str(),
            label: Signal::derive(move || t_string!(i18n, oauth_flow_delegated)),
        },
        Choice {
            value: OauthFlow::AppOnly,
            id: "ms-flow-app-only",
            form_value: OauthFlow::AppOnly.as_str(),
            label: Signal::derive(move || t_string!(i18n, oauth_flow_app_only)),
        },
    ];
    view! {
        <RadioGroup
            id="ms-flow"
            name="oauth.flow"
            field=Field::OauthFlow
            legend=Signal::derive(move || t_string!(i18n, oauth_flow))
            help=Signal::derive(move || t_string!(i18n, oauth_flow_help))
            selected=fields.flow
            choices
        />
        <Show when=app_only>
            <TextField
                id="ms-sender"
                field=Field::OauthSender
                label=Signal::derive(move || t_string!(i18n, oauth_sender))
                help=Signal::derive(move || t_string!(i18n, oauth_sender_help))
                value=fields.sender
                input_type="email"
                placeholder="notice@contoso.com"
            />
            <div class="hint" id="ms-app-only-steps">
                <p>{t!(i18n, app_only_steps_title)}</p>
                <ol>
                    <li>{t!(i18n, app_only_step_permission)}</li>
                    <li>{t!(i18n, app_only_step_restrict)}</li>
                    <li>{t!(i18n, app_only_step_no_connect)}</li>
                </ol>
            </div>
        </Show>
    }
}

/// Microsoft: a client secret or a certificate proves the app at the token endpoint.
#[component]
fn CredentialChoice(fields: super::OauthDraft) -> impl IntoView {
    let i18n = use_i18n();
    let choices = vec![
        Choice {
            value: OauthCredential::Secret,
            id: "ms-credential-secret",
            form_value: OauthCredential::Secret.as_str(),
            label: Signal::derive(move || t_string!(i18n, credential_secret)),
        },
        Choice {
            value: OauthCredential::Certificate,
            id: "ms-credential-certificate",
            form_value: OauthCredential::Certificate.as_str(),
            label: Signal::derive(move || t_string!(i18n, credential_certificate)),
        },
    ];
    view! {
        <RadioGroup
            id="ms-credential"
            name="oauth.credential"
            field=Field::OauthCredential
            legend=Signal::derive(move || t_string!(i18n, oauth_credential))
            help=Signal::derive(move || t_string!(i18n, credential_help))
            selected=fields.credential
            choices
        />
    }
}

/// Microsoft, credential `certificate`: the certificate (public; the saved one's thumbprint,
/// subject and expiry are shown) and its private key (write-only), each pasted or read from a
/// file.
#[component]
fn CertificateFields(
    fields: super::OauthDraft,
    stored: StoredValue<SettingsView>,
) -> impl IntoView {
    let i18n = use_i18n();
    let saved = stored.with_value(|s| {
        (s.oauth.provider == Provider::Microsoft)
            .then(|| s.oauth.certificate.clone())
            .flatten()
    });
    // The saved key counts only for the same app (see `domain::same_oauth_client`).
    let key_stored = Signal::derive(move || {
        !super::imported()
            && stored.with_value(|s| {
                s.oauth.provider == Provider::Microsoft
                    && s.oauth.certificate_key_set
                    && s.oauth.client_id == fields.client_id.get().trim()
                    && s.oauth
                        .tenant_id
                        .eq_ignore_ascii_case(fields.tenant_id.get().trim())
            })
    });
    let has_saved = saved.is_some();
    let saved_view = move || {
        saved.clone().map(|c| {
            view! {
                <dl class="certificate-info" id="ms-certificate-saved">
                    <dt>{t!(i18n, certificate_thumbprint)}</dt>
                    <dd id="ms-certificate-thumbprint"><code>{c.thumbprint}</code></dd>
                    <dt>{t!(i18n, certificate_subject)}</dt>
                    <dd>{c.subject}</dd>
                    <dt>{t!(i18n, certificate_expires_on)}</dt>
                    <dd id="ms-certificate-expires">{c.expires_on}</dd>
                </dl>
            }
        })
    };
    view! {
        <Show when=move || fields.credential.get() == OauthCredential::Certificate>
            <PemField
                id="ms-certificate"
                field=Field::OauthCertificate
                label=Signal::derive(move || t_string!(i18n, certificate_pem))
                help=Signal::derive(move || t_string!(i18n, certificate_pem_help))
                value=fields.certificate
                stored=Signal::derive(move || has_saved && !super::imported())
                secret=false
            />
            {saved_view.clone()}
            <PemField
                id="ms-certificate-key"
                field=Field::OauthCertificateKey
                label=Signal::derive(move || t_string!(i18n, certificate_key))
                help=Signal::derive(move || t_string!(i18n, certificate_key_help))
                value=fields.certificate_key
                stored=key_stored
                secret=true
            />
        </Show>
    }
}

/// A PEM text: pasted into the box or read from a chosen file. A stored value is never shown
/// (a key is secret; a certificate is summarised beside it); typing replaces it.
#[component]
fn PemField(
    id: &'static str,
    field: Field,
    #[prop(into)] label: Signal<&'static str>,
    #[prop(into)] help: Signal<&'static str>,
    value: RwSignal<String>,
    /// Whether the server holds one.
    #[prop(into)]
    stored: Signal<bool>,
    /// A private key: no spell check, no autofill, and the saved state says "Set".
    secret: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let form = expect_context::<FormState>();
    let scope = use_context::<crate::ui::fields::OauthScope>();
    let invalid = move || form.error_for(field, scope).is_some();
    let error_id = format!("{id}-error");
    let help_id = format!("{id}-help");
    let status_id = format!("{id}-status");
    let described = format!("{status_id} {help_id} {error_id}");
    let on_file = move |ev: leptos::ev::Event| {
        // A file that is not text reads as nothing; the rules then say what is wrong.
        super::read_chosen_file(&ev, move |text| {
            value.set(text.unwrap_or_default());
            form.touch(field);
        });
    };
    view! {
        <div class="field pem-field" class:has-error=invalid>
            <label for=id>{label}</label>
            <span class="secret-state" class:is-set=move || stored.get() id=status_id>
                {move || match (stored.get(), secret) {
                    (true, true) => t_string!(i18n, secret_set),
                    (true, false) => t_string!(i18n, certificate_saved),
                    (false, _) => t_string!(i18n, secret_not_set),
                }}
            </span>
            <textarea
                id=id
                name=field.as_str()
                rows="4"
                spellcheck="false"
                autocomplete="off"
                class="pem"
                placeholder=move || {
                    if stored.get() {
                        if secret { t_string!(i18n, secret_new_placeholder) } else { t_string!(i18n, certificate_replace_placeholder) }
                    } else if secret {
                        "-----BEGIN PRIVATE KEY-----"
                    } else {
                        "-----BEGIN CERTIFICATE-----"
                    }
                }
                prop:value=move || value.get()
                on:input=move |ev| {
                    value.set(event_target_value(&ev));
                    form.touch(field);
                }
                on:blur=move |_| form.touch(field)
                aria-invalid=move || invalid().to_string()
                aria-describedby=described
            ></textarea>
            <label class="file-choice">
                {t!(i18n, certificate_choose_file)}
                <input
                    type="file"
                    id=format!("{id}-file")
                    accept=".pem,.crt,.cer,.key,.txt"
                    on:change=on_file
                />
            </label>
            <p class="help" id=help_id>{help}</p>
            <crate::ui::fields::ErrorText id=error_id field />
        </div>
    }
}

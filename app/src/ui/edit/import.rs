//! Importing an exported settings file into the form (never saved until Save).

use super::{BackupKind, Draft, ImportOutcome};
use crate::domain::{BackupInput, ImportError, SettingsInput, Tab, parse_export};
use crate::i18n::*;
use crate::ui::Links;
use leptos::prelude::*;

impl Draft {
    /// Fills the form from an imported file. Secrets are not in files: they are cleared, and
    /// the form asks for them.
    fn load(self, s: &SettingsInput) {
        self.auth.set(s.auth);
        if let Some(smtp) = &s.smtp {
            self.smtp_server.set(smtp.server.clone());
            self.smtp_port
                .set(smtp.port.map(|p| p.to_string()).unwrap_or_default());
            self.smtp_user.set(smtp.user.clone());
            self.smtp_ssl.set(smtp.ssl);
        }
        self.smtp_password.set(String::new());
        if let Some(o) = &s.oauth {
            self.provider.set(o.provider);
            let d = self.oauth(o.provider);
            d.client_id.set(o.client_id.clone());
            d.tenant_id.set(o.tenant_id.clone());
            d.secret_expires_on.set(o.client_secret_expires_on.clone());
            d.flow.set(o.flow);
            d.sender.set(o.sender.clone());
            d.credential.set(o.credential);
            d.send_as.set(o.send_as.clone());
        }
        for d in [self.microsoft, self.google] {
            d.secret.set(String::new());
            d.certificate.set(String::new());
            d.certificate_key.set(String::new());
        }
        self.manager_root.set(s.manager_root.clone());
        if let Some(backup) = &s.backup {
            let b = self.backup;
            b.on.set(backup.is_some());
            match backup {
                Some(BackupInput::Smtp(smtp)) => {
                    b.kind.set(BackupKind::Smtp);
                    b.server.set(smtp.server.clone());
                    b.port
                        .set(smtp.port.map(|p| p.to_string()).unwrap_or_default());
                    b.user.set(smtp.user.clone());
                    b.ssl.set(smtp.ssl);
                }
                Some(BackupInput::Oauth(oauth)) => {
                    b.kind.set(BackupKind::Microsoft);
                    b.tenant_id.set(oauth.tenant_id.clone());
                    b.client_id.set(oauth.client_id.clone());
                    b.secret_expires_on
                        .set(oauth.client_secret_expires_on.clone());
                    b.sender.set(oauth.sender.clone());
                }
                None => {}
            }
        }
        self.backup.password.set(String::new());
        self.backup.secret.set(String::new());
    }
}

/// Loads an export file into the form (nothing is saved until Save).
#[component]
pub(super) fn ImportFile(draft: Draft, imported: RwSignal<bool>) -> impl IntoView {
    let i18n = use_i18n();
    let outcome = RwSignal::new(None::<ImportOutcome>);
    let links = Links::from_context();
    let shown_tab = use_context::<super::EditTab>();
    let apply = move |text: String| match parse_export(&text) {
        Ok(settings) => {
            draft.load(&settings);
            imported.set(true);
            outcome.set(Some(ImportOutcome::Loaded));
            let tab = Tab::for_settings(settings.auth, draft.provider.get_untracked());
            if let Some(shown_tab) = shown_tab {
                shown_tab.show(links, tab);
            }
        }
        Err(e) => outcome.set(Some(ImportOutcome::Refused(e))),
    };
    let on_change = move |ev: leptos::ev::Event| {
        super::read_chosen_file(&ev, move |text| match text {
            Some(text) => apply(text),
            None => outcome.set(Some(ImportOutcome::Refused(ImportError::NotJson))),
        });
    };
    let message = move || {
        outcome.get().map(|o| match o {
            ImportOutcome::Loaded => view! {
                <div class="banner banner-info" role="status" id="import-done">
                    <p>{t!(i18n, import_done)}</p>
                </div>
            }
            .into_any(),
            ImportOutcome::Refused(e) => {
                let text = match e {
                    ImportError::NotJson => t_string!(i18n, import_err_not_json),
                    ImportError::NotAnExport => t_string!(i18n, import_err_not_export),
                    ImportError::UnsupportedVersion => t_string!(i18n, import_err_version),
                };
                view! {
                    <div class="banner banner-error" role="alert" id="import-problem">
                        <p>{text}</p>
                    </div>
                }
                .into_any()
            }
        })
    };
    view! {
        <section class="card" aria-labelledby="import-title">
            <h2 id="import-title">{t!(i18n, import_title)}</h2>
            <p class="hint" id="import-help">{t!(i18n, import_help)}</p>
            <label for="import-file">{t!(i18n, import_choose)}</label>
            <input
                id="import-file"
                type="file"
                accept="application/json,.json"
                aria-describedby="import-help"
                on:change=on_change
            />
            {message}
        </section>
    }
}

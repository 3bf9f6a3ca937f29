//! "Send test mail": sends now and shows every step, ok / failed / skipped with its timing, and
//! for a failure the server's reply and what to do.

use crate::api::{ApiError, send_test_mail};
use crate::domain::{DeliveryReport, SettingsInput, StepStatus, TestMailRequest};
use crate::i18n::*;
use crate::messages::{send_message, step_label};
use leptos::prelude::*;

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Report(DeliveryReport),
    Invalid,
    Failed,
}

/// `edited`: the settings as typed on the edit page (tested before they are saved); `None` on
/// the view page (the saved settings). `backup`: a backup connection is saved, and the view
/// page offers to send through it.
#[component]
pub fn TestMail(
    #[prop(optional)] edited: Option<Callback<(), SettingsInput>>,
    #[prop(optional)] backup: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let to = RwSignal::new(String::new());
    let through_backup = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Outcome>);
    let send = Action::new(move |request: &TestMailRequest| {
        let request = request.clone();
        async move { send_test_mail(request).await }
    });
    let pending = send.pending();
    Effect::new(move |_| {
        if let Some(result) = send.value().get() {
            outcome.set(Some(match result {
                Ok(report) => Outcome::Report(report),
                Err(ApiError::Invalid(_)) => Outcome::Invalid,
                Err(_) => Outcome::Failed,
            }));
        }
    });
    let on_send = move |_| {
        // One at a time: the button is disabled while a test runs, and this guards the rest.
        if pending.get_untracked() {
            return;
        }
        outcome.set(None);
        send.dispatch(TestMailRequest {
            to: to.get_untracked().trim().to_string(),
            settings: edited.map(|f| f.run(())),
            backup: backup && through_backup.get_untracked(),
        });
    };

    let result = move || {
        outcome.get().map(|o| match o {
            Outcome::Invalid => view! {
                <div class="banner banner-error" role="alert" id="test-result" data-ok="false">
                    <p>{t!(i18n, test_invalid)}</p>
                </div>
            }
            .into_any(),
            Outcome::Failed => view! {
                <div class="banner banner-error" role="alert" id="test-result" data-ok="false">
                    <p>{t!(i18n, test_request_failed)}</p>
                </div>
            }
            .into_any(),
            Outcome::Report(report) => {
                let ok = report.ok;
                let steps = report
                    .steps
                    .into_iter()
                    .map(|s| {
                        let status = match s.status {
                            StepStatus::Ok => "ok",
                            StepStatus::Failed => "failed",
                            StepStatus::Skipped => "skipped",
                        };
                        let status_text = move || match s.status {
                            StepStatus::Ok => t_string!(i18n, test_step_ok),
                            StepStatus::Failed => t_string!(i18n, test_step_failed),
                            StepStatus::Skipped => t_string!(i18n, test_step_skipped),
                        };
                        let name = s.name;
                        view! {
                            <li data-step=name.as_str() data-status=status class=format!("step step-{status}")>
                                <span class="step-name">{move || step_label(i18n.get_locale(), name)}</span>
                                <span class="step-status">{status_text}</span>
                                <span class="step-time">{format!("{} ms", s.millis)}</span>
                                {(!s.detail.is_empty()).then(|| view! { <code class="step-detail">{s.detail.clone()}</code> })}
                            </li>
                        }
                    })
                    .collect_view();
                let failure = report.failure.map(|f| {
                    let code = f.code;
                    view! {
                        <div class="failure" id="test-failure" data-code=code.as_str()>
                            <p>{move || send_message(i18n.get_locale(), code)}</p>
                            {(!f.reply.is_empty()).then(|| view! {
                                <p class="reference">{t!(i18n, test_reply)} ": " <code>{f.reply.clone()}</code></p>
                            })}
                            {f.retryable.then(|| view! { <p class="hint">{t!(i18n, test_retryable)}</p> })}
                        </div>
                    }
                });
                view! {
                    <div
                        class=if ok { "banner banner-ok test-result" } else { "banner banner-error test-result" }
                        role=if ok { "status" } else { "alert" }
                        id="test-result"
                        data-ok=ok.to_string()
                    >
                        <p class="test-summary">
                            {move || if ok { t_string!(i18n, test_ok) } else { t_string!(i18n, test_failed) }}
                            " " <span class="muted">{format!("{} → {}", report.from, report.to)}</span>
                        </p>
                        <ol class="steps">{steps}</ol>
                        {failure}
                    </div>
                }
                .into_any()
            }
        })
    };

    view! {
        <section class="card" aria-labelledby="test-title">
            <h2 id="test-title">{t!(i18n, test_title)}</h2>
            <p class="hint">
                {t!(i18n, test_help)}
                {edited.is_some().then(|| view! { " " {t!(i18n, test_help_edit)} })}
            </p>
            <div class="field">
                <label for="test-to">{t!(i18n, test_to)}</label>
                <input
                    id="test-to"
                    type="email"
                    autocomplete="email"
                    aria-describedby="test-to-help"
                    prop:value=move || to.get()
                    on:input=move |ev| to.set(event_target_value(&ev))
                    // Inside the edit form, Enter must not save the settings.
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" {
                            ev.prevent_default();
                        }
                    }
                />
                <p class="help" id="test-to-help">{t!(i18n, test_to_help)}</p>
            </div>
            {backup.then(|| view! {
                <div class="field checkbox-field">
                    <label>
                        <input
                            type="checkbox"
                            id="test-backup"
                            aria-describedby="test-backup-help"
                            prop:checked=move || through_backup.get()
                            on:change=move |ev| through_backup.set(event_target_checked(&ev))
                        />
                        {t!(i18n, test_through_backup)}
                    </label>
                    <p class="help" id="test-backup-help">{t!(i18n, test_through_backup_help)}</p>
                </div>
            })}
            <button
                type="button"
                class="button"
                id="test-send"
                disabled=move || pending.get()
                aria-busy=move || pending.get().to_string()
                on:click=on_send
            >
                {move || if pending.get() { t_string!(i18n, test_sending) } else { t_string!(i18n, test_send) }}
            </button>
            <div aria-live="polite">{result}</div>
        </section>
    }
}

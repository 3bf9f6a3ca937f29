//! The sending limits of the connection in use, on the settings page: how much of each limit
//! the rolling windows used, the mail waiting for them, and a form to change them.

use crate::api::{ApiError, save_sending_limits};
use crate::domain::{LimitError, LimitNumbers, LimitPreset, QuotaMeter, SendingLimits};
use crate::i18n::*;
use crate::messages::limit_message;
use leptos::prelude::*;

fn preset_label(locale: Locale, preset: LimitPreset) -> &'static str {
    match preset {
        LimitPreset::Automatic => td_string!(locale, limits_preset_automatic),
        LimitPreset::ExchangeOnline => td_string!(locale, limits_preset_exchange_online),
        LimitPreset::MicrosoftGraph => td_string!(locale, limits_preset_microsoft_graph),
        LimitPreset::Gmail => td_string!(locale, limits_preset_gmail),
        LimitPreset::Custom => td_string!(locale, limits_preset_custom),
        LimitPreset::Unlimited => td_string!(locale, limits_preset_unlimited),
    }
}

/// A typed limit: empty is no limit; anything but a whole number is out of range.
fn parse_limit(text: &str) -> Result<Option<i64>, LimitError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i64>()
        .map(Some)
        .map_err(|_| LimitError::LimitOutOfRange)
}

fn number_text(n: Option<i64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

#[component]
pub fn SendingLimitsPanel(meter: QuotaMeter) -> impl IntoView {
    let i18n = use_i18n();
    let saved = meter.saved;
    let meter = RwSignal::new(meter);
    let preset = RwSignal::new(saved.preset);
    let per_minute = RwSignal::new(number_text(saved.custom.per_minute));
    let per_day = RwSignal::new(number_text(saved.custom.per_day));
    let recipients = RwSignal::new(number_text(saved.custom.recipients_per_day));
    let problem = RwSignal::new(None::<Result<(), Option<LimitError>>>);

    let save = Action::new(move |limits: &SendingLimits| {
        let limits = *limits;
        async move { save_sending_limits(limits).await }
    });
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            match result {
                Ok(m) => {
                    meter.set(m);
                    problem.set(Some(Ok(())));
                }
                Err(ApiError::Limits(code)) => problem.set(Some(Err(Some(code)))),
                Err(_) => problem.set(Some(Err(None))),
            }
        }
    });
    let on_save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // The same rules as the server, before anything is sent.
        let typed = (|| {
            SendingLimits {
                preset: preset.get_untracked(),
                custom: LimitNumbers {
                    per_minute: parse_limit(&per_minute.get_untracked())?,
                    per_day: parse_limit(&per_day.get_untracked())?,
                    recipients_per_day: parse_limit(&recipients.get_untracked())?,
                },
            }
            .validate()
        })();
        match typed {
            Ok(limits) => {
                problem.set(None);
                save.dispatch(limits);
            }
            Err(code) => problem.set(Some(Err(Some(code)))),
        }
    };

    // One row of the meter: used / limit, with a native <meter> when there is a limit.
    let row = move |id: &'static str, used: i64, limit: Option<i64>| {
        let text = match limit {
            Some(l) => format!("{used} / {l}"),
            None => format!("{used} / {}", t_string!(i18n, limits_none)),
        };
        view! {
            <dd id=id data-used=used.to_string() data-limit=number_text(limit)>
                <span>{text}</span>
                {limit.map(|l| view! { <meter min="0" max=l.to_string() high=(l * 9 / 10).to_string() value=used.to_string()></meter> })}
            </dd>
        }
    };
    let summary = move || {
        let m = meter.get();
        let locale = i18n.get_locale();
        let next = m.next_at.clone().map(|at| {
            view! { " — " {t!(i18n, limits_next)} " " <time datetime=at.clone()>{at.replace('T', " ").replace('Z', " UTC")}</time> }
        });
        view! {
            <dl class="settings-list">
                <dt>{t!(i18n, limits_connection)}</dt>
                <dd id="limits-connection">{m.connection.label.clone()}</dd>
                <dt>{t!(i18n, limits_applied)}</dt>
                <dd id="limits-applied" data-preset=m.preset.as_str()>{preset_label(locale, m.preset)}</dd>
                <dt>{t!(i18n, limits_per_minute)}</dt>
                {row("limits-minute", m.used_minute, m.limits.per_minute)}
                <dt>{t!(i18n, limits_per_day)}</dt>
                {row("limits-day", m.used_day, m.limits.per_day)}
                <dt>{t!(i18n, limits_recipients_per_day)}</dt>
                {row("limits-recipients", m.recipients_day, m.limits.recipients_per_day)}
                <dt>{t!(i18n, limits_waiting)}</dt>
                <dd id="limits-waiting" data-count=m.waiting.to_string()>{m.waiting}{next}</dd>
            </dl>
        }
    };
    let custom = move || preset.get() == LimitPreset::Custom;
    let number = move |id: &'static str, label: String, value: RwSignal<String>| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id type="number" inputmode="numeric" min="1" max="10000000"
                    prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev)) />
            </div>
        }
    };
    view! {
        <section class="card" aria-labelledby="limits-title" id="sending-limits">
            <h2 id="limits-title">{t!(i18n, limits_title)}</h2>
            <p class="hint">{t!(i18n, limits_help)}</p>
            {summary}
            <details id="limits-edit">
                <summary>{t!(i18n, limits_change)}</summary>
                <form on:submit=on_save novalidate>
                    <div class="field">
                        <label for="limits-preset">{t!(i18n, limits_preset)}</label>
                        <select id="limits-preset" on:change=move |ev| {
                            if let Some(p) = LimitPreset::parse(&event_target_value(&ev)) {
                                preset.set(p);
                            }
                        }>
                            {LimitPreset::ALL
                                .into_iter()
                                .map(|p| view! {
                                    <option value=p.as_str() selected=move || preset.get() == p>
                                        {move || preset_label(i18n.get_locale(), p)}
                                    </option>
                                })
                                .collect_view()}
                        </select>
                    </div>
                    <Show when=custom>
                        {number("limits-per-minute", t_string!(i18n, limits_per_minute).to_string(), per_minute)}
                        {number("limits-per-day", t_string!(i18n, limits_per_day).to_string(), per_day)}
                        {number("limits-recipients-per-day", t_string!(i18n, limits_recipients_per_day).to_string(), recipients)}
                    </Show>
                    <button type="submit" class="button primary" id="limits-save" disabled=move || save.pending().get()>
                        {t!(i18n, limits_save)}
                    </button>
                    {move || match problem.get() {
                        Some(Ok(())) => view! {
                            <p class="banner banner-ok" role="status" id="limits-saved">{t!(i18n, limits_saved)}</p>
                        }.into_any(),
                        Some(Err(Some(code))) => view! {
                            <p class="field-error" role="alert" id="limits-error" data-code=code.as_str()>
                                {move || limit_message(i18n.get_locale(), code)}
                            </p>
                        }.into_any(),
                        Some(Err(None)) => view! {
                            <p class="field-error" role="alert" id="limits-error">{t!(i18n, load_failed)}</p>
                        }.into_any(),
                        None => ().into_any(),
                    }}
                </form>
            </details>
        </section>
    }
}

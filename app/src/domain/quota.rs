//! Sending limits of the connection mail goes out through (the providers' quotas), with
//! presets for the services administrators use, and the meter the settings page shows. Mail
//! over a limit waits in the queue (status `waiting`) until the window frees, instead of being
//! refused by the provider.

use super::{AuthType, Provider, SettingsView};
use serde::{Deserialize, Serialize};

/// Where a limit's numbers come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitPreset {
    /// The preset that matches the connection (Exchange Online for smtp.office365.com, Gmail
    /// for smtp.gmail.com and Google, Microsoft Graph for Microsoft), none for other servers.
    #[default]
    Automatic,
    /// Exchange Online (SMTP AUTH): 30 messages a minute, 10,000 recipients a day per mailbox.
    ExchangeOnline,
    /// Microsoft Graph `sendMail`: 10,000 requests per 10 minutes (kept as 1,000 a minute) and
    /// the mailbox's 10,000 recipients a day; 4 requests at once is always kept.
    MicrosoftGraph,
    /// Gmail / Google Workspace: about 150 sends a minute, 2,000 messages and 10,000
    /// recipients a day.
    Gmail,
    /// The administrator's own numbers (any SMTP server).
    Custom,
    /// No limit.
    Unlimited,
}

impl LimitPreset {
    pub const ALL: [LimitPreset; 6] = [
        LimitPreset::Automatic,
        LimitPreset::ExchangeOnline,
        LimitPreset::MicrosoftGraph,
        LimitPreset::Gmail,
        LimitPreset::Custom,
        LimitPreset::Unlimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimitPreset::Automatic => "automatic",
            LimitPreset::ExchangeOnline => "exchange_online",
            LimitPreset::MicrosoftGraph => "microsoft_graph",
            LimitPreset::Gmail => "gmail",
            LimitPreset::Custom => "custom",
            LimitPreset::Unlimited => "unlimited",
        }
    }

    pub fn parse(s: &str) -> Option<LimitPreset> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The numbers of a fixed preset (`None` for automatic and custom).
    pub fn numbers(self) -> Option<LimitNumbers> {
        let n = |per_minute, per_day, recipients_per_day| LimitNumbers {
            per_minute,
            per_day,
            recipients_per_day,
        };
        match self {
            LimitPreset::ExchangeOnline => Some(n(Some(30), None, Some(10_000))),
            LimitPreset::MicrosoftGraph => Some(n(Some(1_000), None, Some(10_000))),
            LimitPreset::Gmail => Some(n(Some(150), Some(2_000), Some(10_000))),
            LimitPreset::Unlimited => Some(n(None, None, None)),
            LimitPreset::Automatic | LimitPreset::Custom => None,
        }
    }
}

/// Messages a minute, messages a day, recipients a day (rolling windows); `None`: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitNumbers {
    #[serde(default)]
    pub per_minute: Option<i64>,
    #[serde(default)]
    pub per_day: Option<i64>,
    #[serde(default)]
    pub recipients_per_day: Option<i64>,
}

impl LimitNumbers {
    pub fn is_unlimited(&self) -> bool {
        self.per_minute.is_none() && self.per_day.is_none() && self.recipients_per_day.is_none()
    }
}

/// Largest number accepted for a limit.
pub const LIMIT_MAX: i64 = 10_000_000;

/// The limits of a connection as saved: a preset, and the numbers for `custom`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendingLimits {
    #[serde(default)]
    pub preset: LimitPreset,
    #[serde(default, flatten)]
    pub custom: LimitNumbers,
}

/// Why limits cannot be saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitError {
    /// A number is below 1 or above [`LIMIT_MAX`].
    LimitOutOfRange,
    /// `custom` with no number at all (choose `unlimited` for that).
    CustomWithoutLimit,
}

impl LimitError {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitError::LimitOutOfRange => "limit_out_of_range",
            LimitError::CustomWithoutLimit => "custom_without_limit",
        }
    }
}

impl SendingLimits {
    /// The rules: for `custom`, at least one number, each 1 to [`LIMIT_MAX`]. Other presets
    /// keep no numbers of their own.
    pub fn validate(self) -> Result<SendingLimits, LimitError> {
        if self.preset != LimitPreset::Custom {
            return Ok(SendingLimits {
                preset: self.preset,
                custom: LimitNumbers::default(),
            });
        }
        let c = self.custom;
        if [c.per_minute, c.per_day, c.recipients_per_day]
            .into_iter()
            .flatten()
            .any(|n| !(1..=LIMIT_MAX).contains(&n))
        {
            return Err(LimitError::LimitOutOfRange);
        }
        if c.is_unlimited() {
            return Err(LimitError::CustomWithoutLimit);
        }
        Ok(self)
    }

    /// The numbers that apply to `connection`.
    pub fn effective(self, connection: &Connection) -> (LimitPreset, LimitNumbers) {
        let preset = match self.preset {
            LimitPreset::Automatic => connection.automatic_preset(),
            p => p,
        };
        let numbers = match preset {
            LimitPreset::Custom => self.custom,
            p => p.numbers().unwrap_or_default(),
        };
        (preset, numbers)
    }
}

/// The connection mail goes out through: limits and the meter belong to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// `smtp:<host>`, `microsoft` or `google`.
    pub key: String,
    /// The SMTP host or the provider, for the page.
    pub label: String,
}

impl Connection {
    pub fn of(settings: &SettingsView) -> Connection {
        match settings.auth {
            AuthType::Smtp => {
                let host = settings.smtp.server.trim().to_ascii_lowercase();
                Connection {
                    key: format!("smtp:{host}"),
                    label: host,
                }
            }
            AuthType::Oauth => {
                let p = settings.oauth.provider;
                let label = match p {
                    Provider::Microsoft => "Microsoft 365 (Graph)",
                    Provider::Google => "Google (Gmail API)",
                };
                Connection {
                    key: p.as_str().to_string(),
                    label: label.to_string(),
                }
            }
        }
    }

    /// The preset that matches the service behind this connection.
    pub fn automatic_preset(&self) -> LimitPreset {
        match self.key.as_str() {
            // A Microsoft backup counts as `microsoft:{its mailbox}`.
            key if key == "microsoft" || key.starts_with("microsoft:") => {
                LimitPreset::MicrosoftGraph
            }
            "google" | "smtp:smtp.gmail.com" | "smtp:smtp-relay.gmail.com" => LimitPreset::Gmail,
            "smtp:smtp.office365.com" | "smtp:smtp-legacy.office365.com" => {
                LimitPreset::ExchangeOnline
            }
            _ => LimitPreset::Unlimited,
        }
    }
}

/// What the settings page's meter shows: the connection, its limits and their use in the
/// rolling windows, and the mail waiting for the limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaMeter {
    pub connection: Connection,
    /// As saved (`automatic` when never saved).
    pub saved: SendingLimits,
    /// The preset and numbers that apply.
    pub preset: LimitPreset,
    pub limits: LimitNumbers,
    /// Messages sent (or being sent) in the last minute and the last 24 hours, and their
    /// recipients in the last 24 hours.
    pub used_minute: i64,
    pub used_day: i64,
    pub recipients_day: i64,
    /// Notifications waiting for the limits, and when the next may go (UTC text).
    pub waiting: i64,
    pub next_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_limits_need_a_number_in_range() {
        let custom = |per_minute, per_day, recipients_per_day| SendingLimits {
            preset: LimitPreset::Custom,
            custom: LimitNumbers {
                per_minute,
                per_day,
                recipients_per_day,
            },
        };
        assert_eq!(
            custom(None, None, None).validate(),
            Err(LimitError::CustomWithoutLimit)
        );
        assert_eq!(
            custom(Some(0), None, None).validate(),
            Err(LimitError::LimitOutOfRange)
        );
        assert_eq!(
            custom(Some(5), Some(LIMIT_MAX + 1), None).validate(),
            Err(LimitError::LimitOutOfRange)
        );
        assert!(custom(Some(5), None, None).validate().is_ok());
        // A fixed preset keeps no numbers of its own.
        let gmail = SendingLimits {
            preset: LimitPreset::Gmail,
            custom: LimitNumbers {
                per_minute: Some(-3),
                ..Default::default()
            },
        };
        assert_eq!(gmail.validate().unwrap().custom, LimitNumbers::default());
    }

    #[test]
    fn automatic_follows_the_connection() {
        let mut s = SettingsView::initial("/ConMasManager");
        s.smtp.server = "SMTP.Office365.com ".into();
        let c = Connection::of(&s);
        assert_eq!(c.key, "smtp:smtp.office365.com");
        let (preset, n) = SendingLimits::default().effective(&c);
        assert_eq!(preset, LimitPreset::ExchangeOnline);
        assert_eq!(n.per_minute, Some(30));
        assert_eq!(n.recipients_per_day, Some(10_000));
        s.smtp.server = "mail.example.co.jp".into();
        assert_eq!(
            SendingLimits::default().effective(&Connection::of(&s)).0,
            LimitPreset::Unlimited
        );
        s.auth = AuthType::Oauth;
        s.oauth.provider = Provider::Google;
        let (preset, n) = SendingLimits::default().effective(&Connection::of(&s));
        assert_eq!(preset, LimitPreset::Gmail);
        assert_eq!((n.per_minute, n.per_day), (Some(150), Some(2_000)));
        for p in LimitPreset::ALL {
            assert_eq!(LimitPreset::parse(p.as_str()), Some(p));
        }
        // The wire form of the saved limits.
        let saved: SendingLimits =
            serde_json::from_str(r#"{"preset":"custom","per_minute":5}"#).unwrap();
        assert_eq!(saved.custom.per_minute, Some(5));
        assert_eq!(
            serde_json::to_value(saved).unwrap(),
            serde_json::json!({"preset":"custom","per_minute":5,"per_day":null,"recipients_per_day":null})
        );
    }
}

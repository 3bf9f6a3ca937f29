//! Where the OAuth providers and their mail APIs are: the public clouds by default, other
//! clouds (`MS_CLOUD`) or local fakes in tests.

use anyhow::{Context as _, bail};

/// The providers' addresses. `MS_CLOUD` (`global`, `usgov`, `usgov-dod`, `china`) picks the
/// Microsoft authority and Graph hosts as a matching pair; `MS_AUTHORITY_URL`, `MS_GRAPH_URL`
/// and the `GOOGLE_*_URL` variables override single addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderEndpoints {
    /// `https://login.microsoftonline.com`; `/{tenant}/oauth2/v2.0/authorize|token` follow.
    pub microsoft_authority: String,
    /// `https://graph.microsoft.com`; `/v1.0/me` follows.
    pub microsoft_graph: String,
    pub google_auth: String,
    pub google_token: String,
    pub google_revoke: String,
    pub google_userinfo: String,
    /// `https://gmail.googleapis.com`; `/gmail/v1/users/me/messages/send` follows.
    pub gmail_api: String,
    /// Use `HTTPS_PROXY` / `NO_PROXY` from the environment (default). Tests turn it off.
    pub system_proxy: bool,
}

impl Default for ProviderEndpoints {
    fn default() -> Self {
        let cloud = app::domain::MicrosoftCloud::Global;
        ProviderEndpoints {
            microsoft_authority: cloud.authority().into(),
            microsoft_graph: cloud.graph().into(),
            google_auth: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            google_token: "https://oauth2.googleapis.com/token".into(),
            google_revoke: "https://oauth2.googleapis.com/revoke".into(),
            google_userinfo: "https://openidconnect.googleapis.com/v1/userinfo".into(),
            gmail_api: "https://gmail.googleapis.com".into(),
            system_proxy: true,
        }
    }
}

impl ProviderEndpoints {
    pub(super) fn from_env(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        use app::domain::MicrosoftCloud;
        let mut e = ProviderEndpoints::default();
        if let Some(name) = var("MS_CLOUD") {
            let cloud = MicrosoftCloud::parse(name.trim()).with_context(|| {
                format!("MS_CLOUD must be global, usgov, usgov-dod or china (got {name:?})")
            })?;
            e.microsoft_authority = cloud.authority().into();
            e.microsoft_graph = cloud.graph().into();
        }
        for (name, slot) in [
            ("MS_AUTHORITY_URL", &mut e.microsoft_authority),
            ("MS_GRAPH_URL", &mut e.microsoft_graph),
            ("GOOGLE_AUTH_URL", &mut e.google_auth),
            ("GOOGLE_TOKEN_URL", &mut e.google_token),
            ("GOOGLE_REVOKE_URL", &mut e.google_revoke),
            ("GOOGLE_USERINFO_URL", &mut e.google_userinfo),
            ("GMAIL_API_URL", &mut e.gmail_api),
        ] {
            if let Some(v) = var(name) {
                let v = v.trim().trim_end_matches('/').to_string();
                let ok = url::Url::parse(&v)
                    .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
                if !ok {
                    bail!(
                        "{name} must be an http(s) URL such as https://login.microsoftonline.us (got {v:?})"
                    );
                }
                *slot = v;
            }
        }
        Ok(e)
    }
}

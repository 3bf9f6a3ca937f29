//! Who was connected: the account read from Microsoft Graph `/me` or Google's userinfo, and
//! the claims of the ID token; and whether a Gmail send-as alias is verified.

use super::classify::network_outcome;
use super::{OauthService, Outcome};
use app::domain::{OauthCode, Provider};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

impl OauthService {
    /// Who consented: Microsoft through Graph `GET /me` (the ID token of these scopes need not
    /// carry an address), Google from the ID token or the userinfo endpoint.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn read_account(
        &self,
        provider: Provider,
        access: &SecretString,
        id_token: Option<&str>,
    ) -> Result<Account, Outcome> {
        let claims = id_token.and_then(id_token_claims).unwrap_or_default();
        match provider {
            Provider::Microsoft => {
                let url = format!("{}/v1.0/me", self.endpoints.microsoft_graph);
                let me: GraphMe = self.get_json(&url, access).await?;
                let address = me
                    .mail
                    .filter(|m| !m.is_empty())
                    .or(me.user_principal_name)
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| Outcome::new(OauthCode::AccountUnreadable, "no address"))?;
                let id = match (claims.tid, claims.oid) {
                    (Some(tid), Some(oid)) => format!("{tid}/{oid}"),
                    _ => me.id.unwrap_or_default(),
                };
                Ok(Account {
                    address,
                    display_name: me.display_name.unwrap_or_default(),
                    id,
                })
            }
            Provider::Google => {
                let (email, sub, name) = match claims.email {
                    Some(email) => (email, claims.sub, claims.name),
                    None => {
                        let info: GoogleUserinfo = self
                            .get_json(&self.endpoints.google_userinfo, access)
                            .await?;
                        let email = info.email.ok_or_else(|| {
                            Outcome::new(OauthCode::AccountUnreadable, "no email")
                        })?;
                        (email, info.sub, info.name)
                    }
                };
                Ok(Account {
                    address: email,
                    display_name: name.unwrap_or_default(),
                    id: sub.unwrap_or_default(),
                })
            }
        }
    }

    /// Whether Gmail will send from `alias` (`oauth.send_as`): it must be one of the account's
    /// send-as addresses (`users.settings.sendAs.get`, with gmail.settings.basic) and, for a
    /// custom "from" alias, verified. Gmail does not refuse mail from another address: it sends
    /// it from the account's own address, which is what this check prevents.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn check_send_as(
        &self,
        access: &SecretString,
        alias: &str,
    ) -> Result<(), Outcome> {
        let not_a_url = || Outcome::new(OauthCode::ProviderError, "GMAIL_API_URL is not a URL");
        let mut url = url::Url::parse(&self.endpoints.gmail_api).map_err(|_| not_a_url())?;
        url.path_segments_mut()
            .map_err(|()| not_a_url())?
            .pop_if_empty()
            .extend(["gmail", "v1", "users", "me", "settings", "sendAs", alias]);
        let response = self.bearer_get(url, access).await?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Outcome::new(
                OauthCode::SendAsNotVerified,
                format!("{alias}: not a send-as address of the account"),
            ));
        }
        if !status.is_success() {
            return Err(Outcome::new(
                OauthCode::ProviderError,
                format!("Gmail settings.sendAs: HTTP {}", status.as_u16()),
            ));
        }
        let found: GmailSendAs = response.json().await.map_err(|_| {
            Outcome::new(
                OauthCode::ProviderError,
                "Gmail settings.sendAs: unreadable answer",
            )
        })?;
        // Only custom "from" aliases carry a verification status; the account's own
        // addresses (primary, domain aliases) have none and always work.
        match found.verification_status.as_deref() {
            None | Some("accepted") => Ok(()),
            Some(other) => Err(Outcome::new(
                OauthCode::SendAsNotVerified,
                format!("{alias}: verification {other}"),
            )),
        }
    }

    /// `GET url` with the access token; a network failure as its outcome.
    async fn bearer_get(
        &self,
        url: impl reqwest::IntoUrl,
        access: &SecretString,
    ) -> Result<reqwest::Response, Outcome> {
        self.http
            .get(url)
            .bearer_auth(access.expose_secret())
            .send()
            .await
            .map_err(|e| network_outcome(&e))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        access: &SecretString,
    ) -> Result<T, Outcome> {
        let response = self.bearer_get(url, access).await?;
        let status = response.status();
        if !status.is_success() {
            let code = response
                .json::<ApiErrorBody>()
                .await
                .ok()
                .and_then(|b| b.error)
                .and_then(|e| e.code().map(str::to_string))
                .unwrap_or_default();
            return Err(Outcome::new(
                OauthCode::AccountUnreadable,
                format!("HTTP {} {code}", status.as_u16())
                    .trim()
                    .to_string(),
            ));
        }
        response.json::<T>().await.map_err(|_| {
            Outcome::new(
                OauthCode::AccountUnreadable,
                format!("HTTP {} unreadable answer", status.as_u16()),
            )
        })
    }
}

pub(super) struct Account {
    pub(super) address: String,
    pub(super) display_name: String,
    pub(super) id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphMe {
    id: Option<String>,
    user_principal_name: Option<String>,
    mail: Option<String>,
    display_name: Option<String>,
}

/// Gmail `users.settings.sendAs` (the fields read here).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GmailSendAs {
    verification_status: Option<String>,
}

#[derive(Deserialize)]
struct GoogleUserinfo {
    sub: Option<String>,
    email: Option<String>,
    name: Option<String>,
}

/// Graph: `{"error":{"code":"…"}}`; Google APIs: `{"error":{"status":"…"}}` or a string.
#[derive(Deserialize)]
struct ApiErrorBody {
    error: Option<ApiErrorValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ApiErrorValue {
    Text(String),
    Object {
        code: Option<serde_json::Value>,
        status: Option<String>,
    },
}

impl ApiErrorValue {
    fn code(&self) -> Option<&str> {
        match self {
            ApiErrorValue::Text(s) => Some(s),
            ApiErrorValue::Object { code, status } => {
                code.as_ref().and_then(|c| c.as_str()).or(status.as_deref())
            }
        }
    }
}

/// Claims of an ID token that name the account. The token came straight from the token
/// endpoint over TLS, which OpenID Connect Core §3.1.3.7 accepts in place of a signature
/// check; it is only used to name the account, never to authorize anything.
#[derive(Default, Deserialize)]
pub(super) struct IdClaims {
    sub: Option<String>,
    email: Option<String>,
    name: Option<String>,
    tid: Option<String>,
    oid: Option<String>,
}

pub(super) fn id_token_claims(token: &str) -> Option<IdClaims> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_payload_is_read() {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"1","email":"a@example.com","tid":"t","oid":"o"}"#);
        let claims = id_token_claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims.email.as_deref(), Some("a@example.com"));
        assert_eq!(claims.tid.as_deref(), Some("t"));
        assert!(id_token_claims("garbage").is_none());
    }
}

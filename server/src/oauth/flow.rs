//! The authorization code flow: the consent link (PKCE, single-use `state`) and the callback
//! that exchanges the code and stores the connection.

use super::classify::{classify_redirect_error, classify_token_error};
use super::{
    CallbackQuery, OauthService, Outcome, Pending, STATE_LIFETIME_SECS, expires_at, store_outcome,
};
use crate::clock::{now_ms, now_secs};
use crate::store::{Connection, Tokens};
use app::domain::{OauthCode, Provider, missing_scopes};
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope, TokenResponse,
};
use secrecy::SecretString;
use subtle::ConstantTimeEq;

impl OauthService {
    /// Starts a connection: the provider's consent URL and what the session must remember.
    #[tracing::instrument(skip_all)]
    pub async fn begin(&self) -> Result<(String, Pending), Outcome> {
        let (settings, auth) = self.credentials().await?;
        let redirect_uri = self
            .redirect_uri(&settings)
            .ok_or_else(|| Outcome::new(OauthCode::SettingsIncomplete, "manager_root"))?;
        let client = self.client(&settings, &auth, Some(&redirect_uri))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let provider = settings.oauth.provider;
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(
                settings
                    .oauth
                    .scopes()
                    .into_iter()
                    .map(|s| Scope::new(s.to_string())),
            );
        match provider {
            Provider::Microsoft => {
                request = request
                    .add_extra_param("response_mode", "query")
                    .add_extra_param("prompt", "select_account");
                // Moving from SMTP AUTH keeps the mailbox: suggest it on the sign-in page.
                if app::domain::Mailbox::parse(&settings.smtp.user).is_ok() {
                    request = request.add_extra_param("login_hint", settings.smtp.user.clone());
                }
            }
            Provider::Google => {
                request = request
                    .add_extra_param("access_type", "offline")
                    .add_extra_param("prompt", "consent");
            }
        }
        let (url, state) = request.url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                verifier: verifier.secret().clone(),
                provider,
                settings_version: settings.version,
                redirect_uri,
                created_at: now_secs(),
            },
        ))
    }

    /// Finishes a connection from the provider's redirect. `pending` was already removed from
    /// the session, so a `state` works once.
    #[tracing::instrument(skip_all, fields(provider = callback_provider.as_str()))]
    pub async fn finish(
        &self,
        pending: Option<Pending>,
        callback_provider: Provider,
        query: &CallbackQuery,
        actor: &str,
    ) -> Outcome {
        let outcome = self
            .finish_inner(pending, callback_provider, query, actor)
            .await;
        match outcome.code {
            OauthCode::Connected => tracing::info!("OAuth account connected"),
            code => {
                tracing::warn!(code = code.as_str(), detail = %outcome.detail, "OAuth connect failed");
                let _ = self
                    .store
                    .audit(
                        actor,
                        "oauth.connect_failed",
                        &format!("{}: {}", code.as_str(), outcome.detail),
                    )
                    .await;
            }
        }
        outcome
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn finish_inner(
        &self,
        pending: Option<Pending>,
        callback_provider: Provider,
        query: &CallbackQuery,
        actor: &str,
    ) -> Outcome {
        let pending = match check_state(pending, callback_provider, query, now_secs()) {
            Ok(p) => p,
            Err(o) => return o,
        };
        if let Some(error) = &query.error {
            return classify_redirect_error(error, query.error_description.as_deref());
        }
        let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
            return Outcome::new(OauthCode::ProviderError, "no code in the callback");
        };
        let (settings, auth) = match self.credentials().await {
            Ok(c) => c,
            Err(o) => return o,
        };
        if settings.version != pending.settings_version
            || settings.oauth.provider != pending.provider
        {
            return Outcome::new(OauthCode::SettingsChanged, "");
        }
        let client = match self.client(&settings, &auth, Some(&pending.redirect_uri)) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let assertion = match self.assertion_params(&settings, &auth) {
            Ok(a) => a,
            Err(o) => return o,
        };
        let provider = settings.oauth.provider;
        let mut exchange = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
        if provider == Provider::Microsoft {
            exchange = exchange.add_extra_param("scope", settings.oauth.scopes().join(" "));
        }
        for (name, value) in assertion {
            exchange = exchange.add_extra_param(name, value);
        }
        let answer = match exchange.request_async(&self.http).await {
            Ok(a) => a,
            Err(e) => return classify_token_error(provider, &e, false, None),
        };
        let granted = answer
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
            // RFC 6749 §5.1: no `scope` in the answer means the scopes asked for.
            .unwrap_or_else(|| settings.oauth.scopes().join(" "));
        let access = SecretString::from(answer.access_token().secret().clone());
        let Some(refresh) = answer.refresh_token() else {
            return Outcome::new(OauthCode::NoRefreshToken, "");
        };
        let account = match self
            .read_account(provider, &access, answer.extra_fields().id_token.as_deref())
            .await
        {
            Ok(a) => a,
            Err(o) => return o,
        };
        let now = now_ms();
        let missing = missing_scopes(provider, &settings.oauth.required_scopes(), &granted);
        let mut problem =
            (!missing.is_empty()).then(|| (OauthCode::ScopeMissing, missing.join(" "), now));
        // A Gmail alias must be verified, or Gmail would send from the account itself.
        if problem.is_none()
            && provider == Provider::Google
            && let Some(alias) = settings.oauth.send_as()
            && let Err(o) = self.check_send_as(&access, alias).await
        {
            problem = Some((o.code, o.detail, now));
        }
        let connection = Connection {
            provider,
            account: account.address,
            display_name: account.display_name,
            account_id: account.id,
            scopes: granted,
            connected_at: now,
            connected_by: actor.to_string(),
            refresh_token_at: now,
            access_expires_at: expires_at(now, answer.expires_in()),
            last_refresh_at: None,
            problem: problem.clone(),
            generation: crate::secrets::random_text(16),
        };
        let tokens = Tokens {
            access,
            access_expires_at: connection.access_expires_at,
            refresh: Some(SecretString::from(refresh.secret().clone())),
        };
        match self
            .store
            .connect(&connection, &tokens, pending.settings_version)
            .await
        {
            Ok(true) => match problem {
                Some((code, detail, _)) => Outcome::new(code, detail),
                None => Outcome::new(OauthCode::Connected, connection.account),
            },
            Ok(false) => Outcome::new(OauthCode::SettingsChanged, ""),
            Err(e) => store_outcome(e),
        }
    }
}

/// The callback belongs to this session's attempt, for this provider, in time.
fn check_state(
    pending: Option<Pending>,
    callback_provider: Provider,
    query: &CallbackQuery,
    now: i64,
) -> Result<Pending, Outcome> {
    let Some(pending) = pending else {
        return Err(Outcome::new(
            OauthCode::StateInvalid,
            "no connect attempt in this session",
        ));
    };
    let state_ok = query
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(pending.state.as_bytes())));
    if !state_ok || pending.provider != callback_provider {
        return Err(Outcome::new(
            OauthCode::StateInvalid,
            "state does not match",
        ));
    }
    if now - pending.created_at > STATE_LIFETIME_SECS {
        return Err(Outcome::new(OauthCode::StateExpired, ""));
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_must_match_belong_to_the_provider_and_be_recent() {
        let pending = Pending {
            state: "s3cr3t-state".into(),
            verifier: "v".into(),
            provider: Provider::Microsoft,
            settings_version: 1,
            redirect_uri: "https://r.example/ConMasManager/System/MailOAuthMicrosoft".into(),
            created_at: 1_000,
        };
        let query = |state: &str| CallbackQuery {
            code: Some("c".into()),
            state: Some(state.into()),
            ..CallbackQuery::default()
        };
        let code = |p: Option<Pending>, provider, q: &CallbackQuery, now| {
            check_state(p, provider, q, now)
                .map(|_| ())
                .map_err(|o| o.code)
        };
        let ok = query("s3cr3t-state");
        assert_eq!(
            code(Some(pending.clone()), Provider::Microsoft, &ok, 1_100),
            Ok(())
        );
        assert_eq!(
            code(
                Some(pending.clone()),
                Provider::Microsoft,
                &ok,
                1_000 + STATE_LIFETIME_SECS + 1
            ),
            Err(OauthCode::StateExpired)
        );
        assert_eq!(
            code(Some(pending.clone()), Provider::Google, &ok, 1_100),
            Err(OauthCode::StateInvalid)
        );
        assert_eq!(
            code(
                Some(pending.clone()),
                Provider::Microsoft,
                &query("s3cr3t-statf"),
                1_100
            ),
            Err(OauthCode::StateInvalid)
        );
        assert_eq!(
            code(
                Some(pending),
                Provider::Microsoft,
                &CallbackQuery::default(),
                1_100
            ),
            Err(OauthCode::StateInvalid)
        );
        assert_eq!(
            code(None, Provider::Microsoft, &ok, 1_100),
            Err(OauthCode::StateInvalid)
        );
    }
}

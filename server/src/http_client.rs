//! The one HTTP client factory for outgoing calls (token endpoints, Microsoft Graph, the Gmail
//! API): no redirects, time limits, our user agent, the system proxy only when configured.

use crate::config::ProviderEndpoints;
use std::time::Duration;

/// The HTTP client for token endpoints and provider APIs: no redirects, timeouts.
pub fn new(endpoints: &ProviderEndpoints) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("mail-settings/", env!("CARGO_PKG_VERSION")));
    if !endpoints.system_proxy {
        builder = builder.no_proxy();
    }
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not build the HTTP client; using the default one");
        reqwest::Client::new()
    })
}

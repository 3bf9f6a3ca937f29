//! The server, in layers; each module uses only the ones below it:
//!
//! - [`startup`]: builds the application state once and owns the background tasks; [`cli`]: the
//!   operator commands. `main.rs` reads the configuration and calls one of them.
//! - [`http`]: handlers, the access layer, security headers, the HTTP server loop.
//! - [`service`]: the use cases — settings and test mails, sign-in and API tokens, notification
//!   submission, the delivery worker, retention — independent of HTTP.
//! - [`oauth`] (the OAuth client: consent flow, tokens, account) and [`transport`] (SMTP,
//!   Microsoft Graph, the Gmail API).
//! - [`store`]: the database.
//! - [`config`], [`secrets`], [`clock`], [`error`], [`http_client`], [`tasks`]: the ground floor.

pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod http_client;
pub mod oauth;
pub mod secrets;
pub mod service;
pub mod startup;
pub mod store;
pub mod tasks;
pub mod transport;

pub use http::AppState;
pub use startup::{router, run};

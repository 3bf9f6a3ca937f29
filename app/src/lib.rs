//! Shared crate of the mail settings console: domain rules, server-function contract and UI.
//! Compiled to WebAssembly for the browser (`hydrate`) and natively for the server (`ssr`).

pub mod api;
pub mod domain;
pub mod messages;
pub mod ui;

include!(concat!(env!("OUT_DIR"), "/i18n/mod.rs"));

pub use ui::{App, AppProps, shell};

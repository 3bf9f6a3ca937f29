//! The use cases, independent of HTTP: called by the handlers, the server functions (through
//! [`settings::AppBackend`]), the operator commands and the bench alike.

pub mod accounts;
pub mod alerts;
pub mod notify;
pub mod outbox;
pub mod retention;
pub mod settings;
pub mod sign_in;
pub mod throttle;

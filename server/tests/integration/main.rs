//! The server's integration tests: the real application on a port of its own, driven over
//! HTTP, against real SMTP servers and fakes of Microsoft's and Google's endpoints.
//!
//! One test binary, not one per file: each binary links the whole server, and seven of them took
//! 167 s to compile in the release profile (2026-12-07); the tests of all files also share the
//! test threads instead of running file after file.

mod common;

mod access;
mod alerts;
mod api;
mod hardening;
mod notifications;
mod oauth;
mod send;

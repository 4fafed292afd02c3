//! The whole HTTP contract, driven over real HTTP against the real app and a real
//! database. `TEST_DATABASE_URL=postgres://…` runs every test on PostgreSQL (a fresh
//! database each); otherwise each test gets a fresh SQLite file.

#![allow(
    clippy::expect_used,
    reason = "a test that cannot go on stops with a message saying why"
)]

mod helpers;

mod abuse;
mod account;
mod audit;
mod auth;
mod bootstrap;
mod cli;
mod concurrency;
mod console_browser;
mod console_http;
mod console_logs;
mod conventions;
mod data_key;
mod discovery;
mod hardening_rules;
mod hardening_tokens;
mod hash_priority;
mod http_conformance;
mod introspection_rfc7662;
mod keys;
mod last_admin;
mod login_writes;
mod logs;
mod mfa;
mod notifications;
mod offline_verifiers;
mod openapi;
mod outage;
mod passkeys;
mod passkeys_browser;
mod password_reset;
mod portable_sql;
mod proxies;
mod refresh_keys;
mod registration;
mod retention;
mod revocations;
mod shutdown;
mod smtp;
mod sqlite_wal;
mod staff;
mod startup_errors;
mod tasks;
mod three_instances;
mod token_endpoint;
mod tokens;
mod webhooks;

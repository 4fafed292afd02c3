//! The whole HTTP contract, driven over real HTTP against the real app and a real
//! database. `TEST_DATABASE_URL=postgres://…` runs every test on PostgreSQL (a fresh
//! database each); otherwise each test gets a fresh SQLite file.

mod helpers;

mod abuse;
mod account;
mod audit;
mod auth;
mod bootstrap;
mod browser;
mod concurrency;
mod console_browser;
mod console_http;
mod console_logs;
mod console_visitor;
mod conventions;
mod keys;
mod last_admin;
mod login_writes;
mod logs;
mod password_reset;
mod proxies;
mod registration;
mod smtp;
mod sqlite_wal;
mod staff;
mod tasks;
mod tokens;

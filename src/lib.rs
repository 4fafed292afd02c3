//! doorman: a user service.
//!
//! Layers: `http` → `service` → `db`, with `domain` types shared by all. Diesel appears
//! only in `db`, actix only in `http` and the wiring (`startup`, `error`, `openapi`).

pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod service;
pub mod startup;

//! Types every layer shares, one file per kind: ids, users and roles, sessions, the audit
//! trail, tasks, paging, and the parsed request fields (`fields`). Pure and synchronous: no
//! I/O, no framework. Everything is re-exported here, so a type is `domain::X` wherever
//! it lives.

mod audit;
mod fields;
mod ids;
mod mfa;
mod page;
mod passkey;
mod session;
mod task;
mod user;
mod webhook;

pub use fields::{
    DateOfBirth, Email, Name, NewPassword, PasswordAttempt, PasswordProblem, Phone,
    TaskDescription, TaskTitle, Username, check_no_control_chars,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use audit::*;
pub use ids::*;
pub use mfa::*;
pub use page::*;
pub use passkey::*;
pub use session::*;
pub use task::*;
pub use user::*;
pub use webhook::*;

//! The program's one clock: every layer asks `clock::now()` for the time. Timestamps are
//! stored with microsecond precision on both backends, so "now" is truncated to
//! microseconds too, and a value returned equals the value read back later.

use chrono::{DateTime, Utc};

pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

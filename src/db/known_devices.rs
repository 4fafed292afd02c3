//! The devices each account has signed in from (see `service::auth`'s device rule).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::schema::known_devices as devices;
use super::types::{Id, Ts};
use super::{Conn, run};
use crate::domain::UserId;
use crate::error::Result;

/// Whether a sign-in's device was known to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Signed in from before; its `last_seen_at` is now updated.
    Known,
    /// New to the account, now remembered; `first` when the account had no device at all
    /// (its first sign-in, or its first since devices were remembered).
    New { first: bool },
}

/// Remembers that `user` signed in from `device` at `now`. Of concurrent sign-ins from one
/// new device, exactly one is told `New`.
pub async fn remember(
    conn: &mut Conn,
    user: UserId,
    device: &str,
    now: DateTime<Utc>,
) -> Result<Seen> {
    let (uid, device) = (Id(user.0), device.to_owned());
    let touched = run!(conn, |c| by_text(
        diesel::update(
            devices::table
                .filter(devices::user_id.eq(uid))
                .filter(devices::device_hash.eq(&device))
        )
        .set(devices::last_seen_at.eq(Ts(now)))
    )
    .execute(c)
    .await)?;
    if touched > 0 {
        return Ok(Seen::Known);
    }
    let others: i64 = run!(conn, |c| devices::table
        .filter(devices::user_id.eq(uid))
        .count()
        .get_result(c)
        .await)?;
    let inserted = run!(conn, |c| by_text(
        diesel::insert_into(devices::table)
            .values((
                devices::user_id.eq(uid),
                devices::device_hash.eq(&device),
                devices::first_seen_at.eq(Ts(now)),
                devices::last_seen_at.eq(Ts(now)),
            ))
            .on_conflict_do_nothing()
    )
    .execute(c)
    .await)?;
    Ok(if inserted == 0 {
        Seen::Known
    } else {
        Seen::New { first: others == 0 }
    })
}

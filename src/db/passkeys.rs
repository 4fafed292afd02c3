//! Passkeys and the WebAuthn ceremonies in flight. The key material and the ceremony state
//! are webauthn-rs values as JSON text; this module stores and returns them as text.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::schema::{passkeys, webauthn_challenges as challenges};
use super::types::{Id, Ts};
use super::{Conn, run, unique_violation};
use crate::domain::{ChallengeId, Passkey, PasskeyId, PasskeyName, UserId};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = passkeys, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct PasskeyRow {
    id: Id,
    user_id: Id,
    name: String,
    created_at: Ts,
    last_used_at: Option<Ts>,
}

impl From<PasskeyRow> for Passkey {
    fn from(row: PasskeyRow) -> Self {
        Self {
            id: PasskeyId(row.id.0),
            user_id: UserId(row.user_id.0),
            name: PasskeyName::stored(row.name),
            created_at: row.created_at.0,
            last_used_at: row.last_used_at.map(|at| at.0),
        }
    }
}

/// A passkey with what verifying an assertion needs.
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub passkey: Passkey,
    /// webauthn-rs's `Passkey`, as JSON.
    pub credential: String,
    pub sign_count: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = passkeys, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct StoredRow {
    #[diesel(embed)]
    row: PasskeyRow,
    credential: String,
    sign_count: i64,
}

impl From<StoredRow> for StoredPasskey {
    fn from(stored: StoredRow) -> Self {
        Self {
            passkey: stored.row.into(),
            credential: stored.credential,
            sign_count: stored.sign_count,
        }
    }
}

/// A new passkey: `credential_id` is the WebAuthn credential id (base64url), unique across
/// all accounts.
pub struct NewPasskey<'a> {
    pub passkey: &'a Passkey,
    pub credential_id: &'a str,
    pub credential: &'a str,
    pub sign_count: i64,
}

/// Stores a passkey; a credential id some account already has is a `credential` field
/// error.
pub async fn insert(conn: &mut Conn, new: &NewPasskey<'_>) -> Result<()> {
    let p = new.passkey;
    let row = (
        passkeys::id.eq(Id(p.id.0)),
        passkeys::user_id.eq(Id(p.user_id.0)),
        passkeys::credential_id.eq(new.credential_id),
        passkeys::name.eq(p.name.as_str()),
        passkeys::credential.eq(new.credential),
        passkeys::sign_count.eq(new.sign_count),
        passkeys::created_at.eq(Ts(p.created_at)),
    );
    let inserted = run!(conn, |c| by_text(
        diesel::insert_into(passkeys::table).values(row)
    )
    .execute(c)
    .await);
    match inserted {
        Ok(_) => Ok(()),
        Err(err) if unique_violation(&err).is_some() => Err(Error::field(
            "credential",
            "already_registered",
            "this passkey is already registered",
        )),
        Err(err) => Err(err.into()),
    }
}

/// The passkeys of `user`, oldest first.
pub async fn list(conn: &mut Conn, user: UserId) -> Result<Vec<Passkey>> {
    let rows: Vec<PasskeyRow> = run!(conn, |c| passkeys::table
        .filter(passkeys::user_id.eq(Id(user.0)))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(PasskeyRow::as_select())
        .load(c)
        .await)?;
    Ok(rows.into_iter().map(Passkey::from).collect())
}

/// How many passkeys `user` has (an index lookup; no credential is read).
pub async fn count(conn: &mut Conn, user: UserId) -> Result<i64> {
    Ok(run!(conn, |c| passkeys::table
        .filter(passkeys::user_id.eq(Id(user.0)))
        .count()
        .get_result::<i64>(c)
        .await)?)
}

/// The webauthn-rs credentials (JSON) of `user`'s passkeys.
pub async fn credentials(conn: &mut Conn, user: UserId) -> Result<Vec<String>> {
    Ok(run!(conn, |c| passkeys::table
        .filter(passkeys::user_id.eq(Id(user.0)))
        .select(passkeys::credential)
        .load::<String>(c)
        .await)?)
}

/// The passkey with this WebAuthn credential id (base64url).
pub async fn find_by_credential_id(
    conn: &mut Conn,
    credential_id: &str,
) -> Result<Option<StoredPasskey>> {
    let row: Option<StoredRow> = run!(conn, |c| passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(StoredRow::as_select())
        .get_result(c)
        .await
        .optional())?;
    Ok(row.map(StoredPasskey::from))
}

/// Records a use whose signature counter is `sign_count`, only if the counter went forward
/// (or stays 0 on an authenticator without one), in one statement, so that of two uses with
/// one counter value only one is recorded. `false`: the counter did not go forward.
pub async fn record_use(
    conn: &mut Conn,
    id: PasskeyId,
    sign_count: i64,
    credential: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let changes = (
        passkeys::sign_count.eq(sign_count),
        passkeys::credential.eq(credential),
        passkeys::last_used_at.eq(Some(Ts(at))),
    );
    let target = passkeys::table.filter(passkeys::id.eq(Id(id.0)));
    let updated = if sign_count == 0 {
        run!(conn, |c| by_text(
            diesel::update(target.filter(passkeys::sign_count.eq(0_i64))).set(changes)
        )
        .execute(c)
        .await)?
    } else {
        run!(conn, |c| by_text(
            diesel::update(target.filter(passkeys::sign_count.lt(sign_count))).set(changes)
        )
        .execute(c)
        .await)?
    };
    Ok(updated == 1)
}

/// Removes `user`'s passkey `id`; `false` when `user` has no such passkey.
pub async fn delete(conn: &mut Conn, user: UserId, id: PasskeyId) -> Result<bool> {
    let deleted = run!(conn, |c| by_text(diesel::delete(
        passkeys::table
            .filter(passkeys::id.eq(Id(id.0)))
            .filter(passkeys::user_id.eq(Id(user.0)))
    ))
    .execute(c)
    .await)?;
    Ok(deleted == 1)
}

/// Removes every passkey of `user` and the ceremonies it has begun (an admin reset, or the
/// account going away); how many passkeys there were. Runs inside the caller's transaction.
pub async fn delete_all_for_user(conn: &mut Conn, user: UserId) -> Result<usize> {
    run!(conn, |c| by_text(diesel::delete(
        challenges::table.filter(challenges::user_id.eq(Some(Id(user.0))))
    ))
    .execute(c)
    .await)?;
    Ok(run!(conn, |c| by_text(diesel::delete(
        passkeys::table.filter(passkeys::user_id.eq(Id(user.0)))
    ))
    .execute(c)
    .await)?)
}

/// Which ceremony a challenge belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    Register,
    Authenticate,
}

impl Ceremony {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
        }
    }
}

/// Stores the state of a ceremony begun (for `user`, when it is known) until `expires_at`.
pub async fn insert_challenge(
    conn: &mut Conn,
    id: ChallengeId,
    ceremony: Ceremony,
    user: Option<UserId>,
    state: &str,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let row = (
        challenges::id.eq(Id(id.0)),
        challenges::kind.eq(ceremony.as_str()),
        challenges::user_id.eq(user.map(|u| Id(u.0))),
        challenges::state.eq(state),
        challenges::expires_at.eq(Ts(expires_at)),
    );
    run!(conn, |c| by_text(
        diesel::insert_into(challenges::table).values(row)
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// A ceremony's stored state, as taken.
pub struct TakenChallenge {
    pub user: Option<UserId>,
    pub state: String,
}

/// A challenge row: its kind, user, state and expiry.
type ChallengeRow = (String, Option<Id>, String, Ts);

/// The row's state when it is of `ceremony` and has not expired at `now`.
fn live(
    row: Option<ChallengeRow>,
    ceremony: Ceremony,
    now: DateTime<Utc>,
) -> Option<TakenChallenge> {
    row.filter(|(kind, _, _, expires_at)| kind == ceremony.as_str() && expires_at.0 > now)
        .map(|(_, user, state, _)| TakenChallenge {
            user: user.map(|u| UserId(u.0)),
            state,
        })
}

/// The challenge `id` of `ceremony`, if it has not expired at `now`, without taking it
/// (a sign-in reads it, verifies the answer, then takes it in the transaction that records
/// the sign-in, or at once when it refuses).
pub async fn find_challenge(
    conn: &mut Conn,
    id: ChallengeId,
    ceremony: Ceremony,
    now: DateTime<Utc>,
) -> Result<Option<TakenChallenge>> {
    let found: Option<ChallengeRow> = run!(conn, |c| challenges::table
        .filter(challenges::id.eq(Id(id.0)))
        .select((
            challenges::kind,
            challenges::user_id,
            challenges::state,
            challenges::expires_at,
        ))
        .get_result(c)
        .await
        .optional())?;
    Ok(live(found, ceremony, now))
}

/// Takes the challenge `id` of `ceremony` if it has not expired at `now`: one
/// `DELETE … RETURNING`, so however many instances try, one gets it, once. A challenge of
/// the other ceremony, or an expired one, is used up all the same and answers `None`.
pub async fn take_challenge(
    conn: &mut Conn,
    id: ChallengeId,
    ceremony: Ceremony,
    now: DateTime<Utc>,
) -> Result<Option<TakenChallenge>> {
    let taken: Option<ChallengeRow> = run!(conn, |c| by_text(
        diesel::delete(challenges::table.filter(challenges::id.eq(Id(id.0)))).returning((
            challenges::kind,
            challenges::user_id,
            challenges::state,
            challenges::expires_at,
        ))
    )
    .get_result(c)
    .await
    .optional())?;
    Ok(live(taken, ceremony, now))
}

/// Removes up to `limit` challenges that expired before `now` (the retention job); how
/// many. Reads the ids, then deletes those (see `retention`: Diesel cannot delete through
/// a subquery on the same table).
pub async fn delete_expired_challenges(
    conn: &mut Conn,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize> {
    Ok(run!(conn, |c| {
        let ids: Vec<Id> = challenges::table
            .filter(challenges::expires_at.lt(Ts(now)))
            .select(challenges::id)
            .limit(limit)
            .load(c)
            .await?;
        diesel::delete(
            challenges::table
                .filter(challenges::id.eq_any(ids))
                .filter(challenges::expires_at.lt(Ts(now))),
        )
        .execute(c)
        .await
    })?)
}

//! Signing keys and refresh-token keys shared by every instance that uses the database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::schema::{refresh_keys, signing_keys};
use super::types::Ts;
use super::{Conn, run};
use crate::crypto::keys::{KeyRecord, RefreshKeyRecord};
use crate::error::Result;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct KeyRow {
    kid: String,
    alg: String,
    private_pem: String,
    created_at: Ts,
    retired_at: Option<Ts>,
}

/// The signing keys of `alg` as stored (`private_pem` sealed when a data key was set).
pub async fn list(conn: &mut Conn, alg: &str) -> Result<Vec<KeyRecord>> {
    let rows: Vec<KeyRow> = run!(conn, |c| signing_keys::table
        .filter(signing_keys::alg.eq(alg))
        .select(KeyRow::as_select())
        .load(c)
        .await)?;
    Ok(rows.into_iter().map(KeyRow::into_record).collect())
}

/// Every signing key, of every algorithm, as stored.
pub async fn list_all(conn: &mut Conn) -> Result<Vec<KeyRecord>> {
    let rows: Vec<KeyRow> = run!(conn, |c| signing_keys::table
        .select(KeyRow::as_select())
        .load(c)
        .await)?;
    Ok(rows.into_iter().map(KeyRow::into_record).collect())
}

impl KeyRow {
    fn into_record(self) -> KeyRecord {
        KeyRecord {
            kid: self.kid,
            alg: self.alg,
            private_pem: self.private_pem,
            created_at: self.created_at.0,
            retired_at: self.retired_at.map(|t| t.0),
        }
    }
}

/// Replaces the stored private key of `kid` (sealed again under another data key).
pub async fn set_private(conn: &mut Conn, kid: &str, stored: &str) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(signing_keys::table.filter(signing_keys::kid.eq(kid)))
            .set(signing_keys::private_pem.eq(stored))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Replaces the stored secret of the refresh-token key `kid`.
pub async fn set_refresh_secret(conn: &mut Conn, kid: &str, stored: &str) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(refresh_keys::table.filter(refresh_keys::kid.eq(kid)))
            .set(refresh_keys::secret.eq(stored))
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Adds a key (a key already stored under that kid is left as it is).
pub async fn insert(conn: &mut Conn, key: &KeyRecord) -> Result<()> {
    let row = KeyRow {
        kid: key.kid.clone(),
        alg: key.alg.clone(),
        private_pem: key.private_pem.clone(),
        created_at: Ts(key.created_at),
        retired_at: key.retired_at.map(Ts),
    };
    run!(conn, |c| by_text(
        diesel::insert_into(signing_keys::table)
            .values(&row)
            .on_conflict_do_nothing()
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Retires every signing key of `alg` except `keep`.
pub async fn retire_others(
    conn: &mut Conn,
    alg: &str,
    keep: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(
            signing_keys::table
                .filter(signing_keys::alg.eq(alg))
                .filter(signing_keys::kid.ne(keep))
                .filter(signing_keys::retired_at.is_null())
        )
        .set(signing_keys::retired_at.eq(Some(Ts(at))))
    )
    .execute(c)
    .await)?;
    Ok(())
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_keys, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct RefreshKeyRow {
    kid: String,
    secret: String,
    created_at: Ts,
    retired_at: Option<Ts>,
}

/// Every refresh-token key, retired ones included.
pub async fn list_refresh(conn: &mut Conn) -> Result<Vec<RefreshKeyRecord>> {
    let rows: Vec<RefreshKeyRow> = run!(conn, |c| refresh_keys::table
        .select(RefreshKeyRow::as_select())
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|r| RefreshKeyRecord {
            kid: r.kid,
            secret: r.secret.into(),
            created_at: r.created_at.0,
            retired_at: r.retired_at.map(|t| t.0),
        })
        .collect())
}

/// Adds a refresh-token key.
pub async fn insert_refresh(conn: &mut Conn, key: &RefreshKeyRecord) -> Result<()> {
    use secrecy::ExposeSecret;
    let row = RefreshKeyRow {
        kid: key.kid.clone(),
        secret: key.secret.expose_secret().to_owned(),
        created_at: Ts(key.created_at),
        retired_at: key.retired_at.map(Ts),
    };
    run!(conn, |c| by_text(
        diesel::insert_into(refresh_keys::table)
            .values(&row)
            .on_conflict_do_nothing()
    )
    .execute(c)
    .await)?;
    Ok(())
}

/// Retires every refresh-token key except `keep`.
pub async fn retire_other_refresh(conn: &mut Conn, keep: &str, at: DateTime<Utc>) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(
            refresh_keys::table
                .filter(refresh_keys::kid.ne(keep))
                .filter(refresh_keys::retired_at.is_null())
        )
        .set(refresh_keys::retired_at.eq(Some(Ts(at))))
    )
    .execute(c)
    .await)?;
    Ok(())
}

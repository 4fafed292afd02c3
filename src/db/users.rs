//! Users and their credentials (password hashes with history, one current row per user).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{credentials, users};
use super::types::{Id, Ts, date_to_text, text_to_date};
use super::{Conn, run, unique_violation};
use crate::domain::{LoginName, Role, User, UserId};
use crate::error::{Error, Result};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct UserRow {
    id: Id,
    email: String,
    username: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone_number: Option<String>,
    date_of_birth: Option<String>,
    role: String,
    is_active: bool,
    created_at: Ts,
    updated_at: Ts,
    last_login_at: Option<Ts>,
}

impl From<&User> for UserRow {
    fn from(user: &User) -> Self {
        Self {
            id: Id(user.id.0),
            email: user.email.clone(),
            username: user.username.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            phone_number: user.phone_number.clone(),
            date_of_birth: user.date_of_birth.map(date_to_text),
            role: user.role.as_str().to_owned(),
            is_active: user.is_active,
            created_at: Ts(user.created_at),
            updated_at: Ts(user.updated_at),
            last_login_at: user.last_login_at.map(Ts),
        }
    }
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(row: UserRow) -> Result<Self> {
        let role = Role::parse(&row.role).ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "user {} has unknown role {:?}",
                row.id.0,
                row.role
            ))
        })?;
        Ok(User {
            id: UserId(row.id.0),
            email: row.email,
            username: row.username,
            first_name: row.first_name,
            last_name: row.last_name,
            phone_number: row.phone_number,
            date_of_birth: row.date_of_birth.as_deref().and_then(text_to_date),
            role,
            is_active: row.is_active,
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
            last_login_at: row.last_login_at.map(|t| t.0),
        })
    }
}

/// Turns a unique violation on `users` into the contract's 409 code.
pub(crate) fn conflict(err: diesel::result::Error) -> Error {
    match unique_violation(&err) {
        Some(constraint) if constraint.contains("email") => Error::EmailTaken,
        Some(constraint) if constraint.contains("username") => Error::UsernameTaken,
        Some(constraint) if constraint.contains("phone") => Error::PhoneTaken,
        _ => Error::from(err),
    }
}

/// Inserts a user with its first credential.
pub async fn insert(conn: &mut Conn, user: &User, password_hash: &str) -> Result<()> {
    let row = UserRow::from(user);
    let credential = (
        credentials::id.eq(Id(uuid::Uuid::now_v7())),
        credentials::user_id.eq(Id(user.id.0)),
        credentials::password_hash.eq(password_hash),
        credentials::is_current.eq(true),
        credentials::created_at.eq(Ts(user.created_at)),
    );
    run!(conn, |c| {
        diesel::insert_into(users::table)
            .values(&row)
            .execute(c)
            .await
            .map_err(conflict)?;
        diesel::insert_into(credentials::table)
            .values(credential)
            .execute(c)
            .await?;
        Ok(())
    })
}

pub async fn find(conn: &mut Conn, id: UserId) -> Result<Option<User>> {
    let row: Option<UserRow> = run!(conn, |c| users::table
        .find(Id(id.0))
        .select(UserRow::as_select())
        .first(c)
        .await
        .optional())?;
    row.map(User::try_from).transpose()
}

/// The user with this login name, and their current password hash.
pub async fn find_for_login(
    conn: &mut Conn,
    name: &LoginName,
) -> Result<Option<(User, Option<String>)>> {
    macro_rules! query {
        () => {
            users::table
                .left_join(
                    credentials::table.on(credentials::user_id
                        .eq(users::id)
                        .and(credentials::is_current.eq(true))),
                )
                .select((UserRow::as_select(), credentials::password_hash.nullable()))
        };
    }
    let row: Option<(UserRow, Option<String>)> = match name {
        LoginName::Email(email) => run!(conn, |c| query!()
            .filter(users::email.eq(email))
            .first(c)
            .await
            .optional()),
        LoginName::Username(username) => run!(conn, |c| query!()
            .filter(lower(users::username).eq(username.to_lowercase()))
            .first(c)
            .await
            .optional()),
        LoginName::Phone(phone) => run!(conn, |c| query!()
            .filter(users::phone_number.eq(phone))
            .first(c)
            .await
            .optional()),
    }?;
    row.map(|(user, hash)| Ok((User::try_from(user)?, hash)))
        .transpose()
}

pub async fn set_last_login(
    conn: &mut Conn,
    id: UserId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    run!(conn, |c| diesel::update(users::table.find(Id(id.0)))
        .set(users::last_login_at.eq(Ts(at)))
        .execute(c)
        .await)?;
    Ok(())
}

/// Replaces the current hash of the same password (a re-hash with new parameters).
pub async fn replace_current_hash(
    conn: &mut Conn,
    id: UserId,
    old_hash: &str,
    new_hash: &str,
) -> Result<()> {
    run!(conn, |c| diesel::update(
        credentials::table
            .filter(credentials::user_id.eq(Id(id.0)))
            .filter(credentials::is_current.eq(true))
            .filter(credentials::password_hash.eq(old_hash))
    )
    .set(credentials::password_hash.eq(new_hash))
    .execute(c)
    .await)?;
    Ok(())
}

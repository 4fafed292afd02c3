//! Users and their credentials (password hashes with history, one current row per user).

use diesel::backend::Backend;
use diesel::dsl;
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::query_dsl::methods::BoxedDsl;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::prepared::by_text;
use super::query::{Filters, Orders, for_update};
use super::schema::{credentials, users, users_search};
use super::types::{Id, Ts, date_to_text, text_to_date};
use chrono::{DateTime, Utc};

use super::{Conn, ConnInner, run, unique_violation, user_counts};
use crate::domain::{
    LoginName, Name, Page, PageRequest, Phone, ProfileChanges, Role, User, UserFilter, UserId,
    UserSort, Username,
};
use crate::error::{Error, Result};

diesel::define_sql_function! {
    /// SQL `lower()`, for case-insensitive usernames and staff search. PostgreSQL's folds
    /// all of Unicode (under the database's `LC_CTYPE`); SQLite's built-in folds only ASCII,
    /// so every SQLite connection replaces it with Rust's `to_lowercase` (`register_lower`).
    /// No server-side function is created, so the SQL stays portable.
    fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// Replaces SQLite's ASCII-only `lower()` on a connection with a Unicode one. The only
/// index on `lower()` covers usernames, which are ASCII, where both agree.
pub(crate) fn register_lower(conn: &mut diesel::SqliteConnection) -> diesel::QueryResult<()> {
    lower_utils::register_impl(conn, |text: Option<String>| text.map(|t| t.to_lowercase()))
}

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
        by_text(diesel::insert_into(users::table).values(&row))
            .execute(c)
            .await
            .map_err(conflict)?;
        by_text(diesel::insert_into(credentials::table).values(credential))
            .execute(c)
            .await?;
        Ok::<_, Error>(())
    })?;
    user_counts::add(conn, user.id, user.role.as_str(), user.is_active);
    Ok(())
}

pub async fn find(conn: &mut Conn, id: UserId) -> Result<Option<User>> {
    let row: Option<UserRow> = run!(conn, |c| users::table
        .find(Id(id.0))
        .select(UserRow::as_select())
        .get_result(c)
        .await
        .optional())?;
    row.map(User::try_from).transpose()
}

/// What login needs to know about an account.
#[derive(Clone)]
pub struct LoginRecord {
    pub user: User,
    /// The current password hash.
    pub hash: Option<String>,
}

/// Accounts with their current password hash, for login to filter by name. Not boxed:
/// a query of a static type is cached by that type on both backends, not by its SQL text.
///
/// Conditions on a boolean column name the column itself rather than compare it with a
/// bound `true`: PostgreSQL's generic plan cannot know a parameter's value, so it could not
/// use the partial index (`WHERE is_current`), and every run was planned anew (120 µs).
#[diesel::dsl::auto_type(no_type_alias)]
fn with_current_hash<DB: Backend>() -> _ {
    let user: dsl::AsSelect<UserRow, DB> = UserRow::as_select();
    users::table
        .left_join(
            credentials::table.on(credentials::user_id
                .eq(users::id)
                .and(credentials::is_current)),
        )
        .select((user, credentials::password_hash.nullable()))
}

/// The account with this login name.
pub async fn find_for_login(conn: &mut Conn, name: &LoginName) -> Result<Option<LoginRecord>> {
    type Row = (UserRow, Option<String>);
    let row: Option<Row> = match name {
        LoginName::Email(email) => run!(conn, |c| with_current_hash()
            .filter(users::email.eq(email))
            .get_result(c)
            .await
            .optional()),
        LoginName::Username(username) => run!(conn, |c| with_current_hash()
            .filter(lower(users::username).eq(username.to_lowercase()))
            .get_result(c)
            .await
            .optional()),
        LoginName::Phone(phone) => run!(conn, |c| with_current_hash()
            .filter(users::phone_number.eq(phone))
            .get_result(c)
            .await
            .optional()),
    }?;
    row.map(|(user, hash)| {
        Ok(LoginRecord {
            user: User::try_from(user)?,
            hash,
        })
    })
    .transpose()
}

/// A successful login: stamps it (one of `sessions::open_on_login`'s statements).
#[diesel::dsl::auto_type(no_type_alias)]
pub(super) fn record_login_statement(id: Id, at: Ts) -> _ {
    by_text(dsl::update(users::table.find(id)).set(users::last_login_at.eq(at)))
}

/// Replaces the current hash of the same password (a re-hash with new parameters).
pub async fn replace_current_hash(
    conn: &mut Conn,
    id: UserId,
    old_hash: &str,
    new_hash: &str,
) -> Result<()> {
    run!(conn, |c| by_text(
        diesel::update(
            credentials::table
                .filter(credentials::user_id.eq(Id(id.0)))
                .filter(credentials::is_current)
                .filter(credentials::password_hash.eq(old_hash))
        )
        .set(credentials::password_hash.eq(new_hash))
    )
    .execute(c)
    .await)?;
    Ok(())
}

#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = users)]
struct UserChangeset {
    email: Option<String>,
    username: Option<Option<String>>,
    first_name: Option<Option<String>>,
    last_name: Option<Option<String>>,
    phone_number: Option<Option<String>>,
    date_of_birth: Option<Option<String>>,
    is_active: Option<bool>,
    role: Option<String>,
    updated_at: Ts,
}

impl UserChangeset {
    fn new(changes: &ProfileChanges, role: Option<Role>, at: DateTime<Utc>) -> Self {
        Self {
            email: changes.email.as_ref().map(|e| e.as_str().to_owned()),
            username: changes
                .username
                .clone()
                .map(Username::into_inner)
                .into_option(),
            first_name: changes
                .first_name
                .clone()
                .map(Name::into_inner)
                .into_option(),
            last_name: changes
                .last_name
                .clone()
                .map(Name::into_inner)
                .into_option(),
            phone_number: changes
                .phone_number
                .clone()
                .map(Phone::into_inner)
                .into_option(),
            date_of_birth: changes
                .date_of_birth
                .clone()
                .map(|d| date_to_text(d.into_inner()))
                .into_option(),
            is_active: changes.is_active,
            role: role.map(|r| r.as_str().to_owned()),
            updated_at: Ts(at),
        }
    }
}

/// Applies profile changes and/or a new role; returns the user as it now is.
pub async fn update(
    conn: &mut Conn,
    id: UserId,
    changes: &ProfileChanges,
    role: Option<Role>,
    at: DateTime<Utc>,
) -> Result<Option<User>> {
    let changeset = UserChangeset::new(changes, role, at);
    let recount = changeset.role.is_some() || changeset.is_active.is_some();
    let before = if recount {
        counted_group(conn, id).await?
    } else {
        None
    };
    run!(conn, |c| by_text(
        diesel::update(users::table.find(Id(id.0))).set(&changeset)
    )
    .execute(c)
    .await)
    .map_err(conflict)?;
    let user = find(conn, id).await?;
    if let (Some((role, is_active)), Some(now)) = (before, &user)
        && (role.as_str(), is_active) != (now.role.as_str(), now.is_active)
    {
        user_counts::remove(conn, id, &role, is_active);
        user_counts::add(conn, id, now.role.as_str(), now.is_active);
    }
    Ok(user)
}

/// The user's role and activity as the counts know them, locked until the transaction
/// ends (the change that follows must count from what it changes).
async fn counted_group(conn: &mut Conn, id: UserId) -> Result<Option<user_counts::Group>> {
    Ok(run!(conn, |c| for_update(
        users::table
            .find(Id(id.0))
            .select((users::role, users::is_active))
    )
    .get_result(c)
    .await
    .optional())?)
}

/// The user, locked until the transaction ends.
pub async fn find_for_update(conn: &mut Conn, id: UserId) -> Result<Option<User>> {
    let row: Option<UserRow> = run!(conn, |c| for_update(
        users::table.find(Id(id.0)).select(UserRow::as_select())
    )
    .get_result(c)
    .await
    .optional())?;
    row.map(User::try_from).transpose()
}

/// Locks every active admin (in id order, so concurrent callers cannot deadlock) and
/// returns their ids. Any change that could remove the last admin takes this first.
pub async fn lock_active_admins(conn: &mut Conn) -> Result<Vec<UserId>> {
    let ids: Vec<Id> = run!(conn, |c| for_update(
        users::table
            .filter(users::role.eq(Role::Admin.as_str()))
            .filter(users::is_active)
            .order(users::id)
            .select(users::id)
    )
    .load(c)
    .await)?;
    Ok(ids.into_iter().map(|id| UserId(id.0)).collect())
}

/// Whether any admin exists, active or not.
pub async fn any_admin(conn: &mut Conn) -> Result<bool> {
    let count: i64 = run!(conn, |c| users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(c)
        .await)?;
    Ok(count > 0)
}

pub async fn delete(conn: &mut Conn, id: UserId) -> Result<bool> {
    let Some((role, is_active)) = counted_group(conn, id).await? else {
        return Ok(false);
    };
    let deleted = run!(conn, |c| {
        diesel::delete(credentials::table.filter(credentials::user_id.eq(Id(id.0))))
            .execute(c)
            .await?;
        diesel::delete(users::table.find(Id(id.0))).execute(c).await
    })?;
    if deleted > 0 {
        user_counts::remove(conn, id, &role, is_active);
    }
    Ok(deleted > 0)
}

/// The current hash and up to `n - 1` before it, newest first.
pub async fn recent_hashes(conn: &mut Conn, id: UserId, n: i64) -> Result<Vec<String>> {
    let hashes = run!(conn, |c| credentials::table
        .filter(credentials::user_id.eq(Id(id.0)))
        .order((credentials::created_at.desc(), credentials::id.desc()))
        .limit(n)
        .select(credentials::password_hash)
        .load(c)
        .await)?;
    Ok(hashes)
}

/// One stored credential (a password hash), by its row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialId(uuid::Uuid);

/// The user's current credential and its hash.
pub async fn current_credential(
    conn: &mut Conn,
    id: UserId,
) -> Result<Option<(CredentialId, String)>> {
    let row: Option<(Id, String)> = run!(conn, |c| credentials::table
        .filter(credentials::user_id.eq(Id(id.0)))
        .filter(credentials::is_current)
        .select((credentials::id, credentials::password_hash))
        .first(c)
        .await
        .optional())?;
    Ok(row.map(|(credential, hash)| (CredentialId(credential.0), hash)))
}

/// Whether `credential` is still the user's current one.
pub async fn is_current_credential(
    conn: &mut Conn,
    id: UserId,
    credential: CredentialId,
) -> Result<bool> {
    let count: i64 = run!(conn, |c| credentials::table
        .filter(credentials::id.eq(Id(credential.0)))
        .filter(credentials::user_id.eq(Id(id.0)))
        .filter(credentials::is_current)
        .count()
        .get_result(c)
        .await)?;
    Ok(count > 0)
}

/// Locks the user's row until the transaction ends (PostgreSQL; on SQLite the write
/// transaction already holds the database), so credential changes of one user take turns.
/// `FOR NO KEY UPDATE`: it does not hold up rows that merely refer to the user (a login's
/// new session).
async fn lock_user(conn: &mut Conn, id: UserId) -> Result<()> {
    if let ConnInner::Pg(c) = &mut conn.0 {
        users::table
            .find(Id(id.0))
            .select(users::id)
            .for_no_key_update()
            .load::<Id>(&mut **c)
            .await?;
    }
    Ok(())
}

/// Makes `hash` the current credential, keeping the last `keep` in history; inside a
/// transaction. With `replacing`, only if that credential is still the current one: the
/// check and the replacement are one conditional update, under the user's row lock, so of
/// concurrent changes made on the strength of the same password one wins and the others
/// get `false` (and change nothing). Without it (a reset) whatever is current is replaced.
pub async fn push_credential(
    conn: &mut Conn,
    id: UserId,
    replacing: Option<CredentialId>,
    hash: &str,
    at: DateTime<Utc>,
    keep: i64,
) -> Result<bool> {
    lock_user(conn, id).await?;
    let credential = (
        credentials::id.eq(Id(uuid::Uuid::now_v7())),
        credentials::user_id.eq(Id(id.0)),
        credentials::password_hash.eq(hash),
        credentials::is_current.eq(true),
        credentials::created_at.eq(Ts(at)),
    );
    let retired = match replacing {
        Some(CredentialId(expected)) => run!(conn, |c| by_text(
            diesel::update(
                credentials::table
                    .filter(credentials::id.eq(Id(expected)))
                    .filter(credentials::user_id.eq(Id(id.0)))
                    .filter(credentials::is_current),
            )
            .set(credentials::is_current.eq(false)),
        )
        .execute(c)
        .await)?,
        None => run!(conn, |c| by_text(
            diesel::update(
                credentials::table
                    .filter(credentials::user_id.eq(Id(id.0)))
                    .filter(credentials::is_current),
            )
            .set(credentials::is_current.eq(false)),
        )
        .execute(c)
        .await)?,
    };
    if replacing.is_some() && retired != 1 {
        return Ok(false);
    }
    run!(conn, |c| {
        by_text(diesel::insert_into(credentials::table).values(credential))
            .execute(c)
            .await?;
        let kept: Vec<Id> = credentials::table
            .filter(credentials::user_id.eq(Id(id.0)))
            .order((credentials::created_at.desc(), credentials::id.desc()))
            .limit(keep)
            .select(credentials::id)
            .load(c)
            .await?;
        diesel::delete(
            credentials::table
                .filter(credentials::user_id.eq(Id(id.0)))
                .filter(credentials::id.ne_all(kept)),
        )
        .execute(c)
        .await
    })?;
    Ok(true)
}

/// A page of the users `filter` selects and how many it selects. The count comes first (a
/// sum of the kept [`user_counts`] without a search, the matches counted with one) and
/// places the page: past the middle of the list its ids are read from the end, in the
/// reverse order (see [`PageRequest::window`]), and its rows in the list's order; past the
/// end nothing is read. Run it in one snapshot
/// ([`Db::snapshot_read`](super::Db::snapshot_read)), so that the count and the page agree.
pub async fn list(conn: &mut Conn, filter: &UserFilter, page: PageRequest) -> Result<Page<User>> {
    let pattern = filter.q.as_ref().map(|q| like_pattern(q));
    let phrase = filter.q.as_deref().and_then(trigram_phrase);
    let text = TextSearch {
        pattern: pattern.as_deref(),
        phrase: phrase.as_deref(),
    };
    // Without a search the total is a sum of kept counts ([`user_counts`]); a search counts
    // its matches.
    let counted = match filter.q {
        None => Some(user_counts::total(conn, filter).await?),
        Some(_) => None,
    };
    let (rows, total): (Vec<UserRow>, i64) = run!(conn, |c| {
        let total = match counted {
            Some(total) => total,
            None => filtered(filter, text).count().get_result(c).await?,
        };
        let window = page.window(total);
        let sort = if window.reversed {
            filter.sort.reversed()
        } else {
            filter.sort
        };
        // The page's ids first, then their rows: a deep page's ids come from an index
        // alone ((created_at, id), or (email) with id, an index-only scan on PostgreSQL;
        // SQLite reads no row it skips) and only the page's own rows are read from the
        // table. Reading whole rows, an offset of 900,000 of a million users read every
        // row it skipped on PostgreSQL (bench/RESULTS.md, (i)).
        let ids = sorted(filtered(filter, text), sort)
            .limit(window.limit)
            .offset(window.offset)
            .select(users::id);
        let rows = if window.limit == 0 {
            Vec::new()
        } else {
            sorted(users::table.into_boxed(), filter.sort)
                .filter(users::id.eq_any(ids))
                .select(UserRow::as_select())
                .load(c)
                .await?
        };
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    let items = rows
        .into_iter()
        .map(User::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total,
        request: page,
    })
}

/// `query` in the list's order.
fn sorted<'a, DB>(query: users::BoxedQuery<'a, DB>, sort: UserSort) -> users::BoxedQuery<'a, DB>
where
    DB: Backend,
    users::BoxedQuery<'a, DB>: Orders<(dsl::Asc<users::created_at>, dsl::Asc<users::id>)>
        + Orders<(dsl::Desc<users::created_at>, dsl::Desc<users::id>)>
        + Orders<dsl::Asc<users::email>>
        + Orders<dsl::Desc<users::email>>,
{
    match sort {
        UserSort::CreatedAt => query.order((users::created_at.asc(), users::id.asc())),
        UserSort::CreatedAtDesc => query.order((users::created_at.desc(), users::id.desc())),
        UserSort::Email => query.order(users::email.asc()),
        UserSort::EmailDesc => query.order(users::email.desc()),
    }
}

diesel::infix_operator!(Match, " MATCH ");

/// How a backend finds the users whose text contains the staff search's `q`.
pub(crate) trait TextIndex: Backend {
    /// SQLite: through its FTS5 trigram table `users_search` (migration 000020), when `q`
    /// has three characters or more. Otherwise (and on PostgreSQL, whose `LIKE` on the
    /// four `lower(...)` expressions its trigram GIN indexes serve) by `LIKE`.
    const TRIGRAM_TABLE: bool;
}

impl TextIndex for diesel::pg::Pg {
    const TRIGRAM_TABLE: bool = false;
}

impl TextIndex for diesel::sqlite::Sqlite {
    const TRIGRAM_TABLE: bool = true;
}

/// `q` as an FTS5 phrase: the trigram table's rows with `q` in any column. `None` when `q`
/// is shorter than a trigram.
fn trigram_phrase(q: &str) -> Option<String> {
    (q.chars().count() >= 3).then(|| format!("\"{}\"", q.replace('"', "\"\"")))
}

/// The users whose searchable text holds `phrase` (see [`trigram_phrase`]), by rowid: the
/// trigram table's rowid is the user's, so each match costs one lookup in `users` (by the
/// text id it was a lookup in its index, then in the table, and one more for the id kept
/// in the trigram table). 50,000 matches of a million users: 256 ms by id, 84 ms by rowid
/// (bench/RESULTS.md (i)).
#[diesel::dsl::auto_type]
fn in_trigram_table<'a>(phrase: &'a str) -> _ {
    let matching: Match<users_search::any_column, dsl::AsExprOf<&'a str, Text>> =
        Match::new(users_search::any_column, phrase.into_sql::<Text>());
    let users_rowid: SqlLiteral<BigInt> = dsl::sql::<BigInt>("users.rowid");
    users_rowid.eq_any(
        users_search::table
            .filter(matching)
            .select(users_search::rowid),
    )
}

/// `q` as a case-insensitive substring pattern for `LIKE … ESCAPE '\'`.
fn like_pattern(q: &str) -> String {
    let escaped = q
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// `x` matches a `LIKE … ESCAPE '\\'` pattern, case-insensitively.
type Matches<'a, X> = dsl::Escape<dsl::Like<lower<X>, &'a str>>;

/// The staff search: the pattern in the email, username, first or last name.
type Search<'a> = dsl::Or<
    dsl::Or<
        dsl::Or<Matches<'a, dsl::Nullable<users::email>>, Matches<'a, users::username>>,
        Matches<'a, users::first_name>,
    >,
    Matches<'a, users::last_name>,
>;

/// The staff search's `q`, as each way of searching needs it.
#[derive(Debug, Clone, Copy)]
struct TextSearch<'a> {
    /// For `LIKE` (see [`like_pattern`]); `None` without `q`.
    pattern: Option<&'a str>,
    /// For the trigram table (see [`trigram_phrase`]); `None` without `q` or when `q` is
    /// shorter than a trigram.
    phrase: Option<&'a str>,
}

/// The users that `filter` selects (its `q` as `text`), for a page of them and for their
/// count.
fn filtered<'a, DB>(filter: &UserFilter, text: TextSearch<'a>) -> users::BoxedQuery<'a, DB>
where
    DB: TextIndex,
    users::table: BoxedDsl<'a, DB, Output = users::BoxedQuery<'a, DB>>,
    users::BoxedQuery<'a, DB>: Filters<Search<'a>>
        + Filters<in_trigram_table<'a>>
        + Filters<dsl::Eq<users::role, &'static str>>
        + Filters<dsl::Eq<users::is_active, bool>>,
{
    let mut query = users::table.into_boxed();
    match (text.phrase, text.pattern) {
        (Some(phrase), _) if DB::TRIGRAM_TABLE => {
            query = query.filter(in_trigram_table(phrase));
        }
        (_, Some(pattern)) => {
            query = query.filter(
                lower(users::email.nullable())
                    .like(pattern)
                    .escape('\\')
                    .or(lower(users::username).like(pattern).escape('\\'))
                    .or(lower(users::first_name).like(pattern).escape('\\'))
                    .or(lower(users::last_name).like(pattern).escape('\\')),
            );
        }
        (_, None) => {}
    }
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role.as_str()));
    }
    if let Some(active) = filter.is_active {
        query = query.filter(users::is_active.eq(active));
    }
    query
}

//! The user list's totals, kept as users are written (`user_counts`, migration 000024):
//! one row per (role, is_active) and shard, so that a total without a search is a sum of
//! a few rows instead of a count of every user (a million: 70 ms on PostgreSQL), and a
//! page past the middle of the list is placed by it without that count.
//!
//! `users::insert`, `users::update` (when the role or activity changes) and
//! `users::delete` leave their changes on the connection; `Db::guarded` writes them right
//! before the unit of work commits ([`write`]), after the audit trail's counts, in (role,
//! is_active, shard) order, so that every transaction takes these row locks last and in
//! one order. Only an instance older than the counts (during a rolling upgrade) writes a
//! user it does not count: the retention job's hourly recount ([`uncounted`],
//! [`add_to_counts`]) adds the difference.

use std::collections::BTreeMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{QueryFragment, QueryId};
use diesel::sqlite::Sqlite;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::prepared::{ByText, by_text};
use super::schema::user_counts;
use super::{Conn, run};
use crate::domain::{Role, UserFilter, UserId};
use crate::error::Result;

/// Shards per (role, is_active): concurrent registrations add to eight rows, not one, so
/// they seldom wait for each other's row lock on PostgreSQL.
const SHARDS: u8 = 8;

/// A group of users as the counts key them.
pub type Group = (String, bool);

/// `users` added to a group's count in one shard (negative when users leave it).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = user_counts)]
pub(super) struct Counted {
    role: String,
    is_active: bool,
    shard: i16,
    users: i64,
}

impl Counted {
    /// `users` (1 or -1) of the user `id` in `role` and `is_active`, in a shard its random
    /// id picks.
    fn of(id: UserId, role: &str, is_active: bool, users: i64) -> Self {
        Self {
            role: role.to_owned(),
            is_active,
            shard: i16::from(id.0.as_bytes()[15] % SHARDS),
            users,
        }
    }

    fn key(&self) -> (&str, bool, i16) {
        (&self.role, self.is_active, self.shard)
    }
}

/// Counts the user `id`, now in `role` and `is_active`, when the unit of work on `conn`
/// commits.
pub(super) fn add(conn: &mut Conn, id: UserId, role: &str, is_active: bool) {
    conn.1.users.push(Counted::of(id, role, is_active, 1));
}

/// Takes the user `id`, until now in `role` and `is_active`, off the counts when the unit
/// of work on `conn` commits.
pub(super) fn remove(conn: &mut Conn, id: UserId, role: &str, is_active: bool) {
    conn.1.users.push(Counted::of(id, role, is_active, -1));
}

/// Writes the counts that the unit of work on `conn` changed, right before it commits
/// (see `Db::guarded`), merged and in key order; a user who left a group and came back
/// writes nothing.
pub(super) async fn write(conn: &mut Conn) -> Result<()> {
    if conn.1.users.is_empty() {
        return Ok(());
    }
    let counts = super::merged(
        std::mem::take(&mut conn.1.users),
        |a, b| a.key().cmp(&b.key()),
        |c| &mut c.users,
    );
    for counted in &counts {
        run!(conn, |c| count_statement(counted).execute(c).await)?;
    }
    Ok(())
}

/// Adds `counted` to its group's shard (the upsert of `audit::count_statement`).
fn count_statement(
    counted: &Counted,
) -> ByText<impl QueryFragment<Pg> + QueryFragment<Sqlite> + QueryId + Send + '_> {
    by_text(
        diesel::insert_into(user_counts::table)
            .values(counted)
            .on_conflict((
                user_counts::role,
                user_counts::is_active,
                user_counts::shard,
            ))
            .do_update()
            .set(user_counts::users.eq(user_counts::users + excluded(user_counts::users))),
    )
}

/// How many users `filter`'s role and activity select, from the counts; `filter.q` is not
/// the counts' business (a search counts its matches).
pub(super) async fn total(conn: &mut Conn, filter: &UserFilter) -> Result<i64> {
    let role = filter.role.map(Role::as_str);
    let shards: Vec<i64> = run!(conn, |c| {
        let mut query = user_counts::table.select(user_counts::users).into_boxed();
        if let Some(role) = role {
            query = query.filter(user_counts::role.eq(role));
        }
        if let Some(active) = filter.is_active {
            query = query.filter(user_counts::is_active.eq(active));
        }
        query.load(c).await
    })?;
    Ok(shards.into_iter().sum())
}

/// What the counts are short of (or over) the users, per group; only groups that differ.
/// One statement, so the counting and the reading of the counts see one snapshot and
/// adding the difference ([`add_to_counts`]) is right whatever commits meanwhile (as
/// `audit::uncounted`). Reads every user: outside any transaction.
pub async fn uncounted(conn: &mut Conn) -> Result<BTreeMap<Group, i64>> {
    #[derive(QueryableByName)]
    struct Drift {
        #[diesel(sql_type = diesel::sql_types::Text)]
        role: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        is_active: bool,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        missing: i64,
    }
    let drifts: Vec<Drift> = run!(conn, |c| {
        diesel::sql_query(
            "SELECT role, is_active, CAST(SUM(n) AS BIGINT) AS missing FROM ( \
               SELECT role, is_active, COUNT(*) AS n FROM users GROUP BY role, is_active \
               UNION ALL \
               SELECT role, is_active, -SUM(users) AS n FROM user_counts \
               GROUP BY role, is_active \
             ) d GROUP BY role, is_active HAVING SUM(n) <> 0",
        )
        .load(c)
        .await
    })?;
    Ok(drifts
        .into_iter()
        .map(|d| ((d.role, d.is_active), d.missing))
        .collect())
}

/// Adds `per_group`'s numbers to the groups' counts (in shard 0), when the unit of work on
/// `conn` commits.
pub fn add_to_counts(conn: &mut Conn, per_group: BTreeMap<Group, i64>) {
    conn.1.users.extend(
        per_group
            .into_iter()
            .map(|((role, is_active), users)| Counted {
                role,
                is_active,
                shard: 0,
                users,
            }),
    );
}

//! What queries written once for both backends share.
//!
//! - `FOR UPDATE`: [`for_update`] wraps a query so that it locks its rows on PostgreSQL and
//!   renders unchanged on SQLite, which has no `FOR UPDATE` and needs none (a write
//!   transaction begins with `BEGIN IMMEDIATE` and holds the database lock). A wrapper
//!   rather than diesel's `.for_update()`, which does not exist for SQLite and whose lock
//!   type diesel keeps private, so no function generic over a query could ask for it.
//! - Boxed queries with optional filters (`users::list`, `audit::list`, `tasks::list`) are
//!   built by one function generic over the backend, `fn filtered<'a, DB>(…) ->
//!   table::BoxedQuery<'a, DB>`. Diesel's own bounds for boxing and filtering name traits
//!   it keeps private, so such a function asks instead that the table box into that type
//!   and that the boxed query take each of its filters ([`Filters`]); both backends do,
//!   and the caller's connection picks one.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::FilterDsl;
use diesel::result::QueryResult;
use diesel::sqlite::Sqlite;

/// `query`, locking the rows it reads until the transaction ends (see the module doc).
pub(crate) fn for_update<Q>(query: Q) -> ForUpdate<Q> {
    ForUpdate(query)
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ForUpdate<Q>(Q);

/// A query that the filter `F` keeps of its own type: a boxed query builder's bound for
/// each filter it may add (see the module doc).
pub(crate) trait Filters<F>: FilterDsl<F, Output = Self> {}

impl<Q: FilterDsl<F, Output = Q>, F> Filters<F> for Q {}

/// `OrderDsl` for an order `O` that keeps a boxed query's type, for generic query builders.
pub(crate) trait Orders<O: diesel::Expression>:
    diesel::query_dsl::methods::OrderDsl<O, Output = Self>
{
}

impl<Q, O> Orders<O> for Q
where
    Q: diesel::query_dsl::methods::OrderDsl<O, Output = Q>,
    O: diesel::Expression,
{
}

impl<Q: QueryId> QueryId for ForUpdate<Q> {
    type QueryId = ForUpdate<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: Query> Query for ForUpdate<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for ForUpdate<Q> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass.reborrow())?;
        pass.push_sql(" FOR UPDATE");
        Ok(())
    }
}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for ForUpdate<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::db::schema::users;

    #[test]
    fn locks_on_postgresql_only() {
        let query = for_update(users::table.select(users::id).order(users::id));
        let pg = diesel::debug_query::<Pg, _>(&query).to_string();
        let sqlite = diesel::debug_query::<Sqlite, _>(&query).to_string();
        assert!(
            pg.ends_with("ORDER BY \"users\".\"id\" FOR UPDATE -- binds: []"),
            "{pg}"
        );
        assert!(!sqlite.contains("FOR UPDATE"), "{sqlite}");
    }
}

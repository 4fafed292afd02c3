//! Statements that diesel would prepare anew at every execution, prepared once per
//! connection instead.
//!
//! Diesel's statement cache keys a statement by its Rust type when it can, and one type of
//! UPDATE, or of INSERT with an optional column, can stand for several SQL texts (a column
//! left out, `DEFAULT` for a `None`). So diesel marks every such statement unsafe to cache
//! and prepares it at each execution: on PostgreSQL an extra Parse/Describe round trip and
//! a parse, analysis and plan in the server, every time. [`ByText`] has the cache key the
//! statement by its SQL text and bind types instead, which is always safe: a text is one
//! statement. `HAS_STATIC_QUERY_ID = false` is what makes the cache use the text.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::serialize::ToSql;
use diesel::sql_types::BigInt;

use crate::domain::PageRequest;

/// `query`, prepared once per connection and SQL text (see the module doc).
pub(crate) fn by_text<Q>(query: Q) -> ByText<Q> {
    ByText(query)
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ByText<Q>(Q);

/// The type of `by_text(query)`, for `#[diesel::dsl::auto_type]` statement builders.
#[expect(
    non_camel_case_types,
    reason = "named like the function, as `auto_type` requires"
)]
pub(crate) type by_text<Q> = ByText<Q>;

impl<Q> QueryId for ByText<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for ByText<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for ByText<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

// Diesel's own (blocking) connection runs it too: see `sessions::find_many_with_user`.
impl<Q, Conn> diesel::RunQueryDsl<Conn> for ByText<Q> {}

/// `query` followed by the page's `LIMIT` and `OFFSET`, each bound as `? + 0`.
///
/// SQLite plans with the value of a parameter that a bare `LIMIT ?` or `OFFSET ?` reads,
/// so binding a new value (as every execution does) makes `sqlite3_step` compile the
/// statement again: diesel's `.limit()` and `.offset()` cost a parse and a plan at every
/// page (8 % of the CPU under the console's dashboard), and at every poll of the revocation
/// feed. An expression's parameter is only read when the statement runs. PostgreSQL takes
/// the same text and the same plan. Used on the hot reads; the staff lists and the
/// retention job's batches keep diesel's own.
pub(crate) fn paged<Q>(query: Q, page: PageRequest) -> Paged<Q> {
    Paged {
        query,
        limit: page.limit,
        offset: page.offset,
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Paged<Q> {
    query: Q,
    limit: i64,
    offset: i64,
}

impl<Q> QueryId for Paged<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Paged<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> QueryFragment<DB> for Paged<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(pass.reborrow())?;
        pass.push_sql(" LIMIT ");
        pass.push_bind_param::<BigInt, _>(&self.limit)?;
        pass.push_sql(" + 0 OFFSET ");
        pass.push_bind_param::<BigInt, _>(&self.offset)?;
        pass.push_sql(" + 0");
        Ok(())
    }
}

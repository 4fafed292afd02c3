//! `DATABASE_URL`, its scheme read in one place: every other decision that depends on the
//! backend matches on [`DatabaseUrl`] (or [`Backend`]) instead of looking at the text.

use super::Backend;

/// A database URL whose scheme has been read. No `Debug`: it can hold a password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`, handed to the driver as written.
    Postgres(String),
    /// `sqlite://PATH` or `sqlite:PATH`: the database file's path (checked when opened).
    Sqlite(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        match url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Some(path) => Ok(Self::Sqlite(path.to_owned())),
            None => anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://"),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_names_the_backend() {
        let parse = |url| DatabaseUrl::parse(url).map(|u| u.backend()).ok();
        assert_eq!(parse("postgres://db/doorman"), Some(Backend::Postgres));
        assert_eq!(parse("postgresql://u@db/x"), Some(Backend::Postgres));
        assert_eq!(parse("sqlite://doorman.db"), Some(Backend::Sqlite));
        assert_eq!(parse("sqlite:doorman.db"), Some(Backend::Sqlite));
        assert_eq!(parse("mysql://db/doorman"), None);
        assert_eq!(parse("doorman.db"), None);
    }

    #[test]
    fn a_sqlite_url_gives_the_file_path() {
        let path = |url| match DatabaseUrl::parse(url) {
            Ok(DatabaseUrl::Sqlite(path)) => Some(path),
            _ => None,
        };
        assert_eq!(path("sqlite://doorman.db").as_deref(), Some("doorman.db"));
        assert_eq!(
            path("sqlite:///var/lib/x.db").as_deref(),
            Some("/var/lib/x.db")
        );
        assert_eq!(path("sqlite:x.db").as_deref(), Some("x.db"));
    }
}

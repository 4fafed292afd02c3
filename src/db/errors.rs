//! What a Diesel error means to a client: unavailable (503), a unique violation (a field
//! error where the query is made), or internal.

use super::*;

/// A failure that says the database is unavailable for now (unreachable, restarting,
/// locked by another process, or out of disk) is `503 service_unavailable`, logged with
/// its cause; any other is internal.
impl From<DieselError> for Error {
    fn from(err: DieselError) -> Self {
        match unavailable(&err) {
            Some(cause) => {
                tracing::warn!(error = %err, cause, "the database is unavailable");
                Error::ServiceUnavailable {
                    retry_after_secs: 1,
                }
            }
            None => Error::internal(err),
        }
    }
}

/// Why `err` means the database is unavailable for now, if it does. PostgreSQL's reasons
/// are its messages for SQLSTATE 57P01–57P03 and 55P03 (diesel keeps the message, not the
/// code); SQLite's are SQLITE_FULL and SQLITE_BUSY.
pub(super) fn unavailable(err: &DieselError) -> Option<&'static str> {
    let DieselError::DatabaseError(kind, info) = err else {
        return None;
    };
    if let DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection = kind {
        return Some("the connection to the database failed");
    }
    let message = info.message();
    let causes = [
        (
            "database or disk is full",
            "the disk holding the database is full",
        ),
        (
            "database is locked",
            "the database is locked by another connection",
        ),
        (
            "database table is locked",
            "the database is locked by another connection",
        ),
        (
            "terminating connection due to",
            "the database server is shutting down",
        ),
        (
            "the database system is",
            "the database server is starting or stopping",
        ),
        (
            "canceling statement due to lock timeout",
            "a lock was held too long",
        ),
    ];
    causes
        .into_iter()
        .find(|(start, _)| message.starts_with(start))
        .map(|(_, cause)| cause)
}

pub(super) fn past_deadline(deadline: Duration) -> Error {
    tracing::warn!(
        deadline_ms = deadline.as_millis(),
        "the database did not answer within the deadline"
    );
    Error::ServiceUnavailable {
        retry_after_secs: 1,
    }
}

/// SQLite reports some writes that failed for want of space (growing the WAL index, say) as
/// `SQLITE_IOERR` ("disk I/O error") rather than `SQLITE_FULL`: with no space left on the
/// database's file system, such an error is the full disk, and temporary.
pub(super) fn disk_full(err: anyhow::Error, path: &str) -> Error {
    let io_error = err.downcast_ref::<DieselError>().is_some_and(
        |e| matches!(e, DieselError::DatabaseError(_, info) if info.message() == "disk I/O error"),
    );
    if io_error && no_space_left(path) {
        tracing::warn!(error = %err, cause = "the disk holding the database is full", "the database is unavailable");
        return Error::ServiceUnavailable {
            retry_after_secs: 1,
        };
    }
    Error::Internal(err)
}

/// Whether the file system holding `path` has no space left for an unprivileged writer.
pub(super) fn no_space_left(path: &str) -> bool {
    #[cfg(unix)]
    {
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let Ok(dir) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
            return false;
        };
        let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        #[expect(
            unsafe_code,
            reason = "statvfs only writes the struct it is given; std has no wrapper"
        )]
        // SAFETY: `dir` is a NUL-terminated path and `stats` is valid for writes.
        let done = unsafe { libc::statvfs(dir.as_ptr(), stats.as_mut_ptr()) } == 0;
        #[expect(unsafe_code, reason = "initialised by the successful statvfs above")]
        // SAFETY: statvfs returned 0, so it filled `stats`.
        let stats = done.then(|| unsafe { stats.assume_init() });
        // Less than a page or two of SQLite's is as good as none.
        stats.is_some_and(|s| s.f_bavail.saturating_mul(s.f_frsize) < 64 * 1024)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The unique constraint a failed insert or update broke, if that is why it failed.
/// PostgreSQL names the index; SQLite names the column or the index in its message.
pub(crate) fn unique_violation(err: &DieselError) -> Option<String> {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            Some(info.constraint_name().unwrap_or(info.message()).to_owned())
        }
        _ => None,
    }
}

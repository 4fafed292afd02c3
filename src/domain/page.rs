//! Paging and optional-field changes shared by every list and patch.

/// `?limit=&offset=`, parsed: limit 1–200 (default 50), offset ≥ 0 (default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    pub offset: i64,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;

    pub fn parse(
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Self, Vec<crate::error::FieldError>> {
        use crate::error::FieldError;
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        let offset = offset.unwrap_or(0);
        let mut errors = Vec::new();
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                "out_of_range",
                "must be between 1 and 200",
            ));
        }
        if offset < 0 {
            errors.push(FieldError::new(
                "offset",
                "out_of_range",
                "must not be negative",
            ));
        }
        if errors.is_empty() {
            Ok(Self { limit, offset })
        } else {
            Err(errors)
        }
    }
}

/// Where a page's rows lie in a list, read from the nearer end (see [`PageRequest::window`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// How many rows the page holds (0 past the end).
    pub limit: i64,
    /// How many rows to skip, from the end the window is read from.
    pub offset: i64,
    /// Read from the list's end, in the reverse order: the rows come last first.
    pub reversed: bool,
}

impl PageRequest {
    /// This page in a list of `total` rows, read from whichever end of the list is nearer:
    /// a database skips the rows before an offset one by one, so past the middle it skips
    /// fewer from the end, in the reverse order. The caller puts the rows it reads back in
    /// the list's order.
    pub fn window(self, total: i64) -> Window {
        let end = self.offset.saturating_add(self.limit).min(total);
        let limit = (end - self.offset).max(0);
        let after = total - end;
        Window {
            limit,
            offset: if limit > 0 && after < self.offset {
                after
            } else {
                self.offset
            },
            reversed: limit > 0 && after < self.offset,
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub request: PageRequest,
}

/// A change to an optional field: leave it, clear it (`null`), or set it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Self::Keep => Patch::Keep,
            Self::Clear => Patch::Clear,
            Self::Set(value) => Patch::Set(f(value)),
        }
    }

    /// `None` to keep, `Some(None)` to clear, `Some(Some(v))` to set.
    pub fn into_option(self) -> Option<Option<T>> {
        match self {
            Self::Keep => None,
            Self::Clear => Some(None),
            Self::Set(value) => Some(Some(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(offset: i64, limit: i64, total: i64) -> Window {
        PageRequest { limit, offset }.window(total)
    }

    #[test]
    fn a_page_is_read_from_the_nearer_end() {
        let forward = |limit, offset| Window {
            limit,
            offset,
            reversed: false,
        };
        let backward = |limit, offset| Window {
            limit,
            offset,
            reversed: true,
        };
        assert_eq!(window(0, 20, 100), forward(20, 0));
        assert_eq!(window(10, 20, 100), forward(20, 10));
        // 40 rows before the page, 40 after it: forward.
        assert_eq!(window(40, 20, 100), forward(20, 40));
        // 41 before, 39 after: the 39 are skipped from the end.
        assert_eq!(window(41, 20, 100), backward(20, 39));
        assert_eq!(window(900_000, 20, 1_000_000), backward(20, 99_980));
        // The last page, short: nothing to skip from the end.
        assert_eq!(window(90, 20, 100), backward(10, 0));
        assert_eq!(window(99, 50, 100), backward(1, 0));
    }

    #[test]
    fn past_the_end_or_in_an_empty_list_a_page_reads_nothing() {
        assert_eq!(window(100, 20, 100).limit, 0);
        assert_eq!(window(i64::MAX, 200, 100).limit, 0);
        assert_eq!(window(0, 20, 0).limit, 0);
        assert!(!window(100, 20, 100).reversed);
        assert_eq!(window(i64::MAX - 5, 200, i64::MAX).limit, 5);
    }
}

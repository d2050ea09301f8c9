//! Pagination: `?limit=&offset=` in, `Page<T>` out.

use serde::{Deserialize, Serialize};

/// The largest page a list endpoint returns.
pub const MAX_PAGE_LIMIT: i64 = 200;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_LIMIT: i64 = 50;

/// Query parameters for paging through a list.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1..=200 (default 50).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

impl PageQuery {
    /// The limit and offset to use, or a message saying which one is out of range.
    pub fn resolve(&self) -> Result<(i64, i64), String> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
        let offset = self.offset.unwrap_or(0);
        if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
            return Err(format!(
                "limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}"
            ));
        }
        if offset < 0 {
            return Err(format!("offset must not be negative, got {offset}"));
        }
        Ok((limit, offset))
    }
}

/// One page of a list, with the total count of matching items.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

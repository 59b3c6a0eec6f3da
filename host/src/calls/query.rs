//! The reserved query parameters of proxy and unified calls (`integrated_account_id`, `limit`,
//! `next_cursor`, `remote_data`); every other parameter belongs to the call.

use super::error::CallsError;

/// Largest page size a caller may ask for.
pub const MAX_LIMIT: u64 = 1000;

/// A call's query, read.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    /// `integrated_account_id`.
    pub account_id: String,
    /// `limit`.
    pub limit: Option<u64>,
    /// `next_cursor` (empty counts as absent).
    pub cursor: Option<String>,
    /// `remote_data=false` was asked.
    pub no_remote_data: bool,
    /// Every other parameter, in order.
    pub rest: Vec<(String, String)>,
}

impl CallQuery {
    /// Reads query pairs.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, CallsError> {
        let mut account_id = None;
        let mut q = Self::default();
        for (k, v) in pairs {
            match k.as_str() {
                "integrated_account_id" => account_id = Some(v),
                "limit" => {
                    let n: u64 = v
                        .parse()
                        .map_err(|_| CallsError::Invalid("limit must be a positive integer".into()))?;
                    if n == 0 || n > MAX_LIMIT {
                        return Err(CallsError::Invalid(format!(
                            "limit must be between 1 and {MAX_LIMIT}"
                        )));
                    }
                    q.limit = Some(n);
                }
                "next_cursor" => q.cursor = Some(v).filter(|c| !c.is_empty()),
                "remote_data" => {
                    q.no_remote_data = match v.as_str() {
                        "true" => false,
                        "false" => true,
                        _ => return Err(CallsError::Invalid("remote_data must be true or false".into())),
                    }
                }
                _ => q.rest.push((k, v)),
            }
        }
        q.account_id =
            account_id.ok_or_else(|| CallsError::Invalid("integrated_account_id is required".into()))?;
        Ok(q)
    }
}

//! The normalized error taxonomy: every non-2xx answer of the host carries one of these codes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Codes for failures on the vendor's side (`remote: true`), the ones a manifest can map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemoteErrorCode {
    /// The vendor throttled the call (429).
    RateLimited,
    /// The vendor rejected the credentials (401).
    RemoteUnauthorized,
    /// The vendor refused access (403).
    RemoteForbidden,
    /// The vendor has no such thing (404).
    RemoteNotFound,
    /// The vendor rejected the request (400/422).
    RemoteInvalidRequest,
    /// The vendor reported a conflict (409).
    RemoteConflict,
    /// The vendor failed (5xx) (502).
    RemoteServerError,
    /// The vendor did not answer in time (504).
    RemoteTimeout,
    /// The vendor could not be reached (502).
    RemoteUnreachable,
    /// The vendor's answer did not have the shape the manifest expects (502).
    MappingError,
    /// The connector itself failed (500).
    ConnectorError,
}

/// Every code of the taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing or unknown API token (401).
    Unauthenticated,
    /// An inbound webhook's signature is missing, wrong or stale (401).
    InvalidSignature,
    /// The token may not do this (403).
    Forbidden,
    /// No such route or object, or not visible to this token (404).
    NotFound,
    /// The route exists without this HTTP method (405, with `Allow`).
    MethodNotAllowed,
    /// Malformed request (400).
    InvalidRequest,
    /// The integrated account is not `active` (409).
    AccountNotActive,
    /// Request body too large (413).
    PayloadTooLarge,
    /// A bug or an outage of the host (500).
    Internal,
    /// The host's database cannot be reached now (503): retry later.
    DatabaseUnavailable,
    /// A vendor-side failure.
    #[serde(untagged)]
    Remote(RemoteErrorCode),
}

impl RemoteErrorCode {
    /// HTTP status the host answers with.
    pub fn status(self) -> u16 {
        match self {
            Self::RateLimited => 429,
            Self::RemoteUnauthorized => 401,
            Self::RemoteForbidden => 403,
            Self::RemoteNotFound => 404,
            Self::RemoteInvalidRequest => 400,
            Self::RemoteConflict => 409,
            Self::RemoteServerError | Self::RemoteUnreachable | Self::MappingError => 502,
            Self::RemoteTimeout => 504,
            Self::ConnectorError => 500,
        }
    }

    /// The default code for a vendor HTTP status (non-2xx).
    pub fn from_status(status: u16) -> Self {
        match status {
            429 => Self::RateLimited,
            401 => Self::RemoteUnauthorized,
            403 => Self::RemoteForbidden,
            404 | 410 => Self::RemoteNotFound,
            409 => Self::RemoteConflict,
            408 | 504 => Self::RemoteTimeout,
            500..=599 => Self::RemoteServerError,
            _ => Self::RemoteInvalidRequest,
        }
    }

    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        ErrorCode::Remote(self).as_str()
    }
}

impl ErrorCode {
    /// Every code, host-side first (the API description lists them).
    pub const ALL: [ErrorCode; 21] = [
        Self::Unauthenticated,
        Self::InvalidSignature,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::InvalidRequest,
        Self::AccountNotActive,
        Self::PayloadTooLarge,
        Self::Internal,
        Self::DatabaseUnavailable,
        Self::Remote(RemoteErrorCode::RateLimited),
        Self::Remote(RemoteErrorCode::RemoteUnauthorized),
        Self::Remote(RemoteErrorCode::RemoteForbidden),
        Self::Remote(RemoteErrorCode::RemoteNotFound),
        Self::Remote(RemoteErrorCode::RemoteInvalidRequest),
        Self::Remote(RemoteErrorCode::RemoteConflict),
        Self::Remote(RemoteErrorCode::RemoteServerError),
        Self::Remote(RemoteErrorCode::RemoteTimeout),
        Self::Remote(RemoteErrorCode::RemoteUnreachable),
        Self::Remote(RemoteErrorCode::MappingError),
        Self::Remote(RemoteErrorCode::ConnectorError),
    ];

    /// HTTP status the host answers with.
    pub fn status(self) -> u16 {
        match self {
            Self::Unauthenticated | Self::InvalidSignature => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::InvalidRequest => 400,
            Self::AccountNotActive => 409,
            Self::PayloadTooLarge => 413,
            Self::Internal => 500,
            Self::DatabaseUnavailable => 503,
            Self::Remote(code) => code.status(),
        }
    }

    /// Whether the failure is on the vendor's side.
    pub fn is_remote(self) -> bool {
        matches!(self, Self::Remote(_))
    }

    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidSignature => "invalid_signature",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidRequest => "invalid_request",
            Self::AccountNotActive => "account_not_active",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Internal => "internal",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::Remote(code) => match code {
                RemoteErrorCode::RateLimited => "rate_limited",
                RemoteErrorCode::RemoteUnauthorized => "remote_unauthorized",
                RemoteErrorCode::RemoteForbidden => "remote_forbidden",
                RemoteErrorCode::RemoteNotFound => "remote_not_found",
                RemoteErrorCode::RemoteInvalidRequest => "remote_invalid_request",
                RemoteErrorCode::RemoteConflict => "remote_conflict",
                RemoteErrorCode::RemoteServerError => "remote_server_error",
                RemoteErrorCode::RemoteTimeout => "remote_timeout",
                RemoteErrorCode::RemoteUnreachable => "remote_unreachable",
                RemoteErrorCode::MappingError => "mapping_error",
                RemoteErrorCode::ConnectorError => "connector_error",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
        }
    }

    #[test]
    fn statuses_follow_the_taxonomy() {
        assert_eq!(
            RemoteErrorCode::from_status(503),
            RemoteErrorCode::RemoteServerError
        );
        assert_eq!(
            RemoteErrorCode::from_status(422),
            RemoteErrorCode::RemoteInvalidRequest
        );
        assert_eq!(RemoteErrorCode::RemoteServerError.status(), 502);
        assert_eq!(ErrorCode::AccountNotActive.status(), 409);
        assert_eq!(ErrorCode::DatabaseUnavailable.status(), 503);
        assert_eq!(
            serde_json::to_value(ErrorCode::DatabaseUnavailable).unwrap(),
            ErrorCode::DatabaseUnavailable.as_str()
        );
    }
}

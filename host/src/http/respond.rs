//! Writing a call's [`Answer`]: JSON, the vendor's rate-limit state as IETF `ratelimit-*`
//! headers, and `patchbay-connector-version`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::set_headers;
use crate::calls::Answer;

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], self.body).into_response();
        let mut headers = self.rate_limit.headers(false);
        headers.push(("patchbay-connector-version", self.served_by));
        set_headers(response.headers_mut(), headers);
        response
    }
}

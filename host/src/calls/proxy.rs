//! Proxied calls: vendor resources as they are, through the connector's methods.

use patchbay_engine::{Call, Payload};
use serde_json::{Value, json};

use super::answer::Answer;
use super::context::CallContext;
use super::error::{CallFailure, CallsError};
use super::query::CallQuery;
use super::service::Calls;
use crate::accounts::principal::Principal;

/// A proxied call: which resource, which methods (the first the connector has is called: a PUT
/// prefers `replace` and falls back to `update`), which record, what body.
#[derive(Debug, Clone)]
pub struct ProxyCall<'a> {
    /// Resource name.
    pub resource: &'a str,
    /// Candidate method names, in order of preference.
    pub methods: &'a [&'a str],
    /// Record id.
    pub id: Option<String>,
    /// Request body.
    pub body: Option<Value>,
}

impl Calls {
    /// Runs a proxied call for `principal`.
    pub async fn proxy(
        &self,
        principal: &Principal,
        query: CallQuery,
        request: ProxyCall<'_>,
    ) -> Result<Answer, CallFailure> {
        let mut ctx = CallContext::resolve(self, principal, query).await?;
        let answer = self.proxy_resolved(&mut ctx, request).await;
        answer.map_err(|error| ctx.failure(error))
    }

    async fn proxy_resolved(
        &self,
        ctx: &mut CallContext,
        request: ProxyCall<'_>,
    ) -> Result<Answer, CallsError> {
        let ProxyCall {
            resource,
            methods,
            id,
            body,
        } = request;
        let engine = &ctx.connector.connector;
        let method = methods
            .iter()
            .copied()
            .find(|m| engine.method(resource, m).is_some())
            .unwrap_or(methods[0]);
        let is_list = engine.resolve(resource, method)?.is_list();
        let scope = format!("proxy:{resource}.{method}");
        let page = ctx.resume(self, &scope)?;
        if page.is_some() && !is_list {
            return Err(CallsError::Invalid(
                "next_cursor only applies to list methods".into(),
            ));
        }
        let call = Call {
            resource: resource.to_owned(),
            method: method.to_owned(),
            id,
            limit: ctx.limit,
            query: ctx.query_object(),
            passthrough: ctx.query.clone(),
            body,
            page,
        };
        let (response, classification) = ctx.send(self, &call).await?;
        let status = if method == "create" { 201 } else { 200 };
        let raw = if is_list {
            ctx.raw_list(self, &scope, &call, &response, &classification, None)
        } else {
            ctx.raw_single(status, &call, &response, &classification)
        };
        if let Some(answer) = raw {
            return Ok(answer);
        }
        let (payload, rate_limit) = ctx.read(&call, response, classification).await?;
        let body = match payload {
            Payload::List { records, next } => {
                let next_cursor = ctx.next_cursor(self, &scope, next);
                json!({"result_count": records.len(), "next_cursor": next_cursor, "result": records})
            }
            Payload::Single(record) => json!({ "result": record }),
        };
        Ok(ctx.answer(status, &body, rate_limit))
    }
}

//! Unified calls: vendor data in the unified shape, through the connector's unified mappings;
//! each record keeps the vendor's original in `remote_data` unless the caller asks otherwise.

use patchbay_engine::{Call, Payload};
use serde_json::{Value, json};

use super::answer::Answer;
use super::context::CallContext;
use super::error::{CallFailure, CallsError};
use super::query::CallQuery;
use super::service::Calls;
use crate::accounts::principal::Principal;

/// A unified call: which model and resource, which method, which record, what body.
#[derive(Debug, Clone)]
pub struct UnifiedCall<'a> {
    /// Unified model, e.g. `crm`.
    pub model: &'a str,
    /// Resource of the model, e.g. `contacts`.
    pub resource: &'a str,
    /// `list`, `get`, `create`, `update` or `delete`.
    pub method: &'a str,
    /// Record id.
    pub id: Option<String>,
    /// Unified request body.
    pub body: Option<Value>,
}

/// A mapped record, with the vendor's original in `remote_data`; the mapping must yield an object.
fn finish(mapped: Value, record: Value, remote_data: bool) -> Result<Value, CallsError> {
    let Value::Object(mut obj) = mapped else {
        return Err(CallsError::NotAnObject);
    };
    if remote_data {
        obj.insert("remote_data".into(), record);
    }
    Ok(Value::Object(obj))
}

impl Calls {
    /// Runs a unified call for `principal`.
    pub async fn unified(
        &self,
        principal: &Principal,
        query: CallQuery,
        request: UnifiedCall<'_>,
    ) -> Result<Answer, CallFailure> {
        let mut ctx = CallContext::resolve(self, principal, query).await?;
        let answer = self.unified_resolved(&mut ctx, request).await;
        answer.map_err(|error| ctx.failure(error))
    }

    async fn unified_resolved(
        &self,
        ctx: &mut CallContext,
        request: UnifiedCall<'_>,
    ) -> Result<Answer, CallsError> {
        let UnifiedCall {
            model,
            resource,
            method,
            id,
            body,
        } = request;
        let scope = format!("unified:{model}/{resource}.{method}");
        let page = ctx.resume(self, &scope)?;
        let connector = ctx.connector.clone();
        let dispatch = connector.dispatch();
        let names = (model, resource, method);
        // A component that maps writes back gets the caller's body; the engine's mapping is skipped.
        let maps_back = dispatch.maps_back();
        let call = Call {
            id,
            limit: ctx.limit,
            query: ctx.query_object(),
            body: if maps_back { None } else { body.clone() },
            page,
            ..Default::default()
        };
        let (u, mut call) = connector.connector.unified_call(model, resource, method, call)?;
        if let Some(body) = body.as_ref().filter(|_| maps_back)
            && let Some(mapped) = dispatch.map_back(names, body).await
        {
            call.body = Some(mapped?);
        }
        let remote_data = ctx.remote_data;
        let (response, classification) = ctx.send(self, &call).await?;
        if method == "list"
            && let Some(answer) = ctx.raw_list(
                self,
                &scope,
                &call,
                &response,
                &classification,
                Some((u, remote_data)),
            )
        {
            return Ok(answer);
        }
        let (payload, rate_limit) = ctx.read(&call, response, classification).await?;
        let status = if method == "create" { 201 } else { 200 };
        let body = match payload {
            Payload::List { records, next } => {
                let mapped = dispatch.map_records(names, u, &records).await?;
                let result = mapped
                    .into_iter()
                    .zip(records)
                    .map(|(m, r)| finish(m, r, remote_data))
                    .collect::<Result<Vec<_>, _>>()?;
                let next_cursor = ctx.next_cursor(self, &scope, next);
                json!({"result_count": result.len(), "next_cursor": next_cursor, "result": result})
            }
            Payload::Single(Value::Null) => json!({ "result": null }),
            Payload::Single(record) => {
                let mapped = dispatch
                    .map_records(names, u, std::slice::from_ref(&record))
                    .await?;
                let mapped = mapped.into_iter().next().unwrap_or(Value::Null);
                json!({ "result": finish(mapped, record, remote_data)? })
            }
        };
        Ok(ctx.answer(status, &body, rate_limit))
    }
}

//! Pagination strategies: from one page's answer to the state of the next request.
//!
//! Every strategy is one arm of the `match` in [`next`]; the manifest selects it by `type`.

use serde_json::{Value, json};

use crate::call::PageState;
use crate::connector::CompiledPagination;
use crate::expr::Expr;
use crate::http::Headers;
use crate::manifest::BodyOrQuery;

/// A page's body as the strategies read it: a parsed `Value`, or raw text ([`crate::rawpath`]).
pub(crate) trait PageBody {
    /// An expression's value on the body.
    fn eval(&self, e: &Expr) -> Result<Value, String>;
    /// The whole body (for expression-driven pagination).
    fn whole(&self) -> Result<&Value, String>;
}

impl PageBody for Value {
    fn eval(&self, e: &Expr) -> Result<Value, String> {
        e.eval(self)
    }

    fn whole(&self) -> Result<&Value, String> {
        Ok(self)
    }
}

fn truthy(v: Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
}

/// The next page after an answer (`None`: this was the last page).
///
/// `current` is the state the answered request was built with, `records` how many records it held.
pub(crate) fn next(
    strategy: &CompiledPagination,
    body: &(impl PageBody + ?Sized),
    headers: &Headers,
    status: u16,
    current: Option<&PageState>,
    records: usize,
) -> Result<Option<PageState>, String> {
    let query_state = |param: &str, value: String| PageState {
        query: [(param.to_owned(), value)].into_iter().collect(),
        ..Default::default()
    };
    let current_number = |param: &str| {
        current
            .and_then(|p| p.query.get(param))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Ok(match strategy {
        CompiledPagination::None => None,
        CompiledPagination::Cursor {
            cursor,
            param,
            location,
        } => scalar(&body.eval(cursor)?).map(|c| match location {
            BodyOrQuery::Query => query_state(param, c),
            BodyOrQuery::Body => PageState {
                body: Some(json!({ param: c })),
                ..Default::default()
            },
        }),
        CompiledPagination::Page {
            param,
            start,
            has_more,
        } => {
            let more = match has_more {
                Some(e) => truthy(body.eval(e)?),
                None => records > 0,
            };
            more.then(|| query_state(param, (current_number(param).unwrap_or(*start) + 1).to_string()))
        }
        CompiledPagination::Offset {
            param,
            next_offset,
            has_more,
        } => {
            let more = match has_more {
                Some(e) => truthy(body.eval(e)?),
                None => records > 0,
            };
            if !more {
                None
            } else if let Some(e) = next_offset {
                scalar(&body.eval(e)?).map(|n| query_state(param, n))
            } else {
                Some(query_state(
                    param,
                    (current_number(param).unwrap_or(0) + records as u64).to_string(),
                ))
            }
        }
        CompiledPagination::LinkHeader { rel } => headers
            .get_all("link")
            .find_map(|h| link_with_rel(h, rel))
            .map(|url| PageState {
                url: Some(url),
                ..Default::default()
            }),
        CompiledPagination::NextUrl { next_url } => scalar(&body.eval(next_url)?).map(|url| PageState {
            url: Some(url),
            ..Default::default()
        }),
        CompiledPagination::GraphqlCursor { page_info, variable } => {
            let info = body.eval(page_info)?;
            let has_next = info["hasNextPage"].as_bool().unwrap_or(false);
            match (has_next, scalar(&info["endCursor"])) {
                (true, Some(cursor)) => Some(PageState {
                    body: Some(json!({"variables": { variable: cursor }})),
                    ..Default::default()
                }),
                _ => None,
            }
        }
        CompiledPagination::Dynamic { next } => {
            let input = json!({
                "status": status,
                "headers": headers.to_json(),
                "body": body.whole()?,
                "records": records,
                "request": {
                    "query": current.map(|p| json!(p.query)).unwrap_or_else(|| json!({})),
                    "body": current.and_then(|p| p.body.clone()).unwrap_or(Value::Null),
                },
            });
            match next.eval(&input)? {
                Value::Null | Value::Bool(false) => None,
                Value::Object(o) => {
                    let mut state = PageState::default();
                    if let Some(Value::Object(q)) = o.get("query") {
                        state.query = q
                            .iter()
                            .filter_map(|(k, v)| scalar(v).map(|v| (k.clone(), v)))
                            .collect();
                    }
                    if let Some(b) = o.get("body").filter(|b| !b.is_null()) {
                        state.body = Some(b.clone());
                    }
                    if let Some(vars) = o.get("variables").filter(|v| !v.is_null()) {
                        state.body = Some(json!({"variables": vars}));
                    }
                    state.url = o.get("url").and_then(scalar);
                    Some(state)
                }
                other => {
                    return Err(format!(
                        "dynamic pagination must yield null or an object, got {other}"
                    ));
                }
            }
        }
    })
}

/// Makes a relative next-page URL absolute against the URL of the request that returned it.
pub(crate) fn resolve_against(mut state: PageState, request_url: Option<&str>) -> PageState {
    if let (Some(next), Some(base)) = (&state.url, request_url)
        && let Ok(absolute) = url::Url::parse(base).and_then(|b| b.join(next))
    {
        state.url = Some(absolute.into());
    }
    state
}

/// A cursor-like value as text; null, false and "" mean "no more pages".
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The target of the link with relation `rel` in an RFC 8288 `Link` header value.
pub fn link_with_rel(header: &str, rel: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let after = &rest[end + 1..];
        // Parameters run to the next link (a ',' outside quotes followed by '<').
        let params_end = next_link_start(after).unwrap_or(after.len());
        let params = &after[..params_end];
        let matches = params.split(';').any(|p| {
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case(rel))
        });
        if matches {
            return Some(target.to_owned());
        }
        rest = &after[params_end..];
    }
}

fn next_link_start(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr;

    fn e(s: &str) -> Expr {
        Expr::compile(s).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn cursor_from_body() {
        let s = CompiledPagination::Cursor {
            cursor: e(".paging.next.after"),
            param: "after".into(),
            location: BodyOrQuery::Query,
        };
        let got = next(
            &s,
            &json!({"paging": {"next": {"after": "abc"}}}),
            &Headers::default(),
            200,
            None,
            10,
        )
        .unwrap();
        assert_eq!(got.unwrap().query["after"], "abc");
        assert_eq!(
            next(&s, &json!({"results": []}), &Headers::default(), 200, None, 0).unwrap(),
            None
        );
        let b = CompiledPagination::Cursor {
            cursor: e(".next"),
            param: "cursor".into(),
            location: BodyOrQuery::Body,
        };
        let got = next(&b, &json!({"next": 7}), &Headers::default(), 200, None, 1)
            .unwrap()
            .unwrap();
        assert_eq!(got.body, Some(json!({"cursor": "7"})));
    }

    #[test]
    fn page_numbers_advance_and_stop() {
        let s = CompiledPagination::Page {
            param: "page".into(),
            start: 1,
            has_more: None,
        };
        let p2 = next(&s, &json!([1]), &Headers::default(), 200, None, 1)
            .unwrap()
            .unwrap();
        assert_eq!(p2.query["page"], "2");
        let p3 = next(&s, &json!([1]), &Headers::default(), 200, Some(&p2), 1)
            .unwrap()
            .unwrap();
        assert_eq!(p3.query["page"], "3");
        assert_eq!(
            next(&s, &json!([]), &Headers::default(), 200, Some(&p3), 0).unwrap(),
            None
        );
        let with_more = CompiledPagination::Page {
            param: "p".into(),
            start: 0,
            has_more: Some(e(".more")),
        };
        assert_eq!(
            next(
                &with_more,
                &json!({"more": false}),
                &Headers::default(),
                200,
                None,
                5
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn offsets_from_body_or_counting() {
        let pd = CompiledPagination::Offset {
            param: "start".into(),
            next_offset: Some(e(".additional_data.pagination.next_start")),
            has_more: Some(e(".additional_data.pagination.more_items_in_collection")),
        };
        let body =
            json!({"additional_data": {"pagination": {"more_items_in_collection": true, "next_start": 100}}});
        assert_eq!(
            next(&pd, &body, &Headers::default(), 200, None, 100)
                .unwrap()
                .unwrap()
                .query["start"],
            "100"
        );
        let last = json!({"additional_data": {"pagination": {"more_items_in_collection": false}}});
        assert_eq!(next(&pd, &last, &Headers::default(), 200, None, 3).unwrap(), None);
        let counting = CompiledPagination::Offset {
            param: "offset".into(),
            next_offset: None,
            has_more: None,
        };
        let p = next(&counting, &json!([]), &Headers::default(), 200, None, 25)
            .unwrap()
            .unwrap();
        let p = next(&counting, &json!([]), &Headers::default(), 200, Some(&p), 25)
            .unwrap()
            .unwrap();
        assert_eq!(p.query["offset"], "50");
    }

    #[test]
    fn link_header_rel_next() {
        let h = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(
            link_with_rel(h, "next").unwrap(),
            "https://api.github.com/repositories/1/issues?page=2"
        );
        assert_eq!(
            link_with_rel(h, "last").unwrap(),
            "https://api.github.com/repositories/1/issues?page=5"
        );
        assert_eq!(link_with_rel(h, "prev"), None);
        // Quoted parameters may contain commas and '<'; rel may list several relations.
        let tricky = r#"<https://x/a>; title="a, <b>"; rel="prev", <https://x/c>; rel="next last""#;
        assert_eq!(link_with_rel(tricky, "next").unwrap(), "https://x/c");
        let s = CompiledPagination::LinkHeader { rel: "next".into() };
        let got = next(&s, &json!([]), &headers(&[("Link", h)]), 200, None, 30)
            .unwrap()
            .unwrap();
        assert_eq!(
            got.url.unwrap(),
            "https://api.github.com/repositories/1/issues?page=2"
        );
    }

    #[test]
    fn relative_links_resolve_against_the_request() {
        let s = CompiledPagination::LinkHeader { rel: "next".into() };
        let next = next(
            &s,
            &json!([]),
            &headers(&[("link", "<items?page=2>; rel=\"next\"")]),
            200,
            None,
            1,
        )
        .unwrap()
        .unwrap();
        let resolved = resolve_against(next, Some("https://x.test/v2/items?page=1"));
        assert_eq!(resolved.url.as_deref(), Some("https://x.test/v2/items?page=2"));
        let absolute = PageState {
            url: Some("https://x.test/v3/other".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve_against(absolute.clone(), Some("https://x.test/v2/items")),
            absolute
        );
    }

    #[test]
    fn next_url_and_graphql() {
        let s = CompiledPagination::NextUrl { next_url: e(".next") };
        assert!(
            next(&s, &json!({"next": null}), &Headers::default(), 200, None, 1)
                .unwrap()
                .is_none()
        );
        let g = CompiledPagination::GraphqlCursor {
            page_info: e(".data.issues.pageInfo"),
            variable: "after".into(),
        };
        let body = json!({"data": {"issues": {"pageInfo": {"hasNextPage": true, "endCursor": "c1"}}}});
        let got = next(&g, &body, &Headers::default(), 200, None, 50)
            .unwrap()
            .unwrap();
        assert_eq!(got.body, Some(json!({"variables": {"after": "c1"}})));
        let done = json!({"data": {"issues": {"pageInfo": {"hasNextPage": false, "endCursor": "c2"}}}});
        assert!(
            next(&g, &done, &Headers::default(), 200, None, 50)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn dynamic_expression() {
        let d = CompiledPagination::Dynamic {
            next: e(r#"if .body.has_more then {query: {starting_after: .body.data[-1].id}} else null end"#),
        };
        let body = json!({"has_more": true, "data": [{"id": "a"}, {"id": "b"}]});
        let got = next(&d, &body, &Headers::default(), 200, None, 2)
            .unwrap()
            .unwrap();
        assert_eq!(got.query["starting_after"], "b");
        assert!(
            next(&d, &json!({"has_more": false}), &Headers::default(), 200, None, 0)
                .unwrap()
                .is_none()
        );
    }
}

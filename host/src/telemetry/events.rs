//! Every log event and span the host emits, with its meaning: the one list operators (and the
//! monitoring playbook) read. Names follow `patchbay.<area>.<op>`, where `<area>` is the module
//! folder that emits it; a unit test checks the scheme and uniqueness, and a test over the sources
//! checks that nothing logs around this list.
//!
//! Emit with [`emit!`] (`emit!(WARN, ACCOUNT_INSTALL_FAILED, account = %id)`) and open spans
//! with [`span!`]; the log line's message is the event name, followed by its note when it has one.

/// Whether a name is a point-in-time event or a span around work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A log line.
    Event,
    /// A span (its fields are recorded when the work ends).
    Span,
}

/// One event or span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// `patchbay.<area>.<op>`.
    pub name: &'static str,
    /// Event or span.
    pub kind: Kind,
    /// What it means, and its fields.
    pub meaning: &'static str,
    /// Text appended to the log line for operators (empty: none).
    pub note: &'static str,
}

impl Event {
    /// `": <note>"`, or nothing (the tail of the log line).
    pub fn note_suffix(&self) -> (&'static str, &'static str) {
        if self.note.is_empty() {
            ("", "")
        } else {
            (": ", self.note)
        }
    }
}

macro_rules! events {
    ($( $ident:ident: $kind:ident $name:literal $(note $note:literal)? => $meaning:literal; )*) => {
        $(
            #[doc = $meaning]
            pub const $ident: Event = Event {
                name: $name,
                kind: Kind::$kind,
                meaning: $meaning,
                note: events!(@note $($note)?),
            };
        )*
        /// Every event and span, in the order of this file.
        pub const ALL: &[Event] = &[$($ident),*];
    };
    (@note) => { "" };
    (@note $note:literal) => { $note };
}

events! {
    // app: the process.
    APP_LISTEN: Event "patchbay.app.listen" => "The host accepts connections (`addr`).";
    APP_SHUTDOWN_REQUESTED: Event "patchbay.app.shutdown_requested" => "SIGTERM or Ctrl-C: in-flight requests drain, then the host stops.";
    APP_STOPPED: Event "patchbay.app.stopped" => "The host stopped serving and its background tasks ended.";

    // http: the API edge.
    HTTP_INTERNAL: Event "patchbay.http.internal" => "A request failed inside the host (`request_id`, `error`, `at`: where the error arose); the caller saw 500 `internal`.";

    // accounts: integrated accounts.
    ACCOUNT_CREATE: Event "patchbay.accounts.create" => "An integrated account was created in `connecting` (`account`, `connector`, `tenant`).";
    ACCOUNT_DELETE: Event "patchbay.accounts.delete" => "An integrated account was deleted (`account`).";
    ACCOUNT_TRANSITION: Event "patchbay.accounts.transition" => "An account changed status (`account`, `from`, `to`, `event`, `actor`); the same change is in its audit log and the outbox.";
    ACCOUNT_INSTALL_FAILED: Event "patchbay.accounts.install_failed" => "A post-install or validation step failed (`account`, `phase`, `step`, `message`); the account is in the matching error state.";
    ACCOUNT_INSTALL_REFRESH_FAILED: Event "patchbay.accounts.install_refresh_failed" => "The token refresh before re-running an account's steps failed (`account`, `error`); the steps run with the current token.";

    // calls: proxied and unified calls.
    CALL_REMOTE_ERROR: Event "patchbay.calls.remote_error" => "The vendor answered a call with an error (`account`, `code`: the normalized code, `remote_status`).";
    CALL_NEEDS_REAUTH_FAILED: Event "patchbay.calls.needs_reauth_failed" => "A vendor 401 should have moved the account to `needs_reauth`, but the change could not be written (`account`, `error`).";
    CALL_USING_CURRENT_TOKEN: Event "patchbay.calls.using_current_token" => "A refresh before a call failed while the current token is still valid: the call uses it (`account`, `error`).";

    // upstream: the vendor HTTP client.
    UPSTREAM_CALL: Span "patchbay.upstream.call" => "One vendor request (`connector`, `resource`, `method`, `http.method`, `http.path`: never the query, which may hold an API key; `http.status`, `elapsed_ms`).";
    UPSTREAM_FORWARD: Span "patchbay.upstream.forward" => "One passthrough request (`connector`, `http.method`, `http.path`: never the query; `http.status`, `elapsed_ms` once the vendor's headers are in).";
    UPSTREAM_PRIVATE_TARGETS: Event "patchbay.upstream.private_targets" note "--allow-private-vendor-targets is set: vendor calls may reach loopback, private and metadata addresses" => "Logged at startup when the vendor calls' SSRF guard is off.";
    UPSTREAM_ANSWERED: Event "patchbay.upstream.answered" => "The vendor answered (inside `patchbay.upstream.call` or `patchbay.upstream.forward`): at INFO when its status is 4xx or 5xx, at DEBUG otherwise (`PATCHBAY_LOG=patchbay=debug` shows every call).";

    // connectors: the registry and hot reload.
    CONNECTOR_ACTIVATE: Event "patchbay.connectors.activate" => "A connector revision went live (`connector`, `version`, `revision`, and `file` or `source`).";
    CONNECTOR_REFUSE: Event "patchbay.connectors.refuse" note "connector rejected, previous version stays live" => "A manifest or component was refused (`file`, `problems`: every problem with its JSON path).";
    CONNECTOR_PUBLISH_FAILED: Event "patchbay.connectors.publish_failed" note "cannot read active versions; keeping the live set" => "The live set could not be rebuilt from the database (`error`).";
    CONNECTOR_ROLLBACK: Event "patchbay.connectors.rollback" => "An earlier revision was made live again (`connector`, `revision`).";
    CONNECTOR_REMOTE_CHANGE: Event "patchbay.connectors.remote_change" => "Another host on the database changed connector revisions (`connectors`); this host now serves the active ones.";
    CONNECTOR_WATCH_UNAVAILABLE: Event "patchbay.connectors.watch_unavailable" note "hot reload from files is off" => "The connectors directory cannot be watched (`error`, `dir`); uploads through the API still work.";
    CONNECTOR_WATCH_CHANGED: Event "patchbay.connectors.watch_changed" => "A connector file changed and is re-read (`file`).";
    CONNECTOR_WATCH_COMPONENT_CHANGED: Event "patchbay.connectors.watch_component_changed" note "re-reading the directory" => "A component that a manifest names by `component.path` changed.";

    // oauth: apps, authorization flows, token refresh.
    OAUTH_APP_SET: Event "patchbay.oauth.app_set" => "A connector's OAuth app was set (`connector`).";
    OAUTH_DENIED: Event "patchbay.oauth.denied" => "The end user or the provider refused an authorization (`connector`, `error`).";
    OAUTH_APP_UNREADABLE: Event "patchbay.oauth.app_unreadable" => "A token request could not read the connector's OAuth app (`account`, `error`: the database or the master key failed); the account is left as it is.";
    OAUTH_REFRESHED: Event "patchbay.oauth.refreshed" => "An access token was refreshed (`account`, `expires_in` seconds).";
    OAUTH_REFRESH_SETUP_ERROR: Event "patchbay.oauth.refresh_setup_error" => "A refresh failed because the OAuth app or provider settings are wrong (`account`, `message`); the account is left as it is and retried with backoff.";
    OAUTH_REFRESH_TRANSIENT_FAILURE: Event "patchbay.oauth.refresh_transient_failure" => "The token endpoint failed (`account`, `message`, `backoff_ms`); retried until the failure window closes.";
    OAUTH_NEEDS_REAUTH: Event "patchbay.oauth.needs_reauth" => "A refresh showed the grant is dead (`account`, `message`); the account moves to `needs_reauth`.";
    OAUTH_REDIRECTS_UNRESTRICTED: Event "patchbay.oauth.redirects_unrestricted" note "--oauth-redirect-allow is empty: the connect flow accepts any http(s) redirect_uri" => "Logged at startup when no redirect_uri allow-list is configured; set one in production.";
    OAUTH_SCHEDULER_FAILED: Event "patchbay.oauth.scheduler_failed" => "The refresh scheduler could not read due accounts (`error`); it tries again next tick.";
    OAUTH_SCHEDULED_REFRESH_FAILED: Event "patchbay.oauth.scheduled_refresh_failed" => "A scheduled refresh did not produce a token (`account`, `error`).";

    // sandbox: Wasm components.
    SANDBOX_GUEST_LOG: Event "patchbay.sandbox.guest_log" => "A component logged through `patchbay:connector/log` (`connector`, `hook`, `message`: at most 2,000 characters), at the level it chose.";
    SANDBOX_CRASHED: Event "patchbay.sandbox.crashed" note "instance discarded" => "A hook call trapped, ran out of CPU or memory, or panicked (`error`: connector, hook, reason, guest stderr).";
    SANDBOX_POOLING_UNAVAILABLE: Event "patchbay.sandbox.pooling_unavailable" note "using on-demand allocation" => "The pooling allocator could not reserve its address space (`error`); components still run, instantiating more slowly.";

    // webhooks: inbound ingestion and outbound delivery.
    STORE_CHECKPOINT_FAILED: Event "patchbay.store.checkpoint_failed" => "The SQLite WAL could not be copied back into the database file (`error`); the WAL grows until the next checkpoint succeeds.";
    STORE_CHANGES_FAILED: Event "patchbay.store.changes_failed" => "The change log other hosts write could not be read (`error`); connector changes and account changes of other hosts reach this host when it can read it again (account caches still expire after 2 s).";

    WEBHOOK_REJECTED: Event "patchbay.webhooks.rejected" => "An inbound webhook was refused with 401 `invalid_signature` (`connector`, `account`, `reason`); its body is never logged.";
    WEBHOOK_TOO_LARGE: Event "patchbay.webhooks.too_large" => "An inbound webhook was refused with 413: its body is over the limit (`connector`, `limit`).";
    WEBHOOK_UNMATCHED: Event "patchbay.webhooks.unmatched" => "An inbound event matched no account (`connector`, `inbound`); kept as `unmatched`, retry it with POST /inbound-webhooks/{id}/retry.";
    WEBHOOK_FAILED: Event "patchbay.webhooks.failed" => "An inbound webhook could not be mapped (`connector`, `inbound`, `error`); kept as `failed` for a retry.";
    WEBHOOK_WORKER_ERROR: Event "patchbay.webhooks.worker_error" => "A webhook worker could not read or write the database (`worker`, `error`); it tries again next tick.";
    WEBHOOK_DELIVERY_FAILED: Event "patchbay.webhooks.delivery_failed" => "A delivery attempt failed (`endpoint`, `event`, `attempt`, `status`, `error`, `next_attempt_at`).";
    WEBHOOK_ENDPOINT_DISABLED: Event "patchbay.webhooks.endpoint_disabled" => "An endpoint was disabled (`endpoint`, `reason`: 410 Gone, or failing for longer than --delivery-disable-after); re-enable it with PATCH enabled=true.";
    WEBHOOK_PRIVATE_TARGETS: Event "patchbay.webhooks.private_targets" note "--allow-private-delivery-targets is set: webhooks may be delivered to loopback and private addresses" => "Logged at startup when the SSRF guard is off.";

    // monitoring: metrics and schema drift.
    MONITORING_DRIFT_DETECTED: Event "patchbay.monitoring.drift_detected" => "A field of a connector resource's vendor records drifted from its baseline (`connector`, `resource`, `path`, `kind`: added, missing or type_changed); see GET /connectors/{name}/drift.";
    MONITORING_DRIFT_FAILED: Event "patchbay.monitoring.drift_failed" => "A sampled answer could not be compared or its baseline stored (`connector`, `resource`, `error`); drift tracking of that sample is skipped.";
    MONITORING_METRICS_LISTEN: Event "patchbay.monitoring.metrics_listen" note "serving /metrics without a token: keep this address private" => "The tokenless metrics listener is up (`addr`).";

    // secrets: the master key.
    SECRETS_EPHEMERAL_KEY: Event "patchbay.secrets.ephemeral_key" note "PATCHBAY_SECRET_KEY is unset and no key file is configured: using an ephemeral key" => "Credentials sealed by this process cannot be read after a restart.";
    SECRETS_KEY_GENERATED: Event "patchbay.secrets.key_generated" note "PATCHBAY_SECRET_KEY is unset: generated a master key file; back it up, credentials cannot be decrypted without it" => "A master key file was created (`key_file`).";
}

/// Emits an event of [`ALL`] at a level: `emit!(INFO, ACCOUNT_CREATE, account = %id)`.
macro_rules! emit {
    ($level:ident, $event:expr $(, $($field:tt)+)?) => {{
        const EVENT: $crate::telemetry::events::Event = $event;
        let (sep, note) = EVENT.note_suffix();
        ::tracing::event!(
            name: EVENT.name,
            ::tracing::Level::$level,
            { $($($field)+)? },
            "{}{}{}",
            EVENT.name,
            sep,
            note
        )
    }};
}
pub(crate) use emit;

/// Opens a span of [`ALL`]: `span!(INFO, UPSTREAM_CALL, connector = name)`.
macro_rules! span {
    ($level:ident, $event:expr $(, $($field:tt)+)?) => {{
        const EVENT: $crate::telemetry::events::Event = $event;
        ::tracing::span!(::tracing::Level::$level, EVENT.name $(, $($field)+)?)
    }};
}
pub(crate) use span;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_scheme_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for e in ALL {
            let parts: Vec<&str> = e.name.split('.').collect();
            assert!(
                parts.len() == 3
                    && parts[0] == "patchbay"
                    && parts[1..]
                        .iter()
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')),
                "{} is not patchbay.<area>.<op>",
                e.name
            );
            assert!(seen.insert(e.name), "{} is listed twice", e.name);
            assert!(!e.meaning.is_empty(), "{} has no meaning", e.name);
        }
    }
}

//! Why an account is not healthy: the typed `status_detail` every failure records (which phase,
//! which step, the vendor's or the host's message, when), stored and shown as JSON.

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;

/// Where a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A post-install step of connecting.
    PostInstall,
    /// A validation step of connecting (or getting the first token).
    Validation,
    /// A token refresh.
    Refresh,
    /// A proxied or unified call.
    Call,
    /// Not recorded (a detail written by hand or by an older host): read, never written.
    #[serde(other)]
    Unknown,
}

impl Phase {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PostInstall => "post_install",
            Self::Validation => "validation",
            Self::Refresh => "refresh",
            Self::Call => "call",
            Self::Unknown => "unknown",
        }
    }
}

/// The last failure of an account: `{"phase", "step", "message", "at"}`, plus `"transient":
/// true` while a refresh failure is being retried. Reading is lenient (a missing field takes
/// its default), so one odd stored detail never makes its account unreadable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDetail {
    /// Where.
    #[serde(default = "unknown")]
    pub phase: Phase,
    /// Which step: a manifest step name, `resource.method` of a call, `token`, `oauth_app`.
    #[serde(default)]
    pub step: String,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
    /// When, epoch ms.
    #[serde(default)]
    pub at: i64,
    /// A failure that is retried before it changes the account's status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
}

fn unknown() -> Phase {
    Phase::Unknown
}

impl StatusDetail {
    /// A failure now.
    pub fn new(phase: Phase, step: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            phase,
            step: step.into(),
            message: message.into(),
            at: now_ms(),
            transient: false,
        }
    }

    /// A failure that is being retried.
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_keep_their_json_shape() {
        let d = StatusDetail::new(Phase::PostInstall, "portal", "boom");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["phase"], "post_install");
        for phase in [Phase::PostInstall, Phase::Validation, Phase::Refresh, Phase::Call] {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
        }
        assert_eq!(json["step"], "portal");
        assert_eq!(json["message"], "boom");
        assert!(json["at"].is_i64());
        assert!(json.get("transient").is_none());
        let t = serde_json::to_value(StatusDetail::new(Phase::Refresh, "token", "down").transient()).unwrap();
        assert_eq!(t["transient"], true);
        let back: StatusDetail = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
        // The shape the first lifecycle migration documents, and a phase no host writes.
        let legacy: StatusDetail =
            serde_json::from_str(r#"{"step": "portal", "message": "boom", "at": 5}"#).unwrap();
        assert_eq!(
            (legacy.phase, legacy.step.as_str(), legacy.at),
            (Phase::Unknown, "portal", 5)
        );
        let odd: StatusDetail = serde_json::from_str(r#"{"phase": "webhook", "message": "m"}"#).unwrap();
        assert_eq!((odd.phase, odd.message.as_str()), (Phase::Unknown, "m"));
    }
}

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
}

impl Phase {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PostInstall => "post_install",
            Self::Validation => "validation",
            Self::Refresh => "refresh",
            Self::Call => "call",
        }
    }
}

/// The last failure of an account: `{"phase", "step", "message", "at"}`, plus `"transient":
/// true` while a refresh failure is being retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDetail {
    /// Where.
    pub phase: Phase,
    /// Which step: a manifest step name, `resource.method` of a call, `token`, `oauth_app`.
    pub step: String,
    /// What went wrong.
    pub message: String,
    /// When, epoch ms.
    pub at: i64,
    /// A failure that is retried before it changes the account's status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
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
    }
}

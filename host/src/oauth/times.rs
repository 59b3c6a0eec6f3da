//! Token-time arithmetic, in one place: when a token expires, when it is refreshed ahead of use,
//! when the scheduler refreshes it, and how long a transient failure backs off.

use rand::Rng;

use super::client::TokenSet;
use crate::accounts::model::{AccountRow, TokenTimes};
use crate::config::RefreshConfig;

/// When a token obtained at `obtained` and expiring at `expires` should be refreshed: at a random
/// point 60–180 s before expiry, or for short lifetimes between 50% and 75% of the lifetime.
pub fn schedule(obtained: i64, expires: i64) -> i64 {
    let lifetime = (expires - obtained).max(0);
    let mut rng = rand::thread_rng();
    if lifetime >= 240_000 {
        expires - rng.gen_range(60_000..=180_000)
    } else {
        obtained + lifetime / 2 + rng.gen_range(0..=lifetime / 4)
    }
}

/// The refresh-ahead buffer for a token: 30 s, or a quarter of a shorter lifetime.
pub fn buffer_ms(config: &RefreshConfig, obtained: Option<i64>, expires: i64) -> i64 {
    let buffer = config.buffer.as_millis() as i64;
    match obtained {
        Some(o) => buffer.min((expires - o) / 4),
        None => buffer,
    }
}

/// When a token of lifetime `expires_in` seconds obtained at `now` expires (bounded: a provider's
/// absurd lifetime must not overflow).
pub fn expires_at(now: i64, expires_in: u64) -> i64 {
    const TEN_YEARS_S: u64 = 10 * 365 * 86_400;
    now.saturating_add(expires_in.min(TEN_YEARS_S) as i64 * 1000)
}

/// Whether an account's token is still good for the refresh-ahead buffer.
pub fn fresh_enough(config: &RefreshConfig, a: &AccountRow, now: i64) -> bool {
    match a.token_expires_at {
        None => true,
        Some(exp) => exp - now > buffer_ms(config, a.token_obtained_at, exp),
    }
}

/// The times of tokens issued at `now`. `schedulable`: the scheduler can renew them (a refresh
/// token, or a client-credentials grant); otherwise the end user reconnects at expiry.
pub fn issued(now: i64, tokens: &TokenSet, schedulable: bool) -> TokenTimes {
    let expires = tokens.expires_in.map(|s| expires_at(now, s));
    TokenTimes {
        obtained_at: Some(now),
        expires_at: expires,
        next_refresh_at: expires.filter(|_| schedulable).map(|e| schedule(now, e)),
    }
}

/// Exponential backoff with jitter for transient refresh failures.
pub fn backoff_ms(config: &RefreshConfig, failures: i64) -> i64 {
    let base = config.backoff_base.as_millis() as i64;
    let max = config.backoff_max.as_millis() as i64;
    let exp = base.saturating_mul(1i64 << failures.clamp(0, 20)).min(max);
    rand::thread_rng().gen_range(exp / 2..=exp.max(1))
}

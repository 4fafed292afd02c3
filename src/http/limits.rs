//! The per-IP token bucket on the auth endpoints (login, register, refresh, forgot, reset,
//! introspect). The client IP is the peer, or `X-Forwarded-For` behind a trusted proxy.
//! Each of those routes wraps itself in [`rate_limit`] (`#[post(…, wrap = …)]`), so the
//! limit follows the router's decoded, matched path and not the raw request line: no
//! spelling of a path (`/api/v1/auth/%6Cogin`) reaches a limited handler around it.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::extract::client_ip;
use crate::error::Error;

pub struct IpRateLimit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl IpRateLimit {
    /// `per_second` requests per second with bursts of `burst`; either 0 turns it off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second)
            .zip(NonZeroU32::new(burst))
            .map(|(rate, burst)| RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)));
        Self { limiter }
    }

    /// Forgets idle addresses, so the table stays as small as the set of recent clients.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// `Err(seconds to wait)` when `ip` is over its limit.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&bucket_key(ip)).map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The bucket a client address counts against: an IPv4 address on its own, an IPv6 address
/// by its /64, the block one subscriber is handed and can rotate through.
pub(crate) fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6((v6.to_bits() & !(u128::MAX >> 64)).into()),
    }
}

pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let (Some(limits), Some(ip)) = (
        req.app_data::<web::Data<IpRateLimit>>(),
        client_ip(req.request()),
    ) && let Err(retry_after_secs) = limits.check(ip)
    {
        let response = Error::RateLimited { retry_after_secs }.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> String {
        let ip: IpAddr = raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"));
        bucket_key(ip).to_string()
    }

    #[test]
    fn ipv4_clients_count_per_address_and_ipv6_clients_per_64() {
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}

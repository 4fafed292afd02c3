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
    fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
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

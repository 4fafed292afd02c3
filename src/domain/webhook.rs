//! Webhooks: endpoints other services register, what they subscribe to, and the deliveries
//! of the outbox.

use std::net::IpAddr;
use std::time::Duration;

use super::*;
use crate::error::FieldError;

/// The audit types an endpoint receives: some, or all (`"*"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Kinds(Vec<AuditKind>),
}

impl EventFilter {
    /// A non-empty list of known audit types, or `"*"`.
    pub fn parse(values: &[String]) -> Result<Self, FieldError> {
        if values.is_empty() {
            return Err(FieldError::new(
                "events",
                "required",
                "must name at least one event type, or \"*\"",
            ));
        }
        let mut kinds = Vec::new();
        for value in values {
            if value == "*" {
                return Ok(Self::All);
            }
            let kind = AuditKind::parse(value).ok_or_else(|| {
                FieldError::new(
                    "events",
                    "invalid_event",
                    format!("{value:?} is not an audit event type"),
                )
            })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(Self::Kinds(kinds))
    }

    pub fn matches(&self, kind: AuditKind) -> bool {
        match self {
            Self::All => true,
            Self::Kinds(kinds) => kinds.contains(&kind),
        }
    }

    /// The kinds as bits (`AuditKind::bit`).
    pub fn mask(&self) -> u32 {
        match self {
            Self::All => u32::MAX,
            Self::Kinds(kinds) => kinds.iter().fold(0, |mask, kind| mask | kind.bit()),
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Self::All => vec!["*"],
            Self::Kinds(kinds) => kinds.iter().map(|kind| kind.as_str()).collect(),
        }
    }
}

/// A webhook target: an absolute `http(s)` URL without credentials whose host, when an IP
/// literal, is public unless private targets are allowed. (Host names are checked on
/// their resolved addresses at each delivery.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, FieldError> {
        let invalid = |message: &str| FieldError::new("url", "invalid_url", message);
        let url =
            url::Url::parse(raw.trim()).map_err(|_| invalid("must be an absolute http(s) URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("must be an http or https URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not carry credentials"));
        }
        let ip = match url.host() {
            None => return Err(invalid("must name a host")),
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        };
        if let Some(ip) = ip
            && !allow_private
            && is_private(ip)
        {
            return Err(FieldError::new(
                "url",
                "private_address",
                "points at a loopback, private or link-local address (see DOORMAN_WEBHOOK_ALLOW_PRIVATE)",
            ));
        }
        if raw.len() > 2048 {
            return Err(invalid("must be at most 2048 characters"));
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Loopback, private, shared, link-local, unique-local, unspecified, multicast or
/// broadcast: not a place a webhook may reach unless allowed.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_private(IpAddr::V4(v4)),
            None => {
                let first = ip.segments()[0];
                ip.is_loopback()
                    || ip.is_unspecified()
                    || ip.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

/// A webhook description: at most 500 characters, no control characters.
pub fn parse_webhook_description(raw: &str) -> Result<String, FieldError> {
    let value = raw.trim();
    check_no_control_chars("description", value, false)?;
    if value.chars().count() > 500 {
        return Err(FieldError::new(
            "description",
            "too_long",
            "must be at most 500 characters",
        ));
    }
    Ok(value.to_owned())
}

/// A registered endpoint. Its signing secret is never part of it: it is shown once, at
/// creation.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub events: EventFilter,
    pub description: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What an admin registers.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub description: Option<String>,
}

/// A PATCH of an endpoint: `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<WebhookUrl>,
    pub events: Option<EventFilter>,
    pub description: Patch<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up after the retry window.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub event_id: AuditEventId,
    pub kind: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A delivery claimed by this instance for one attempt, with what it takes to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub url: String,
    /// `whsec_…`.
    pub secret: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered { status: u16 },
    Refused { status: u16 },
    Failed { error: String },
}

/// Retries go on this long after the event, then the delivery is `failed`.
pub const RETRY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Retries are at most this far apart.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// The wait after the `attempts`-th failed attempt: `base`, then doubling, at most an hour.
pub fn retry_delay(base: Duration, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY)
}

/// The body sent for `event`: `{type, timestamp, data}`, where `data` is the audit event
/// and, where there is one, its subject user.
pub fn webhook_payload(event: &AuditEvent, subject: Option<&User>) -> serde_json::Value {
    let mut data = serde_json::json!({
        "id": event.id,
        "at": event.at,
        "type": event.kind.as_str(),
        "actor_id": event.actor_id,
        "subject_id": event.subject_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
    });
    if let Some(user) = subject {
        data["user"] = serde_json::json!({
            "id": user.id,
            "email": user.email,
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "phone_number": user.phone_number,
            "date_of_birth": user.date_of_birth,
            "role": user.role.as_str(),
            "is_active": user.is_active,
            "created_at": user.created_at,
            "updated_at": user.updated_at,
        });
    }
    serde_json::json!({
        "type": event.kind.as_str(),
        "timestamp": event.at,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_base_and_stop_at_an_hour() {
        let base = Duration::from_secs(5);
        assert_eq!(retry_delay(base, 1), Duration::from_secs(5));
        assert_eq!(retry_delay(base, 2), Duration::from_secs(10));
        assert_eq!(retry_delay(base, 3), Duration::from_secs(20));
        assert_eq!(retry_delay(base, 30), MAX_RETRY_DELAY);
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(
                is_private(ip.parse().unwrap_or_else(|e| panic!("{e}"))),
                "{ip}"
            );
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(
                !is_private(ip.parse().unwrap_or_else(|e| panic!("{e}"))),
                "{ip}"
            );
        }
    }
}

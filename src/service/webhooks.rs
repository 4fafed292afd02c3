//! Webhooks: admins register endpoints; every audit event of a subscribed type is queued
//! for them in the transaction of its change (`db::webhooks`), and delivered from there by
//! the worker (`jobs::webhooks`), signed per Standard Webhooks, at least once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::auth::Principal;
use super::policy::{self, Action};
use super::{Context, span};
use crate::clock;
use crate::crypto::data_key::Secrets;
use crate::crypto::webhook as signing;
use crate::db;
use crate::domain::{
    AttemptOutcome, AuditEvent, AuditKind, ClaimedDelivery, ClientInfo, Delivery, DeliveryId,
    NewWebhook, Page, PageRequest, RETRY_WINDOW, Webhook, WebhookChanges, WebhookId, is_private,
    retry_delay,
};
use crate::error::{Error, Result};

/// What an endpoint's sealed signing secret is bound to.
pub(crate) const SECRET_AAD: &str = "webhook_secret";

/// A claimed delivery is this instance's for this long; past it, another may attempt it.
/// A delivery queued here is leased to this instance's worker as it is written, and taken
/// without a claim while half its lease is left: more than an attempt needs.
pub const LEASE: Duration = Duration::from_secs(30);
/// An attempt gets this long for a 2xx answer, the connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const _: () = assert!(ATTEMPT_TIMEOUT.as_secs() < LEASE.as_secs() / 2);
/// Deliveries claimed at a time, and attempted at once.
pub const BATCH: i64 = 64;

pub async fn create(
    ctx: &Context,
    actor: &Principal,
    new: NewWebhook,
    client: &ClientInfo,
) -> Result<(Webhook, String)> {
    policy::may_attempt(&actor.user, Action::ManageWebhooks)?;
    let now = clock::now();
    let webhook = Webhook {
        id: WebhookId::new(),
        url: new.url.as_str().to_owned(),
        events: new.events,
        description: new.description,
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    let secret = signing::new_secret().map_err(Error::internal)?;
    let event = audited(AuditKind::WebhookCreated, actor, &webhook, now, client);
    let sealed = ctx
        .settings
        .secrets
        .seal(&secret, SECRET_AAD)
        .map_err(Error::internal)?;
    let (created, stored) = (webhook.clone(), sealed);
    db::transaction!(ctx.db, |tx| {
        db::webhooks::insert_endpoint(tx, &created, &stored).await?;
        db::audit::insert(tx, &event).await
    })
    .await?;
    refresh_subscriptions(ctx).await?;
    Ok((webhook, secret))
}

pub async fn list(ctx: &Context, actor: &Principal, page: PageRequest) -> Result<Page<Webhook>> {
    policy::may_attempt(&actor.user, Action::ManageWebhooks)?;
    db::with_conn!(ctx.db, |c| { db::webhooks::list_endpoints(c, page).await }).await
}

pub async fn get(ctx: &Context, actor: &Principal, id: WebhookId) -> Result<Webhook> {
    policy::may_attempt(&actor.user, Action::ManageWebhooks)?;
    db::with_conn!(ctx.db, |c| { db::webhooks::find_endpoint(c, id).await })
        .await?
        .ok_or(Error::NotFound)
}

/// Changes an endpoint; `is_active: false` pauses it (its deliveries wait) and `true`
/// resumes it.
pub async fn update(
    ctx: &Context,
    actor: &Principal,
    id: WebhookId,
    changes: WebhookChanges,
    client: &ClientInfo,
) -> Result<Webhook> {
    policy::may_attempt(&actor.user, Action::ManageWebhooks)?;
    let now = clock::now();
    let (actor, client) = (actor.clone(), client.clone());
    let webhook = db::transaction!(ctx.db, |tx| {
        let webhook = db::webhooks::update_endpoint(tx, id, &changes, now)
            .await?
            .ok_or(Error::NotFound)?;
        let event = audited(AuditKind::WebhookUpdated, &actor, &webhook, now, &client);
        db::audit::insert(tx, &event).await?;
        Ok(webhook)
    })
    .await?;
    refresh_subscriptions(ctx).await?;
    Ok(webhook)
}

/// Deletes an endpoint with its deliveries, sent or not.
pub async fn delete(
    ctx: &Context,
    actor: &Principal,
    id: WebhookId,
    client: &ClientInfo,
) -> Result<()> {
    policy::may_attempt(&actor.user, Action::ManageWebhooks)?;
    let now = clock::now();
    let (actor, client) = (actor.clone(), client.clone());
    db::transaction!(ctx.db, |tx| {
        let webhook = db::webhooks::find_endpoint(tx, id)
            .await?
            .ok_or(Error::NotFound)?;
        db::webhooks::delete_endpoint(tx, id).await?;
        let event = audited(AuditKind::WebhookDeleted, &actor, &webhook, now, &client);
        db::audit::insert(tx, &event).await
    })
    .await?;
    refresh_subscriptions(ctx).await
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    ctx: &Context,
    actor: &Principal,
    id: WebhookId,
    page: PageRequest,
) -> Result<Page<Delivery>> {
    policy::may_attempt(&actor.user, Action::ManageWebhooks)?;
    db::with_conn!(ctx.db, |c| {
        if db::webhooks::find_endpoint(c, id).await?.is_none() {
            return Err(Error::NotFound);
        }
        db::webhooks::list_deliveries(c, id, page).await
    })
    .await
}

fn audited(
    kind: AuditKind,
    actor: &Principal,
    webhook: &Webhook,
    at: DateTime<Utc>,
    client: &ClientInfo,
) -> AuditEvent {
    AuditEvent::new(kind, at, client)
        .actor(actor.user.id)
        .detail(serde_json::json!({
            "webhook_id": webhook.id,
            "url": webhook.url,
            "events": webhook.events.names(),
            "is_active": webhook.is_active,
        }))
}

/// Reads which audit types active endpoints receive into this instance's outbox.
pub async fn refresh_subscriptions(ctx: &Context) -> Result<()> {
    let endpoints = db::with_conn!(ctx.db, |c| { db::webhooks::subscriptions(c).await }).await?;
    ctx.db.outbox().set_subscribed(endpoints);
    Ok(())
}

/// Claims due deliveries for `holder` (those the due index lists, up to [`BATCH`], or
/// `only` these), attempts them at once, and records their outcomes together when the last
/// has ended: the delivered ones in one statement for each answer's status, each other
/// outcome in one of its own, in one transaction when there is more than one statement.
/// How many were claimed. Outcomes that cannot be recorded (the database is away) are
/// attempted again when their lease ends: at least once, as promised.
pub async fn deliver_due(
    ctx: &Context,
    sender: &Sender,
    holder: &str,
    only: Option<Vec<DeliveryId>>,
) -> Result<usize> {
    let now = clock::now();
    let until = now + span(LEASE);
    let owner = holder.to_owned();
    let claimed = db::write!(ctx.db, |c| {
        let due = match &only {
            Some(ids) => db::webhooks::Due::Only(ids),
            None => db::webhooks::Due::Any(BATCH),
        };
        db::webhooks::claim(c, &owner, now, until, due).await
    })
    .await?;
    let count = claimed.len();
    if count == 0 {
        return Ok(0);
    }
    let attempts: Vec<Attempt> = futures_util::stream::iter(claimed)
        .map(|delivery| attempt(ctx, sender, delivery))
        .buffer_unordered(count)
        .collect()
        .await;
    let outcomes = Outcomes::of(attempts);
    let owner = holder.to_owned();
    // Should this fail, the batch is attempted again when its lease ends, as after a crash.
    let recorded = if outcomes.statements() == 1 {
        db::write!(ctx.db, |c| { outcomes.record(c, &owner).await }).await
    } else {
        // One commit for the batch: on PostgreSQL one WAL flush instead of one a statement.
        db::transaction!(ctx.db, |c| { outcomes.record(c, &owner).await }).await
    };
    if let Err(err) = recorded {
        tracing::warn!(error = %err, "webhook attempts could not be recorded; they are made again when their lease ends");
    }
    Ok(count)
}

/// Stops leasing what is queued here to `holder`, and frees what it was handed and did not
/// take (its worker is stopping), so other instances deliver it at their next poll rather
/// than when the lease ends. A delivery whose transaction commits after this waits for its
/// lease to end, as after a crash.
pub async fn release(ctx: &Context, holder: &str) -> Result<()> {
    let outbox = ctx.db.outbox();
    outbox.stop_leasing();
    for ids in outbox.take_committed().chunks(1000) {
        let (holder, ids) = (holder.to_owned(), ids.to_vec());
        db::write!(ctx.db, |c| {
            db::webhooks::release(c, &holder, &ids).await
        })
        .await?;
    }
    Ok(())
}

/// A batch's outcomes as they are recorded: the delivered ones by the status they were
/// answered with (and when the last of them ended), the others one by one.
struct Outcomes {
    delivered: BTreeMap<u16, (Vec<DeliveryId>, DateTime<Utc>)>,
    others: Vec<Attempt>,
}

impl Outcomes {
    fn of(attempts: Vec<Attempt>) -> Self {
        let mut outcomes = Self {
            delivered: BTreeMap::new(),
            others: Vec::new(),
        };
        for done in attempts {
            match done.outcome {
                AttemptOutcome::Delivered { status } => {
                    let (ids, at) = outcomes
                        .delivered
                        .entry(status)
                        .or_insert_with(|| (Vec::new(), done.at));
                    ids.push(done.delivery.id);
                    *at = (*at).max(done.at);
                }
                _ => outcomes.others.push(done),
            }
        }
        outcomes
    }

    fn statements(&self) -> usize {
        self.delivered.len() + self.others.len()
    }

    async fn record(&self, c: &mut db::Conn, holder: &str) -> Result<()> {
        for (status, (ids, at)) in &self.delivered {
            db::webhooks::record_delivered(c, ids, holder, *status, *at).await?;
        }
        for done in &self.others {
            let (delivery, outcome) = (&done.delivery, &done.outcome);
            db::webhooks::record(c, delivery, holder, outcome, done.at, done.retry_at).await?;
        }
        Ok(())
    }
}

/// One attempt's outcome, to be recorded.
struct Attempt {
    delivery: ClaimedDelivery,
    outcome: AttemptOutcome,
    at: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
}

/// Sends `delivery` and decides what follows: nothing, a retry, or giving up.
async fn attempt(ctx: &Context, sender: &Sender, delivery: ClaimedDelivery) -> Attempt {
    let outcome = sender.send(&delivery).await;
    let at = clock::now();
    let retry_at = match outcome {
        AttemptOutcome::Delivered { .. } => None,
        _ => {
            let next = at
                + span(retry_delay(
                    ctx.settings.webhook_retry_base,
                    delivery.attempts + 1,
                ));
            (next <= delivery.created_at + span(RETRY_WINDOW)).then_some(next)
        }
    };
    match (&outcome, retry_at) {
        (AttemptOutcome::Delivered { .. }, _) => ctx.metrics.webhook_attempt("delivered"),
        (_, Some(_)) => ctx.metrics.webhook_attempt("retry"),
        (_, None) => ctx.metrics.webhook_attempt("failed"),
    }
    if let AttemptOutcome::Failed { error } = &outcome {
        tracing::info!(delivery = %delivery.id, error, "a webhook attempt failed");
    }
    Attempt {
        delivery,
        outcome,
        at,
        retry_at,
    }
}

/// The HTTP client of webhook deliveries: rustls on aws-lc-rs, 10 s to connect and to
/// answer, no redirects, no proxy; unless private targets are allowed, a host name must
/// resolve to public addresses only, and the connection goes to those very addresses (no
/// second lookup that could answer differently).
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
    /// Opens the endpoints' signing secrets (sealed under `DOORMAN_DATA_KEY`).
    secrets: Secrets,
}

impl Sender {
    pub fn new(allow_private: bool, secrets: Secrets) -> anyhow::Result<Self> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("doorman-webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            allow_private,
            secrets,
        })
    }

    /// One attempt: the signed POST and how it ended.
    pub async fn send(&self, delivery: &ClaimedDelivery) -> AttemptOutcome {
        let url = match reqwest::Url::parse(&delivery.url) {
            Ok(url) => url,
            Err(err) => return failed(format!("the URL is not valid: {err}")),
        };
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if !self.allow_private && literal.is_some_and(is_private) {
            return failed("refused: the target is a private address".into());
        }
        let msg_id = delivery.id.to_string();
        let timestamp = clock::now().timestamp();
        let secret = match self.secrets.open(&delivery.secret, SECRET_AAD) {
            Ok(secret) => secret,
            Err(err) => return failed(format!("the signing secret cannot be opened: {err}")),
        };
        let signature = match signing::sign(&secret, &msg_id, timestamp, &delivery.payload) {
            Ok(signature) => signature,
            Err(err) => return failed(err.to_string()),
        };
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => AttemptOutcome::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => AttemptOutcome::Refused {
                status: response.status().as_u16(),
            },
            Err(err) => failed(chain(&err)),
        }
    }
}

fn failed(error: String) -> AttemptOutcome {
    AttemptOutcome::Failed { error }
}

/// An error with its sources, `: `-separated (reqwest's own message omits them).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves host names to their public addresses only; a name with none is refused.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| !is_private(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!(
                    "refused: {host} resolves to no public address (see DOORMAN_WEBHOOK_ALLOW_PRIVATE)"
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

//! What HTTP itself asks of every route: `HEAD` wherever there is a `GET`, a bounded time
//! to receive a request body, and a shutdown that cuts stalled bodies short.
//!
//! Errors that actix-http raises while it parses a request head (`400` for a malformed
//! head, `408` when the head does not arrive within the client request timeout, `431` for
//! a head over its buffer) are written by its dispatcher before any application code runs,
//! with an empty body: actix has no hook to give them problem+json. Every error raised
//! once the head is parsed (bad or oversized bodies, a body too slow, unknown routes) is
//! problem+json.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, Method};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;
use futures_util::future::LocalBoxFuture;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::error::Error;

/// Once shutdown begins, how long a body still being received may take to arrive.
const BODY_GRACE_ON_SHUTDOWN: Duration = Duration::from_secs(1);

/// What the transport middleware needs: the body deadline and the shutdown signal.
#[derive(Debug, Clone)]
pub struct Transport {
    pub body_timeout: Duration,
    pub stopping: watch::Receiver<bool>,
}

/// Serves `HEAD` as the `GET` of the same path (RFC 9110 §9.3.2). actix-http remembers the
/// request was `HEAD` and writes the response's head alone, with the `Content-Length` the
/// body would have had.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// Why a body stopped being read before it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// It took longer than the body timeout: `408 request_timeout`.
    TooSlow,
    /// The server is shutting down: `503 service_unavailable`.
    ShuttingDown,
}

/// Bounds the time a request body may take to arrive (`DOORMAN_BODY_TIMEOUT`, counted from
/// the end of the head), and cuts it short once shutdown begins and a second has passed.
/// A cut body answers `408 request_timeout` (or 503 when shutting down) as problem+json,
/// whatever the reader of the body made of the failed read, and closes the connection,
/// whose unread rest cannot be told from a next request.
pub async fn bounded_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let transport = req.app_data::<web::Data<Transport>>().cloned();
    let payload = req.take_payload();
    let (Some(transport), false) = (transport, matches!(payload, Payload::None)) else {
        req.set_payload(payload);
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let cut = Rc::new(Cell::new(None));
    let bounded = Bounded {
        inner: payload,
        until: Instant::now() + transport.body_timeout,
        timer: None,
        stopping: Some(transport.stopping.clone()),
        stopped: None,
        shutting_down: false,
        cut: Rc::clone(&cut),
    };
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(bounded);
    req.set_payload(Payload::from(stream));
    let response = next.call(req).await?;
    let Some(why) = cut.get() else {
        return Ok(response.map_into_boxed_body());
    };
    let error = match why {
        Cut::TooSlow => {
            tracing::info!("the request body did not arrive in time");
            Error::RequestTimeout
        }
        Cut::ShuttingDown => Error::ServiceUnavailable {
            retry_after_secs: 1,
        },
    };
    let (request, _) = response.into_parts();
    let mut answer = error.error_response();
    answer.head_mut().set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(request, answer))
}

/// A request body with a deadline (see [`bounded_body`]). The timer and the shutdown
/// watch are set up only once the body makes a reader wait.
struct Bounded {
    inner: Payload,
    until: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    stopping: Option<watch::Receiver<bool>>,
    stopped: Option<LocalBoxFuture<'static, ()>>,
    shutting_down: bool,
    cut: Rc<Cell<Option<Cut>>>,
}

impl Bounded {
    fn fail(&mut self, why: Cut) -> Poll<Option<Result<Bytes, PayloadError>>> {
        self.cut.set(Some(why));
        let message = match why {
            Cut::TooSlow => "the request body did not arrive in time",
            Cut::ShuttingDown => "the server is shutting down",
        };
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            message,
        )))))
    }
}

impl Stream for Bounded {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(why) = this.cut.get() {
            return this.fail(why);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if let Some(mut stopping) = this.stopping.take() {
            this.stopped = Some(Box::pin(async move {
                if stopping.wait_for(|stopping| *stopping).await.is_err() {
                    // No shutdown signal any more: the server is gone, nothing to wait for.
                    std::future::pending::<()>().await;
                }
            }));
        }
        if let Some(stopped) = this.stopped.as_mut()
            && stopped.as_mut().poll(cx).is_ready()
        {
            this.stopped = None;
            this.shutting_down = true;
            let soon = Instant::now() + BODY_GRACE_ON_SHUTDOWN;
            if soon < this.until {
                this.until = soon;
                this.timer = None;
            }
        }
        let until = this.until;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if timer.as_mut().poll(cx).is_ready() {
            let why = if this.shutting_down {
                Cut::ShuttingDown
            } else {
                Cut::TooSlow
            };
            return this.fail(why);
        }
        Poll::Pending
    }
}

//! Security notifications: a mail to the account holder when something happened to the
//! account (password changed or reset, email changed, a sign-in from a new device, the
//! account locked, a second factor added or removed, factors reset by staff, a recovery
//! code used), saying what, when, from where, and how to secure the account.
//!
//! Call [`send`] after the transaction that did the thing has committed. It never waits
//! and never fails: the mail is queued for one delivery task per instance, which sends the
//! queue in order through the configured mailer and logs (and counts) a failure; a full
//! queue drops the notice with a warning. On shutdown, once the server has stopped, the
//! process waits (up to `DOORMAN_SHUTDOWN_GRACE`) for the queue to be sent ([`Notifier::flush`]).
//! `DOORMAN_NOTIFY` chooses the kinds mailed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use askama::Template;
use chrono::{DateTime, Utc};
use prometheus::IntCounterVec;
use tokio::sync::mpsc;

use super::Context;
use crate::clock;
use crate::domain::ClientInfo;
use crate::mail::{Mail, Mailer};

/// Notices waiting for the delivery task; beyond this they are dropped (and counted).
const QUEUE: usize = 1024;

/// The kinds of notice, as `DOORMAN_NOTIFY` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PasswordChanged,
    PasswordReset,
    EmailChanged,
    NewDevice,
    AccountLocked,
    FactorAdded,
    FactorRemoved,
    FactorsReset,
    RecoveryCodeUsed,
}

impl Kind {
    pub const ALL: [Self; 9] = [
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::EmailChanged,
        Self::NewDevice,
        Self::AccountLocked,
        Self::FactorAdded,
        Self::FactorRemoved,
        Self::FactorsReset,
        Self::RecoveryCodeUsed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::EmailChanged => "email_changed",
            Self::NewDevice => "new_device",
            Self::AccountLocked => "account_locked",
            Self::FactorAdded => "factor_added",
            Self::FactorRemoved => "factor_removed",
            Self::FactorsReset => "factors_reset",
            Self::RecoveryCodeUsed => "recovery_code_used",
        }
    }
}

/// The kinds `DOORMAN_NOTIFY` turned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kinds(Vec<Kind>);

impl Kinds {
    pub fn all() -> Self {
        Self(Kind::ALL.to_vec())
    }

    pub fn contains(&self, kind: Kind) -> bool {
        self.0.contains(&kind)
    }
}

impl Default for Kinds {
    fn default() -> Self {
        Self::all()
    }
}

/// `all`, `none`, or a comma list of kind names.
pub fn parse_kinds(raw: &str) -> Result<Kinds, String> {
    match raw.trim() {
        "all" => return Ok(Kinds::all()),
        "none" => return Ok(Kinds(Vec::new())),
        _ => {}
    }
    let mut kinds = Vec::new();
    for name in raw
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let kind = Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "`{name}` is not a notification kind: use all, none, or a comma list of {}",
                    known.join(", ")
                )
            })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err("write all, none, or a comma list of notification kinds".into());
    }
    Ok(Kinds(kinds))
}

/// What happened, with what the mail needs to say about it.
#[derive(Debug, Clone)]
pub enum Notice {
    PasswordChanged,
    PasswordReset,
    /// Sent to the old address.
    EmailChanged {
        new_email: String,
    },
    NewDevice,
    AccountLocked {
        until: DateTime<Utc>,
    },
    /// `factor`: `authenticator app`, `passkey "name"`, …
    FactorAdded {
        factor: String,
    },
    FactorRemoved {
        factor: String,
    },
    FactorsReset,
    RecoveryCodeUsed {
        left: usize,
    },
}

impl Notice {
    pub fn kind(&self) -> Kind {
        match self {
            Self::PasswordChanged => Kind::PasswordChanged,
            Self::PasswordReset => Kind::PasswordReset,
            Self::EmailChanged { .. } => Kind::EmailChanged,
            Self::NewDevice => Kind::NewDevice,
            Self::AccountLocked { .. } => Kind::AccountLocked,
            Self::FactorAdded { .. } => Kind::FactorAdded,
            Self::FactorRemoved { .. } => Kind::FactorRemoved,
            Self::FactorsReset => Kind::FactorsReset,
            Self::RecoveryCodeUsed { .. } => Kind::RecoveryCodeUsed,
        }
    }

    fn subject(&self) -> &'static str {
        match self {
            Self::PasswordChanged => "Your password was changed",
            Self::PasswordReset => "Your password was reset",
            Self::EmailChanged { .. } => "Your account's email address was changed",
            Self::NewDevice => "New sign-in to your account",
            Self::AccountLocked { .. } => "Your account was locked after failed sign-ins",
            Self::FactorAdded { .. } => "A second factor was added to your account",
            Self::FactorRemoved { .. } => "A second factor was removed from your account",
            Self::FactorsReset => "Your second factors were reset",
            Self::RecoveryCodeUsed { .. } => "A recovery code was used",
        }
    }

    fn what(&self) -> String {
        match self {
            Self::PasswordChanged => {
                "The password of your account was changed. Your other sessions were signed out."
                    .into()
            }
            Self::PasswordReset => "The password of your account was reset with a link sent \
                                    to this address. Every session was signed out."
                .into(),
            Self::EmailChanged { new_email } => format!(
                "The email address of your account was changed from this address to \
                 {new_email}. Mail about the account now goes there."
            ),
            Self::NewDevice => "Someone signed in to your account from a device or browser \
                                not seen on it before."
                .into(),
            Self::AccountLocked { until } => format!(
                "Several wrong passwords were tried on your account in a row, so sign-in is \
                 locked until {} (UTC); further wrong attempts lock it for longer.",
                until.format("%Y-%m-%d %H:%M:%S")
            ),
            Self::FactorAdded { factor } => {
                format!("A second factor was added to your account: {factor}.")
            }
            Self::FactorRemoved { factor } => {
                format!("A second factor was removed from your account: {factor}.")
            }
            Self::FactorsReset => "Staff removed every second factor of your account and \
                                   signed out every session."
                .into(),
            Self::RecoveryCodeUsed { left } => {
                format!("A recovery code was used to sign in to your account ({left} left).")
            }
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeMail<'a> {
    what: &'a str,
    when: &'a str,
    ip: &'a str,
    user_agent: &'a str,
    public_url: &'a str,
}

/// One queued mail and the kind it is, for the count.
struct Queued {
    kind: Kind,
    mail: Mail,
}

/// The sending side of the queue, kept in the `Context`.
pub struct Notifier {
    queue: mpsc::Sender<Queued>,
    kinds: Kinds,
    unsent: Arc<Unsent>,
}

/// How many notices are queued or being sent, and a bell rung when that reaches zero.
#[derive(Default)]
struct Unsent {
    count: AtomicUsize,
    none: tokio::sync::Notify,
}

impl Unsent {
    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.none.notify_waiters();
        }
    }
}

impl Notifier {
    /// Starts the delivery task (on the current tokio runtime); it ends when the notifier
    /// is dropped and the queue is empty.
    pub fn start(mailer: Arc<Mailer>, kinds: Kinds, counter: IntCounterVec) -> Self {
        let (queue, mut queued) = mpsc::channel::<Queued>(QUEUE);
        let unsent = Arc::new(Unsent::default());
        let sending = Arc::clone(&unsent);
        tokio::spawn(async move {
            while let Some(Queued { kind, mail }) = queued.recv().await {
                let outcome = match mailer.send(mail).await {
                    Ok(()) => "sent",
                    Err(err) => {
                        tracing::warn!(kind = kind.as_str(), error = %err, "a security notification was not sent");
                        "failed"
                    }
                };
                counter.with_label_values(&[kind.as_str(), outcome]).inc();
                sending.done();
            }
        });
        Self {
            queue,
            kinds,
            unsent,
        }
    }

    /// Waits, at most `within`, until every queued notice has been sent (or has failed);
    /// answers how many are still unsent. Called once the server has stopped, so that the
    /// notices of the last requests are not lost with the process.
    pub async fn flush(&self, within: Duration) -> usize {
        let emptied = async {
            loop {
                let none = self.unsent.none.notified();
                if self.unsent.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                none.await;
            }
        };
        let _ = tokio::time::timeout(within, emptied).await;
        self.unsent.count.load(Ordering::Acquire)
    }
}

/// Mails `notice` to `to` (the account holder's address; the old one for an email change)
/// about a request from `client`, now. Returns at once; see the module doc.
pub fn send(ctx: &Context, to: &str, notice: Notice, client: &ClientInfo) {
    let kind = notice.kind();
    if !ctx.notifier.kinds.contains(kind) {
        ctx.metrics.notification(kind.as_str(), "suppressed");
        return;
    }
    let when = clock::now().format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let what = notice.what();
    let body = NoticeMail {
        what: &what,
        when: &when,
        ip: client.ip.as_deref().unwrap_or("unknown"),
        user_agent: client.user_agent.as_deref().unwrap_or("unknown"),
        public_url: &ctx.settings.public_url,
    }
    .render();
    let body = match body {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(kind = kind.as_str(), error = %err, "a security notification could not be written");
            return;
        }
    };
    let mail = Mail {
        to: to.to_owned(),
        subject: notice.subject().to_owned(),
        body,
    };
    let unsent = &ctx.notifier.unsent;
    unsent.count.fetch_add(1, Ordering::AcqRel);
    match ctx.notifier.queue.try_send(Queued { kind, mail }) {
        Ok(()) => ctx.metrics.notification(kind.as_str(), "queued"),
        Err(_) => {
            unsent.done();
            tracing::warn!(
                kind = kind.as_str(),
                "the notification queue is full: a security notification was dropped"
            );
            ctx.metrics.notification(kind.as_str(), "dropped");
        }
    }
}

/// How long a device not signed in from is remembered; the retention job forgets it then
/// (a sign-in from it after that mails again).
pub(crate) const DEVICES_REMEMBERED: chrono::Duration = chrono::Duration::days(365);

/// The device a sign-in came from, as `known_devices` keeps it: a hash of the user agent
/// with its digits removed (a browser update is the same device) and of the client's
/// network (IPv4 /24, IPv6 /48: a new address from the same provider's pool usually is
/// too). API clients keep no device cookie, so this is what every sign-in can be told by.
/// A different browser, or the same one on another network, is a new device.
pub fn device_of(client: &ClientInfo) -> String {
    let agent: String = client
        .user_agent
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect();
    let network = match client.ip.as_deref().map(str::parse::<IpAddr>) {
        Some(Ok(ip)) => match ip.to_canonical() {
            IpAddr::V4(v4) => format!("{}/24", Ipv4Addr::from_bits(v4.to_bits() & !0xff)),
            IpAddr::V6(v6) => format!(
                "{}/48",
                Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 80) - 1))
            ),
        },
        _ => "unknown".to_owned(),
    };
    crate::crypto::sha256_hex(format!("{agent}\n{network}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: &str, agent: &str) -> ClientInfo {
        ClientInfo {
            ip: Some(ip.into()),
            user_agent: Some(agent.into()),
        }
    }

    #[test]
    fn a_device_is_the_browser_without_its_version_on_one_network() {
        let chrome = |v: &str| format!("Mozilla/5.0 (X11; Linux x86_64) Chrome/{v} Safari/537.36");
        let home = device_of(&client("203.0.113.7", &chrome("131.0.0.0")));
        assert_eq!(
            home,
            device_of(&client("203.0.113.200", &chrome("132.0.0.0")))
        );
        assert_ne!(
            home,
            device_of(&client("198.51.100.7", &chrome("131.0.0.0")))
        );
        assert_ne!(home, device_of(&client("203.0.113.7", "curl/8.5.0")));
        assert_eq!(
            device_of(&client("2001:db8:1:2::1", "x")),
            device_of(&client("2001:db8:1:ffff::9", "x"))
        );
        assert_eq!(
            device_of(&client("::ffff:203.0.113.7", "x")),
            device_of(&client("203.0.113.9", "x"))
        );
    }

    #[test]
    fn notify_takes_all_none_or_a_list_of_known_kinds() {
        assert_eq!(parse_kinds("all"), Ok(Kinds::all()));
        assert_eq!(parse_kinds("none"), Ok(Kinds(Vec::new())));
        assert_eq!(
            parse_kinds("new_device, password_reset,new_device"),
            Ok(Kinds(vec![Kind::NewDevice, Kind::PasswordReset]))
        );
        let err = parse_kinds("password_changed,sms")
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("`sms`") && err.contains("recovery_code_used"),
            "{err}"
        );
        assert!(parse_kinds(" , ").is_err());
    }

    #[test]
    fn every_kind_has_a_name_its_notice_reports() {
        let notices = [
            Notice::PasswordChanged,
            Notice::PasswordReset,
            Notice::EmailChanged {
                new_email: "b@example.com".into(),
            },
            Notice::NewDevice,
            Notice::AccountLocked {
                until: clock::now(),
            },
            Notice::FactorAdded {
                factor: "passkey".into(),
            },
            Notice::FactorRemoved {
                factor: "passkey".into(),
            },
            Notice::FactorsReset,
            Notice::RecoveryCodeUsed { left: 9 },
        ];
        let kinds: Vec<Kind> = notices.iter().map(Notice::kind).collect();
        assert_eq!(kinds, Kind::ALL.to_vec());
        for kind in Kind::ALL {
            assert_eq!(parse_kinds(kind.as_str()), Ok(Kinds(vec![kind])));
        }
    }
}

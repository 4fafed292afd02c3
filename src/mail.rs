//! Outgoing mail: SMTP through lettre when `DOORMAN_SMTP_URL` is set, else the log, as the
//! contract has it (for development: the message, link included, is written at INFO level,
//! and a warning at start says so). This is the one place a token reaches the log.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub enum Mailer {
    Log {
        from: Mailbox,
    },
    Smtp {
        from: Mailbox,
        transport: AsyncSmtpTransport<Tokio1Executor>,
    },
}

/// One plain-text message.
#[derive(Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Mailer {
    /// `smtp://host:port` (plain), `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://…` (implicit TLS), as lettre reads them.
    pub fn new(smtp_url: Option<&str>, from: &str) -> anyhow::Result<Self> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("DOORMAN_MAIL_FROM {from:?}: {e}"))?;
        Ok(match smtp_url {
            None => {
                tracing::warn!(
                    "DOORMAN_SMTP_URL is unset: mail, password reset links included, goes to \
                     the log (for development; set it wherever the log leaves the machine)"
                );
                Self::Log { from }
            }
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("DOORMAN_SMTP_URL is not usable: {e}"))?
                    .build();
                Self::Smtp { from, transport }
            }
        })
    }

    pub async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        match self {
            Self::Log { from } => {
                tracing::info!(
                    from = %from,
                    to = %mail.to,
                    subject = %mail.subject,
                    body = %mail.body,
                    "mail (DOORMAN_SMTP_URL is unset, so it goes to the log)"
                );
                Ok(())
            }
            Self::Smtp { from, transport } => {
                let message = Message::builder()
                    .from(from.clone())
                    .to(mail.to.parse()?)
                    .subject(mail.subject)
                    .body(mail.body)?;
                transport.send(message).await?;
                Ok(())
            }
        }
    }
}

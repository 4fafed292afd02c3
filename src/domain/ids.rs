//! Id newtypes: a UUID each, so one kind of id cannot be passed for another.

use super::*;

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A user's id.
    UserId,
    /// A sign-in session's id (the `sid` claim).
    SessionId,
    /// A task's id.
    TaskId,
    /// An audit event's id.
    AuditEventId,
    /// A passkey's id (doorman's own, not the WebAuthn credential id).
    PasskeyId,
    /// A WebAuthn ceremony begun and not yet finished (`challenge_id`).
    ChallengeId,
    /// A webhook endpoint's id.
    WebhookId,
    /// A webhook delivery's id (its `webhook-id` on every attempt).
    DeliveryId,
);

//! Accounts: sign-up and reading profiles.

use super::Context;
use crate::db;
use crate::domain::{
    AuditEvent, AuditKind, ClientInfo, DateOfBirth, Email, Name, NewPassword, Phone, Role, User,
    UserId, Username,
};
use crate::error::{Error, Result};

/// A registration, parsed.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Email,
    pub password: NewPassword,
    pub username: Option<Username>,
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub phone_number: Option<Phone>,
    pub date_of_birth: Option<DateOfBirth>,
}

/// Public sign-up: the new account's role is always `user`.
pub async fn register(ctx: &Context, account: NewAccount, client: &ClientInfo) -> Result<User> {
    if !ctx.settings.registration_open {
        return Err(Error::Forbidden("public registration is closed"));
    }
    create(ctx, account, Role::User, true, None, client).await
}

/// Creates an account with its first credential and an audit event, in one transaction.
pub(crate) async fn create(
    ctx: &Context,
    account: NewAccount,
    role: Role,
    is_active: bool,
    actor: Option<UserId>,
    client: &ClientInfo,
) -> Result<User> {
    let hash = ctx.hasher.hash(account.password.expose()).await?;
    let now = db::types::now();
    let user = User {
        id: UserId::new(),
        email: account.email.into_inner(),
        username: account.username.map(Username::into_inner),
        first_name: account.first_name.map(Name::into_inner),
        last_name: account.last_name.map(Name::into_inner),
        phone_number: account.phone_number.map(Phone::into_inner),
        date_of_birth: account.date_of_birth.map(DateOfBirth::into_inner),
        role,
        is_active,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    let (kind, actor) = match actor {
        Some(actor) => (AuditKind::UserCreated, actor),
        None => (AuditKind::UserRegistered, user.id),
    };
    let event = AuditEvent::new(kind, now, client)
        .actor(actor)
        .subject(user.id)
        .detail(serde_json::json!({ "role": role.as_str() }));
    let stored = user.clone();
    ctx.db
        .transaction(move |tx| {
            Box::pin(async move {
                db::users::insert(tx, &stored, &hash).await?;
                db::audit::insert(tx, &event).await
            })
        })
        .await?;
    Ok(user)
}

//! Who may do what: the one place that decides. Every service function that acts for a
//! caller asks [`may`] (or [`may_attempt`] where there is no target) before it acts; the
//! HTTP guards ask [`may_attempt`] too, before a request body is read, so a caller who may
//! never do an action gets 403 whatever its body says. Nothing else compares roles.
//!
//! Roles rank `user` < `sub_admin` < `admin`. A sub_admin may list and view users, and may
//! activate, deactivate and see or revoke the sessions of role-`user` accounts only;
//! everything else on other accounts is admin-only. Anyone may read their own account.

use crate::config::MfaRequired;
use crate::domain::{Role, User, UserId};
use crate::error::{Error, Result};

/// Something a caller does to another account, or to the staff area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListUsers,
    ViewUser,
    CreateUser,
    /// Change profile fields (email, names, phone, …) of another account.
    EditProfile,
    /// Activate or deactivate an account.
    SetActive,
    ChangeRole,
    DeleteUser,
    ListSessions,
    RevokeSessions,
    ListAuditEvents,
    /// Remove every second factor of an account.
    ResetMfa,
    /// Register, change, delete and inspect webhook endpoints.
    ManageWebhooks,
}

impl Action {
    /// The least role that may attempt the action at all.
    fn least_role(self) -> Role {
        match self {
            Self::ListUsers
            | Self::ViewUser
            | Self::SetActive
            | Self::ListSessions
            | Self::RevokeSessions => Role::SubAdmin,
            Self::CreateUser
            | Self::EditProfile
            | Self::ChangeRole
            | Self::DeleteUser
            | Self::ListAuditEvents
            | Self::ResetMfa
            | Self::ManageWebhooks => Role::Admin,
        }
    }

    /// Whether a sub_admin's reach is limited to role-`user` targets for this action.
    fn reaches_only_plain_users(self) -> bool {
        matches!(
            self,
            Self::SetActive | Self::ListSessions | Self::RevokeSessions
        )
    }
}

/// May `actor` attempt `action` on some account? The gate that needs no target.
pub fn may_attempt(actor: &User, action: Action) -> Result<()> {
    let least = action.least_role();
    if actor.role >= least {
        Ok(())
    } else if least == Role::Admin && actor.role == Role::SubAdmin {
        Err(Error::Forbidden("admins only"))
    } else {
        Err(Error::Forbidden("staff only"))
    }
}

/// May `actor` do `action` to `target`?
pub fn may(actor: &User, action: Action, target: &User) -> Result<()> {
    may_attempt(actor, action)?;
    if actor.role == Role::SubAdmin
        && action.reaches_only_plain_users()
        && target.role != Role::User
    {
        return Err(Error::Forbidden("a sub_admin may act only on role user"));
    }
    Ok(())
}

/// May `actor` read the account `id`? Their own, or anyone's for staff. Anybody else is
/// refused whether or not the id exists, so ids cannot be probed.
pub fn may_view(actor: &User, id: UserId) -> Result<()> {
    if actor.id == id {
        return Ok(());
    }
    may_attempt(actor, Action::ViewUser)
        .map_err(|_| Error::Forbidden("you may only read your own account"))
}

/// What a signed-in request reaches, for the second-factor rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The caller's own account as read (`GET /users/me`), its second factors and
    /// passkeys, and signing out: what an account needs to enrol.
    Enrolment,
    /// Anything else.
    Anything,
}

/// Must `user` have a second factor under `DOORMAN_MFA_REQUIRED`?
pub fn must_have_second_factor(user: &User, required: MfaRequired) -> bool {
    match required {
        MfaRequired::None => false,
        MfaRequired::Staff => user.role >= Role::SubAdmin,
        MfaRequired::All => true,
    }
}

/// Does reaching `reach` depend on `user` having a second factor? Only for an account
/// that must have one, and only beyond what it needs to enrol: such an account without a
/// factor may sign in and enrol, and gets `mfa_enrolment_required` anywhere else.
pub fn needs_second_factor_for(user: &User, required: MfaRequired, reach: Reach) -> bool {
    reach == Reach::Anything && must_have_second_factor(user, required)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> User {
        let now = crate::clock::now();
        User {
            id: UserId::new(),
            email: "a@example.com".to_owned(),
            username: None,
            first_name: None,
            last_name: None,
            phone_number: None,
            date_of_birth: None,
            role,
            is_active: true,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        }
    }

    #[test]
    fn a_plain_user_may_attempt_no_staff_action() {
        for action in [Action::ListUsers, Action::ViewUser, Action::SetActive] {
            assert!(may_attempt(&user(Role::User), action).is_err());
        }
    }

    #[test]
    fn a_sub_admin_may_deactivate_users_but_not_other_staff() {
        let sub = user(Role::SubAdmin);
        assert!(may(&sub, Action::SetActive, &user(Role::User)).is_ok());
        assert!(may(&sub, Action::SetActive, &user(Role::SubAdmin)).is_err());
        assert!(may(&sub, Action::RevokeSessions, &user(Role::Admin)).is_err());
        assert!(may(&sub, Action::EditProfile, &user(Role::User)).is_err());
    }

    #[test]
    fn an_admin_may_do_everything_to_anyone() {
        let admin = user(Role::Admin);
        for target in [Role::User, Role::SubAdmin, Role::Admin] {
            assert!(may(&admin, Action::DeleteUser, &user(target)).is_ok());
            assert!(may(&admin, Action::SetActive, &user(target)).is_ok());
        }
    }

    #[test]
    fn the_second_factor_rule_binds_staff_or_everyone_beyond_enrolment_only() {
        let (plain, sub) = (user(Role::User), user(Role::SubAdmin));
        assert!(!needs_second_factor_for(
            &sub,
            MfaRequired::None,
            Reach::Anything
        ));
        assert!(!needs_second_factor_for(
            &plain,
            MfaRequired::Staff,
            Reach::Anything
        ));
        assert!(needs_second_factor_for(
            &sub,
            MfaRequired::Staff,
            Reach::Anything
        ));
        assert!(needs_second_factor_for(
            &plain,
            MfaRequired::All,
            Reach::Anything
        ));
        assert!(!needs_second_factor_for(
            &plain,
            MfaRequired::All,
            Reach::Enrolment
        ));
    }

    #[test]
    fn only_yourself_or_staff_may_view_an_account() {
        let me = user(Role::User);
        assert!(may_view(&me, me.id).is_ok());
        assert!(may_view(&me, UserId::new()).is_err());
        assert!(may_view(&user(Role::SubAdmin), me.id).is_ok());
    }
}

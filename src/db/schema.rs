//! One schema for both backends (see `types.rs`). Written by hand to match
//! `migrations/{postgres,sqlite}`.

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    users (id) {
        id -> PortableUuid,
        email -> Text,
        username -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        date_of_birth -> Nullable<Text>,
        role -> Text,
        is_active -> Bool,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
        last_login_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    credentials (id) {
        id -> PortableUuid,
        user_id -> PortableUuid,
        password_hash -> Text,
        is_current -> Bool,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    sessions (id) {
        id -> PortableUuid,
        user_id -> PortableUuid,
        created_at -> PortableTimestamp,
        last_refreshed_at -> Nullable<PortableTimestamp>,
        expires_at -> PortableTimestamp,
        revoked_at -> Nullable<PortableTimestamp>,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        refresh_jti -> PortableUuid,
        refresh_iat -> PortableTimestamp,
        refresh_exp -> PortableTimestamp,
        previous_jti -> Nullable<PortableUuid>,
        rotated_at -> Nullable<PortableTimestamp>,
        amr -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::PortableTimestamp;

    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_pem -> Text,
        created_at -> PortableTimestamp,
        retired_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    audit_events (id) {
        id -> PortableUuid,
        at -> PortableTimestamp,
        #[sql_name = "type"]
        type_ -> Text,
        actor_id -> Nullable<PortableUuid>,
        subject_id -> Nullable<PortableUuid>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::joinable!(credentials -> users (user_id));
diesel::joinable!(sessions -> users (user_id));

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    tasks (id) {
        id -> PortableUuid,
        user_id -> PortableUuid,
        title -> Text,
        description -> Nullable<Text>,
        done -> Bool,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    password_reset_tokens (id) {
        id -> PortableUuid,
        user_id -> PortableUuid,
        token_hash -> Text,
        created_at -> PortableTimestamp,
        expires_at -> PortableTimestamp,
        used_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::PortableTimestamp;

    login_throttles (key) {
        key -> Text,
        failed_logins -> Integer,
        locked_until -> Nullable<PortableTimestamp>,
        last_attempt_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::PortableTimestamp;

    job_runs (name) {
        name -> Text,
        ran_at -> PortableTimestamp,
        holder -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::PortableUuid;

    console_sessions (token_hash) {
        token_hash -> Text,
        session_id -> PortableUuid,
    }
}

diesel::joinable!(tasks -> users (user_id));
diesel::joinable!(password_reset_tokens -> users (user_id));
diesel::joinable!(console_sessions -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    credentials,
    sessions,
    signing_keys,
    audit_events,
    tasks,
    password_reset_tokens,
    login_throttles,
    console_sessions
);

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    deleted_sessions (id) {
        id -> PortableUuid,
        user_id -> PortableUuid,
        revoked_at -> PortableTimestamp,
        expires_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::PortableTimestamp;

    refresh_keys (kid) {
        kid -> Text,
        secret -> Text,
        created_at -> PortableTimestamp,
        retired_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    known_devices (user_id, device_hash) {
        user_id -> PortableUuid,
        device_hash -> Text,
        first_seen_at -> PortableTimestamp,
        last_seen_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    totp_factors (user_id) {
        user_id -> PortableUuid,
        secret -> Nullable<Text>,
        pending_secret -> Nullable<Text>,
        confirmed_at -> Nullable<PortableTimestamp>,
        last_step -> Nullable<BigInt>,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    passkeys (id) {
        id -> PortableUuid,
        user_id -> PortableUuid,
        credential_id -> Text,
        name -> Text,
        credential -> Text,
        sign_count -> BigInt,
        created_at -> PortableTimestamp,
        last_used_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    recovery_codes (code_hash) {
        code_hash -> Text,
        user_id -> PortableUuid,
        created_at -> PortableTimestamp,
        used_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    webauthn_challenges (id) {
        id -> PortableUuid,
        kind -> Text,
        user_id -> Nullable<PortableUuid>,
        state -> Text,
        expires_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    mfa_tokens (token_hash) {
        token_hash -> Text,
        user_id -> PortableUuid,
        created_at -> PortableTimestamp,
        expires_at -> PortableTimestamp,
        used_at -> Nullable<PortableTimestamp>,
        failures -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    webhook_endpoints (id) {
        id -> PortableUuid,
        url -> Text,
        events -> Text,
        description -> Nullable<Text>,
        secret -> Text,
        is_active -> Bool,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{PortableUuid, PortableTimestamp};

    webhook_deliveries (id) {
        id -> PortableUuid,
        endpoint_id -> PortableUuid,
        event_id -> PortableUuid,
        #[sql_name = "type"]
        type_ -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<PortableTimestamp>,
        locked_until -> Nullable<PortableTimestamp>,
        locked_by -> Nullable<Text>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> PortableTimestamp,
        delivered_at -> Nullable<PortableTimestamp>,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, webhook_endpoints);

diesel::table! {
    use diesel::sql_types::*;

    user_counts (role, is_active, shard) {
        role -> Text,
        is_active -> Bool,
        shard -> SmallInt,
        users -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    audit_event_counts (type_, shard) {
        #[sql_name = "type"]
        type_ -> Text,
        shard -> SmallInt,
        events -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::PortableUuid;

    /// SQLite only (migration 000020): FTS5's trigram table over the users' searchable text.
    users_search (id) {
        id -> PortableUuid,
        /// The user's own rowid in `users` (the triggers of migration 000020 keep them so).
        rowid -> BigInt,
        /// The table's own name, which FTS5 reads as "any column" left of `MATCH`.
        #[sql_name = "users_search"]
        any_column -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, users_search);

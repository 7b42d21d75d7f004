//! Self-service chat bindings: the one-time codes chat users are given, and the bindings their
//! forge accounts confirmed. A code is kept only as its SHA-256; it is single use (the action
//! that redeemed it is recorded, so a retry of that action is the same redemption) and expires.
//! The SQL is the same on both backends, so it is written once; times are epoch milliseconds.

use super::StoreError;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use async_trait::async_trait;
use bosun_plugins::ForgeKind;
use sqlx::Row;

/// A code as issued: who asked, to act as which forge login, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingCode {
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    /// The chat account (`dingtalk:<userId>`, `slack:<team>/<user>`).
    pub chat_user: String,
    pub forge: ForgeKind,
    /// The forge login, lower-cased (logins compare case-insensitively).
    pub login: String,
    /// When it was issued (epoch ms).
    pub created_ms: i64,
    /// After this (epoch ms) it confirms nothing.
    pub expires_ms: i64,
    /// The action that redeemed it, once it is used.
    pub used_action: Option<i64>,
}

/// Keeping codes and bindings.
#[async_trait]
pub trait BindingStore: Send + Sync {
    /// Keeps a newly issued code, and forgets codes that expired over a day before it was
    /// issued (used or not), so asking again and again does not grow the table for ever.
    async fn create_binding_code(&self, code: &BindingCode) -> Result<(), StoreError>;
    /// A code by its hash, used or not, expired or not.
    async fn binding_code(&self, code_hash: &str) -> Result<Option<BindingCode>, StoreError>;
    /// Redeems a code for action `action_id` and keeps its binding, in one transaction. False
    /// when another action already used it. (Expiry is checked when the action is decided.)
    async fn redeem_binding_code(
        &self,
        code_hash: &str,
        action_id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// The forge login a chat account bound itself to on `forge`, if it did.
    async fn chat_binding(
        &self,
        chat_user: &str,
        forge: ForgeKind,
    ) -> Result<Option<String>, StoreError>;
}

const FORGET: &str = "DELETE FROM chat_binding_codes WHERE expires_ms < $1";
const CREATE: &str = "INSERT INTO chat_binding_codes
     (code_hash, chat_user, forge, login, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)";
const GET: &str = "SELECT code_hash, chat_user, forge, login, created_ms, expires_ms, used_action
     FROM chat_binding_codes WHERE code_hash = $1";
const USE: &str = "UPDATE chat_binding_codes SET used_ms = $3, used_action = $2
     WHERE code_hash = $1 AND (used_action IS NULL OR used_action = $2)
     RETURNING chat_user, forge, login";
const BIND: &str = "INSERT INTO chat_bindings (chat_user, forge, login, bound_ms)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (chat_user, forge) DO UPDATE SET login = excluded.login, bound_ms = excluded.bound_ms";
const BOUND: &str = "SELECT login FROM chat_bindings WHERE chat_user = $1 AND forge = $2";

/// One implementation for both backends: the same SQL on each pool.
macro_rules! binding_store {
    ($store:ty) => {
        #[async_trait]
        impl BindingStore for $store {
            async fn create_binding_code(&self, code: &BindingCode) -> Result<(), StoreError> {
                sqlx::query(FORGET)
                    .bind(code.created_ms - 24 * 60 * 60 * 1000)
                    .execute(self.pool())
                    .await?;
                sqlx::query(CREATE)
                    .bind(&code.code_hash)
                    .bind(&code.chat_user)
                    .bind(code.forge.as_str())
                    .bind(&code.login)
                    .bind(code.created_ms)
                    .bind(code.expires_ms)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn binding_code(
                &self,
                code_hash: &str,
            ) -> Result<Option<BindingCode>, StoreError> {
                let Some(r) = sqlx::query(GET)
                    .bind(code_hash)
                    .fetch_optional(self.pool())
                    .await?
                else {
                    return Ok(None);
                };
                Ok(Some(BindingCode {
                    code_hash: r.try_get("code_hash")?,
                    chat_user: r.try_get("chat_user")?,
                    forge: super::parse_forge(r.try_get::<&str, _>("forge")?)?,
                    login: r.try_get("login")?,
                    created_ms: r.try_get("created_ms")?,
                    expires_ms: r.try_get("expires_ms")?,
                    used_action: r.try_get("used_action")?,
                }))
            }

            async fn redeem_binding_code(
                &self,
                code_hash: &str,
                action_id: i64,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool().begin().await?;
                let Some(r) = sqlx::query(USE)
                    .bind(code_hash)
                    .bind(action_id)
                    .bind(now_ms)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(false);
                };
                let chat_user: String = r.try_get("chat_user")?;
                let forge: String = r.try_get("forge")?;
                let login: String = r.try_get("login")?;
                sqlx::query(BIND)
                    .bind(chat_user)
                    .bind(forge)
                    .bind(login)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn chat_binding(
                &self,
                chat_user: &str,
                forge: ForgeKind,
            ) -> Result<Option<String>, StoreError> {
                let row = sqlx::query(BOUND)
                    .bind(chat_user)
                    .bind(forge.as_str())
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.map(|r| r.try_get("login")).transpose()?)
            }
        }
    };
}

binding_store!(PgStore);
binding_store!(SqliteStore);

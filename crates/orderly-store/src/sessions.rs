//! Staff sessions of the browser faces: a login makes a row, found again by the SHA-256 of the
//! cookie's secret (the secret itself is never stored, so the table cannot be replayed as
//! cookies), holding the user's name, the form token the pages carry (CSRF) and when the session
//! ends. In the database, so that every process sharing it knows every session and a logout
//! or a restart ends nothing but what it should.

use super::encode::{self, get_str, get_time};
use super::{Store, StoreError};
use crate::order::Time;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The staff user's name.
    pub user: String,
    /// The form token (CSRF) the session's pages carry.
    pub csrf: String,
    /// When the session ends.
    pub expires_at: Time,
}

impl Store {
    /// Records a new session under the digest of its cookie's secret; sessions that ended are
    /// deleted at the same time.
    pub async fn create_session(
        &self,
        id_sha256: &str,
        session: &StoredSession,
        now: Time,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(encode::time(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_sha256, user_name, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_sha256)
        .bind(&session.user)
        .bind(&session.csrf)
        .bind(encode::time(now))
        .bind(encode::time(session.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session whose cookie secret has this digest, unless it has ended.
    pub async fn session(&self, id_sha256: &str, now: Time) -> Result<Option<StoredSession>, StoreError> {
        let row = sqlx::query(
            "SELECT user_name, csrf, expires_at FROM sessions WHERE id_sha256 = $1 AND expires_at > $2",
        )
        .bind(id_sha256)
        .bind(encode::time(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredSession {
                user: get_str(&row, "user_name")?,
                csrf: get_str(&row, "csrf")?,
                expires_at: get_time(&row, "expires_at")?,
            })
        })
        .transpose()
    }

    /// Ends a session (a logout). Ending one that does not exist is not an error.
    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let _turn = self.write_turn().await?;
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1").bind(id_sha256).execute(&self.pool).await?;
        Ok(())
    }

    /// Ends every session of a user (their password changed, or they were removed).
    pub async fn delete_sessions_of(&self, user: &str) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await?;
        let done =
            sqlx::query("DELETE FROM sessions WHERE user_name = $1").bind(user).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}

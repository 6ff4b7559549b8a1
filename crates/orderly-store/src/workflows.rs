//! Workflow versions: every distinct text of a workflow gets a number, so that each history row
//! can name the version its transition ran under; and the list of them (the console's
//! Workflows screen).

use super::encode::{self, get_i64, get_str, get_time};
use super::{Store, StoreError};
use crate::order::Time;

/// How often a race with another process registering the same workflow is retried.
const ATTEMPTS: usize = 5;

/// One stored version of a workflow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkflowVersion {
    /// Its number.
    pub version: i64,
    /// SHA-256 of its text and hooks.
    pub hash: String,
    /// When this service first saw it.
    pub created_at: Time,
}

impl Store {
    /// The versions of workflow `name`, newest first (at most `limit`).
    pub async fn workflow_versions(
        &self,
        name: &str,
        limit: u32,
    ) -> Result<Vec<WorkflowVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, hash, created_at FROM workflow_versions WHERE name = $1 ORDER BY version DESC LIMIT $2",
        )
        .bind(name)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkflowVersion {
                    version: get_i64(r, "version")?,
                    hash: get_str(r, "hash")?,
                    created_at: get_time(r, "created_at")?,
                })
            })
            .collect()
    }

    /// The version number of this workflow text: the stored one when `hash` is known for
    /// `name`, else a new row numbered one above the highest for `name` (the first is 1).
    pub async fn workflow_version(&self, name: &str, hash: &str, source: &str) -> Result<i64, StoreError> {
        let mut last = StoreError::Conflict;
        for _ in 0..ATTEMPTS {
            match self.try_workflow_version(name, hash, source).await {
                Ok(version) => return Ok(version),
                Err(e @ (StoreError::Conflict | StoreError::Duplicate(_))) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn try_workflow_version(&self, name: &str, hash: &str, source: &str) -> Result<i64, StoreError> {
        let mut tx = self.begin().await?;
        let known = sqlx::query("SELECT version FROM workflow_versions WHERE name = $1 AND hash = $2")
            .bind(name)
            .bind(hash)
            .fetch_optional(tx.conn())
            .await?;
        if let Some(row) = known {
            return get_i64(&row, "version");
        }
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM workflow_versions WHERE name = $1",
        )
        .bind(name)
        .fetch_one(tx.conn())
        .await?;
        let version = get_i64(&row, "next")?;
        sqlx::query(
            "INSERT INTO workflow_versions (name, version, hash, source, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(version)
        .bind(hash)
        .bind(source)
        .bind(encode::time(chrono::Utc::now()))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(version)
    }
}

//! Notification templates, saved only when they parse (unknown codes are refused at save).

use super::{Context, Store, StoreError, insert_audit};
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub body: String,
    pub version: i64,
    /// ISO 8601 UTC.
    pub updated_at: String,
    pub updated_by: String,
}

fn row_to_template(r: &sqlx::any::AnyRow) -> Template {
    Template {
        id: r.get("id"),
        name: r.get("name"),
        subject: r.get("subject"),
        body: r.get("body"),
        version: r.get("version"),
        updated_at: crate::clock::utc_text(r.get("updated_at")),
        updated_by: r.get("updated_by"),
    }
}

impl Store {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn template(&self, id: &str) -> Result<Option<Template>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, subject, body, version, updated_at, updated_by FROM templates
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read a template")?;
        Ok(row.as_ref().map(row_to_template))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn templates(&self) -> Result<Vec<Template>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, subject, body, version, updated_at, updated_by FROM templates
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .context("Failed to list the templates")?;
        Ok(rows.iter().map(row_to_template).collect())
    }

    /// Creates or replaces a template (already checked); `expected_version` guards against
    /// overwriting someone else's edit. Returns the stored template, or `Conflict`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn save_template(
        &self,
        id: &str,
        name: &str,
        subject: &str,
        body: &str,
        expected_version: Option<i64>,
        actor: &str,
    ) -> Result<Template, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .context("Failed to start the template transaction")?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM templates WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .context("Failed to read the template version")?;
        if let (Some(expected), Some(current)) = (expected_version, current)
            && expected != current
        {
            return Err(StoreError::Conflict { current });
        }
        sqlx::query(
            "INSERT INTO templates (id, name, subject, body, version, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, 1, $5, $6)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, subject = excluded.subject,
                 body = excluded.body, version = templates.version + 1,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(id)
        .bind(name)
        .bind(subject)
        .bind(body)
        .bind(crate::clock::now_ms())
        .bind(actor)
        .execute(&mut *tx)
        .await
        .context("Failed to store the template")?;
        insert_audit(&mut *tx, actor, "template.save", id).await?;
        tx.commit().await.context("Failed to commit the template")?;
        self.template(id)
            .await?
            .ok_or(StoreError::Conflict { current: 0 })
    }
}

//! Named-query tools, per workspace. The store is the source of truth: a
//! tools file the server loads replaces the tools that came from that file
//! (`source = 'file'`); tools added through the API (`source = 'api'`) stay.
//! A definition names its connection; it never holds a secret.

use crate::{Error, Result, Store, now};
use conexor_types::WorkspaceId;
use sqlx::Row;

pub(crate) const MIGRATIONS: &[&str] = &["CREATE TABLE IF NOT EXISTS named_tools (
        workspace_id TEXT NOT NULL REFERENCES workspaces(id),
        name TEXT NOT NULL,
        connection TEXT NOT NULL,
        definition TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('api','file','generated')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workspace_id, name)
    ) STRICT"];

/// One stored tool: its definition as JSON and where it came from.
#[derive(Debug, Clone)]
pub struct ToolRecord {
    pub name: String,
    pub connection: String,
    pub definition: String,
    pub source: String,
    pub updated_at: String,
}

fn tool_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ToolRecord> {
    Ok(ToolRecord {
        name: r.try_get(0)?,
        connection: r.try_get(1)?,
        definition: r.try_get(2)?,
        source: r.try_get(3)?,
        updated_at: r.try_get(4)?,
    })
}

impl Store {
    pub async fn tools(&self, workspace: &WorkspaceId) -> Result<Vec<ToolRecord>> {
        let rows = sqlx::query(
            "SELECT name, connection, definition, source, updated_at FROM named_tools WHERE workspace_id = ? ORDER BY name",
        )
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tool_from_row).collect()
    }

    pub async fn tool(&self, workspace: &WorkspaceId, name: &str) -> Result<Option<ToolRecord>> {
        let row = sqlx::query(
            "SELECT name, connection, definition, source, updated_at FROM named_tools WHERE workspace_id = ? AND name = ?",
        )
        .bind(workspace.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tool_from_row).transpose()
    }

    /// Workspaces that have tools from a tools file.
    pub async fn workspaces_with_file_tools(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT workspace_id FROM named_tools WHERE source = 'file'",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds or replaces a tool defined through the API. A tool that came
    /// from the tools file is not replaced (edit the file).
    pub async fn put_api_tool(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        connection: &str,
        definition: &str,
    ) -> Result<()> {
        self.writing(async {
            self.put_tool(workspace, name, connection, definition, "api")
                .await
        })
        .await
    }

    /// Adds or replaces a tool of `source` (`api` or `generated`); a tool of
    /// another source with the same name is not replaced.
    pub async fn put_tool(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        connection: &str,
        definition: &str,
        source: &str,
    ) -> Result<()> {
        self.writing(async {
            let now = now();
            let done = sqlx::query(
                "INSERT INTO named_tools (workspace_id, name, connection, definition, source, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (workspace_id, name) DO UPDATE SET connection = excluded.connection,
                    definition = excluded.definition, updated_at = excluded.updated_at
                 WHERE named_tools.source = excluded.source",
            )
            .bind(workspace.as_str())
            .bind(name)
            .bind(connection)
            .bind(definition)
            .bind(source)
            .bind(&now)
            .bind(&now)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() != 1 {
                return Err(Error::Conflict("tool (defined elsewhere)"));
            }
            Ok(())
        })
        .await
    }

    /// Removes a tool added through the API; false when there is none.
    pub async fn delete_api_tool(&self, workspace: &WorkspaceId, name: &str) -> Result<bool> {
        self.writing(async {
            let done = sqlx::query(
                "DELETE FROM named_tools WHERE workspace_id = ? AND name = ? AND source IN ('api', 'generated')",
            )
            .bind(workspace.as_str())
            .bind(name)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Replaces every tool that came from the tools file, atomically.
    /// Returns the names that clash with API tools (nothing is changed then).
    pub async fn replace_file_tools(
        &self,
        workspace: &WorkspaceId,
        tools: &[(String, String, String)],
    ) -> Result<Vec<String>> {
        self.writing(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let api: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM named_tools WHERE workspace_id = ? AND source <> 'file'",
            )
            .bind(workspace.as_str())
            .fetch_all(&mut *tx)
            .await?;
            let clashes: Vec<String> = tools
                .iter()
                .filter(|(n, _, _)| api.contains(n))
                .map(|(n, _, _)| n.clone())
                .collect();
            if !clashes.is_empty() {
                return Ok(clashes);
            }
            sqlx::query("DELETE FROM named_tools WHERE workspace_id = ? AND source = 'file'")
                .bind(workspace.as_str())
                .execute(&mut *tx)
                .await?;
            let now = now();
            for (name, connection, definition) in tools {
                sqlx::query(
                    "INSERT INTO named_tools (workspace_id, name, connection, definition, source, created_at, updated_at)
                     VALUES (?, ?, ?, ?, 'file', ?, ?)",
                )
                .bind(workspace.as_str())
                .bind(name)
                .bind(connection)
                .bind(definition)
                .bind(&now)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(Vec::new())
        })
        .await
    }
}

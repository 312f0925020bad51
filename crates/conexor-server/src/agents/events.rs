//! Agent events (enrolled, connected, refused, revoked) in the workspace's
//! audit chain.

use super::*;

/// Appends an agent event to its workspace's chain. Failures are logged:
/// these events answer no caller.
pub(super) async fn audit_event(
    state: &AppState,
    agent: &AgentRecord,
    tool: &str,
    params: Value,
    refused: Option<&str>,
) {
    let refused = refused.map(conexor_types::ErrorCode::parse);
    if state
        .gateway
        .record_event(
            &agent.workspace_id,
            format!("agent:{}", agent.name),
            tool,
            params,
            Some(conexor_types::Mode::Agent),
            refused.as_ref(),
        )
        .await
        .is_err()
    {
        tracing::error!(agent_id = %agent.id, tool, "Could not audit an agent event.");
    }
}

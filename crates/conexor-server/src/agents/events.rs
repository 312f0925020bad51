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
    let mut draft = Draft::new(
        tool,
        if refused.is_some() {
            Outcome::Denied
        } else {
            Outcome::Ok
        },
    );
    draft.user = Some(format!("agent:{}", agent.name));
    draft.params = params;
    draft.mode = Some("agent".into());
    if let Some(code) = refused {
        draft.error = Some(format!(
            "{code}: {}",
            conexor_types::ErrorCode::parse(code).fixed_reason()
        ));
    }
    if state
        .audit
        .append(agent.workspace_id.as_str(), draft)
        .await
        .is_err()
    {
        tracing::error!(agent_id = %agent.id, tool, "Could not audit an agent event.");
    }
}

//! The one error type of the HTTP surface. A client sees only
//! [`ApiError::client_message`]; the full chain is logged with the request
//! id. Driver messages never reach logs (they can carry row values).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use conexor_types::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed credentials")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    /// Refused by policy (guard, privileges); the reason is for the caller.
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooMany(&'static str),
    /// A dependency (the audit log) cannot take the call right now.
    #[error("{0}")]
    Unavailable(String),
    /// A failed or refused call: the status is its code's (the one mapping
    /// of [`ErrorCode::http_status`]), and the body names the code.
    #[error("{message}")]
    Call { code: ErrorCode, message: String },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Denied(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Call { code, .. } => StatusCode::from_u16(code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The only text a client ever sees.
    pub fn client_message(&self) -> String {
        self.to_string()
    }
}

/// 409: `what` is still used by these connections.
pub(crate) fn in_use(what: &str, users: &[String]) -> ApiError {
    let one = users.len() == 1;
    ApiError::Conflict(format!(
        "{what} is in use by the connection{} {}; edit or remove {} first",
        if one { "" } else { "s" },
        users.join(", "),
        if one { "it" } else { "them" }
    ))
}

impl From<crate::gateway::ToolError> for ApiError {
    fn from(e: crate::gateway::ToolError) -> Self {
        ApiError::Call {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<conexor_store::Error> for ApiError {
    fn from(err: conexor_store::Error) -> Self {
        match err {
            conexor_store::Error::Conflict(what) => {
                ApiError::Conflict(format!("{what} already exists"))
            }
            conexor_store::Error::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            conexor_store::Error::InUse(users) => in_use("it", &users),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(err) = &self {
            tracing::error!(error = %format!("{err:#}"), "Request failed.");
        }
        let body = match &self {
            ApiError::Call { code, message } => {
                serde_json::json!({ "error": message, "code": code.to_string() })
            }
            _ => serde_json::json!({ "error": self.client_message() }),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthenticated) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed call's status comes from its code alone: a store failure is
    /// 503 from every handler (it was 409 from one and 400 from another),
    /// and the body names the code.
    #[test]
    fn a_call_s_status_is_its_code_s() {
        for (code, status) in [
            ("store", 503),
            ("audit.unavailable", 503),
            ("unknown_connection", 404),
            ("guard.denied_function", 403),
            ("sqlstate:42703", 422),
            ("connect.auth", 502),
            ("timeout", 504),
        ] {
            let e = ApiError::from(crate::gateway::ToolError::failed(code, "m"));
            assert_eq!(e.status().as_u16(), status, "{code}");
        }
    }
}

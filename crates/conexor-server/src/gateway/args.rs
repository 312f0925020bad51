//! Reading a tool call's JSON arguments, with errors the AI can act on.

use super::*;

pub(super) fn str_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ToolError::invalid(format!(
            "missing required argument {name:?}"
        ))),
        Some(_) => Err(ToolError::invalid(format!(
            "argument {name:?} must be a string"
        ))),
    }
}

pub(super) fn opt_str_arg(args: &Value, name: &str) -> Result<Option<String>, ToolError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ToolError::invalid(format!(
            "argument {name:?} must be a string"
        ))),
    }
}

pub(super) fn opt_u64_arg(args: &Value, name: &str) -> Result<Option<u64>, ToolError> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ToolError::invalid(format!("argument {name:?} must be a positive integer"))
        }),
    }
}

//! Replays every committed corpus and regression input through the same
//! checks as the fuzz targets, without sanitizers: `cargo test` in fuzz/
//! (scripts/fuzz.sh runs it too).

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "{target}: no corpus committed");
}

#[test]
fn guard() {
    replay("guard", conexor_fuzz::guard);
}

#[test]
fn audit_verify() {
    replay("audit_verify", conexor_fuzz::audit_verify);
}

#[test]
fn keys_envelopes() {
    replay("keys_envelopes", conexor_fuzz::keys_envelopes);
}

#[test]
fn agent_frames() {
    replay("agent_frames", conexor_fuzz::agent_frames);
}

#[test]
fn tools_file() {
    replay("tools_file", conexor_fuzz::tools_file);
}

#[test]
fn mcp_call() {
    replay("mcp_call", conexor_fuzz::mcp_call);
}

#[test]
fn objects() {
    replay("objects", conexor_fuzz::objects);
}

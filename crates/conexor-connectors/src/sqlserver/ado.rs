//! The ADO.NET connection string users copy from the Azure portal or SSMS,
//! read into a [`ConnectionSpec`] by the client that seals it:
//!
//! `Server=tcp:myserver.database.windows.net,1433;Database=mydb;User ID=u@myserver;Password=…;Encrypt=True;`
//!
//! Keywords are compared without case and their synonyms accepted (`Data
//! Source`/`Address`, `Initial Catalog`, `UID`, `PWD`, …). A value may be
//! quoted with `"` or `'`, inside which `;` is literal and the quote is
//! written twice to stand for itself. Written by hand (a small grammar):
//! the one crate for it keeps doubled quotes doubled and names a password's
//! characters in its errors. No error here quotes a value.

use crate::Error;
use crate::spec::{ConnectionSpec, Encrypt};
use zeroize::Zeroizing;

/// Keywords that change nothing for a read-only gateway, accepted so that a
/// string pasted from the portal works as it is.
const IGNORED: &[&str] = &[
    "persist security info",
    "persistsecurityinfo",
    "multipleactiveresultsets",
    "multiple active result sets",
    "connection timeout",
    "connect timeout",
    "connecttimeout",
    "timeout",
    "command timeout",
    "pooling",
    "min pool size",
    "max pool size",
    "connection lifetime",
    "load balance timeout",
    "application name",
    "app",
    "workstation id",
    "wsid",
    "packet size",
    "connectretrycount",
    "connect retry count",
    "connectretryinterval",
    "connect retry interval",
    "multisubnetfailover",
    "multi subnet failover",
];

/// Reads `text` into a SQL Server spec. Unknown keywords are an error that
/// names them (never their values); so is an instance name (`host\SQLEXPRESS`
/// needs the SQL Browser service: give the port instead).
pub fn parse(text: &str) -> Result<ConnectionSpec, Error> {
    let mut spec = ConnectionSpec::default();
    let mut unknown = Vec::new();
    for (key, value) in pairs(text)? {
        match key.as_str() {
            "server" | "data source" | "address" | "addr" | "network address" => {
                let (host, port) = server(&value)?;
                spec.host = Some(host);
                spec.port = port;
            }
            "database" | "initial catalog" => spec.database = non_empty(value),
            "user id" | "uid" | "user" | "username" => spec.username = non_empty(value),
            "password" | "pwd" => spec.password = Some(Zeroizing::new(value)),
            "encrypt" => {
                spec.encrypt = Some(match value.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "mandatory" => Encrypt::On,
                    "false" | "no" | "optional" => Encrypt::Off,
                    "strict" => Encrypt::Strict,
                    _ => {
                        return Err(Error::Spec(
                            "Encrypt must be True, False, Mandatory, Optional or Strict".into(),
                        ));
                    }
                })
            }
            "trustservercertificate" | "trust server certificate" => {
                spec.trust_server_certificate = boolean(&value, "TrustServerCertificate")?;
            }
            "applicationintent" | "application intent" => {
                spec.read_only_intent = Some(match value.to_ascii_lowercase().as_str() {
                    "readonly" => true,
                    "readwrite" => false,
                    _ => {
                        return Err(Error::Spec(
                            "ApplicationIntent must be ReadOnly or ReadWrite".into(),
                        ));
                    }
                })
            }
            "integrated security" | "trusted_connection" | "authentication" => {
                return Err(Error::Spec(format!(
                    "{key} is not supported: use a SQL login (User ID and Password)"
                )));
            }
            k if IGNORED.contains(&k) => {}
            other => unknown.push(other.to_owned()),
        }
    }
    if !unknown.is_empty() {
        return Err(Error::Spec(format!(
            "unknown connection string keyword{}: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", ")
        )));
    }
    if spec.host.is_none() {
        return Err(Error::Spec(
            "the connection string has no Server (or Data Source)".into(),
        ));
    }
    Ok(spec)
}

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn boolean(value: &str, keyword: &str) -> Result<bool, Error> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(Error::Spec(format!("{keyword} must be True or False"))),
    }
}

/// `tcp:host,port`, `host,port`, `host` (port 1433 later); `np:` and
/// `host\instance` are refused with what to write instead.
fn server(value: &str) -> Result<(String, Option<u16>), Error> {
    let lowered = value.to_ascii_lowercase();
    let rest = if lowered.starts_with("tcp:") {
        value.get(4..).unwrap_or_default()
    } else if lowered.starts_with("np:") || lowered.starts_with("lpc:") {
        return Err(Error::Spec(
            "named pipes and shared memory are not supported: use tcp:host,port".into(),
        ));
    } else {
        value
    };
    let (host, port) = match rest.rsplit_once(',') {
        Some((host, port)) => {
            let port = port
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    Error::Spec("the port after the comma in Server is not a port number".into())
                })?;
            (host.trim(), Some(port))
        }
        None => (rest.trim(), None),
    };
    if host.contains('\\') {
        return Err(Error::Spec(
            "named instances (host\\instance) need the SQL Browser service: give the instance's port instead (host,port)".into(),
        ));
    }
    if host.is_empty() {
        return Err(Error::Spec("Server names no host".into()));
    }
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

/// `key=value` pairs, keywords lowercased with inner whitespace collapsed.
fn pairs(text: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        // Keyword, up to `=`.
        let mut key = String::new();
        loop {
            match chars.next() {
                None => {
                    if key.trim().is_empty() {
                        return Ok(out);
                    }
                    return Err(Error::Spec(format!(
                        "keyword {:?} has no value (write keyword=value)",
                        collapse(&key)
                    )));
                }
                Some(';') if key.trim().is_empty() => key.clear(),
                Some(';') => {
                    return Err(Error::Spec(format!(
                        "keyword {:?} has no value (write keyword=value)",
                        collapse(&key)
                    )));
                }
                Some('=') => break,
                Some(c) => key.push(c),
            }
        }
        let key = collapse(&key);
        if key.is_empty() {
            return Err(Error::Spec("a value has no keyword before its =".into()));
        }
        // Value: quoted, or up to the next `;`.
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut value = String::new();
        match chars.peek().copied() {
            Some(quote @ ('"' | '\'')) => {
                chars.next();
                loop {
                    match chars.next() {
                        None => {
                            return Err(Error::Spec(format!(
                                "the value of {key} has an opening quote and no closing one"
                            )));
                        }
                        Some(c) if c == quote => {
                            if chars.peek() == Some(&quote) {
                                chars.next();
                                value.push(quote);
                            } else {
                                break;
                            }
                        }
                        Some(c) => value.push(c),
                    }
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                match chars.next() {
                    None | Some(';') => {}
                    Some(_) => {
                        return Err(Error::Spec(format!(
                            "the value of {key} continues after its closing quote"
                        )));
                    }
                }
            }
            _ => {
                for c in chars.by_ref() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                }
                value = value.trim().to_owned();
            }
        }
        out.push((key, value));
    }
}

fn collapse(key: &str) -> String {
    key.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> ConnectionSpec {
        match parse(text) {
            Ok(spec) => spec,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("{text}: accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_azure_portal_string_reads_as_its_fields() {
        let spec = ok(
            "Server=tcp:myserver.database.windows.net,1433;Initial Catalog=mydb;Persist Security Info=False;\
             User ID=conexor_user@myserver;Password=s3cr-et;MultipleActiveResultSets=False;\
             Encrypt=True;TrustServerCertificate=False;Connection Timeout=30;",
        );
        assert_eq!(spec.host.as_deref(), Some("myserver.database.windows.net"));
        assert_eq!(spec.port, Some(1433));
        assert_eq!(spec.database.as_deref(), Some("mydb"));
        assert_eq!(spec.username.as_deref(), Some("conexor_user@myserver"));
        assert_eq!(
            spec.password.as_deref().map(String::as_str),
            Some("s3cr-et")
        );
        // Unquoted, a value ends at the first `;`: the rest reads as another
        // pair, here an unknown keyword, named without the value.
        let split = err("Server=h;Password=s3cr;et=x");
        assert!(
            split.contains("keyword: et") && !split.contains("s3cr"),
            "{split}"
        );
        assert_eq!(spec.encrypt, Some(Encrypt::On));
        assert!(!spec.trust_server_certificate);
    }

    #[test]
    fn keywords_fold_synonyms_and_quotes_hold_semicolons() {
        let spec = ok(
            "  DATA   SOURCE = db.internal ; initial catalog=Sales;UID=reader;\
             PWD=\"p;a\"\"ss'word\";encrypt=strict;ApplicationIntent=ReadWrite",
        );
        assert_eq!(spec.host.as_deref(), Some("db.internal"));
        assert_eq!(spec.port, None);
        assert_eq!(spec.database.as_deref(), Some("Sales"));
        assert_eq!(spec.username.as_deref(), Some("reader"));
        assert_eq!(
            spec.password.as_deref().map(String::as_str),
            Some("p;a\"ss'word")
        );
        assert_eq!(spec.encrypt, Some(Encrypt::Strict));
        assert_eq!(spec.read_only_intent, Some(false));
        let single = ok("Server=h;Password='it''s; é'");
        assert_eq!(
            single.password.as_deref().map(String::as_str),
            Some("it's; é")
        );
        // The last of a repeated keyword wins, as in ADO.NET.
        assert_eq!(ok("Server=a;Server=b,1500").host.as_deref(), Some("b"));
    }

    #[test]
    fn bad_strings_get_a_clear_error_that_quotes_no_value() {
        for (text, says) in [
            ("Database=x", "no Server"),
            (
                "Server=h;Colour=blue",
                "unknown connection string keyword: colour",
            ),
            ("Server=h;Password=\"open", "no closing one"),
            ("Server=h;Password=\"a\"b", "continues after"),
            ("Server=h;Encrypt=maybe", "Encrypt must be"),
            ("Server=h\\SQLEXPRESS", "named instances"),
            ("Server=np:\\\\h\\pipe", "named pipes"),
            ("Server=h,99999", "not a port"),
            ("Server=h;Integrated Security=SSPI", "not supported"),
            ("Server=h;Password", "has no value"),
            ("=x;Server=h", "no keyword"),
        ] {
            let message = err(text);
            assert!(message.contains(says), "{text}: {message}");
        }
        let message = err("Server=h;Password=\"hunter2");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(parse("").is_err());
    }
}

use super::*;
use conexor_guard::Dialect;
use serde_json::json;

const FILE: &str = r#"
# Orders by country.
[[tools]]
name = "get_orders_by_country"
description = "Orders of customers in one country, newest first"
connection = "shop"
sql = "SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.country = $1 AND o.status = $2 ORDER BY o.id DESC LIMIT $3"
max_rows = 50

[[tools.params]]
name = "country"
type = "string"
required = true

[[tools.params]]
name = "status"
type = "enum"
values = ["open", "shipped"]
default = "shipped"

[[tools.params]]
name = "limit"
type = "integer"
min = 1
max = 100
default = 10
"#;

fn tool() -> ToolDef {
    parse_file(FILE).unwrap().remove(0).def
}

#[test]
fn parses_checks_and_binds() {
    let tools = parse_file(FILE).unwrap();
    assert_eq!(tools[0].line, 3);
    let t = &tools[0].def;
    t.check(Dialect::Postgresql).unwrap();
    assert_eq!(t.bind(&json!({"country": "FR"})).unwrap(), vec![json!("FR"), json!("shipped"), json!(10)]);
    assert_eq!(
        t.bind(&json!({"country": "FR", "status": "open", "limit": 3})).unwrap(),
        vec![json!("FR"), json!("open"), json!(3)]
    );
    let schema = t.input_schema();
    assert_eq!(schema["required"], json!(["country"]));
    assert_eq!(schema["properties"]["status"]["enum"], json!(["open", "shipped"]));
    assert_eq!(schema["additionalProperties"], json!(false));
}

#[test]
fn bad_arguments_get_clear_errors() {
    let t = tool();
    let e = |args: Value| t.bind(&args).unwrap_err().0;
    assert!(e(json!({})).contains("missing required argument \"country\""));
    assert!(e(json!({"country": 7})).contains("must be a string, got an integer"));
    assert!(e(json!({"country": "FR", "status": "lost"})).contains("must be one of open, shipped"));
    assert!(e(json!({"country": "FR", "limit": 1000})).contains("at most 100"));
    assert!(e(json!({"country": "FR", "limit": "5"})).contains("must be an integer, got a string"));
    assert!(e(json!({"country": "FR", "limit": 2.5})).contains("must be an integer"));
    assert!(e(json!({"country": "FR", "cuntry": "x"})).contains("unknown argument \"cuntry\""));
    assert!(e(json!([1])).contains("must be an object"));
}

#[test]
fn injection_attempts_stay_values() {
    let t = tool();
    for evil in ["FR' OR '1'='1", "FR; DROP TABLE orders; --", "$1", "?", "\u{0}"] {
        let bound = t.bind(&json!({"country": evil})).unwrap();
        // Bound as a value, never spliced: the SQL text is unchanged.
        assert_eq!(bound[0], json!(evil));
    }
}

#[test]
fn definitions_are_checked_when_saved() {
    let mut t = tool();
    t.sql = "DELETE FROM orders WHERE id = $1 AND x = $2 AND y = $3".into();
    assert!(t.check(Dialect::Postgresql).unwrap_err().0.starts_with("sql: query refused"));
    let mut t = tool();
    t.sql = "SELECT 1 WHERE $1 = 'x'".into();
    assert!(t.check(Dialect::Postgresql).unwrap_err().0.contains("placeholder"));
    let mut t = tool();
    t.name = "run_query".into();
    assert!(t.check(Dialect::Postgresql).unwrap_err().0.contains("built-in"));
    let mut t = tool();
    t.params[1].default = Some(json!("lost"));
    assert!(t.check(Dialect::Postgresql).unwrap_err().0.contains("params[1] (\"status\"): default must be one of"));
    let mut t = tool();
    t.params[1].values = None;
    assert!(t.check(Dialect::Postgresql).unwrap_err().0.contains("an enum needs values"));
    let mut t = tool();
    t.name = "Bad Name".into();
    assert!(t.check(Dialect::Postgresql).unwrap_err().0.starts_with("name:"));
}

#[test]
fn file_errors_name_the_line_and_field_and_inline_connections_are_refused() {
    let e = parse_file("[[tools]]\nname = \"x\"\ndescription = \"d\"\nconnection = \"c\"\nsql = \"SELECT 1\"\nmax_rows = \"ten\"\n").unwrap_err().0;
    assert!(e.starts_with("line 6: tool \"x\": field max_rows:"), "{e}");
    let e = parse_file("[[tools]]\nname = \"x\"\ndescription = \"d\"\nurl = \"postgres://u:pw@h/db\"\nsql = \"SELECT 1\"\n").unwrap_err().0;
    assert!(e.contains("field url") && e.contains("only on the client"), "{e}");
    assert!(!e.contains("pw@"), "{e}");
    let e = parse_file("[[tools]\n").unwrap_err().0;
    assert!(e.starts_with("line 1:"), "{e}");
    let e = parse_file("[[tools]]\nname = \"x\"\ndescription = \"d\"\nconnection = \"c\"\nsql = \"SELECT 1\"\nbogus = 1\n").unwrap_err().0;
    assert!(e.contains("bogus"), "{e}");
    let twice = format!("{FILE}\n[[tools]]\nname = \"get_orders_by_country\"\ndescription = \"d\"\nconnection = \"c\"\nsql = \"SELECT 1\"\n");
    assert!(parse_file(&twice).unwrap_err().0.contains("used twice"));
}

#[test]
fn round_trips_through_a_file() {
    let t = tool();
    let text = to_file(std::slice::from_ref(&t)).unwrap();
    assert_eq!(parse_file(&text).unwrap()[0].def, t);
}

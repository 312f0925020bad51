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
    assert_eq!(
        t.bind(&json!({"country": "FR"})).unwrap(),
        vec![json!("FR"), json!("shipped"), json!(10)]
    );
    assert_eq!(
        t.bind(&json!({"country": "FR", "status": "open", "limit": 3}))
            .unwrap(),
        vec![json!("FR"), json!("open"), json!(3)]
    );
    let schema = t.input_schema();
    assert_eq!(schema["required"], json!(["country"]));
    assert_eq!(
        schema["properties"]["status"]["enum"],
        json!(["open", "shipped"])
    );
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
    for evil in [
        "FR' OR '1'='1",
        "FR; DROP TABLE orders; --",
        "$1",
        "?",
        "\u{0}",
    ] {
        let bound = t.bind(&json!({"country": evil})).unwrap();
        // Bound as a value, never spliced: the SQL text is unchanged.
        assert_eq!(bound[0], json!(evil));
    }
}

#[test]
fn definitions_are_checked_when_saved() {
    let mut t = tool();
    t.sql = "DELETE FROM orders WHERE id = $1 AND x = $2 AND y = $3".into();
    assert!(
        t.check(Dialect::Postgresql)
            .unwrap_err()
            .0
            .starts_with("sql: query refused")
    );
    let mut t = tool();
    t.sql = "SELECT 1 WHERE $1 = 'x'".into();
    assert!(
        t.check(Dialect::Postgresql)
            .unwrap_err()
            .0
            .contains("placeholder")
    );
    let mut t = tool();
    t.name = "run_query".into();
    assert!(
        t.check(Dialect::Postgresql)
            .unwrap_err()
            .0
            .contains("built-in")
    );
    let mut t = tool();
    t.params[1].default = Some(json!("lost"));
    assert!(
        t.check(Dialect::Postgresql)
            .unwrap_err()
            .0
            .contains("params[1] (\"status\"): default must be one of")
    );
    let mut t = tool();
    t.params[1].values = None;
    assert!(
        t.check(Dialect::Postgresql)
            .unwrap_err()
            .0
            .contains("an enum needs values")
    );
    let mut t = tool();
    t.name = "Bad Name".into();
    assert!(
        t.check(Dialect::Postgresql)
            .unwrap_err()
            .0
            .starts_with("name:")
    );
}

#[test]
fn file_errors_name_the_line_and_field_and_inline_connections_are_refused() {
    let e = parse_file("[[tools]]\nname = \"x\"\ndescription = \"d\"\nconnection = \"c\"\nsql = \"SELECT 1\"\nmax_rows = \"ten\"\n").unwrap_err().0;
    assert!(e.starts_with("line 6: tool \"x\": field max_rows:"), "{e}");
    let e = parse_file("[[tools]]\nname = \"x\"\ndescription = \"d\"\nurl = \"postgres://u:pw@h/db\"\nsql = \"SELECT 1\"\n").unwrap_err().0;
    assert!(
        e.contains("field url") && e.contains("only on the client"),
        "{e}"
    );
    assert!(!e.contains("pw@"), "{e}");
    let e = parse_file("[[tools]\n").unwrap_err().0;
    assert!(e.starts_with("line 1:"), "{e}");
    let e = parse_file("[[tools]]\nname = \"x\"\ndescription = \"d\"\nconnection = \"c\"\nsql = \"SELECT 1\"\nbogus = 1\n").unwrap_err().0;
    assert!(e.contains("bogus"), "{e}");
    let twice = format!(
        "{FILE}\n[[tools]]\nname = \"get_orders_by_country\"\ndescription = \"d\"\nconnection = \"c\"\nsql = \"SELECT 1\"\n"
    );
    assert!(parse_file(&twice).unwrap_err().0.contains("used twice"));
}

#[test]
fn round_trips_through_a_file() {
    let t = tool();
    let text = to_file(std::slice::from_ref(&t)).unwrap();
    assert_eq!(parse_file(&text).unwrap()[0].def, t);
}

fn orders() -> TableTool {
    let cols = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(n, t)| (n.to_string(), t.to_string(), None))
            .collect::<Vec<_>>()
    };
    TableTool::new(
        "shop",
        "public",
        "orders",
        Some("One checkout"),
        &cols(&[
            ("id", "int4"),
            ("status", "varchar"),
            ("ordered_at", "timestamp"),
            ("total", "numeric"),
            ("paid", "bool"),
            ("meta", "jsonb"),
        ]),
        &["id".to_string()],
    )
}

#[test]
fn generated_tools_build_quoted_sql_with_bound_values() {
    let t = orders();
    assert_eq!(t.name, "shop_orders");
    assert!(t.description.contains("Primary key: id"));
    let (sql, params, limit) = t
        .build(
            &json!({"columns": ["id", "total"], "where": {"status": {"in": ["paid", "shipped"]}, "total": {"gte": 10}, "ordered_at": {"gt": "2026-01-01"}},
                    "order_by": [{"column": "total", "desc": true}], "limit": 5}),
            Dialect::Postgresql,
        )
        .unwrap();
    assert_eq!(
        sql,
        "SELECT \"id\", \"total\" FROM \"public\".\"orders\" WHERE \"ordered_at\" > CAST($1 AS timestamp) AND \"status\" IN ($2, $3) AND \"total\" >= $4 ORDER BY \"total\" DESC"
    );
    assert_eq!(
        params,
        vec![
            json!("2026-01-01"),
            json!("paid"),
            json!("shipped"),
            json!(10)
        ]
    );
    assert_eq!(limit, Some(5));
    conexor_guard::check_with_params(Dialect::Postgresql, &sql, params.len()).unwrap();
    let (sql, _, _) = t
        .build(
            &json!({"where": {"status": {"like": "p%"}}}),
            Dialect::Mysql,
        )
        .unwrap();
    assert_eq!(sql, "SELECT * FROM `public`.`orders` WHERE `status` LIKE ?");
}

#[test]
fn generated_tools_refuse_bad_filters_clearly() {
    let t = orders();
    let e = |args: Value| t.build(&args, Dialect::Postgresql).unwrap_err().0;
    assert!(e(json!({"where": {"totl": {"eq": 1}}})).contains("did you mean total"));
    assert!(e(json!({"columns": ["idd"]})).contains("did you mean id"));
    assert!(
        e(json!({"where": {"total": {"like": "1%"}}})).contains("is not a filter for this column")
    );
    assert!(e(json!({"where": {"meta": {"eq": "x"}}})).contains("cannot be filtered"));
    assert!(e(json!({"where": {"id": {"eq": "1 OR 1=1"}}})).contains("must be an integer"));
    assert!(e(json!({"where": {"ordered_at": {"gt": "soon"}}})).contains("must be a date"));
    assert!(e(json!({"where": {"status": {"in": []}}})).contains("1 to 100"));
    assert!(e(json!({"order_by": [{"column": "id", "desc": "yes"}]})).contains("true or false"));
    assert!(e(json!({"limit": 0})).contains("positive integer"));
    assert!(e(json!({"sql": "DROP TABLE orders"})).contains("unknown argument"));
    // A hostile value stays a bound value.
    let (sql, params, _) = t
        .build(
            &json!({"where": {"status": {"eq": "x\" OR 1=1 --"}}}),
            Dialect::Postgresql,
        )
        .unwrap();
    assert_eq!(
        sql,
        "SELECT * FROM \"public\".\"orders\" WHERE \"status\" = $1"
    );
    assert_eq!(params, vec![json!("x\" OR 1=1 --")]);
}

#[test]
fn identifiers_from_the_schema_are_quoted() {
    let cols = vec![("we\"ird".to_string(), "text".to_string(), None)];
    let t = TableTool::new("c", "", "ta`ble", None, &cols, &[]);
    let (sql, _, _) = t
        .build(&json!({"columns": ["we\"ird"]}), Dialect::Sqlite)
        .unwrap();
    assert_eq!(sql, "SELECT \"we\"\"ird\" FROM \"ta`ble\"");
    let (sql, _, _) = t.build(&json!({}), Dialect::Mysql).unwrap();
    assert_eq!(sql, "SELECT * FROM `ta``ble`");
}

#[test]
fn sql_server_table_tools_bracket_names_and_bind_at_p_placeholders() {
    let cols = vec![
        ("id".to_string(), "int".to_string(), None),
        ("na]me".to_string(), "nvarchar(50)".to_string(), None),
    ];
    let t = TableTool::new("erp", "dbo", "orders", None, &cols, &["id".to_string()]);
    let (sql, params, _) = t
        .build(
            &json!({"columns": ["na]me"], "where": {"id": {"eq": 7}, "na]me": {"eq": "x"}}}),
            Dialect::Sqlserver,
        )
        .unwrap();
    assert_eq!(
        sql,
        "SELECT [na]]me] FROM [dbo].[orders] WHERE [id] = @P1 AND [na]]me] = @P2"
    );
    assert_eq!(params, vec![json!(7), json!("x")]);
    // What a table tool builds passes the T-SQL guard with its parameters.
    let checked = conexor_guard::check_with_params(Dialect::Sqlserver, &sql, 2).unwrap();
    assert_eq!(checked.placeholder_count(), 2);
}

#[test]
fn stored_tools_round_trip_both_kinds() {
    let q = Stored::Query(tool());
    let text = serde_json::to_string(&q).unwrap();
    assert_eq!(serde_json::from_str::<Stored>(&text).unwrap(), q);
    let g = Stored::Table {
        table_tool: orders(),
    };
    let text = serde_json::to_string(&g).unwrap();
    assert!(text.starts_with("{\"table_tool\""));
    assert_eq!(serde_json::from_str::<Stored>(&text).unwrap(), g);
}

#[test]
fn each_tool_reports_the_line_of_its_header() {
    let text = "[[tools]]\nname = \"a\"\ndescription = \"d\"\nconnection = \"c\"\nsql = \"SELECT 1\"\n\n[[tools]]\nname = \"b\"\ndescription = \"d\"\nconnection = \"c\"\nsql = \"SELECT 2\"\n";
    let tools = parse_file(text).unwrap();
    assert_eq!((tools[0].line, tools[1].line), (1, 7));
}

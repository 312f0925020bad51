use super::*;
use crate::rest::{NAMED_TOOLS_UP_TO, ToolMode, tool_plan};

fn spec(paths: Value) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Shop", "version": "1"},
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {
            "parameters": {
                "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}}
            },
            "schemas": {
                "Node": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
                }},
                "Status": {"type": "string", "enum": ["open", "closed"]}
            }
        }
    })
}

fn read(value: &Value) -> Result<Api, Error> {
    parse(&serde_json::to_vec(value).expect("json"))
}

fn message(result: Result<Api, Error>) -> String {
    match result {
        Ok(api) => panic!("accepted: {api:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn only_get_and_head_become_operations_with_their_parameters_resolved() {
    let api = read(&spec(json!({
        "/orders/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
            "get": {"operationId": "getOrder", "summary": "One order", "tags": ["orders"],
                    "parameters": [{"$ref": "#/components/parameters/Limit"},
                                   {"name": "status", "in": "query", "schema": {"$ref": "#/components/schemas/Status"}},
                                   {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                                   {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                                   {"name": "session", "in": "cookie", "schema": {"type": "string"}}]},
            "delete": {"operationId": "deleteOrder"},
            "put": {"operationId": "replaceOrder"},
            "head": {"operationId": "orderExists"}
        },
        "/orders": {"post": {"operationId": "createOrder"}, "patch": {}}
    })))
    .expect("reads");
    assert_eq!(api.title, "Shop");
    assert_eq!(api.server.as_deref(), Some("/api"));
    assert_eq!(api.write_operations, 4);
    let tools: Vec<&str> = api.operations.iter().map(|o| o.tool.as_str()).collect();
    assert_eq!(tools, ["getOrder", "orderExists"]);
    let get = &api.operations[0];
    assert_eq!(get.method, ReadMethod::Get);
    let names: Vec<(&str, Location, bool)> = get
        .params
        .iter()
        .map(|p| (p.name.as_str(), p.location, p.required))
        .collect();
    // The credential's header and cookies are never the caller's to set.
    assert_eq!(
        names,
        [
            ("id", Location::Path, true),
            ("limit", Location::Query, false),
            ("status", Location::Query, false),
            ("X-Trace", Location::Header, false),
        ]
    );
    assert_eq!(
        get.params[2].schema,
        json!({"type": "string", "enum": ["open", "closed"]})
    );
    let schema = input_schema(get);
    assert_eq!(schema["required"], json!(["id"]));
    assert_eq!(schema["properties"]["limit"]["maximum"], json!(100));
}

#[test]
fn recursive_and_deep_schemas_are_cut_never_followed_forever() {
    let api = read(&spec(json!({
        "/tree": {"get": {"operationId": "tree", "parameters": [
            {"name": "filter", "in": "query", "schema": {"$ref": "#/components/schemas/Node"}}
        ]}}
    })))
    .expect("reads");
    let text = api.operations[0].params[0].schema.to_string();
    assert!(text.contains("recursive"), "{text}");
    assert!(text.len() < 2_000, "{} bytes", text.len());
    // A $ref chain that loops on itself is an error, not a hang.
    let mut looping = spec(json!({"/x": {"$ref": "#/paths/~1y"}, "/y": {"$ref": "#/paths/~1x"}}));
    looping["openapi"] = json!("3.0.3");
    assert!(message(read(&looping)).contains("too long or circular"));
    // Fan-out: 30 properties each referring to a 30-property schema, eight
    // levels down, stays within the node budget.
    let mut wide = spec(json!({"/w": {"get": {"parameters": [
        {"name": "q", "in": "query", "schema": {"$ref": "#/components/schemas/W"}}
    ]}}}));
    let props: Map<String, Value> = (0..30)
        .map(|i| (format!("p{i}"), json!({"$ref": "#/components/schemas/W2"})))
        .collect();
    let props2: Map<String, Value> = (0..30)
        .map(|i| (format!("q{i}"), json!({"$ref": "#/components/schemas/W"})))
        .collect();
    wide["components"]["schemas"]["W"] = json!({"type": "object", "properties": props});
    wide["components"]["schemas"]["W2"] = json!({"type": "object", "properties": props2});
    let started = std::time::Instant::now();
    let api = read(&wide).expect("reads");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(api.operations[0].params[0].schema.to_string().len() < 200_000);
}

#[test]
fn hostile_descriptions_get_a_clear_error() {
    let external = spec(json!({"/x": {"get": {"parameters": [
        {"name": "q", "in": "query", "schema": {"$ref": "https://evil.example/schema.json"}}
    ]}}}));
    assert!(message(read(&external)).contains("external $ref"));
    let dangling =
        spec(json!({"/x": {"get": {"parameters": [{"$ref": "#/components/parameters/Nope"}]}}}));
    assert!(message(read(&dangling)).contains("points at nothing"));
    assert!(message(read(&json!({"swagger": "2.0", "paths": {}}))).contains("Swagger 2.0"));
    assert!(message(read(&json!({"openapi": "4.0", "paths": {}}))).contains("not an OpenAPI 3"));
    assert!(message(parse(b"openapi: 3.1.0\npaths: [unclosed\n")).contains("valid YAML"));
    assert!(message(parse(b"openapi: !Tag 3.1.0\n")).contains("YAML"));
    assert!(message(parse(b"{\"openapi\": \"3.1.0\", ")).contains("not valid JSON"));
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    assert!(message(parse(deep.as_bytes())).contains("not valid JSON"));
    let huge = vec![b' '; MAX_SPEC_BYTES + 1];
    assert!(message(parse(&huge)).contains("limit"));
    // A template that names a parameter nobody defines: that operation is
    // skipped and said so; the others stay.
    let api = read(&spec(json!({
        "/a/{id}": {"get": {"operationId": "a"}},
        "/b": {"get": {"operationId": "b"}},
        "/c": {"get": {"parameters": [{"name": "s", "in": "cookie", "required": true}]}}
    })))
    .expect("reads");
    assert_eq!(api.operations.len(), 1);
    assert_eq!(api.skipped.len(), 2, "{:?}", api.skipped);
    assert!(api.skipped.iter().any(|s| s.contains("{id}")));
}

#[test]
fn tool_names_are_safe_unique_and_short() {
    let api = read(&spec(json!({
        "/repos/{owner}/{repo}": {"get": {"parameters": [
            {"name": "owner", "in": "path", "required": true}, {"name": "repo", "in": "path", "required": true}]}},
        "/a": {"get": {"operationId": "list items (v2)/all"}},
        "/b": {"get": {"operationId": "list_items_v2_all"}},
        "/c": {"get": {"operationId": "x".repeat(300)}},
        "/d": {"get": {"operationId": "<script>"}}
    })))
    .expect("reads");
    let tools: Vec<&str> = api.operations.iter().map(|o| o.tool.as_str()).collect();
    assert!(tools.contains(&"get_repos_owner_repo"), "{tools:?}");
    assert!(
        tools.contains(&"list_items_v2_all") && tools.contains(&"list_items_v2_all_2"),
        "{tools:?}"
    );
    assert!(tools.contains(&"script"), "{tools:?}");
    for t in &tools {
        assert!(
            t.len() <= 60
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{t}"
        );
    }
}

#[test]
fn large_apis_get_three_generic_tools_and_a_small_tools_list() {
    let paths: Map<String, Value> = (0..500)
        .map(|i| {
            (
                format!("/things{i}/{{id}}"),
                json!({"get": {"operationId": format!("getThing{i}"), "summary": format!("Thing number {i}"),
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                                   {"name": "fields", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}]}}),
            )
        })
        .collect();
    let api = read(&spec(Value::Object(paths))).expect("reads");
    assert_eq!(api.operations.len(), 500);
    let all: Vec<&Operation> = api.operations.iter().collect();
    let plan = tool_plan("gh", &all);
    assert_eq!(plan.mode, ToolMode::Generic);
    assert_eq!(plan.tools.len(), 3);
    assert!(plan.bytes < 2_000, "{} bytes", plan.bytes);
    let few = tool_plan("gh", &all[..NAMED_TOOLS_UP_TO]);
    assert_eq!(few.mode, ToolMode::Named);
    assert_eq!(few.tools.len(), NAMED_TOOLS_UP_TO);
    assert_eq!(few.tools[0]["name"], json!("gh_getThing0"));
    assert!(few.bytes > plan.bytes);
}

#[test]
fn yaml_descriptions_read_like_json_and_cannot_expand_without_bound() {
    let yaml = b"openapi: 3.0.3
info: {title: Pets, version: '1'}
servers: [{url: 'https://pets.example/v1'}]
paths:
  /pets/{id}:
    get:
      operationId: getPet
      tags: [pets]
      parameters:
        - &id {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        200: {description: the pet}
    head:
      operationId: petExists
      parameters: [*id]
      responses: {200: {description: yes}}
    delete:
      operationId: deletePet
      responses: {204: {description: gone}}
";
    let api = parse(yaml).expect("YAML reads");
    assert_eq!(api.operations.len(), 2);
    assert_eq!(api.write_operations, 1);
    assert_eq!(api.operations[0].params[0].schema["type"], "integer");
    assert_eq!(api.server.as_deref(), Some("https://pets.example/v1"));
    // Billion laughs: each level names the one before it ten times.
    let mut bomb = String::from(
        "openapi: 3.0.3\na0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let started = std::time::Instant::now();
    let said = message(parse(bomb.as_bytes()));
    assert!(
        said.contains("expands past") || said.contains("YAML"),
        "{said}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // One large anchor named many times: stopped by the budget, not by memory.
    let big: String = (0..200_000).map(|i| format!("  - item{i}\n")).collect();
    let mut wide = format!("openapi: 3.0.3\nbig: &big\n{big}refs:\n");
    for _ in 0..100 {
        wide.push_str("  - *big\n");
    }
    assert!(message(parse(wide.as_bytes())).contains("expands past"));
}

#[test]
fn a_response_shape_is_types_and_names_a_few_levels_deep() {
    let api = read(&json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/items": {"get": {"operationId": "list", "responses": {
            "200": {"content": {"application/json": {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/Item"}}}}}
        }}}},
        "components": {"schemas": {"Item": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": ["string", "null"]},
            "parent": {"$ref": "#/components/schemas/Item"}
        }}}}
    }))
    .expect("reads");
    let shape = api.operations[0].response.clone().expect("a shape");
    assert_eq!(shape[0]["id"], "integer");
    assert_eq!(shape[0]["name"], "string");
    assert_eq!(shape[0]["parent"], "(recursive)");
}

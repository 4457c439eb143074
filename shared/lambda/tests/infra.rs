//! `infra/template.yaml` against the code: every function's IAM policy grants exactly the
//! DynamoDB actions its storage ports declare (`endpoints::<name>::DYNAMODB`), each Secrets
//! Manager secret only to the functions whose settings read it, exactly the environment its
//! settings read, and the API serves exactly the watch router's routes. Nothing here is a second hand-kept list
//! of actions: the expectations are derived from the code.
use portcullis_core::ports::{self, dynamodb_needs, DynamoAccess, Port, Table};
use portcullis_core::settings::{
    env, AuthorizeSettings, ConfigError, FromEnv, IntrospectSettings, MetadataSettings,
    RefreshSettings, RegisterSettings, ResourceSettings, RevokeSettings, TokenSettings,
};
use portcullis_lambda::endpoints;
use serde_yaml::{Mapping, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The variable the CORS routes' functions are given (`CorsAllowedOrigins`). Not read by the code
/// yet: until the functions emit CORS headers, their OPTIONS routes answer 405 and CORS stays off.
const CORS_ORIGINS: &str = "PORTCULLIS_CORS_ORIGINS";

/// The only watch-router route that is not deployed: the local stack's login form, served by
/// `authorize` when `DEV_LOGIN=true`, which a deployed function refuses.
const LOCAL_ONLY_ROUTE: &str = "/auth/dev-login";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> Value {
    let raw = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    serde_yaml::from_str(&raw).unwrap()
}

fn resources(t: &Value) -> &Mapping {
    t["Resources"].as_mapping().unwrap()
}

/// A CloudFormation short tag (`!Ref X`, `!GetAtt X.Arn`, `!Sub ...`): its name and value.
fn tagged(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        _ => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// Reads a function's settings through a variable lookup.
type ReadSettings = fn(&dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError>;

/// What a function is in code: its binary, its storage needs and the settings it reads.
struct Function {
    binary: &'static str,
    /// The ports it uses.
    dynamodb: &'static [&'static [DynamoAccess]],
    /// Access outside Portcullis's tables (the example's own bookings table).
    other_tables: &'static [(&'static str, &'static str)],
    /// Reads its settings through `get`, as the function does at cold start.
    settings: ReadSettings,
    /// Variables it reads besides its settings type's.
    other_env: &'static [&'static str],
}

/// Every deployed function, as the code defines it. A new binary without a row here fails
/// `every_function_binary_is_deployed_once`.
fn functions() -> Vec<Function> {
    vec![
        Function {
            binary: "authorize",
            dynamodb: endpoints::authorize::DYNAMODB,
            other_tables: &[],
            settings: |get| AuthorizeSettings::from_lookup(get).map(drop),
            other_env: &[],
        },
        Function {
            binary: "token",
            dynamodb: endpoints::token::DYNAMODB,
            other_tables: &[],
            settings: |get| TokenSettings::from_lookup(get).map(drop),
            other_env: &[],
        },
        Function {
            binary: "refresh",
            dynamodb: endpoints::refresh::DYNAMODB,
            other_tables: &[],
            settings: |get| RefreshSettings::from_lookup(get).map(drop),
            other_env: &[],
        },
        Function {
            binary: "me",
            dynamodb: endpoints::me::DYNAMODB,
            other_tables: &[],
            settings: |get| ResourceSettings::from_lookup(get).map(drop),
            other_env: &[],
        },
        Function {
            binary: "revoke",
            dynamodb: endpoints::revoke::DYNAMODB,
            other_tables: &[],
            settings: |get| RevokeSettings::from_lookup(get).map(drop),
            other_env: &[],
        },
        Function {
            binary: "introspect",
            dynamodb: endpoints::introspect::DYNAMODB,
            other_tables: &[],
            settings: |get| IntrospectSettings::from_lookup(get).map(drop),
            other_env: &[],
        },
        Function {
            binary: "metadata",
            dynamodb: endpoints::metadata::DYNAMODB,
            other_tables: &[],
            settings: |get| MetadataSettings::from_lookup(get).map(drop),
            other_env: &[],
        },
        Function {
            binary: "register",
            dynamodb: endpoints::register::DYNAMODB,
            other_tables: &[],
            settings: |get| RegisterSettings::from_lookup(get).map(drop),
            other_env: &[],
        },
        // The example product API: portcullis-resource's needs, plus its own table's Query
        // (functions/list-bookings/src/main.rs; `list_bookings_calls_only_query_on_its_table`).
        Function {
            binary: "list-bookings",
            dynamodb: portcullis_resource::DYNAMODB,
            other_tables: &[("BookingsTable", "dynamodb:Query")],
            settings: |get| ResourceSettings::from_lookup(get).map(drop),
            other_env: &[env::BOOKINGS_TABLE],
        },
        // The example MCP server: the same needs as list-bookings (functions/mcp-example), and
        // its resource URI and issuer for its audience and metadata.
        Function {
            binary: "mcp-example",
            dynamodb: portcullis_resource::DYNAMODB,
            other_tables: &[("BookingsTable", "dynamodb:Query")],
            settings: |get| ResourceSettings::from_lookup(get).map(drop),
            other_env: &[env::BOOKINGS_TABLE],
        },
    ]
}

fn table_resource(table: Table) -> &'static str {
    match table {
        Table::Clients => "ClientsTable",
        Table::Codes => "CodesTable",
        Table::Tokens => "TokensTable",
    }
}

/// (table resource, index) -> actions.
type Grants = BTreeMap<(String, Option<String>), BTreeSet<String>>;

fn needs_of(f: &Function) -> Grants {
    let mut out = Grants::new();
    for (table, index, actions) in dynamodb_needs(f.dynamodb) {
        out.entry((table_resource(table).to_string(), index.map(str::to_string)))
            .or_default()
            .extend(actions.iter().map(|a| a.to_string()));
    }
    for (table, action) in f.other_tables {
        out.entry((table.to_string(), None))
            .or_default()
            .insert(action.to_string());
    }
    out
}

/// The function resource whose binary is `binary`: (logical id, resource).
fn function_resource<'a>(t: &'a Value, binary: &str) -> (String, &'a Value) {
    let found: Vec<_> = resources(t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .map(|(id, r)| (id.as_str().unwrap().to_string(), r))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the template must define one function for the binary `{binary}`"
    );
    found.into_iter().next().unwrap()
}

/// Every statement of a function's inline policies.
fn statements(f: &Value) -> Vec<&Value> {
    f["Properties"]["Policies"]
        .as_sequence()
        .map(|ps| {
            ps.iter()
                .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
                .collect()
        })
        .unwrap_or_default()
}

/// A statement's resource as (table resource, index), from `!GetAtt T.Arn` or
/// `!Sub ${T.Arn}/index/NAME`; `None` for anything else.
fn table_target(resource: &Value) -> Option<(String, Option<String>)> {
    let (tag, v) = tagged(resource)?;
    match tag.as_str() {
        "GetAtt" => {
            let parts = strings(v).join(".");
            let table = parts.strip_suffix(".Arn")?;
            Some((table.to_string(), None))
        }
        "Sub" => {
            let s = v.as_str()?;
            let rest = s.strip_prefix("${")?;
            let (table, rest) = rest.split_once(".Arn}")?;
            let index = rest.strip_prefix("/index/")?;
            Some((table.to_string(), Some(index.to_string())))
        }
        _ => None,
    }
}

/// What a function's policies grant on tables, and the secrets (logical ids) it may read.
fn granted(f: &Value, binary: &str) -> (Grants, BTreeSet<String>) {
    let mut tables = Grants::new();
    let mut secrets = BTreeSet::new();
    for s in statements(f) {
        assert_eq!(
            s["Effect"].as_str(),
            Some("Allow"),
            "{binary}: only Allow statements"
        );
        let actions = strings(&s["Action"]);
        let targets: Vec<&Value> = match &s["Resource"] {
            Value::Sequence(rs) => rs.iter().collect(),
            r => vec![r],
        };
        for r in targets {
            if actions.iter().all(|a| a.starts_with("dynamodb:")) {
                let target = table_target(r).unwrap_or_else(|| {
                    panic!("{binary}: a DynamoDB statement names no single table or index: {r:?}")
                });
                tables
                    .entry(target)
                    .or_default()
                    .extend(actions.iter().cloned());
            } else {
                assert_eq!(
                    actions,
                    ["secretsmanager:GetSecretValue"],
                    "{binary}: the only other action a function may have is reading the secret"
                );
                match tagged(r) {
                    Some((tag, v)) if tag == "Ref" => {
                        secrets.insert(v.as_str().unwrap().to_string());
                    }
                    _ => panic!("{binary}: GetSecretValue must name one secret with !Ref: {r:?}"),
                }
            }
        }
    }
    (tables, secrets)
}

fn show(g: &Grants) -> String {
    if g.is_empty() {
        return "    (none)".to_string();
    }
    g.iter()
        .map(|((t, i), a)| {
            let at = i.as_ref().map_or(t.clone(), |i| format!("{t}/index/{i}"));
            format!(
                "    {at}: {}",
                a.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Least privilege (docs/architecture.md, "Storage ports and least privilege"): a function's
/// IAM statements grant exactly the DynamoDB actions its ports declare, on exactly the tables
/// and indexes they name.
#[test]
fn each_function_is_granted_exactly_the_dynamodb_actions_its_code_declares() {
    let t = template();
    let mut wrong = Vec::new();
    for f in functions() {
        let (_, res) = function_resource(&t, f.binary);
        let (have, _) = granted(res, f.binary);
        let want = needs_of(&f);
        if have != want {
            let missing: Grants = want
                .iter()
                .filter_map(|(k, a)| {
                    let lack: BTreeSet<_> = a
                        .difference(&have.get(k).cloned().unwrap_or_default())
                        .cloned()
                        .collect();
                    (!lack.is_empty()).then(|| (k.clone(), lack))
                })
                .collect();
            let extra: Grants = have
                .iter()
                .filter_map(|(k, a)| {
                    let more: BTreeSet<_> = a
                        .difference(&want.get(k).cloned().unwrap_or_default())
                        .cloned()
                        .collect();
                    (!more.is_empty()).then(|| (k.clone(), more))
                })
                .collect();
            wrong.push(format!(
                "{}:\n  missing from the template (the code calls them):\n{}\n  granted but not \
                 declared by the code:\n{}",
                f.binary,
                show(&missing),
                show(&extra)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "IAM policies differ from the code's DYNAMODB lists:\n{}",
        wrong.join("\n")
    );
}

/// `me` has no write on anything; `authorize` cannot touch the tokens table.
#[test]
fn me_cannot_write_and_authorize_cannot_touch_tokens() {
    let t = template();
    let (me, _) = granted(function_resource(&t, "me").1, "me");
    let reads = [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
    ];
    for ((table, _), actions) in &me {
        for a in actions {
            assert!(reads.contains(&a.as_str()), "me may {a} on {table}");
        }
    }
    let (authorize, _) = granted(function_resource(&t, "authorize").1, "authorize");
    assert!(
        authorize.keys().all(|(table, _)| table != "TokensTable"),
        "authorize has access to tokens: {authorize:?}"
    );
}

/// Review finding 5: no deployed function may write an operator's client (registration fields,
/// secrets, `trusted`, `disabled` are the operator's, through the CLI), and failed
/// authentications are counted in memory (`portcullis_core::throttle`), never on the client
/// item. Every function's actions on the clients table are reads, except writes limited by
/// `dynamodb:LeadingKeys` to the unvetted clients' keys: register's PutItem of a registered
/// client (`dcr_*`), authorize's PutItem of a metadata document's copy (`cimd_*`), and the
/// UpdateItem of either's TTL by authorize (at consent), token and refresh (at a refresh)
/// (RFC 7591, issue 18). That UpdateItem is the one port [`ports::ClientTouchPort`], whose
/// adapter sets `expires_at` and nothing else, and only on an item that has one.
#[test]
fn no_deployed_function_can_change_a_clients_registration() {
    let t = template();
    let allowed = ["dynamodb:GetItem", "dynamodb:BatchGetItem"];
    for f in functions() {
        let (_, res) = function_resource(&t, f.binary);
        for s in statements(res) {
            if table_target(&s["Resource"]).is_none_or(|(table, _)| table != "ClientsTable") {
                continue;
            }
            let actions = strings(&s["Action"]);
            if actions.iter().all(|a| allowed.contains(&a.as_str())) {
                continue;
            }
            let keys = strings(&s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]);
            let expected: &[&str] = match (f.binary, actions[0].as_str(), actions.len()) {
                ("register", "dynamodb:PutItem", 1) => &["dcr_*"],
                ("authorize" | "token" | "refresh", "dynamodb:UpdateItem", 1) => {
                    &["dcr_*", "cimd_*"]
                }
                ("authorize", "dynamodb:PutItem", 1) => &["cimd_*"],
                (other, _, _) => panic!("{other} may {actions:?} on the clients table"),
            };
            assert_eq!(keys, expected, "{}: {s:?}", f.binary);
        }
        // In the code: the only port of a deployed function that updates a client is the TTL's.
        for port in f.dynamodb {
            let updates_clients = port
                .iter()
                .any(|a| a.table == Table::Clients && a.actions.contains(&"dynamodb:UpdateItem"));
            assert!(
                !updates_clients || *port == ports::ClientTouchPort::DYNAMODB,
                "{}: a port other than ClientTouch updates the clients table: {port:?}",
                f.binary
            );
        }
    }
    // And that port's adapter writes the TTL only, on an item that has one.
    assert_eq!(
        portcullis_aws::registration::CLIENT_TOUCH_UPDATE,
        "SET expires_at = :e"
    );
    assert_eq!(
        portcullis_aws::registration::CLIENT_TOUCH_CONDITION,
        "attribute_exists(expires_at)"
    );
}

/// Register writes the codes table only to count registrations and use initial access tokens:
/// UpdateItem limited to `reg#*` and `iat#*` keys, so it can neither make nor consume a code.
#[test]
fn register_touches_only_its_counters_and_initial_access_tokens_in_the_codes_table() {
    let t = template();
    let (_, res) = function_resource(&t, "register");
    let on_codes: Vec<&Value> = statements(res)
        .into_iter()
        .filter(|s| table_target(&s["Resource"]).is_some_and(|(table, _)| table == "CodesTable"))
        .collect();
    assert_eq!(on_codes.len(), 1);
    assert_eq!(strings(&on_codes[0]["Action"]), ["dynamodb:UpdateItem"]);
    assert_eq!(
        strings(&on_codes[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]),
        ["reg#*", "iat#*"]
    );
}

/// The registration route has its own, lower, API Gateway throttle.
#[test]
fn the_registration_route_is_throttled_on_its_own() {
    let t = template();
    let api = resources(&t)
        .values()
        .find(|r| r["Type"].as_str() == Some("AWS::Serverless::HttpApi"))
        .unwrap();
    let route = &api["Properties"]["RouteSettings"]["POST /api/auth/oauth/register"];
    for (key, param) in [
        ("ThrottlingBurstLimit", "RegisterThrottlingBurstLimit"),
        ("ThrottlingRateLimit", "RegisterThrottlingRateLimit"),
    ] {
        let (tag, r) = tagged(&route[key]).expect(key);
        assert_eq!((tag.as_str(), r.as_str()), ("Ref", Some(param)));
        let default = t["Parameters"][param]["Default"].as_u64().unwrap();
        let overall = t["Parameters"][key]["Default"].as_u64().unwrap();
        assert!(
            default < overall,
            "{param} is lower than the API-wide {key}"
        );
    }
}

/// Every function but register and those that push a registered client's TTL forward
/// (authorize, token, refresh) only reads the clients table.
#[test]
fn every_other_function_only_reads_the_clients_table() {
    let t = template();
    let allowed = ["dynamodb:GetItem", "dynamodb:BatchGetItem"];
    for f in functions() {
        if ["register", "authorize", "token", "refresh"].contains(&f.binary) {
            continue;
        }
        let (have, _) = granted(function_resource(&t, f.binary).1, f.binary);
        for ((table, _), actions) in &have {
            if table != "ClientsTable" {
                continue;
            }
            for a in actions {
                assert!(
                    allowed.contains(&a.as_str()),
                    "{} may {a} on the clients table",
                    f.binary
                );
            }
        }
    }
}

/// The variables a function's settings read, and whether they accept `vars`.
fn settings_read(
    f: &Function,
    vars: &BTreeMap<String, String>,
) -> (BTreeSet<String>, Result<(), ConfigError>) {
    let asked = RefCell::new(BTreeSet::new());
    let get = |name: &str| {
        asked.borrow_mut().insert(name.to_string());
        vars.get(name).cloned()
    };
    let result = (f.settings)(&get);
    let mut asked = asked.into_inner();
    asked.extend(f.other_env.iter().map(|s| s.to_string()));
    (asked, result)
}

/// A function's environment as deployed with the parameters' defaults (a URL for the
/// parameters without one, a name for resources).
fn deployed_env(t: &Value, f: &Value) -> BTreeMap<String, String> {
    let params = t["Parameters"].as_mapping().unwrap();
    let vars = f["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .cloned()
        .unwrap_or_default();
    vars.iter()
        .map(|(k, v)| {
            let name = k.as_str().unwrap().to_string();
            let value = match tagged(v) {
                Some((tag, r)) if tag == "Ref" => {
                    let r = r.as_str().unwrap();
                    match params.get(r) {
                        Some(p) => match &p["Default"] {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            _ => "https://auth.example.com".to_string(),
                        },
                        None => format!("{r}-name"),
                    }
                }
                // A URL built from parameters (`!Sub "${IssuerUrl}/mcp"`).
                Some((tag, r)) if tag == "Sub" => {
                    let mut out = r.as_str().unwrap().to_string();
                    while let Some(start) = out.find("${") {
                        let end = start + out[start..].find('}').unwrap();
                        let p = &out[start + 2..end];
                        let value = match params.get(p).map(|p| &p["Default"]) {
                            Some(Value::String(s)) => s.clone(),
                            _ => "https://auth.example.com".to_string(),
                        };
                        out.replace_range(start..=end, &value);
                    }
                    out
                }
                _ => panic!(
                    "{name}: set it from a parameter or a resource (!Ref or !Sub), not a literal"
                ),
            };
            (name, value)
        })
        .collect()
}

/// Each function reads only its own settings (CONTRIBUTING.md): the template gives each exactly
/// variables its settings read, and with the parameters' defaults they are accepted.
#[test]
fn each_function_gets_only_the_settings_it_reads_and_they_are_valid() {
    let t = template();
    for f in functions() {
        let (_, res) = function_resource(&t, f.binary);
        let vars = deployed_env(&t, res);
        let (read, accepted) = settings_read(&f, &vars);
        if let Err(e) = accepted {
            panic!("{}: the template's environment is refused: {e}", f.binary);
        }
        let unread: Vec<_> = vars
            .keys()
            .filter(|v| !read.contains(*v) && *v != CORS_ORIGINS)
            .collect();
        assert!(
            unread.is_empty(),
            "{}: the template sets variables it never reads: {unread:?}",
            f.binary
        );
    }
}

/// DEV_LOGIN signs anyone in as anyone: it is never set in the template.
#[test]
fn dev_login_is_never_set_in_the_template() {
    let raw = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let t = template();
    for f in functions() {
        let vars = deployed_env(&t, function_resource(&t, f.binary).1);
        assert!(
            !vars.contains_key(env::DEV_LOGIN),
            "{} sets {}",
            f.binary,
            env::DEV_LOGIN
        );
    }
    assert!(!raw.contains(&format!("{}:", env::DEV_LOGIN)));
}

/// Each secret the template defines: its logical id, the variable its id is given in, and the
/// functions whose settings read that variable (README, Configuration; docs/deploy.md).
const SECRETS: &[(&str, &str, &[&str])] = &[
    ("KeysSecret", env::SECRET_ID, &["authorize"]),
    ("MintKeySecret", env::MINT_SECRET_ID, &["token", "refresh"]),
    (
        "TagKeySecret",
        env::TAG_SECRET_ID,
        &["authorize", "token", "refresh", "revoke", "introspect"],
    ),
    (
        "AccessTagKeySecret",
        env::ACCESS_TAG_SECRET_ID,
        &[
            "token",
            "refresh",
            "me",
            "revoke",
            "introspect",
            "list-bookings",
            "mcp-example",
        ],
    ),
];

/// Secrets Manager: for each secret, `GetSecretValue` on exactly that secret for exactly the
/// functions whose settings read its variable, and that variable names the secret. The mint key
/// stays with the two functions that issue tokens; a product API holds only the access-tag key.
#[test]
fn only_the_functions_that_read_a_secret_may_read_it() {
    let t = template();
    let defined: Vec<&str> = resources(&t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SecretsManager::Secret"))
        .map(|(id, _)| id.as_str().unwrap())
        .collect();
    let known: Vec<&str> = SECRETS.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(defined, known, "the template's secrets (left) differ");
    let mut readers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in functions() {
        let (_, res) = function_resource(&t, f.binary);
        let vars = deployed_env(&t, res);
        let (read, _) = settings_read(&f, &vars);
        let (_, may_read) = granted(res, f.binary);
        let mut expected = BTreeSet::new();
        for (secret, var, _) in SECRETS {
            if !read.contains(*var) {
                continue;
            }
            readers.entry(secret).or_default().push(f.binary);
            expected.insert(secret.to_string());
            assert_eq!(
                vars.get(*var).map(String::as_str),
                Some(format!("{secret}-name").as_str()),
                "{}: {var} must be !Ref {secret}",
                f.binary
            );
        }
        assert_eq!(
            may_read, expected,
            "{}: secret access differs from what its settings read",
            f.binary
        );
    }
    for (secret, _, want) in SECRETS {
        assert_eq!(
            readers.get(secret).map(Vec::as_slice).unwrap_or_default(),
            *want,
            "who reads {secret} changed: check the docs too"
        );
    }
}

/// Each secret's IAM statement names it: one statement per secret, its `Sid` the secret's name.
#[test]
fn each_secret_statement_is_named_after_its_secret() {
    let t = template();
    for f in functions() {
        let (_, res) = function_resource(&t, f.binary);
        for s in statements(res) {
            if strings(&s["Action"]) != ["secretsmanager:GetSecretValue"] {
                continue;
            }
            let (tag, target) = tagged(&s["Resource"]).unwrap();
            assert_eq!(tag, "Ref", "{}", f.binary);
            assert_eq!(s["Sid"].as_str(), target.as_str(), "{}", f.binary);
        }
    }
}

/// The routes of the local stack (`[workspace.metadata.lambda.watch.router]`): path -> binary.
fn watch_router() -> BTreeMap<String, String> {
    let raw = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let section = raw
        .split("[workspace.metadata.lambda.watch.router]")
        .nth(1)
        .expect("no watch router in Cargo.toml");
    section
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (
                k.trim().trim_matches('"').to_string(),
                v.trim().trim_matches('"').to_string(),
            )
        })
        .collect()
}

/// The template's routes: (path, method) -> binary.
fn api_routes(t: &Value) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for (id, r) in resources(t) {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_string();
        for (_, e) in r["Properties"]["Events"].as_mapping().into_iter().flatten() {
            assert_eq!(
                e["Type"].as_str(),
                Some("HttpApi"),
                "{id:?}: only HttpApi events"
            );
            assert_eq!(
                tagged(&e["Properties"]["ApiId"]).map(|(t, v)| (t, v.as_str().map(str::to_string))),
                Some(("Ref".to_string(), Some("HttpApi".to_string()))),
                "{id:?}: on the one HttpApi"
            );
            let path = e["Properties"]["Path"].as_str().unwrap().to_string();
            let method = e["Properties"]["Method"].as_str().unwrap().to_uppercase();
            let before = out.insert((path.clone(), method.clone()), binary.clone());
            assert!(before.is_none(), "{method} {path} is routed twice");
        }
    }
    out
}

/// Every route of the local stack is deployed to the same function and vice versa; the only
/// exception is the dev login form, which must not be deployed.
#[test]
fn every_watch_router_route_is_an_api_route_to_the_same_function_and_back() {
    let t = template();
    let mut router = watch_router();
    assert_eq!(
        router.remove(LOCAL_ONLY_ROUTE).as_deref(),
        Some("authorize"),
        "the router's dev login route moved"
    );
    let mut deployed: BTreeMap<String, String> = BTreeMap::new();
    for ((path, method), binary) in api_routes(&t) {
        assert_ne!(
            path, LOCAL_ONLY_ROUTE,
            "the dev login form must not be deployed ({method})"
        );
        if let Some(other) = deployed.insert(path.clone(), binary.clone()) {
            assert_eq!(other, binary, "{path} goes to two functions");
        }
    }
    assert_eq!(
        deployed, router,
        "template routes (left) differ from the watch router (right)"
    );
}

/// The methods each route serves; OPTIONS (CORS preflight) only on the CORS routes.
#[test]
fn the_api_serves_exactly_the_endpoints_methods() {
    let routes: BTreeSet<(String, String)> = api_routes(&template()).into_keys().collect();
    let want: BTreeSet<(String, String)> = [
        ("/auth/oauth2/authorize", "GET"),
        ("/auth/oauth2/authorize", "POST"),
        ("/api/auth/oauth/token", "POST"),
        ("/api/auth/oauth/token", "OPTIONS"),
        ("/api/auth/oauth/refreshToken", "POST"),
        ("/api/auth/oauth/refreshToken", "OPTIONS"),
        ("/api/auth/oauth/me", "GET"),
        ("/api/auth/oauth/me", "OPTIONS"),
        ("/api/auth/oauth/revoke", "POST"),
        ("/api/auth/oauth/revoke", "OPTIONS"),
        ("/api/auth/oauth/introspect", "POST"),
        ("/api/auth/oauth/introspect", "OPTIONS"),
        ("/.well-known/oauth-authorization-server", "GET"),
        ("/.well-known/oauth-authorization-server", "OPTIONS"),
        ("/api/auth/oauth/register", "POST"),
        ("/api/auth/oauth/register", "OPTIONS"),
        ("/api/bookings", "GET"),
        ("/mcp", "POST"),
        ("/mcp", "GET"),
        ("/.well-known/oauth-protected-resource/mcp", "GET"),
    ]
    .iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .collect();
    assert_eq!(routes, want);
}

/// RFC 9700 §2.6: no CORS on the authorization endpoint. An HTTP API's CORS configuration
/// applies to every route, so there is none; the allowed origins go to the six CORS functions
/// only.
#[test]
fn cors_is_never_configured_for_the_authorization_endpoint() {
    let t = template();
    let apis: Vec<&Value> = resources(&t)
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::HttpApi"))
        .collect();
    assert_eq!(apis.len(), 1);
    assert!(
        apis[0]["Properties"].get("CorsConfiguration").is_none(),
        "API-wide CORS would reach authorize"
    );
    let cors: BTreeSet<&str> = [
        "token",
        "refresh",
        "me",
        "revoke",
        "introspect",
        "metadata",
        "register",
    ]
    .into();
    for f in functions() {
        let vars = deployed_env(&t, function_resource(&t, f.binary).1);
        assert_eq!(
            vars.contains_key(CORS_ORIGINS),
            cors.contains(f.binary),
            "{}",
            f.binary
        );
    }
    let routes = api_routes(&t);
    assert!(routes
        .iter()
        .all(|((_, m), b)| m != "OPTIONS" || cors.contains(b.as_str())));
}

/// Every index the code queries (any port, the CLI's included) is defined on its table, and
/// the template defines no index the code never queries (each one costs a write per item).
#[test]
fn the_tables_define_exactly_the_indexes_the_code_queries() {
    let all_ports: &[&[DynamoAccess]] = &[
        ports::ClientLookupPort::DYNAMODB,
        ports::ClientRegistryPort::DYNAMODB,
        ports::CodeIssuePort::DYNAMODB,
        ports::CodeRedeemPort::DYNAMODB,
        ports::GrantLookupPort::DYNAMODB,
        ports::GrantStartPort::DYNAMODB,
        ports::GrantReadPort::DYNAMODB,
        ports::GrantAdvancePort::DYNAMODB,
        ports::GrantRevocationPort::DYNAMODB,
        ports::AccessRevocationPort::DYNAMODB,
        ports::ApiKeyLookupPort::DYNAMODB,
        ports::ApiKeyRegistryPort::DYNAMODB,
        ports::ClientDisablePort::DYNAMODB,
        ports::ClientGrantsPort::DYNAMODB,
    ];
    let mut queried: BTreeSet<(String, String)> = dynamodb_needs(all_ports)
        .into_iter()
        .filter_map(|(t, i, _)| i.map(|i| (table_resource(t).to_string(), i.to_string())))
        .collect();
    for f in functions() {
        queried.extend(
            needs_of(&f)
                .into_keys()
                .filter_map(|(t, i)| i.map(|i| (t, i))),
        );
    }
    let t = template();
    let defined: BTreeSet<(String, String)> = resources(&t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .flat_map(|(id, r)| {
            let id = id.as_str().unwrap().to_string();
            r["Properties"]["GlobalSecondaryIndexes"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(move |g| (id.clone(), g["IndexName"].as_str().unwrap().to_string()))
        })
        .collect();
    assert_eq!(
        defined, queried,
        "template indexes (left) differ from those the code queries (right)"
    );
}

/// Tables: on demand, point-in-time recovery, encryption, deletion protection from the
/// parameter; TTL on `expires_at` where items expire; the clients table kept on stack deletion.
#[test]
fn tables_are_on_demand_recoverable_encrypted_and_protected() {
    let t = template();
    for (id, r) in resources(&t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
    {
        let p = &r["Properties"];
        assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"), "{id:?}");
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
            Some(true),
            "{id:?}"
        );
        assert_eq!(
            p["SSESpecification"]["SSEEnabled"].as_bool(),
            Some(true),
            "{id:?}"
        );
        assert_eq!(
            tagged(&p["DeletionProtectionEnabled"])
                .and_then(|(t, v)| (t == "Ref").then(|| v.as_str().map(str::to_string)))
                .flatten()
                .as_deref(),
            Some("DeletionProtection"),
            "{id:?}"
        );
    }
    let res = resources(&t);
    for id in ["CodesTable", "TokensTable"] {
        let ttl = &res[id]["Properties"]["TimeToLiveSpecification"];
        assert_eq!(
            (ttl["AttributeName"].as_str(), ttl["Enabled"].as_bool()),
            (Some("expires_at"), Some(true)),
            "{id}"
        );
    }
    assert_eq!(
        res["ClientsTable"]["DeletionPolicy"].as_str(),
        Some("Retain")
    );
    assert_eq!(
        res["ClientsTable"]["UpdateReplacePolicy"].as_str(),
        Some("Retain")
    );
    assert_eq!(
        t["Parameters"]["DeletionProtection"]["Default"].as_str(),
        Some("true")
    );
}

/// The Lambda timeout outlasts the SDK's operation timeout, so a hung AWS call ends as the
/// function's own 503 (a Lambda timeout would be a bare 500/503 from API Gateway).
#[test]
fn the_function_timeout_outlasts_the_sdk_operation_timeout() {
    let t = template();
    let timeout = t["Globals"]["Function"]["Timeout"].as_u64().unwrap();
    assert!(
        timeout > portcullis_aws::sdk::OPERATION_TIMEOUT.as_secs(),
        "Timeout {timeout}"
    );
    for (id, r) in resources(&t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
    {
        assert!(
            r["Properties"].get("Timeout").is_none(),
            "{id:?} overrides the global timeout"
        );
    }
}

/// One function per binary: provided.al2023, `bootstrap`, built by cargo lambda, JSON logs to
/// its own log group with the retention parameter.
#[test]
fn every_function_binary_is_deployed_once_and_logs_json_to_its_own_log_group() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Handler"].as_str(), Some("bootstrap"));
    assert_eq!(
        t["Parameters"]["Architecture"]["Default"].as_str(),
        Some("arm64")
    );
    assert_eq!(t["Parameters"]["MemorySize"]["Default"].as_u64(), Some(128));
    let members: Vec<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let known: BTreeSet<&str> = functions().iter().map(|f| f.binary).collect();
    let deployed: BTreeSet<String> = resources(&t)
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        deployed,
        members.iter().cloned().collect(),
        "functions/ (right) vs template (left)"
    );
    assert_eq!(
        known,
        members.iter().map(String::as_str).collect(),
        "add the new function to tests/infra.rs"
    );
    let mut groups = BTreeSet::new();
    for f in functions() {
        let (id, r) = function_resource(&t, f.binary);
        assert_eq!(
            r["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        let logging = &r["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"].as_str(), Some("JSON"), "{id}");
        let (tag, group) = tagged(&logging["LogGroup"]).unwrap();
        let group = group.as_str().unwrap();
        assert_eq!(tag, "Ref");
        assert!(
            groups.insert(group.to_string()),
            "{id} shares its log group"
        );
        let g = &resources(&t)[group];
        assert_eq!(g["Type"].as_str(), Some("AWS::Logs::LogGroup"));
        assert_eq!(
            tagged(&g["Properties"]["RetentionInDays"])
                .map(|(_, v)| v.as_str().unwrap().to_string())
                .as_deref(),
            Some("LogRetentionDays")
        );
    }
}

/// What CloudFormation's `GenerateSecretString` makes of a secret's definition: the template
/// `{}` with the generated key set to `len` letters and digits.
fn generated(t: &Value, secret: &str) -> (String, usize, String) {
    let g = &resources(t)[secret]["Properties"]["GenerateSecretString"];
    assert_eq!(g["SecretStringTemplate"].as_str(), Some("{}"), "{secret}");
    let key = g["GenerateStringKey"].as_str().unwrap().to_string();
    let len = g["PasswordLength"].as_u64().unwrap() as usize;
    assert_eq!(
        g["ExcludePunctuation"].as_bool(),
        Some(true),
        "{secret}: quotes or backslashes would need JSON escaping"
    );
    assert!(
        len >= 43,
        "{secret}: at least 256 bits of letters and digits"
    );
    let value = serde_json::json!({ key.as_str(): "a1".repeat(len / 2) }).to_string();
    (key, len, value)
}

/// The generated secrets are ones the code accepts: `{"session_key": <letters and digits>}` for
/// the keys (`Keys::from_secret_json`), and `{"key": ...}` for each token key ring
/// (`KeyRing::from_secret_json`), as is what `portcullis init` writes locally
/// (`KeyRing::generate_json`).
#[test]
fn the_generated_secret_is_accepted_by_the_key_reader() {
    use portcullis_core::keyring::KeyRing;
    let t = template();
    let (key, len, value) = generated(&t, "KeysSecret");
    assert!(
        portcullis_core::keys::Keys::from_secret_json(&value).is_ok(),
        "{key} of {len} characters is refused"
    );
    for (secret, _, _) in SECRETS.iter().filter(|(id, _, _)| *id != "KeysSecret") {
        let (key, len, value) = generated(&t, secret);
        assert_eq!(key, "key", "{secret}");
        let ring = KeyRing::from_secret_json(&value)
            .unwrap_or_else(|e| panic!("{secret}: {key} of {len} characters is refused: {e}"));
        assert_eq!(
            ring.keys().count(),
            1,
            "{secret}: no previous key at deploy time"
        );
    }
    let local = KeyRing::generate_json(&portcullis_core::clock::OsEntropy);
    assert!(KeyRing::from_secret_json(&local).is_ok());
}

/// The outputs the operator CLI's `--stack` reads keep their names (docs/deploy.md).
#[test]
fn the_outputs_keep_their_documented_names() {
    let t = template();
    let names: BTreeSet<&str> = t["Outputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = [
        "ApiUrl",
        "Issuer",
        "AuthorizeUrl",
        "TokenUrl",
        "RefreshUrl",
        "MeUrl",
        "RevokeUrl",
        "IntrospectUrl",
        "MetadataUrl",
        "BookingsUrl",
        "ClientsTableName",
        "CodesTableName",
        "TokensTableName",
        "BookingsTableName",
        "KeysSecretArn",
        "MintKeySecretArn",
        "TagKeySecretArn",
        "AccessTagKeySecretArn",
    ]
    .into();
    assert_eq!(names, want);
    let doc = std::fs::read_to_string(root().join("docs/deploy.md")).unwrap();
    for n in want {
        assert!(
            doc.contains(&format!("`{n}`")),
            "docs/deploy.md does not document the output {n}"
        );
    }
}

/// list-bookings' own table access is what `Function::other_tables` says: one Query.
#[test]
fn list_bookings_calls_only_query_on_its_table() {
    // Its table code is in its lib (shared with mcp-example, which adds no table call).
    let src = std::fs::read_to_string(root().join("functions/list-bookings/src/lib.rs")).unwrap();
    assert!(src.contains(".query()"));
    for call in [
        ".get_item()",
        ".put_item()",
        ".update_item()",
        ".delete_item()",
        ".scan()",
        ".batch_get_item()",
        ".batch_write_item()",
        ".transact_write_items()",
    ] {
        assert!(
            !src.contains(call),
            "list-bookings calls {call}: update its row in tests/infra.rs"
        );
    }
}

/// Issue 16: no write on the hot path names the client item, and there is no transaction at
/// all. On real DynamoDB, concurrent transactions on one item are cancelled
/// (TransactionConflict), so a check on a popular client's item in every exchange or refresh
/// would fail its users' requests under load (moto never shows this). The client is read (with
/// the grant) instead; the template proves it: no function has `ConditionCheckItem` (the action
/// a transaction's check on an item needs) anywhere. The one write a refresh may make on a
/// client item is after its own decision, apart from it: a registered client's TTL, at most
/// once per half idle period (`no_deployed_function_can_change_a_clients_registration`).
#[test]
fn a_refresh_never_checks_a_client_item_and_writes_only_its_ttl() {
    let t = template();
    for f in functions() {
        let (have, _) = granted(function_resource(&t, f.binary).1, f.binary);
        for ((table, _), actions) in &have {
            assert!(
                !actions.contains("dynamodb:ConditionCheckItem")
                    && !actions.contains("dynamodb:TransactWriteItems"),
                "{}: a transaction part on {table}",
                f.binary
            );
        }
    }
    let (refresh, _) = granted(function_resource(&t, "refresh").1, "refresh");
    let clients = refresh
        .get(&("ClientsTable".to_string(), None))
        .cloned()
        .unwrap_or_default();
    // Read beside the grant, and (private_key_jwt only) alone to check a client assertion;
    // a registered client's TTL pushed forward.
    let expected: BTreeSet<String> = [
        "dynamodb:BatchGetItem".to_string(),
        "dynamodb:GetItem".to_string(),
        "dynamodb:UpdateItem".to_string(),
    ]
    .into();
    assert_eq!(clients, expected);
}

/// Review finding 5: no internet-facing function can write an API key (which lives in the
/// tokens table, keyed by its hash, and may never expire). Every statement that lets token,
/// refresh, revoke, introspect or me touch the tokens table is limited by
/// `dynamodb:LeadingKeys` to `grant#*` keys: grant items only. (moto does not enforce IAM; this
/// test holds the rule.) Only the operator's CLI creates API keys; `list-bookings`, a product
/// API, reads them.
#[test]
fn no_internet_facing_function_can_write_an_api_key() {
    let t = template();
    for binary in ["token", "refresh", "revoke", "introspect", "me"] {
        let (_, res) = function_resource(&t, binary);
        let on_tokens: Vec<&Value> = statements(res)
            .into_iter()
            .filter(|s| {
                table_target(&s["Resource"]).is_some_and(|(table, _)| table == "TokensTable")
            })
            .collect();
        assert!(
            !on_tokens.is_empty(),
            "{binary} has a tokens-table statement"
        );
        for s in on_tokens {
            let keys = strings(&s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]);
            assert_eq!(keys, ["grant#*"], "{binary}: {s:?}");
        }
    }
    // Nothing else writes the tokens table but these (the CLI is not deployed).
    for f in functions() {
        let (have, _) = granted(function_resource(&t, f.binary).1, f.binary);
        let writes = have
            .iter()
            .filter(|((table, _), _)| table == "TokensTable")
            .flat_map(|(_, a)| a.iter())
            .any(|a| {
                ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]
                    .iter()
                    .any(|w| a == &format!("dynamodb:{w}"))
            });
        assert!(
            !writes || ["token", "refresh", "revoke"].contains(&f.binary),
            "{} writes the tokens table",
            f.binary
        );
    }
}

/// Issue 17, RFC 7523 §3: refresh, revoke and introspect write the codes table only to record a
/// client assertion's `jti`: their every codes-table statement is PutItem limited by
/// `dynamodb:LeadingKeys` to `jti#*` keys, so they can neither make nor consume a code. token
/// has its own statement for `jti#*` besides the code's. (moto does not enforce IAM; this test
/// holds the rule.)
#[test]
fn only_jti_records_are_written_to_the_codes_table_outside_the_code_flow() {
    let t = template();
    for binary in ["token", "refresh", "revoke", "introspect"] {
        let (_, res) = function_resource(&t, binary);
        let on_codes: Vec<&Value> = statements(res)
            .into_iter()
            .filter(|s| {
                table_target(&s["Resource"]).is_some_and(|(table, _)| table == "CodesTable")
            })
            .collect();
        let jti: Vec<&&Value> = on_codes
            .iter()
            .filter(|s| {
                strings(&s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                    == ["jti#*"]
            })
            .collect();
        assert_eq!(jti.len(), 1, "{binary}: one jti statement in {on_codes:?}");
        assert_eq!(strings(&jti[0]["Action"]), ["dynamodb:PutItem"], "{binary}");
        if binary != "token" {
            assert_eq!(
                on_codes.len(),
                1,
                "{binary}: nothing else on the codes table"
            );
        }
    }
}

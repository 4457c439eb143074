//! Reads table and secret definitions from the SAM template, so the local stack is built from
//! the same source as production (nothing repeated in code).
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// The template cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
    /// A table this version of the CLI cannot map to a `PORTCULLIS_*_TABLE` variable.
    #[error("the template defines table `{0}`, which this version does not know")]
    UnknownTable(String),
    /// A secret this version of the CLI cannot map to a `PORTCULLIS_*SECRET_ID` variable.
    #[error("the template defines secret `{0}`, which this version does not know")]
    UnknownSecret(String),
}

/// What is wrong inside the template.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not valid YAML")]
    Yaml(#[from] serde_yaml::Error),
    #[error("no Resources section")]
    NoResources,
    #[error("{context}: `{key}` is missing or not a string")]
    Missing { context: String, key: String },
    #[error("{context}")]
    Build {
        context: String,
        #[source]
        source: BuildError,
    },
}

/// A table as the template defines it.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub logical_id: String,
    pub attributes: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub indexes: Vec<GlobalSecondaryIndex>,
    pub billing_mode: BillingMode,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug)]
pub struct Template {
    pub tables: Vec<TableDef>,
    pub secrets: Vec<String>,
}

fn str_of<'a>(v: &'a Value, key: &str, ctx: &str) -> Result<&'a str, ParseError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ParseError::Missing {
            context: ctx.to_string(),
            key: key.to_string(),
        })
}

fn build_err(ctx: &str) -> impl Fn(BuildError) -> ParseError + '_ {
    move |source| ParseError::Build {
        context: ctx.to_string(),
        source,
    }
}

fn list_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn key_schema(v: &Value, ctx: &str) -> Result<Vec<KeySchemaElement>, ParseError> {
    list_of(v, "KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_of(k, "AttributeName", ctx)?)
                .key_type(KeyType::from(str_of(k, "KeyType", ctx)?))
                .build()
                .map_err(build_err(ctx))
        })
        .collect()
}

pub fn load(path: &Path) -> Result<Template, TemplateError> {
    let raw = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&raw).map_err(|source| TemplateError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

pub fn parse(raw: &str) -> Result<Template, ParseError> {
    let doc: Value = serde_yaml::from_str(raw)?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or(ParseError::NoResources)?;
    let mut tables = Vec::new();
    let mut secrets = Vec::new();
    for (id, res) in resources {
        let id = id.as_str().unwrap_or_default().to_string();
        let props = res.get("Properties").cloned().unwrap_or(Value::Null);
        match res.get("Type").and_then(Value::as_str) {
            Some("AWS::DynamoDB::Table") => {
                let ctx = format!("table {id}");
                let attributes = list_of(&props, "AttributeDefinitions")
                    .iter()
                    .map(|a| {
                        AttributeDefinition::builder()
                            .attribute_name(str_of(a, "AttributeName", &ctx)?)
                            .attribute_type(ScalarAttributeType::from(str_of(
                                a,
                                "AttributeType",
                                &ctx,
                            )?))
                            .build()
                            .map_err(build_err(&ctx))
                    })
                    .collect::<Result<Vec<_>, ParseError>>()?;
                let indexes = list_of(&props, "GlobalSecondaryIndexes")
                    .iter()
                    .map(|g| {
                        let name = str_of(g, "IndexName", &ctx)?;
                        let proj = g.get("Projection").cloned().unwrap_or(Value::Null);
                        let projection = Projection::builder()
                            .projection_type(ProjectionType::from(
                                proj.get("ProjectionType")
                                    .and_then(Value::as_str)
                                    .unwrap_or("ALL"),
                            ))
                            .set_non_key_attributes(
                                proj.get("NonKeyAttributes")
                                    .and_then(Value::as_sequence)
                                    .map(|s| {
                                        s.iter()
                                            .filter_map(Value::as_str)
                                            .map(str::to_string)
                                            .collect()
                                    }),
                            )
                            .build();
                        GlobalSecondaryIndex::builder()
                            .index_name(name)
                            .set_key_schema(Some(key_schema(g, &ctx)?))
                            .projection(projection)
                            .build()
                            .map_err(build_err(&ctx))
                    })
                    .collect::<Result<Vec<_>, ParseError>>()?;
                let ttl = props.get("TimeToLiveSpecification");
                let ttl_attribute = ttl
                    .filter(|t| t.get("Enabled").and_then(Value::as_bool).unwrap_or(false))
                    .and_then(|t| t.get("AttributeName").and_then(Value::as_str))
                    .map(str::to_string);
                tables.push(TableDef {
                    key_schema: key_schema(&props, &ctx)?,
                    logical_id: id,
                    attributes,
                    indexes,
                    billing_mode: BillingMode::from(
                        props
                            .get("BillingMode")
                            .and_then(Value::as_str)
                            .unwrap_or("PAY_PER_REQUEST"),
                    ),
                    ttl_attribute,
                });
            }
            Some("AWS::SecretsManager::Secret") => secrets.push(id),
            _ => {}
        }
    }
    Ok(Template { tables, secrets })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's own template must define what the code expects.
    #[test]
    fn the_repository_template_defines_three_tables_with_ttl_and_four_secrets() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
        let t = load(&path).unwrap();
        let ids: Vec<&str> = t.tables.iter().map(|t| t.logical_id.as_str()).collect();
        for id in ["ClientsTable", "CodesTable", "TokensTable"] {
            assert!(ids.contains(&id), "{ids:?}");
        }
        let tokens = t
            .tables
            .iter()
            .find(|t| t.logical_id == "TokensTable")
            .unwrap();
        let idx: Vec<&str> = tokens.indexes.iter().map(|i| i.index_name()).collect();
        assert_eq!(idx, ["by_key", "by_user", "by_client"]);
        assert_eq!(tokens.ttl_attribute.as_deref(), Some("expires_at"));
        let codes = t
            .tables
            .iter()
            .find(|t| t.logical_id == "CodesTable")
            .unwrap();
        assert_eq!(codes.ttl_attribute.as_deref(), Some("expires_at"));
        assert_eq!(
            t.secrets,
            [
                "KeysSecret",
                "MintKeySecret",
                "TagKeySecret",
                "AccessTagKeySecret"
            ]
        );
    }

    /// What `portcullis init` creates is what the template defines, table by table: keys,
    /// every global secondary index (keys and projection), the attribute types they need, TTL.
    /// The parser reads no local secondary index or stream, so the template must have none.
    #[test]
    fn init_creates_every_key_index_and_ttl_the_template_defines() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
        let raw: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let parsed = load(&path).unwrap();
        let keys = |v: &Value| -> Vec<(String, String)> {
            list_of(v, "KeySchema")
                .iter()
                .map(|k| {
                    (
                        k["AttributeName"].as_str().unwrap().to_string(),
                        k["KeyType"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        let of = |ks: &[KeySchemaElement]| -> Vec<(String, String)> {
            ks.iter()
                .map(|k| {
                    (
                        k.attribute_name().to_string(),
                        k.key_type().as_str().to_string(),
                    )
                })
                .collect()
        };
        let mut seen = 0;
        for (id, res) in raw["Resources"].as_mapping().unwrap() {
            if res["Type"].as_str() != Some("AWS::DynamoDB::Table") {
                continue;
            }
            seen += 1;
            let id = id.as_str().unwrap();
            let p = &res["Properties"];
            assert!(
                p.get("LocalSecondaryIndexes").is_none(),
                "{id}: init would not create it"
            );
            assert!(
                p.get("StreamSpecification").is_none(),
                "{id}: init would not create it"
            );
            let def = parsed.tables.iter().find(|t| t.logical_id == id).unwrap();
            assert_eq!(of(&def.key_schema), keys(p), "{id}");
            let want: Vec<_> = list_of(p, "GlobalSecondaryIndexes")
                .iter()
                .map(|g| {
                    let proj = &g["Projection"];
                    (
                        g["IndexName"].as_str().unwrap().to_string(),
                        keys(g),
                        proj["ProjectionType"].as_str().unwrap_or("ALL").to_string(),
                        list_of(proj, "NonKeyAttributes")
                            .iter()
                            .map(|a| a.as_str().unwrap().to_string())
                            .collect::<Vec<_>>(),
                    )
                })
                .collect();
            let have: Vec<_> = def
                .indexes
                .iter()
                .map(|g| {
                    let proj = g.projection().unwrap();
                    (
                        g.index_name().to_string(),
                        of(g.key_schema()),
                        proj.projection_type().unwrap().as_str().to_string(),
                        proj.non_key_attributes().to_vec(),
                    )
                })
                .collect();
            assert_eq!(have, want, "{id}");
            // CreateTable needs a type for every key attribute, of the table and its indexes.
            let typed: Vec<&str> = def.attributes.iter().map(|a| a.attribute_name()).collect();
            for (name, _) in want.iter().flat_map(|w| w.1.iter()).chain(keys(p).iter()) {
                assert!(typed.contains(&name.as_str()), "{id}: {name} has no type");
            }
            let ttl = &p["TimeToLiveSpecification"];
            let want_ttl = (ttl["Enabled"].as_bool() == Some(true))
                .then(|| ttl["AttributeName"].as_str().unwrap().to_string());
            assert_eq!(def.ttl_attribute, want_ttl, "{id}");
        }
        assert_eq!(seen, parsed.tables.len());
    }

    #[test]
    fn a_template_without_resources_is_an_error() {
        assert!(matches!(parse("Foo: 1"), Err(ParseError::NoResources)));
        assert!(matches!(parse(": : :"), Err(ParseError::Yaml(_))));
    }

    #[test]
    fn a_parse_error_names_the_file_and_keeps_the_yaml_cause() {
        let dir = std::env::temp_dir().join(format!("portcullis-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.yaml");
        std::fs::write(&path, ": : :").unwrap();
        let e = crate::error::CliError::from(load(&path).unwrap_err());
        let report = e.report();
        std::fs::remove_dir_all(&dir).unwrap();
        let prefix = format!("error: {}: not valid YAML: ", path.display());
        assert!(report.starts_with(&prefix), "{report}");
        assert!(
            report.len() > prefix.len(),
            "the YAML cause is missing: {report}"
        );
    }

    #[test]
    fn a_missing_attribute_name_is_reported_with_its_table() {
        let raw = "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      \
                   AttributeDefinitions:\n        - AttributeType: S\n";
        let e = parse(raw).unwrap_err();
        assert_eq!(
            e.to_string(),
            "table T: `AttributeName` is missing or not a string"
        );
    }
}

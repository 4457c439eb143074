//! `init`: creates the tables and the secrets (the keys, and the token keys' three key rings) as
//! the SAM template defines them. Idempotent: what exists is left as it is (an existing secret
//! keeps its value).
use super::{CliConfig, Context};
use crate::error::CliError;
use crate::output::{Render, Table};
use crate::template::{self, TableDef, TemplateError};
use aws_sdk_dynamodb::types::TimeToLiveSpecification;
use portcullis_core::clock::{Entropy, OsEntropy};
use portcullis_core::keyring::KeyRing;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The SAM template to read the definitions from.
    #[arg(long, default_value = "infra/template.yaml")]
    pub template: PathBuf,
}

/// What `init` did: `{"resources": [{"table": name, "status": "created"}, ...]}`.
#[derive(Debug, Serialize)]
pub struct InitReport {
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Table,
    Secret,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Secret => "secret",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Exists,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Exists => "exists",
        }
    }
}

/// One table or secret. Serialised with its kind as the key of its name.
#[derive(Debug)]
pub struct Resource {
    pub kind: Kind,
    pub name: String,
    pub status: Status,
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(self.kind.as_str(), &self.name)?;
        m.serialize_entry("status", &self.status)?;
        m.end()
    }
}

impl Render for InitReport {
    fn text(&self) -> String {
        self.resources
            .iter()
            .fold(Table::new(&["KIND", "NAME", "STATUS"]), |t, r| {
                t.row([r.kind.as_str(), &r.name, r.status.as_str()])
            })
            .render()
    }
}

/// The configured name of a table the template defines.
/// `None` for the example bookings table when `PORTCULLIS_BOOKINGS_TABLE` is not set.
fn table_name<'a>(config: &'a CliConfig, def: &TableDef) -> Result<Option<&'a str>, TemplateError> {
    match def.logical_id.as_str() {
        "ClientsTable" => Ok(Some(&config.tables.clients)),
        "CodesTable" => Ok(Some(&config.tables.codes)),
        "TokensTable" => Ok(Some(&config.tables.tokens)),
        "BookingsTable" => Ok(config.tables.bookings.as_deref()),
        other => Err(TemplateError::UnknownTable(other.to_string())),
    }
}

/// A secret the template defines, as `init` creates it: its configured name, its description
/// and a fresh value.
#[derive(Debug)]
struct SecretPlan<'a> {
    name: &'a str,
    description: &'static str,
    value: String,
}

/// What `init` creates for the secret the template calls `logical_id`; its name is the variable
/// the functions read its id from (the local stack's default with `--local`).
fn secret_plan<'a>(
    config: &'a CliConfig,
    logical_id: &str,
    entropy: &dyn Entropy,
) -> Result<SecretPlan<'a>, CliError> {
    let ring = || KeyRing::generate_json(entropy);
    let (name, description, value) = match logical_id {
        "KeysSecret" => (
            config.secret_id()?,
            "Portcullis keys (session_key, csrf_key)",
            serde_json::json!({
                "session_key": random_key(entropy),
                "csrf_key": random_key(entropy),
            })
            .to_string(),
        ),
        "MintKeySecret" => (
            config.mint_secret_id()?,
            "Portcullis mint key ring (key, previous_key) for access and refresh tokens",
            ring(),
        ),
        "TagKeySecret" => (
            config.tag_secret_id()?,
            "Portcullis tag key ring (key, previous_key) for authorization codes and refresh tokens",
            ring(),
        ),
        "AccessTagKeySecret" => (
            config.access_tag_secret_id()?,
            "Portcullis access-tag key ring (key, previous_key) for access tokens",
            ring(),
        ),
        other => return Err(TemplateError::UnknownSecret(other.to_string()).into()),
    };
    Ok(SecretPlan {
        name,
        description,
        value,
    })
}

pub async fn run(ctx: &Context, args: &InitArgs) -> Result<InitReport, CliError> {
    let t = template::load(&args.template)?;
    let db = aws_sdk_dynamodb::Client::new(&ctx.sdk);
    let mut resources = Vec::new();
    for def in &t.tables {
        let Some(name) = table_name(&ctx.config, def)? else {
            continue;
        };
        let res = db
            .create_table()
            .table_name(name)
            .set_attribute_definitions(Some(def.attributes.clone()))
            .set_key_schema(Some(def.key_schema.clone()))
            .set_global_secondary_indexes((!def.indexes.is_empty()).then(|| def.indexes.clone()))
            .billing_mode(def.billing_mode.clone())
            .send()
            .await;
        let status = match res {
            Ok(_) => Status::Created,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Status::Exists
            }
            Err(e) => return Err(CliError::aws(format!("creating table {name}"), e)),
        };
        if let Some(attr) = &def.ttl_attribute {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(attr)
                .enabled(true)
                .build()
                .map_err(|e| CliError::aws(format!("enabling TTL on {name}"), e))?;
            // Enabling TTL twice is refused; on an existing table that is expected.
            let ttl = db
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(spec)
                .send()
                .await;
            if let Err(e) = ttl {
                if status == Status::Created {
                    return Err(CliError::aws(format!("enabling TTL on {name}"), e));
                }
            }
        }
        resources.push(Resource {
            kind: Kind::Table,
            name: name.to_string(),
            status,
        });
    }
    let sm = aws_sdk_secretsmanager::Client::new(&ctx.sdk);
    for logical_id in &t.secrets {
        let plan = secret_plan(&ctx.config, logical_id, &OsEntropy)?;
        let secret_id = plan.name;
        let res = sm
            .create_secret()
            .name(secret_id)
            .description(plan.description)
            .secret_string(plan.value)
            .send()
            .await;
        let status = match res {
            Ok(_) => Status::Created,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                Status::Exists
            }
            Err(e) => return Err(CliError::aws(format!("creating secret {secret_id}"), e)),
        };
        resources.push(Resource {
            kind: Kind::Secret,
            name: secret_id.to_string(),
            status,
        });
    }
    Ok(InitReport { resources })
}

/// A fresh HMAC key: 48 random bytes, base64url (64 characters, over the 32 the keys need).
fn random_key(entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; 48];
    entropy.fill(&mut bytes);
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::render;
    use portcullis_core::keys::{Keys, MIN_KEY_BYTES};

    fn report() -> InitReport {
        InitReport {
            resources: vec![
                Resource {
                    kind: Kind::Table,
                    name: "portcullis-clients".into(),
                    status: Status::Created,
                },
                Resource {
                    kind: Kind::Table,
                    name: "portcullis-codes".into(),
                    status: Status::Exists,
                },
                Resource {
                    kind: Kind::Secret,
                    name: "portcullis-keys".into(),
                    status: Status::Created,
                },
            ],
        }
    }

    #[test]
    fn the_json_keeps_the_resources_shape() {
        let v: serde_json::Value = serde_json::from_str(&render(&report(), true).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"resources": [
                {"table": "portcullis-clients", "status": "created"},
                {"table": "portcullis-codes", "status": "exists"},
                {"secret": "portcullis-keys", "status": "created"},
            ]})
        );
    }

    #[test]
    fn the_text_is_a_table() {
        assert_eq!(
            render(&report(), false).unwrap(),
            "KIND    NAME                STATUS\n\
             table   portcullis-clients  created\n\
             table   portcullis-codes    exists\n\
             secret  portcullis-keys     created"
        );
    }

    #[test]
    fn every_template_table_maps_to_a_configured_name() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
        let t = template::load(&path).unwrap();
        let config = CliConfig::from_lookup(super::super::tests::lookup(&[
            ("PORTCULLIS_CLIENTS_TABLE", "c"),
            ("PORTCULLIS_CODES_TABLE", "k"),
            ("PORTCULLIS_TOKENS_TABLE", "t"),
            ("PORTCULLIS_BOOKINGS_TABLE", "b"),
        ]))
        .unwrap();
        let mut names: Vec<&str> = t
            .tables
            .iter()
            .map(|d| table_name(&config, d).unwrap().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["b", "c", "k", "t"]);
        let mut other = t.tables[0].clone();
        other.logical_id = "AuditTable".into();
        assert_eq!(
            table_name(&config, &other).unwrap_err().to_string(),
            "the template defines table `AuditTable`, which this version does not know"
        );
    }

    /// Every secret of the template has a configured name, and `init` writes a value the
    /// functions' reader of that secret accepts.
    #[test]
    fn every_template_secret_maps_to_a_configured_name_and_an_accepted_value() {
        use portcullis_core::settings::{env as vars, local_stack};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
        let t = template::load(&path).unwrap();
        let local = local_stack(9000, 5000);
        let local: Vec<(&str, &str)> = local.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let config = CliConfig::from_lookup(super::super::tests::lookup(&local)).unwrap();
        let mut names = Vec::new();
        for id in &t.secrets {
            let plan = secret_plan(&config, id, &OsEntropy).unwrap();
            let accepted = match id.as_str() {
                "KeysSecret" => Keys::from_secret_json(&plan.value).is_ok(),
                _ => KeyRing::from_secret_json(&plan.value).is_ok(),
            };
            assert!(accepted, "{id}");
            assert!(!plan.description.is_empty());
            names.push(plan.name);
        }
        assert_eq!(
            names,
            [
                "portcullis-keys",
                "portcullis-mint-key",
                "portcullis-tag-key",
                "portcullis-access-tag-key"
            ]
        );
        let a = secret_plan(&config, "TagKeySecret", &OsEntropy).unwrap();
        let b = secret_plan(&config, "AccessTagKeySecret", &OsEntropy).unwrap();
        assert_ne!(a.value, b.value, "every secret gets its own key");
        assert_eq!(
            secret_plan(&config, "AuditSecret", &OsEntropy)
                .unwrap_err()
                .to_string(),
            "the template defines secret `AuditSecret`, which this version does not know"
        );
        let without = CliConfig::from_lookup(super::super::tests::lookup(
            &local
                .iter()
                .copied()
                .filter(|(k, _)| *k != vars::MINT_SECRET_ID)
                .collect::<Vec<_>>(),
        ))
        .unwrap();
        let e = secret_plan(&without, "MintKeySecret", &OsEntropy).unwrap_err();
        assert!(e.to_string().contains(vars::MINT_SECRET_ID), "{e}");
    }

    /// The secret `init` writes must be one the functions accept.
    #[test]
    fn generated_keys_are_accepted_by_the_functions() {
        let k = random_key(&OsEntropy);
        assert!(k.len() >= MIN_KEY_BYTES);
        assert_ne!(k, random_key(&OsEntropy));
        let secret = serde_json::json!({"session_key": k, "csrf_key": random_key(&OsEntropy)});
        assert!(Keys::from_secret_json(&secret.to_string()).is_ok());
    }
}

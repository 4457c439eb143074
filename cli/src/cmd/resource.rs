//! `resource ...`: the protected resources (RFC 8707) tokens can be bound to, such as a
//! product's MCP server. An authorization request that names a `resource` must name one
//! registered here (`invalid_target` otherwise), and its tokens carry that URI as their
//! audience, which the resource's `Authenticator::for_resource` checks.
use super::Context;
use crate::error::CliError;
use crate::output::{Fields, Render, Table};
use portcullis_aws::DynamoClients;
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::ports::ResourceRegistry;
use portcullis_core::resource::Resource;
use portcullis_core::scope::ScopeCatalog;
use serde::Serialize;

#[derive(Debug, clap::Subcommand)]
pub enum ResourceCommand {
    /// Register a protected resource by its URI (the audience of its tokens) and the scopes it offers.
    #[command(
        after_help = "Example:\n  portcullis resource create --uri https://api.example.com/mcp --scopes READ_BOOKING,READ_PROFILE --name \"Example MCP\"\n\nThe URI is matched as written (no normalisation): register exactly what the resource's\nprotected-resource metadata names as `resource` (RFC 9728), which MCP clients send."
    )]
    Create(CreateArgs),
    /// The registered resources.
    #[command(after_help = "Example:\n  portcullis resource list --json")]
    List,
    /// Remove a resource: new authorizations naming it get `invalid_target`; tokens already
    /// bound to it keep their audience until they expire or are revoked.
    #[command(after_help = "Example:\n  portcullis resource delete https://api.example.com/mcp")]
    Delete(DeleteArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The resource's URI: https (http only on a loopback host), no query or fragment.
    #[arg(long)]
    pub uri: String,
    /// The scopes a token for it may carry, comma-separated (from the scope catalogue).
    #[arg(long, value_delimiter = ',', required = true)]
    pub scopes: Vec<String>,
    /// What the consent page calls it (default: the URI's host).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The resource's URI, exactly as registered.
    pub uri: String,
}

/// A resource as the CLI shows it.
#[derive(Debug, Serialize)]
pub struct ResourceInfo {
    pub uri: String,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: u64,
}

impl From<Resource> for ResourceInfo {
    fn from(r: Resource) -> Self {
        Self {
            uri: r.uri,
            name: r.name,
            scopes: r.scopes,
            created_at: r.created_at,
        }
    }
}

impl Render for ResourceInfo {
    fn text(&self) -> String {
        Fields::new()
            .field("uri", &self.uri)
            .field("name", self.name.clone().unwrap_or_default())
            .field("scopes", self.scopes.join(" "))
            .render()
    }
}

/// `resource list`: `{"resources": [...]}`.
#[derive(Debug, Serialize)]
pub struct ResourceList {
    pub resources: Vec<ResourceInfo>,
}

impl Render for ResourceList {
    fn text(&self) -> String {
        if self.resources.is_empty() {
            return "no resources".into();
        }
        self.resources
            .iter()
            .fold(Table::new(&["URI", "NAME", "SCOPES"]), |t, r| {
                t.row([
                    r.uri.clone(),
                    r.name.clone().unwrap_or_default(),
                    r.scopes.join(","),
                ])
            })
            .render()
    }
}

/// `resource delete`: `{"deleted": "<uri>"}`.
#[derive(Debug, Serialize)]
pub struct ResourceDeleted {
    pub deleted: String,
}

impl Render for ResourceDeleted {
    fn text(&self) -> String {
        format!("deleted resource {}", self.deleted)
    }
}

/// Checks `resource create`'s flags.
pub fn check(args: CreateArgs, catalog: &ScopeCatalog, now: u64) -> Result<Resource, CliError> {
    let name = args
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        return Err(CliError::Invalid("--name is at most 100 characters".into()));
    }
    let scopes = args.scopes.iter().map(|s| s.trim().to_string()).collect();
    Resource::new(args.uri.trim(), name, scopes, catalog, now).map_err(CliError::Invalid)
}

fn clients(ctx: &Context) -> DynamoClients {
    DynamoClients::new(ctx.db(), &ctx.config.tables.clients)
}

/// `resource create`: one conditional PutItem.
pub async fn create(ctx: &Context, args: CreateArgs) -> Result<ResourceInfo, CliError> {
    let r = check(args, &ctx.config.scopes, SystemClock.now())?;
    let created = clients(ctx)
        .create_resource(&r)
        .await
        .map_err(|e| ctx.storage("registering the resource", &ctx.config.tables.clients, e))?;
    if !created {
        return Err(CliError::Invalid(format!(
            "a resource with the URI {} is already registered (resource delete it first to change it)",
            r.uri
        )));
    }
    Ok(r.into())
}

/// `resource list`: a Scan of the clients table, resources only.
pub async fn list(ctx: &Context) -> Result<ResourceList, CliError> {
    let all = clients(ctx)
        .list_resources()
        .await
        .map_err(|e| ctx.storage("listing the resources", &ctx.config.tables.clients, e))?;
    Ok(ResourceList {
        resources: all.into_iter().map(ResourceInfo::from).collect(),
    })
}

/// `resource delete`: one conditional DeleteItem.
pub async fn delete(ctx: &Context, args: DeleteArgs) -> Result<ResourceDeleted, CliError> {
    let uri = args.uri.trim().to_string();
    let found = clients(ctx)
        .delete_resource(&uri)
        .await
        .map_err(|e| ctx.storage("deleting the resource", &ctx.config.tables.clients, e))?;
    if !found {
        return Err(CliError::NotFound(format!(
            "no resource is registered with the URI {uri} (URIs match exactly as written)"
        )));
    }
    Ok(ResourceDeleted { deleted: uri })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(uri: &str, scopes: &[&str]) -> CreateArgs {
        CreateArgs {
            uri: uri.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            name: None,
        }
    }

    #[test]
    fn create_checks_the_uri_and_the_scopes_before_any_call() {
        let c = ScopeCatalog::default();
        assert!(check(
            args("https://api.example.com/mcp", &["READ_BOOKING"]),
            &c,
            1
        )
        .is_ok());
        for (uri, scopes) in [
            ("http://api.example.com/mcp", &["READ_BOOKING"][..]),
            ("https://api.example.com/mcp#x", &["READ_BOOKING"][..]),
            ("https://api.example.com/mcp", &["NOPE"][..]),
        ] {
            let e = check(args(uri, scopes), &c, 1).unwrap_err();
            assert!(matches!(e, CliError::Invalid(_)), "{uri}: {e}");
        }
        let mut long = args("https://api.example.com/mcp", &["READ_BOOKING"]);
        long.name = Some("n".repeat(101));
        assert!(check(long, &c, 1).is_err());
    }
}

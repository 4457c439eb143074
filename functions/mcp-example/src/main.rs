//! Lambda `mcp-example`: an MCP server (`POST /mcp`, streamable HTTP, stateless) and its
//! protected-resource metadata (`GET /.well-known/oauth-protected-resource/mcp`).
use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let server = &mcp_example::McpServer::from_env().await?;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(server.handle(req).await)
    }))
    .await
}

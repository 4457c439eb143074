// An AI agent with no registration: the official MCP TypeScript SDK's client
// (@modelcontextprotocol/sdk, pinned in package.json) and its OAuth support against the example
// MCP server (functions/mcp-example) through the local stack.
//
//     node agent.mjs MCP_URL SESSION_COOKIE SESSION [CLIENT_METADATA_URL]
//
// The SDK does all of MCP authorization itself, driven by the server's 401: the
// `resource_metadata` of its WWW-Authenticate (RFC 9728), the server metadata (RFC 8414), then
// dynamic registration (RFC 7591) or, given CLIENT_METADATA_URL, a Client ID Metadata Document,
// then the authorization request with PKCE and `resource` (RFC 8707). The user is played by
// `redirectToAuthorization`: it opens the authorization URL with the host session cookie, reads
// the consent page and clicks Allow; the code goes back through `transport.finishAuth`, as the
// SDK's own examples do. The stored access token is then replaced by one the server does not
// know, so the next session's 401 makes the SDK refresh (`refreshed` is true only if no second
// consent was needed). Prints one JSON object: what the flow saw, for tests/tests/e2e/agents.rs
// to check (the same shape as python_mcp_agent.py's).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { randomBytes } from "node:crypto";

const REDIRECT = "http://127.0.0.1:8766/callback";

const unescape = (s) =>
  s
    .replaceAll("&quot;", '"')
    .replaceAll("&#34;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&#x27;", "'")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");

/** The agent's OAuthClientProvider (in memory), and the person at the browser who clicks Allow. */
class Agent {
  constructor(cookie, metadataUrl) {
    this.cookie = cookie;
    if (metadataUrl) this.clientMetadataUrl = metadataUrl;
    this.client = undefined;
    this.stored = undefined;
    this.verifier = undefined;
    this.discovery = undefined;
    this.expectedState = undefined;
    this.code = undefined;
    this.seen = {};
    this.consents = 0;
  }

  get redirectUrl() {
    return REDIRECT;
  }

  get clientMetadata() {
    return {
      client_name: "TypeScript MCP agent",
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  state() {
    this.expectedState = randomBytes(16).toString("base64url");
    return this.expectedState;
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info) {
    this.client = info;
  }

  tokens() {
    return this.stored;
  }

  saveTokens(tokens) {
    this.stored = tokens;
  }

  saveCodeVerifier(v) {
    this.verifier = v;
  }

  codeVerifier() {
    return this.verifier;
  }

  saveDiscoveryState(state) {
    this.discovery = state;
  }

  discoveryState() {
    return this.discovery;
  }

  /** The user: the consent page with the host session, then Allow; keeps the code. */
  async redirectToAuthorization(url) {
    this.consents += 1;
    const query = url.searchParams;
    this.seen.authorize_params = [...new Set(query.keys())].sort();
    this.seen.resource = query.get("resource");
    this.seen.client_id = query.get("client_id");
    const page = await fetch(url, { headers: { cookie: this.cookie }, redirect: "manual" });
    const body = await page.text();
    if (page.status !== 200) {
      throw new Error(`expected the consent page, got ${page.status}: ${body}`);
    }
    this.seen.unverified_notice = body.includes("has not verified this application");
    const fields = new URLSearchParams();
    for (const [, n, v] of body.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
      fields.append(unescape(n), unescape(v));
    }
    fields.append("decision", "allow");
    const action = unescape(body.match(/<form method="post" action="([^"]*)"/)[1]);
    const after = await fetch(new URL(action, url), {
      method: "POST",
      headers: { cookie: this.cookie, "content-type": "application/x-www-form-urlencoded" },
      body: fields,
      redirect: "manual",
    });
    if (after.status !== 303) {
      throw new Error(`consent POST answered ${after.status}: ${await after.text()}`);
    }
    const back = new URL(after.headers.get("location")).searchParams;
    // RFC 6749 §10.12: the state must come back as sent (the SDK leaves this check to the app).
    if (back.get("state") !== this.expectedState) {
      throw new Error(`state came back as ${back.get("state")}, sent ${this.expectedState}`);
    }
    this.seen.iss = back.get("iss");
    this.code = back.get("code");
  }
}

/** One MCP session: tools/list and a call of list_bookings. */
async function session(url, agent) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: agent });
  const client = new Client({ name: "portcullis-ts-agent", version: "1.0.0" });
  try {
    await client.connect(transport);
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || !agent.code) throw e;
    // The consent happened in redirectToAuthorization: exchange the code, connect again.
    await transport.finishAuth(agent.code);
    agent.code = undefined;
    return session(url, agent);
  }
  const tools = await client.listTools();
  const result = await client.callTool({ name: "list_bookings", arguments: {} });
  await client.close();
  return {
    tools: tools.tools.map((t) => t.name),
    is_error: Boolean(result.isError),
    structured: result.structuredContent ?? null,
  };
}

async function main() {
  const [url, cookieName, value, metadataUrl] = process.argv.slice(2);
  const agent = new Agent(`${cookieName}=${value}`, metadataUrl);
  const first = await session(url, agent);
  const firstTokens = agent.stored;
  // An access token the server does not know: the 401 makes the SDK refresh, then retry.
  agent.stored = { ...firstTokens, access_token: "expired-" + randomBytes(8).toString("hex") };
  const second = await session(url, agent);
  const last = agent.stored;
  console.log(
    JSON.stringify({
      client_id: agent.client?.client_id ?? null,
      seen: agent.seen,
      first,
      second,
      first_access_token: firstTokens?.access_token ?? null,
      access_token: last?.access_token ?? null,
      refresh_token: last?.refresh_token ?? null,
      // A new access token with no second consent: it came from the refresh token.
      refreshed:
        agent.consents === 1 &&
        Boolean(firstTokens && last && last.access_token !== firstTokens.access_token && !last.access_token.startsWith("expired-")),
      consents: agent.consents,
    }),
  );
}

main().catch((e) => {
  console.error(e?.stack ?? String(e));
  process.exit(1);
});

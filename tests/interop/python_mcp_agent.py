"""An AI agent with no registration: the official MCP Python SDK's client and its OAuth client
provider against the example MCP server (functions/mcp-example) through the local stack.

    python_mcp_agent.py MCP_URL SESSION_COOKIE SESSION [CLIENT_METADATA_URL]

The provider does all of MCP authorization itself: the 401's `resource_metadata` (RFC 9728),
the server metadata (RFC 8414), then dynamic registration (RFC 7591) or, given
CLIENT_METADATA_URL, a Client ID Metadata Document, then the authorization request with PKCE
and `resource` (RFC 8707), the token, `tools/list` and a tool call. The user is played by the
redirect handler: it opens the authorization URL with the host session cookie, reads the
consent page and clicks Allow. The access token is then made to look expired, so the next call
refreshes. Prints one JSON object: what the flow saw, for tests/tests/e2e/agents.rs to check.
"""

import asyncio
import html
import json
import re
import sys
import time
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:8765/callback"


class Memory:
    """TokenStorage in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class User:
    """The person at the browser: signed in to the host application, clicks Allow."""

    def __init__(self, cookie_name: str, session: str) -> None:
        self.cookies = {cookie_name: session}
        self.seen: dict = {}
        self.result: AuthorizationCodeResult | None = None

    async def open(self, authorization_url: str) -> None:
        query = parse_qs(urlparse(authorization_url).query)
        self.seen["authorize_params"] = sorted(query)
        self.seen["resource"] = query.get("resource", [None])[0]
        self.seen["client_id"] = query.get("client_id", [None])[0]
        async with httpx2.AsyncClient(cookies=self.cookies, follow_redirects=False) as http:
            page = await http.get(authorization_url)
            if page.status_code != 200:
                raise RuntimeError(f"expected the consent page, got {page.status_code}: {page.text}")
            body = page.text
            self.seen["unverified_notice"] = "has not verified this application" in body
            fields = [
                (html.unescape(n), html.unescape(v))
                for n, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', body)
            ]
            action = html.unescape(re.search(r'<form method="post" action="([^"]*)"', body).group(1))
            fields.append(("decision", "allow"))
            after = await http.post(urljoin(authorization_url, action), data=dict(fields))
            if after.status_code != 303:
                raise RuntimeError(f"consent POST answered {after.status_code}: {after.text}")
            back = parse_qs(urlparse(after.headers["location"]).query)
            self.result = AuthorizationCodeResult(
                code=back["code"][0], state=back["state"][0], iss=back.get("iss", [None])[0]
            )

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


async def call(provider: OAuthClientProvider, url: str) -> dict:
    async with create_mcp_http_client(auth=provider) as http:
        async with Client(streamable_http_client(url, http_client=http), raise_exceptions=True) as client:
            tools = await client.list_tools()
            result = await client.call_tool("list_bookings", {})
            return {
                "tools": [t.name for t in tools.tools],
                "is_error": bool(result.is_error),
                "structured": result.structured_content,
            }


async def run(url: str, cookie_name: str, session: str, metadata_url: str | None) -> dict:
    user = User(cookie_name, session)
    storage = Memory()
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Python MCP agent",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=user.open,
        callback_handler=user.callback,
        client_metadata_url=metadata_url,
    )
    first = await call(provider, url)
    first_tokens = storage.tokens
    # The access token looks expired: the provider refreshes before the next request.
    provider.context.token_expiry_time = time.time() - 1
    second = await call(provider, url)
    return {
        "client_id": storage.client.client_id if storage.client else None,
        "seen": user.seen,
        "first": first,
        "second": second,
        "first_access_token": first_tokens.access_token if first_tokens else None,
        "access_token": storage.tokens.access_token if storage.tokens else None,
        "refresh_token": storage.tokens.refresh_token if storage.tokens else None,
        "refreshed": bool(first_tokens and storage.tokens and first_tokens.access_token != storage.tokens.access_token),
    }


def main() -> None:
    url, cookie_name, session = sys.argv[1:4]
    metadata_url = sys.argv[4] if len(sys.argv) > 4 else None
    print(json.dumps(asyncio.run(run(url, cookie_name, session, metadata_url))), flush=True)


if __name__ == "__main__":
    main()

"""The official MCP Python SDK's client against the example MCP server (functions/mcp-example).

    python_mcp.py tools URL TOKEN

Connects with the given bearer token, once in each mode the SDK has ("auto": server/discover
at 2026-07-28, falling back to initialize; "legacy": the initialize handshake), lists the tools
and calls list_bookings; prints one JSON line per mode: the negotiated protocol version, the tool
names and the call's structured content. Run from tests/tests/e2e/mcp.rs.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def run(url: str, token: str, mode: str) -> dict:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, raise_exceptions=True) as client:
            tools = await client.list_tools()
            result = await client.call_tool("list_bookings", {})
            return {
                "mode": mode,
                "protocol_version": client.protocol_version,
                "tools": [t.name for t in tools.tools],
                "is_error": bool(result.is_error),
                "structured": result.structured_content,
            }


def main() -> None:
    command, url, token = sys.argv[1:4]
    if command != "tools":
        sys.exit(f"unknown command {command}")
    for mode in ("auto", "legacy"):
        print(json.dumps(asyncio.run(run(url, token, mode))), flush=True)


if __name__ == "__main__":
    main()

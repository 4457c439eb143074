"""Interoperability: Python's OAuth client libraries against a running Portcullis.

Usage: python_clients.py BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI SESSION_TOKEN

Runs the authorization code flow with Authlib (client_secret_basic and client_secret_post, both
with PKCE S256) and requests-oauthlib (client_id in the body plus HTTP Basic), each followed by a
/me call, and prints one JSON line per run. Exits non-zero on the first failure.
"""
import html
import json
import os
import re
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from requests_oauthlib import OAuth2Session as RequestsOAuthlibSession

# requests-oauthlib refuses plain http unless told: the local stack is http on 127.0.0.1.
os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

BASE, CLIENT_ID, SECRET, REDIRECT, SESSION = sys.argv[1:6]
AUTHORIZE = BASE + "/auth/oauth2/authorize"
TOKEN = BASE + "/api/auth/oauth/token"
ME = BASE + "/api/auth/oauth/me"

browser = requests.Session()
browser.cookies.set("session", SESSION, domain="127.0.0.1", path="/")


def consent(url):
    """The user's browser: open the consent page, click Allow, return where it is sent."""
    page = browser.get(url, allow_redirects=False)
    assert page.status_code == 200, (page.status_code, page.text[:300])
    fields = [(k, html.unescape(v)) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)]
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    after = browser.post(action, data=fields + [("decision", "allow")], allow_redirects=False)
    assert after.status_code == 303, (after.status_code, after.text[:300])
    return after.headers["location"]


def report(library, method, token, me):
    assert token["token_type"].lower() == "bearer", token
    assert token["expires_in"] == 1800, token
    assert token.get("refresh_token"), token
    print(json.dumps({"library": library, "auth": method, "scope": token["scope"], "me": me}), flush=True)


for method in ("client_secret_basic", "client_secret_post"):
    client = OAuth2Session(
        CLIENT_ID,
        SECRET,
        scope="READ_PROFILE READ_BOOKING",
        redirect_uri=REDIRECT,
        token_endpoint_auth_method=method,
        code_challenge_method="S256",
    )
    verifier = generate_token(64)
    url, _state = client.create_authorization_url(AUTHORIZE, code_verifier=verifier)
    location = consent(url)
    token = client.fetch_token(TOKEN, authorization_response=location, code_verifier=verifier)
    me = client.get(ME)
    assert me.status_code == 200, (me.status_code, me.text)
    report("authlib", method, token, me.json())

client = RequestsOAuthlibSession(CLIENT_ID, redirect_uri=REDIRECT, scope=["READ_PROFILE"])
url, _state = client.authorization_url(AUTHORIZE)
location = consent(url)
token = client.fetch_token(TOKEN, authorization_response=location, client_secret=SECRET, include_client_id=True)
me = client.get(ME)
assert me.status_code == 200, (me.status_code, me.text)
report("requests-oauthlib", "basic+body client_id", token, me.json())

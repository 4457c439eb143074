"""Interoperability: Python's OAuth client libraries against a running Portcullis.

Usage: python_clients.py BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI SESSION_TOKEN

Runs the authorization code flow with Authlib (client_secret_basic and client_secret_post, both
with PKCE S256) and requests-oauthlib (client_id in the body plus HTTP Basic), each followed by a
/me call, a refresh with the library's own refresh support (which must rotate the refresh token
and give a working access token), and, for the last run, Cal.com's refresh call with plain
requests (the refresh token as Bearer at /api/auth/oauth/refreshToken). Prints one JSON line per
run. Exits non-zero on the first failure.
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
REFRESH = BASE + "/api/auth/oauth/refreshToken"

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


def report(library, method, token, me, refreshed):
    assert token["token_type"].lower() == "bearer", token
    assert token["expires_in"] == 1800, token
    assert token.get("refresh_token"), token
    assert refreshed["refresh_token"] != token["refresh_token"], "the refresh token rotates"
    print(json.dumps({"library": library, "auth": method, "scope": token["scope"], "me": me, "refreshed_me": refreshed["me"]}), flush=True)


def me_with(access_token):
    r = requests.get(ME, headers={"Authorization": "Bearer " + access_token})
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


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
    first = dict(token)
    new = client.refresh_token(TOKEN, refresh_token=first["refresh_token"])
    report("authlib", method, first, me.json(), {"refresh_token": new["refresh_token"], "me": me_with(new["access_token"])})

client = RequestsOAuthlibSession(CLIENT_ID, redirect_uri=REDIRECT, scope=["READ_PROFILE"])
url, _state = client.authorization_url(AUTHORIZE)
location = consent(url)
token = client.fetch_token(TOKEN, authorization_response=location, client_secret=SECRET, include_client_id=True)
me = client.get(ME)
assert me.status_code == 200, (me.status_code, me.text)
first = dict(token)
new = client.refresh_token(TOKEN, refresh_token=first["refresh_token"], client_id=CLIENT_ID, client_secret=SECRET)
assert new["refresh_token"] != first["refresh_token"], new
# Cal.com's refresh call, as its apps make it: the refresh token as Bearer, the client in the body.
calcom = requests.post(
    REFRESH,
    headers={"Authorization": "Bearer " + new["refresh_token"]},
    data={"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": SECRET},
)
assert calcom.status_code == 200, (calcom.status_code, calcom.text)
assert calcom.headers.get("Cache-Control") == "no-store", calcom.headers
calcom = calcom.json()
report("requests-oauthlib", "basic+body client_id", first, me.json(), {"refresh_token": calcom["refresh_token"], "me": me_with(calcom["access_token"])})

"""Discovery: Authlib loads Portcullis's RFC 8414 metadata and runs everything from it.

Usage: python_discovery.py BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI SESSION_TOKEN

Authlib's Flask integration fetches /.well-known/oauth-authorization-server (its
`server_metadata_url` support); then Authlib's OAuth2Session, given only the discovered URLs, runs
the authorization code flow with PKCE S256, checks that the response's `iss` is the metadata's
`issuer` (RFC 9207), introspects the access token (RFC 7662), revokes the refresh token
(RFC 7009) and sees the access token die with it. Prints one JSON line. Exits non-zero on failure.
"""
import html
import json
import re
import sys
from urllib.parse import parse_qs, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.flask_client import OAuth
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask

BASE, CLIENT_ID, SECRET, REDIRECT, SESSION = sys.argv[1:6]

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


app = Flask(__name__)
oauth = OAuth(app)
remote = oauth.register(
    "portcullis",
    client_id=CLIENT_ID,
    client_secret=SECRET,
    server_metadata_url=BASE + "/.well-known/oauth-authorization-server",
)
with app.app_context():
    meta = dict(remote.load_server_metadata())
assert meta["issuer"] == BASE, meta

client = OAuth2Session(CLIENT_ID, SECRET, scope="READ_PROFILE", redirect_uri=REDIRECT, code_challenge_method="S256")
verifier = generate_token(64)
url, _state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
location = consent(url)
iss = parse_qs(urlparse(location).query)["iss"][0]
assert iss == meta["issuer"], (iss, meta["issuer"])
token = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)

active = client.introspect_token(meta["introspection_endpoint"], token=token["access_token"]).json()
assert active["active"] is True and active["iss"] == meta["issuer"], active
revoked = client.revoke_token(meta["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
assert revoked.status_code == 200, (revoked.status_code, revoked.text)
after = client.introspect_token(meta["introspection_endpoint"], token=token["access_token"]).json()
assert after == {"active": False}, after
me = requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + token["access_token"]})
assert me.status_code == 401, (me.status_code, me.text)

print(json.dumps({"library": "authlib", "issuer": meta["issuer"], "introspected": active, "after_revocation": after}), flush=True)

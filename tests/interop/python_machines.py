"""Interoperability and hostile input for machine clients (issue 17), with Python's Authlib.

Usage:
  python_machines.py keys DIR
      Writes private keys (RSA 2048, P-256, Ed25519, and an unregistered "other" P-256) to DIR
      and DIR/jwks.json: the public keys to register with `client create --jwks-file`.
  python_machines.py sign DIR KEY_NAME CLIENT_ID AUDIENCE
      Prints one fresh ES256 client assertion (for tests that send it themselves).
  python_machines.py run BASE SECRET_CLIENT_ID SECRET KEY_CLIENT_ID DIR
      Authlib's client-credentials request with client_secret_basic and client_secret_post (for
      SECRET_CLIENT_ID) and with private_key_jwt signed RS256, PS256, ES256 and EdDSA (for
      KEY_CLIENT_ID; Authlib signs the assertion), introspection and revocation with
      private_key_jwt; then hostile assertions. Prints one JSON line per case:
      {"case", "status", "error", "description"} (and "token" facts for the good ones).
Exits non-zero on an unexpected failure of a good case.
"""
import base64
import json
import os
import sys
import time

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from joserfc import jwk, jwt

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def keys(d):
    os.makedirs(d, exist_ok=True)
    made = {
        "rsa": jwk.RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),
        "ec": jwk.ECKey.generate_key("P-256", parameters={"kid": "ec-1"}),
        "ed": jwk.OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"}),
        "other": jwk.ECKey.generate_key("P-256", parameters={"kid": "ec-1"}),
        "next": jwk.ECKey.generate_key("P-256", parameters={"kid": "ec-2"}),
    }
    for name, k in made.items():
        with open(os.path.join(d, name + ".json"), "w") as f:
            json.dump(k.as_dict(private=True), f)
    public = {"keys": [made[n].as_dict(private=False) for n in ("rsa", "ec", "ed")]}
    with open(os.path.join(d, "jwks.json"), "w") as f:
        json.dump(public, f)
    with open(os.path.join(d, "next-jwks.json"), "w") as f:
        json.dump({"keys": [made["next"].as_dict(private=False)]}, f)


def load(d, name):
    with open(os.path.join(d, name + ".json")) as f:
        return jwk.import_key(json.load(f))


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT with a 5-minute assertion (its default is an hour, which the
    server refuses unless PORTCULLIS_ASSERTION_MAX_LIFETIME allows it), and the key's kid."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            header={"kid": auth.client_secret.kid},
            alg=self.alg,
            expires_in=300,
        )


def out(case, r, **extra):
    try:
        body = r.json()
    except ValueError:
        body = {}
    line = {"case": case, "status": r.status_code, "error": body.get("error"),
            "description": body.get("error_description")}
    line.update(extra)
    print(json.dumps(line), flush=True)
    return body


def token_facts(t):
    return {"has_refresh_token": "refresh_token" in t, "scope": t.get("scope"),
            "token_type": t.get("token_type")}


def run(base, secret_id, secret, key_id, d):
    token_url = base + "/api/auth/oauth/token"
    introspect_url = base + "/api/auth/oauth/introspect"
    revoke_url = base + "/api/auth/oauth/revoke"

    for method in ("client_secret_basic", "client_secret_post"):
        s = OAuth2Session(secret_id, secret, token_endpoint_auth_method=method)
        t = s.fetch_token(token_url, grant_type="client_credentials")
        print(json.dumps({"case": "authlib " + method, "status": 200, **token_facts(t)}), flush=True)

    for alg, name in (("RS256", "rsa"), ("PS256", "rsa"), ("ES256", "ec"), ("EdDSA", "ed")):
        s = OAuth2Session(key_id, load(d, name), token_endpoint_auth_method="private_key_jwt",
                          revocation_endpoint_auth_method="private_key_jwt")
        s.register_client_auth_method(ShortLivedPrivateKeyJWT(alg=alg))
        t = s.fetch_token(token_url, grant_type="client_credentials")
        print(json.dumps({"case": "authlib private_key_jwt " + alg, "status": 200, **token_facts(t)}), flush=True)
    # The same session introspects and revokes (its assertion's aud is the URL it calls).
    r = s.introspect_token(introspect_url, token=t["access_token"])
    body = out("authlib introspect private_key_jwt", r)
    assert body.get("active") is True and body.get("sub") == key_id, body
    r = s.revoke_token(revoke_url, token=t["access_token"])
    out("authlib revoke private_key_jwt", r)
    r = s.introspect_token(introspect_url, token=t["access_token"])
    body = out("authlib introspect after revoke", r, active=r.json().get("active"))

    # Hostile assertions, each sent as a client-credentials request.
    ec = load(d, "ec")
    now = int(time.time())

    def claims(**over):
        c = {"iss": key_id, "sub": key_id, "aud": token_url, "iat": now, "exp": now + 120,
             "jti": generate_token(24)}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def signed(c, key=ec, alg="ES256", header=None):
        h = {"alg": alg, "kid": key.kid}
        h.update(header or {})
        return jwt.encode(h, c, key, algorithms=[alg])

    def send(case, assertion, client_id=key_id):
        data = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion}
        if client_id:
            data["client_id"] = client_id
        return out(case, requests.post(token_url, data=data))

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    good = signed(claims())
    send("good assertion", good)
    send("reused jti", good)
    send("no client_id (sub names the client)", signed(claims()), client_id=None)
    send("expired", signed(claims(iat=now - 600, exp=now - 300)))
    send("wrong aud", signed(claims(aud="https://elsewhere.example/token")))
    send("exp an hour ahead (Authlib's default)", signed(claims(exp=now + 3600)))
    send("no jti", signed(claims(jti=None)))
    send("iss is another client", signed(claims(iss="someone-else")))
    send("alg none", b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims()) + ".")
    send("signed by another key", signed(claims(), key=load(d, "other")))
    send("unknown kid", signed(claims(), header={"kid": "nope"}))
    rsa_public = load(d, "rsa").as_dict(private=False)
    hmac_key = jwk.OctKey.import_key(json.dumps(rsa_public).encode())
    send("HS256 with the public key as secret", jwt.encode(
        {"alg": "HS256", "kid": "rsa-1"}, claims(), hmac_key, algorithms=["HS256"]))
    es = signed(claims()).split(".")
    send("RS256 header on an EC key", b64({"alg": "RS256", "kid": "ec-1"}) + "." + es[1] + "." + es[2])
    send("60 KB assertion", "a" * 60000)
    send("64 KB assertion", "a" * 65536)
    send("not a JWT", "not.a.jwt")
    # Authlib's own default assertion (an hour) is refused, saying why.
    s = OAuth2Session(key_id, load(d, "rsa"), token_endpoint_auth_method="private_key_jwt")
    s.register_client_auth_method(PrivateKeyJWT(token_url))
    try:
        s.fetch_token(token_url, grant_type="client_credentials")
        print(json.dumps({"case": "authlib default assertion", "status": 200}), flush=True)
    except Exception as e:  # Authlib raises OAuthError with the server's answer
        print(json.dumps({"case": "authlib default assertion", "status": 401,
                          "error": getattr(e, "error", None),
                          "description": getattr(e, "description", str(e))}), flush=True)


def rotated(base, key_id, d, name):
    """One client-credentials request signed with key `name`: after `client update --jwks-file`."""
    token_url = base + "/api/auth/oauth/token"
    s = OAuth2Session(key_id, load(d, name), token_endpoint_auth_method="private_key_jwt")
    s.register_client_auth_method(ShortLivedPrivateKeyJWT(alg="ES256"))
    try:
        s.fetch_token(token_url, grant_type="client_credentials")
        print(json.dumps({"case": "rotated " + name, "status": 200}), flush=True)
    except Exception as e:
        print(json.dumps({"case": "rotated " + name, "status": 401,
                          "error": getattr(e, "error", None)}), flush=True)


def sign(d, name, client_id, audience):
    """Prints one fresh ES256 client assertion by key `name` for `client_id` and `audience`."""
    key = load(d, name)
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 120,
              "jti": generate_token(24)}
    print(jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"]))


if __name__ == "__main__":
    if sys.argv[1] == "keys":
        keys(sys.argv[2])
    elif sys.argv[1] == "run":
        run(*sys.argv[2:7])
    elif sys.argv[1] == "rotated":
        rotated(*sys.argv[2:6])
    elif sys.argv[1] == "sign":
        sign(*sys.argv[2:6])
    else:
        sys.exit("usage: python_machines.py keys DIR | run ... | rotated BASE KEY_CLIENT_ID DIR NAME")

"""devidp: a small OpenID Connect provider for the demo and the tests.

A DEVELOPMENT TOOL, NOT PRODUCTION CODE: users live in a JSON file and in memory, keys and codes
are forgotten at exit, any loopback redirect URI is accepted. It is a real provider all the
same (Authlib's server framework on Flask): authorization code flow with PKCE (S256) required,
nonce, RS256-signed ID tokens with `auth_time`, JWKS, discovery, userinfo and end_session, so
the product signs in through it exactly as through an organisation's provider.

    python -m devidp --port 9500 --users users.json --issuer http://127.0.0.1:9500 \
        [--admin-secret S] [--client-id failover --client-secret S]

users.json: [{"username": "ic", "password": "demo", "name": "Iris Commander",
              "email": "ic@example.test", "groups": ["incident-commanders"], "disabled": false}]

Admin API (tests change the organisation between sign-ins), with `Authorization: Bearer S`:
    GET /admin/users            PUT /admin/users/<username>  {"groups": [...], "disabled": true}
"""

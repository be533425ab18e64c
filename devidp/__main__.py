"""`python -m devidp ...`: serve the provider (see devidp/__init__.py)."""

from __future__ import annotations

import argparse
import logging
import sys

from devidp.app import create_app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="devidp", description="A development OIDC provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9500)
    parser.add_argument("--users", required=True, help="JSON file: a list of users")
    parser.add_argument("--issuer", help="default: http://HOST:PORT")
    parser.add_argument("--admin-secret", default="", help="enables the /admin API")
    parser.add_argument("--client-id", default="failover")
    parser.add_argument("--client-secret", default="devidp-client-secret")
    parser.add_argument("--quiet", action="store_true", help="no request log")
    args = parser.parse_args(argv)
    issuer = (args.issuer or f"http://{args.host}:{args.port}").rstrip("/")
    app = create_app(
        users_file=args.users,
        issuer=issuer,
        admin_secret=args.admin_secret,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    sys.stdout.write(f"devidp: issuer {issuer}, client {args.client_id}\n")
    sys.stdout.flush()
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()

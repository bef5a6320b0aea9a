"""Development credentials.

python -m cqm_shared.security token --role quality_engineer --factories F01,F02
python -m cqm_shared.security apikey create --name crm --roles integration --factories F01
python -m cqm_shared.security apikey revoke --id 1a2b3c4d
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cqm_shared.security.api_keys import create_key, revoke_key
from cqm_shared.security.principal import Role
from cqm_shared.security.tokens import mint_token
from cqm_shared.settings import ServiceSettings, load_settings


def main() -> int:
    settings = load_settings(ServiceSettings)
    parser = argparse.ArgumentParser(prog="python -m cqm_shared.security")
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a development bearer token (HS256)")
    token.add_argument("--role", default="quality_engineer", help="comma-separated: " + ", ".join(Role))
    token.add_argument("--factories", default="*", help="F01,F02 or * for head office")
    token.add_argument("--subject", default="dev-user")
    token.add_argument("--name", default=None)
    key = commands.add_parser("apikey", help="create or revoke an integration API key")
    key.add_argument("action", choices=["create", "revoke"])
    key.add_argument("--name", default="integration")
    key.add_argument("--roles", default="integration")
    key.add_argument("--factories", default="*")
    key.add_argument("--id", default=None)
    key.add_argument("--file", type=Path, default=settings.api_keys_file)
    args = parser.parse_args()

    if args.command == "token":
        roles = [r.strip() for r in args.role.split(",") if r.strip()]
        unknown = sorted(set(roles) - {r.value for r in Role})
        if unknown:
            print(f"unknown role(s): {', '.join(unknown)}; roles: {', '.join(Role)}", file=sys.stderr)
            return 2
        if settings.jwks_url:
            print("JWKS_URL is set: tokens come from the identity provider, not from here", file=sys.stderr)
            return 2
        print(
            mint_token(
                secret=settings.jwt_secret.get_secret_value(),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                subject=args.subject,
                name=args.name,
                roles=roles,
                factories=[f.strip() for f in args.factories.split(",") if f.strip()],
            )
        )
        return 0
    if args.action == "create":
        key_id, raw = create_key(
            args.file,
            name=args.name,
            roles=[r.strip() for r in args.roles.split(",")],
            factories=[f.strip() for f in args.factories.split(",")],
        )
        print(f"id: {key_id}\nkey (shown once, send it as X-API-Key): {raw}")
        return 0
    if not args.id:
        print("--id is required to revoke", file=sys.stderr)
        return 2
    if not revoke_key(args.file, args.id):
        print(f"no active key {args.id} in {args.file}", file=sys.stderr)
        return 1
    print(f"revoked {args.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

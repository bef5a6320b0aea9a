"""Bearer JWTs: HS256 with a shared secret in development, JWKS (RS256/ES256) in production.

Verification uses PyJWT: signature, expiry, issuer and audience are always checked.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt import PyJWKClient

from cqm_shared.security.principal import Principal, parse_factories, parse_roles

ASYMMETRIC = ["RS256", "ES256"]


class InvalidCredentials(Exception):
    """Missing, forged, expired or otherwise unacceptable credentials (401)."""


class TokenVerifier:
    def __init__(
        self, *, secret: str | None, issuer: str, audience: str, jwks_url: str | None = None, leeway: int = 30
    ) -> None:
        if not secret and not jwks_url:
            raise ValueError("either a JWT secret (development) or a JWKS URL is required")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        # PyJWKClient caches the key set and refetches on an unknown key id.
        self._jwks = PyJWKClient(jwks_url, cache_keys=True, lifespan=3600) if jwks_url else None

    async def verify(self, token: str) -> Principal:
        try:
            if self._jwks is not None:
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                claims = self._decode(token, signing_key.key, ASYMMETRIC)
            else:
                claims = self._decode(token, self._secret or "", ["HS256"])
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidCredentials(type(exc).__name__) from None
        return principal_from_claims(claims)

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=self._audience,
            issuer=self._issuer,
            leeway=self._leeway,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
        return claims


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidCredentials("no subject")
    try:
        roles = parse_roles(claims.get("roles", []))
        factories = parse_factories(claims.get("factories", []))
    except ValueError:
        raise InvalidCredentials("malformed roles or factories") from None
    if not roles or not factories:
        raise InvalidCredentials("token grants no role or no factory")
    return Principal(
        subject=subject, name=str(claims.get("name", subject)), roles=roles, factories=factories, kind="user"
    )


def mint_token(
    *,
    secret: str,
    issuer: str,
    audience: str,
    subject: str,
    roles: list[str],
    factories: list[str],
    name: str | None = None,
    lifetime: timedelta = timedelta(hours=8),
) -> str:
    """A development token (HS256) that a stack using the same secret accepts."""
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "name": name or subject,
        "roles": roles,
        "factories": factories,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, secret, algorithm="HS256")

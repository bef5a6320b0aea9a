"""Credentials: tokens (HS256 and JWKS), API keys, PII masking, rate buckets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cqm_shared.guards import TokenBuckets
from cqm_shared.logs import mask_pii
from cqm_shared.security.api_keys import ApiKeyStore, create_key, revoke_key
from cqm_shared.security.principal import Role
from cqm_shared.security.tokens import InvalidCredentials, TokenVerifier, mint_token

SECRET = "unit-test-secret-of-sufficient-length-0123456789"
HS = TokenVerifier(secret=SECRET, issuer="cqm-dev", audience="cqm")


def dev_token(**overrides: object) -> str:
    claims: dict[str, object] = {
        "secret": SECRET,
        "issuer": "cqm-dev",
        "audience": "cqm",
        "subject": "qe-li",
        "roles": ["quality_engineer"],
        "factories": ["F01"],
    }
    claims.update(overrides)
    return mint_token(**claims)  # type: ignore[arg-type]


async def test_valid_token_gives_principal() -> None:
    principal = await HS.verify(dev_token(name="李工"))
    assert principal.subject == "qe-li" and principal.name == "李工"
    assert principal.roles == {Role.QUALITY_ENGINEER}
    assert principal.can_see("F01") and not principal.can_see("F02")


async def test_head_office_sees_every_factory() -> None:
    principal = await HS.verify(dev_token(factories=["*"]))
    assert principal.can_see("F02") and principal.visible_factories() is None


@pytest.mark.parametrize(
    "bad",
    [
        {"secret": "another-secret-of-sufficient-length-0123456789"},  # forged
        {"audience": "someone-else"},
        {"issuer": "evil-issuer"},
        {"lifetime": timedelta(minutes=-5)},  # expired (beyond the 30 s leeway)
        {"roles": ["janitor"]},  # no known role: grants nothing
        {"factories": []},
    ],
)
async def test_unacceptable_tokens_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidCredentials):
        await HS.verify(dev_token(**bad))


async def test_alg_none_and_garbage_are_refused() -> None:
    unsigned = jwt.encode({"sub": "x", "roles": ["admin"], "factories": ["*"]}, key="", algorithm="none")
    for token in (unsigned, "not.a.token", ""):
        with pytest.raises(InvalidCredentials):
            await HS.verify(token)


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]]:
    """An identity provider's JWKS endpoint on loopback, serving one RSA and one EC key."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, key, alg in (("rsa-1", rsa_key, "RS256"), ("ec-1", ec_key, "ES256")):
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
    body = json.dumps({"keys": keys}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", rsa_key, ec_key
    server.shutdown()


def idp_token(key: object, alg: str, kid: str, **overrides: object) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "u1",
        "roles": ["auditor"],
        "factories": ["F02"],
        "iss": "https://idp.example.com",
        "aud": "cqm",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


async def test_jwks_rs256_and_es256_with_issuer_and_audience(
    jwks_server: tuple[str, rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey],
) -> None:
    url, rsa_key, ec_key = jwks_server
    verifier = TokenVerifier(secret=None, issuer="https://idp.example.com", audience="cqm", jwks_url=url)
    assert (await verifier.verify(idp_token(rsa_key, "RS256", "rsa-1"))).roles == {Role.AUDITOR}
    assert (await verifier.verify(idp_token(ec_key, "ES256", "ec-1"))).factories == {"F02"}
    with pytest.raises(InvalidCredentials):
        await verifier.verify(idp_token(rsa_key, "RS256", "rsa-1", aud="other"))
    with pytest.raises(InvalidCredentials):
        await verifier.verify(idp_token(rsa_key, "RS256", "rsa-1", iss="https://evil.example.com"))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidCredentials):  # signed by a key the IdP does not publish
        await verifier.verify(idp_token(other, "RS256", "rsa-1"))
    with pytest.raises(InvalidCredentials):  # an HS256 token must not pass in JWKS mode
        await verifier.verify(dev_token(issuer="https://idp.example.com"))


def test_api_keys_are_hashed_scoped_and_revocable(tmp_path: Path) -> None:
    registry = tmp_path / "api_keys.yaml"
    key_id, raw = create_key(registry, name="crm", roles=["integration"], factories=["F01"])
    assert raw not in registry.read_text()  # only the hash is stored
    store = ApiKeyStore(registry)
    principal = store.verify(raw)
    assert principal is not None and principal.kind == "api_key" and principal.factories == {"F01"}
    assert principal.actor == f"key:{key_id}"
    assert store.verify(raw + "x") is None
    assert revoke_key(registry, key_id)
    assert store.verify(raw) is None  # the store notices the changed file
    assert not revoke_key(registry, key_id)


def test_personal_data_is_masked_in_logs() -> None:
    line = mask_pii("王工 wang.gong@example.com +86 138 0000 1234 at 2026-11-21 10:00 order SO-88 F01-2611-0001")
    assert "wang.gong@" not in line and "138 0000 1234" not in line
    assert "w***@example.com" in line and "***34" in line
    assert "2026-11-21 10:00" in line and "F01-2611-0001" in line


def test_token_bucket_allows_burst_then_limits_then_refills() -> None:
    buckets = TokenBuckets(per_minute=60, burst=3)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", now=0.0) == pytest.approx(1.0)
    assert buckets.take("b", now=0.0) == 0.0  # per client
    assert buckets.take("a", now=1.0) == 0.0  # one token per second refilled


def test_log_records_are_masked_whatever_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from cqm_shared.logs import install_pii_masking

    install_pii_masking()
    with caplog.at_level(logging.INFO):
        logging.getLogger("cqm.test").info("contact %s at %s", "li.ming@example.com", "13912345678")
    assert caplog.records[-1].getMessage() == "contact l***@example.com at ***78"

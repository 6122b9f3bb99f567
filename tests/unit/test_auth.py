"""Token verification and the authorizer's answers."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from matchq.auth import (
    Principal,
    TokenVerifier,
    authorize,
    bearer_token,
    issue_token,
    principal_from_event,
)
from matchq.errors import Unauthorized
from matchq.settings import AuthorizerSettings as Settings
from tests.support import JWT_SECRET, load_event

SETTINGS = Settings(jwt_secret=JWT_SECRET)


def verifier(**overrides: object) -> TokenVerifier:
    return TokenVerifier(SETTINGS.model_copy(update=overrides), JWT_SECRET)


def token(**claims: object) -> str:
    now = int(time.time())
    payload = {"sub": "alice", "exp": now + 60, **claims}
    return jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, JWT_SECRET, algorithm="HS256"
    )


def test_a_valid_token_names_the_user() -> None:
    assert verifier().verify(token()) == Principal("alice", is_admin=False)


def test_the_admin_role_makes_an_admin() -> None:
    assert verifier().verify(token(roles=["admin", "x"])).is_admin
    assert verifier().verify(issue_token(JWT_SECRET, "ops", admin=True)).is_admin


def test_roles_may_be_one_string_or_a_list_of_strings() -> None:
    assert verifier().verify(token(roles="admin")).is_admin
    assert not verifier().verify(token(roles="user")).is_admin
    assert not verifier().verify(token(roles=[])).is_admin
    assert not verifier().verify(token()).is_admin


@pytest.mark.parametrize(
    "roles", [{"admin": False}, {"admin": True}, 1, 1.5, True, ["admin", 1], [["admin"]]]
)
def test_odd_roles_are_refused(roles: object) -> None:
    # {"admin": false} once made an admin: "admin" in a dict tests its keys
    with pytest.raises(Unauthorized, match="'roles' claim must be a list of strings"):
        verifier().verify(token(roles=roles))


def test_exp_must_be_a_number() -> None:
    # PyJWT takes int() of exp, so a numeric string passed before
    with pytest.raises(Unauthorized, match="'exp' claim must be a number"):
        verifier().verify(token(exp=str(int(time.time()) + 60)))
    for exp in [f"{time.time() + 60:.3f}", True, [1]]:
        with pytest.raises(Unauthorized):
            verifier().verify(token(exp=exp))


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_other_time_claims_must_be_numbers(claim: str) -> None:
    with pytest.raises(Unauthorized):
        verifier().verify(token(**{claim: str(int(time.time()) - 60)}))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (token(exp=int(time.time()) - 3600), "expired"),
        (token(exp=None), "'exp'"),
        (token(sub=None), "'sub'"),
        (
            jwt.encode(
                {"sub": "a", "exp": int(time.time()) + 60}, "another-secret-long-enough-for-hs256!!"
            ),
            "signature",
        ),
        ("not.a.token", "malformed"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(bad: str, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verifier().verify(bad)


def test_alg_none_is_never_accepted() -> None:
    unsigned = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(Unauthorized, match="algorithm"):
        verifier().verify(unsigned)
    with pytest.raises(ValueError, match="no supported algorithm"):
        TokenVerifier(SETTINGS.model_copy(update={"jwt_algorithms": ["none"]}), JWT_SECRET)


def test_an_algorithm_not_pinned_is_refused() -> None:
    key = JWT_SECRET * 2  # 64 bytes or more, as HS512 wants
    strong = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, key, algorithm="HS512")
    with pytest.raises(Unauthorized, match="HS512"):
        verifier().verify(strong)


def test_a_small_clock_skew_is_tolerated() -> None:
    assert verifier().verify(token(exp=int(time.time()) - 5)).user_id == "alice"


def test_issuer_and_audience_are_checked_when_configured() -> None:
    strict = verifier(jwt_issuer="https://idp", jwt_audience="matchq")
    assert strict.verify(token(iss="https://idp", aud="matchq")).user_id == "alice"
    with pytest.raises(Unauthorized, match="not issued for this service"):
        strict.verify(token(iss="https://other", aud="matchq"))
    with pytest.raises(Unauthorized, match="not issued for this service"):
        strict.verify(token(iss="https://idp", aud="someone-else"))


def test_an_rs256_token_needs_a_jwks_deployment() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, key, algorithm="RS256")
    with pytest.raises(Unauthorized, match="not accepted"):
        verifier(jwt_algorithms=["HS256", "RS256"]).verify(signed)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "Missing"),
        ({"Authorization": "Basic abc"}, "Bearer"),
        ({"authorization": "Bearer "}, "Bearer"),
    ],
)
def test_bearer_header_problems(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        bearer_token(headers)


def test_the_header_name_is_case_insensitive() -> None:
    assert bearer_token({"AUTHORIZATION": "bearer abc"}) == "abc"


def test_authorizer_allows_every_route_of_the_stage_for_a_good_token() -> None:
    event = load_event("authorizer")
    event["headers"]["Authorization"] = f"Bearer {token(roles=['admin'])}"
    answer = authorize(event, verifier())
    statement = answer["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:matchqapi/prod/*"
    assert answer["context"] == {"user_id": "alice", "is_admin": "true"}
    assert answer["principalId"] == "alice"


def test_authorizer_denies_with_details_and_timestamp() -> None:
    event = load_event("authorizer")
    event["headers"]["Authorization"] = f"Bearer {token(exp=int(time.time()) - 3600)}"
    answer = authorize(event, verifier())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert answer["context"]["details"] == "Token has expired"
    assert answer["context"]["timestamp"].endswith("Z")


def test_handlers_read_the_caller_from_the_authorizer_context() -> None:
    event = {"requestContext": {"authorizer": {"user_id": "bob", "is_admin": "true"}}}
    assert principal_from_event(event) == Principal("bob", is_admin=True)
    with pytest.raises(Unauthorized):
        principal_from_event({"requestContext": {}})


def test_authorizer_function_uses_the_configured_secret(aws: object) -> None:
    from tests.support import FakeContext, load_function

    event = load_event("authorizer")
    event["headers"]["Authorization"] = f"Bearer {issue_token(JWT_SECRET, 'carol')}"
    answer = load_function("authorizer").lambda_handler(event, FakeContext())
    assert answer["context"]["user_id"] == "carol"
    event["headers"]["Authorization"] = (
        f"Bearer {issue_token('wrong-secret-but-long-enough-for-hs256', 'carol')}"
    )
    answer = load_function("authorizer").lambda_handler(event, FakeContext())
    assert answer["context"]["details"] == "Token signature is invalid"


def test_a_rotated_secret_is_picked_up_through_the_provider() -> None:
    current = {"secret": JWT_SECRET}
    rotating = TokenVerifier(SETTINGS, secret_provider=lambda: current["secret"])
    assert rotating.verify(token()).user_id == "alice"
    current["secret"] = "a-brand-new-secret-after-rotation-0123456789"
    with pytest.raises(Unauthorized, match="signature"):
        rotating.verify(token())
    fresh = issue_token(current["secret"], "alice")
    assert rotating.verify(fresh).user_id == "alice"


class _JwksServer:
    """A JWKS document on loopback whose keys the test can rotate."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.keys: list[dict[str, object]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                import json

                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, *pairs: tuple[str, object]) -> None:
        import json

        from jwt.algorithms import RSAAlgorithm

        self.keys = []
        for kid, key in pairs:
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))  # type: ignore[attr-defined]
            self.keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})

    def close(self) -> None:
        self.server.shutdown()


def test_jwks_keys_rotate_by_kid() -> None:
    k1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    k2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = _JwksServer()
    try:
        server.publish(("k1", k1))
        jwks = TokenVerifier(
            SETTINGS.model_copy(
                update={
                    "jwks_url": server.url,
                    "jwt_algorithms": ["RS256"],
                    "jwt_issuer": "idp",
                    "jwks_cooldown_seconds": 0,
                }
            )
        )
        claims = {"sub": "dana", "exp": int(time.time()) + 60, "iss": "idp"}
        assert jwks.verify(jwt.encode(claims, k1, "RS256", headers={"kid": "k1"})).user_id == "dana"
        server.publish(("k2", k2))  # the identity provider rotated its key
        assert jwks.verify(jwt.encode(claims, k2, "RS256", headers={"kid": "k2"})).user_id == "dana"
        with pytest.raises(Unauthorized, match="signing key is unknown"):
            jwks.verify(jwt.encode(claims, k1, "RS256", headers={"kid": "gone"}))
        with pytest.raises(Unauthorized, match="HS256"):
            jwks.verify(token())
    finally:
        server.close()


def test_the_callers_algorithm_name_is_never_echoed_raw() -> None:
    import base64
    import json

    header = base64.urlsafe_b64encode(json.dumps({"alg": 'x"}, "a": "b'}).encode()).rstrip(b"=")
    forged = header.decode() + ".e30.c2ln"
    with pytest.raises(Unauthorized) as caught:
        verifier().verify(forged)
    assert '"' not in caught.value.details

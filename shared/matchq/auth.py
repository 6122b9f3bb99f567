"""JWT verification for the Lambda authorizer, and the caller as handlers see it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from matchq.errors import Unauthorized
from matchq.settings import AuthorizerSettings

SYMMETRIC = {"HS256", "HS384", "HS512"}
ALLOWED_ALGORITHMS = SYMMETRIC | {"RS256", "RS384", "RS512", "ES256", "ES384", "PS256"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: `sub` of the token, and whether its roles include admin."""

    user_id: str
    is_admin: bool = False

    def may_access(self, owner: str) -> bool:
        return self.is_admin or owner == self.user_id


def bearer_token(headers: dict[str, str] | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (any header case)."""
    value = None
    for name, header in (headers or {}).items():
        if name.lower() == "authorization":
            value = header
            break
    if not value:
        raise Unauthorized("Missing Authorization header")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


class TokenVerifier:
    """Verifies tokens with algorithms pinned by configuration (`none` is never accepted)."""

    def __init__(
        self,
        settings: AuthorizerSettings,
        secret: str | None = None,
        *,
        secret_provider: Callable[[], str | None] | None = None,
    ) -> None:
        algorithms = [a for a in settings.jwt_algorithms if a in ALLOWED_ALGORITHMS]
        if not algorithms:
            raise ValueError("MATCHQ_JWT_ALGORITHMS names no supported algorithm")
        self.algorithms = algorithms
        self.settings = settings
        # A provider is asked on every verification (it caches), so a rotated secret is
        # picked up without a cold start.
        self._secret_provider = secret_provider or (lambda: secret)
        self._jwks = None
        if settings.jwks_url:
            # Keys are cached; an unknown `kid` (a rotation) refetches the set, at most once
            # per cooldown so forged kids cannot hammer the identity provider.
            import jwt

            self._jwks = jwt.PyJWKClient(
                settings.jwks_url,
                lifespan=300,
                timeout=5,
                cooldown_duration=settings.jwks_cooldown_seconds,
            )

    def _key(self, token: str) -> Any:
        import jwt

        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            # The header is the caller's text and ends up in a gateway JSON template.
            shown = alg if isinstance(alg, str) and alg.isalnum() and len(alg) <= 10 else "?"
            raise Unauthorized(f"Token algorithm '{shown}' is not accepted")
        if alg in SYMMETRIC:
            secret = self._secret_provider()
            if not secret:
                raise Unauthorized("Token algorithm is not accepted by this deployment")
            return secret
        if self._jwks is None:
            raise Unauthorized("Token algorithm is not accepted by this deployment")
        return self._jwks.get_signing_key_from_jwt(token).key

    def verify(self, token: str) -> Principal:
        # PyJWT (and cryptography) load with the first token, not with every importer of
        # Principal: the API functions' cold start (benchmarks/bench_startup.py).
        import jwt

        try:
            key = self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway_seconds,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": self.settings.jwt_audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized("Token signature is invalid") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"Token is missing the '{exc.claim}' claim") from exc
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as exc:
            raise Unauthorized("Token was not issued for this service") from exc
        except jwt.PyJWKClientError as exc:
            raise Unauthorized("Token signing key is unknown") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Token is malformed") from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip() or len(sub) > 128:
            raise Unauthorized("Token 'sub' claim must be a non-empty user id")
        for name in ("exp", "nbf", "iat"):
            # PyJWT takes int() of these, so "9999999999" would pass as a time
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise Unauthorized(f"Token '{name}' claim must be a number")
        roles = claims.get("roles")
        if roles is None:
            roles = []
        elif isinstance(roles, str):
            roles = [roles]
        elif not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            # an object or a number is no role list ("admin" in {"admin": false} is True)
            raise Unauthorized("Token 'roles' claim must be a list of strings or a string")
        return Principal(user_id=sub, is_admin="admin" in roles)


@cache
def default_verifier() -> TokenVerifier:
    """The verifier of this process, built once from the environment."""
    from matchq.dal.secrets import load_secret
    from matchq.settings import authorizer_settings

    settings = authorizer_settings()
    if settings.jwt_secret:
        return TokenVerifier(settings, settings.jwt_secret)
    if settings.jwt_secret_arn or settings.jwt_secret_parameter:
        return TokenVerifier(
            settings,
            secret_provider=lambda: load_secret(
                secret_arn=settings.jwt_secret_arn, parameter_name=settings.jwt_secret_parameter
            ),
        )
    return TokenVerifier(settings)


def issue_token(
    secret: str, user_id: str, *, admin: bool = False, ttl_seconds: int = 3600, **claims: Any
) -> str:
    """An HS256 token the local stack accepts (used by `matchq token` and the tests)."""
    import time

    import jwt

    now = int(time.time())
    payload: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_seconds, **claims}
    if admin:
        payload["roles"] = ["admin"]
    return jwt.encode(payload, secret, algorithm="HS256")


def principal_from_event(event: dict[str, Any]) -> Principal:
    """The caller, as the authorizer put it in the request context."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    user_id = context.get("user_id") or context.get("principalId")
    if not user_id:
        raise Unauthorized("Request was not authorized")
    admin = context.get("is_admin")
    return Principal(user_id=str(user_id), is_admin=str(admin).lower() == "true")


def _policy(
    principal_id: str, effect: str, resource: str, context: dict[str, Any]
) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


def authorize(event: dict[str, Any], verifier: TokenVerifier) -> dict[str, Any]:
    """The REQUEST authorizer's answer: Allow with the caller, or Deny with the reason.

    API Gateway turns the Deny into a 401 whose body carries `details` and `timestamp`
    (the template's ACCESS_DENIED gateway response).
    """
    from matchq.models import iso, utcnow

    method_arn = str(event.get("methodArn", "*"))
    # Allow every route of this API and stage: the caller is who the token says, whatever the
    # route (routes check ownership themselves), and the policy stays one statement.
    resource = "/".join(method_arn.split("/")[:2]) + "/*" if "/" in method_arn else "*"
    try:
        principal = verifier.verify(bearer_token(event.get("headers")))
    except Unauthorized as exc:
        return _policy(
            "anonymous", "Deny", resource, {"details": exc.details, "timestamp": iso(utcnow())}
        )
    return _policy(
        principal.user_id,
        "Allow",
        resource,
        {"user_id": principal.user_id, "is_admin": "true" if principal.is_admin else "false"},
    )

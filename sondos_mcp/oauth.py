"""Access tokens from the team's authorization server: who is calling, with which scopes.

HTTP oauth mode only (the `oauth` extra; PyJWT is imported here, on first use). The issuer's
metadata is discovered (RFC 8414 `/.well-known/oauth-authorization-server`, else OpenID
Connect Discovery) and must name the configured issuer exactly; its `jwks_uri` gives the signing
keys, cached and fetched again when a token names a key id not in the cache (at most once per
`JWKS_MIN_REFRESH` seconds, so tokens with made-up key ids cannot make this server hammer the
issuer). A JWT access token is accepted only when signed with an asymmetric algorithm by one of
those keys, issued by the issuer, for this resource (`aud`), and within `exp`/`nbf` (a small
clock skew allowed). An opaque token is asked about at the RFC 7662 introspection endpoint, when
one is configured. Nothing here logs a token or any part of one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import anyio

from sondos_mcp.trust import Person

if TYPE_CHECKING:
    import httpx

    from sondos_mcp.config import Settings

log = logging.getLogger(__name__)

READ_SCOPE = "sondos:read"
WRITE_SCOPE = "sondos:write"
SCOPES = (READ_SCOPE, WRITE_SCOPE)

# Asymmetric only: `none` and the HMAC family are refused whatever the key set holds (an HMAC
# "signed" with the issuer's public key is the classic forgery this closes).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY = 30.0  # seconds of clock skew allowed on exp, nbf and iat
JWKS_MAX_AGE = 3600.0  # keys are fetched again this often, rotation or not
JWKS_MIN_REFRESH = 30.0  # at most one fetch per this many seconds for an unknown key id
MAX_DOCUMENT = 512 * 1024  # bytes of metadata, key set or introspection answer read at most
MAX_TOKEN = 16 * 1024
INTROSPECTION_TTL = 60.0  # an active answer is reused this long at most (never past the token's exp)
INTROSPECTION_ENTRIES = 4096


class TokenRefused(Exception):
    """The token is not accepted; the message says why (and never holds the token)."""


class IssuerUnreachable(TokenRefused):
    """The issuer's metadata or keys could not be read, so no token can be checked right now."""


@dataclass(frozen=True)
class OAuthSettings:
    issuer: str
    resource: str
    groups_claim: str = "groups"
    introspection_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> OAuthSettings:
        assert settings.oauth_issuer is not None
        assert settings.public_url is not None
        secret = settings.oauth_client_secret
        return cls(
            issuer=settings.oauth_issuer,
            resource=settings.resource_url,
            groups_claim=settings.oauth_groups_claim,
            introspection_url=settings.oauth_introspection_url,
            client_id=settings.oauth_client_id,
            client_secret=secret.get_secret_value() if secret is not None else None,
            timeout=min(settings.timeout, 10.0),
        )


def discovery_urls(issuer: str) -> list[str]:
    """Where the issuer's metadata may be: RFC 8414 (path after the well-known part), then OIDC (appended)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", ""))
    oidc = urlunsplit((parts.scheme, parts.netloc, path + "/.well-known/openid-configuration", "", ""))
    return [rfc8414, oidc]


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """`scope` (RFC 9068: space-separated) or `scp` (a list, or a string, as some providers send it)."""
    found: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            found.update(v for v in value if isinstance(v, str))
    return frozenset(found)


def person_of(claims: dict[str, Any], issuer: str, groups_claim: str) -> Person:
    """The person a verified token speaks for; `sub` is who, `email` or `preferred_username` only for display."""
    display = next(
        (v for k in ("email", "preferred_username") if isinstance(v := claims.get(k), str) and v.strip()), None
    )
    raw_groups = claims.get(groups_claim)
    if isinstance(raw_groups, str):
        raw_groups = [raw_groups]
    groups = tuple(g for g in raw_groups[:200] if isinstance(g, str)) if isinstance(raw_groups, list) else ()
    return Person(
        issuer=issuer,
        subject=str(claims["sub"]),
        display=display.strip()[:200] if display else None,
        scopes=scopes_of(claims),
        groups=groups,
    )


@dataclass
class _Keys:
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetched: float = float("-inf")
    # Parsed keys by (position in `keys`, algorithm): parsing a JWK costs about as much as a check.
    parsed: dict[tuple[int, str], Any] = field(default_factory=dict)


class TokenChecker:
    """Checks access tokens against the configured issuer; one per server process."""

    def __init__(self, config: OAuthSettings, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._http = http
        self._metadata: dict[str, Any] | None = None
        self._metadata_failed = float("-inf")
        self._keys = _Keys()
        self._lock = anyio.Lock()
        self._keys_lock = anyio.Lock()
        self._introspected: dict[str, tuple[float, dict[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"TokenChecker(issuer={self.config.issuer!r})"

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                timeout=self.config.timeout, follow_redirects=False, headers={"Accept": "application/json"}
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    # --- the issuer's documents ---

    async def _document(self, url: str, *, data: dict[str, str] | None = None, auth: Any = None) -> Any:
        import httpx

        try:
            if data is None:
                request = self.http.build_request("GET", url)
            else:
                request = self.http.build_request("POST", url, data=data)
            response = await self.http.send(request, stream=True, auth=auth)
            try:
                if response.status_code != 200:
                    raise IssuerUnreachable(f"{url} answered HTTP {response.status_code}")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT:
                        raise IssuerUnreachable(f"{url} answered more than {MAX_DOCUMENT} bytes")
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise IssuerUnreachable(f"{url} could not be read ({type(exc).__name__})") from None
        try:
            return json.loads(body)
        except ValueError:
            raise IssuerUnreachable(f"{url} did not answer JSON") from None

    async def metadata(self) -> dict[str, Any]:
        """The issuer's metadata, discovered once (and again, at most every 30 s, after a failure)."""
        if self._metadata is not None:
            return self._metadata
        async with self._lock:
            if self._metadata is not None:
                return self._metadata
            if time.monotonic() - self._metadata_failed < JWKS_MIN_REFRESH:
                raise IssuerUnreachable(f"the metadata of {self.config.issuer} could not be read a moment ago")
            reasons = []
            for url in discovery_urls(self.config.issuer):
                try:
                    document = await self._document(url)
                except IssuerUnreachable as exc:
                    reasons.append(str(exc))
                    continue
                if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
                    named = document.get("issuer") if isinstance(document, dict) else None
                    reasons.append(f"{url} names issuer {named!r}, not {self.config.issuer!r}")
                    continue
                if not isinstance(document.get("jwks_uri"), str) and not self.config.introspection_url:
                    reasons.append(f"{url} has no jwks_uri")
                    continue
                self._metadata = document
                log.info("oauth: issuer metadata from %s", url)
                return document
            self._metadata_failed = time.monotonic()
            message = "; ".join(reasons)
            log.error("oauth: cannot discover the issuer's metadata: %s", message)
            raise IssuerUnreachable(message)

    async def _key_set(self, refresh: bool) -> list[dict[str, Any]]:
        """The issuer's signing keys; `refresh` asks for a new fetch (an unknown key id), bounded in rate."""
        age = time.monotonic() - self._keys.fetched
        if age < JWKS_MAX_AGE and not (refresh and age >= JWKS_MIN_REFRESH):
            return self._keys.keys
        uri = (await self.metadata()).get("jwks_uri")
        if not isinstance(uri, str):
            raise TokenRefused("the issuer publishes no signing keys (jwks_uri)")
        async with self._keys_lock:
            age = time.monotonic() - self._keys.fetched
            if age < JWKS_MAX_AGE and not (refresh and age >= JWKS_MIN_REFRESH):
                return self._keys.keys
            self._keys.fetched = time.monotonic()  # a failed fetch is not retried at once either
            document = await self._document(uri)
            keys = document.get("keys") if isinstance(document, dict) else None
            if not isinstance(keys, list):
                raise IssuerUnreachable(f"{uri} is not a JWK set")
            self._keys = _Keys([k for k in keys[:100] if isinstance(k, dict)], self._keys.fetched)
            log.info("oauth: %d signing keys from %s", len(self._keys.keys), uri)
            return self._keys.keys

    # --- checking a token ---

    async def check(self, token: str) -> dict[str, Any]:
        """The claims of an acceptable access token; `TokenRefused` (saying why) for any other."""
        if not token or len(token) > MAX_TOKEN:
            raise TokenRefused("no token, or one longer than any access token")
        if token.count(".") == 2:
            return await self._check_jwt(token)
        if self.config.introspection_url:
            return await self._introspect(token)
        raise TokenRefused("not a JWT, and no introspection endpoint is configured for opaque tokens")

    async def _check_jwt(self, token: str) -> dict[str, Any]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenRefused(f"algorithm {str(alg)[:20]!r} is not accepted (asymmetric signatures only)")
        kid = header.get("kid")
        candidates = _matching(await self._key_set(refresh=False), alg, kid)
        if not candidates:
            candidates = _matching(await self._key_set(refresh=True), alg, kid)
        if not candidates:
            raise TokenRefused("signed with a key the issuer does not publish")
        keys = self._keys
        last: Exception | None = None
        for index in candidates:
            key = keys.parsed.get((index, alg))
            if key is None:
                try:
                    key = keys.parsed[(index, alg)] = jwt.PyJWK(keys.keys[index], algorithm=alg)
                except jwt.PyJWTError as exc:
                    last = exc
                    continue
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    audience=self.config.resource,
                    issuer=self.config.issuer,
                    leeway=LEEWAY,
                    options={"require": ["exp", "iss", "aud", "sub"]},
                )
            except jwt.InvalidSignatureError as exc:
                last = exc
                continue
            except jwt.PyJWTError as exc:
                raise TokenRefused(_reason(exc)) from None
            if not isinstance(claims.get("sub"), str) or not claims["sub"]:
                raise TokenRefused("the token names no subject")
            return claims
        raise TokenRefused(_reason(last) if last is not None else "no usable signing key")

    async def _introspect(self, token: str) -> dict[str, Any]:
        import httpx

        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.time()
        cached = self._introspected.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        assert self.config.introspection_url is not None
        auth = (
            httpx.BasicAuth(self.config.client_id, self.config.client_secret or "")
            if self.config.client_id is not None
            else None
        )
        answer = await self._document(
            self.config.introspection_url, data={"token": token, "token_type_hint": "access_token"}, auth=auth
        )
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise TokenRefused("the introspection endpoint says the token is not active")
        if answer.get("iss", self.config.issuer) != self.config.issuer:
            raise TokenRefused("the token was issued by another issuer")
        audience = answer.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if self.config.resource not in audiences:
            raise TokenRefused("the token is not for this resource (aud)")
        expires = answer.get("exp")
        if not isinstance(expires, int | float) or expires + LEEWAY < now:
            raise TokenRefused("the token has expired (or states no expiry)")
        not_before = answer.get("nbf")
        if isinstance(not_before, int | float) and not_before - LEEWAY > now:
            raise TokenRefused("the token is not valid yet")
        if not isinstance(answer.get("sub"), str) or not answer["sub"]:
            raise TokenRefused("the token names no subject")
        if len(self._introspected) >= INTROSPECTION_ENTRIES:
            self._introspected = {k: v for k, v in self._introspected.items() if v[0] > now}
            if len(self._introspected) >= INTROSPECTION_ENTRIES:
                self._introspected.clear()
        self._introspected[digest] = (min(now + INTROSPECTION_TTL, float(expires)), answer)
        return answer

    def person(self, claims: dict[str, Any]) -> Person:
        return person_of(claims, self.config.issuer, self.config.groups_claim)


_KTY = {"R": "RSA", "P": "RSA", "E": "EC"}


def _matching(keys: list[dict[str, Any]], alg: str, kid: Any) -> list[int]:
    """Published keys (their positions) that could have made this signature: the key id (when the
    token names one), a signing key, of the algorithm's type, and of this algorithm when it states one."""
    kty = "OKP" if alg == "EdDSA" else _KTY[alg[0]]
    return [
        i
        for i, k in enumerate(keys)
        if k.get("kty") == kty
        and k.get("use", "sig") == "sig"
        and k.get("alg", alg) == alg
        and (kid is None or k.get("kid") == kid)
    ]


def _reason(exc: Exception) -> str:
    import jwt

    reasons: list[tuple[type[Exception], str]] = [
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet (nbf or iat in the future)"),
        (jwt.InvalidAudienceError, "the token is not for this resource (aud)"),
        (jwt.InvalidIssuerError, "the token was issued by another issuer"),
        (jwt.MissingRequiredClaimError, "the token lacks a required claim (exp, iss, aud, sub)"),
        (jwt.InvalidSignatureError, "the signature does not verify"),
    ]
    for kind, reason in reasons:
        if isinstance(exc, kind):
            return reason
    return f"the token is not acceptable ({type(exc).__name__})"

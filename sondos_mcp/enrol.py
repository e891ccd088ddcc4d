"""HTTP oauth mode: signed-in people, the Sondos key each call acts with, and enrolling that key once.

A call acts with the key the client sends in `X-Sondos-Api-Key` when it sends one, else with the
key the person enrolled. A person without either is asked to enrol one: a URL-mode elicitation
(SEP-1036, as an `input_required` result of protocol 2026-07-28) whose URL is
`SONDOS_PUBLIC_URL/enrol/<ticket>`; a client without URL elicitation (or on an older protocol,
whose capabilities a stateless server does not know) gets the refusal `key_required` carrying
the same URL. The page there takes the key, checks it with the API
(`GET /user/me`), and stores it sealed in the vault (`sondos_mcp.vault`); it is never shown again.
`forget_sondos_key` (a tool) and the page's second button forget it, and a new enrolment
replaces it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs

import mcp_types as types
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp_types import CallToolResult
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from sondos_mcp.client import MAX_KEY_LENGTH, SondosApi, valid_key
from sondos_mcp.config import Settings
from sondos_mcp.confirm import NeedsInput, carried_answer
from sondos_mcp.errors import (
    ConfigurationError,
    InsufficientScope,
    JournalUnavailable,
    KeyRequired,
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFound,
)
from sondos_mcp.oauth import READ_SCOPE, WRITE_SCOPE, TokenChecker, person_of
from sondos_mcp.results import Outcome, success
from sondos_mcp.tools.base import Args, ToolContext, ToolSpec, parse
from sondos_mcp.trust import Person
from sondos_mcp.vault import Vault, VaultUnavailable

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

log = logging.getLogger(__name__)

ENROL_PATH = "/enrol/"
_ELICITATION = "enrol_sondos_key"
_STATE = "enrol-sondos-key"
MAX_FORM = 8 * 1024


# --- the tool ----------------------------------------------------------------------------------


class ForgetArgs(Args):
    pass


class ForgetOutcome(Outcome):
    forgotten: bool | None = None


async def forget_sondos_key(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    parse(ForgetArgs, arguments)
    vault, person = ctx.trust.vault, ctx.person
    if vault is None or person is None:
        raise ConfigurationError("Keys are enrolled only when people sign in (SONDOS_HTTP_AUTH=oauth)")
    try:
        forgotten = await vault.forget(person.id)
    except VaultUnavailable as exc:
        raise JournalUnavailable(f"The key vault cannot be reached: {exc}") from None
    message = (
        "Your Sondos API key is forgotten; the next call asks you to enrol one again"
        if forgotten
        else "No Sondos API key was on file for you"
    )
    return success(ForgetOutcome(ok=True, message=message, forgotten=forgotten), message + ".")


@dataclass(frozen=True)
class _AccountTool(ToolSpec):
    """A tool about the person's own key on this server: it changes no assistant, so neither a
    read-only policy nor a read-only token hides it."""

    @property
    def writes(self) -> bool:
        return False


FORGET_TOOL = _AccountTool(
    name="forget_sondos_key",
    title="Forget my Sondos API key",
    description="Forget the Sondos API key you enrolled on this server (to replace it: the next call asks "
    "for a new one). Changes no assistant.",
    input_model=ForgetArgs,
    output_model=ForgetOutcome,
    annotations=types.ToolAnnotations(
        title="Forget my Sondos API key",
        read_only_hint=False,
        destructive_hint=True,
        idempotent_hint=True,
        open_world_hint=False,
    ),
    handler=forget_sondos_key,
)


# --- who is calling, and with which key ---------------------------------------------------------


def _answered(params: Any) -> types.ElicitResult | None:
    """The person's answer to the enrolment request, carried by a retried call (2026-07-28)."""
    return carried_answer(params, _ELICITATION)[0]


class Enrolment:
    """`People` for `build_server`: the person from the verified token, and their key."""

    def __init__(self, settings: Settings, checker: TokenChecker | None = None) -> None:
        assert settings.oauth_issuer is not None
        assert settings.public_url is not None
        self.settings = settings
        self.public_url = settings.public_url
        self.issuer = settings.oauth_issuer
        self.groups_claim = settings.oauth_groups_claim
        self.key_header = settings.http_key_header
        self.tools: tuple[ToolSpec, ...] = (FORGET_TOOL,)
        self._context: ToolContext | None = None
        self._candidate: ContextVar[SecretStr | None] = ContextVar("sondos_enrol_key", default=None)
        self._api: SondosApi | None = None
        self._checker = checker  # closed with this

    def attach(self, context: ToolContext) -> None:
        self._context = context

    @property
    def vault(self) -> Vault:
        vault = self._context.trust.vault if self._context is not None else None
        if vault is None:
            raise VaultUnavailable("the server has not started its key vault")
        return vault

    def person(self, request: Any) -> Person | None:
        scope = getattr(request, "scope", None)
        user = scope.get("user") if isinstance(scope, dict) else None
        if not isinstance(user, AuthenticatedUser) or user.access_token.claims is None:
            return None
        return person_of(user.access_token.claims, self.issuer, self.groups_claim)

    def enrol_url(self, person: Person) -> str:
        return f"{self.public_url}{ENROL_PATH}{self.vault.issue(person.id)}"

    async def admit(self, ctx: ServerRequestContext[Any], person: Person | None, tool: ToolSpec) -> Any:
        if person is None:
            raise ConfigurationError("This call is not signed in", hint="Sign in again: the access token is missing.")
        if tool.writes and WRITE_SCOPE not in person.scopes:
            raise InsufficientScope(
                f"Changing assistants needs the {WRITE_SCOPE} scope, which this sign-in lacks; nothing was sent",
                scope=WRITE_SCOPE,
                hint=f"Sign in again granting {READ_SCOPE} {WRITE_SCOPE}, or ask an administrator for the scope.",
            )
        if not person.scopes & {READ_SCOPE, WRITE_SCOPE}:
            raise InsufficientScope(f"This server needs the {READ_SCOPE} scope", scope=READ_SCOPE)
        if tool.name == FORGET_TOOL.name:
            return None
        headers = getattr(ctx.request, "headers", None)
        sent = headers.get(self.key_header, "").strip() if headers is not None else ""
        if sent:
            if not valid_key(sent):
                raise KeyRequired(
                    f"The {self.key_header} header is not a Sondos API key (printable ASCII without spaces, "
                    f"at most {MAX_KEY_LENGTH} characters)",
                    url=None,
                )
            return SecretStr(sent)
        try:
            key = await self.vault.key_of(person.id)
        except VaultUnavailable as exc:
            raise JournalUnavailable(f"The key vault cannot be reached: {exc}") from None
        if key is not None:
            return key
        self._ask_to_enrol(ctx, person)

    def _ask_to_enrol(self, ctx: ServerRequestContext[Any], person: Person) -> NoReturn:
        url = self.enrol_url(person)
        message = (
            "Sondos needs your API key once. Open this page to store it for your sign-in: it is kept "
            "encrypted and never shown again. The link works once, for 10 minutes."
        )
        # Before 2026-07-28 a stateless HTTP server does not know a tool call's client capabilities
        # (they were sent once, with an initialize this process may never have seen), so it cannot
        # tell whether the client opens URLs: the refusal below, which every client shows, carries it.
        caps = ctx.session.client_capabilities if ctx.session is not None else None
        can_open = caps is not None and caps.elicitation is not None and caps.elicitation.url is not None
        if can_open and ctx.protocol_version >= "2026-07-28" and _answered(ctx.params) is None:
            elicit = types.ElicitRequest(params=types.ElicitRequestURLParams(message=message, url=url))
            raise NeedsInput(types.InputRequiredResult(input_requests={_ELICITATION: elicit}, request_state=_STATE))
        raise KeyRequired(
            "No Sondos API key is on file for you, so nothing was done",
            url=url,
            hint=f"Open {url} (once, within 10 minutes) to store your Sondos API key, then call again.",
        )

    # --- the page ---

    def routes(self) -> list[Route]:
        return [Route(ENROL_PATH + "{ticket}", self.page, methods=["GET", "POST"])]

    async def page(self, request: Request) -> Response:
        text = request.path_params["ticket"]
        try:
            vault = self.vault
        except VaultUnavailable:
            return _page(503, "Not ready", "The server is starting; try again in a moment.")
        ticket = vault.read(text)
        if ticket is None:
            return _page(400, "This link does not work", _STALE)
        if request.method == "GET":
            return _page(200, "Enrol your Sondos API key", _ASK, form=True)
        form = await _form(request)
        if form is None:
            return _page(400, "Enrol your Sondos API key", "The form was not readable; try again.", form=True)
        try:
            if form.get("action") == "forget":
                if not await vault.enrol(ticket, None):
                    return _page(400, "This link does not work", _STALE)
                log.info("enrolment: a person's key was forgotten")
                return _page(200, "Forgotten", "Your Sondos API key is forgotten. The next call asks for one again.")
            key = form.get("api_key", "").strip()
            if not valid_key(key):
                return _page(400, "Enrol your Sondos API key", "That is not a Sondos API key.", form=True)
            refusal = await self._check(key)
            if refusal is not None:
                return refusal
            if not await vault.enrol(ticket, key):
                return _page(400, "This link does not work", _STALE)
        except (VaultUnavailable, JournalUnavailable) as exc:
            log.error("enrolment: the key vault cannot be reached: %s", exc)
            return _page(503, "Not stored", "The server cannot store keys right now; nothing was stored.")
        log.info("enrolment: a person's key was stored")
        return _page(200, "Stored", "Your Sondos API key is stored. Go back to your assistant and carry on.")

    async def _check(self, key: str) -> Response | None:
        """None when the API accepts the key (`GET /user/me`); else the page that says why not."""
        if self._api is None:
            self._api = SondosApi(self.settings, key_source=self._candidate.get)
        token = self._candidate.set(SecretStr(key))
        try:
            await self._api.request("GET", "/user/me", resource="User")
        except (UpstreamAuthError, UpstreamNotFound):
            return _page(400, "Enrol your Sondos API key", "The Sondos API does not accept that key.", form=True)
        except UpstreamError as exc:
            log.warning("enrolment: the key could not be checked: %s", exc.kind)
            return _page(502, "Not checked", "The Sondos API could not be reached to check the key; try again.")
        finally:
            self._candidate.reset(token)
        return None

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
        if self._checker is not None:
            await self._checker.aclose()


_STALE = (
    "The link has expired, was used already, or was not made by this server. Call any Sondos tool "
    "from your assistant again to get a new one."
)
_ASK = (
    "Paste the API key from your Sondos account. It is checked with Sondos, stored encrypted for your "
    "sign-in only, and never shown again. This link works once."
)
_STYLE = (
    "body{font:16px system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}"
    "input[type=password]{width:100%;padding:.5rem;margin:.5rem 0}button{padding:.5rem 1rem}"
    "form.forget{margin-top:2rem}form.forget button{background:none;border:0;color:#a00;padding:0}"
)
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the ticket is in this page's URL
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


def _page(status: int, title: str, text: str, *, form: bool = False) -> HTMLResponse:
    forms = ""
    if form:
        forms = (
            '<form method="post"><label for="k">Sondos API key</label>'
            '<input id="k" type="password" name="api_key" autocomplete="off" required autofocus>'
            '<button type="submit">Store my key</button></form>'
            '<form class="forget" method="post"><input type="hidden" name="action" value="forget">'
            '<button type="submit">Forget the key on file instead</button></form>'
        )
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{_STYLE}</style></head>'
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{forms}</body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)


async def _form(request: Request) -> dict[str, str] | None:
    """The posted form (URL-encoded), read up to `MAX_FORM` bytes; None when it is not one."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items() if values}

"""Per-person Sondos keys under OAuth sign-in: the vault key's form, sealing, one-time tickets on both
journal stores, and enrolment through the URL a tool call hands out, end to end over HTTP."""

from __future__ import annotations

import base64
import logging
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr, ValidationError

from sondos_mcp.config import Settings, setting_errors
from sondos_mcp.http import UnsafeConfiguration, check_safety
from sondos_mcp.journal.sqlite import SqliteJournal
from sondos_mcp.journal.store import JournalStore
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.vault import TICKET_SECONDS, Ticket, Vault
from tests.conftest import call, server_command
from tests.oauth_issuer import VAULT_KEY, Issuer, Served, issuer_fixture, serving  # noqa: F401 - the issuer fixture
from tests.postgres_cluster import Cluster, pg_cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.anyio

OTHER_VAULT_KEY = base64.urlsafe_b64encode(bytes(range(100, 132))).decode()
API = "http://sandbox.test/api"
RESOURCE = "https://mcp.example.com/mcp"


# --- the vault key -----------------------------------------------------------------------------

GOOD = base64.urlsafe_b64encode(bytes(range(32))).decode()
BAD_VAULT_KEYS = {
    "empty": "",
    "short": "c2hvcnQ=",
    "standard base64 alphabet": base64.b64encode(b"\xfb\xff" * 16).decode(),
    "without its padding": GOOD.rstrip("="),
    "hex": secrets.token_hex(32),
    "48 bytes": base64.urlsafe_b64encode(bytes(48)).decode(),
    "a non-canonical last character": GOOD[:42] + chr(ord(GOOD[42]) + 1) + "=",
    "with a space": " " + GOOD[1:],
    "a passphrase": "correct horse battery staple and some more words",
}


@pytest.mark.parametrize("case", BAD_VAULT_KEYS)
def test_the_vault_key_must_be_32_bytes_of_url_safe_base64_exactly(case: str):
    """Any other form is refused, naming the variable and never echoing the value."""
    value = BAD_VAULT_KEYS[case]
    with pytest.raises(ValidationError) as refused:
        Settings(vault_key=value)
    (line,) = setting_errors(refused.value)
    assert line.startswith("SONDOS_VAULT_KEY: must be 32 random bytes in URL-safe base64 (44 characters")
    assert value not in line or not value


def test_a_good_vault_key_is_accepted():
    assert Settings(vault_key=GOOD).vault_key == SecretStr(GOOD)


def test_a_malformed_vault_key_stops_start_up_with_exit_2_and_one_line(tmp_path: Path):
    malformed = GOOD[:-2] + "=="
    env = {
        "SONDOS_HTTP_AUTH": "oauth",
        "SONDOS_OAUTH_ISSUER": "https://login.example.com",
        "SONDOS_PUBLIC_URL": "https://mcp.example.com",
        "SONDOS_VAULT_KEY": malformed,
        "SONDOS_JOURNAL": str(tmp_path / "j.sqlite3"),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [*server_command(), "--transport", "http", "--port", "0"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("sondos-mcp: SONDOS_VAULT_KEY: must be 32 random bytes in URL-safe base64"), line
    assert malformed[:40] not in done.stderr


def test_the_oauth_modules_load_only_in_oauth_mode():
    """Stdio and the other HTTP modes never import PyJWT or the sign-in modules (the `oauth` extra)."""
    code = (
        "import sys\n"
        "from sondos_mcp.config import Settings\n"
        "from sondos_mcp.http import create_app\n"
        "from sondos_mcp.server import build_server\n"
        "build_server(Settings())\n"
        "create_app(Settings(http_auth='per_user'))\n"
        "print(sorted(m for m in sys.modules if m == 'jwt' or m.startswith(('jwt.', 'sondos_mcp.oauth', "
        "'sondos_mcp.vault', 'sondos_mcp.enrol', 'sondos_mcp.http_oauth'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]


OAUTH = {
    "http_auth": "oauth",
    "oauth_issuer": "https://login.example.com",
    "public_url": "https://mcp.example.com",
    "vault_key": GOOD,
    "journal": "/tmp/sondos-unused.sqlite3",
}
REFUSED = {
    "no vault key": ({"vault_key": None}, "SONDOS_HTTP_AUTH=oauth needs SONDOS_VAULT_KEY"),
    "no issuer, no public URL": (
        {"oauth_issuer": None, "public_url": None},
        "SONDOS_HTTP_AUTH=oauth needs SONDOS_OAUTH_ISSUER, SONDOS_PUBLIC_URL",
    ),
    "an http issuer off loopback": (
        {"oauth_issuer": "http://login.example.com"},
        "SONDOS_OAUTH_ISSUER: must be https://",
    ),
    "an http public URL off loopback": (
        {"public_url": "http://mcp.example.com"},
        "SONDOS_PUBLIC_URL: must be https://",
    ),
    "a public URL with a path": (
        {"public_url": "https://example.com/sondos"},
        "SONDOS_PUBLIC_URL: must be the server's origin",
    ),
    "the journal off": ({"journal": "off"}, "SONDOS_HTTP_AUTH=oauth keeps enrolled keys beside the journal"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_oauth_mode_refuses_to_start_without_what_it_needs(case: str):
    """Each refusal is one line naming the setting (the CLI prints it and exits 2, as above)."""
    changes, expected = REFUSED[case]
    try:
        settings = Settings(**(OAUTH | changes))
    except ValidationError as exc:
        lines = setting_errors(exc)
    else:
        with pytest.raises(UnsafeConfiguration) as refused:
            check_safety(settings)
        lines = str(refused.value).splitlines()
    (line,) = lines
    assert line.startswith(expected), line


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"])
def test_plain_http_issuer_and_public_url_are_allowed_on_loopback(url: str):
    check_safety(Settings(**(OAUTH | {"oauth_issuer": url, "public_url": url})))


# --- sealing and tickets -----------------------------------------------------------------------


def vault(store: JournalStore | None = None, key: str = VAULT_KEY, audience: str = RESOURCE) -> Vault:
    async def ready() -> JournalStore | None:
        return store

    master = base64.urlsafe_b64decode(key)
    return Vault(master, api=API, audience=audience, store=ready)


def test_a_sealed_key_opens_only_for_its_person_under_its_vault_key():
    """AES-GCM bound to the person: another person's row, another vault key or a flipped bit opens nothing."""
    sealed = vault().seal("alice", "1|secret-key-material")
    assert "secret-key-material" not in sealed
    assert vault().unseal("alice", sealed) == "1|secret-key-material"
    assert vault().unseal("bob", sealed) is None
    assert vault(key=OTHER_VAULT_KEY).unseal("alice", sealed) is None
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    raw[-1] ^= 1
    assert vault().unseal("alice", "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()) is None
    assert vault().seal("alice", "1|secret-key-material") != sealed  # a fresh nonce each time


def test_a_ticket_is_read_back_only_when_ours_for_this_server_and_unexpired():
    good = vault().issue("alice")
    ticket = vault().read(good)
    assert ticket is not None
    assert ticket.person == "alice"
    assert ticket.expires - time.time() == pytest.approx(TICKET_SECONDS, abs=5)
    assert vault().read(vault().issue("alice", now=time.time() - TICKET_SECONDS - 1)) is None  # expired
    assert vault(key=OTHER_VAULT_KEY).read(good) is None  # signed under another vault key
    assert vault(audience="https://other.example/mcp").read(good) is None  # another server's
    head, body, _ = good.split(".")
    assert vault().read(f"{head}.{body}.") is None  # signature stripped
    assert vault().read("not-a-ticket") is None


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JournalStore]:
    if request.param == "sqlite":
        journal: JournalStore = SqliteJournal(tmp_path / "journal.sqlite3", api=API)
    else:
        from sondos_mcp.journal.postgres import PostgresJournal

        cluster: Cluster = request.getfixturevalue("pg_cluster")
        journal = PostgresJournal(cluster.create_database("v" + secrets.token_hex(4)), api=API)
    await journal.open()
    yield journal
    await journal.aclose()


async def test_a_ticket_stores_a_key_once_and_a_reused_ticket_stores_nothing(store: JournalStore):
    """Spent in the same transaction that stores the key: the second use is refused and changes nothing."""
    keys = vault(store)
    ticket = keys.read(keys.issue("alice"))
    assert ticket is not None
    assert await keys.enrol(ticket, "1|first-key")
    assert not await keys.enrol(ticket, "1|second-key")
    assert await keys.key_of("alice") == SecretStr("1|first-key")
    assert await keys.key_of("bob") is None
    replacing = keys.read(keys.issue("alice"))
    assert replacing is not None
    assert await keys.enrol(replacing, "1|replacement")
    assert await keys.key_of("alice") == SecretStr("1|replacement")
    assert await keys.people() == 1
    assert await keys.forget("alice")
    assert not await keys.forget("alice")
    assert await keys.key_of("alice") is None


async def test_tickets_spent_long_ago_are_pruned_but_a_live_one_stays_spent(store: JournalStore):
    keys = vault(store)
    old = Ticket("alice", "old-ticket", time.time() - 10)
    assert await keys.enrol(old, "1|k")
    live = keys.read(keys.issue("bob"))
    assert live is not None
    assert await keys.enrol(live, "1|k")
    assert not await keys.enrol(live, "1|k")
    assert await keys.enrol(old, "1|k")  # its row was pruned; read() refuses such a ticket before this


async def test_a_vault_row_under_another_vault_key_reads_as_no_key(store: JournalStore):
    ticket = vault(store).read(vault(store).issue("alice"))
    assert ticket is not None
    await vault(store).enrol(ticket, "1|k")
    assert await vault(store, key=OTHER_VAULT_KEY).key_of("alice") is None


# --- enrolment end to end ---------------------------------------------------------------------

CANARY = "1|enrol-canary-4f9a7c2e1b8d"


@dataclass
class World:
    sandbox: SandboxServer
    served: Served
    folder: Path

    def sent(self) -> int:
        return len(self.sandbox.state.received)

    def since(self, count: int) -> list[Any]:
        return self.sandbox.state.received[count:]


@pytest.fixture(scope="module")
def world(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One sandbox and one server in oauth mode for this module; each test signs in as its own person."""
    folder = tmp_path_factory.mktemp("enrolment")
    with SandboxServer() as sandbox, serving(sandbox.base_url, issuer, folder) as served:
        sandbox.state.keys[CANARY] = 1
        yield World(sandbox, served, folder)


class Browser:
    """The person's browser on the enrolment page (as the client's URL elicitation would open it)."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.opened: list[str] = []
        self.pages: list[httpx.Response] = []

    def enrol(self, url: str, key: str | None = None, **form: str) -> httpx.Response:
        self.opened.append(url)
        page = httpx.get(url, timeout=10)
        self.pages.append(page)
        assert page.status_code == 200, page.text
        assert 'name="api_key"' in page.text
        data = {"api_key": key or self.key or ""} | form
        return self.post(url, data)

    def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        answer = httpx.post(url, data=data, timeout=10)
        self.pages.append(answer)
        return answer

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams)
        answer = self.enrol(params.url)
        return types.ElicitResult(action="accept" if answer.status_code == 200 else "decline")


def http_client(token: str, seen: list[str] | None = None) -> httpx2.AsyncClient:
    async def keep(response: httpx2.Response) -> None:
        await response.aread()
        if seen is not None:
            seen.append(response.text + str(response.headers))

    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=30, event_hooks={"response": [keep]}
    )


def client(url: str, http: httpx2.AsyncClient, **kw: Any) -> Client:
    return Client(streamable_http_client(f"{url}/mcp", http_client=http), **kw)


async def test_a_person_enrols_once_through_the_url_elicitation_and_then_works(world: World, issuer: Issuer):
    """2026-07-28: the first call answers input_required with a URL under SONDOS_PUBLIC_URL/enrol/;
    the person stores the key there; the call goes on and every later call uses that key."""
    browser = Browser(DEMO_KEY)
    served, count = world.served, world.sent()
    token = issuer.token(served.resource, sub="dana", email="dana@example.com")
    async with http_client(token) as http, client(served.url, http, elicitation_callback=browser) as c:
        is_error, result, _ = await call(c, "update_assistant", {"id": 12, "max_call_duration": 300})
        assert not is_error, result
        is_error, again, _ = await call(c, "update_assistant", {"id": 12, "max_call_duration": 400})
        assert not is_error, again
        _, listed, _ = await call(c, "list_changes", {})
    (url,) = browser.opened
    assert url.startswith(f"{served.url}/enrol/")
    assert [c["actor"] for c in listed["changes"]] == ["oauth:dana (dana@example.com)"] * 2
    sent = world.since(count)
    assert [r.authorization for r in sent if r.method == "PUT"] == [f"Bearer {DEMO_KEY}"] * 2
    assert [r.path for r in sent if r.path == "/user/me"] == ["/user/me"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_without_url_elicitation_the_refusal_is_key_required_with_the_url(
    world: World, issuer: Issuer, mode: str
):
    """A client that cannot open URLs (2026-07-28 without the capability; 2025-11-25 over stateless
    HTTP, whose capabilities the server does not see) gets `key_required` naming the URL; a wrong
    key, a reused or forged ticket each get 400 and store nothing; forgetting the key asks again."""
    browser = Browser(None)
    served = world.served
    token = issuer.token(served.resource, sub=f"finn-{mode}")
    async with http_client(token) as http, client(served.url, http, mode=mode) as c:
        is_error, refused, text = await call(c, "list_assistants", {})
        assert is_error
        assert refused["error"]["kind"] == "key_required"
        url = refused["enrol_url"]
        assert url.startswith(f"{served.url}/enrol/")
        assert url in text
        assert browser.enrol(url, "2|not-a-key-the-api-knows").status_code == 400
        assert browser.enrol(url, "has spaces in it").status_code == 400
        head, body, _ = url.rsplit("/", 1)[1].split(".")
        forged = f"{served.url}/enrol/{head}.{body}.{base64.urlsafe_b64encode(b'x' * 32).decode().rstrip('=')}"
        assert browser.post(forged, {"api_key": DEMO_KEY}).status_code == 400
        assert (await call(c, "list_assistants", {}))[0]  # still no key on file
        assert browser.enrol(url, DEMO_KEY).status_code == 200
        assert browser.post(url, {"api_key": DEMO_KEY}).status_code == 400  # used once already
        is_error, listed, _ = await call(c, "list_assistants", {})
        assert not is_error, listed
        is_error, forgotten, _ = await call(c, "forget_sondos_key", {})
        assert not is_error, forgotten
        assert forgotten["forgotten"] is True
        is_error, refused_again, _ = await call(c, "list_assistants", {})
    assert is_error
    assert refused_again["error"]["kind"] == "key_required"
    assert refused_again["enrol_url"] != url
    stale = browser.pages[1]
    assert stale.headers["cache-control"] == "no-store"
    assert stale.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in stale.headers["content-security-policy"]


async def test_an_enrolled_key_appears_in_no_response_log_line_or_journal_row(
    world: World, issuer: Issuer, caplog: pytest.LogCaptureFixture
):
    """The canary key is enrolled, used for a change and an undo, listed and forgotten: every response
    the client saw, every log line (DEBUG) and every row and byte of the journal files lack it."""
    caplog.set_level(logging.DEBUG)
    browser = Browser(CANARY)
    seen: list[str] = []
    served, count = world.served, world.sent()
    token = issuer.token(served.resource, sub="gil")
    async with http_client(token, seen) as http, client(served.url, http, elicitation_callback=browser) as c:
        _, changed, _ = await call(c, "update_assistant", {"id": 12, "max_call_duration": 300})
        await call(c, "list_changes", {})
        await call(c, "undo_change", {"id": changed["change_id"]})
        await call(c, "get_assistant", {"id": 12})
        await call(c, "update_assistant", {"id": 12, "speech_speed": 9})  # refused with problems
    rows, files = _journal(world.folder)
    assert [r.authorization for r in world.since(count) if r.method == "PUT"] == [f"Bearer {CANARY}"] * 2
    texts = {
        "responses": "\n".join(seen) + "\n".join(p.text + str(p.headers) for p in browser.pages),
        "logs": "\n".join(r.getMessage() for r in caplog.records) + caplog.text,
        "journal rows": repr(rows),
    }
    assert "person_keys" in texts["journal rows"]
    for where, text in texts.items():
        assert text, where
        for form in _forms(CANARY):
            assert form not in text, f"the key is in the {where}"
    for form in _forms(CANARY):
        assert form.encode() not in files


def _forms(key: str) -> list[str]:
    secret = key.split("|", 1)[1]
    return [key, secret, base64.b64encode(key.encode()).decode().rstrip("=")]


def _journal(folder: Path) -> tuple[dict[str, list[Any]], bytes]:
    """Every row of every table of the SQLite journal, and the bytes of its files (the WAL too)."""
    conn = sqlite3.connect(folder / "journal.sqlite3")
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
    finally:
        conn.close()
    return rows, b"".join(p.read_bytes() for p in folder.glob("journal.sqlite3*"))

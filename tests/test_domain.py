"""The domain (the walker, send, change sets, undo) as plain functions against the sandbox app
in-process: a real app through httpx's ASGI transport, a real journal file; no MCP, no sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pydantic import SecretStr

from sondos_mcp import assistants
from sondos_mcp.cache import TTLCache
from sondos_mcp.client import SondosApi, fingerprint
from sondos_mcp.config import Settings
from sondos_mcp.domain.change_sets import apply_set, choose, plan_set
from sondos_mcp.domain.changes import send
from sondos_mcp.domain.session import Session
from sondos_mcp.domain.undo import plan_undo, run_undo
from sondos_mcp.errors import (
    AlreadyUndone,
    JournalUnavailable,
    PagingLimit,
    SondosError,
    UpstreamAuthError,
    UpstreamNotFound,
)
from sondos_mcp.journal import ChangeFilter
from sondos_mcp.journal.sqlite import SqliteJournal
from sondos_mcp.policy import OPEN
from sondos_mcp.references import Lookups
from sondos_mcp.sandbox import DEMO_KEY, OTHER_KEY, SandboxState, build_app
from sondos_mcp.trust import Caller, Trust

pytestmark = pytest.mark.anyio

BASE = "http://sandbox.test"
LONG_AGO = "2000-01-01T00:00:00.000000Z"


class World:
    """One sandbox API and one journal file; `session(key)` is a caller with that key, as a server
    process would serve it (`process` > 0: another process on the same journal)."""

    def __init__(self, journal_path: Path) -> None:
        self.state = SandboxState()
        self.journal_path = journal_path
        self.trusts: list[Trust] = []
        self.clients: list[httpx.AsyncClient] = []

    def session(self, key: str = DEMO_KEY, *, process: int = 0, max_pages: int = 20) -> Session:
        settings = Settings(base_url=BASE, api_key=SecretStr(key), retries=0)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(self.state)))
        self.clients.append(http)
        api = SondosApi(settings, http=http)
        while len(self.trusts) <= process:
            self.trusts.append(Trust(journal=SqliteJournal(self.journal_path, api=settings.api_base), lease_wait=5))
        lookups = Lookups(api, TTLCache(ttl=60.0), max_pages=max_pages)
        return Session(api, lookups, self.trusts[process], Caller("local:test", fingerprint(key), OPEN))

    def puts(self) -> list[Any]:
        return self.state.updates()

    def lists(self) -> int:
        return sum(r.path == "/user/assistants/get" for r in self.state.received)

    async def journal(self, key: str = DEMO_KEY) -> list[Any]:
        store = SqliteJournal(self.journal_path, api=BASE)
        await store.open()
        try:
            return await store.list(ChangeFilter(account=fingerprint(key)), 10_000)
        finally:
            await store.aclose()

    async def aclose(self) -> None:
        for trust in self.trusts:
            await trust.aclose()
        for http in self.clients:
            await http.aclose()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(tmp_path / "journal.sqlite3")
    yield w
    await w.aclose()


def add_assistants(state: SandboxState, count: int, first: int = 1000, user: int = 1) -> list[int]:
    template = state.assistants[12]
    ids = list(range(first, first + count))
    for i in ids:
        state.assistants[i] = dict(template, id=i, user_id=user, name=f"Fleet Agent {i}")
    return ids


# --- the walker -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "page", "last"),
    [
        ({"last_page": 3}, 1, 3),
        ({"last_page": "3"}, 1, 3),  # digits sent as a string
        ({"last_page": " 4 "}, 2, 4),
        ({"last_page": "lots"}, 1, 1),
        ({"last_page": True}, 1, 1),
        ({"last_page": 2.5}, 1, 1),
        ({"last_page": -7}, 1, 1),
        ({"last_page": 1}, 3, 3),  # never behind the page just read
        ({}, 2, 2),
        ([], 1, 1),
    ],
)
def test_last_page_is_taken_only_when_plainly_a_page_count(answer: Any, page: int, last: int):
    assert assistants.last_page(answer, page) == last


def paged(rows: list[dict[str, Any]], last_page: Any) -> Callable[[int], dict[str, Any]]:
    return lambda page: {"data": rows[(page - 1) * 2 : page * 2], "last_page": last_page}


@pytest.mark.parametrize(
    ("last_page", "found"),
    [("3", [1, 2, 3, 4, 5]), (3, [1, 2, 3, 4, 5]), ("three", [1, 2])],
)
async def test_the_list_is_walked_by_its_plain_page_count_and_each_assistant_is_read_once(
    world: World, last_page: Any, found: list[int]
):
    """A page count sent as text is read, a nonsense one ends the walk, and a row repeated on a
    later page (the list shifted while it was read) is one assistant, not two."""
    rows = [{"id": i, "name": f"A{i}"} for i in (1, 2, 2, 3, 4, 5)]
    session = world.session()
    page_of = paged(rows, last_page)
    session.lookups.assistant_page = lambda page, per_page: _async(page_of(page))  # type: ignore[method-assign]
    listing = await assistants.listing(session.lookups)
    assert list(listing.rows) == found


async def _async(value: Any) -> Any:
    return value


async def test_a_list_longer_than_the_page_bound_is_refused_after_one_read(world: World):
    add_assistants(world.state, 450)
    session = world.session(max_pages=4)
    with pytest.raises(PagingLimit):
        await assistants.listing(session.lookups)
    assert world.lists() == 1
    assert (await assistants.find(session.lookups, 12)) is not None  # a find on the first pages still works


# --- one change -------------------------------------------------------------------------------


async def test_a_change_is_journaled_with_what_the_api_held_before_it(world: World):
    session = world.session()
    applied = await send(session, 12, {"max_call_duration": 300, "speech_speed": 0.9})
    (entry,) = await world.journal()
    assert entry.id == applied.change_id
    assert entry.outcome == "applied"
    assert entry.before["max_call_duration"].value == 600  # read from the list
    assert not entry.before["speech_speed"].known  # not in the list, never set here: unknown
    await send(session, 12, {"speech_speed": 0.8})
    latest = (await world.journal())[0]
    assert (latest.before["speech_speed"].known, latest.before["speech_speed"].value) == (True, 0.9)


@pytest.mark.parametrize(
    ("key", "error"),
    [(OTHER_KEY, UpstreamNotFound), ("9|made-up-key-0000000000", UpstreamAuthError)],
)
async def test_a_change_to_an_assistant_the_key_cannot_see_leaves_no_trace(world: World, key: str, error: type):
    """Another account's assistant, or a key the API refuses: refused unsent, and not one journal row,
    so nothing of the owner's settings is ever copied into the caller's history."""
    await send(world.session(), 12, {"webhook_url": "https://hooks.example.com/x?token=owner-secret"})
    size = world.journal_path.stat().st_size
    with pytest.raises(error):
        await send(world.session(key), 12, {"system_prompt": "x" * 200_000})
    assert len(world.puts()) == 1
    assert await world.journal(key) == []
    assert len(await world.journal()) == 1
    assert world.journal_path.stat().st_size == size


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(502, "unknown"), (504, "unknown"), (503, "failed"), (500, "failed"), (422, "refused"), (429, "refused")],
)
async def test_a_failed_put_is_journaled_with_the_outcome_its_error_carries(world: World, status: int, outcome: str):
    world.state.fail_next(status, {"message": "no", "errors": {"voice_id": ["bad"]}}, method="PUT")
    with pytest.raises(SondosError) as info:
        await send(world.session(), 12, {"max_call_duration": 300})
    (entry,) = await world.journal()
    assert entry.outcome == info.value.recorded == outcome
    assert info.value.outcome == ("unknown" if outcome == "unknown" else "not_applied")


async def test_after_an_unknown_outcome_a_field_the_list_does_not_show_is_unknown(world: World):
    session = world.session()
    await send(session, 12, {"speech_speed": 0.9})
    world.state.fail_next(502, {"message": "gateway"}, method="PUT")
    with pytest.raises(SondosError):
        await send(session, 12, {"speech_speed": 0.8})
    await send(session, 12, {"speech_speed": 0.7})
    assert not (await world.journal())[0].before["speech_speed"].known


async def test_two_processes_on_one_journal_see_each_others_changes_as_before_values(world: World):
    """Each process keeps a snapshot; the lease's generation tells it when the other one changed the
    assistant, so it reads again instead of trusting its stale copy."""
    one, two = world.session(process=0), world.session(process=1)
    await send(one, 12, {"max_call_duration": 300, "speech_speed": 0.9})
    await send(two, 12, {"max_call_duration": 400, "speech_speed": 0.8})
    await send(one, 12, {"max_call_duration": 500, "speech_speed": 0.7})
    befores = [(e.before["max_call_duration"].value, e.before["speech_speed"].value) for e in await world.journal()]
    assert befores == [(400, 0.8), (300, 0.9), (600, None)]
    assert [p.prior["max_call_duration"] for p in world.puts()] == [600, 300, 400]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_journal_removed_while_the_server_runs_stops_changes_unsent(world: World, how: str):
    session = world.session()
    await send(session, 12, {"max_call_duration": 300})
    world.journal_path.unlink()
    if how == "replaced":
        world.journal_path.write_bytes(b"")
        world.journal_path.write_bytes(b"\0" * 4096)
    with pytest.raises(JournalUnavailable):
        await send(session, 12, {"max_call_duration": 400})
    assert len(world.puts()) == 1


# --- change sets ------------------------------------------------------------------------------


async def test_a_change_set_reads_the_list_once_not_once_per_member(world: World):
    """300 members on 4 pages: 4 list reads for the whole set (choose, check, preview and send)."""
    ids = add_assistants(world.state, 300)
    session = world.session()
    members, known = await choose(session, None, "fleet agent")
    assert members == ids
    planned = await plan_set(session, members, {"max_call_duration": 300}, known)
    assert planned.refused == []
    await apply_set(session, planned)
    assert world.lists() == 4
    assert len(world.puts()) == 300
    assert {m.outcome for m in planned.members} == {"applied"}


async def test_a_change_set_rereads_only_a_member_another_process_changed_since(world: World):
    ids = add_assistants(world.state, 5)
    session, other = world.session(process=0), world.session(process=1)
    members, known = await choose(session, ids, None)
    planned = await plan_set(session, members, {"max_call_duration": 300}, known)
    await send(other, ids[2], {"max_call_duration": 450})
    before = world.lists()
    await apply_set(session, planned)
    assert world.lists() - before == 1  # member ids[2] only
    entry = next(
        e for e in await world.journal() if e.assistant_id == ids[2] and e.fields == {"max_call_duration": 300}
    )
    assert entry.before["max_call_duration"].value == 450


@pytest.mark.parametrize(("status", "outcome"), [(502, "unknown"), (503, "failed"), (422, "refused")])
async def test_a_member_that_fails_reports_what_its_error_means_and_the_rest_are_not_attempted(
    world: World, status: int, outcome: str
):
    """After a 502 the member may have been changed: `unknown`, as the journal says, never `failed`."""
    ids = add_assistants(world.state, 3)
    session = world.session()
    members, known = await choose(session, ids, None)
    planned = await plan_set(session, members, {"max_call_duration": 300}, known)
    world.state.fail_next(status, {"message": "no"}, method="PUT", path=f"/user/assistant/{ids[1]}")
    await apply_set(session, planned)
    assert [m.outcome for m in planned.members] == ["applied", outcome, "not_attempted"]
    journaled = {e.assistant_id: e.outcome for e in await world.journal()}
    assert journaled == {ids[0]: "applied", ids[1]: outcome}


# --- undo -------------------------------------------------------------------------------------


async def test_undo_of_a_field_the_list_does_not_show_needs_force(world: World):
    """speech_speed 0.9 -> 0.8 here, then 1.15 in the dashboard: the server cannot see that, so the
    undo does not send 0.9 over it unless told to."""
    session = world.session()
    await send(session, 12, {"speech_speed": 0.9})
    applied = await send(session, 12, {"speech_speed": 0.8})
    world.state.assistants[12]["speech_speed"] = 1.15  # the dashboard
    plan = await plan_undo(session, applied.change_id or "", LONG_AGO)
    assert plan.restores == []
    (field,) = plan.report
    assert field.refused is not None
    assert "not readable" in field.refused
    assert "force" in field.refused
    forced = await plan_undo(session, applied.change_id or "", LONG_AGO, force=True)
    await run_undo(session, forced)
    assert world.state.assistants[12]["speech_speed"] == 0.9


async def test_undo_refuses_a_field_changed_since_and_restores_the_rest(world: World):
    session = world.session()
    applied = await send(session, 12, {"max_call_duration": 300, "max_silence_duration": 40})
    world.state.assistants[12]["max_duration"] = 900  # changed in the dashboard
    plan = await plan_undo(session, applied.change_id or "", LONG_AGO)
    refused = {f.field: f.refused for f in plan.report if f.refused}
    assert list(refused) == ["max_call_duration"]
    assert "changed since" in (refused["max_call_duration"] or "")
    await run_undo(session, plan)
    assert world.puts()[-1].body == {"max_silence_duration": 30}


async def test_two_processes_undoing_one_change_at_once_undo_it_once(world: World):
    applied = await send(world.session(), 12, {"max_call_duration": 300})
    change_id = applied.change_id or ""
    sessions = [world.session(process=1), world.session(process=2)]
    plans = [await plan_undo(s, change_id, LONG_AGO, force=True) for s in sessions]
    outcomes: list[str] = []

    async def undo(session: Session, plan: Any) -> None:
        try:
            await run_undo(session, plan)
            outcomes.append("undone")
        except (AlreadyUndone, SondosError) as exc:
            outcomes.append(exc.kind)

    async with anyio.create_task_group() as tg:
        for session, plan in zip(sessions, plans, strict=True):
            tg.start_soon(undo, session, plan)
    assert sorted(outcomes)[0] in ("already_undone", "changed_since")
    assert sorted(outcomes).count("undone") == 1
    assert len(world.puts()) == 2

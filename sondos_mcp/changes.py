"""The one way a change reaches a live assistant: before-values, policy, confirmation, journal, call.

`apply_change` reads the fields' current values (the stored assistant, else what this journal
last set, else unknown), asks the person when policy says so, journals the change as pending,
calls the API, and journals the outcome. If the journal cannot be written, nothing is sent.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio

from sondos_mcp import confirm
from sondos_mcp.errors import (
    ConfigurationError,
    InvalidArguments,
    SondosError,
    UpstreamError,
    UpstreamUnavailable,
)
from sondos_mcp.journal import JournalError, JournalStore, NewChange, open_journal
from sondos_mcp.journal.store import Before, utc_now
from sondos_mcp.policy import Policies, Policy, load_policies
from sondos_mcp.preview import stored_to_update
from sondos_mcp.toolkit import ToolContext, policy_of, stored_row

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

    from sondos_mcp.config import Settings


class JournalUnavailable(SondosError):
    """The change could not be journaled, so it was not sent."""

    kind = "journal_unavailable"


@dataclass
class Trust:
    """The journal, the policies and how callers are named; one per server process."""

    journal: JournalStore | None = None
    policies: Policies = field(default_factory=Policies)
    auth_mode: str = "none"
    tokens: Sequence[tuple[str, str]] = ()
    pending_after: float = 120.0
    key_header: str = "X-Sondos-Api-Key"
    snapshots: dict[tuple[str, int], _Snapshot] = field(default_factory=dict, repr=False)
    # Why the configured journal could not be opened: the server still reads, but sends no change.
    journal_error: str | None = None
    _opened: bool = field(default=False, repr=False)
    _opening: anyio.Lock = field(default_factory=anyio.Lock, repr=False)

    @classmethod
    async def open(cls, settings: Settings) -> Trust:
        """The policies now; the journal is only configured here and opened on first use (`ready`),
        so that start-up, which desktop clients wait for on every launch, does not pay for it."""
        policies = load_policies(settings.policy) if settings.policy is not None else Policies()
        tokens = settings.named_tokens() if settings.auth_mode == "shared" else []
        return cls(
            open_journal(settings),
            policies,
            settings.auth_mode,
            tokens,
            settings.journal_pending_after,
            settings.http_key_header,
        )

    async def ready(self) -> JournalStore | None:
        """The journal, opened (and migrated) on first use; None when it is off.

        A configured journal that cannot be opened refuses every change from then on
        (`journal_unavailable`): the server still reads, but never sends a change unrecorded.
        """
        if not self._opened:
            async with self._opening:
                if not self._opened and self.journal is not None:
                    try:
                        await self.journal.open()
                    except JournalError as exc:
                        log.error("the change journal cannot be opened, so no change will be sent: %s", exc)
                        await self.journal.aclose()
                        self.journal, self.journal_error = None, str(exc)
                self._opened = True
        self.check_journal()
        return self.journal

    def check_journal(self) -> None:
        """Refuse to send anything when the configured journal is broken."""
        if self.journal_error is not None:
            raise JournalUnavailable(
                "The change journal cannot be opened, so nothing is sent",
                hint=f"{self.journal_error}. Fix SONDOS_JOURNAL / SONDOS_JOURNAL_URL, or set SONDOS_JOURNAL=off "
                "to run without a journal, then restart the server.",
            )

    async def aclose(self) -> None:
        if self.journal is not None:
            await self.journal.aclose()

    def actor(self, request: ServerRequestContext[Any] | None) -> str:
        """Who is asking: the local OS user (stdio), the token's name, or a fingerprint of the caller's key."""
        http = getattr(request, "request", None)
        headers = getattr(http, "headers", None)
        if headers is None:
            return "local:" + _os_user()
        if self.auth_mode == "shared":
            auth = headers.get("authorization", "")
            presented = auth[7:].strip().encode() if auth.lower().startswith("bearer ") else b""
            for name, token in self.tokens:
                if hmac.compare_digest(presented, token.encode()):
                    return "token:" + name
            return "token:unknown"
        if self.auth_mode == "per_user":
            key = headers.get(self.key_header, "").strip()
            return "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]
        return "http:anonymous"

    def policy(self, request: ServerRequestContext[Any] | None) -> Policy:
        if not self.policies.by_token:
            return self.policies.default
        return self.policies.for_actor(self.actor(request))


@functools.cache
def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


NO_TRUST = Trust()


def trust_of(ctx: ToolContext) -> Trust:
    return ctx.trust or NO_TRUST


@dataclass
class _Snapshot:
    """An assistant's stored settings as read, and from when journal entries must be laid over them."""

    settings: dict[str, Any]
    name: str | None
    overlay_since: str
    expires: float
    # What the journal says each field was last set to (value, finished), learned by asking it or
    # by applying a change here; valid while no other process has written since `version` (the
    # journal's version when it was last checked; None: the store cannot tell, so always ask).
    known: dict[str, tuple[Any, str]] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)
    version: int | None = None


async def before_values(
    ctx: ToolContext, assistant_id: int, fields: Sequence[str], *, fresh: bool = False, trust_known: bool = False
) -> tuple[dict[str, Before], str | None, int | None]:
    """What each field holds now, the assistant's name, and the journal version that holds for.

    The stored state is read from the API once (and kept for the lookups' TTL); every change this
    journal applied since that read is laid over it, so consecutive changes to one assistant need
    no new read and still see each other, across worker processes sharing the journal. A field the
    stored shape does not carry takes the journal's last applied value, else it is unknown.
    With `trust_known`, what this process already knows of the journal is used without asking
    whether another process wrote since: the caller passes the returned version to
    `JournalStore.begin`, which checks it in the same transaction as the write.
    """
    trust = trust_of(ctx)
    journal = await trust.ready()
    key = (ctx.api.key_fingerprint(), assistant_id)
    snap = trust.snapshots.get(key)
    if fresh or snap is None or snap.expires < time.monotonic():
        ttl = ctx.lookups.assistant_ttl
        # Read fresh, not from the lookups' cache: the row then holds everything applied before the
        # read started, and any edit made elsewhere, which an older journal value must not hide.
        # What the journal applies from then on is laid over it.
        ctx.lookups.forget_assistants()
        overlay_since = utc_now()
        row = await stored_row(ctx, assistant_id)
        settings = stored_to_update(row)[0] if row else {}
        snap = _Snapshot(settings, row.get("name") if row else None, overlay_since, time.monotonic() + ttl)
        if row is not None and journal is not None:
            if len(trust.snapshots) > _MAX_SNAPSHOTS:
                now = time.monotonic()
                trust.snapshots = {k: v for k, v in trust.snapshots.items() if v.expires >= now}
            trust.snapshots[key] = snap
    journaled = await _journaled(journal, snap, assistant_id, fields, trust_known)
    out: dict[str, Before] = {}
    for name in fields:
        value, finished = journaled.get(name, (None, ""))
        if name in journaled and (finished >= snap.overlay_since or name not in snap.settings):
            # Applied by this journal after the stored state was read, or not readable there at all.
            out[name] = Before(True, value, "journal")
        elif name in snap.settings:
            out[name] = Before(True, snap.settings[name], "stored")
        else:
            out[name] = Before(False)
    return out, snap.name, snap.version


_MAX_SNAPSHOTS = 1000


async def _journaled(
    journal: JournalStore | None, snap: _Snapshot, assistant_id: int, fields: Sequence[str], trust_known: bool
) -> dict[str, tuple[Any, str]]:
    """The journal's latest value per field, asked only when this process cannot know it already."""
    if journal is None:
        return {}
    missing = [f for f in fields if f not in snap.asked]
    if missing or not trust_known or snap.version is None:
        version = await journal.version()
        if version is None or version != snap.version:
            snap.known.clear()
            snap.asked.clear()
            missing = list(fields)
        if missing:
            snap.known.update(await journal.latest_values(assistant_id, missing))
            snap.asked.update(missing)
        snap.version = version
    return {f: snap.known[f] for f in fields if f in snap.known}


def _remember(trust: Trust, ctx: ToolContext, change: NewChange, outcome: str) -> None:
    """Keep the assistant's snapshot in step with a change this process sent."""
    key = (ctx.api.key_fingerprint(), change.assistant_id)
    snap = trust.snapshots.get(key)
    if snap is None or outcome in ("refused", "failed"):
        return
    if outcome != "applied":
        del trust.snapshots[key]  # the change may or may not have landed: read again next time
        return
    finished = utc_now()
    for name, value in change.fields.items():
        snap.known[name] = (value, finished)
        snap.asked.add(name)


@dataclass
class Applied:
    """What became of one change."""

    answer: Any
    change_id: str | None
    before: dict[str, Before]
    assistant_name: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Planned:
    """A change ready to send: the assistant, the fields, what they replace."""

    assistant_id: int
    fields: dict[str, Any]
    before: dict[str, Before]
    assistant_name: str | None
    # The journal version the before-values hold for; `send` has the journal check it.
    version: int | None = None

    def item(self) -> confirm.Item:
        lines = [
            (f, confirm.render(self.before[f].value, self.before[f].known), confirm.render(v))
            for f, v in self.fields.items()
        ]
        return confirm.Item(self.assistant_id, self.assistant_name, lines)


async def plan(
    ctx: ToolContext, assistant_id: int, fields: Mapping[str, Any], *, fresh: bool = False, trust_known: bool = False
) -> Planned:
    before, name, version = await before_values(ctx, assistant_id, list(fields), fresh=fresh, trust_known=trust_known)
    return Planned(assistant_id, dict(fields), before, name, version)


async def confirm_if_needed(ctx: ToolContext, planned: Sequence[Planned], verb: str = "Change") -> None:
    policy = policy_of(ctx)
    if any(policy.needs_confirmation(p.assistant_id, p.assistant_name, list(p.fields)) for p in planned):
        await confirm.ask(ctx.request, [p.item() for p in planned], verb, deadline=ctx.deadline)


async def apply_change(ctx: ToolContext, assistant_id: int, body: Mapping[str, Any]) -> Applied:
    """The update_assistant seam: plan, confirm if policy says so, then send with the journal."""
    if await trust_of(ctx).ready() is None and policy_of(ctx).rules.confirm == "never":
        # Nothing to record and no one to ask: the call costs what it did before the journal existed.
        return Applied(await ctx.api.update_assistant(assistant_id, body), None, {})
    # The journal's own check at `begin` stands in for asking its version first: one round fewer.
    planned = await plan(ctx, assistant_id, body, trust_known=True)
    await confirm_if_needed(ctx, [planned])
    return await send(ctx, planned)


def _outcome_of(exc: UpstreamError) -> str:
    """The journal's word for a failed call: the same honest outcome the agent is told."""
    if exc.outcome_unknown:
        return "unknown"  # the write may have landed: never recorded as failed
    return "failed" if isinstance(exc, UpstreamUnavailable) else "refused"


async def send(
    ctx: ToolContext, planned: Planned, *, change_set: str | None = None, undoes: str | None = None
) -> Applied:
    """Journal pending, call the API, journal the outcome: each in its own transaction."""
    trust = trust_of(ctx)
    journal = await trust.ready()
    change = NewChange(
        assistant_id=planned.assistant_id,
        fields=planned.fields,
        before=planned.before,
        actor=trust.actor(ctx.request),
        assistant_name=planned.assistant_name,
        change_set=change_set,
        undoes=undoes,
    )
    if journal is not None:
        try:
            if not await journal.begin(change, since=planned.version):
                # Another process wrote to the journal since the before-values were read: read them
                # again (its change may be to these fields) and record without the check.
                planned = await plan(ctx, planned.assistant_id, planned.fields)
                change = replace(change, before=planned.before)
                await journal.begin(change)
        except JournalError as exc:
            raise JournalUnavailable(
                "The change journal could not be written, so nothing was sent",
                hint=f"Fix the journal ({exc}) or set SONDOS_JOURNAL=off to run without one.",
            ) from exc
    outcome, detail = "unknown", None
    try:
        answer = await ctx.api.update_assistant(planned.assistant_id, planned.fields)
        outcome = "applied"
    except UpstreamError as exc:
        outcome, detail = _outcome_of(exc), exc.message
        raise
    except ConfigurationError as exc:
        outcome, detail = "failed", exc.message
        raise
    except InvalidArguments as exc:
        outcome, detail = "refused", exc.message
        raise
    finally:
        if journal is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await journal.finish(change.id, outcome, detail)
                except JournalError:
                    # The call itself is done; the entry stays pending and reads as unknown.
                    outcome, detail = "unknown", "journal"
                _remember(trust, ctx, change, outcome)
    warnings = ["the outcome could not be journaled; the entry reads as unknown"] if detail == "journal" else []
    return Applied(answer, change.id if journal else None, planned.before, planned.assistant_name, warnings)

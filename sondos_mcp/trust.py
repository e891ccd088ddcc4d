"""Trust: the journal (opened once, watched, pruned), the policies, who a caller is, and the leases
that give one change at a time to an assistant.

Nothing here knows MCP: the adapter hands in the caller's transport headers (None over stdio) and,
in HTTP oauth mode, the signed-in person.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from sondos_mcp.errors import AssistantBusy, JournalError, JournalUnavailable
from sondos_mcp.journal import JournalStore, open_journal
from sondos_mcp.journal.store import Lease, iso_utc
from sondos_mcp.policy import Policies, Policy, load_policies

if TYPE_CHECKING:
    from sondos_mcp.config import Settings
    from sondos_mcp.vault import Vault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Person:
    """A signed-in person (HTTP oauth mode), as their verified access token names them."""

    issuer: str
    subject: str  # `sub`: who they are (unique per issuer)
    display: str | None = None  # `email` or `preferred_username`, for people to read
    scopes: frozenset[str] = frozenset()
    groups: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """How storage names the person: a digest of issuer and subject."""
        return hashlib.sha256(f"{self.issuer}\x00{self.subject}".encode()).hexdigest()[:32]

    @property
    def actor(self) -> str:
        return f"oauth:{self.subject[:200]}" + (f" ({self.display})" if self.display else "")


@dataclass(frozen=True)
class Caller:
    """Who is asking, and the account whose state they may see (a fingerprint of the API key the
    call is made with; for a signed-in person, of that key and the person together): every read of
    the journal and of cached state is scoped to it. `upstream` is the key's own fingerprint: the
    leases are taken on it, so everyone changing one assistant with one key takes turns."""

    actor: str
    account: str
    policy: Policy
    upstream: str = ""

    @property
    def lease_account(self) -> str:
        return self.upstream or self.account


@dataclass
class Held:
    """A lease being held: `lease` is None without a journal (the in-process lock is then all)."""

    lease: Lease | None
    released: bool = False


PRUNE_EVERY = 3600.0  # seconds between two prunes of a long-running server's journal


@dataclass
class Trust:
    """The journal, the policies and how callers are named; one per server process."""

    journal: JournalStore | None = None
    policies: Policies = field(default_factory=Policies)
    auth_mode: str = "none"
    tokens: Sequence[tuple[str, str]] = ()
    pending_after: float = 120.0
    key_header: str = "X-Sondos-Api-Key"
    # A lease outlives the longest call that could hold it; a crashed holder's lease then lapses.
    lease_ttl: float = 60.0
    # How long a change waits for another change to the same assistant before giving up.
    lease_wait: float = 10.0
    retention_days: float | None = None
    # The per-person key vault beside the journal (HTTP oauth mode), else None.
    vault: Vault | None = None
    # Why the configured journal could not be opened: the server still reads, but sends no change.
    journal_error: str | None = None
    _opened: bool = field(default=False, repr=False)
    _opening: anyio.Lock = field(default_factory=anyio.Lock, repr=False)
    _pruned: float = field(default=float("-inf"), repr=False)
    _locks: dict[tuple[str, int], tuple[anyio.Lock, int]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, policies: Policies | None = None) -> Trust:
        """The policies now (`policies`: as start-up already read and checked them, else read here);
        the journal is only configured here and opened on first use (`ready`), so that start-up,
        which desktop clients wait for on every launch, does not pay for it."""
        if policies is None:
            policies = load_policies(settings.policy) if settings.policy is not None else Policies()
        tokens = settings.named_tokens() if settings.auth_mode == "shared" else []
        trust = cls(
            open_journal(settings),
            policies,
            settings.auth_mode,
            tokens,
            settings.journal_pending_after,
            settings.http_key_header,
            lease_ttl=settings.deadline + 30.0,
            lease_wait=settings.deadline,
            retention_days=settings.journal_retention_days,
        )
        if settings.auth_mode == "oauth" and settings.vault_key is not None and settings.public_url is not None:
            from sondos_mcp.config import vault_key_bytes
            from sondos_mcp.vault import Vault

            master = vault_key_bytes(settings.vault_key.get_secret_value())
            assert master is not None  # the settings checked its form
            trust.vault = Vault(master, api=settings.api_base, audience=settings.resource_url, store=trust.ready)
        return trust

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
                        log.error("the change journal cannot be opened, so no change will be sent: %s", exc.message)
                        await self.journal.aclose()
                        self.journal, self.journal_error = None, exc.message
                self._opened = True
        if self.journal_error is not None:
            raise JournalUnavailable(
                "The change journal cannot be opened, so nothing is sent",
                hint=f"{self.journal_error}. Fix SONDOS_JOURNAL / SONDOS_JOURNAL_URL, or set SONDOS_JOURNAL=off "
                "to run without a journal, then restart the server.",
            )
        if self.journal is not None and self.retention_days and time.monotonic() - self._pruned > PRUNE_EVERY:
            self._pruned = time.monotonic()
            cutoff = iso_utc(datetime.now(UTC) - timedelta(days=self.retention_days))
            pruned = await self.journal.prune(cutoff)
            if pruned:
                log.info("journal: %d entries older than %g days pruned", pruned, self.retention_days)
        return self.journal

    async def aclose(self) -> None:
        if self.journal is not None:
            await self.journal.aclose()

    def caller(self, headers: Mapping[str, str] | None, account: str, person: Person | None = None) -> Caller:
        if person is not None:
            # One person's journal is theirs alone, even beside someone who enrolled the same key.
            mine = hashlib.sha256(f"{account}\x00{person.id}".encode()).hexdigest()[:16] if account else ""
            return Caller(person.actor, mine, self.policies.for_person(person.groups, person.scopes), upstream=account)
        actor = self.actor(headers)
        policy = self.policies.for_actor(actor) if self.policies.by_token else self.policies.default
        return Caller(actor, account, policy)

    def actor(self, headers: Mapping[str, str] | None) -> str:
        """Who is asking: the local OS user (stdio), the token's name, or a fingerprint of the caller's key."""
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

    @asynccontextmanager
    async def hold(self, account: str, assistant_id: int) -> AsyncIterator[Held]:
        """One change at a time to one assistant of one account: in this process by a lock, across
        processes and replicas by the journal's lease. Waits at most `lease_wait`."""
        key = (account, assistant_id)
        # Taken without a trip through the event loop when free (the usual case): no cost to a lone change.
        lock, users = self._locks.get(key) or (anyio.Lock(fast_acquire=True), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                journal = await self.ready()
                held = Held(None if journal is None else await self._acquire(journal, account, assistant_id))
                try:
                    yield held
                finally:
                    if held.lease is not None and not held.released and journal is not None:
                        with anyio.CancelScope(shield=True):
                            try:
                                await journal.release(held.lease, sent=False)
                            except JournalError as exc:
                                log.warning("journal: a lease could not be released (it lapses): %s", exc.message)
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _acquire(self, journal: JournalStore, account: str, assistant_id: int) -> Lease:
        holder = secrets.token_hex(8)
        pause, waited = 0.002, 0.0
        while True:
            lease = await journal.acquire(account, assistant_id, holder, self.lease_ttl)
            if lease is not None:
                return lease
            if waited >= self.lease_wait:
                raise AssistantBusy(
                    f"Another change to assistant {assistant_id} has been in progress for {waited:.0f} s; "
                    "nothing was sent",
                    hint="Try again in a moment; list_changes shows the change in progress.",
                )
            await anyio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.05)


@functools.cache
def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"

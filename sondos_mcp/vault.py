"""Per-person Sondos keys, sealed beside the journal, and the enrolment tickets that let a person store one.

HTTP oauth mode only (the `oauth` extra: `cryptography` and PyJWT, imported here and nowhere else).
A key is sealed with AES-GCM under a key derived from `SONDOS_VAULT_KEY`; the sealed text is bound
(as associated data) to the API and the person it belongs to, so a row copied to another person
or another API does not open. A person is named in storage by a digest of issuer and subject,
never by either.

An enrolment ticket is a short JWT (HS256 under a second key derived from the same vault key, so
every replica sharing the vault key reads it): bound to the person and to this server, valid for
ten minutes, spent once: its id goes into the store in the same transaction that stores the key,
and a second use finds it there.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from sondos_mcp import telemetry
from sondos_mcp.journal import JournalStore

log = logging.getLogger(__name__)

TICKET_SECONDS = 600
_SEAL_VERSION = "v1"
_TICKET_TYPE = "sondos-enrol+jwt"


def _derive(master: bytes, purpose: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sondos-mcp " + purpose).derive(master)


class VaultUnavailable(Exception):
    """There is no journal store to keep keys in (it is off, or could not be opened)."""


@dataclass(frozen=True)
class Ticket:
    """A verified enrolment ticket: whose it is, its id (spent once) and when it lapses."""

    person: str
    id: str
    expires: float


Store = Callable[[], Awaitable[JournalStore | None]]


class Vault:
    """Seals, stores, opens and forgets per-person keys; issues and reads enrolment tickets."""

    def __init__(self, master: bytes, *, api: str, audience: str, store: Store) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(_derive(master, b"key vault v1"))
        self._ticket_key = _derive(master, b"enrolment tickets v1")
        self._api = api
        self._audience = audience  # this server's resource: a ticket is good here only
        self._store = store
        self._counted = False  # the enrolled-people gauge is read from the store once, then on each change

    def __repr__(self) -> str:
        return "Vault()"

    async def _ready(self) -> JournalStore:
        store = await self._store()
        if store is None:
            raise VaultUnavailable("the key vault lives beside the journal, and the journal is off")
        if not self._counted:
            self._counted = True
            await self._report(store)
        return store

    async def _report(self, store: JournalStore) -> None:
        telemetry.set_enrolled_people(await store.people())  # a metric when metrics are on; else nothing

    # --- sealing ---

    def _aad(self, person: str) -> bytes:
        return f"sondos-mcp vault {_SEAL_VERSION}\x00{self._api}\x00{person}".encode()

    def seal(self, person: str, key: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, key.encode(), self._aad(person))
        return f"{_SEAL_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def unseal(self, person: str, sealed: str) -> str | None:
        """The key, or None when it does not open (another vault key, another person's row, tampered)."""
        from cryptography.exceptions import InvalidTag

        version, _, body = sealed.partition(".")
        if version != _SEAL_VERSION:
            return None
        try:
            raw = base64.urlsafe_b64decode(body)
            return self._aead.decrypt(raw[:12], raw[12:], self._aad(person)).decode()
        except (InvalidTag, ValueError):
            return None

    # --- the store ---

    async def key_of(self, person: str) -> SecretStr | None:
        sealed = await (await self._ready()).sealed_key(person)
        if sealed is None:
            return None
        key = self.unseal(person, sealed)
        if key is None:
            log.warning("vault: a stored key does not open with SONDOS_VAULT_KEY; its owner is asked to enrol again")
            return None
        return SecretStr(key)

    async def enrol(self, ticket: Ticket, key: str | None) -> bool:
        """Store `key` for the ticket's person (None: forget theirs) and spend the ticket, in one
        transaction; False, storing nothing, when the ticket was spent already."""
        sealed = None if key is None else self.seal(ticket.person, key)
        store = await self._ready()
        stored = await store.enrol(ticket.id, ticket.expires, ticket.person, sealed)
        await self._report(store)
        return stored

    async def forget(self, person: str) -> bool:
        store = await self._ready()
        forgotten = await store.forget_key(person)
        await self._report(store)
        return forgotten

    async def people(self) -> int:
        return await (await self._ready()).people()

    # --- tickets ---

    def issue(self, person: str, *, now: float | None = None) -> str:
        import jwt

        issued = int(time.time() if now is None else now)
        claims = {
            "sub": person,
            "aud": self._audience,
            "jti": secrets.token_urlsafe(12),
            "iat": issued,
            "exp": issued + TICKET_SECONDS,
        }
        return jwt.encode(claims, self._ticket_key, algorithm="HS256", headers={"typ": _TICKET_TYPE})

    def read(self, text: str) -> Ticket | None:
        """The ticket if it is one of ours, for this server, unexpired; None otherwise (spent is checked on use)."""
        import jwt

        if len(text) > 1024:
            return None
        try:
            if jwt.get_unverified_header(text).get("typ") != _TICKET_TYPE:
                return None
            claims: dict[str, Any] = jwt.decode(
                text,
                self._ticket_key,
                algorithms=["HS256"],
                audience=self._audience,
                options={"require": ["sub", "aud", "jti", "exp", "iat"]},
            )
        except jwt.PyJWTError:
            return None
        if not all(isinstance(claims.get(k), str) for k in ("sub", "jti")):
            return None
        return Ticket(claims["sub"], claims["jti"], float(claims["exp"]))

"""A PostgreSQL journal URL: its shape, the secrets it carries, where it points; nothing imported.

Config checks the shape when settings are read, logging redacts the secrets, the PostgreSQL store
names the place in its errors: all from here, and none of it ever repeats the URL (it may carry a
password).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

JOURNAL_URL = "SONDOS_JOURNAL_URL"
SCHEMES = ("postgresql", "postgres")
URL_SHAPE = "postgresql://user:password@host/database"
# The PostgreSQL driver's loggers; a logger's filters do not reach its children, so each is named.
DRIVER_LOGGERS = ("psycopg", "psycopg.pq", "psycopg.pool")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,20})://")


def url_problem(url: str) -> str | None:
    """Why this is not a PostgreSQL URL with a host, or None. Never quotes the URL."""
    scheme = _SCHEME.match(url)
    if scheme is None or scheme[1].lower() not in SCHEMES:
        found = f", not {scheme[1]}://" if scheme else ""
        return f"must be a postgresql:// or postgres:// URL such as {URL_SHAPE}{found}"
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
    except ValueError:
        return f"is not a valid URL (expected {URL_SHAPE}; percent-encode special characters in the password)"
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts and not any(h.strip() for h in query.get("host", []) + query.get("hostaddr", [])):
        return f"must name a host: {URL_SHAPE}, or ?host=/socket/directory"
    for host in hosts.split(",") if hosts else []:
        name, port = _host_port(host)
        if name is None:
            return f"is not a valid URL (expected {URL_SHAPE}; percent-encode special characters in the password)"
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            return "has a port that is not a number from 1 to 65535"
    return None


def _host_port(host: str) -> tuple[str | None, str]:
    """`host[:port]` or `[v6]:port` split; (None, '') when it is neither."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not host[end + 1 :].startswith(":")):
            return None, ""
        return host[1:end], host[end + 2 :]
    name, _, port = host.partition(":")
    return name, port


def url_secrets(url: str) -> list[str]:
    """What of the URL must never be shown: the URL itself and its password, as written and decoded."""
    found = [url]
    try:
        parts = urlsplit(url)
        passwords = [parts.password or "", *parse_qs(parts.query).get("password", [])]
    except ValueError:
        # Too broken to parse: whatever sits between the last ':' and '@' of the authority.
        authority = url.partition("://")[2].rpartition("@")[0]
        passwords = [authority.partition(":")[2]] if authority else []
    for password in passwords:
        found += [password, unquote(password)]
    return [s for s in dict.fromkeys(found) if s]


def place(url: str) -> str:
    """Where the URL points (hosts and port, or the socket directory), without user or password."""
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
    except ValueError:
        return "the configured server"
    hosts = parts.netloc.rpartition("@")[2]
    if hosts:
        return unquote(hosts)
    host = ",".join(query.get("host", []) + query.get("hostaddr", []))
    port = ",".join(query.get("port", []))
    return f"{host} (port {port})" if port else host

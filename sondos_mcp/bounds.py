"""Size bounds on what comes in (a call's arguments) and what goes out (a tool result).

Both ends can be hostile: an agent (or whoever drives it) can send 20,000 fields, and an
upstream can answer with a million rows. Arguments past the bounds are refused before any work
is done; a result past its cap is cut down, saying what was left out and how to ask for less.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mcp_types import CallToolResult, TextContent

from sondos_mcp.feedback import Notice, Problem

# C0 and C1 controls (newline and tab are layout, kept), and the bidi embeddings, overrides and
# isolates that can make text read differently from what it holds. The plain direction marks
# (U+200E, U+200F, U+061C) are left alone: Arabic assistant names legitimately carry them.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def escape_text(text: str) -> str:
    """`text` with control and bidi-override characters shown as `\\uXXXX`, so they cannot act."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8_size(text: str, limit: int) -> int:
    """`text`'s length in UTF-8 bytes (a lone surrogate, which JSON can carry, as 3), or any number
    above `limit` once it is sure to be: never encodes more than `limit` characters."""
    if text.isascii() or len(text) > limit:  # at least a byte a character: already past it
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def argument_problem(arguments: Any, *, max_values: int, max_depth: int, max_bytes: int) -> Problem | None:
    """Why `arguments` are too big to look at (None if they are not); bounded work, no recursion.

    Text is counted in UTF-8 bytes, as it travels: 'ع' is 2, '😀' 4.
    """
    stack: list[tuple[Any, int]] = [(arguments, 1)]
    values = size = 0
    texts: list[str] = []  # non-ASCII keys and values, looked at once the size is known to be bounded
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return _too_large(f"are nested deeper than {max_depth} levels")
        if isinstance(value, dict):
            values += len(value)
            if values <= max_values:
                for key in value:
                    size += _utf8_size(key, max_bytes - size)
                    if size > max_bytes:
                        break
                    if not key.isascii():
                        texts.append(key)
                stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            values += len(value)
            if values <= max_values:
                stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str):
            size += _utf8_size(value, max_bytes - size)
            if not value.isascii():
                texts.append(value)
        if values > max_values:
            return _too_large(f"hold more than {max_values} values (fields and list items, nested)")
        if size > max_bytes:
            return _too_large(f"hold more than {max_bytes} bytes of text")
    if any(_SURROGATE.search(text) for text in texts):
        # JSON can carry a lone surrogate (\ud800); no text holds one, and nothing downstream
        # (the checks' echo of the value, the request to the API) could encode it.
        return Problem(
            field="(arguments)",
            code="invalid_text",
            message="the arguments hold text that is not valid Unicode (a lone surrogate such as \\ud800); "
            "nothing was checked or sent. Send the text as it was meant, in UTF-8.",
        )
    return None


def _too_large(what: str) -> Problem:
    return Problem(
        field="(arguments)",
        code="too_large",
        message=f"the arguments {what}; nothing was checked or sent. Send only the fields to change.",
    )


# --- the result cap ----------------------------------------------------------------------------


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


class _Cutter:
    """Shrinks a JSON value to a byte budget, remembering what it left out."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def shrink(self, value: Any, budget: int, path: str) -> Any:
        size = _size(value)
        if size <= budget:
            return value
        if isinstance(value, str):
            keep = max(0, budget // 4)  # a character is up to 4 bytes in UTF-8; stay safely under
            self.notes.append(f"{path}: text cut to {keep} of {len(value)} characters")
            return value[:keep] + "…"
        if isinstance(value, list):
            kept: list[Any] = []
            used = 2
            for item in value:
                item_size = _size(item) + 1
                if used + item_size > budget:
                    break
                kept.append(item)
                used += item_size
            if not kept and value:
                kept = [self.shrink(value[0], budget - 2, f"{path}[0]")]
            if len(kept) < len(value):
                self.notes.append(f"{path}: {len(value) - len(kept)} of {len(value)} items left out")
            return kept
        if isinstance(value, dict):
            sizes = sorted(((_size(v), k) for k, v in value.items()), key=lambda pair: pair[0])
            remaining = budget - 2 - sum(_size(k) + 2 for k in value)
            out: dict[str, Any] = {}
            for i, (item_size, key) in enumerate(sizes):
                share = max(0, remaining // (len(sizes) - i))
                item = value[key] if item_size <= share else self.shrink(value[key], share, f"{path}.{key}")
                out[key] = item
                remaining -= min(item_size, _size(item))
            return {k: out[k] for k in value}
        return value


def cap_result(result: CallToolResult, max_bytes: int) -> CallToolResult:
    """The result itself if it fits in `max_bytes` (structured JSON plus text), else a cut-down copy."""
    structured = result.structured_content
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    if (_size(structured) if structured is not None else 0) + len(text.encode()) <= max_bytes:
        return result
    cutter = _Cutter()
    reserve = 2048  # for the notes saying what was cut
    text_budget = (max_bytes - reserve) // 4
    if structured is not None:
        structured = cutter.shrink(structured, max_bytes - reserve - text_budget, "result")
    lines: list[str] = []
    used, left_out = 0, 0
    for line in text.split("\n"):
        size = len(line.encode()) + 1
        if used + size > text_budget:
            if not lines:
                lines.append(line[: text_budget // 4] + "…")
            left_out += 1
            continue
        lines.append(line)
        used += size
    note = (
        f"Result cut to the {max_bytes}-byte cap (SONDOS_MAX_RESULT_BYTES)"
        + (f"; {left_out} line(s) of text left out" if left_out else "")
        + ". Ask for less: a smaller per_page, the next page, or a filter."
    )
    notes = [note, *cutter.notes[:10]]
    notices = [Notice(code="result_cut", message=n).model_dump(mode="json") for n in notes]
    if structured is not None:
        earlier = structured.get("warnings")
        earlier = [w for w in earlier[:10] if isinstance(w, dict)] if isinstance(earlier, list) else []
        structured["warnings"] = [*earlier, *notices]
    lines += notes
    text = "\n".join(lines)
    if structured is not None and _size(structured) + len(text.encode()) > max_bytes:
        # Escaped characters can outgrow the estimate: keep only the outcome itself, which is small.
        essentials = ("ok", "message", "applied", "id", "error")
        structured = {k: structured[k] for k in essentials if k in structured} | {"warnings": notices[:1]}
        structured = cutter.shrink(structured, max_bytes // 2, "result")
        text = text[: max_bytes // 8]
    return CallToolResult(content=[TextContent(text=text)], structured_content=structured, is_error=result.is_error)


def escape_result(result: CallToolResult) -> CallToolResult:
    """The result with its text escaped (see `escape_text`); structured content stays data."""
    blocks = [
        TextContent(text=escape_text(block.text)) if isinstance(block, TextContent) else block
        for block in result.content
    ]
    return CallToolResult(content=blocks, structured_content=result.structured_content, is_error=result.is_error)

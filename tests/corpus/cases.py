"""The case recorder the corpus builders share: each case is a proposal and the outcome it should get."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

DEFAULT = object()


class Corpus:
    """Collects cases in order; `write` numbers them into a JSONL file.

    With `default_id`, proposals are written without their `id` and get it here (the tuning
    corpus); without, each proposal is written whole (the held-out sets). With `notes`, every case
    carries a note saying what mistake it plays.
    """

    def __init__(self, default_id: int | None = None, *, notes: bool = False) -> None:
        self.cases: list[dict[str, Any]] = []
        self.default_id = default_id
        self.notes = notes

    def _with_id(self, args: dict[str, Any], aid: Any) -> dict[str, Any]:
        aid = self.default_id if aid is DEFAULT else aid
        return ({"id": aid} if aid is not None else {}) | args

    def _add(self, case: dict[str, Any], note: str) -> None:
        self.cases.append(case | ({"note": note} if self.notes else {}))

    def valid(self, args: dict[str, Any], note: str = "") -> None:
        self._add({"category": "valid", "args": self._with_id(args, DEFAULT)}, note)

    def repair(self, args: dict[str, Any], suggested: dict[str, Any], note: str = "", aid: Any = DEFAULT) -> None:
        case = {"category": "repair", "args": self._with_id(args, aid), "suggested": self._with_id(suggested, aid)}
        self._add(case, note)

    def ambiguous(
        self, args: dict[str, Any], field: str, note: str = "", includes: list[Any] | None = None, aid: Any = DEFAULT
    ) -> None:
        case = {"category": "ambiguous", "args": self._with_id(args, aid), "field": field}
        if self.notes:
            case["note"] = note
        self.cases.append(case | ({"includes": includes} if includes is not None else {}))

    def refuse(
        self, args: dict[str, Any], note: str = "", aid: Any = DEFAULT, fixes: dict[str, Any] | None = None
    ) -> None:
        """`fixes`: problems the refusal must still name with their fix (the fixable part of a proposal
        refused whole), by the fixed field's dotted path."""
        case = {"category": "refuse", "args": self._with_id(args, aid)}
        self._add(case | ({"fixes": fixes} if fixes is not None else {}), note)

    def write(self, out: Path) -> None:
        with out.open("w", encoding="utf-8") as fh:
            for i, case in enumerate(self.cases, 1):
                fh.write(json.dumps({"case": i} | case, ensure_ascii=False) + "\n")
        print(out, len(self.cases), dict(Counter(case["category"] for case in self.cases)))

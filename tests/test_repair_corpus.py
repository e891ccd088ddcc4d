"""The repair figures on the corpora of mistaken proposals, held through a real MCP session."""

from __future__ import annotations

import pytest
from mcp import Client

from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import make_settings
from tests.repair_corpus import CORPUS_DIR, Score, load, run

pytestmark = pytest.mark.anyio

# What the corpora reach today; a change that lowers a figure fails here.
FLOORS = {
    "repair.jsonl": {"valid": 1.0, "repair": 1.0, "ambiguous": 1.0, "refuse": 1.0},
    "held_out.jsonl": {"valid": 1.0, "repair": 0.9, "ambiguous": 1.0, "refuse": 1.0},
    "held_out_2.jsonl": {"valid": 1.0, "repair": 0.9, "ambiguous": 1.0, "refuse": 1.0},
    "held_out_3.jsonl": {"valid": 1.0, "repair": 0.9, "ambiguous": 1.0, "refuse": 1.0},
    "held_out_4.jsonl": {"valid": 1.0, "repair": 0.9, "ambiguous": 1.0, "refuse": 1.0},
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def scores() -> dict[str, Score]:
    out: dict[str, Score] = {}
    for name in FLOORS:
        with SandboxServer() as sandbox:
            async with Client(build_server(make_settings(sandbox.base_url))) as client:
                out[name] = await run(client, sandbox, load(name))
    return out


def test_corpus_is_big_and_covers_every_outcome():
    """The tuning corpus has 500+ proposals, 30+ valid ones, and ambiguous and unrepairable ones."""
    cases = load("repair.jsonl")
    kinds = {c["category"] for c in cases}
    assert len(cases) >= 500
    assert sum(c["category"] == "valid" for c in cases) >= 30
    assert kinds == {"valid", "repair", "ambiguous", "refuse"}
    assert all((CORPUS_DIR / name).exists() for name in FLOORS)


@pytest.mark.parametrize("name", sorted(FLOORS))
async def test_no_suggestion_is_ever_wrong(scores: dict[str, Score], name: str):
    """No suggestion differs from the intended arguments, is offered for an ambiguous or unrepairable
    proposal, or is refused when adopted."""
    assert scores[name].wrong_suggestions == []


@pytest.mark.parametrize("name", sorted(FLOORS))
async def test_every_invalid_proposal_is_refused_and_nothing_sent(scores: dict[str, Score], name: str):
    """Every proposal that is not valid as sent is refused, and the sandbox receives no PUT for it."""
    score = scores[name]
    assert score.invalid > 0
    assert score.refused_unsent == score.invalid


@pytest.mark.parametrize(
    ("name", "category"), [(name, category) for name, floors in FLOORS.items() for category in floors]
)
async def test_outcome_rates_hold(scores: dict[str, Score], name: str, category: str):
    """Valid forwarded exactly, single-reading mistakes repaired in one round, ambiguous ones answered
    with candidates, unrepairable ones refused: each at least the rate reached."""
    score = scores[name]
    misses = [f for f in score.failures if f" {category} " in f]
    assert score.rate(category) >= FLOORS[name][category], misses

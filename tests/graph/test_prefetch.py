"""A page of patients' relations prefetched before graphql-core walks it (resolvers/prefetch.py) gives the answer
the resolvers' own loads give — the chart and variants of it, byte for byte — with no more store calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from resolvers import access, prefetch
from tests.graph.conftest import GQL
from tests.graph.queries import NESTED

VARIANTS = {
    "chart": NESTED % 50,
    "summary": "{ patients(first: 40) { edges { node { id medicalSummary { alerts { name fromFamilyMember } "
               "latestVitals { pulse abnormalFlags { vital } } activeProblems { name } } } } } }",
    "family whole": "{ patients(first: 40) { edges { node { id family { guarantor { id dateOfBirth } "
                    "members { id status } relationships { relationshipType relatedPatient { id lastName } } } } } } }",
    "family names": "{ patients(first: 40) { edges { node { id family { members { id firstName } "
                    "guardians { patientName relatedPatient { id firstName } } } } } } }",
    "appointments": "{ patients(first: 30) { edges { node { id appointments(first: 2) { totalCount edges { node { id "
                    "practitioner { id name } } } } episodes(first: 2) { edges { node { id appointments(first: 1) { "
                    "edges { node { id start practitioner { id } } } } } } } } } } }",
    "observations": "{ patients(first: 50) { edges { node { id lastName vitalSigns { edges { node { id dateTaken "
                    "pulse } } } latestVitalsDate } } } }",
    "episodes only": "{ patients(first: 30, after: null) { edges { node { id episodes(first: 3) { totalCount "
                     "edges { node { id status } } } } } } }",
    "fragment": "{ patients(first: 30) { edges { node { ...P } } } } "
                "fragment P on Patient { id medicalSummary { allergies { allergen } } family { members { id } } }",
    "inline fragment": "{ patients(first: 30) { edges { node { id ... on Patient { family { members { id } } } "
                       "appointments(first: 3) { edges { node { id } } } } } } }",
}


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """``plain(True)``: the page's relations are left to their resolvers (the app runs in this process)."""
    real = prefetch.prefetch

    async def nothing(*args: Any) -> None:
        return None

    def switch(on: bool) -> None:
        monkeypatch.setattr(prefetch, "prefetch", nothing if on else real)

    return switch


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The store calls of the operation's loaders, by kind and type."""
    made: list[str] = []
    for name in ("find_by_reference", "read_many", "search"):
        real = getattr(access.Guarded, name)

        def counted(self: Any, principal: Any, rt: str, *args: Any, _real: Any = real, _name: str = name,
                    **kw: Any) -> Any:
            made.append(f"{_name} {rt}")
            return _real(self, principal, rt, *args, **kw)

        monkeypatch.setattr(access.Guarded, name, counted)
    return made


@pytest.mark.parametrize("name", list(VARIANTS))
async def test_a_prefetched_page_answers_what_its_resolvers_load(demo: GQL, plain: Callable[[bool], None],
                                                                   calls: list[str], name: str) -> None:
    query = VARIANTS[name]
    plain(True)
    before = await demo.post(query)
    made_plain = sorted(calls)
    calls.clear()
    plain(False)
    after = await demo.post(query)
    assert before.status_code == after.status_code == 200
    assert "errors" not in after.json(), after.json()
    assert after.content == before.content
    assert len(calls) <= len(made_plain), "\n".join(map(str, (sorted(calls), made_plain)))  # no extra call


@pytest.mark.parametrize(("name", "expected"), [
    ("chart", prefetch.Wanted(summary=True, family=True, names=True, episodes=True, appointments=True,
                              practitioners=True)),
    ("family whole", prefetch.Wanted(family=True)),
    ("summary", prefetch.Wanted(summary=True, names=True)),
    ("episodes only", prefetch.Wanted(episodes=True, names=True)),
    ("observations", prefetch.Wanted(names=True, observations=True)),
    ("fragment", prefetch.Wanted()),
    ("inline fragment", prefetch.Wanted()),
])
async def test_the_selection_says_what_is_prefetched(demo: GQL, monkeypatch: pytest.MonkeyPatch, name: str,
                                                     expected: prefetch.Wanted) -> None:
    seen: list[prefetch.Wanted] = []
    real = prefetch.prefetch

    async def spied(ctx: Any, pids: list[str], want: prefetch.Wanted) -> None:
        seen.append(want)
        await real(ctx, pids, want)

    monkeypatch.setattr(prefetch, "prefetch", spied)
    assert (await demo.post(VARIANTS[name])).status_code == 200
    assert seen == [expected]

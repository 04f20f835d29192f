"""store/client.py ``build_indexes_now``: devdb answers the build in one go and answers nothing else meanwhile, so
on a loaded machine the driver may cancel the command's connection while devdb goes on building; the command is
asked again (it has less left each time), and a real MongoDB (no such command) is left alone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

from store.client import BUILD_INDEXES_ATTEMPTS, build_indexes_now
from store.errors import Unavailable


class _Db:
    def __init__(self, *answers: Any):
        self.answers = list(answers)
        self.asked = 0

    async def command(self, name: str, value: int) -> dict[str, Any]:
        assert (name, value) == ("fhirgraphBuildIndexes", 1)
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return dict(answer)


def _handle(db: _Db) -> Any:
    return SimpleNamespace(repo=SimpleNamespace(db=db))


async def test_a_cancelled_build_is_asked_again_until_it_answers() -> None:
    db = _Db(AutoReconnect("connection cancelled"), AutoReconnect("again"), {"collections": 3, "seconds": 0.1})
    await build_indexes_now(_handle(db))
    assert db.asked == 3


async def test_a_build_that_never_answers_is_unavailable_after_its_attempts() -> None:
    db = _Db(*[AutoReconnect("down")] * BUILD_INDEXES_ATTEMPTS)
    with pytest.raises(Unavailable, match="Cannot build the indexes"):
        await build_indexes_now(_handle(db))
    assert db.asked == BUILD_INDEXES_ATTEMPTS


async def test_a_real_mongodb_has_nothing_to_build() -> None:
    db = _Db(OperationFailure("no such command", code=59))
    await build_indexes_now(_handle(db))
    assert db.asked == 1


async def test_another_command_failure_is_not_retried() -> None:
    db = _Db(OperationFailure("unauthorized", code=13))
    with pytest.raises(Unavailable):
        await build_indexes_now(_handle(db))
    assert db.asked == 1

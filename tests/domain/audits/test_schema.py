"""The strict step schema sent with every model call: strict where OpenAI requires it, built once."""

from __future__ import annotations

from typing import Any

import pytest

from domain.audits import schema
from domain.audits.schema import StepOutput, step_json_schema


def test_every_object_is_strict_and_inlined() -> None:
    built = step_json_schema()
    assert "$defs" not in built
    assert built["additionalProperties"] is False
    assert built["required"] == list(built["properties"])
    point = built["properties"]["points_controle"]["items"]
    assert point["type"] == "object"
    assert point["additionalProperties"] is False
    assert point["required"] == list(point["properties"])
    assert "minimum" not in built["properties"]["score"]  # strict mode rejects numeric bounds


def test_the_schema_is_generated_once_and_each_caller_gets_its_own_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    generated = StepOutput.model_json_schema
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return generated(*args, **kwargs)

    monkeypatch.setattr(StepOutput, "model_json_schema", counted)
    schema._step_json_schema.cache_clear()
    first = step_json_schema()
    first["properties"].pop("score")
    first["required"].append("tampered")
    second, third = step_json_schema(), step_json_schema()
    assert len(calls) == 1
    assert "score" in second["properties"]
    assert "tampered" not in second["required"]
    assert second == third
    assert second is not third

"""`callaudit products import|export` against the test database, as a user runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from callaudit.cli import app
from callaudit.demo_crm.catalogue import demo_catalogue
from domain.models import ProductGroupe


@pytest.fixture
def cli_env(database_url: str, redis_url: str, sync_engine: Engine, tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CALLAUDIT_HOME": str(tmp_path / "home")}
    with sync_engine.begin() as connection:  # the CLI commits: leave the shared database as it was
        connection.execute(delete(ProductGroupe))


def test_import_twice_then_export_round_trips(cli_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "catalogue.json"
    source.write_text(json.dumps(demo_catalogue()), encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(app, ["products", "import", str(source), "--json"], env=cli_env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["created"]["formules"] == 20
    second = runner.invoke(app, ["products", "import", str(source), "--json"], env=cli_env)
    assert json.loads(second.output)["unchanged"] == {"groupes": 4, "gammes": 5, "formules": 20}
    exported = tmp_path / "export.json"
    result = runner.invoke(app, ["products", "export", "--output", str(exported)], env=cli_env)
    assert result.exit_code == 0, result.output
    document = json.loads(exported.read_text(encoding="utf-8"))
    assert document["format"] == "callaudit.products/1"
    assert sorted(g["code"] for g in document["groupes"]) == ["AX", "HE", "MU", "PR"]


def test_invalid_document_exits_2_naming_each_field(cli_env: dict[str, str], tmp_path: Path) -> None:
    document = demo_catalogue()
    document["groupes"][0]["code"] = "MUT"
    document["groupes"][1]["gammes"][0]["formules"][0]["garanties_html"] = "ftp://nope"
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    result = CliRunner().invoke(app, ["products", "import", str(source)], env=cli_env)
    assert result.exit_code == 2
    assert "groupes[0].code" in result.output
    assert "groupes[1].gammes[0].formules[0].garanties_html" in result.output
    not_json = tmp_path / "broken.json"
    not_json.write_text("{", encoding="utf-8")
    broken = CliRunner().invoke(app, ["products", "import", str(not_json)], env=cli_env)
    assert broken.exit_code == 2
    assert "is not JSON" in broken.output

"""Configuration keeps the original system's names and defaults and fails loudly on bad values."""

from __future__ import annotations

import pytest

from callaudit.settings import Settings, SettingsError, load_settings

ENV_NAMES = [
    "DATABASE_URL", "REDIS_URL", "FICHE_FETCH_CONCURRENCY", "FICHE_API_URL", "FICHE_API_BASE_URL",
    "OPENAI_MODEL", "OPENAI_MODEL_CHAT", "CORS_ORIGINS", "CALLAUDIT_ENV", "JWT_ACCESS_SECRET",
    "AUTOMATION_SCHEDULER_CRON", "SALES_TIMEZONE", "FICHE_NOT_FOUND_TTL_MS", "WEBHOOK_ALLOWED_ORIGINS",
    "API_AUTH_TOKENS", "API_AUTH_TOKEN", "DAGSTER_WEBSERVER_PORT", "DAGSTER_WEBSERVER_URL",
    "AUTOMATION_MAX_RECORDINGS_PER_FICHE", "LLM_PRICES",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_original_system() -> None:
    s = load_settings()
    assert s.automation_scheduler_cron == "*/1 * * * *"
    assert s.fiche_force_refresh_cooldown_ms == 30 * 60 * 1000
    assert s.fiche_sales_search_concurrency == 1
    assert s.fiche_fetch_concurrency == 3
    assert s.automation_max_recordings_per_fiche == 50
    assert s.openai_model_audit == "gpt-5.2"
    assert (s.smtp_port, s.smtp_secure, s.smtp_timeout_ms) == (587, False, 10_000)
    assert s.auth_access_ttl_seconds == 900
    assert s.jwt_issuer == s.jwt_audience == "ai-audit"
    assert s.database_url is None
    assert s.redis_url is None


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FICHE_FETCH_CONCURRENCY", "three")
    monkeypatch.setenv("AUTOMATION_SCHEDULER_CRON", "every minute")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "FICHE_FETCH_CONCURRENCY" in message
    assert "AUTOMATION_SCHEDULER_CRON" in message


def test_out_of_range_and_unknown_timezone_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FICHE_NOT_FOUND_TTL_MS", "1000")  # the original's floor is 60 s
    monkeypatch.setenv("SALES_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "FICHE_NOT_FOUND_TTL_MS" in str(info.value)
    assert "SALES_TIMEZONE" in str(info.value)


def test_secret_values_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root:hunter2-secret@db/x")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "DATABASE_URL" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_original_aliases_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FICHE_API_URL", "https://gateway.example/api")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-legacy")
    s = load_settings()
    assert s.fiche_api_base_url == "https://gateway.example/api"
    assert s.openai_model_chat == "gpt-legacy"


def test_lists_and_static_tokens_parse_from_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://qa.example, https://app.example")
    monkeypatch.setenv("API_AUTH_TOKEN", "tok-one")
    monkeypatch.setenv("API_AUTH_TOKENS", "tok-two, tok-three")
    s = load_settings()
    assert s.cors_origins == ["https://qa.example", "https://app.example"]
    assert s.static_api_tokens == ["tok-one", "tok-two", "tok-three"]
    assert "tok-two" not in repr(s)


def test_production_requires_a_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLAUDIT_ENV", "production")
    with pytest.raises(SettingsError, match="JWT_ACCESS_SECRET"):
        load_settings()
    monkeypatch.setenv("JWT_ACCESS_SECRET", "x" * 48)
    assert load_settings().cookie_secure is True


def test_webserver_url_follows_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_WEBSERVER_PORT", "3100")
    assert load_settings().dagster_webserver_url == "http://127.0.0.1:3100"
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://dagster-webserver:3000")
    assert load_settings().dagster_webserver_url == "http://dagster-webserver:3000"


def test_every_field_is_an_environment_variable() -> None:
    # The README's configuration table is generated from this; a field without a plain env name
    # would be undocumentable.
    for name, info in Settings.model_fields.items():
        assert name.islower(), name
        assert info.alias is None, name


def test_readme_documents_every_variable() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert missing == []


def test_children_get_the_resolved_values_the_environment_over_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    (tmp_path / ".env").write_text(
        "FICHE_FETCH_CONCURRENCY=7\nSALES_TIMEZONE=Europe/Brussels\nCORS_ORIGINS=http://a.test,http://b.test\n"
        'LLM_PRICES={"m": {"input": 1.5}}\nAUTOMATION_MAX_RECORDINGS_PER_FICHE=120\n'
    )
    monkeypatch.setenv("FICHE_FETCH_CONCURRENCY", "5")  # the command line's value wins over .env
    resolved = load_settings()
    env = resolved.as_environment()
    assert env["FICHE_FETCH_CONCURRENCY"] == "5"
    assert env["SALES_TIMEZONE"] == "Europe/Brussels"  # only in .env: still handed down
    assert "OPENAI_MODEL_AUDIT" not in env  # defaults are not exported
    # A child reading only that environment (its own .env says otherwise) sees the same values.
    (tmp_path / ".env").write_text("FICHE_FETCH_CONCURRENCY=9\nSALES_TIMEZONE=UTC\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = load_settings()
    for field in ("fiche_fetch_concurrency", "sales_timezone", "cors_origins", "llm_prices"):
        assert getattr(child, field) == getattr(resolved, field), field
    assert child.automation_max_recordings_per_fiche == 120

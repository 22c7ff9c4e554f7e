"""Simulator configuration: the data's seed and size, and per endpoint family its latency and faults.

Endpoint families are what the product throttles separately against the real gateway: `search`
(sales lists), `details` (fiche by id), `users` (CRM users and groups) and `audio` (recording
downloads). Faults are drawn per request, never per fiche, so a retry can always succeed unless a
rate is 1.0; `permanent_not_found` lists fiches that the sales list shows but details never find.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Self

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from callaudit.demo_crm.fiches import MAX_FICHES_PER_DAY

Family = Literal["search", "details", "users", "audio"]
FAMILIES: tuple[Family, ...] = ("search", "details", "users", "audio")
CLIENT_TIMEOUT_SECONDS = 120.0
"""The gateway client's per-attempt timeout; a simulated timeout hangs longer than this by default."""


class Latency(BaseModel):
    """Added before answering: `fixed` waits `mean_ms`; `uniform` draws in mean ± spread;
    `lognormal` draws with that mean and standard deviation (long tail, like a loaded server)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distribution: Literal["fixed", "uniform", "lognormal"] = "fixed"
    mean_ms: float = Field(0.0, ge=0)
    spread_ms: float = Field(0.0, ge=0)

    def draw_seconds(self, rng: random.Random) -> float:
        if self.distribution == "fixed" or self.mean_ms == 0 or self.spread_ms == 0:
            return self.mean_ms / 1000
        if self.distribution == "uniform":
            return rng.uniform(max(0.0, self.mean_ms - self.spread_ms), self.mean_ms + self.spread_ms) / 1000
        sigma2 = math.log(1 + (self.spread_ms / self.mean_ms) ** 2)
        return rng.lognormvariate(math.log(self.mean_ms) - sigma2 / 2, math.sqrt(sigma2)) / 1000


class FamilyFaults(BaseModel):
    """Latency and fault rates of one endpoint family; the rates are exclusive shares of requests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency: Latency = Latency()
    error_5xx_rate: float = Field(0.0, ge=0, le=1)
    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    retry_after_seconds: int = Field(1, ge=0)
    timeout_rate: float = Field(0.0, ge=0, le=1)
    timeout_seconds: float = Field(CLIENT_TIMEOUT_SECONDS + 30, gt=0)
    transient_404_rate: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _rates_share_one_draw(self) -> Self:
        total = self.error_5xx_rate + self.rate_limit_rate + self.timeout_rate + self.transient_404_rate
        if total > 1 + 1e-9:
            raise ValueError(f"fault rates add up to {total:.3f}; at most 1.0 of the requests can fail")
        return self


class Faults(BaseModel):
    """What can change at runtime (`PUT /__sim/config`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    search: FamilyFaults = FamilyFaults()
    details: FamilyFaults = FamilyFaults()
    users: FamilyFaults = FamilyFaults()
    audio: FamilyFaults = FamilyFaults()
    permanent_not_found: frozenset[str] = frozenset()

    def of(self, family: Family) -> FamilyFaults:
        faults: FamilyFaults = getattr(self, family)
        return faults


class SimulatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 42
    fiches_per_day: int = Field(12, ge=1, le=MAX_FICHES_PER_DAY)
    token: SecretStr | None = None
    """When set, `/api/*` requires `Authorization: Bearer <token>`."""
    audio_sample_rate: Literal[8000, 16000] = 8000
    asr_variation_rate: float = Field(0.02, ge=0, le=0.5)
    """Share of words given ASR-like noise in reference transcripts (a hesitation, a lost accent)."""
    product_fault_rate: float = Field(0.0, ge=0, le=1)
    """Share of fiches with a labelled product fault (`products.PRODUCT_FAULTS`): a plan the catalogue
    does not hold, or an agent stating a wrong reimbursement or waiting period; the ground truth says which."""
    faults: Faults = Faults()
    control: bool = True
    """Whether `PUT /__sim/config` and `POST /__sim/stats/reset` are served (from loopback only)."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> SimulatorConfig:
        """Read `DEMO_CRM_*` variables from `environ` (default: the process environment over the
        `.env` file, like every other setting).

        `DEMO_CRM_SEED`, `DEMO_CRM_FICHES_PER_DAY`, `DEMO_CRM_TOKEN`; `DEMO_CRM_LATENCY_MS` is the
        mean of a lognormal latency (spread half the mean) on every family; `DEMO_CRM_FAULT_RATE` is
        split evenly over 5xx, 429, timeout and transient 404 on every family, with timeouts lasting
        `DEMO_CRM_TIMEOUT_SECONDS` (default 150); `DEMO_CRM_CONTROL=false` turns the runtime
        controls off; `DEMO_CRM_PRODUCT_FAULT_RATE` is the share of fiches with a product fault.
        Invalid values raise `ValueError` naming the field.
        """
        if environ is None:
            from_file = dotenv_values(env_file) if env_file is not None and env_file.is_file() else {}
            env: Mapping[str, str] = {**{k: v for k, v in from_file.items() if v is not None}, **os.environ}
        else:
            env = environ

        def read(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: float) -> float:
            value = read(name)
            try:
                return default if value is None else float(value)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {value!r}") from None

        latency_ms = number("DEMO_CRM_LATENCY_MS", 0.0)
        rate = number("DEMO_CRM_FAULT_RATE", 0.0) / 4
        family = {
            "latency": {"distribution": "lognormal", "mean_ms": latency_ms, "spread_ms": latency_ms / 2},
            "error_5xx_rate": rate,
            "rate_limit_rate": rate,
            "timeout_rate": rate,
            "transient_404_rate": rate,
            "timeout_seconds": number("DEMO_CRM_TIMEOUT_SECONDS", CLIENT_TIMEOUT_SECONDS + 30),
        }
        values: dict[str, object] = {"faults": dict.fromkeys(FAMILIES, family)}
        if (seed := read("DEMO_CRM_SEED")) is not None:
            values["seed"] = seed
        if (per_day := read("DEMO_CRM_FICHES_PER_DAY")) is not None:
            values["fiches_per_day"] = per_day
        if (token := read("DEMO_CRM_TOKEN")) is not None:
            values["token"] = token
        if (product_faults := read("DEMO_CRM_PRODUCT_FAULT_RATE")) is not None:
            values["product_fault_rate"] = product_faults
        if (control := read("DEMO_CRM_CONTROL")) is not None:
            values["control"] = control
        return cls.model_validate(values)

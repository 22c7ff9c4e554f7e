"""The core of one synthetic fiche, a pure function of (seed, sales day, index, fiches per day).

The core holds what both the sales list and the details need (ids, prospect, agent, product,
recordings) so the two always agree; the bulkier details sections are drawn separately, on demand
(`sections`). Fiche ids encode the day and the index, so a details request needs no index of ids.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from callaudit.demo_crm.directory import GROUPS, Group, User, build_directory
from callaudit.demo_crm.people import (
    CITIES,
    PROFESSIONS,
    STREETS,
    Person,
    ascii_slug,
    draw_person,
    international,
    landline_number,
    mobile_number,
)
from callaudit.demo_crm.products import (
    FORMER_INSURERS,
    FORMULAS,
    UNLISTED_FORMULAS,
    Formula,
    ProductFault,
    age_factor,
    draw_product_fault,
)
from callaudit.demo_crm.recordings import RecordingMeta, plan_recordings
from callaudit.demo_crm.seeding import derive_digits, derive_hex, derive_rng

PARIS = ZoneInfo("Europe/Paris")
EPOCH = date(2000, 1, 1)
INDEX_DIGITS = 5
ID_OFFSET = 10**9
"""Keeps ids at ten digits from 2000 to 2273, so short numbers are never valid fiche ids."""
MAX_FICHES_PER_DAY = 10**INDEX_DIGITS - 1
WORKDAY_START_MINUTES = 8 * 60 + 30
WORKDAY_MINUTES = 11 * 60
GROUP_WEIGHTS = (30, 30, 20, 20)


def fiche_id_for(day: date, index: int) -> str:
    """1, then days since 2000-01-01, then the index on five digits: `1939900007` (ten digits)."""
    return str(ID_OFFSET + (day - EPOCH).days * 10**INDEX_DIGITS + index)


def parse_fiche_id(fiche_id: str, fiches_per_day: int) -> tuple[date, int] | None:
    """(sales day, index) of a fiche id this simulator could have issued, else None."""
    if not fiche_id.isdigit() or fiche_id != str(int(fiche_id)) or int(fiche_id) < ID_OFFSET:
        return None
    days, index = divmod(int(fiche_id) - ID_OFFSET, 10**INDEX_DIGITS)
    if index >= fiches_per_day or days > (date.max - EPOCH).days:
        return None
    return EPOCH + timedelta(days=days), index


@dataclass(frozen=True)
class Prospect:
    person: Person
    prospect_id: str
    birth_date: date
    telephone: str
    telephone_2: str | None
    email: str
    street: str
    code_postal: str
    ville: str
    profession: tuple[str, int, str]
    situation: int
    regime: int
    has_partner: bool
    children: int


@dataclass(frozen=True)
class FicheCore:
    seed: int
    day: date
    index: int
    fiche_id: str
    cle: str
    cle_in_sales_list: bool
    inserted_at: datetime
    modified_at: datetime | None
    prospect: Prospect
    group: Group
    agent: User
    lead: User
    formula: Formula
    cotisation: float
    former_insurer: tuple[str, str] | None
    debit_day: int
    recordings: tuple[RecordingMeta, ...]
    product_fault: ProductFault | None = None

    @property
    def age(self) -> int:
        born = self.prospect.birth_date
        return self.day.year - born.year - ((self.day.month, self.day.day) < (born.month, born.day))

    @property
    def sale_call(self) -> RecordingMeta:
        return next(rec for rec in self.recordings if rec.kind == "vente")

    @property
    def effective_date(self) -> date:
        """Cover starts on the first day of the month after the sale."""
        sold = self.sale_call.start.astimezone(PARIS).date()
        return date(sold.year + sold.month // 12, sold.month % 12 + 1, 1)


def _prospect(seed: int, fiche_id: str, day: date) -> Prospect:
    rng = derive_rng(seed, "prospect", fiche_id)
    person = draw_person(rng)
    age = int(rng.triangular(24, 88, 66))
    birth = date(day.year - age, rng.randint(1, 12), rng.randint(1, 28))
    ville, code_postal = rng.choice(CITIES)
    professions = [p for p in PROFESSIONS if (p[1] == 6) == (age >= 62)]
    situation = rng.choice((1, 2, 2, 3, 4, 5)) if age >= 30 else rng.choice((1, 1, 3))
    children = rng.choice((0, 0, 1, 2, 3)) if 28 <= age <= 55 else 0
    return Prospect(
        person=person,
        prospect_id=derive_digits(seed, "prospect-id", fiche_id, length=7),
        birth_date=birth,
        telephone=mobile_number(rng),
        telephone_2=landline_number(rng) if rng.random() < 0.2 else None,
        email=f"{ascii_slug(person.prenom)}.{ascii_slug(person.nom)}{rng.randint(1, 99)}@example.org",
        street=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
        code_postal=code_postal,
        ville=ville,
        profession=rng.choice(professions),
        situation=situation,
        regime=rng.choice((1, 1, 1, 1, 2, 3, 4)),
        has_partner=situation in (2, 3),
        children=children,
    )


@functools.lru_cache(maxsize=2048)
def build_fiche(seed: int, day: date, index: int, fiches_per_day: int, product_fault_rate: float = 0.0) -> FicheCore:
    """Insertion times spread over the working day in index order, so lists read chronologically.

    A share `product_fault_rate` of fiches carries a labelled product fault, drawn on its own so that
    every other value of the fiche is the same with or without faults."""
    fiche_id = fiche_id_for(day, index)
    rng = derive_rng(seed, "fiche", fiche_id)
    minute = WORKDAY_START_MINUTES + (index + rng.random()) * WORKDAY_MINUTES / fiches_per_day
    inserted_at = datetime(day.year, day.month, day.day, tzinfo=PARIS) + timedelta(minutes=int(minute))
    prospect = _prospect(seed, fiche_id, day)
    directory = build_directory(seed)
    group = rng.choices(GROUPS, weights=GROUP_WEIGHTS)[0]
    agent = rng.choice(directory.active_agents(group))
    age = day.year - prospect.birth_date.year
    senior = age >= 60 and rng.random() < 0.5
    formula = rng.choice([f for f in FORMULAS if (f.gamme == "Sénior Plus") == senior])
    cotisation = round(formula.base_monthly_eur * age_factor(age) * rng.uniform(0.92, 1.08), 2)
    faults = derive_rng(seed, "product-fault", fiche_id)
    fault = draw_product_fault(faults, formula) if faults.random() < product_fault_rate else None
    if fault is not None and fault.kind == "unlisted_product":
        formula = UNLISTED_FORMULAS[formula.level - 1]
    modified_at = inserted_at + timedelta(hours=rng.uniform(2, 60)) if rng.random() < 0.7 else None
    agency_number = "334" + derive_digits(seed, "agency-line", group.id, length=8)
    return FicheCore(
        seed=seed,
        day=day,
        index=index,
        fiche_id=fiche_id,
        cle=derive_hex(seed, "cle", fiche_id),
        cle_in_sales_list=rng.random() >= 0.1,
        inserted_at=inserted_at,
        modified_at=modified_at,
        prospect=prospect,
        group=group,
        agent=agent,
        lead=directory.lead(group),
        formula=formula,
        cotisation=cotisation,
        former_insurer=rng.choice(FORMER_INSURERS) if rng.random() < 0.7 else None,
        debit_day=rng.choice((5, 10, 12, 15)),
        recordings=plan_recordings(
            seed,
            fiche_id,
            inserted_at,
            client_number=international(prospect.telephone),
            agency_number=agency_number,
            account=f"7340-{agent.id}",
        ),
        product_fault=fault,
    )

"""Product verification on simulator calls with labelled product faults (issue 20), for `audit_quality.py`.

The demo CRM simulator draws a product fault on a share of fiches (`SimulatorConfig.product_fault_rate`):
a plan the demo catalogue does not hold, or the agent stating a wrong hospitalisation or dental
reimbursement or waiting period. Its ground truth (`calls.product_fault_truth`) says which calls state
the wrong value. Each fiche is linked to the demo catalogue as audits link it, and every
`verifyProductInfo` step of the demo scorecard is audited as the engine audits it: the plan's facts in
the step part of the prompt, evidence gating, then the stated values checked against the plan.

A fiche is *flagged* when a product step reports a stated value contradicting the plan; it *should* be
when a wrong promise is said in one of its calls. Recall and precision are over fiches whose product
linked. For a model auditor the model's own verdict is reported beside it (a product step it did not
find CONFORME on a fiche with a wrong promise), since the deterministic check runs after any auditor.

Caveat: the simulator's phrasings were written beside the claims checker (unlike the held-apart corpus
of `benchmarks/evaluation/`), so these figures show the check works end to end on the simulator's
wording, not how it generalises to other wordings. The seed differs from every test's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from simulated import timeline

from callaudit.demo_crm.calls import product_fault_truth
from callaudit.demo_crm.catalogue import demo_catalogue
from callaudit.demo_crm.fiches import FicheCore, build_fiche
from callaudit.demo_crm.sections import elements_souscription
from domain.audits.auditor import Auditor, TranscriptMode
from domain.audits.evaluation import Agreement
from domain.audits.gating import GatingRules, gate_step
from domain.audits.schema import Conformity
from domain.audits.scorecard import ScorecardSpec
from domain.audits.timeline import Timeline
from domain.products.claims import apply_check, check_claims, for_step
from domain.products.facts import ProductFacts
from domain.products.linking import PlanNames, SoldProduct, link_product
from domain.transcripts.roles import assign_roles

SEED = 2027
FAULT_RATE = 0.5
FICHES_PER_DAY = 12
FIRST_DAY = date(2026, 6, 1)


@dataclass
class ProductReport:
    auditor: str
    fiches: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    linked: Agreement = field(default_factory=Agreement)  # positive = linked to a plan; truth = plan listed
    flags: Agreement = field(default_factory=Agreement)  # positive = flagged; truth = wrong promise said
    model_flags: Agreement = field(default_factory=Agreement)  # the model's own verdict (model auditors)
    checked_claims: int = 0

    def lines(self) -> list[str]:
        flags, linked = self.flags, self.linked
        lines = [
            f"== product verification on simulator fiches ({FAULT_RATE:.0%} with a product fault, seed {SEED}): "
            f"{self.auditor}, {self.fiches} fiches ==",
            f"faults {dict(sorted(self.faults.items()))}",
            f"linking: {linked.true_positive}/{linked.true_positive + linked.false_negative} listed plans linked, "
            f"{linked.false_positive} unlisted plans linked to something",
            f"wrong promises flagged: recall {flags.recall:.3f} ({flags.true_positive}/"
            f"{flags.true_positive + flags.false_negative}), precision {flags.precision:.3f} "
            f"({flags.false_positive} fiches flagged without a wrong promise); {self.checked_claims} claims checked",
        ]
        if self.model_flags.total:
            own = self.model_flags
            lines.append(
                f"the model's own product-step verdicts: recall {own.recall:.3f}, precision {own.precision:.3f}"
            )
        return [*lines, ""]

    def figures(self) -> str:
        return f"product_recall={self.flags.recall:.3f} product_precision={self.flags.precision:.3f}"


def simulator_fiches(count: int) -> list[FicheCore]:
    return [
        build_fiche(
            SEED, FIRST_DAY + timedelta(days=n // FICHES_PER_DAY), n % FICHES_PER_DAY, FICHES_PER_DAY, FAULT_RATE
        )
        for n in range(count)
    ]


Entries = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def _plans(document: dict[str, Any]) -> tuple[list[PlanNames], dict[int, Entries]]:
    """The document's plans as linking sees them (ids are positions), and each plan's entries."""
    plans: list[PlanNames] = []
    entries: dict[int, Entries] = {}
    for groupe in document["groupes"]:
        for gamme in groupe["gammes"]:
            for formule in gamme["formules"]:
                plans.append(PlanNames(len(plans), groupe["libelle"], gamme["libelle"], formule["libelle"]))
                entries[len(entries)] = (groupe, gamme, formule)
    return plans, entries


def _with_roles(core: FicheCore) -> Timeline:
    plain = timeline(core)
    advisor = f"{core.agent.person.prenom} {core.agent.person.nom}"
    return Timeline(plain.fiche_id, tuple(assign_roles(r, advisor_name=advisor) for r in plain.recordings))


async def measure(auditor: Auditor, scorecard: ScorecardSpec, fiches: list[FicheCore]) -> ProductReport:
    report = ProductReport(auditor.name + (f" ({auditor.model})" if auditor.model else ""))
    plans, entries = _plans(demo_catalogue())
    steps = [step for step in scorecard.steps if step.verify_product_info]
    rules = GatingRules()
    for core in fiches:
        report.fiches += 1
        truth = product_fault_truth(core)
        kind = truth["kind"] if truth else "none"
        report.faults[kind] = report.faults.get(kind, 0) + 1
        produit = elements_souscription(core)["produit"]
        sold = SoldProduct(produit["groupe_nom"], produit["gamme_nom"], produit["formule_nom"])
        match = link_product(sold, plans)
        report.linked += Agreement.of([(kind != "unlisted_product", match.formule_id is not None)])
        if match.formule_id is None:
            continue
        groupe, gamme, formule = entries[match.formule_id]
        sale = {"cotisation": produit["cotisation"]}
        facts = ProductFacts.from_document(groupe, gamme, formule, match=match, sold=sold, sale=sale, needs=None)
        said_wrong = bool(truth and truth["said_in_calls"])
        call = _with_roles(core)
        check = check_claims(call, facts, offline=auditor.model is None)
        flagged, model_flagged = False, False
        for step in steps:
            asked = dataclasses.replace(step, product_context=facts.prompt_block())
            analysis = await auditor.analyze_step(scorecard, asked, call, mode=TranscriptMode.PROMPT)
            gated = gate_step(step, analysis.output, call, rules, failed=analysis.failed, error=analysis.error)
            model_flagged |= gated.conforme is not Conformity.CONFORME
            bearing = for_step(check, step)
            report.checked_claims += len(bearing.checks)
            flagged |= apply_check(gated, bearing).conforme is Conformity.NON_CONFORME and bool(bearing.contradictions)
        report.flags += Agreement.of([(said_wrong, flagged)])
        if auditor.model is not None:
            report.model_flags += Agreement.of([(said_wrong, model_flagged)])
    return report

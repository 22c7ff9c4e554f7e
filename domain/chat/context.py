"""What the chat model reads: built from the database only (any replica can answer), bounded by tokens.

The system prompt (French) holds the rules, the fiche, the audit as it stands (its latest view:
overrides and reruns applied, every step with its control points, statuses and comments) or, for a
fiche chat, the fiche's audit history (latest per scorecard, not deleted), then the timeline. The
whole request (system prompt, the conversation's history, the question, the tool definitions) must
fit `budget` tokens, counted with o200k_base like `benchmarks/audit_cost.py`: history is kept newest
first while it fits (not a message count); when the timeline itself does not fit, it is left out
and the model reads the transcript through the audits' transcript tools instead (tools mode), their
results cut to what the budget still allows (`fit_tool_result`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from domain.audits.timeline import Timeline, count_tokens, render_timeline
from domain.audits.tools import tool_definitions
from domain.chat.citations import CITE_TOOL, cite_tool_definition

PER_MESSAGE = 3  # tokens a chat message costs beyond its content (role, separators)
PRIMING = 3  # tokens priming the reply
FOLLOW_UP_RESERVE = 600  # room for the model's tool calls and our short answers to them
TOOL_RESULTS_RESERVE = 6000  # tools mode: room kept for transcript passages the model asks for

TranscriptMode = Literal["prompt", "tools"]


class ContextTooLarge(ValueError):
    """Even without the timeline and history, the summary and the question exceed the budget."""


@dataclass(frozen=True)
class PointLine:
    index: int
    point: str
    statut: str
    commentaire: str


@dataclass(frozen=True)
class StepLine:
    position: int
    name: str
    conforme: str
    score: int
    weight: int
    niveau: str
    is_critical: bool
    overridden: bool  # a human override is in force on the step or one of its points
    points: tuple[PointLine, ...] = ()


@dataclass(frozen=True)
class AuditBrief:
    audit_id: int
    scorecard: str
    status: str
    created_at: str
    score_percentage: float | None
    niveau: str
    is_compliant: bool | None
    critical_passed: int | None
    critical_total: int | None
    successful_steps: int
    failed_steps: int
    steps: tuple[StepLine, ...] = ()


@dataclass(frozen=True)
class FicheBrief:
    fiche_id: str
    prospect: str
    email: str | None
    phone: str | None
    groupe: str | None
    recordings_total: int
    recordings_transcribed: int
    duration_minutes: float


def request_tokens(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None) -> int:
    """An upper bound of a Chat Completions request's input tokens: every message counted as its
    JSON (role, content, tool calls), plus the tool definitions as JSON."""
    total = PRIMING + sum(PER_MESSAGE + count_tokens(json.dumps(m, ensure_ascii=False)) for m in messages)
    if tools:
        total += count_tokens(json.dumps(list(tools), ensure_ascii=False))
    return total


RULES = """Tu es l'assistant d'une équipe qualité d'un cabinet de courtage en assurance santé. Tu réponds \
aux questions sur une fiche de vente et ses appels, en français (sauf si l'utilisateur écrit dans une autre langue), \
brièvement et précisément.

Règles anti-hallucination (non négociables) :
- utilise uniquement les données fournies ici (résumé, audits, transcription) ;
- si l'information n'y est pas, dis-le clairement ;
- n'invente jamais de nom, de numéro, de produit, de date, de montant ni d'issue ;
- n'invente jamais de citation.

Citations : chaque fois que tu t'appuies sur un passage de la transcription, cite-le mot pour mot en appelant \
l'outil `{cite}` une seule fois, à la fin de ta réponse, avec tous les passages (texte exact, recording_index = \
Enregistrement #X -> X-1, chunk_index = Chunk Y -> Y-1, et qui parle). Dans le texte, renvoie aux passages par \
[1], [2]… dans l'ordre de l'appel. N'écris jamais de marqueur ni de JSON dans le texte de la réponse."""

TOOLS_NOTE = """=== TRANSCRIPTION ===
La transcription est trop longue pour être fournie ici. Utilise `search_transcript` pour trouver les passages \
pertinents, puis `get_transcript_chunks` pour lire leur texte intégral avant de citer. Cite uniquement du texte \
lu avec ces outils."""


def _yes_no(value: bool | None) -> str:
    return "N/A" if value is None else ("OUI" if value else "NON")


def _ratio(part: int | None, whole: int | None) -> str:
    return "N/A" if part is None or whole is None else f"{part}/{whole}"


def _score(value: float | None) -> str:
    return "N/A" if value is None else f"{value:.2f}%"


def fiche_block(fiche: FicheBrief) -> str:
    return "\n".join(
        [
            "=== FICHE ===",
            f"Fiche : {fiche.fiche_id}",
            f"Prospect : {fiche.prospect or 'N/A'}",
            f"E-mail : {fiche.email or 'N/A'}",
            f"Téléphone : {fiche.phone or 'N/A'}",
            f"Groupe : {fiche.groupe or 'N/A'}",
            f"Enregistrements : {fiche.recordings_total} (transcrits : {fiche.recordings_transcribed}), "
            f"durée totale {fiche.duration_minutes:.1f} min",
        ]
    )


def audit_block(audit: AuditBrief) -> str:
    lines = [
        "=== AUDIT (état actuel : revues humaines et relances appliquées) ===",
        f"Audit #{audit.audit_id} - grille « {audit.scorecard} » - {audit.status}, du {audit.created_at}",
        f"Score : {_score(audit.score_percentage)} - niveau {audit.niveau} - conforme : {_yes_no(audit.is_compliant)}",
        f"Points critiques validés : {_ratio(audit.critical_passed, audit.critical_total)}",
        f"Étapes réussies / en échec : {audit.successful_steps} / {audit.failed_steps}",
        "",
        "Étapes :",
    ]
    for step in audit.steps:
        marks = (" [critique]" if step.is_critical else "") + (" [revu par un humain]" if step.overridden else "")
        lines.append(
            f"{step.position}. {step.name}{marks} : {step.conforme} ({step.score}/{step.weight}, {step.niveau})"
        )
        for point in step.points:
            comment = f" - {point.commentaire}" if point.commentaire else ""
            lines.append(f"   {step.position}.{point.index} {point.point} : {point.statut}{comment}")
    return "\n".join(lines)


def history_block(audits: Sequence[AuditBrief]) -> str:
    lines = ["=== AUDITS DE LA FICHE (dernier par grille, hors supprimés, du plus récent au plus ancien) ==="]
    if not audits:
        lines.append("Aucun audit.")
    for audit in audits:
        lines.append(
            f"- Audit #{audit.audit_id} « {audit.scorecard} » du {audit.created_at} : {audit.status}, "
            f"score {_score(audit.score_percentage)}, niveau {audit.niveau}, conforme {_yes_no(audit.is_compliant)}, "
            f"critiques {_ratio(audit.critical_passed, audit.critical_total)}"
        )
        lines += [
            f"   {s.position}. {s.name} : {s.conforme} ({s.score}/{s.weight})" + (" [revu]" if s.overridden else "")
            for s in audit.steps
        ]
    return "\n".join(lines)


def summary_prompt(fiche: FicheBrief, audit: AuditBrief | None, history: Sequence[AuditBrief]) -> str:
    """Rules, fiche, and the audit (audit chat) or the fiche's audits (fiche chat): no transcript yet."""
    parts = [RULES.format(cite=CITE_TOOL), fiche_block(fiche)]
    parts.append(audit_block(audit) if audit is not None else history_block(history))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class ContextPlan:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    mode: TranscriptMode
    tokens: int  # of the first request
    history_kept: int


def plan_context(
    summary: str,
    timeline: Timeline,
    history: Sequence[tuple[str, str]],
    question: str,
    *,
    budget: int,
) -> ContextPlan:
    """The first request: prompt mode when the timeline fits, else tools mode; history newest first while it fits."""
    user = {"role": "user", "content": question}
    cite = [cite_tool_definition()]
    prompt_system = {"role": "system", "content": f"{summary}\n\n{render_timeline(timeline)}"}
    mode: TranscriptMode = "prompt"
    if request_tokens([prompt_system, user], cite) + FOLLOW_UP_RESERVE <= budget:
        system, tools, reserve = prompt_system, cite, FOLLOW_UP_RESERVE
    else:
        system = {"role": "system", "content": f"{summary}\n\n{TOOLS_NOTE}"}
        tools, mode = [*tool_definitions(), *cite], "tools"
        reserve = min(TOOL_RESULTS_RESERVE, budget // 3) + FOLLOW_UP_RESERVE
        if request_tokens([system, user], tools) + reserve > budget:
            raise ContextTooLarge(f"the summary and the question exceed the chat context budget ({budget} tokens)")
    kept: list[dict[str, Any]] = []
    used = request_tokens([system, user], tools) + reserve
    for role, content in reversed(history):
        message = {"role": role, "content": content}
        cost = PER_MESSAGE + count_tokens(json.dumps(message, ensure_ascii=False))
        if used + cost > budget:
            break
        kept.insert(0, message)
        used += cost
    messages = [system, *kept, user]
    return ContextPlan(messages, tools, mode, request_tokens(messages, tools), len(kept))


TRIMMABLE = ("chunks", "matches")
BUDGET_EXHAUSTED = {"error": "Budget de contexte épuisé : réponds maintenant avec ce que tu as déjà lu."}


def fit_tool_result(result: dict[str, Any], room: int) -> str:
    """The tool result as JSON within `room` tokens: passages dropped from the end (flagged), or a
    short note telling the model to answer with what it has."""
    result = dict(result)
    while True:
        text = json.dumps(result, ensure_ascii=False)
        if PER_MESSAGE + count_tokens(text) <= room:
            return text
        key = next((k for k in TRIMMABLE if isinstance(result.get(k), list) and result[k]), None)
        if key is None:
            return json.dumps(BUDGET_EXHAUSTED, ensure_ascii=False)
        items = result[key]
        result[key] = items[: max(0, len(items) // 2 if len(items) > 4 else len(items) - 1)]
        result["truncated_for_budget"] = True

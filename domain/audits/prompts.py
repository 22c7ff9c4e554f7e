"""The French prompts of one step analysis (reference §7.2), laid out for prompt caching.

**Prompt mode.** Every step of one audit sends the same long prefix, byte for byte: the system
message (the scorecard's system prompt and the analysis rules, both step-independent) and the start
of the user message (the whole timeline). The step-specific part comes last. Providers that cache
prompt prefixes (OpenAI automatically above 1024 tokens, vLLM's prefix caching, ...) then bill and
compute the timeline once per audit instead of once per step. Everything step-independent comes
before anything step-specific: the original appended its analysis rules after the step part and
swapped the timeline for a per-step excerpt on product-verification steps, so less was shared. The
step part is appended to the same user message, not sent as a second one: some chat templates of
open models reject two user turns in a row. The catalogue facts of a product-verification step
(`StepSpec.product_context`) are part of the step part, so they never break the shared prefix.

**Tools mode.** The timeline stays out of the prompt: system = system prompt + tools-mode rules,
user = the step part; the model reads the transcript through `domain.audits.tools`.

Change `PROMPT_VERSION` whenever any text here changes: audits made with other prompts are redone.
"""

from __future__ import annotations

import hashlib
from typing import Any

from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.audits.speakers import RULE_LABEL
from domain.audits.timeline import Timeline, render_timeline

PROMPT_VERSION = "2026-12-products"

STEP_SEPARATOR = "\n\n=== ÉTAPE À ANALYSER ===\n"

_COMMON_RULES = """\
=== RÈGLES D'ANALYSE ===

TOLÉRANCE PHONÉTIQUE (la transcription est automatique et peut déformer des mots) :
- « Oréa », « Auréa », « Orias » → ORIAS
- « NCA », « AC Assurances », « Net Courtage » → Net Courtage Assurance
- « CME », « CMU-C » → CMU / CSS
- « OPAM » → OPTAM
- « dépassements d'un horaire » → dépassements d'honoraires
Quand vous retenez une variation, renseignez `variation_phonetique_utilisee` et
`erreur_transcription_notee`, et comptez-la dans `erreurs_transcription_tolerees`.

QUI PARLE :
- Chaque chunk indique le rôle de son locuteur quand il est connu : conseiller ou client.
- Chaque point de contrôle précise quelles paroles le prouvent : « paroles du conseiller »,
  « paroles du client » (accord, consentement, réponse du client) ou « paroles du conseiller ou du
  client ». Une citation d'un autre locuteur ne prouve pas le point : les propos du client ne
  prouvent pas ce que le conseiller doit dire, ni un « d'accord » du conseiller l'accord du client.
- Ce qu'un locuteur rapporte des propos d'un tiers ne prouve pas le point.

CITATIONS :
- Les citations se placent dans chaque point de contrôle (`points_controle[].citations`).
- Une citation est un extrait EXACT de la transcription, copié mot pour mot. N'inventez JAMAIS
  une citation, ne la reformulez pas, ne la traduisez pas.
- Sans citation exacte possible : statut ABSENT (ou PARTIEL si le sujet n'est abordé qu'indirectement).
- Statut PRESENT : au moins une citation. Statuts ABSENT et NON_APPLICABLE : aucune citation.

VALEURS AUTORISÉES :
- conforme : CONFORME, NON_CONFORME, PARTIEL
- statut : PRESENT, ABSENT, PARTIEL, NON_APPLICABLE
- niveau_conformite : EXCELLENT, BON, ACCEPTABLE, INSUFFISANT, REJET
- score : entier de 0 au poids de l'étape

FORMAT : répondez uniquement par l'objet JSON demandé, en français. Tous les champs sont
obligatoires, même vides ([] pour une liste, null pour variation_phonetique_utilisee). Un point
de contrôle par point listé, dans le même ordre, avec son texte recopié dans `point`."""

_PROMPT_MODE_RULES = """\

MÉTADONNÉES DES CITATIONS (depuis la chronologie ci-dessous) :
- recording_index = numéro X de « Enregistrement #X » moins 1 (le premier enregistrement vaut 0).
- chunk_index = numéro Y de « Chunk Y » moins 1 (le premier chunk vaut 0).
- minutage_secondes = début du chunk, lu sur la ligne « Temps: » ; minutage = ce temps en MM:SS.
- speaker = le préfixe de la ligne citée (speaker_0, speaker_1, ...), sans le rôle entre parenthèses.
- recording_date (JJ/MM/AAAA) et recording_time (HH:MM) = « Date » et « Heure » de l'enregistrement ;
  recording_url = "N/A"."""

_TOOLS_MODE_RULES = """\

MODE OUTILS : la transcription n'est pas dans ce message ; lisez-la avec les outils.
- search_transcript(query) trouve les chunks pertinents ; get_transcript_chunks(chunks) renvoie leur
  texte intégral (`full_text`) avec minutage et métadonnées.
- Stratégie recommandée, en 1 à 3 appels groupés : cherchez avec le nom de l'étape, ses mots-clés et
  ses points de contrôle ; lisez les meilleurs chunks avec leurs voisins ; puis répondez.
- Les citations sont copiées exactement depuis `full_text` (jamais depuis `preview_text`).
- recording_index, chunk_index, minutage, minutage_secondes, speaker, recording_date,
  recording_time et recording_url sont recopiés tels quels depuis la sortie des outils (indices 0-based).
- `role` de chaque chunk : agent (conseiller), client, ou unknown (inconnu)."""

_PRODUCT_UNVERIFIABLE = """\
VÉRIFICATION PRODUIT : impossible pour cet audit (aucune fiche produit de référence disponible).
N'inventez jamais de garanties, de montants ni de conditions. Évaluez uniquement ce qui est dit dans
l'appel ; si l'exactitude des informations produit ne peut pas être vérifiée, notez au moins PARTIEL
et expliquez pourquoi dans le commentaire."""


def system_message(scorecard: ScorecardSpec, *, tools: bool) -> str:
    """Step-independent: identical for every step of every audit made with this scorecard version."""
    rules = _COMMON_RULES + (_TOOLS_MODE_RULES if tools else _PROMPT_MODE_RULES)
    return f"{scorecard.system_prompt.strip()}\n\n{rules}"


def step_part(scorecard: ScorecardSpec, step: StepSpec) -> str:
    """What one step asks: header, description, instructions, numbered control points, keywords."""
    lines = [
        f"ÉTAPE {step.position}/{len(scorecard.steps)} : {step.name}",
        f"Sévérité : {step.severity.value} | Poids : {step.weight} points | "
        f"Point critique : {'OUI' if step.is_critical else 'NON'} | "
        f"Vérification produit : {'OUI' if step.verify_product_info else 'NON'}",
        "",
        f"DESCRIPTION : {step.description.strip()}",
        "",
        "INSTRUCTIONS :",
        step.prompt.strip(),
        "",
        "POINTS DE CONTRÔLE :",
        *(f"{number}. {point}" for number, point in enumerate(step.control_points, start=1)),
        "",
        "QUI DOIT LE DIRE :",
        *(
            f"Point {number} ({RULE_LABEL[step.speaker_rule(number - 1)]})"
            for number in range(1, len(step.control_points) + 1)
        ),
    ]
    if step.keywords:
        lines += ["", f"MOTS-CLÉS : {', '.join(step.keywords)}"]
    if step.verify_product_info:
        lines += ["", step.product_context or _PRODUCT_UNVERIFIABLE]
    lines += [
        "",
        f"Analysez cette étape et répondez par le JSON demandé (score de 0 à {step.weight}).",
    ]
    return "\n".join(lines)


def prompt_messages(scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline) -> list[dict[str, Any]]:
    """Prompt mode: [system, user = timeline + step part]; everything before the step part is shared."""
    return [
        {"role": "system", "content": system_message(scorecard, tools=False)},
        {"role": "user", "content": render_timeline(timeline) + STEP_SEPARATOR + step_part(scorecard, step)},
    ]


def tools_messages(scorecard: ScorecardSpec, step: StepSpec) -> list[dict[str, Any]]:
    """Tools mode: [system with tools rules, user = step part]; the timeline comes through tool calls."""
    return [
        {"role": "system", "content": system_message(scorecard, tools=True)},
        {"role": "user", "content": step_part(scorecard, step)},
    ]


def shared_prefix(scorecard: ScorecardSpec, timeline: Timeline) -> str:
    """The text every prompt-mode step of one audit starts with (system, then the user message's head)."""
    return system_message(scorecard, tools=False) + "\x00" + render_timeline(timeline) + STEP_SEPARATOR


def prompt_prefix_key(scorecard: ScorecardSpec, timeline: Timeline) -> str:
    """A digest of the shared prefix: equal for all steps of one audit, different across audits."""
    return hashlib.sha256(shared_prefix(scorecard, timeline).encode()).hexdigest()[:16]


def repair_message(error: str) -> dict[str, Any]:
    """The one follow-up sent after an answer that is not valid JSON for the schema."""
    return {
        "role": "user",
        "content": (
            "Votre réponse précédente n'est pas un JSON valide conforme au schéma demandé "
            f"({error[:300]}). Renvoyez uniquement l'objet JSON corrigé, complet, sans texte autour."
        ),
    }

"""The compliance segments a sales call is built from, and the words that reveal each one.

The keys are a stable contract: the evaluation code compares what an auditor found against the
simulator's ground truth by these strings. Each segment also has marker words that every phrasing
of it contains and no other text of the simulator does, so "the segment is present" and "its words
are in the transcript" are the same fact (the tests hold the phrase bank to that).
"""

from __future__ import annotations

import re
import unicodedata

GREETING = "greeting"
AGENT_IDENTITY = "agent_identity"
FIRM_ORIAS = "firm_orias"
RECORDING_NOTICE = "recording_notice"
NEEDS_DISCOVERY = "needs_discovery"
CURRENT_COVER = "current_cover"
PRODUCT_GUARANTEES = "product_guarantees"
EXCLUSIONS = "exclusions"
PRICE_FEES = "price_fees"
COOLING_OFF = "cooling_off"
CONSENT_SIGNATURE = "consent_signature"
RETENTION_PERIOD = "retention_period"
COPY_RIGHT = "copy_right"
DATA_PROTECTION = "data_protection"
CARE_HOME_CHECK = "care_home_check"
SOLIDARITY_AID = "solidarity_aid"
WAITING_PERIOD = "waiting_period"

SCORECARD_TOPICS: tuple[str, ...] = (
    RETENTION_PERIOD,
    COPY_RIGHT,
    DATA_PROTECTION,
    CARE_HOME_CHECK,
    SOLIDARITY_AID,
    WAITING_PERIOD,
)
"""Segments the regulated 18-point scorecards ask for beyond the demo scorecard (how long the call is
kept, the right to a copy of it, data-protection rights, the care-home and CSS questions, waiting
periods); drawn apart from the others (`calls._plan`), so adding them changed no other segment's draw."""

SEGMENTS: tuple[str, ...] = (
    GREETING,
    AGENT_IDENTITY,
    FIRM_ORIAS,
    RECORDING_NOTICE,
    RETENTION_PERIOD,
    COPY_RIGHT,
    DATA_PROTECTION,
    NEEDS_DISCOVERY,
    CURRENT_COVER,
    CARE_HOME_CHECK,
    SOLIDARITY_AID,
    PRODUCT_GUARANTEES,
    EXCLUSIONS,
    WAITING_PERIOD,
    PRICE_FEES,
    COOLING_OFF,
    CONSENT_SIGNATURE,
)
"""Every segment key, in the order a complete sales call says them."""

SEGMENT_LABELS: dict[str, str] = {
    GREETING: "Salutation",
    AGENT_IDENTITY: "Identité du conseiller",
    FIRM_ORIAS: "Cabinet et numéro ORIAS",
    RECORDING_NOTICE: "Information sur l'enregistrement et droit d'opposition",
    NEEDS_DISCOVERY: "Recueil des besoins",
    CURRENT_COVER: "Couverture actuelle et résiliation",
    PRODUCT_GUARANTEES: "Produit et garanties",
    EXCLUSIONS: "Exclusions",
    PRICE_FEES: "Cotisation et frais",
    COOLING_OFF: "Délai de rétractation (14 jours)",
    CONSENT_SIGNATURE: "Consentement et signature",
    RETENTION_PERIOD: "Durée de conservation de l'appel (2 ans)",
    COPY_RIGHT: "Droit d'obtenir une copie de l'appel",
    DATA_PROTECTION: "Droits sur les données personnelles",
    CARE_HOME_CHECK: "Question sur la résidence en EHPAD",
    SOLIDARITY_AID: "Question sur la complémentaire santé solidaire (CSS)",
    WAITING_PERIOD: "Délais de carence",
}

SEGMENT_MARKERS: dict[str, frozenset[str]] = {
    GREETING: frozenset({"bonjour"}),
    AGENT_IDENTITY: frozenset({"conseiller", "conseillere"}),
    FIRM_ORIAS: frozenset({"orias"}),
    RECORDING_NOTICE: frozenset({"enregistre", "enregistree", "enregistrement"}),
    NEEDS_DISCOVERY: frozenset({"besoins"}),
    CURRENT_COVER: frozenset({"resiliation", "resilier"}),
    PRODUCT_GUARANTEES: frozenset({"garanties", "garantie"}),
    EXCLUSIONS: frozenset({"exclusions", "exclus", "exclues"}),
    PRICE_FEES: frozenset({"cotisation"}),
    COOLING_OFF: frozenset({"retractation"}),
    CONSENT_SIGNATURE: frozenset({"signature", "signer", "signez"}),
    RETENTION_PERIOD: frozenset({"conservation", "conserve", "conservee", "conservons"}),
    COPY_RIGHT: frozenset({"copie"}),
    DATA_PROTECTION: frozenset({"personnelles", "rgpd"}),
    CARE_HOME_CHECK: frozenset({"ehpad"}),
    SOLIDARITY_AID: frozenset({"css"}),
    WAITING_PERIOD: frozenset({"carence"}),
}
"""Normalised words (see `normalise_word`) by which each segment is recognised in a transcript."""

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise_word(word: str) -> str:
    """`Rétractation,` -> `retractation`; `O.R.I.A.S` -> `orias`: accents, case and punctuation off."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return _NON_WORD.sub("", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def normalised_words(text: str) -> list[str]:
    """The normalised words of a text; apostrophes split words (`l'enregistrement`)."""
    return [w for w in (normalise_word(part) for part in re.split(r"[\s'\u2019-]+", text)) if w]


def segments_in_text(text: str) -> set[str]:
    """The segments whose marker words occur in `text` (the ground truth's observable side)."""
    words = set(normalised_words(text))
    return {key for key, markers in SEGMENT_MARKERS.items() if words & markers}

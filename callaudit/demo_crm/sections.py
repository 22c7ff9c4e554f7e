# ruff: noqa: RUF001 -- the CRM's form labels use the typographic apostrophe, kept verbatim.
"""The sections of a fiche-details payload, each drawn from the fiche core with its own generator.

Field names, nullability and formats follow the gateway's validated contract: CRM dates as
`DD/MM/YYYY HH:MM` or `DD/MM/YYYY` (Paris time), subscription dates as `YYYY-MM-DD HH:MM:SS`,
amounts as strings, ids as numeric strings. Values agree with the core (the sold formula and
premium, the agent, the calls' dates) and with what is said in the calls.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from callaudit.demo_crm.fiches import PARIS, FicheCore
from callaudit.demo_crm.people import FAMILY_SITUATIONS, REGIMES, draw_person
from callaudit.demo_crm.products import CRM_HOST, FORMULAS, Formula, age_factor, euros_fr
from callaudit.demo_crm.seeding import derive_digits, derive_rng

Json = dict[str, Any]

ETIQUETTES = (
    ("Ecoute LD", "#2A8C30"),
    ("Rejet qualité", "#FF5147"),
    ("Qualité confirmée", "#4CAF50"),
    ("Rappel client", "#2196F3"),
    ("Dossier complet", "#9C27B0"),
    ("Attente documents", "#FF9800"),
)
PROVENANCES = (("118", "KEVB"), ("97", "COMPARATEUR A"), ("131", "SITE WEB"), ("140", "PARRAINAGE"))
COMMENTS = (
    "AS--Client injoignable",
    "CLIENTE INJOIGNABLE",
    "Rejet traité",
    "Client souhaite être rappelé après 18h",
    "RIB reçu",
    "Pièce d'identité reçue",
    "Dossier transmis à la compagnie",
    "Commentaire qualité de démonstration.",
)
QUESTIONS_COMPLEMENTAIRES = (
    "Département de naissance (les 2 premiers chiffres du code postal",
    "Commune de naissance",
    "Pays de naissance",
    "Nationalité",
    "Nom de naissance",
)
QUESTION_CURRENT_COVER = "Bénéficiez-vous actuellement d’une complémentaire santé ?"
QUESTION_ALD = "Bénéficiez-vous d’une prise en charge thérapeutique à 100% (ALD) ?"
QUESTIONS_CONSEIL_DEFAULTS = (
    ("Vous souhaitez privilégier un contrat", ("Responsable", "Non Responsable")),
    (
        "Après avoir fait le choix d’un contrat responsable ou non responsable, vous pouvez opter à un niveau de "
        "couverture",
        ("Au meilleur prix", "Équilibré", "Haut de gamme"),
    ),
    (
        "Etes-vous bénéficiaire d’une aide à la Complémentaire Santé Solidaire (CSS) ou en avez-vous formulé une "
        "demande ?",
        ("Non",),
    ),
    (QUESTION_CURRENT_COVER, ()),
    ("S’agit-il d’un contrat complémentaire santé obligatoire mis en place par votre employeur ?", ("Non",)),
    ("Bénéficiez-vous du maintien de votre contrat complémentaire santé, dans le cadre de la portabilité ?", ("Non",)),
    (QUESTION_ALD, ("Oui", "Non", "Non", "Non")),
    ("Faites-vous l’objet d’une mesure de curatelle ou de tutelle ?", ("Non",)),
    ("Avez-vous réfléchi à un budget mensuel de cotisation ?", ("Oui", "Non")),
    ("Vos garanties actuelles vous conviennent-elles ?", ("Oui", "Non", "Non")),
    ("Connaissez-vous les conditions de résiliation de votre contrat complémentaire santé actuel ?", ("Oui", "Non")),
    (
        "Vous chargez-vous d’adresser la lettre de résiliation en respectant les conditions, à votre assureur ou "
        "mutuelle actuelle ?",
        ("Non",),
    ),
    (
        # The gateway scrapes this label from HTML and keeps its line break and indentation.
        "Souhaitez-vous que nous nous chargions d’expédier, en votre nom et pour votre compte, la lettre de résiliation"
        " en respectant les conditions de\r                        votre assureur ou mutuelle actuelle ?",
        ("Oui", "Non"),
    ),
    (
        "Hospitalisation. Votre besoin en cas d’hospitalisation, c’est :",
        (
            "Prendre en charge tous les frais y compris de la quasi-totalité des dépassements d’honoraires",
            "Être remboursé du ticket modérateur",
        ),
    ),
    ("En résumé, votre complémentaire santé, c’est :", ("Un protection santé optimale", "Un budget maîtrisé")),
)


def fr_datetime(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def fr_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def iso_seconds(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")


def crm_url(rng: random.Random, kind: str) -> str:
    return f"{CRM_HOST}/{kind}/{rng.randrange(1_000_000):06d}"


def office_time(rng: random.Random, after: datetime, max_days: int) -> datetime:
    """A moment during office hours (Paris) on one of the `max_days` days after `after`."""
    day = after.astimezone(PARIS).date() + timedelta(days=rng.randint(1, max_days))
    return datetime(day.year, day.month, day.day, 8, 30, tzinfo=PARIS) + timedelta(minutes=rng.randint(0, 660))


def _rng(core: FicheCore, section: str) -> random.Random:
    return derive_rng(core.seed, "section", section, core.fiche_id)


def _sale_end(core: FicheCore) -> datetime:
    sale = core.sale_call
    return sale.start + timedelta(seconds=sale.duration_seconds)


def _last_call(core: FicheCore) -> datetime:
    return max(rec.start for rec in core.recordings)


def information(core: FicheCore) -> Json:
    rng = _rng(core, "information")
    last_call = _last_call(core)
    provenance_id, provenance_nom = rng.choice(PROVENANCES)
    labels = rng.sample(ETIQUETTES, rng.randint(0, 3))
    return {
        "fiche_id": core.fiche_id,
        "cle": core.cle,
        "date_insertion": fr_datetime(core.inserted_at),
        "createur": core.agent.person.display if rng.random() < 0.3 else None,
        "fiches_associees": None,
        "nombre_acces": rng.randint(4, 120),
        "dernier_acces": fr_datetime(office_time(rng, last_call, 20)),
        "groupe": core.group.nom,
        "groupe_responsable": core.lead.person.display,
        "groupe_gestion": "Réclamation :",
        "groupe_reclamation": "",
        "agence_id": core.group.agence_id,
        "agence_nom": core.group.agence_nom,
        "attribution_user_id": core.agent.id,
        "attribution_user_nom": core.agent.person.display,
        "provenance_id": provenance_id,
        "provenance_nom": provenance_nom,
        "provenance_numero": None,
        "provenance_periode_rappel": None,
        "origine_id": None,
        "origine_nom": None,
        "attribution_bis_user_id": None,
        "attribution_bis_user_nom": None,
        "refus_demarchage": False,
        "exception_demarchage": False,
        "exception_demarchage_commentaire": "",
        "niveau_interet": rng.choice((None, None, 1, 2, 3)),
        "nombre_ouverture_mails": (opened := rng.randint(0, 6)),
        "derniere_ouverture_mail": fr_datetime(office_time(rng, last_call, 3)) if opened else None,
        "nombre_visualisation_pages": rng.randint(0, 4),
        "derniere_visualisation_page": fr_datetime(_sale_end(core) + timedelta(minutes=rng.randint(5, 600))),
        "espace_prospect_url": None,
        "ferme_espace_prospect": False,
        "desinscription_mail": False,
        "corbeille": False,
        "archive": False,
        "modules": ["Santé"],
        "etiquettes": [
            {
                "nom": name,
                "date": fr_date((core.inserted_at + timedelta(days=offset)).date()),
                "style": f"background:{color};color:#fff;padding:4px;margin:4px;float:left;border-radius:4px;",
            }
            for offset, (name, color) in enumerate(labels, start=1)
        ],
    }


def prospect(core: FicheCore) -> Json:
    rng = _rng(core, "prospect")
    p = core.prospect
    profession, csp, csp_text = p.profession
    regime_code, regime_text = REGIMES[p.regime - 1]
    return {
        "prospect_id": p.prospect_id,
        "civilite": p.person.civilite,
        "civilite_text": p.person.civilite_text,
        "nom": p.person.nom,
        "prenom": p.person.prenom,
        "date_naissance": fr_date(p.birth_date),
        "regime": regime_code,
        "regime_text": regime_text,
        "telephone": p.telephone,
        "mobile": None,
        "telephone_2": p.telephone_2,
        "mail": p.email,
        "mail_2": None,
        "adresse": p.street,
        "code_postal": p.code_postal,
        "ville": p.ville,
        "num_secu": None,
        "num_affiliation": derive_digits(core.seed, "affiliation", core.fiche_id, length=9),
        "situation_familiale": p.situation,
        "situation_familiale_text": dict(FAMILY_SITUATIONS)[p.situation],
        "madelin": regime_code == "2" and rng.random() < 0.5,
        "profession": profession,
        "csp": csp,
        "csp_text": csp_text,
        "fax": None,
    }


def conjoint(core: FicheCore) -> Json | None:
    rng = _rng(core, "conjoint")
    if not core.prospect.has_partner or rng.random() < 0.4:
        return None
    partner = draw_person(rng, civilite=3 - core.prospect.person.civilite)
    born = core.prospect.birth_date
    return {
        "conjoint_id": derive_digits(core.seed, "conjoint-id", core.fiche_id, length=7),
        "civilite": partner.civilite,
        "civilite_text": partner.civilite_text,
        "nom": core.prospect.person.nom,
        "prenom": partner.prenom,
        "date_naissance": fr_date(date(born.year + rng.randint(-5, 5), rng.randint(1, 12), rng.randint(1, 28))),
        "regime": "1",
        "regime_text": "Régime Général",
        "telephone": None,
        "mobile": None,
        "mail": None,
        "profession": None,
        "csp": None,
        "csp_text": None,
    }


def enfants(core: FicheCore) -> list[Json]:
    rng = _rng(core, "enfants")
    children = []
    for number in range(core.prospect.children):
        child = draw_person(rng)
        children.append(
            {
                "enfant_id": derive_digits(core.seed, "enfant-id", core.fiche_id, number, length=7),
                "civilite": child.civilite,
                "civilite_text": child.civilite_text,
                "nom": core.prospect.person.nom,
                "prenom": child.prenom,
                "date_naissance": fr_date(
                    date(core.day.year - rng.randint(1, 20), rng.randint(1, 12), rng.randint(1, 28))
                ),
                "regime": "1",
                "regime_text": "Régime Général",
            }
        )
    return children


def _quote_title(formula: Formula) -> str:
    return f"{formula.groupe} {formula.gamme}{formula.nom}"


def mails(core: FicheCore) -> list[Json]:
    """Newest first, as the CRM lists them: welcome, membership project, personalised quotes."""
    rng = _rng(core, "mails")
    agent = core.agent.person.display
    sale_end = _sale_end(core)
    sent = [
        (office_time(rng, sale_end, 6), "z (Bien venu)", ""),
        (sale_end + timedelta(minutes=rng.randint(1, 20)), "z Projet adhésion", agent),
        (
            sale_end - timedelta(minutes=rng.randint(5, 60)),
            f"Mail Devis Personnalisé{_quote_title(core.formula)}",
            agent,
        ),
    ]
    return [
        {
            "date_envoi": fr_datetime(when),
            "type_mail": kind,
            "utilisateur": who,
            "visualisation_url": crm_url(rng, "visualisation_url"),
        }
        for when, kind, who in sorted(sent, reverse=True)
    ]


def rendez_vous(core: FicheCore) -> list[Json]:
    rng = _rng(core, "rendez_vous")
    meetings = []
    for number in range(rng.choice((0, 0, 1, 2))):
        start = core.inserted_at + timedelta(days=number + 1, hours=rng.randint(0, 6))
        meetings.append(
            {
                "rdv_id": derive_digits(core.seed, "rdv", core.fiche_id, number, length=6),
                "etiquette": "Rappel",
                "etiquette_color": "#2196F3",
                "utilisateur": core.agent.person.display,
                "date_debut": fr_datetime(start),
                "date_fin": fr_datetime(start + timedelta(minutes=30)),
                "commentaire": rng.choice((None, "Rappeler pour la signature", "Client disponible en fin de journée")),
                "statut": rng.choice(("Effectué", "Planifié")),
            }
        )
    return meetings


def commentaires(core: FicheCore) -> list[Json]:
    rng = _rng(core, "commentaires")
    authors = (core.agent.person.display, core.lead.person.display, "Unknown", "Unknown")
    moments = sorted(
        (office_time(rng, core.inserted_at, 30) for _ in range(rng.randint(0, 8))),
        reverse=True,
    )
    return [
        {
            "commentaire_id": f"comm_{n}",
            "date": fr_datetime(when),
            "utilisateur": rng.choice(authors),
            "texte": rng.choice(COMMENTS),
        }
        for n, when in enumerate(moments)
    ]


def _account(rng: random.Random, core: FicheCore) -> Json:
    return {
        "account_id": f"{rng.randrange(1_000_000):06d}",
        "titulaire_nom": core.prospect.person.nom,
        "titulaire_prenom": core.prospect.person.prenom,
        "titulaire_adresse": core.prospect.street,
        "titulaire_cp": core.prospect.code_postal,
        "titulaire_ville": core.prospect.ville,
    }


def _ancien_contrat(rng: random.Random, core: FicheCore) -> Json:
    echeance = fr_date(date(core.day.year, 12, 31))
    if core.former_insurer is None:
        empty = ("assureur", "code_assureur", "adresse", "code_postal", "ville", "date_souscription")
        return {
            "deja_assure": False,
            "plus_12_mois": False,
            "ria_requested": False,
            **dict.fromkeys(empty, ""),
            "date_echeance": echeance,
            **dict.fromkeys(("num_contrat", "formule", "cotisation"), ""),
        }
    name, code = core.former_insurer
    over_a_year = rng.random() < 0.85
    since = date(core.day.year - rng.randint(1 if over_a_year else 0, 12), rng.randint(1, 12), 1)
    return {
        "deja_assure": True,
        "plus_12_mois": over_a_year,
        "ria_requested": over_a_year,
        "assureur": name,
        "code_assureur": code,
        "adresse": f"{rng.randint(1, 90)} avenue de la Mutualité",
        "code_postal": core.prospect.code_postal,
        "ville": core.prospect.ville,
        "date_souscription": fr_date(since),
        "date_echeance": echeance,
        "num_contrat": derive_digits(core.seed, "former-contract", core.fiche_id, length=8),
        "formule": rng.choice(("Niveau 2", "Confort", "Essentielle")),
        "cotisation": f"{core.cotisation * rng.uniform(0.8, 1.3):.2f}",
    }


def _questions_conseil(rng: random.Random, core: FicheCore) -> dict[str, str]:
    answers: dict[str, str] = {}
    for question, choices in QUESTIONS_CONSEIL_DEFAULTS:
        if question == QUESTION_CURRENT_COVER:
            answers[question] = "Oui" if core.former_insurer else "Non"
        else:
            answers[question] = rng.choice(choices)
    return answers


def elements_souscription(core: FicheCore) -> Json:
    rng = _rng(core, "elements_souscription")
    formula = core.formula
    signed = _sale_end(core) + timedelta(minutes=rng.randint(1, 15))
    born_in = core.prospect.code_postal[:2]
    return {
        "souscription_id": f"{rng.randrange(1_000_000):06d}",
        "date_souscription": iso_seconds(signed - timedelta(minutes=rng.randint(3, 10))),
        "date_signature": iso_seconds(signed),
        "date_validation": iso_seconds(signed + timedelta(days=rng.randint(1, 3))) if rng.random() < 0.5 else None,
        "num_contrat": derive_digits(core.seed, "contract", core.fiche_id, length=8),
        "annulation_contrat": False,
        "type_vente": "1",
        "vente_a_froid": "3",
        "vf_accept": "0",
        "ancien_contrat": _ancien_contrat(rng, core),
        "produit": {
            "date_effet": fr_date(core.effective_date) if rng.random() < 0.7 else None,
            "date_effet_modifiable": "",
            "formule": f"{_quote_title(formula)}à{euros_fr(core.cotisation)}€/mois",
            "groupe_nom": formula.groupe,
            "gamme_nom": formula.gamme,
            "formule_nom": formula.nom,
            "cotisation": f"{core.cotisation:.2f}",
            "type_contrat": None,
            "type_client": None,
            "logo_url": None,
            "garanties_url": crm_url(rng, "garanties_url"),
            "dipa_url": crm_url(rng, "dipa_url"),
            "conditions_generales_url": crm_url(rng, "conditions_generales_url"),
            "bulletin_adhesion_url": crm_url(rng, "bulletin_adhesion_url"),
            "devoir_conseil_url": crm_url(rng, "devoir_conseil_url"),
        },
        "paiement": {
            "mode_paiement": "Prélèvement",
            "prelevement_le": str(core.debit_day),
            "periodicite": "mensuel",
            "pas_coord_bancaires": False,
            "compte_prelevement": _account(rng, core),
            "compte_virement": _account(rng, core),
        },
        "questions_complementaires": dict(
            zip(
                QUESTIONS_COMPLEMENTAIRES,
                (born_in, core.prospect.ville, "FRANCE", "Française", core.prospect.person.nom),
                strict=True,
            )
        ),
        "questions_conseil": _questions_conseil(rng, core),
        "raw_data": {},
    }


def tarification(core: FicheCore) -> list[Json]:
    """The quotes compared before the sale, the sold formula among them; absent on many fiches."""
    rng = _rng(core, "tarification")
    if rng.random() < 0.5:
        return []
    age = core.age
    others = rng.sample([f for f in FORMULAS if f != core.formula], 2)
    gammes = []
    for formula in sorted({core.formula, *others}, key=lambda f: (f.groupe, f.gamme, f.level)):
        price = core.cotisation if formula == core.formula else formula.base_monthly_eur * age_factor(age)
        gammes.append(
            {
                "nom": f"{formula.groupe} {formula.gamme}",
                "logo_url": None,
                "garanties_url": crm_url(rng, "garanties_url"),
                "conditions_generales_url": crm_url(rng, "conditions_generales_url"),
                "bulletin_adhesion_url": crm_url(rng, "bulletin_adhesion_url"),
                "formules": [
                    {
                        "formule_id": derive_digits(
                            core.seed, "formule-id", formula.groupe, formula.gamme, formula.nom, length=5
                        ),
                        "nom": formula.nom,
                        "prix": f"{price:.2f}",
                        "details": formula.guarantees(),
                    }
                ],
            }
        )
    return [{"nom": "Santé", "gammes": gammes}]


def reclamations(core: FicheCore) -> list[Json]:
    rng = _rng(core, "reclamations")
    if rng.random() >= 0.05:
        return []
    opened = office_time(rng, _sale_end(core), 40)
    return [
        {
            "reclamation_id": f"{rng.randrange(100_000):05d}",
            "date_creation": fr_datetime(opened),
            "assureur": core.formula.groupe,
            "type_reclamation": rng.choice(("Remboursement", "Résiliation", "Démarchage")),
            "description": "Réclamation de démonstration.",
            "statut": rng.choice(("En cours", "Traitée")),
            "date_traitement": None,
            "utilisateur_creation": core.lead.person.display,
            "utilisateur_traitement": None,
        }
    ]


def autres_contrats(core: FicheCore) -> list[Json]:
    rng = _rng(core, "autres_contrats")
    if rng.random() >= 0.1:
        return []
    return [
        {
            "contrat_id": f"{rng.randrange(1_000_000):06d}",
            "type_contrat": rng.choice(("Prévoyance", "Obsèques", "Emprunteur")),
            "assureur": rng.choice(("PREVALIA", "HELIOS MUTUELLE")),
            "numero_contrat": derive_digits(core.seed, "other-contract", core.fiche_id, length=8),
            "date_souscription": fr_date(core.day - timedelta(days=rng.randint(60, 2000))),
            "montant": f"{rng.uniform(8, 40):.2f}",
            "commentaire": None,
        }
    ]


def documents(core: FicheCore) -> list[Json]:
    rng = _rng(core, "documents")
    kinds = (("Pièce d'identité", "cni"), ("RIB", "rib"), ("Bulletin d'adhésion", "bulletin"))
    docs = []
    for number, (label, slug) in enumerate(rng.sample(kinds, rng.randint(0, 3))):
        docs.append(
            {
                "document_id": derive_digits(core.seed, "document", core.fiche_id, number, length=6),
                "type": label,
                "nom": f"{slug}_{core.prospect.person.nom.lower()}.pdf",
                "taille": f"{rng.randint(60, 900)} Ko",
                "date_creation": fr_datetime(office_time(rng, _sale_end(core), 3)),
                "selection_mail": rng.random() < 0.3,
                "partage_prospect": rng.random() < 0.3,
                "signer": slug == "bulletin",
                "download_url": crm_url(rng, "documents"),
            }
        )
    return docs


def alertes(core: FicheCore) -> list[Json]:
    rng = _rng(core, "alertes")
    sold = _sale_end(core).astimezone(PARIS).date()
    agent = core.agent.person.display
    alerts = []
    for _ in range(rng.randint(1, 4)):
        libelle = rng.choice(("SIGNASSUR", "SIGNASSUR", "APSCAN"))
        by_agent = rng.random() < 0.5
        alerts.append(
            {
                "alerte_id": f"{rng.randrange(1_000_000):06d}",
                "etat": "Traitée",
                "date": fr_date(sold),
                "etiquette": None,
                "libelle": libelle,
                "deposee_le": fr_date(sold) if by_agent else "",
                "deposee_par": agent if by_agent else "",
                "commentaire": "A 10:20 : OK" if libelle == "APSCAN" else "Contrat envoyé en signature.",
                "attribuee_a": agent if by_agent and rng.random() < 0.5 else None,
                "traitee_le": fr_date(sold) if rng.random() < 0.4 else None,
                "traitee_par": None,
                "commentaire_traitement": None,
            }
        )
    return alerts


def raw_sections(core: FicheCore) -> dict[str, str]:
    """Sections the gateway could not parse, as raw text; empty on most fiches."""
    rng = _rng(core, "raw_sections")
    if rng.random() >= 0.1:
        return {}
    return {"historique_statuts": f"{fr_datetime(core.inserted_at)} Nouveau > Vente"}


def mail_devis(core: FicheCore) -> Json | None:
    """The personalised quote e-mail, with its guarantee table; null when none was sent."""
    rng = _rng(core, "mail_devis")
    if rng.random() < 0.2:
        return None
    formula = core.formula
    agent = core.agent.person.display
    person = core.prospect.person
    age = core.age
    categories = {}
    for key, (label, value) in enumerate(formula.guarantees().items()):
        items = [{"name": f"{label} - base", "value": value, "note_ref": str(key + 1)}]
        named = key % 2 == 0
        subcategories: Json = {"principal": {"name": label, "items": items}} if named else {"principal": items}
        categories[f"cat_{key + 1}"] = {
            "category_name": label,
            "note_references": [str(key + 1)],
            "subcategories": subcategories,
            "items": items,
        }
    return {
        "mail_devis": {
            "date_envoi": fr_datetime(_sale_end(core) - timedelta(minutes=rng.randint(5, 60))),
            "type_mail": f"Mail Devis Personnalisé{_quote_title(formula)}",
            "utilisateur": agent,
            "visualisation_url": crm_url(rng, "visualisation_url"),
        },
        "customer_info": {"email": core.prospect.email, "phone": core.prospect.telephone, "name": person.display},
        "garanties_link": {"url": crm_url(rng, "garanties"), "text": "Voir le tableau des garanties"},
        "garanties_details": {
            "gamme": formula.gamme,
            "product_name": f"{formula.groupe} {formula.gamme}",
            "formule": formula.nom,
            "price": f"{euros_fr(core.cotisation)} €",
            "age_range": f"{age // 5 * 5}-{age // 5 * 5 + 4} ans",
            "subscription_link": crm_url(rng, "souscription"),
            "agence_info": {
                "nom": core.group.agence_nom,
                "adresse": "10 rue de l'Exemple",
                "telephone": core.agent.telephone,
                "email": core.agent.email,
                "logo_url": None,
            },
            "fiche_info": {"fiche_id": core.fiche_id, "cle": core.cle, "conseiller": agent},
            "subscriber_info": {"civilite": person.civilite_text, "nom": person.nom, "prenom": person.prenom},
            "documents": {
                "conditions_generales": crm_url(rng, "conditions_generales"),
                "tableau_garanties": crm_url(rng, "tableau_garanties"),
                "document_information": crm_url(rng, "document_information"),
                "exemples_remboursements": crm_url(rng, "exemples_remboursements"),
            },
            "menu_links": {
                "home": CRM_HOST,
                "garanties": crm_url(rng, "garanties"),
                "documents": crm_url(rng, "documents"),
                "subscription": crm_url(rng, "souscription"),
            },
            "garanties": categories,
            "notes": [
                {"number": str(n), "text": f"Remboursement dans la limite des frais réels (note {n})."}
                for n in range(1, len(categories) + 1)
            ],
        },
    }

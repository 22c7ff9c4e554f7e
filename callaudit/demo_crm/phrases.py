# ruff: noqa: E501 -- spoken sentences read best whole, one per line.
"""What agents and clients say: several French phrasings per segment, plus the talk around them.

Templates use `str.format` fields filled from the fiche (`{client}`, `{agent}`, `{conseiller}`,
`{firm}`, `{orias}`, `{assureur}`, `{groupe}`, `{gamme}`, `{formule}`, `{hospi}`, `{dentaire}`,
`{optique}`, `{soins}`, `{carence}`, `{prix}`, `{jour}`, `{date_effet}`, `{ville}`, `{naissance}`, `{code}`).
`{carence}` is the sold plan's waiting period as a clause, so what agents say matches the catalogue.
Each segment phrasing contains one of the segment's marker words and no other segment's; the talk
around segments (fillers, holds, closings, backchannels) contains none (tests enforce both).
Phrasings vary the way people and speech recognisers do: "14 jours" / "quatorze jours", ORIAS
spelled out, hesitations.
"""

from __future__ import annotations

from typing import Literal

from callaudit.demo_crm.segments import (
    AGENT_IDENTITY,
    CARE_HOME_CHECK,
    CONSENT_SIGNATURE,
    COOLING_OFF,
    COPY_RIGHT,
    CURRENT_COVER,
    DATA_PROTECTION,
    EXCLUSIONS,
    FIRM_ORIAS,
    GREETING,
    NEEDS_DISCOVERY,
    PRICE_FEES,
    PRODUCT_GUARANTEES,
    RECORDING_NOTICE,
    RETENTION_PERIOD,
    SOLIDARITY_AID,
    WAITING_PERIOD,
)

Role = Literal["agent", "client"]
Line = tuple[Role, str]
Phrasing = tuple[Line, ...]

A: Role = "agent"
C: Role = "client"

SEGMENT_PHRASINGS: dict[str, tuple[Phrasing, ...]] = {
    RETENTION_PERIOD: (
        ((A, "Cette conversation sera conservée pendant deux ans, ensuite elle est détruite."), (C, "D'accord.")),
        ((A, "Pour votre information, nous conservons l'audio de nos échanges 2 ans au maximum."),),
        ((A, "La durée de conservation de cet appel est de vingt-quatre mois."), (C, "Ah bon, très bien.")),
    ),
    COPY_RIGHT: (
        ((A, "Vous pouvez à tout moment nous demander une copie de cet échange."), (C, "Très bien, merci.")),
        ((A, "Si vous le souhaitez, on peut vous transmettre une copie de l'audio sur simple demande par mail."),),
        (
            (A, "Sachez aussi que vous avez droit à une copie de la bande, il suffit de nous écrire."),
            (C, "Ah, d'accord."),
        ),
    ),
    DATA_PROTECTION: (
        ((A, "Vos données personnelles restent chez nous, vous avez un droit d'accès et de rectification."),),
        ((A, "Conformément au RGPD, vous pouvez consulter, corriger ou faire effacer vos informations."), (C, "Oui.")),
        (
            (A, "Côté données personnelles, vous pouvez en demander la suppression quand vous voulez."),
            (C, "D'accord, c'est noté."),
        ),
    ),
    CARE_HOME_CHECK: (
        ((A, "Est-ce que vous résidez en EHPAD ou en maison de retraite ?"), (C, "Non, je vis chez moi.")),
        ((A, "Petite question obligatoire : vous vivez dans un EHPAD actuellement ?"), (C, "Non non.")),
        ((A, "Vous n'êtes pas hébergé dans un EHPAD, on est d'accord ?"), (C, "Non, pas du tout.")),
    ),
    SOLIDARITY_AID: (
        ((A, "Bénéficiez-vous de la complémentaire santé solidaire, la CSS ?"), (C, "Non, je ne l'ai pas.")),
        ((A, "Vous n'avez pas droit à la CSS, l'ancienne CMU ?"), (C, "Non, je ne crois pas.")),
        (
            (A, "Il faut que je vous demande si vous touchez une aide comme la CSS, la complémentaire solidaire."),
            (C, "Non, aucune aide."),
        ),
    ),
    WAITING_PERIOD: (
        ((A, "Côté délai de carence, {carence}."), (C, "D'accord.")),
        ((A, "Pour la carence sur cette formule, {carence}."), (C, "Ça me va.")),
        ((A, "Je vous précise la carence de votre formule : {carence}."), (C, "Très bien, c'est noté.")),
    ),
    GREETING: (
        ((A, "Allô, bonjour {client} ?"), (C, "Oui, bonjour.")),
        (
            (A, "Bonjour {client}, comment allez-vous ?"),
            (C, "Bonjour, ça va bien merci, et vous ?"),
            (A, "Très bien, merci."),
        ),
        ((A, "Oui bonjour, je cherche à joindre {client}."), (C, "Oui c'est moi, bonjour.")),
        ((A, "Bonjour {client}, vous m'entendez bien ?"), (C, "Oui oui, bonjour, je vous entends.")),
        ((A, "Bonjour, je suis bien chez {client} ?"), (C, "Oui, c'est bien ça.")),
    ),
    AGENT_IDENTITY: (
        ((A, "Je suis {agent}, votre {conseiller} pour votre complémentaire santé."),),
        ((A, "Je me présente, {agent}, {conseiller} en assurance santé."), (C, "D'accord.")),
        ((A, "C'est {agent}, {conseiller} santé, c'est moi qui suis votre dossier."), (C, "Ah oui, d'accord.")),
        ((A, "{agent} à l'appareil, je suis {conseiller} et je m'occupe de votre demande de devis."),),
    ),
    FIRM_ORIAS: (
        (
            (
                A,
                "Je vous appelle de la part de {firm}, cabinet de courtage immatriculé à l'ORIAS sous le numéro {orias}.",
            ),
        ),
        (
            (
                A,
                "{firm} est un courtier en assurances inscrit à l'ORIAS, numéro {orias}, vous pouvez le vérifier sur orias point fr.",
            ),
            (C, "D'accord, très bien."),
        ),
        ((A, "Nous sommes {firm}, courtier, notre numéro Orias c'est le {orias}."), (C, "Hm hm.")),
        ((A, "Petite information légale : {firm}, courtier immatriculé au registre de l'O.R.I.A.S., numéro {orias}."),),
    ),
    RECORDING_NOTICE: (
        (
            (
                A,
                "Je vous informe que cet appel est enregistré à des fins de qualité et de formation, vous avez le droit de vous y opposer.",
            ),
            (C, "Pas de problème."),
        ),
        (
            (
                A,
                "Notre conversation peut être enregistrée pour la qualité de service, si vous ne le souhaitez pas dites-le-moi simplement.",
            ),
            (C, "Non, ça me va."),
        ),
        (
            (
                A,
                "Avant de commencer, je vous précise que l'appel fait l'objet d'un enregistrement, vous pouvez refuser à tout moment.",
            ),
            (C, "D'accord, allez-y."),
        ),
        (
            (A, "Petite précision, cet entretien est enregistré, vous pouvez vous opposer à cet enregistrement."),
            (C, "Oui oui, aucun souci."),
        ),
    ),
    NEEDS_DISCOVERY: (
        (
            (
                A,
                "Alors, pour bien cerner vos besoins, qu'est-ce qui compte le plus pour vous : l'hospitalisation, le dentaire, l'optique ?",
            ),
            (C, "Surtout le dentaire et les lunettes, j'ai des frais assez souvent."),
            (A, "D'accord, et vous consultez des spécialistes régulièrement ?"),
            (C, "Un peu, un cardiologue une fois par an."),
        ),
        (
            (A, "Parlons de vos besoins. Vous portez des lunettes ?"),
            (C, "Oui, des verres progressifs."),
            (A, "Et côté dentaire, des soins prévus ?"),
            (C, "Peut-être une couronne l'année prochaine."),
        ),
        (
            (A, "Quels sont vos besoins en santé aujourd'hui ?"),
            (C, "Je voudrais être bien couvert pour l'hôpital, c'est ma priorité."),
            (A, "Je note, la priorité c'est l'hospitalisation, et les dépassements d'honoraires."),
        ),
        (
            (A, "Je vais vous poser quelques questions sur vos besoins, vous allez souvent chez le médecin ?"),
            (C, "Euh, pas tellement, deux ou trois fois par an."),
            (A, "Et vous avez un traitement régulier ?"),
            (C, "Non, rien de particulier."),
        ),
    ),
    CURRENT_COVER: (
        (
            (A, "Vous avez actuellement une mutuelle ?"),
            (C, "Oui, chez {assureur}, depuis plusieurs années."),
            (
                A,
                "Très bien, après un an de contrat vous pouvez résilier à tout moment, et c'est nous qui envoyons la demande de résiliation.",
            ),
            (C, "Ah, c'est pratique."),
        ),
        (
            (A, "Aujourd'hui vous êtes couvert par {assureur}, c'est bien ça ?"),
            (C, "Oui."),
            (
                A,
                "Je vous explique : on s'occupe de la résiliation pour vous, vous ne paierez pas deux contrats en même temps.",
            ),
        ),
        (
            (
                A,
                "Concernant votre contrat actuel chez {assureur}, on fera la résiliation infra-annuelle à votre place.",
            ),
            (C, "D'accord, je n'ai rien à envoyer alors ?"),
            (A, "Non, rien du tout."),
        ),
    ),
    PRODUCT_GUARANTEES: (
        (
            (
                A,
                "Je vous propose la formule {formule} de la gamme {gamme} chez {groupe}. Côté garanties, l'hospitalisation est prise en charge à {hospi} pour cent, le dentaire à {dentaire} pour cent et l'optique jusqu'à {optique} euros par an.",
            ),
            (C, "D'accord, ça me semble bien."),
        ),
        (
            (
                A,
                "La garantie que je vous recommande, c'est {groupe} {gamme}, formule {formule} : {hospi} % en hospitalisation, {soins} % sur les soins courants.",
            ),
            (C, "Et pour les lunettes ?"),
            (A, "Jusqu'à {optique} euros par an, et {dentaire} % sur le dentaire."),
        ),
        (
            (
                A,
                "Avec {groupe}, gamme {gamme} en formule {formule}, vos garanties couvrent l'hôpital à {hospi} %, les consultations à {soins} % et le dentaire à {dentaire} %.",
            ),
            (C, "Ça me paraît correct."),
        ),
    ),
    EXCLUSIONS: (
        (
            (
                A,
                "Attention, il y a des exclusions : les cures thermales et la chirurgie esthétique ne sont pas prises en charge.",
            ),
            (C, "D'accord."),
        ),
        (
            (A, "Les soins à visée esthétique sont exclus, ainsi que les frais engagés avant la date d'effet."),
            (C, "Oui, c'est normal."),
        ),
        (
            (
                A,
                "Les dépassements d'honoraires hors parcours de soins sont exclus, comme la chirurgie esthétique.",
            ),
            (C, "Ah, d'accord."),
        ),
        (
            (
                A,
                "Je dois aussi vous parler des exclusions du contrat, elles sont listées dans les conditions générales que vous allez recevoir.",
            ),
        ),
    ),
    PRICE_FEES: (
        ((A, "La cotisation mensuelle est de {prix}, sans frais de dossier."), (C, "D'accord, ça va.")),
        (
            (A, "Pour tout ça, votre cotisation sera de {prix} par mois, prélevée le {jour} de chaque mois."),
            (C, "Très bien."),
        ),
        (
            (A, "Niveau cotisation, on est à {prix} par mois, les frais de dossier sont offerts."),
            (C, "C'est un peu plus cher que maintenant mais bon."),
        ),
        (
            (
                A,
                "Alors votre cotisation, c'est {prix} par mois, plus vingt euros de frais de dossier la première fois.",
            ),
            (C, "D'accord."),
        ),
    ),
    COOLING_OFF: (
        (
            (A, "Vous disposez d'un délai de rétractation de quatorze jours à compter de la conclusion du contrat."),
            (C, "D'accord."),
        ),
        (
            (
                A,
                "Vous avez 14 jours pour changer d'avis, c'est le délai de rétractation légal, sans frais ni justification.",
            ),
            (C, "Ah très bien."),
        ),
        (
            (
                A,
                "Je vous rappelle votre droit de rétractation : quatorze jours calendaires, par simple courrier ou par mail.",
            ),
            (C, "Très bien, c'est noté."),
        ),
        ((A, "Et bien sûr vous gardez un droit de rétractation de 14 jours."),),
    ),
    CONSENT_SIGNATURE: (
        (
            (A, "Vous allez recevoir un code par SMS pour la signature électronique, vous pouvez me le lire ?"),
            (C, "Oui, c'est {code}."),
            (A, "Parfait, c'est validé. Vous êtes d'accord pour adhérer au contrat ?"),
            (C, "Oui, je suis d'accord."),
        ),
        (
            (A, "Est-ce que vous acceptez de souscrire ? Je vous envoie le lien pour signer."),
            (C, "Oui j'accepte, je viens de signer."),
        ),
        (
            (A, "Je vous transmets le bulletin d'adhésion par mail, vous le signez directement en ligne."),
            (C, "D'accord, voilà, c'est fait."),
            (A, "Merci, je vois bien votre signature, l'adhésion démarre le {date_effet}."),
        ),
    ),
}
"""Phrasings of each segment; a call picks one per segment it includes."""

UNINSURED_CURRENT_COVER: tuple[Phrasing, ...] = (
    (
        (A, "Est-ce que vous avez déjà une complémentaire ?"),
        (C, "Non, je n'ai plus rien depuis un moment."),
        (A, "D'accord, donc pas de résiliation à prévoir, le contrat pourra démarrer rapidement."),
    ),
    (
        (A, "Vous n'avez pas de mutuelle en ce moment, c'est bien ça ?"),
        (C, "Non, plus depuis ma retraite."),
        (A, "Très bien, donc rien à résilier de votre côté."),
    ),
)
"""The current-cover segment for prospects without a contract to cancel."""

FILLERS: tuple[Phrasing, ...] = (
    ((A, "Vous êtes toujours là ?"), (C, "Oui oui, excusez-moi, quelqu'un sonnait à la porte.")),
    ((A, "Je regarde votre dossier, une petite seconde."), (C, "Je vous en prie.")),
    (
        (C, "Et ça marche comment pour les remboursements ?"),
        (A, "C'est automatique avec la télétransmission, vous n'avez rien à faire."),
    ),
    ((C, "Vous pouvez répéter s'il vous plaît ?"), (A, "Bien sûr, je reprends plus lentement.")),
    ((A, "Vous avez de quoi noter ?"), (C, "Attendez, je cherche un stylo... voilà.")),
    (
        (A, "Je vérifie l'orthographe de votre adresse mail."),
        (C, "C'est bien ça, avec un point entre le prénom et le nom."),
    ),
    ((A, "Vous me confirmez votre date de naissance ?"), (C, "Oui, le {naissance}.")),
    ((A, "Vous habitez toujours à {ville} ?"), (C, "Oui, toujours, depuis vingt ans.")),
    (
        (C, "Il y a une carte à présenter chez le pharmacien ?"),
        (A, "Oui, vous recevrez votre carte de tiers payant par courrier."),
    ),
    (
        (C, "Ma fille m'a dit de faire attention avec ces appels."),
        (A, "Vous avez bien raison, prenez le temps de tout relire."),
    ),
    (
        (A, "On a une application aussi, pour suivre vos remboursements."),
        (C, "Oh, moi et les applications, vous savez..."),
    ),
    ((C, "Et si je déménage, ça change quelque chose ?"), (A, "Non, il suffit de nous donner votre nouvelle adresse.")),
    ((A, "Vous préférez recevoir les documents par mail ou par courrier ?"), (C, "Par mail, c'est plus simple.")),
    ((C, "Pardon, il y a du bruit chez moi."), (A, "Pas de souci, je vous entends bien.")),
    ((A, "Je complète votre dossier pendant qu'on parle."), (C, "D'accord, prenez votre temps.")),
    ((C, "C'est la même chose pour mon mari ?"), (A, "On pourra faire un devis pour lui aussi, si vous voulez.")),
)
"""Neutral exchanges that fill the rest of a long call between segments."""

HOLD: tuple[Phrasing, Phrasing] = (
    ((A, "Je vous mets en attente quelques instants, ne quittez pas."), (C, "Oui.")),
    ((A, "Merci de votre patience, je reviens vers vous."), (C, "Je vous en prie.")),
)
"""Before and after a silent hold; the silence is the gap before the second part."""

CLOSINGS: tuple[Phrasing, ...] = (
    (
        (A, "Merci pour votre confiance, je vous souhaite une bonne journée."),
        (C, "Merci, au revoir."),
        (A, "Au revoir {client}."),
    ),
    (
        (A, "Voilà, c'est terminé pour moi, vous avez d'autres questions ?"),
        (C, "Non, c'est bon, merci."),
        (A, "Très bonne fin de journée, au revoir."),
    ),
    ((A, "Je vous laisse, bonne soirée {client}."), (C, "Bonne soirée, au revoir.")),
)

FOLLOW_UP_OPENERS: tuple[Phrasing, ...] = (
    ((A, "Je vous rappelle comme convenu pour finaliser votre dossier."), (C, "Oui, je vous attendais.")),
    ((A, "Je reviens vers vous pour terminer l'adhésion dont on a parlé."), (C, "Ah oui, allez-y.")),
)

CALLBACK_TALKS: tuple[Phrasing, ...] = (
    (
        (A, "Je vous dérange peut-être ?"),
        (C, "Oui, là je suis en voiture, vous pouvez me rappeler demain ?"),
        (A, "Bien sûr, demain matin alors."),
    ),
    ((C, "Je n'ai pas mes papiers sous la main."), (A, "Pas de souci, je vous rappelle en fin de journée.")),
    ((A, "C'est un bon moment pour parler de votre devis ?"), (C, "Pas vraiment, rappelez-moi après dix-huit heures.")),
)

VOICEMAIL_TALKS: tuple[Phrasing, ...] = (
    ((A, "Je vous laisse un message au sujet de votre demande de devis, rappelez-moi quand vous pourrez, merci."),),
    ((A, "Je n'arrive pas à vous joindre, je retente plus tard dans la journée, bonne journée."),),
)

AGENT_BACKCHANNELS = ("Oui.", "Je comprends.", "Très bien.", "D'accord.")
CLIENT_BACKCHANNELS = ("Oui.", "D'accord.", "Hm hm.", "Oui, je vous écoute.", "Très bien.", "Je vois.")

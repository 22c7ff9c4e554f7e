"""A labelled corpus of French health-insurance sales calls, written apart from the auditor.

Each control point of a scorecard has paraphrase families (ways of doing the act) and distractor
families (the words without the act: the client saying them, hearsay, negation, refusal, an unanswered
question, a deferral, a filler). Families are split into a development half (`dev/`) and a test half
(`test/`) by where they are written: a fiche of one half uses only that half's families, so reading
`dev/` never shows the phrasings the test half is scored on. `corpus.build_corpus` is the entry point.
"""

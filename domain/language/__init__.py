"""French language processing for audits: one spaCy pipeline per process, numbers, utterance features.

Nothing here knows a scorecard; `domain.audits.evidence` turns these features into verdicts.
"""

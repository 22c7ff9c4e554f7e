"""Test half of the corpus: families kept unseen by whoever develops the auditor; scores are reported on it."""

"""Development half of the corpus: the families the auditor may be developed against."""

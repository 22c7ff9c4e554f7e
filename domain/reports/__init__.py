"""The audit report: its view model (pure) and HTTP byte ranges for the recordings it plays."""

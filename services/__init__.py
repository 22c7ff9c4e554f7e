"""The stage services: the work of one pipeline stage over given fiches, shared by the Dagster
assets, the ad-hoc jobs and the API alike. `ingestion` mirrors the CRM, `transcription`
transcribes recordings, `auditing` audits fiches against a scorecard. Each holds the rules of
`domain` and reaches the outside through the ports of `services.ports`, which `resources`
implements; `services.base` is the skeleton they share."""

"""The runs seam: what a Dagster run of this code location is asked with, and how it is launched.

`runs.contract` names the jobs, the run tags and the typed requests (their job-level run config);
`runs.launcher` talks to dagster-webserver; `runs.launch` launches a stage's run and records it as
queued in the application database at once. The API, the sensors and the automation use it alike;
it imports neither of them.
"""

"""The LLM auditor: an OpenAI-compatible Chat Completions client with retries, a global Redis cap
on calls in flight, a price table, and the `Auditor` built on them (prompt and tools modes)."""

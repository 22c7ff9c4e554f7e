"""One module per outside system (database, redis, crm, stt, llm, mail, webhooks)."""

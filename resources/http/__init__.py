"""HTTP plumbing the connectors share (crm, stt, llm): retry timing (`retry`), messages safe to
store and show (`errors`), keys as pasted (`keys`)."""

"""`/api/audits`: audit lists, groupings, detail and metadata edits; launches join the same router."""

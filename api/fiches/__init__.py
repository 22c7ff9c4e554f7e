"""`/api/fiches`: cached CRM fiches, status, coverage and progressive fetches."""

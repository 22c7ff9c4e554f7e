"""`/api/auth` and the authentication / authorization machinery every router depends on."""

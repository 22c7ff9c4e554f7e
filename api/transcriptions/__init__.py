"""`/api/transcriptions`: launch transcriptions of fiches and read their coverage and transcripts."""

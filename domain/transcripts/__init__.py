"""Transcripts as the product uses them: words from any speech-to-text, cut into speaker turns."""

"""Speech-to-text: one interface (`SttProvider`), three providers chosen by `STT_PROVIDER`, and the
client that bounds, retries and times out every recording's transcription (`SttClient`)."""

"""Who speaks when, an add-on: voice activity (vad), the live tracker, turn-taking (turns)."""

__all__: list[str] = []

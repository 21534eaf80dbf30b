"""What this participant sends and receives as media: feeds, tracks, sources, local media,
encoders, quality caps, the file recorder."""

__all__: list[str] = []

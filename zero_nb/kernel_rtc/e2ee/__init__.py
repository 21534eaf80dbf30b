"""End-to-end encryption, an add-on: the frame format (``crypto``) and its hooks on the
send and receive paths (``rtc``)."""

__all__: list[str] = []

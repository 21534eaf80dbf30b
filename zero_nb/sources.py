"""Media sources: ``zero_nb.sources.test_pattern(...)``, ``tone(...)``, ``from_file(...)``, ..."""

from .kernel_rtc.media.encoded import write_test_clip
from .kernel_rtc.media.files import from_file
from .kernel_rtc.media.sources import (
    RESOLUTIONS,
    AudioSource,
    MediaSource,
    VideoSource,
    black,
    from_frames,
    level_to_amplitude,
    read_stamp,
    silence,
    solid,
    test_pattern,
    tone,
)

__all__ = [
    "RESOLUTIONS",
    "AudioSource",
    "MediaSource",
    "VideoSource",
    "black",
    "from_file",
    "from_frames",
    "level_to_amplitude",
    "read_stamp",
    "silence",
    "solid",
    "test_pattern",
    "tone",
    "write_test_clip",
]

"""Small generated audio files for the Twilio stand-in's recordings (deterministic, no encoder).

Twilio serves a recording's audio at its media URL as WAV (8 kHz, 16-bit, mono) and with
`.mp3` appended as MP3. The stand-in generates both from the recording's SID and duration,
capped at `MAX_SECONDS` so the files stay small: WAV is a 440 Hz tone written with the standard
library's `wave`; MP3 is a run of silent MPEG-1 Layer III frames (a valid stream any decoder
plays, built by hand: a frame header and all-zero side information and data). The same SID
always gives the same bytes, so a test can compare what reached it with `wav_bytes`/`mp3_bytes`.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave

#: Longest audio generated, whatever the recording's duration.
MAX_SECONDS = 2
WAV_RATE = 8000
_MP3_FRAME_HEADER = bytes((0xFF, 0xFB, 0x18, 0xC0))  # MPEG-1 L3, 32 kbit/s, 32 kHz, mono
_MP3_FRAME_BYTES = 144  # 144 * 32000 / 32000, no padding
_MP3_FRAME_SECONDS = 1152 / 32000


def _seconds(duration: int) -> float:
    return float(max(1, min(MAX_SECONDS, duration)))


def wav_bytes(sid: str, duration: int) -> bytes:
    """A WAV tone for a recording (its pitch varies with the SID, so files differ)."""
    pitch = 300 + int(hashlib.sha256(sid.encode()).hexdigest()[:4], 16) % 400
    frames = int(_seconds(duration) * WAV_RATE)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * n / WAV_RATE)))
        for n in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(WAV_RATE)
        out.writeframes(samples)
    return buffer.getvalue()


def mp3_bytes(sid: str, duration: int) -> bytes:
    """An MP3 of silence for a recording, led by an ID3v2 tag naming the SID."""
    title = sid.encode("ascii", "replace")[:64]
    frame = b"TIT2" + struct.pack(">I", len(title) + 1) + b"\x00\x00" + b"\x00" + title
    size = len(frame)
    synchsafe = bytes(((size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F))
    tag = b"ID3\x03\x00\x00" + synchsafe + frame
    count = math.ceil(_seconds(duration) / _MP3_FRAME_SECONDS)
    silent = _MP3_FRAME_HEADER + bytes(_MP3_FRAME_BYTES - len(_MP3_FRAME_HEADER))
    return tag + silent * count

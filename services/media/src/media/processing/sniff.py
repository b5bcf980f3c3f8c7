"""Decide a file's media type from its first bytes only (magic numbers), never from its name or Content-Type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["photo", "audio", "video"]

#: How many leading bytes `sniff` wants (more is fine, less may miss an EBML DocType or an ftyp brand list).
SNIFF_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What the magic bytes say: kind, short format name, canonical MIME type and the extension to store under."""

    kind: Kind
    format: str
    mime: str
    ext: str


JPEG = Sniffed("photo", "jpeg", "image/jpeg", "jpg")
PNG = Sniffed("photo", "png", "image/png", "png")
GIF = Sniffed("photo", "gif", "image/gif", "gif")
WEBP = Sniffed("photo", "webp", "image/webp", "webp")
HEIC = Sniffed("photo", "heic", "image/heic", "heic")
HEIF = Sniffed("photo", "heif", "image/heif", "heif")
MP3 = Sniffed("audio", "mp3", "audio/mpeg", "mp3")
WAV = Sniffed("audio", "wav", "audio/wav", "wav")
OGG = Sniffed("audio", "ogg", "audio/ogg", "ogg")
OPUS = Sniffed("audio", "opus", "audio/ogg", "opus")
FLAC = Sniffed("audio", "flac", "audio/flac", "flac")
M4A = Sniffed("audio", "m4a", "audio/mp4", "m4a")
AAC = Sniffed("audio", "aac", "audio/aac", "aac")
MP4 = Sniffed("video", "mp4", "video/mp4", "mp4")
MOV = Sniffed("video", "mov", "video/quicktime", "mov")
MKV = Sniffed("video", "mkv", "video/x-matroska", "mkv")
WEBM = Sniffed("video", "webm", "video/webm", "webm")
AVI = Sniffed("video", "avi", "video/x-msvideo", "avi")

#: sniffed format -> FFmpeg/PyAV demuxer name to force with `-f` / `av.open(format=...)`.
DEMUXERS: dict[str, str] = {
    "mp4": "mov",
    "mov": "mov",
    "m4a": "mov",
    "mkv": "matroska",
    "webm": "matroska",
    "avi": "avi",
    "mp3": "mp3",
    "wav": "wav",
    "ogg": "ogg",
    "opus": "ogg",
    "flac": "flac",
    "aac": "aac",
}

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_GENERIC = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_QT_BRANDS = {b"qt  "}
_MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso3",
    b"iso4",
    b"iso5",
    b"iso6",
    b"iso8",
    b"iso9",
    b"mp41",
    b"mp42",
    b"avc1",
    b"M4V ",
    b"M4VH",
    b"M4VP",
    b"mmp4",
    b"MSNV",
    b"dash",
    b"f4v ",
    b"3gp4",
    b"3gp5",
    b"3gp6",
    b"3gp7",
    b"3gp8",
    b"3g2a",
    b"3g2b",
    b"3g2c",
    b"XAVC",
    b"NDAS",
    b"NDSC",
    b"NDSH",
    b"NDSM",
    b"NDSP",
    b"NDSS",
    b"NDXC",
    b"NDXH",
    b"NDXM",
    b"NDXP",
    b"NDXS",
    b"CAEP",
    b"hvc1",
}


def demuxer_for(fmt: str) -> str:
    """Map a sniffed format (or an already-valid demuxer name) to the FFmpeg demuxer to force."""
    if fmt in DEMUXERS:
        return DEMUXERS[fmt]
    if fmt in set(DEMUXERS.values()):
        return fmt
    raise ValueError(f"no demuxer for format {fmt!r}")


def _ftyp(head: bytes) -> Sniffed | None:
    """Classify an ISO-BMFF file from its ftyp box (major + compatible brands)."""
    size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    end = min(len(head), size if 16 <= size <= 4096 else 16)
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    brands = {major} | compatible
    if major in _HEIC_BRANDS:
        return HEIC
    if major in _HEIF_GENERIC:
        if brands & _HEIC_BRANDS:
            return HEIC
        if brands & _AVIF_BRANDS:
            return None  # AVIF is not on the allowlist
        return HEIF
    if major in _AVIF_BRANDS:
        return None
    if major in _AUDIO_BRANDS:
        return M4A
    if major in _QT_BRANDS:
        return MOV
    if major in _MP4_BRANDS:
        return MP4
    if major == b"M4V " or compatible & _MP4_BRANDS:
        return MP4
    return None


def _mpeg_audio_sync(b: bytes) -> Sniffed | None:
    """Recognise an MPEG-1/2 layer III frame header or an ADTS (AAC) header at the start of `b`."""
    if len(b) < 4 or b[0] != 0xFF:
        return None
    b1, b2 = b[1], b[2]
    if (b1 & 0xF6) == 0xF0:  # ADTS: sync 12 bits, layer 00 (0xFFF1 / 0xFFF9)
        sr_index = (b2 >> 2) & 0x0F
        return AAC if sr_index < 13 else None
    if (b1 & 0xE0) == 0xE0 and (b1 & 0x06) == 0x02:  # frame sync 11 bits + layer III
        version = (b1 >> 3) & 0x03
        bitrate = (b2 >> 4) & 0x0F
        srate = (b2 >> 2) & 0x03
        if version != 0x01 and bitrate not in (0, 0x0F) and srate != 0x03:
            return MP3
    return None


def _ebml_doctype(head: bytes) -> bytes | None:
    """Return the Matroska DocType (b'webm' / b'matroska') when visible in the EBML header."""
    i = head.find(b"\x42\x82", 4, 64)
    if i < 0:
        return None
    j = i + 2
    if j >= len(head):
        return None
    first = head[j]
    length_bytes = 1
    mask = 0x80
    while length_bytes <= 8 and not first & mask:
        mask >>= 1
        length_bytes += 1
    if length_bytes > 8:
        return None
    value = first & (mask - 1)
    for k in range(1, length_bytes):
        if j + k >= len(head):
            return None
        value = (value << 8) | head[j + k]
    start = j + length_bytes
    return head[start : start + min(value, 32)].rstrip(b"\x00")


def _ogg(head: bytes) -> Sniffed | None:
    """Classify an Ogg stream from its first packet (Opus, Vorbis, FLAC audio; Theora video is refused)."""
    if len(head) < 27:
        return OGG
    segments = head[26]
    packet = head[27 + segments : 27 + segments + 16]
    if packet.startswith(b"OpusHead"):
        return OPUS
    if packet.startswith((b"\x01vorbis", b"\x7fFLAC", b"Speex   ")):
        return OGG
    if not packet:
        return OGG
    return None


def sniff(head: bytes) -> Sniffed | None:
    """Identify an allowlisted photo/audio/video format from the first bytes (~4 KiB) or return None."""
    if len(head) < 12:
        return None
    if head[:3] == b"\xff\xd8\xff":
        return JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF":
        form = head[8:12]
        if form == b"WEBP":
            return WEBP
        if form == b"WAVE":
            return WAV
        if form == b"AVI ":
            return AVI
        return None
    if head[4:8] == b"ftyp":
        return _ftyp(head)
    if head[:4] == b"fLaC":
        return FLAC
    if head[:4] == b"OggS":
        return _ogg(head)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        doctype = _ebml_doctype(head)
        if doctype == b"webm":
            return WEBM
        if doctype in (b"matroska", None):
            return MKV
        return None
    if head[:3] == b"ID3" and len(head) >= 10:
        tag_size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        after = 10 + tag_size + (10 if head[5] & 0x10 else 0)
        if after + 4 <= len(head):
            found = _mpeg_audio_sync(head[after:])
            if found is not None:
                return found
        return MP3
    return _mpeg_audio_sync(head)


def sniff_file(path: Path) -> Sniffed | None:
    """Sniff the first SNIFF_BYTES of a file on disk."""
    with path.open("rb") as fh:
        return sniff(fh.read(SNIFF_BYTES))


_AUDIO_CONTAINERS_ALSO = {"webm", "mkv", "mp4", "mov"}


def allowed_for(kind_requested: str, sniffed: Sniffed | None) -> bool:
    """Whether an upload to the endpoint of `kind_requested` (photo/audio/video) may be accepted.

    Audio uploads also accept WebM/Matroska/MP4 containers, which often carry audio only;
    the probe (`validate_audio`) then decides.
    """
    if sniffed is None:
        return False
    kind = kind_requested.lower().rstrip("s")
    if kind not in ("photo", "audio", "video"):
        return False
    if sniffed.kind == kind:
        return True
    return kind == "audio" and sniffed.format in _AUDIO_CONTAINERS_ALSO

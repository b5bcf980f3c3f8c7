"""Pure media processing (no I/O beyond local files): sniffing, photos, probing, ffmpeg commands, waveforms.

Typical worker flow: sniff -> probe(path, container_format=sniffed.format) -> validate_video/validate_audio ->
plan_video -> run_ffmpeg(video_rendition_cmd(...)) per plan, make_poster(...); audio: needs_audio_transcode ->
audio_rendition_cmd, waveform_peaks; photos: process_photo.

Everything raises `MediaRejected(reason)` for bad input; other exceptions mean an infrastructure problem
(disk full, missing binary) and are worth a retry.
"""

from media.processing.errors import MediaRejected, ProcessingTimeout
from media.processing.images import ALLOWED_FORMATS, PhotoResult, ProducedFile, process_photo
from media.processing.placeholder import blurhash_encode
from media.processing.probe import (
    AudioStreamInfo,
    ProbeResult,
    VideoStreamInfo,
    probe,
    validate_audio,
    validate_video,
)
from media.processing.sniff import SNIFF_BYTES, Sniffed, allowed_for, demuxer_for, sniff, sniff_file
from media.processing.transcode import (
    RenditionPlan,
    audio_rendition_cmd,
    ffmpeg_exe,
    make_poster,
    needs_audio_transcode,
    plan_video,
    poster_cmd,
    poster_time,
    run_ffmpeg,
    video_rendition_cmd,
)
from media.processing.waveform import waveform_peaks

__all__ = [
    "ALLOWED_FORMATS",
    "SNIFF_BYTES",
    "AudioStreamInfo",
    "MediaRejected",
    "PhotoResult",
    "ProbeResult",
    "ProcessingTimeout",
    "ProducedFile",
    "RenditionPlan",
    "Sniffed",
    "VideoStreamInfo",
    "allowed_for",
    "audio_rendition_cmd",
    "blurhash_encode",
    "demuxer_for",
    "ffmpeg_exe",
    "make_poster",
    "needs_audio_transcode",
    "plan_video",
    "poster_cmd",
    "poster_time",
    "probe",
    "process_photo",
    "run_ffmpeg",
    "sniff",
    "sniff_file",
    "validate_audio",
    "validate_video",
    "video_rendition_cmd",
    "waveform_peaks",
]

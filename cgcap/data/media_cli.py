"""``cgcap media probe FILE...``: what decode_media makes of a file, or why it refuses it."""

from __future__ import annotations

import argparse
import json

from cgcap.cli import CommandError, add_settings_arguments, settings_from_args


def describe(path: str, settings) -> dict:
    from cgcap.data.media import MediaError, decode_media

    try:
        media = decode_media(path, settings.limits, video_frames=settings.media.video_frames)
    except MediaError as error:
        return {"file": path, "accepted": False, "status_code": error.status_code, "error": str(error)}
    row = {"file": path, "accepted": True, "modality": media.modality, "format": media.format,
           "duration_seconds": None if media.duration_seconds is None else round(media.duration_seconds, 3)}
    if media.audio is not None:
        row.update(sample_rate=media.sample_rate, samples=int(media.audio.shape[-1]))
    if media.image is not None:
        row.update(width=media.image.width, height=media.image.height)
    if media.frames:
        row.update(frames=len(media.frames), width=media.frames[0].width, height=media.frames[0].height)
    row["warnings"] = list(media.warnings)
    return row


def summary(row: dict) -> str:
    """One line for a person: what the file is, or why it is refused (status codes are for the service)."""
    if not row["accepted"]:
        return f"{row['file']}: refused: {row['error']}"
    parts = [row["modality"], row["format"]]
    if row.get("duration_seconds") is not None:
        parts.append(f"{row['duration_seconds']:g} s")
    if "sample_rate" in row:
        parts.append(f"{row['sample_rate']:,} Hz")
    if "frames" in row:
        parts.append(f"{row['frames']} frames")
    if "width" in row:
        parts.append(f"{row['width']}x{row['height']}")
    lines = [f"{row['file']}: accepted: {', '.join(parts)}"]
    lines += [f"  warning: {warning}" for warning in row.get("warnings", [])]
    return "\n".join(lines)


def _probe(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    rows = [describe(path, settings) for path in args.files]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(summary(row))
    if not all(row["accepted"] for row in rows):
        raise CommandError(f"{sum(not row['accepted'] for row in rows)} of {len(rows)} files refused")
    return 0


def register(commands) -> None:
    media = commands.add_parser("media", help="check media files").add_subparsers(dest="media_command", required=True)
    probe = media.add_parser("probe", help="decode files as the captioner would: modality, format, duration, or the refusal")
    probe.add_argument("files", nargs="+", help="audio, image or video files")
    probe.add_argument("--json", action="store_true", help="print JSON")
    add_settings_arguments(probe)
    probe.set_defaults(handler=_probe)

"""``cgcap caption FILE...`` and ``cgcap caption --text-only --prompt "Audio of a"``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    from cgcap.commands import add_settings_arguments

    parser = subparsers.add_parser(
        "caption", help="caption audio, image or video files (or generate text-only with --text-only)",
        description="Caption each FILE with the guided decoder. With --json, one JSON object per input "
                    "(input, caption, beams and scores, timings, model ids, full settings) on its own line.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="audio, image or video files")
    parser.add_argument("--text-only", action="store_true",
                        help="no input: classifier-guided generation from the prompt (modality term off)")
    parser.add_argument("--prompt", default=None,
                        help="text an audio or --text-only caption continues (sets decoding.prompt only; images and "
                             "video frames continue decoding.image_prompt, set it with --set)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per input")
    add_settings_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cgcap.captioner import Captioner
    from cgcap.commands import CommandError, settings_from_args
    from cgcap.data.media_types import MediaError

    if args.text_only and args.files:
        raise CommandError("--text-only captions no files; give either FILE... or --text-only")
    if not args.text_only and not args.files:
        raise CommandError("give one or more media files to caption, or --text-only")
    missing = [path for path in args.files if not Path(path).is_file()]
    if missing:  # before loading any model: that takes seconds, a typo should not
        raise CommandError(f"no such file: {', '.join(missing)}")
    if args.prompt is not None:
        args.overrides = [*args.overrides, f"decoding.prompt={args.prompt}"]
    settings = settings_from_args(args)
    captioner = Captioner.from_settings(settings)

    if args.text_only:
        _print(captioner.caption_text_only(), args.json)
        return 0
    failed = []
    for path in args.files:
        try:
            result = captioner.caption(path)
        except (MediaError, OSError) as error:
            print(f"cgcap: {path}: {error}", file=sys.stderr)
            failed.append(path)
            continue
        if not args.json:  # --json carries them in the object
            for warning in result.warnings:
                print(f"cgcap: {path}: warning: {warning}", file=sys.stderr)
        _print(result, args.json)
    if failed:
        raise CommandError(f"{len(failed)} of {len(args.files)} inputs could not be captioned: {', '.join(failed)}")
    return 0


def _print(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.model_dump(), ensure_ascii=False), flush=True)
    elif result.input is None:
        print(result.caption, flush=True)
    else:
        print(f"{result.input}: {result.caption}", flush=True)

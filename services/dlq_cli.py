"""`mcc dlq list | show ID | replay ID|--all`: inspect dead letters and replay them where they came from."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import nats

from shared.deadletters import get_dead_letter, list_dead_letters, replay


def register(sub: Any) -> None:
    """Add `mcc dlq` to the CLI's subcommands."""
    dlq = sub.add_parser("dlq", help="list, show and replay dead letters (messages a consumer gave up on)",
                         description="Replaying is safe: consumers ignore an event id they have already handled.")
    dlq.add_argument("--nats-url", default=None, help="NATS URL (default: MCC_NATS_URL)")
    actions = dlq.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", help="dead letters, oldest first: id, time, consumer, subject, reason")
    ls.add_argument("--consumer", default=None, help="only this consumer's (e.g. dispatch-incidents)")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    show = actions.add_parser("show", help="one dead letter with its original headers and body")
    show.add_argument("id", type=int)
    again = actions.add_parser("replay", help="publish to the original subject again and remove the dead letter")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("id", type=int, nargs="?")
    which.add_argument("--all", action="store_true", help="every dead letter (of --consumer, if given)")
    again.add_argument("--consumer", default=None)
    dlq.set_defaults(func=cmd_dlq)


def cmd_dlq(args: argparse.Namespace) -> int:
    from shared.settings import ServiceSettings

    url = args.nats_url or ServiceSettings().nats_url
    return asyncio.run(_run(args, url))


async def _run(args: argparse.Namespace, url: str) -> int:
    nc = await nats.connect(servers=url.split(","), connect_timeout=5, max_reconnect_attempts=2)
    try:
        js = nc.jetstream(timeout=10)
        if args.action == "list":
            letters = await list_dead_letters(js, consumer=args.consumer, limit=args.limit)
            for letter in letters:
                row = letter.summary()
                print(json.dumps(row, ensure_ascii=False) if args.json else
                      f"{row['id']:>6}  {row['failed_at'] or '-':<32}  {row['consumer']:<24}  "
                      f"{row['subject']:<28}  {row['reason'][:120]}")
            if not args.json:
                print(f"{len(letters)} dead letter(s)", file=sys.stderr)
            return 0
        if args.action == "show":
            letter = await get_dead_letter(js, args.id)
            if letter is None:
                print(f"no dead letter {args.id}", file=sys.stderr)
                return 1
            print(json.dumps(letter.detail(), ensure_ascii=False, indent=2))
            return 0
        letters = (await list_dead_letters(js, consumer=args.consumer) if args.all
                   else [x for x in [await get_dead_letter(js, args.id)] if x is not None])
        if not letters and not args.all:
            print(f"no dead letter {args.id}", file=sys.stderr)
            return 1
        for letter in letters:
            await replay(js, letter)
            print(f"replayed {letter.seq} to {letter.subject} (event {letter.event_id})")
        print(f"{len(letters)} replayed", file=sys.stderr)
        return 0
    finally:
        await nc.drain()

"""``medrobust journal info|verify|clear PATH``: look into, check and empty an answer journal.

Exit codes: 0 done (``verify``: every entry verifies); 1 (``verify`` only) some entry does not
verify, or none can be checked because the key file is missing or belongs to another journal;
2 ``PATH`` is not a readable answer journal (missing, damaged, another program's database), or
``clear --scope`` matches no scope.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import JournalError
from .journal import clear_journal, journal_info, key_path, verify_journal

__all__ = ["add_journal_command"]

_EXIT_CODES = ("exit status: 0 done (verify: every entry verifies); 1 verify found entries that do not verify "
               "(or its key file is missing or foreign); 2 PATH is not a readable answer journal")


def _info(args: argparse.Namespace) -> int:
    info = journal_info(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    key = info["key_file"] + ("" if info["key_file_present"] else " (MISSING: entries cannot be verified)"
                              if info["entries"] else " (not made yet: a run makes it)")
    print(f"answer journal {info['path']} (format {info['format']}): {info['entries']} entries in "
          f"{len(info['scopes'])} scope(s), {info['bytes']:,} bytes\nkey file: {key}")
    for scope in info["scopes"]:
        print(f"  scope {scope['scope']}: {scope['entries']} entries")
    if info["older_format_entries"]:
        print(f"  {info['older_format_entries']} entries of an older format (not used; `medrobust journal clear "
              f"{info['path']}` removes them)")
    return 0


def _verify(args: argparse.Namespace) -> int:
    result = verify_journal(args.path)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0 if not result["rejected"] else 1
    bad = result["rejected"]
    if result["reason"]:
        print(f"answer journal {result['path']}: {result['reason']}; none of its {result['entries']} entries "
              f"can be verified (a run would stop: restore the key file, or clear the journal)")
        return 1 if result["entries"] else 0
    if not bad:
        print(f"answer journal {result['path']}: all {result['entries']} entries verify")
        return 0
    print(f"answer journal {result['path']}: {len(bad)} of {result['entries']} entries do NOT verify (edited, "
          f"copied from another journal or damaged); a run does not use them and asks the model again")
    for key in bad[:10]:
        print(f"  entry {key}")
    if len(bad) > 10:
        print(f"  ... and {len(bad) - 10} more")
    return 1


def _clear(args: argparse.Namespace) -> int:
    removed = clear_journal(args.path, args.scope)
    which = f"of scope {args.scope} " if args.scope else ""
    print(f"answer journal {args.path}: removed {removed} entries {which}(key file {key_path(args.path)} kept)")
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.action(args))
    except JournalError as exc:
        print(f"medrobust: error: {exc}", file=sys.stderr)
        return 2


def add_journal_command(sub: Any) -> None:
    """Add ``journal`` with its actions ``info``, ``verify`` and ``clear`` to the ``medrobust`` parser."""
    p = sub.add_parser("journal", help="look into, check or clear an answer journal (--journal PATH)",
                       description="look into (info), check (verify) or clear an answer journal",
                       epilog=_EXIT_CODES)
    actions = p.add_subparsers(dest="journal_action", required=True, metavar="{info,verify,clear}")
    for name, action, text in (("info", _info, "entries, scopes and size"),
                               ("verify", _verify, "check every entry's MAC with the journal's key file"),
                               ("clear", _clear, "remove the entries (all, or those of one --scope)")):
        q = actions.add_parser(name, help=text, description=text, epilog=_EXIT_CODES)
        q.add_argument("path", metavar="PATH", help="the journal file (e.g. .medrobust/journal.sqlite)")
        if name == "clear":
            q.add_argument("--scope", help="only this scope (as `info` lists it; a unique prefix will do)")
        else:
            q.add_argument("--json", action="store_true", help="machine-readable output")
        q.set_defaults(func=_run, action=action)

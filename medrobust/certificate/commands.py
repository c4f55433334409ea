"""The certificate subcommands of ``medrobust``: ``verify``, ``replay`` and ``diff``.

Exit codes: ``verify`` 0 valid, 1 tampered (a certificate that parses and does not
verify), 2 cannot be checked (missing or unreadable file, not a regular file, not
UTF-8, not JSON, JSON nested too deeply, not a medrobust certificate); ``replay`` 0
when every example's noisy inputs were rebuilt bit for bit, 1 when one was not, 2
when the case cannot be replayed here, 3 when the case records no examples (nothing
was rebuilt); ``diff`` 0 without regressions, 1 with, 2 when a certificate cannot be
read, 3 when one does not verify (compared anyway, and flagged, with
``--allow-unverified``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_certificate_commands"]

NOTHING_REBUILT = 3
"""Exit code of ``replay`` for a case that records no examples: nothing was rebuilt or checked."""
UNVERIFIED = 3
"""Exit code of ``diff`` when an input does not verify (without ``--allow-unverified``)."""

VERIFY_EXIT_CODES = ("exit status: 0 valid; 1 tampered: the certificate parses but a digest, its twin, its page "
                     "or its answers file does not match (the output says where); 2 cannot be checked: missing "
                     "or unreadable file, a folder, FIFO or device, not UTF-8, not JSON, JSON nested too deeply, "
                     "or not a medrobust certificate")
DIFF_EXIT_CODES = ("exit status: 0 no regressions; 1 regressions; 2 a certificate cannot be read; 3 a certificate "
                   "does not verify (as `medrobust verify` checks it: digests, twins, answers file), so the "
                   "comparison is refused; with --allow-unverified it is made anyway, flagged UNVERIFIED, and "
                   "the status is 0 or 1")


def _unreadable(exc: Exception) -> int:
    print(f"medrobust: error: {exc}", file=sys.stderr)
    return 2


def _cmd_verify(args: argparse.Namespace) -> int:
    from .integrity import UnreadableCertificate, verify

    try:
        result = verify(args.certificate, check_view=not args.no_view)
    except UnreadableCertificate as exc:
        return _unreadable(exc)
    print(json.dumps(result.to_json(), indent=2) if args.json else "\n".join(result.lines()))
    return 0 if result.valid else 1


def _cmd_diff(args: argparse.Namespace) -> int:
    from .compare import compare_certificates
    from .integrity import UnreadableCertificate, load_certificate, verify

    try:
        checks = {"a": verify(args.a), "b": verify(args.b)}
        a, b = load_certificate(args.a), load_certificate(args.b)
    except UnreadableCertificate as exc:
        return _unreadable(exc)
    unverified = [{"which": which, "path": str(check.path), "problems": check.problems()}
                  for which, check in checks.items() if not check.valid]
    for item in unverified:
        print(f"medrobust: {'warning' if args.allow_unverified else 'error'}: {item['which'].upper()} "
              f"{item['path']} does not verify: {'; '.join(item['problems'])}", file=sys.stderr)
    if unverified and not args.allow_unverified:
        print("medrobust: diff compares only certificates that verify (run `medrobust verify PATH` for the "
              "details); --allow-unverified compares them anyway, flagged", file=sys.stderr)
        return UNVERIFIED
    result = compare_certificates(a, b)
    if args.json:
        print(json.dumps({**result.to_json(), "unverified": unverified}, indent=2))
    else:
        flags = [f"UNVERIFIED {item['which'].upper()}: {item['path']} does not verify "
                 f"({'; '.join(item['problems'])}); its figures may have been edited" for item in unverified]
        print("\n".join([*flags, *result.lines()]))
    return 1 if result.regressions else 0


def _short(text: Any, limit: int = 60) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def _cmd_replay(args: argparse.Namespace) -> int:
    from .integrity import UnreadableCertificate, load_certificate
    from .record import with_local_paths
    from .replay import ReplayError, find_case, replay_case

    try:
        cert = load_certificate(args.certificate)
        case = find_case(cert, args.case)
        results = replay_case(cert, args.case, args.plugin, args.output, args.device)
    except (UnreadableCertificate, ReplayError) as exc:
        return _unreadable(exc)
    if args.json:
        print(json.dumps({"case": args.case, "examples": [r.to_json() for r in results]}, indent=2))
    else:
        print(f"{args.case}: {case.get('spec')}  {case.get('metric')} under {case.get('composition_key')}")
        if not results:
            print("  no examples recorded (no sample's score fell under this composition): nothing was rebuilt")
        for r in results:
            inputs = "inputs bit for bit" if r.reproduced else "INPUTS DIFFER"
            if r.reproduced and not r.image_compared:
                inputs = (f"records and question bit for bit; image noise made on {r.noise_device[0]}, rebuilt on "
                          f"{r.noise_device[1]}: another draw of the same law, not compared")
            same = "same" if r.answer[0] == r.answer[1] else "CHANGED"
            print(f"  {r.sample_id}: {inputs}; answer recorded {_short(r.answer[0])}, now {_short(r.answer[1])} "
                  f"({same})")
            if r.error:
                print(f"    the model raised: {r.error}")
            if not r.reproduced or not r.image_compared:
                print(f"    image sha256 recorded {r.image_sha256[0]}, rebuilt {r.image_sha256[1]}")
                print(f"    question sha256 recorded {r.question_sha256[0]}, rebuilt {r.question_sha256[1]}")
            for path in r.files:
                print(f"    wrote {path}")
        print(f"  replay of the whole metric: {with_local_paths(case.get('replay_command'), cert.get('local'))}")
    if not results:
        return NOTHING_REBUILT  # all([]) is True: an empty case must not read as reproduced
    return 0 if all(r.reproduced for r in results) else 1


def add_certificate_commands(sub: Any) -> None:
    """Add ``verify``, ``replay`` and ``diff`` to the ``medrobust`` subparsers ``sub``."""
    p = sub.add_parser("verify", help="check a certificate's digests (exit 0 valid, 1 tampered, 2 unreadable)",
                       description="Recompute a certificate's digests from its content and compare its twins, "
                                   "its page and its answers file. Line endings (CRLF) and a UTF-8 byte order "
                                   "mark added by other tools are ignored.", epilog=VERIFY_EXIT_CODES)
    p.add_argument("certificate", help="the .json twin or the .html view; the other twin beside it is compared too")
    p.add_argument("--no-view", action="store_true", help="do not re-render the HTML to compare its visible text")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_verify)
    replay_help = ("rebuild a failure case's noisy inputs bit for bit and re-ask the model (exit 0 all rebuilt, "
                   "1 one differs, 2 cannot replay here, 3 the case has no examples: nothing rebuilt)")
    p = sub.add_parser("replay", help=replay_help, description=replay_help)
    p.add_argument("certificate", help="the .json twin or the .html view")
    p.add_argument("--case", required=True, help="a case id of the certificate, e.g. case-1")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                   help="load a plugin that is not installed, e.g. the conftest.py that registered the model, "
                        "as pytest loads it (repeatable)")
    p.add_argument("--output", metavar="DIR", help="write the rebuilt noisy images (PNG) and questions here")
    p.add_argument("--device", help="run the model on this device instead of the certificate's")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_replay)
    p = sub.add_parser("diff", help="what changed from certificate A to B (exit 1 on regressions)",
                       description="Verify certificates A and B, then list what changed from A to B.",
                       epilog=DIFF_EXIT_CODES)
    p.add_argument("a", help="the earlier certificate (.json or .html)")
    p.add_argument("b", help="the later certificate (.json or .html)")
    p.add_argument("--allow-unverified", action="store_true",
                   help="compare even if A or B does not verify, flagged UNVERIFIED in the output")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_diff)

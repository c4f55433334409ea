"""The ``medrobust`` command: plugins and noises, evaluate one composition, protocols,
verify / replay / diff certificates, and look into answer journals."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from .errors import MedrobustError
from .run.plugins import KINDS, load_plugins

__all__ = ["main"]


def _cmd_plugins(args: argparse.Namespace) -> int:
    host = load_plugins()
    if args.json:
        print(json.dumps({kind: host.registry(kind).providers() for kind, _, _ in KINDS}, indent=2))
        return 0
    for kind, _, _ in KINDS:
        registry = host.registry(kind)
        print(f"{kind} ({len(registry)}):")
        width = max((len(n) for n in registry), default=0)
        for name, plugin in registry.providers().items():
            print(f"  {name.ljust(width)}  from {plugin}")
    return 0


def _cmd_noises(args: argparse.Namespace) -> int:
    from .noise import ImageNoise, derive_seed
    from .noise.catalogue_report import catalogue_rows, contact_sheet
    from .run.keyvalue import parse_dataset

    host = load_plugins()
    name, path = parse_dataset(args.dataset)
    dataset = host.datasets[name]({"path": path, "seed": 0})
    samples = list(dataset.samples(args.split))[: args.samples]
    if args.show:
        noise = host.noises[args.show]
        if isinstance(noise, ImageNoise):
            sample = samples[args.index % len(samples)]
            out = args.output or f"{args.show}.png"
            contact_sheet(noise, sample).save(out)
            print(f"wrote {out}: {sample.id}, clean and severities 1-5 of {args.show}")
        else:
            sample = samples[args.index % len(samples)]
            print(f"clean       {sample.question}")
            for level in range(1, 6):
                params = noise.params(level, derive_seed(0, sample.id, 0, noise.name, level))
                print(f"severity {level}  {noise.apply(sample.question, params)}")
        return 0
    rows = catalogue_rows(host.noises, host.noises.providers(), samples if not args.no_measure else ())
    if args.json:
        print(json.dumps({"dataset": args.dataset, "split": args.split, "samples": len(samples),
                          "noises": rows}, indent=2))
        return 0
    images = sum(r["modality"] == "image" for r in rows)
    print(f"{len(rows)} noises ({images} image, {len(rows) - images} text); measured on {len(samples)} "
          f"{args.dataset} {args.split} samples (SSIM for images, edit similarity for text)")
    for row in rows:
        print(f"\n{row['name']}  [{row['modality']}/{row['family']}, v{row['version']}, from {row['plugin']}]")
        print(f"  {row['description']}")
        if row["rationale"]:
            print(f"  why: {row['rationale']}")
        for level, params in enumerate(row["severities"], start=1):
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            measured = f"   {row['measure']} {row['measured'][level - 1]:.3f}" if "measured" in row else ""
            print(f"  {level}: {shown}{measured}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .certificate.replay import load_extra_plugins
    from .noise import Composition
    from .run.context import RunContext
    from .run.options import options_from_args

    ctx = RunContext(options_from_args(args), load_plugins(extra=load_extra_plugins(args.plugin)))
    ctx.validate_names()
    composition = Composition.parse(args.composition)
    metrics = args.metric or ["closed_accuracy", "open_recall", "answer_consistency"]
    rows = {}
    from .run.progress import Progress, stream_display

    ctx.progress = Progress(stream_display(sys.stderr))  # on stderr: --json's stdout stays JSON
    ctx.model_calls.on_wait = ctx.progress.tick
    compositions = 1 if composition.is_clean else 2
    ctx.progress.begin_spec("evaluate", f"evaluate {composition}", compositions * len(ctx.samples),
                            compositions=compositions)
    for metric in metrics:
        result = ctx.evaluator.compare(composition, ctx.host.metrics[metric])
        rows[metric] = {"clean": result.clean.to_json(), "noisy": result.noisy.to_json()}
    ctx.progress.end_spec()
    if args.json:
        print(json.dumps({"composition": composition.to_json(), "metrics": rows}, indent=2))
    else:
        print(f"composition: {composition}   ({len(ctx.samples)} samples, seed {args.seed})")
        for metric, row in rows.items():
            c, n = row["clean"], row["noisy"]
            print(f"  {metric:20s} clean {c['value']:.3f} [{c['low']:.3f}, {c['high']:.3f}]   "
                  f"noisy {n['value']:.3f} [{n['low']:.3f}, {n['high']:.3f}]   n={n['n']}")
    return 0


def _cmd_protocol(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .run.protocol import load_protocol, suite_spec_ids

    host = load_plugins()
    suites = None if args.suites == "none" else Path(args.suites or "suites")
    if suites is not None and not suites.is_dir():
        if args.suites:
            raise ValueError(f"--suites {args.suites}: not a directory; give the folder of the specs the "
                             f"protocol governs, or --suites none")
        suites = None
    spec_ids = suite_spec_ids(suites, host.noises, host.metrics) if suites is not None else None
    protocol = load_protocol(args.path, host.metrics, spec_ids)
    if args.json:
        print(json.dumps({"path": args.path, **protocol.to_json()}, indent=2))
        return 0
    print(f"protocol {args.path}: valid\nsha256 {protocol.sha256}\n{protocol.title}, version {protocol.version}")
    print("metrics checked against the registered ones; spec patterns " + (
        f"checked against the {len(spec_ids)} specs in {suites}" if spec_ids is not None
        else "not checked (no suites/ here: give --suites DIR)"))
    for c in protocol.criteria:
        limits = ", ".join(f"{k} {v:g}" for k, v in sorted(c.threshold.items()))
        print(f"  {c.id}: {c.metric} {limits} in {c.spec or 'every spec'}\n    {c.justification}")
    for entry in protocol.sign_off:
        print(f"  {entry['role']}: {entry['name'] or '(not signed)'} {entry['date']}".rstrip())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``medrobust`` command."""
    parser = argparse.ArgumentParser(prog="medrobust", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plugins", help="list every registered model, calibrator, noise, dataset and metric")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_plugins)
    p = sub.add_parser("noises", help="the noise catalogue with its measured strength per severity")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--show", metavar="NAME", help="write a contact sheet PNG of one noise (severities 1-5)")
    p.add_argument("--output", metavar="PNG", help="where --show writes (default: NAME.png)")
    p.add_argument("--index", type=int, default=0, help="which sample --show uses")
    p.add_argument("--dataset", default="phantom-vqa", metavar="NAME[:PATH]",
                   help="dataset measured on (default: phantom-vqa)")
    p.add_argument("--split", default="reference", help="split measured on (default: reference)")
    p.add_argument("--samples", type=int, default=32, help="samples measured on (default: 32)")
    p.add_argument("--no-measure", action="store_true", help="list without measuring")
    p.set_defaults(func=_cmd_noises)
    from .run.options import add_cli_arguments

    p = sub.add_parser("evaluate", help="evaluate one noise composition (the replay of a failing spec)")
    add_cli_arguments(p)
    p.add_argument("--metric", action="append", help="metric to report (repeatable)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE|FILE.py",
                   help="load a plugin that is not installed, e.g. the conftest.py that registered the model, "
                        "noise or dataset, as pytest loads it (repeatable)")
    p.add_argument("--composition", required=True,
                   help="JSON as printed by a failing spec, or 'noise@3+other@1'; 'clean' for none")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_evaluate)
    p = sub.add_parser("protocol", help="validate a pre-registered test protocol and print the sha256 that seals it")
    p.add_argument("path", help="the protocol YAML file")
    p.add_argument("--suites", metavar="DIR", help="folder of the specs its spec patterns must match "
                   "(default: ./suites when there is one; 'none' to skip that check)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_protocol)
    from .certificate.commands import add_certificate_commands
    from .run.journal_commands import add_journal_command

    add_certificate_commands(sub)
    add_journal_command(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``medrobust`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (MedrobustError, ValueError, KeyError) as exc:
        print(f"medrobust: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

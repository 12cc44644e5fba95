"""The `vdsl` command line: the only module (with `vdsl.commands`, which runs the commands it
parses) that prints or writes files.  Parsing imports nothing heavy: `vdsl --version` and
`vdsl --help` start at once, and the parser, the analysis and z3 load only to run a command."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from vdsl import __version__
from vdsl.errors import InternalError, RunError, SpecError
from vdsl.ir.vocabulary import DEFAULT_MAX_STEPS, DIAGRAM_KINDS, SOLVER_RLIMIT, TECHNIQUES, THEOREMS

EXIT_OK, EXIT_FAILED, EXIT_SPEC_ERROR, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command whose reader went away
SUBJECT_OPTIONS = ("scenario", "hypervisor", "isa", "stack")
RENDERED = ("svg", "png", "pdf")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code (0 ok, 1 failed, 2 spec errors, 3 internal)."""
    if sys.stdout is None:  # started with standard output closed (`vdsl ... >&-`)
        if sys.stderr is not None:
            print("vdsl: standard output is closed: there is nowhere to write the report", file=sys.stderr)
        return EXIT_SPEC_ERROR
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`vdsl ... | head`) before vdsl finished: say so in the exit
        # status, never with a traceback; keep Python quiet at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        from vdsl.commands import HANDLERS, print_diagnostics, print_findings  # the parser, the analysis, z3

        status = int(HANDLERS[args.command](args))
        sys.stdout.flush()  # a reader that went away is seen here, not at exit
        return status
    except SpecError as error:
        print_diagnostics(error, getattr(args, "format", "text"))
        return EXIT_SPEC_ERROR
    except RunError as error:
        if getattr(args, "format", "text") == "json":
            print(json.dumps({"error": str(error)}, indent=2))
        else:
            if getattr(args, "format", "text") == "sarif":  # a log that says what could not be done
                print_findings([], "sarif", failure=str(error))
            print(f"error: {error}", file=sys.stderr)
        return EXIT_SPEC_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except Exception as error:  # noqa: BLE001 - the last line of defence: no traceback for users
        if os.environ.get("VDSL_DEBUG"):
            traceback.print_exc()
        kind = "internal error"
        if not isinstance(error, InternalError):
            kind += f" ({type(error).__name__})"
        print(f"vdsl: {kind}: {error}\nThis is a bug in vdsl; please report it with the spec that "
              "caused it (set VDSL_DEBUG=1 for details).", file=sys.stderr)
        return EXIT_INTERNAL


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vdsl",
        description="Describe machines, instruction sets and hypervisors; check and run them.",
    )
    parser.add_argument("--version", action="version", version=f"vdsl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check", help="check .vspec files: diagnostics, then each isa's classification and theorems")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.add_argument("--isa", action="append", metavar="NAME",
                       help="analyse this isa (repeatable; default: the isas the files declare)")
    check.add_argument("--guest-mode", metavar="MODE",
                       help="the real mode guest kernels run in (default: the isa's `guests run in`)")
    check.add_argument("--require", action="append", choices=(*THEOREMS, "policy"), metavar="THEOREM",
                       help="exit 1 unless this theorem's condition holds (T1, T2, T3; repeatable), or, "
                            "with `policy`, unless every --policy check holds")
    check.add_argument("--policy", action="append", metavar="HYPERVISOR",
                       help="also decide, per instruction, whether direct execution under this hypervisor's "
                            "VM map gives the virtual machine's result (repeatable)")
    check.add_argument("--each", action="store_true",
                       help="check each file as a spec of its own (a folder of submissions): one summary "
                            "line per file, and the worst file's exit status")
    _add_rlimit(check)
    _add_jobs(check)
    _add_format(check, ci=True)
    _add_quiet(check)

    explain = commands.add_parser("explain", help="why an instruction is classified as it is, with witnesses")
    explain.add_argument("file", type=Path, metavar="FILE")
    explain.add_argument("instruction", metavar="INSTRUCTION")
    explain.add_argument("--isa", metavar="NAME", help="the isa (needed when several have the instruction)")
    explain.add_argument("--guest-mode", metavar="MODE", help="the real mode guest kernels run in")
    _add_rlimit(explain)
    _add_jobs(explain)
    _add_format(explain)

    dump_cmd = commands.add_parser("dump", help="print the resolved IR as an S-expression")
    dump_cmd.add_argument("files", nargs="+", type=Path, metavar="FILE")
    dump_cmd.set_defaults(format="text")

    fmt = commands.add_parser("fmt", help="rewrite .vspec files in one layout, keeping every comment")
    fmt.add_argument("files", nargs="+", type=Path, metavar="FILE",
                     help="a .vspec file, a folder (its .vspec files), or - (standard input to output)")
    fmt.add_argument("--check", action="store_true",
                     help="write nothing; name the files that would change, and exit 1 if any would")
    fmt.add_argument("--diff", action="store_true",
                     help="write nothing; print the changes as a unified diff, and exit 1 if any")
    fmt.set_defaults(format="text")

    run = commands.add_parser(
        "run", help="run scenarios (guests under a monitor, checked against bare runs), or a program bare")
    run.add_argument("files", nargs="+", type=Path, metavar="FILE")
    run.add_argument("--scenario", "-s", action="append", metavar="NAME",
                     help="run this scenario (repeatable; default: every scenario the files declare)")
    run.add_argument("--technique", choices=TECHNIQUES, metavar="TECHNIQUE",
                     help="run every monitor with this technique instead of its policy's "
                          "(trap_and_emulate, hybrid, binary_translation, paravirtual, hardware_assisted)")
    run.add_argument("--translations", action="store_true",
                     help="show the blocks binary translation translated, instruction by instruction")
    run.add_argument("--program", "-p", help="run this program on the bare machine instead of the scenarios")
    run.add_argument("--max-steps", type=_positive, default=DEFAULT_MAX_STEPS, metavar="N",
                     help=f"stop a program or guest after N instructions (default {DEFAULT_MAX_STEPS})")
    run.add_argument("--trace", type=Path, metavar="FILE",
                     help="write one JSON line per step (per monitor action, for scenarios) to FILE "
                          "('-' for standard output)")
    _add_format(run, ci=True)
    _add_quiet(run)

    diagram = commands.add_parser(
        "diagram", help="draw layers, rings, classes, trap flow or schedules with graphviz")
    diagram.add_argument("files", nargs="+", type=Path, metavar="FILE")
    diagram.add_argument("--kind", "-k", required=True, choices=(*DIAGRAM_KINDS, "all"), metavar="KIND",
                         help="what to draw: " + ", ".join(DIAGRAM_KINDS) + ", or all (with -o DIR)")
    subject = diagram.add_mutually_exclusive_group()
    for option in SUBJECT_OPTIONS:
        subject.add_argument(f"--{option}", metavar="NAME", help=f"draw this {option}")
    diagram.add_argument("-o", "--output", metavar="OUT",
                         help="the file to write (its extension gives the format: .dot, .svg, .png, .pdf), "
                              "a folder (one file per diagram, named after its kind; needed by --kind all), "
                              "or - for DOT on standard output (the default)")
    diagram.add_argument("--format", choices=RENDERED + ("dot",), metavar="FORMAT",
                         help="dot, svg, png or pdf (default: from the extension; svg into a folder)")
    diagram.add_argument("--max-steps", type=_positive, default=DEFAULT_MAX_STEPS, metavar="N",
                         help="for traps and schedule: stop a guest after N instructions")
    _add_jobs(diagram)
    _add_quiet(diagram)

    report = commands.add_parser(
        "report", help="write one self-contained HTML page: classifications, witnesses, runs, diagrams")
    report.add_argument("files", nargs="+", type=Path, metavar="FILE")
    report.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the HTML file to write (written whole or not at all), or - for standard output")
    report.add_argument("--isa", action="append", metavar="NAME",
                        help="report this isa (repeatable; default: the isas the files declare, or with "
                             "--scenario, those the scenarios run on)")
    report.add_argument("--scenario", "-s", action="append", metavar="NAME",
                        help="run this scenario (repeatable; default: the scenarios the files declare, or "
                             "with --isa, those on the isas named)")
    report.add_argument("--max-steps", type=_positive, default=DEFAULT_MAX_STEPS, metavar="N",
                        help=f"stop a guest after N instructions (default {DEFAULT_MAX_STEPS})")
    _add_rlimit(report)
    _add_jobs(report)
    _add_quiet(report)
    report.set_defaults(format="text")

    _add_sweep(commands)

    specs = commands.add_parser("specs", help="list the bundled specs")
    specs.set_defaults(format="text")

    lsp = commands.add_parser("lsp", help="serve the language server protocol on standard input and output, "
                                          "for editors: diagnostics, symbols, definitions, hover, completion")
    lsp.add_argument("--log", type=Path, metavar="FILE", help="write the server's log to FILE")
    lsp.set_defaults(format="text")
    return parser


def _add_sweep(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep = commands.add_parser(
        "sweep", help="explore a design space in parallel: the changes that fix an isa, every guest mode, "
                      "random-guest campaigns")
    kinds = sweep.add_subparsers(dest="sweep", required=True, metavar="KIND")
    fixes = kinds.add_parser("fixes", help="every single change (trap, pin, exit) for an isa whose condition "
                                           "fails, and the smallest sets of changes that make it hold")
    modes = kinds.add_parser("modes", help="the theorems with guests in each mode of the machine")
    guests = kinds.add_parser("guests", help="random guests run bare and under each technique, compared step "
                                             "by step; the divergences and the classes that explain them")
    for kind in (fixes, modes, guests):
        kind.add_argument("files", nargs="+", type=Path, metavar="FILE")
        kind.add_argument("--isa", required=kind is not guests, metavar="NAME",
                          help="the isa" + (" (default: the one the files declare)"
                                            if kind is guests else ""))
        kind.add_argument("-j", "--jobs", type=_positive, metavar="N",
                          help="run N jobs at once (default: one per core)")
        kind.add_argument("--scheduler", metavar="ADDRESS",
                          help="run the jobs on Dask: `local` starts a LocalCluster of -j workers, "
                               "tcp://HOST:PORT joins a running cluster (default: a local process pool)")
        _add_format(kind)
        _add_quiet(kind)
    for kind in (fixes, modes):
        _add_rlimit(kind)
        kind.add_argument("--no-cache", action="store_true",
                          help="decide every question again, neither reading nor writing the cache of "
                               "decided questions ($VDSL_CACHE_DIR, else ~/.cache/vdsl)")
    fixes.add_argument("--theorem", choices=THEOREMS, default="T1", metavar="THEOREM",
                       help="the condition to make hold: T1 (default), T2 or T3")
    fixes.add_argument("--policy", metavar="HYPERVISOR",
                       help="make this hypervisor's policy check hold instead of a theorem's condition")
    fixes.add_argument("--family", action="append", choices=("trap", "pin", "exit"), metavar="FAMILY",
                       help="the changes to try: trap (an instruction traps in the guest mode), pin (the "
                            "monitor holds a control flag or small field at a value), exit (an instruction "
                            "leaves a hardware-assisted guest); repeatable, default all three")
    fixes.add_argument("--max-fixes", type=_positive, default=16, metavar="N",
                       help="check at most N candidate sets of changes (default 16)")
    guests.add_argument("--policy", metavar="HYPERVISOR",
                        help="the hypervisor whose VM map and allocation the guests run under (default: the "
                             "first that runs on the isa); --technique overrides its technique")
    guests.add_argument("--guests", "-n", type=_positive, default=20, metavar="N",
                        help="random guests per technique (default 20)")
    guests.add_argument("--technique", action="append", choices=TECHNIQUES, metavar="TECHNIQUE",
                        help="run the guests under this technique (repeatable; default trap_and_emulate and "
                             "hybrid)")
    guests.add_argument("--length", type=_positive, default=8, metavar="N",
                        help="random instructions per guest (default 8)")
    guests.add_argument("--seed", type=int, default=0,
                        help="the random seed (default 0): the same seed, the same guests and results")
    guests.add_argument("--max-steps", type=_positive, default=200, metavar="N",
                        help="stop a guest after N instructions (default 200)")


def _add_format(parser: argparse.ArgumentParser, ci: bool = False) -> None:
    formats = ("text", "json", "github", "sarif") if ci else ("text", "json")
    github = ("; github: one GitHub Actions annotation per error or failed expectation; sarif: a SARIF 2.1.0 "
              "log of them, for code scanning") if ci else ""
    parser.add_argument("--format", choices=formats, default="text",
                        help=f"output format (default text){github}")


def _add_quiet(command: argparse.ArgumentParser) -> None:
    command.add_argument("--quiet", "-q", action="store_true",
                         help="show no progress (progress is shown only when standard error is a terminal)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_rlimit(command: argparse.ArgumentParser) -> None:
    command.add_argument("--rlimit", type=_positive, default=SOLVER_RLIMIT, metavar="N",
                         help="z3's resource limit per question, in its own steps (deterministic, unlike "
                              f"a time limit; default {SOLVER_RLIMIT}); a question past it is undecided")


def _add_jobs(command: argparse.ArgumentParser) -> None:
    command.add_argument("-j", "--jobs", type=_positive, default=None, metavar="N",
                         help="decide questions in N processes at once (default: one per core); the "
                              "results are the same as one process's")
    command.add_argument("--no-cache", action="store_true",
                         help="decide every question again, neither reading nor writing the cache of "
                              "decided questions ($VDSL_CACHE_DIR, else ~/.cache/vdsl)")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

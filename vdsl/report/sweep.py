"""Sweeps as text and JSON: the fixes found (as sentences, with witnesses) and the guest modes."""

from __future__ import annotations

from typing import Any

from vdsl.scale.campaign import Campaign, GuestOutcome
from vdsl.scale.changes import describe
from vdsl.scale.sweep import FixSweep, ModeResult, Offender, VariantResult


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _condition(sweep: FixSweep) -> str:
    return f"{sweep.condition}'s condition" if not sweep.condition.startswith("policy") \
        else f"the check of {sweep.condition}"


def _offender_line(offender: Offender) -> str:
    return f"{offender.name} ({offender.why})" + (f": {offender.witness}" if offender.witness else "")


def fixes_text(sweep: FixSweep) -> str:
    """The condition as it is, what each single change did, and the smallest fixes."""
    condition = _condition(sweep)
    guests = "guests in their own modes" if sweep.assisted else f"guests run in {sweep.mode}"
    lines = [f"sweep fixes of isa {sweep.isa}: {condition}, {guests} (decided in {sweep.where})"]
    baseline = sweep.baseline
    if baseline.problem is not None:
        return "\n".join([*lines, f"  cannot be checked: {baseline.problem}"]) + "\n"
    if baseline.holds:
        return "\n".join([*lines, f"  {condition} holds as it is: nothing to fix"]) + "\n"
    count = len(baseline.breaking)
    lines.append(f"  as it is, {_counted(count, 'instruction')} break{'s' if count == 1 else ''} it:")
    lines.extend(f"    {_offender_line(o)}" for o in baseline.offenders)
    lines.extend(f"    {name} (undecided)" for name in baseline.undecided)
    lines.extend(f"  {skipped}" for skipped in sweep.skipped)
    useful = [s for s in sweep.singles if sweep.removes(s)]
    useless = [s for s in sweep.singles if not sweep.removes(s)]
    counts = {f: sum(1 for s in sweep.singles if s.changes[0].family == f) for f in sweep.families}
    families = ", ".join(f"{f} {n}" for f, n in counts.items() if n or f != "exit")
    lines.append(f"  single changes: {len(sweep.singles)} decided ({families}); "
                 f"{len(useful)} remove an offender")
    for single in useful:
        removed = ", ".join(sorted(sweep.removes(single)))
        line = f"    {describe(single.changes, sweep.mode)}: removes {removed}"
        added = sweep.adds(single)
        if added:
            line += f", but {', '.join(sorted(added))} then break{'s' if len(added) == 1 else ''} it"
        lines.append(line + ("; it holds" if single.holds else ""))
    for single in useless:  # a trap or exit that did not remove its own instruction: why not
        change = single.changes[0]
        if single.problem is not None:
            lines.append(f"    {describe(single.changes, sweep.mode)}: cannot be checked: {single.problem}")
            continue
        still = next((o for o in single.offenders if o.name == change.target), None)
        if change.family != "pin" and still is not None:
            lines.append(f"    {describe(single.changes, sweep.mode)}: removes nothing; still "
                         f"{_offender_line(still)}")
    pins = [s for s in useless if s.changes[0].family == "pin" and s.problem is None]
    if pins:
        lines.append(f"    pins that remove nothing ({len(pins)}): {_pinned_values(pins)}")
    if sweep.unremovable:
        lines.append(f"  no fix from these families: no single change removes {', '.join(sweep.unremovable)}")
        return "\n".join(lines) + "\n"
    if sweep.fixes:
        sizes = sorted({len(f.changes) for f in sweep.fixes})
        size = _counted(sizes[0], "change") if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]} changes"
        each = "checked: with it" if len(sweep.fixes) == 1 else "each checked: with each"
        sets = _counted(len(sweep.fixes), "set")
        lines.append(f"  minimal fixes (no change in one can be left out): {sets} of {size}, {each}, "
                     f"{condition} holds")
        lines.extend(f"    {n}. {describe(f.changes, sweep.mode)}" for n, f in enumerate(sweep.fixes, 1))
    for result in sweep.interfering:
        lines.append("  not a fix, though each change removes an offender: "
                     f"{describe(result.changes, sweep.mode)} ({_still(result)})")
    if not sweep.fixes:
        lines.append("  no fix from these families: no set of the changes makes it hold")
    if sweep.capped:
        lines.append(f"  note: {sweep.capped}")
    return "\n".join(lines) + "\n"


def _still(result: VariantResult) -> str:
    if result.problem is not None:
        return result.problem
    return "still breaking it: " + ", ".join(sorted(result.breaking))


def _result_json(sweep: FixSweep, result: VariantResult) -> dict[str, Any]:
    return {"changes": [_change_json(c) for c in result.changes],
            "sentence": describe(result.changes, sweep.mode),
            "holds": result.holds,
            "removes": sorted(sweep.removes(result)) if result.problem is None else [],
            "adds": sorted(sweep.adds(result)),
            "offenders": [_offender_json(o) for o in result.offenders],
            "undecided": list(result.undecided),
            "problem": result.problem}


def _change_json(change: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"family": change.family, "target": change.target}
    if change.family == "pin":
        found["value"] = change.value
    return found


def _offender_json(offender: Offender) -> dict[str, Any]:
    return {"instruction": offender.name, "why": offender.why, "witness": offender.witness}


def fixes_json(sweep: FixSweep) -> dict[str, Any]:
    baseline = sweep.baseline
    return {
        "sweep": "fixes", "isa": sweep.isa, "condition": sweep.condition, "guest_mode": sweep.mode,
        "families": list(sweep.families), "where": sweep.where,
        "holds": baseline.holds, "problem": baseline.problem,
        "offenders": [_offender_json(o) for o in baseline.offenders], "undecided": list(baseline.undecided),
        "singles": [_result_json(sweep, s) for s in sweep.singles],
        "fixes": [_result_json(sweep, f) for f in sweep.fixes],
        "interfering": [_result_json(sweep, f) for f in sweep.interfering],
        "unremovable": list(sweep.unremovable), "capped": sweep.capped or None,
        "skipped": list(sweep.skipped),
        "ok": baseline.holds or bool(sweep.fixes),
    }


def modes_text(isa: str, results: list[ModeResult], where: str) -> str:
    lines = [f"sweep modes of isa {isa}: the theorems with guests in each mode (decided in {where})"]
    for result in results:
        verdicts = "; ".join(f"{t} {word}" + (f" ({', '.join(offenders)})" if offenders else "")
                             for t, word, offenders in result.verdicts)
        premise = "" if result.premise == "holds" else f"; the premise {result.premise}"
        lines.append(f"  guests in {result.mode}: {verdicts}{premise}")
    return "\n".join(lines) + "\n"


def modes_json(isa: str, results: list[ModeResult], where: str) -> dict[str, Any]:
    return {"sweep": "modes", "isa": isa, "where": where, "modes": [
        {"mode": r.mode, "premise": r.premise,
         "theorems": {t: {"verdict": word, "offending": list(offenders)}
                      for t, word, offenders in r.verdicts}}
        for r in results]}


# ---------------------------------------------------------------- random-guest campaigns

VERDICTS = ("equivalent", "stopped", "diverged", "escaped")


def _first_by_instruction(outcomes: list[GuestOutcome], verdict: str) -> list[tuple[str, int, GuestOutcome]]:
    """(instruction, how many guests, the first of them) for the guests with `verdict`, by instruction."""
    found: dict[str, list[GuestOutcome]] = {}
    for outcome in outcomes:
        if outcome.verdict == verdict:
            event = outcome.divergence if verdict == "diverged" else outcome.violation
            assert event is not None
            found.setdefault(event[1], []).append(outcome)
    grouped = [(name, len(group), group[0]) for name, group in found.items()]
    return sorted(grouped, key=lambda t: (-t[1], t[0]))


def campaign_text(campaign: Campaign) -> str:
    """Per technique: how many guests were equivalent, and each divergence and escape by the
    instruction that caused it, with its class and the first guest that shows it."""
    lines = [f"sweep guests on isa {campaign.isa} under hypervisor {campaign.policy}'s VM map: "
             f"{_counted(campaign.guests, 'random guest')} per technique, seed {campaign.seed} "
             f"(run in {campaign.where})"]
    for technique in campaign.techniques:
        outcomes = campaign.of(technique)
        counts = {v: sum(1 for o in outcomes if o.verdict == v) for v in VERDICTS}
        words = {"equivalent": "equivalent", "stopped": "equivalent until the step limit",
                 "diverged": "diverged", "escaped": "escaped their resources"}
        lines.append(f"  {technique}: " + ", ".join(f"{counts[v]} {words[v]}" for v in VERDICTS if counts[v]))
        for name, count, first in _first_by_instruction(outcomes, "diverged"):
            step, _, how, why = first.divergence  # type: ignore[misc]
            lines.append(f"    {_counted(count, 'guest')} diverged at {name} (first: guest {first.number}, "
                         f"from {first.mode}, step {step}, run {how}): {why}")
        for name, count, first in _first_by_instruction(outcomes, "escaped"):
            step, _, _, detail = first.violation  # type: ignore[misc]
            lines.append(f"    {_counted(count, 'guest')} escaped at {name} (first: guest {first.number}, "
                         f"from {first.mode}, step {step}): {detail}")
    return "\n".join(lines) + "\n"


def _outcome_json(outcome: GuestOutcome) -> dict[str, Any]:
    found: dict[str, Any] = {"guest": outcome.number, "mode": outcome.mode, "verdict": outcome.verdict,
                             "status": outcome.status, "steps": outcome.steps}
    if outcome.divergence is not None:
        step, name, how, why = outcome.divergence
        found["divergence"] = {"step": step, "instruction": name, "how": how, "explanation": why}
    if outcome.violation is not None:
        step, name, kind, detail = outcome.violation
        found["violation"] = {"step": step, "instruction": name, "kind": kind, "detail": detail}
    if outcome.verdict in ("diverged", "escaped"):
        found["program"] = list(outcome.program)
    return found


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {"sweep": "guests", "isa": campaign.isa, "hypervisor": campaign.policy, "seed": campaign.seed,
            "guests": campaign.guests, "where": campaign.where, "techniques": {
                technique: {
                    "counts": {v: sum(1 for o in campaign.of(technique) if o.verdict == v) for v in VERDICTS},
                    "outcomes": [_outcome_json(o) for o in campaign.of(technique)]}
                for technique in campaign.techniques}}


def _pinned_values(pins: list[Any]) -> str:
    """Pins grouped by what they pin, a run of values as a range: `F.IF = 0 or 1, F.IOPL = 1 to 3`
    (sixty pins of x86 were sixty clauses)."""
    values: dict[str, list[int]] = {}
    for single in pins:
        change = single.changes[0]
        values.setdefault(change.target, []).append(change.value)
    return ", ".join(f"{target} = {_value_runs(sorted(set(found)))}" for target, found in values.items())


def _value_runs(values: list[int]) -> str:
    """`0 or 1`, `1 to 3`, `0, 2 or 3`: consecutive values of three or more as a range."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    parts = [f"{r[0]} to {r[-1]}" if len(r) >= 3 else ", ".join(map(str, r)) for r in runs]
    text = ", ".join(parts)
    head, sep, last = text.rpartition(", ")
    return f"{head} or {last}" if sep else text

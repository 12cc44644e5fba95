"""The names users write in `expect` lines and read in reports: classes and theorems."""

from collections.abc import Callable

CLASSES = (
    "privileged",
    "control-sensitive",
    "mode-sensitive",
    "location-sensitive",
    "behaviour-sensitive",
    "user-sensitive",
    "timing-sensitive",
    "innocuous",
)
EXPECTABLE_CLASSES = (*CLASSES, "sensitive")
THEOREMS = ("T1", "T2", "T3")
THEOREM_CONDITIONS = {
    "T1": "every sensitive instruction is privileged",
    "T2": "T1's condition holds and no unprivileged instruction reads timing state",
    "T3": "every user-sensitive instruction is privileged",
}
EXPECT_FORMS = ("T1 holds", "T1 fails", "T1 fails with NAME NAME ...", "premise holds",
                "premise fails with NAME ...", "NAME CLASS", "NAME not CLASS", "policy HYPERVISOR holds",
                "policy HYPERVISOR fails with NAME ...")
POLICY = "policy"  # `expect policy HYPERVISOR holds|fails [with NAME ...]`: the policy check
THEOREM_ALIASES = {"theorem1": "T1", "theorem2": "T2", "theorem3": "T3"}


def normalize_expectation(words: tuple[str, ...]) -> tuple[str, ...]:
    """The canonical word order of an isa's `expect` line: `theorem1` is `T1`, and
    `mode-sensitive GETM` (DESIGN's order) is `GETM mode-sensitive`."""
    words = tuple(THEOREM_ALIASES.get(w, w) for w in words)
    if len(words) == 2 and words[0] in EXPECTABLE_CLASSES and words[1] not in EXPECTABLE_CLASSES:
        return (words[1], words[0])
    return words


RUN_PROPERTIES = ("equivalence", "resource_control", "efficiency")
RUN_EXPECT_FORMS = (
    "equivalence", "divergence", "divergence at NAME", "resource_control", "resource_control fails",
    "resource_control fails at NAME", "efficiency >= 0.9", "GUEST equivalence", "T1 fails",
)


def normalize_run_expectation(words: tuple[str, ...], guests: list[str]) -> tuple[str, ...]:
    """The canonical words of a scenario's `expect` line: `[GUEST] PROPERTY holds|fails [at NAME]`.

    `equivalence` is `equivalence holds`, `divergence [at NAME]` is `equivalence fails [at NAME]`,
    `resource_control` is `resource_control holds`; theorems read as in an isa."""
    words = tuple(THEOREM_ALIASES.get(w, w) for w in words)
    guest = words[:1] if words and words[0] in guests else ()
    rest = words[len(guest):]
    if rest[:1] == ("divergence",):
        rest = ("equivalence", "fails", *rest[1:])
    if rest in (("equivalence",), ("resource_control",)):
        rest = (rest[0], "holds")
    return guest + rest


# Settings the command line offers before it loads anything heavy; the modules that use them
# import them from here.
TECHNIQUES = ("trap_and_emulate", "hybrid", "binary_translation", "paravirtual", "hardware_assisted")
DIAGRAM_KINDS = ("layers", "rings", "classes", "traps", "schedule")
DEFAULT_MAX_STEPS = 1_000_000  # a program or guest stops after this many instructions
SOLVER_RLIMIT = 250_000_000  # z3's resource limit per question (its own deterministic steps)

Step = Callable[[str], None]
"""Told each unit of long work done (an instruction classified, a scenario run), by name: how the
analysis and the monitor report progress without knowing who shows it (`vdsl.progress`)."""

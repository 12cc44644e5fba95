"""The names users write in `expect` lines and read in reports: classes and theorems."""

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
EXPECT_FORMS = ("T1 holds", "T1 fails", "T1 fails with NAME NAME ...", "NAME CLASS", "NAME not CLASS")
THEOREM_ALIASES = {"theorem1": "T1", "theorem2": "T2", "theorem3": "T3"}


def normalize_expectation(words: tuple[str, ...]) -> tuple[str, ...]:
    """The canonical word order of an isa's `expect` line: `theorem1` is `T1`, and
    `mode-sensitive GETM` (DESIGN's order) is `GETM mode-sensitive`."""
    words = tuple(THEOREM_ALIASES.get(w, w) for w in words)
    if len(words) == 2 and words[0] in EXPECTABLE_CLASSES and words[1] not in EXPECTABLE_CLASSES:
        return (words[1], words[0])
    return words

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

"""`vdsl fmt` changes only the layout, and only once: on grammar-generated specs and on bundled specs
with comments, blank lines and spaces thrown in between their tokens.

`format_text` itself checks that its result lexes to the same tokens and comments (it raises
`InternalError` otherwise); these properties add idempotence and that every comment keeps its
place.
"""

from __future__ import annotations

import functools

from conftest import SPECS, comment_places
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark
from test_fuzz import FAST, GRAMMAR_TEXT

from vdsl import SpecError, format_text
from vdsl.resources import grammar_path
from vdsl.syntax.parser import _NamesEverywhere

# The smaller bundled specs: each example formats one three times.
TEXTS = {path.name: path.read_text(encoding="utf-8") for path in sorted(SPECS.glob("*.vspec"))
         if path.stat().st_size < 16_000}
NOISY = settings(FAST, max_examples=40)


def formats_once(text: str) -> None:
    """`text` formats (or gets a syntax diagnostic); formatting again changes nothing, and every
    comment is where it was."""
    try:
        formatted = format_text(text, "fuzz.vspec")
    except SpecError:
        return
    assert format_text(formatted, "fuzz.vspec") == formatted
    assert comment_places(formatted) == comment_places(text)


@FAST
@given(GRAMMAR_TEXT)
def test_grammar_generated_specs_format_once(text: str) -> None:
    formats_once(text)


@functools.cache
def every_token() -> Lark:
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                keep_all_tokens=True, postlex=_NamesEverywhere())


def token_ends(text: str) -> list[int]:
    """The offsets just after each token: where anything but a token may be put."""
    return [token.end_pos or 0 for token in every_token().parse(text).scan_values(lambda _: True)]


NOISE = st.sampled_from([" ", "  ", "\t", "\n", "\n\n\n", "   \n", " // noise\n", "\n// noise\n",
                         "/* noise */", "\n/* noise\n   more */\n", "//\n", "\r\n"])


@NOISY
@given(st.sampled_from(sorted(TEXTS)), st.lists(st.tuples(st.floats(0, 1), NOISE), min_size=1, max_size=30))
def test_bundled_specs_with_noise_between_tokens_format_once(name: str, noise: list[tuple[float, str]]) -> None:
    text = TEXTS[name]
    ends = token_ends(text)
    for where, what in sorted(noise, reverse=True):
        at = ends[min(int(where * len(ends)), len(ends) - 1)]
        text = text[:at] + what + text[at:]
    formats_once(text)


def test_a_bundled_spec_on_one_line_per_token_formats_once() -> None:
    text = TEXTS["pg74.vspec"]
    ends = token_ends(text)
    for at in reversed(ends):
        text = text[:at] + "\n" + text[at:]
    formats_once(text)

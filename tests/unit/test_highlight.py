"""`vdsl.highlight`: the Pygments lexer and the TextMate grammar of .vspec.

The lexer cannot drift from the grammar: its keywords and literal forms are checked against
`grammar/vspec.lark`'s own terminals.  The TextMate grammar in `editors/vscode/` is the one
`textmate_grammar()` makes (refresh it with VDSL_UPDATE_GOLDEN=1), and a small TextMate tokenizer
below, which reads only that JSON file, must scope every bundled spec as the lexer does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lark
import pytest
from conftest import ROOT, checkout_env
from hypothesis import given
from hypothesis import strategies as st
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, String, Token

from vdsl import highlight
from vdsl.highlight import VspecLexer
from vdsl.resources import bundled_specs, grammar_path

EDITOR = ROOT / "editors" / "vscode"
TEXTMATE = EDITOR / "syntaxes" / "vspec.tmLanguage.json"
LEXER = VspecLexer()
TERMINALS = {t.name: t for t in lark.Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr").terminals}


def grammar_words(*names: str) -> set[str]:
    """The words of the grammar's keyword terminals: its quoted words ("machine"), or of the named
    terminals that are alternatives of words (STATE_KIND: "control" | "timing")."""
    if not names:
        return {t.pattern.value for t in TERMINALS.values()
                if t.pattern.type == "str" and t.pattern.value.isidentifier()}
    return {word for name in names for word in re.findall(r"\w+", TERMINALS[name].pattern.value)}


GRAMMAR_KEYWORDS = grammar_words() | grammar_words("STATE_KIND")
GRAMMAR_BUILTINS = grammar_words("BUILTIN")


def tokens(text: str) -> list[tuple[Any, str]]:
    """The lexer's tokens of `text`, whitespace left out."""
    return [(kind, value) for kind, value in LEXER.get_tokens(text) if value.strip()]


def test_every_keyword_of_the_grammar_is_a_keyword() -> None:
    assert {"machine", "inst", "control", "pc", "zero"} <= GRAMMAR_KEYWORDS  # the derivation works
    for word in sorted(GRAMMAR_KEYWORDS):
        ((kind, value),) = tokens(word)
        assert kind in Keyword and value == word, word
    for word in sorted(GRAMMAR_BUILTINS):
        assert tokens(f"{word}(A, 8)")[0] == (Name.Builtin, word)
    # ... and nothing else is: a keyword the grammar dropped is a name again.
    assert set(highlight.KEYWORDS) == GRAMMAR_KEYWORDS and set(highlight.BUILTINS) == GRAMMAR_BUILTINS


@pytest.mark.parametrize(("terminal", "kind"), [("INT", Number), ("DECIMAL", Number), ("STRING", String),
                                                 ("LINE_COMMENT", Comment), ("BLOCK_COMMENT", Comment)])
def test_every_literal_the_grammar_accepts_is_one_token_of_its_kind(terminal: str, kind: Any) -> None:
    # A block comment ends at its first `*/`, whatever more the regex's full match could take.
    texts = st.from_regex(TERMINALS[terminal].pattern.to_regexp(), fullmatch=True).filter(
        lambda text: terminal != "BLOCK_COMMENT" or text.find("*/", 2) == len(text) - 2)

    @given(texts)
    def check(text: str) -> None:
        found = list(LEXER.get_tokens_unprocessed(text))
        assert all(k in kind for _, k, _ in found), (text, found)
        assert "".join(v for _, _, v in found) == text
        if kind is not Comment:  # a block comment is lexed line by line
            assert len(found) == 1, (text, found)

    check()


def test_token_kinds() -> None:
    text = ('machine m { control reg R { base, bound } }\nisa i for m { inst GETM { A = sext(M, 8) } '
            'def f(x) = x << 0x1F_F\n  expect GETM mode-sensitive, efficiency >= 0.75 }\nconst K = 0b10_1 '
            '/* a\nblock */ "text"')
    assert tokens(text) == [
        (Keyword.Declaration, "machine"), (Name.Class, "m"), (Punctuation, "{"), (Keyword, "control"),
        (Keyword, "reg"), (Name, "R"), (Punctuation, "{"), (Name, "base"), (Punctuation, ","), (Name, "bound"),
        (Punctuation, "}"), (Punctuation, "}"),
        (Keyword.Declaration, "isa"), (Name.Class, "i"), (Keyword, "for"), (Name, "m"), (Punctuation, "{"),
        (Keyword.Declaration, "inst"), (Name.Function, "GETM"), (Punctuation, "{"), (Name, "A"), (Operator, "="),
        (Name.Builtin, "sext"), (Punctuation, "("), (Name, "M"), (Punctuation, ","), (Number.Integer, "8"),
        (Punctuation, ")"), (Punctuation, "}"),
        (Keyword.Declaration, "def"), (Name.Function, "f"), (Punctuation, "("), (Name, "x"), (Punctuation, ")"),
        (Operator, "="), (Name, "x"), (Operator, "<<"), (Number.Hex, "0x1F_F"),
        (Keyword, "expect"), (Name, "GETM"), (Name.Constant, "mode-sensitive"), (Punctuation, ","),
        (Name, "efficiency"), (Operator, ">="), (Number.Float, "0.75"), (Punctuation, "}"),
        (Keyword.Declaration, "const"), (Name.Constant, "K"), (Operator, "="), (Number.Bin, "0b10_1"),
        (Comment.Multiline, "/*"), (Comment.Multiline, " a\nblock "), (Comment.Multiline, "*/"),
        (String.Double, '"text"')]


@pytest.mark.parametrize("spec", bundled_specs(), ids=lambda p: p.name)
def test_every_bundled_spec_highlights_without_errors(spec: Path) -> None:
    found = list(LEXER.get_tokens(spec.read_text(encoding="utf-8")))
    assert [value for kind, value in found if kind in Error] == []
    assert any(kind in Keyword for kind, _ in found) and any(kind is Name.Class for kind, _ in found)


def test_the_lexer_is_registered_and_light() -> None:
    # pip install registers the entry point; here, the class it names is the lexer.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    module, _, attribute = project["entry-points"]["pygments.lexers"]["vspec"].partition(":")
    assert getattr(importlib.import_module(module), attribute) is VspecLexer
    assert "Pygments" in " ".join(project["optional-dependencies"]["test"])
    assert (VspecLexer.name, VspecLexer.aliases, VspecLexer.filenames) == ("vspec", ["vspec"], ["*.vspec"])
    # The docs' tools load it without vdsl's parser or z3.
    loaded = subprocess.run([sys.executable, "-c", "import sys, vdsl.highlight; "
                             "print(sorted({m.split('.')[0] for m in sys.modules} & {'lark', 'z3', 'graphviz'}))"],
                            capture_output=True, text=True, check=True, env=checkout_env())
    assert loaded.stdout == "[]\n"


# ---------------------------------------------------------------- the TextMate grammar


def test_the_editor_grammar_is_the_generated_one() -> None:
    made = json.dumps(highlight.textmate_grammar(), indent=2) + "\n"
    if os.environ.get("VDSL_UPDATE_GOLDEN"):
        TEXTMATE.write_text(made, encoding="utf-8")
    assert TEXTMATE.read_text(encoding="utf-8") == made


def test_the_extension_contributes_the_language_and_its_grammar() -> None:
    package = json.loads((EDITOR / "package.json").read_text(encoding="utf-8"))
    (language,) = package["contributes"]["languages"]
    (grammar,) = package["contributes"]["grammars"]
    assert language["id"] == grammar["language"] == "vspec" and language["extensions"] == [".vspec"]
    assert json.loads((EDITOR / grammar["path"]).read_text(encoding="utf-8"))["scopeName"] == grammar["scopeName"]
    configuration = json.loads((EDITOR / language["configuration"]).read_text(encoding="utf-8"))
    assert configuration["comments"] == {"lineComment": "//", "blockComment": ["/*", "*/"]}


def textmate_patterns() -> list[dict[str, Any]]:
    """The grammar's top-level patterns, its `#name` includes expanded, in order."""
    grammar = json.loads(TEXTMATE.read_text(encoding="utf-8"))

    def expand(patterns: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for pattern in patterns:
            if "include" in pattern:
                yield from expand(grammar["repository"][pattern["include"].removeprefix("#")]["patterns"])
            else:
                yield pattern

    return list(expand(grammar["patterns"]))


def test_every_textmate_regex_compiles() -> None:
    regexes = [p[key] for p in textmate_patterns() for key in ("match", "begin", "end") if key in p]
    assert len(regexes) > 10
    for regex in regexes:
        re.compile(regex)
    onig = _oniguruma()
    if onig is None:
        why = "Oniguruma (Debian's libonig5) is not installed: checked with Python's re only"
        if os.environ.get("CI"):
            pytest.fail(f"{why}, and CI must check the grammar with TextMate's own engine")
        pytest.skip(why)
    assert not onig("(unclosed")  # the check is not vacuous
    assert [regex for regex in regexes if not onig(regex)] == []


def _oniguruma() -> Any:
    """A function that compiles a regex with Oniguruma, TextMate's engine, and says whether it
    compiled; None without libonig."""
    name = ctypes.util.find_library("onig")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    pointer = ctypes.c_void_p
    encoding = pointer(ctypes.addressof(ctypes.c_char.in_dll(lib, "OnigEncodingUTF8")))  # a struct
    syntax = pointer.in_dll(lib, "OnigDefaultSyntax")  # a pointer to Ruby's syntax, TextMate's
    lib.onig_initialize.argtypes = [ctypes.POINTER(pointer), ctypes.c_int]
    lib.onig_new.argtypes = [ctypes.POINTER(pointer), pointer, pointer, ctypes.c_uint, pointer, pointer, pointer]
    lib.onig_free.argtypes = [pointer]
    lib.onig_initialize((pointer * 1)(encoding), 1)

    def compiles(regex: str) -> bool:
        data = regex.encode("utf-8")
        text = ctypes.create_string_buffer(data)
        start = ctypes.addressof(text)
        handle, error_info = pointer(), ctypes.create_string_buffer(64)
        code = lib.onig_new(ctypes.byref(handle), start, start + len(data), 0, encoding, syntax,
                            ctypes.addressof(error_info))
        if code == 0:
            lib.onig_free(handle)
        return bool(code == 0)

    return compiles


def textmate_scopes(text: str) -> list[str | None]:
    """The scope of each character of `text`, as a TextMate editor gives it: line by line, the
    leftmost match of any pattern (the first pattern among equals); `begin` holds until `end`."""
    patterns = [(re.compile(p.get("match", p.get("begin", ""))), p) for p in textmate_patterns()]
    scopes: list[str | None] = [None] * len(text)
    inside: dict[str, Any] | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        at = 0
        while at < len(line):
            if inside is not None:
                end = re.compile(inside["end"]).search(line, at)
                stop = end.end() if end else len(line)
                scopes[offset + at:offset + stop] = [inside["name"]] * (stop - at)
                at, inside = stop, (None if end else inside)
                continue
            found = [(m, p) for regex, p in patterns if (m := regex.search(line, at))]
            if not found:
                break
            match, pattern = min(found, key=lambda item: item[0].start())  # min keeps the first of equals
            assert match.end() > match.start(), pattern
            if "name" in pattern:
                scopes[offset + match.start():offset + match.end()] = [pattern["name"]] * len(match.group())
            for group, capture in pattern.get("captures", {}).items():
                start, end = match.span(int(group))
                scopes[offset + start:offset + end] = [capture["name"]] * (end - start)
            inside = pattern if "begin" in pattern else None
            at = match.end()
        offset += len(line)
    return scopes


# What each highlighter's names mean, for comparing them.
TEXTMATE_KINDS = (("keyword.operator.", "operator"), ("keyword.", "keyword"), ("comment.", "comment"),
                  ("constant.numeric.", "number"), ("string.", "string"), ("support.function.", "builtin"),
                  ("constant.language.", "constant"), ("variable.other.constant.", "constant"),
                  ("entity.name.type.", "type"), ("entity.name.function.", "function"),
                  ("punctuation.", "punctuation"))
PYGMENTS_KINDS = ((Operator, "operator"), (Keyword, "keyword"), (Comment, "comment"), (Number, "number"),
                  (String, "string"), (Name.Builtin, "builtin"), (Name.Constant, "constant"), (Name.Class, "type"),
                  (Name.Function, "function"), (Punctuation, "punctuation"))


def textmate_kinds(text: str) -> list[str | None]:
    return [next((kind for prefix, kind in TEXTMATE_KINDS if scope.startswith(prefix)), scope) if scope else None
            for scope in textmate_scopes(text)]


def pygments_kinds(text: str) -> list[str | None]:
    kinds: list[str | None] = [None] * len(text)
    for start, token, value in LEXER.get_tokens_unprocessed(text):
        kind = next((kind for parent, kind in PYGMENTS_KINDS if token in parent), None)
        assert kind is not None or token in (Name, Token.Text.Whitespace), (token, value)
        kinds[start:start + len(value)] = [kind] * len(value)
    return kinds


@pytest.mark.parametrize("spec", bundled_specs(), ids=lambda p: p.name)
def test_the_two_highlighters_agree_on_the_bundled_specs(spec: Path) -> None:
    text = spec.read_text(encoding="utf-8")
    ours, theirs = pygments_kinds(text), textmate_kinds(text)
    assert {"keyword", "comment", "type", "punctuation"} <= set(ours)
    differences = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    where = [f"{text.count(chr(10), 0, i) + 1}:{i - text.rfind(chr(10), 0, i)}: {ours[i]} / {theirs[i]}"
             for i in differences[:5]]
    assert where == []


def test_the_tokenizer_sees_block_comments_across_lines() -> None:
    text = "reg A /* one\ntwo */ reg B"
    assert textmate_kinds(text) == pygments_kinds(text)
    assert textmate_kinds(text)[6:19] == ["comment"] * 13

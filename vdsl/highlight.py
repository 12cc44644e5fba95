"""Syntax highlighting for .vspec: a Pygments lexer and a TextMate grammar, made from one table of rules.

`VspecLexer` is registered as Pygments' `vspec` lexer (an entry point in pyproject.toml), so
`pygmentize -l vspec FILE`, MkDocs (pymdownx.highlight) and Sphinx highlight ```vspec blocks
once vdsl is installed.  `textmate_grammar()` is the grammar of `editors/vscode/`.  Both apply the
same rules in the same order, each a regex in the common subset of Python's `re` and Oniguruma
(TextMate's regex engine), so the two highlighters agree; the keywords are the grammar's
(`grammar/vspec.lark`), which the tests check.  This module needs Pygments and nothing heavy:
no lark, no z3.
"""

from __future__ import annotations

from typing import Any

import attrs
from pygments.lexer import RegexLexer, bygroups
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from vdsl.ir.vocabulary import EXPECTABLE_CLASSES

NAME = r"[A-Za-z_][A-Za-z0-9_]*"

# Keywords that declare a name, and what the name is.
DECLARES_TYPE = ("machine", "isa", "program", "hypervisor", "scenario", "stack", "virtualization")
DECLARES_FUNCTION = ("inst", "def")
DECLARES_CONSTANT = ("const",)
CONTROL_KEYWORDS = ("if", "else", "let", "trap", "halt", "next")
OTHER_KEYWORDS = (
    "allocate", "app", "at", "banked", "cause", "causes", "container", "control", "cost", "data", "engine",
    "entry", "exits", "expect", "extends", "for", "guest", "guests", "hardware", "hypercalls", "import", "in",
    "init", "kind", "load", "management", "mem", "memory", "mode", "modes", "none", "on", "org", "os", "pc",
    "per", "phys", "pin", "quantum", "reg", "relocate", "run", "runs", "runtime", "save", "schedule",
    "serves", "shadow", "technique", "through", "timing", "type", "under", "word", "zero",
)
KEYWORDS = (*DECLARES_TYPE, *DECLARES_FUNCTION, *DECLARES_CONSTANT, *CONTROL_KEYWORDS, *OTHER_KEYWORDS)
BUILTINS = ("concat", "sext", "sle", "slt", "sra", "zext")


def _words(words: tuple[str, ...]) -> str:
    # Longest first, so that no word stops at a shorter one it begins with.
    return r"\b(?:" + "|".join(sorted(words, key=lambda w: (-len(w), w))) + r")\b"


def _declaring(keywords: tuple[str, ...]) -> str:
    return r"\b(" + "|".join(sorted(keywords, key=lambda w: (-len(w), w))) + r")([ \t]+)(" + NAME + ")"


@attrs.frozen
class Rule:
    """One lexical rule: a regex, and for the whole match or for each of its groups a Pygments
    token and a TextMate scope (None: no scope).  `group` names the rule's set in the TextMate
    grammar's repository."""

    group: str
    pattern: str
    tokens: tuple[Any, ...]  # Pygments token types
    scopes: tuple[str | None, ...]


# In order: at each place the first rule that matches there wins (Pygments tries them in order;
# TextMate takes the leftmost match, then the first rule).  Block comments, which span lines,
# are not a rule here: both highlighters give them a state of their own (see below).
RULES = (
    Rule("comments", r"//[^\n]*", (Comment.Single,), ("comment.line.double-slash.vspec",)),
    Rule("strings", r'"[^"\n]*"', (String.Double,), ("string.quoted.double.vspec",)),
    Rule("numbers", r"[0-9]+\.[0-9]+", (Number.Float,), ("constant.numeric.decimal.vspec",)),
    Rule("numbers", r"0[xX][0-9A-Fa-f_]+", (Number.Hex,), ("constant.numeric.hex.vspec",)),
    Rule("numbers", r"0[bB][01_]+", (Number.Bin,), ("constant.numeric.binary.vspec",)),
    Rule("numbers", r"[0-9][0-9_]*", (Number.Integer,), ("constant.numeric.integer.vspec",)),
    Rule("declarations", _declaring(DECLARES_TYPE), (Keyword.Declaration, Whitespace, Name.Class),
         ("keyword.declaration.vspec", None, "entity.name.type.vspec")),
    Rule("declarations", _declaring(DECLARES_FUNCTION), (Keyword.Declaration, Whitespace, Name.Function),
         ("keyword.declaration.vspec", None, "entity.name.function.vspec")),
    Rule("declarations", _declaring(DECLARES_CONSTANT), (Keyword.Declaration, Whitespace, Name.Constant),
         ("keyword.declaration.vspec", None, "variable.other.constant.vspec")),
    # The classes of `expect` lines (mode-sensitive) before the keywords (mode) they begin with.
    Rule("classes", _words(EXPECTABLE_CLASSES), (Name.Constant,), ("constant.language.class.vspec",)),
    Rule("builtins", _words(BUILTINS), (Name.Builtin,), ("support.function.builtin.vspec",)),
    Rule("keywords", _words(CONTROL_KEYWORDS), (Keyword,), ("keyword.control.vspec",)),
    Rule("keywords", _words(KEYWORDS), (Keyword,), ("keyword.other.vspec",)),
    Rule("names", NAME, (Name,), (None,)),
    Rule("operators", r"\|\||&&|==|!=|<=|>=|<<|>>|->|<-|[<>|^&+\-*/%~!=]", (Operator,),
         ("keyword.operator.vspec",)),
    Rule("punctuation", r"[{}()\[\],;:.]", (Punctuation,), ("punctuation.separator.vspec",)),
)
BLOCK_COMMENT_BEGIN, BLOCK_COMMENT_END = r"/\*", r"\*/"
BLOCK_COMMENT_SCOPE = "comment.block.vspec"


def _pygments_rule(rule: Rule) -> tuple[str, Any]:
    return (rule.pattern, rule.tokens[0] if len(rule.tokens) == 1 else bygroups(*rule.tokens))


class VspecLexer(RegexLexer):  # type: ignore[misc]  # Pygments has no type annotations
    """Pygments lexer for vdsl's .vspec files."""

    name = "vspec"
    aliases = ["vspec"]  # noqa: RUF012 - Pygments reads these class attributes
    filenames = ["*.vspec"]  # noqa: RUF012
    mimetypes = ["text/x-vspec"]  # noqa: RUF012

    tokens = {  # noqa: RUF012
        "root": [
            (r"\s+", Whitespace),
            (BLOCK_COMMENT_BEGIN, Comment.Multiline, "block-comment"),
            *(_pygments_rule(rule) for rule in RULES),
        ],
        "block-comment": [
            (BLOCK_COMMENT_END, Comment.Multiline, "#pop"),
            (r"[^*]+", Comment.Multiline),
            (r"\*", Comment.Multiline),
        ],
    }


def textmate_grammar() -> dict[str, Any]:
    """The TextMate grammar (`source.vspec`) for editors: the same rules, grouped in a repository."""
    repository: dict[str, Any] = {
        "comments": {"patterns": [{"name": BLOCK_COMMENT_SCOPE, "begin": BLOCK_COMMENT_BEGIN,
                                   "end": BLOCK_COMMENT_END}]},
    }
    for rule in RULES:
        pattern: dict[str, Any] = {"match": rule.pattern}
        if len(rule.scopes) == 1 and rule.scopes[0] is not None:
            pattern["name"] = rule.scopes[0]
        elif len(rule.scopes) > 1:
            pattern["captures"] = {str(i): {"name": scope} for i, scope in enumerate(rule.scopes, 1)
                                   if scope is not None}
        repository.setdefault(rule.group, {"patterns": []})["patterns"].append(pattern)
    return {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "vspec",
        "scopeName": "source.vspec",
        "fileTypes": ["vspec"],
        "patterns": [{"include": f"#{group}"} for group in repository],
        "repository": repository,
    }

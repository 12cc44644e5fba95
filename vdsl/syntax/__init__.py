"""Text to IR declarations: the grammar, the parser with its syntax-error table, lowering; and
the canonical layout of the text (`fmt`)."""

from vdsl.syntax.fmt import format_text
from vdsl.syntax.lower import lower
from vdsl.syntax.parser import parse

__all__ = ["format_text", "lower", "parse"]

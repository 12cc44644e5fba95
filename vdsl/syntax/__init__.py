"""Text to IR declarations: the grammar, the parser with its syntax-error table, lowering."""

from vdsl.syntax.lower import lower
from vdsl.syntax.parser import parse

__all__ = ["lower", "parse"]

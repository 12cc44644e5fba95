"""`vdsl lsp`: a language server for .vspec files.

The editor features are pure functions over outlines, in pipeline order: `tolerant` (a parse
tree for text with errors), `outline` (declarations and the names used, with positions),
`navigation` (definitions, completions), `hover`, `checking` (what `vdsl check` reports, in a
fast and a slow step), `positions` (vdsl's spans to the protocol's positions); `server` is the
protocol glue (pygls), and the only module that imports it.
"""

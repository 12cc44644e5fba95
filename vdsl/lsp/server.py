"""`vdsl lsp`: the language server, over standard input and output (pygls).

The protocol glue only: each request or notification is a few lines over the pure functions of
`vdsl.lsp` (outline, navigation, hover, checking) and `vdsl.lsp.positions`.  Two worker threads
keep the editor responsive: the front end compiles and outlines (a tenth of a second on the
largest bundled spec), the back end classifies with z3 (seconds to a minute) on open and save;
a result for a text that has changed since is not published.  No handler lets an exception
out: it is logged, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import attrs
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from vdsl import __version__
from vdsl.errors import Diagnostic, RunError, SpecError
from vdsl.lsp.checking import Classified, Compiled, classify_document, compile_document
from vdsl.lsp.hover import CLASSIFYING, hover_text
from vdsl.lsp.navigation import Scope, completions, definition, load_scope
from vdsl.lsp.outline import Symbol, inside
from vdsl.lsp.positions import file_start, from_position, to_range, whole_text
from vdsl.report.findings import Finding
from vdsl.resources import data_dir

log = logging.getLogger("vdsl.lsp")
Answer = TypeVar("Answer")
DEBOUNCE = 0.15  # seconds of quiet typing before a change is compiled
NOT_CLASSIFIED = "not classified: the file has errors, or the check has not run yet"

SYMBOL_KINDS = {
    "machine": types.SymbolKind.Class, "register": types.SymbolKind.Field, "field": types.SymbolKind.Property,
    "bank": types.SymbolKind.Field, "memory": types.SymbolKind.Array, "modes": types.SymbolKind.Enum,
    "mode": types.SymbolKind.EnumMember, "trap": types.SymbolKind.Event, "cause": types.SymbolKind.Constant,
    "isa": types.SymbolKind.Interface, "instruction": types.SymbolKind.Method,
    "helper": types.SymbolKind.Function, "operand": types.SymbolKind.Variable,
    "parameter": types.SymbolKind.Variable, "local": types.SymbolKind.Variable,
    "program": types.SymbolKind.Module, "label": types.SymbolKind.Key, "hypervisor": types.SymbolKind.Object,
    "scenario": types.SymbolKind.Namespace, "guest": types.SymbolKind.Object,
    "stack": types.SymbolKind.Package,
    "container": types.SymbolKind.Object, "app": types.SymbolKind.Object, "const": types.SymbolKind.Constant,
}
COMPLETION_KINDS = {
    "machine": types.CompletionItemKind.Class, "register": types.CompletionItemKind.Field,
    "field": types.CompletionItemKind.Property, "bank": types.CompletionItemKind.Field,
    "memory": types.CompletionItemKind.Variable, "modes": types.CompletionItemKind.Enum,
    "mode": types.CompletionItemKind.EnumMember, "cause": types.CompletionItemKind.Event,
    "isa": types.CompletionItemKind.Interface, "instruction": types.CompletionItemKind.Method,
    "helper": types.CompletionItemKind.Function, "operand": types.CompletionItemKind.Variable,
    "parameter": types.CompletionItemKind.Variable, "local": types.CompletionItemKind.Variable,
    "program": types.CompletionItemKind.Module, "label": types.CompletionItemKind.Reference,
    "hypervisor": types.CompletionItemKind.Class, "const": types.CompletionItemKind.Constant,
    "keyword": types.CompletionItemKind.Keyword, "builtin": types.CompletionItemKind.Function,
}
SEVERITIES = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning,
              "notice": types.DiagnosticSeverity.Information}


@attrs.define
class OpenDocument:
    """What the server knows of a document the editor has open."""

    version: int | None
    compiled: Compiled | None = None  # of the current version, once compiled
    classified: Classified | None = None  # the last classification, of `classified_version`
    classified_version: int | None = None
    classifying: Future[Classified] | None = None
    wants_classification: bool = False  # opened or saved since the last classification started
    pending: asyncio.Task[None] | None = None  # a check waiting for typing to pause
    waiting: asyncio.Task[None] | None = None  # the task waiting for the classification
    published_to: set[str] = attrs.field(factory=set)  # imported files' uris its compile reported on


class VspecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("vdsl", __version__)
        self.documents: dict[str, OpenDocument] = {}
        self.front = ThreadPoolExecutor(1, "vdsl-front")  # compile and outline, one at a time
        self.back = ThreadPoolExecutor(1, "vdsl-z3")  # z3 is not thread-safe: one classification at a time

    # ------------------------------------------------------------ documents
    def path_of(self, uri: str) -> Path:
        path = to_fs_path(uri)
        return Path(path) if path else Path.cwd() / Path(uri.rsplit("/", 1)[-1] or "untitled.vspec").name

    def text_of(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    def open_texts(self) -> dict[Path, str]:
        """The text of every open document, by path: it stands in for the file on disk."""
        return {self.path_of(uri): self.text_of(uri) for uri in self.documents}

    def schedule(self, uri: str, classify: bool, delay: float = 0.0) -> None:
        """Check the document after `delay` seconds (replacing a check not started yet), and
        classify it once it compiles if `classify` (on open and save)."""
        state = self.documents.get(uri)
        if state is None:
            return
        state.wants_classification = state.wants_classification or classify
        if state.pending is not None and not state.pending.done():
            state.pending.cancel()
        state.pending = asyncio.get_running_loop().create_task(self.check(uri, delay))

    async def check(self, uri: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            await self.compile_and_publish(uri)
        except asyncio.CancelledError:
            raise
        except Exception:  # a check that fails is logged; the server goes on
            log.exception("checking %s failed", uri)

    async def compile_and_publish(self, uri: str) -> None:
        state = self.documents.get(uri)
        if state is None:
            return
        version, path = state.version, self.path_of(uri)
        loop = asyncio.get_running_loop()
        compiled = await loop.run_in_executor(self.front, compile_document, path, self.open_texts())
        if self.documents.get(uri) is not state or state.version != version:
            return  # the text changed meanwhile: its own check is on the way
        state.compiled = compiled
        self.publish(uri)
        if state.wants_classification and compiled.spec is not None:
            state.wants_classification = False
            self.classify(uri, state, compiled.spec, path)

    def classify(self, uri: str, state: OpenDocument, spec: Any, path: Path) -> None:
        """Classify in the z3 thread; its findings are published if the text is still the one
        classified, and its reports serve hover either way (until the next ones)."""
        if state.classifying is not None:
            state.classifying.cancel()  # one that has not started yet is not needed any more
        future = self.back.submit(classify_document, spec, path)
        state.classifying = future
        waiting = self.classified(uri, state, future, state.version)
        state.waiting = asyncio.get_running_loop().create_task(waiting)

    async def classified(self, uri: str, state: OpenDocument, future: Future[Classified],
                         version: int | None) -> None:
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            return  # replaced by a newer classification before it started
        except Exception:  # a classification that fails is logged; the server goes on
            log.exception("classifying %s failed", uri)
            return
        if self.documents.get(uri) is not state:
            return
        state.classified, state.classified_version = result, version
        if state.version == version:
            self.publish(uri)

    # ------------------------------------------------------------ diagnostics
    def publish(self, uri: str) -> None:
        """The document's diagnostics (with the classification's findings, when they are of its
        text), and those its compile found in imported files that are not open."""
        state = self.documents[uri]
        compiled = state.compiled or Compiled(None)
        main = self.path_of(uri).resolve()
        by_uri: dict[str, list[types.Diagnostic]] = {uri: []}
        for diagnostic in compiled.diagnostics:
            where = diagnostic.span.file if diagnostic.span is not None else diagnostic.file
            file = Path(where).resolve() if where else main
            target = uri if file == main else from_fs_path(str(file))
            if target is not None:
                by_uri.setdefault(target, []).append(to_diagnostic(diagnostic))
        if state.classified is not None and state.classified_version == state.version and compiled.spec:
            by_uri[uri] += [finding_diagnostic(f) for f in state.classified.findings]
        others = {u for u in by_uri if u != uri and u not in self.documents}
        for other in state.published_to - others:
            self.send_diagnostics(other, [], None)
        state.published_to = others
        for target, diagnostics in by_uri.items():
            if target == uri or target in others:
                self.send_diagnostics(target, diagnostics, state.version if target == uri else None)

    def send_diagnostics(self, uri: str, diagnostics: list[types.Diagnostic], version: int | None) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    # ------------------------------------------------------------ position requests
    async def in_scope(self, uri: str, answer: Callable[[Scope], Answer]) -> Answer:
        """`answer` of the document's scope, worked out in the front-end thread (outlining a large
        file after a change takes a few tenths of a second: the editor keeps being served)."""
        path, text, texts = self.path_of(uri), self.text_of(uri), self.open_texts()
        return await asyncio.get_running_loop().run_in_executor(
            self.front, lambda: answer(load_scope(path, text, texts)))

    def reports(self, uri: str) -> tuple[Mapping[str, Any] | None, str]:
        state = self.documents.get(uri)
        if state is None or state.classified is None:
            running = state is not None and state.classifying is not None and not state.classifying.done()
            return None, CLASSIFYING if running else NOT_CLASSIFIED
        return state.classified.reports, CLASSIFYING

    def spec(self, uri: str) -> Any:
        state = self.documents.get(uri)
        return state.compiled.spec if state is not None and state.compiled is not None else None


def to_diagnostic(diagnostic: Diagnostic) -> types.Diagnostic:
    """A vdsl diagnostic for the protocol: the hint appended, each related place a location."""
    message = diagnostic.message + (f"\nhint: {diagnostic.hint}" if diagnostic.hint else "")
    related = [types.DiagnosticRelatedInformation(
        location=types.Location(uri=from_fs_path(str(Path(r.span.file).resolve())) or r.span.file,
                                range=to_range(r.span)), message=r.message) for r in diagnostic.related]
    return types.Diagnostic(
        range=to_range(diagnostic.span) if diagnostic.span is not None else file_start(),
        message=message, severity=SEVERITIES.get(diagnostic.severity, types.DiagnosticSeverity.Error),
        code=diagnostic.code, code_description=_documentation(diagnostic.code), source="vdsl",
        related_information=related or None)


def finding_diagnostic(finding: Finding) -> types.Diagnostic:
    """A finding of the classification (a failing `expect`, an undecided question) for the protocol."""
    return types.Diagnostic(
        range=to_range(finding.span) if finding.span is not None else file_start(), message=finding.message,
        severity=SEVERITIES.get(finding.level, types.DiagnosticSeverity.Error), code=finding.code,
        code_description=_documentation(finding.code), source="vdsl check")


@functools.cache
def _documentation(code: str) -> types.CodeDescription | None:
    """The section of the diagnostics reference about `code`, when the docs are at hand."""
    reference = data_dir("docs") / "reference" / "diagnostics.md"
    if not code.startswith("V") or not reference.is_file():
        return None
    heading = next((line for line in reference.read_text(encoding="utf-8").splitlines()
                    if line.startswith(f"## {code}:")), None)
    if heading is None:
        return None
    anchor = "-".join("".join(c for c in heading[3:].lower() if c.isalnum() or c in " -").split())
    return types.CodeDescription(href=f"{from_fs_path(str(reference))}#{anchor}")


def document_symbol(symbol: Symbol) -> types.DocumentSymbol:
    whole, name = symbol.span, symbol.name_span
    contained = inside(whole, name.line, name.column) and inside(whole, name.end_line, name.end_column)
    return types.DocumentSymbol(
        name=symbol.name, kind=SYMBOL_KINDS.get(symbol.kind, types.SymbolKind.Variable),
        range=to_range(whole),
        selection_range=to_range(name if contained else whole), detail=symbol.detail or None,
        children=[document_symbol(c) for c in symbol.children])


# ------------------------------------------------------------------ the protocol

Handler = TypeVar("Handler", bound=Callable[..., Any])


def guarded(default: Any) -> Callable[[Handler], Handler]:
    """A handler that logs its exception and answers `default`, so the server keeps serving."""
    def wrap(handler: Handler) -> Handler:
        def failed(server: VspecServer, error: Exception) -> Any:
            log.exception("%s failed", handler.__name__)
            server.window_log_message(types.LogMessageParams(
                type=types.MessageType.Error, message=f"vdsl: {handler.__name__} failed: {error!r}"))
            return default

        @functools.wraps(handler)
        def run(server: VspecServer, params: Any) -> Any:
            try:
                return handler(server, params)
            except Exception as error:  # noqa: BLE001 - logged by `failed`; the editor gets an empty answer
                return failed(server, error)

        @functools.wraps(handler)
        async def run_async(server: VspecServer, params: Any) -> Any:
            try:
                return await handler(server, params)
            except Exception as error:  # noqa: BLE001 - logged by `failed`; the editor gets an empty answer
                return failed(server, error)

        return run_async if inspect.iscoroutinefunction(handler) else run  # type: ignore[return-value]
    return wrap


def build_server() -> VspecServer:
    server = VspecServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @guarded(None)
    def did_open(ls: VspecServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.documents[params.text_document.uri] = OpenDocument(params.text_document.version)
        ls.schedule(params.text_document.uri, classify=True)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @guarded(None)
    def did_change(ls: VspecServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        state = ls.documents.setdefault(uri, OpenDocument(None))
        state.version = params.text_document.version
        for other in ls.documents:  # this one, and those that may import it and see its new text
            ls.schedule(other, classify=False, delay=DEBOUNCE)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    @guarded(None)
    def did_save(ls: VspecServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, classify=True)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @guarded(None)
    def did_close(ls: VspecServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        state = ls.documents.pop(uri, None)
        if state is not None and state.pending is not None:
            state.pending.cancel()
        for target in (state.published_to if state is not None else set()) | {uri}:
            ls.send_diagnostics(target, [], None)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded([])
    async def document_symbols(ls: VspecServer,
                               params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        return await ls.in_scope(params.text_document.uri,
                                 lambda scope: [document_symbol(s) for s in scope.main.symbols])

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @guarded(None)
    async def goto_definition(ls: VspecServer, params: types.DefinitionParams) -> types.Location | None:
        uri = params.text_document.uri
        span = await ls.in_scope(uri, lambda scope: definition(
            scope, *from_position(scope.main.source, params.position)))
        if span is None:
            return None
        target = uri if Path(span.file) == ls.path_of(uri) else from_fs_path(str(Path(span.file).resolve()))
        return types.Location(uri=target or uri, range=to_range(span))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @guarded(None)
    async def hover(ls: VspecServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        spec, (reports, waiting) = ls.spec(uri), ls.reports(uri)
        text = await ls.in_scope(uri, lambda scope: hover_text(
            scope, *from_position(scope.main.source, params.position), spec, reports, waiting))
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."]))
    @guarded(None)
    async def complete(ls: VspecServer, params: types.CompletionParams) -> types.CompletionList | None:
        found = await ls.in_scope(params.text_document.uri, lambda scope: completions(
            scope, *from_position(scope.main.source, params.position)))
        items = [types.CompletionItem(label=c.label, kind=COMPLETION_KINDS.get(c.kind),
                                      detail=c.detail or None) for c in found]
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    @guarded(None)
    async def format_document(ls: VspecServer,
                              params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        from vdsl.syntax.fmt import format_text  # `vdsl fmt`: the same layout, the comments kept

        uri = params.text_document.uri
        text, name = ls.text_of(uri), str(ls.path_of(uri))
        try:
            formatted = await asyncio.get_running_loop().run_in_executor(ls.front, format_text, text, name)
        except SpecError:
            return None  # a text that does not parse is left as it is; its diagnostics say why
        return [] if formatted == text else [types.TextEdit(range=whole_text(text), new_text=formatted)]

    return server


def serve(log_file: Path | None = None) -> int:
    """Serve the protocol on standard input and output until the editor says exit, then end the
    process (a classification still running in its thread would hold it up)."""
    try:
        logging.basicConfig(filename=str(log_file) if log_file else None, level=logging.INFO if log_file
                            else logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    except OSError as error:
        raise RunError(f"cannot write the log '{log_file}': {error.strerror}") from None
    server = build_server()
    server.start_io()
    status = 0 if server.protocol._shutdown else 1  # exit without shutdown first: 1, as the protocol says
    logging.shutdown()
    sys.stderr.flush()  # standard output is closed: pygls closes it at exit
    os._exit(status)


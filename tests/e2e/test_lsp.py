"""`vdsl lsp` end to end: the server started as an editor starts it, driven over JSON-RPC by a small
client (Content-Length framing on the server's standard input and output).  Every wait is bounded:
a server that hangs fails the test instead of blocking the suite."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import checkout_env

TIMEOUT = 60  # seconds for any one answer; classification of the small spec takes about one

TINY = """\
machine tiny {
    word 8
    memory E[64]
    modes { supervisor > user }
    reg A
    reg P pc
    control reg R { base: 4, bound: 4 }
    relocate through R
    trap { save (M, P, R) -> E[0]; load (M, P, R) <- E[4] }
}

isa tiny for tiny {
    inst LOAD a { A = mem[a] }
    inst ADD a  { A = A + mem[a] }
    inst GETM   { A = M }
    inst LPSW a { if M == user { trap privileged }  (M, P, R) = mem[a] }
    inst HALT   { if M == user { trap privileged }  halt }
    guests run in user
    expect T3 holds, LPSW privileged
}

program count on tiny {
start:
    LOAD 10
    ADD 11
    GETM
    HALT
    data 10: 3, 4
    entry start
}
"""


class Client:
    """A language client over a server's pipes: requests wait for their answer, notifications are
    kept until a test asks for them."""

    def __init__(self, process: subprocess.Popen[bytes], errors: Path) -> None:
        self.process = process
        self.errors = errors  # the server's standard error
        self.incoming: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.kept: list[dict[str, Any]] = []
        self.last_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            headers: dict[str, str] = {}
            while True:
                line = stream.readline()
                if not line:
                    self.incoming.put(None)
                    return
                if not line.strip():
                    break
                key, value = line.decode("ascii").split(":", 1)
                headers[key.strip().lower()] = value.strip()
            self.incoming.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = TIMEOUT) -> Any:
        self.last_id += 1
        number = self.last_id
        self.send({"id": number, "method": method, "params": params})
        answer = self.wait(lambda m: m.get("id") == number and "method" not in m, timeout)
        assert "error" not in answer, answer
        return answer["result"]

    def diagnostics(self, uri: str, accept: Callable[[list[dict[str, Any]]], bool] = lambda d: True,
                    timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """The next diagnostics published for `uri` that `accept` accepts."""
        message = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                            and m["params"]["uri"] == uri and accept(m["params"]["diagnostics"]), timeout)
        return list(message["params"]["diagnostics"])

    def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        for index, message in enumerate(self.kept):
            if match(message):
                return self.kept.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no answer within {timeout} s; kept: {self.kept[-5:]}")
            try:
                message = self.incoming.get(timeout=remaining)
            except queue.Empty:
                continue
            if message is None:
                raise AssertionError(f"the server closed its output; stderr: {self.stderr()}")
            if "method" in message and "id" in message:  # a request of the server's: say yes
                self.send({"id": message["id"], "result": None})
            elif match(message):
                return message
            else:
                self.kept.append(message)

    def stderr(self) -> str:
        return self.errors.read_text(encoding="utf-8", errors="replace")[-4000:]

    def open(self, path: Path, text: str, version: int = 1) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "vspec", "version": version, "text": text}})
        return uri

    def change(self, uri: str, text: str, version: int) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": text}]})


def start_server(errors: Path) -> Client:
    """`vdsl lsp` as an editor starts it, its standard error going to a file."""
    with errors.open("wb") as stream:
        process = subprocess.Popen([sys.executable, "-m", "vdsl", "lsp"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=stream, env=checkout_env())
    return Client(process, errors)


def stop_server(client: Client) -> None:
    process = client.process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=TIMEOUT)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    connection = start_server(tmp_path / "server.log")
    try:
        capabilities = connection.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        assert capabilities["serverInfo"]["name"] == "vdsl"
        connection.notify("initialized", {})
        yield connection
    finally:
        stop_server(connection)


def position(text: str, needle: str, occurrence: int = 0, offset: int = 0) -> dict[str, int]:
    """The protocol position of the `occurrence`-th `needle` in `text` (plus `offset` characters)."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    return {"line": line, "character": index - (text.rfind("\n", 0, index) + 1)}


def hover_at(client: Client, uri: str, where: dict[str, int]) -> str:
    answer = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": where})
    return str(answer["contents"]["value"]) if answer else ""


def test_the_command_line_loads_pygls_only_to_serve() -> None:
    probe = ("import sys\nfrom vdsl.cli import main\nfor argv in (['--version'], ['--help'], ['lsp', '--help']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print(sorted(m for m in ('pygls', 'lsprotocol', 'lark', 'z3') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=TIMEOUT,
                            check=False, env=checkout_env())
    assert "vdsl lsp [-h] [--log FILE]" in result.stdout
    assert result.stdout.splitlines()[-1] == "[]", result.stdout


def test_capabilities_and_a_clean_exit(tmp_path: Path) -> None:
    client = start_server(tmp_path / "server.log")
    try:
        result = client.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        capabilities = result["capabilities"]
        for capability in ("documentSymbolProvider", "definitionProvider", "hoverProvider", "completionProvider",
                           "documentFormattingProvider"):
            assert capabilities.get(capability), capability
        client.notify("initialized", {})
        assert client.request("shutdown", None) is None
        client.notify("exit", None)
        assert client.process.wait(timeout=TIMEOUT) == 0
        assert client.stderr() == ""
    finally:
        stop_server(client)


def test_diagnostics_as_you_type_with_related_locations(client: Client, tmp_path: Path) -> None:
    broken = TINY.replace("    inst GETM", "    inst ADD a  { A = A - mem[a] }\n    inst GETM")
    uri = client.open(tmp_path / "tiny.vspec", broken)
    [diagnostic] = client.diagnostics(uri, lambda d: bool(d))
    assert diagnostic["code"] == "V011"
    assert diagnostic["message"].startswith("instruction 'ADD' is defined twice in isa 'tiny'\nhint: rename")
    assert diagnostic["range"] == {"start": position(broken, "inst ADD", 1),
                                   "end": position(broken, "\n    inst GETM")}  # the instruction
    [related] = diagnostic["relatedInformation"]
    assert related["message"] == "first defined here"
    assert related["location"]["uri"] == uri
    assert related["location"]["range"]["start"] == position(broken, "inst ADD", 0)
    assert diagnostic["codeDescription"]["href"].endswith("diagnostics.md#v011-defined-twice")

    client.change(uri, TINY, 2)  # fixed: the diagnostics are cleared
    assert client.diagnostics(uri, lambda d: not d, timeout=TIMEOUT) == []


def test_a_syntax_error_while_typing(client: Client, tmp_path: Path) -> None:
    uri = client.open(tmp_path / "tiny.vspec", TINY)
    half = TINY.replace("inst ADD a  { A = A + mem[a] }", "inst ADD a  { A = A + ")
    client.change(uri, half, 2)
    [diagnostic] = client.diagnostics(uri, lambda d: bool(d) and d[0]["code"] != "expect")
    # `A = A + inst GETM {`: the compiler, like `vdsl check`, stops at the brace
    assert (diagnostic["code"], diagnostic["severity"]) == ("V007", 1)
    assert diagnostic["message"].startswith("a statement must be an assignment, let, if, trap or halt\nhint: ")
    assert diagnostic["range"]["start"] == position(half, "{ A = M")

    # The outline, definitions, hover and completion still answer on the broken text.
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert [s["name"] for s in symbols] == ["tiny", "tiny", "count"]
    instructions = [c["name"] for c in symbols[1]["children"] if c["kind"] == 6]  # methods
    assert instructions == ["LOAD", "ADD", "GETM", "LPSW", "HALT"]
    where = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                       "position": position(half, "A = M", 0)})
    assert where["range"]["start"] == position(half, "reg A", 0, 4)
    completion = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                            "position": position(half, "A = M", 0, 4)})
    labels = {item["label"] for item in completion["items"]}
    assert {"A", "P", "R", "M", "supervisor", "user", "let", "if"} <= labels
    # no resolved spec: the declaration as written
    assert hover_at(client, uri, position(half, "reg R", 0, 4)) == "```vspec\ncontrol reg R { base: 4, bound: 4 }\n```"


def test_symbols_definitions_and_hover(client: Client, tmp_path: Path) -> None:
    uri = client.open(tmp_path / "tiny.vspec", TINY)
    assert client.diagnostics(uri) == []  # and no finding: the expectations hold

    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    machine, isa, program = symbols
    assert (machine["name"], machine["kind"], isa["kind"], program["kind"]) == ("tiny", 5, 11, 2)
    assert [c["name"] for c in machine["children"]] == ["E", "M", "A", "P", "R", "trap"]
    registers = {c["name"]: c for c in machine["children"]}
    assert [f["name"] for f in registers["R"]["children"]] == ["base", "bound"]
    assert [m["name"] for m in registers["M"]["children"]] == ["supervisor", "user"]
    assert registers["R"]["selectionRange"]["start"] == position(TINY, "reg R", 0, 4)
    assert [c["name"] for c in program["children"]] == ["start"]

    def definition(needle: str, occurrence: int = 0, offset: int = 0) -> dict[str, Any]:
        found = client.request("textDocument/definition", {
            "textDocument": {"uri": uri}, "position": position(TINY, needle, occurrence, offset)})
        assert found["uri"] == uri
        return dict(found["range"]["start"])

    assert definition("R) = mem") == position(TINY, "reg R", 0, 4)
    assert definition("user {", 0) == position(TINY, "user }", 0)
    assert definition("for tiny", 0, 4) == position(TINY, "machine tiny", 0, 8)
    assert definition("on tiny", 0, 3) == position(TINY, "isa tiny", 0, 4)
    assert definition("GETM\n    HALT") == position(TINY, "inst GETM", 0, 5)
    assert definition("entry start", 0, 6) == position(TINY, "start:", 0)
    assert definition("LPSW privileged") == position(TINY, "inst LPSW", 0, 5)

    # A register's kind and fields from the resolved spec; a mode's rank; a label's address.
    assert "control register, 8 bits" in hover_at(client, uri, position(TINY, "reg R", 0, 4))
    assert "fields: base [3:0], bound [7:4]" in hover_at(client, uri, position(TINY, "reg R", 0, 4))
    assert "rank 1 of 2" in hover_at(client, uri, position(TINY, "user }", 0))
    assert "address 0 in program count" in hover_at(client, uri, position(TINY, "entry start", 0, 6))

    # An instruction's classification, once the background check is done.
    deadline = time.monotonic() + TIMEOUT
    text = hover_at(client, uri, position(TINY, "inst GETM", 0, 5))
    while "classifying" in text and time.monotonic() < deadline:
        time.sleep(0.2)
        text = hover_at(client, uri, position(TINY, "inst GETM", 0, 5))
    assert "**mode-sensitive, behaviour-sensitive**" in text
    assert "T1 offender: mode-sensitive, not privileged" in text
    lpsw = hover_at(client, uri, position(TINY, "LPSW privileged", 0))
    assert "privileged, control-sensitive" in lpsw and "breaks none of T1, T2, T3's conditions" in lpsw


def test_findings_of_check_are_published_with_the_diagnostics(client: Client, tmp_path: Path) -> None:
    failing = TINY.replace("expect T3 holds", "expect T1 holds")
    uri = client.open(tmp_path / "tiny.vspec", failing)
    [finding] = client.diagnostics(uri, lambda d: bool(d))
    assert finding["code"] == "expect"
    assert finding["message"] == "expect T1 holds: fails (T1 fails (GETM))"
    assert finding["range"]["start"] == position(failing, "T1 holds")


def test_imports_definitions_across_files_and_diagnostics_of_imported_files(client: Client,
                                                                            tmp_path: Path) -> None:
    (tmp_path / "tiny.vspec").write_text(TINY, encoding="utf-8")
    mine = 'import "tiny.vspec"\nisa mine extends tiny {\n    inst NOP { A = A }\n}\n'
    uri = client.open(tmp_path / "mine.vspec", mine)
    client.diagnostics(uri)
    found = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                       "position": position(mine, "extends tiny", 0, 8)})
    assert found["uri"] == (tmp_path / "tiny.vspec").as_uri()
    assert found["range"]["start"] == position(TINY, "isa tiny", 0, 4)
    found = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                       "position": position(mine, "A = A")})
    assert found["range"]["start"] == position(TINY, "reg A", 0, 4)

    # An error in the imported file (not open) is reported on that file, and cleared when fixed.
    (tmp_path / "tiny.vspec").write_text(TINY.replace("reg A\n", "reg A\n    reg A\n"), encoding="utf-8")
    client.change(uri, mine + "\n", 2)
    [imported] = client.diagnostics((tmp_path / "tiny.vspec").as_uri(), lambda d: bool(d))
    assert imported["code"] == "V011"
    (tmp_path / "tiny.vspec").write_text(TINY, encoding="utf-8")
    client.change(uri, mine, 3)
    assert client.diagnostics((tmp_path / "tiny.vspec").as_uri(), lambda d: not d) == []

    # Open in the editor, the imported file is compiled as shown there, saved or not; a change to
    # it checks the files that import it again.
    tiny = client.open(tmp_path / "tiny.vspec", TINY)
    client.change(tiny, TINY.replace("    reg A\n", "    reg B\n").replace("A", "B"), 2)
    undefined = client.diagnostics(uri, lambda d: bool(d))
    # One error at the first use, the other use a related place (V010 is grouped by name).
    assert [(d["code"], d["range"]["start"]) for d in undefined] == [("V010", position(mine, "A = A"))]
    assert [(r["message"], r["location"]["range"]["start"]) for r in undefined[0]["relatedInformation"]] \
        == [("used here too", position(mine, "A = A", 0, 4))]
    client.change(tiny, TINY, 3)
    assert client.diagnostics(uri, lambda d: not d) == []


def test_the_server_survives_any_input(client: Client, tmp_path: Path) -> None:
    uri = client.open(tmp_path / "junk.vspec", "machine \x00 { @@@ \n isa { } } } }\n\"")
    assert client.diagnostics(uri, lambda d: bool(d))
    for request in ("textDocument/documentSymbol", "textDocument/hover", "textDocument/definition",
                    "textDocument/completion"):
        client.request(request, {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 3}})
    # A position past the end, on a document the server was never told of: empty answers.
    other = (tmp_path / "never.vspec").as_uri()
    assert client.request("textDocument/hover", {"textDocument": {"uri": other},
                                                 "position": {"line": 99, "character": 99}}) is None
    logged = client.wait(lambda m: m.get("method") == "window/logMessage", TIMEOUT)
    assert logged["params"]["message"].startswith("vdsl: hover failed: ")  # logged, and the server goes on
    assert client.request("shutdown", None) is None


def test_a_log_that_cannot_be_written_is_an_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "vdsl", "lsp", "--log", str(tmp_path / "no" / "lsp.log")],
                            capture_output=True, text=True, timeout=TIMEOUT, check=False, env=checkout_env(),
                            stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: cannot write the log '{tmp_path / 'no' / 'lsp.log'}': No such file or directory\n"


def test_a_log_file_and_an_editor_that_goes_away(tmp_path: Path) -> None:
    log = tmp_path / "lsp.log"
    result = subprocess.run([sys.executable, "-m", "vdsl", "lsp", "--log", str(log)], capture_output=True,
                            timeout=TIMEOUT, check=False, env=checkout_env(), stdin=subprocess.DEVNULL)
    assert result.returncode == 1  # no shutdown, no exit: the input ended
    assert "Starting" in log.read_text(encoding="utf-8")


def test_formatting_through_vdsl_fmt(client: Client, tmp_path: Path) -> None:
    from vdsl.syntax.fmt import format_text

    path = tmp_path / "tiny.vspec"
    messy = TINY.replace("    reg A\n", "  reg    A   // the accumulator\n")
    expected = format_text(messy, str(path))
    assert expected != messy
    uri = client.open(path, messy)
    options = {"tabSize": 4, "insertSpaces": True}
    [edit] = client.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options})
    assert edit == {"range": {"start": {"line": 0, "character": 0},
                              "end": {"line": messy.count("\n"), "character": 0}}, "newText": expected}
    client.change(uri, expected, 2)
    assert client.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options}) == []
    client.change(uri, "machine m {\n  reg A\n", 3)  # does not parse: left as it is
    assert client.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options}) is None

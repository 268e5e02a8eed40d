"""A fake model server on 127.0.0.1 that replays scripted turns and records requests.

It speaks the Anthropic Messages API (streamed SSE and not), the OpenAI Responses API
and Chat Completions (not streamed), so tests drive ralph through the real SDKs:

    with FakeModelServer([Turn(tool_calls=[("run_command", {"command": "ls"})]),
                          Error(429, {"retry-after": "0"}),
                          Turn(text="done")]) as server:
        provider = get_provider("anthropic:claude-x", base_url=server.base_url("anthropic"))
        ...
        server.assert_complete()

Script items are provider-neutral: `Turn` (text, tool calls, usage, reasoning),
`Error` (an HTTP error, or for streamed Anthropic an error event inside a 200 stream),
or a callable taking the `Request` and returning either. Each is rendered in the wire
format of the endpoint that was hit. When the script runs out the server answers 500
and notes it.

A turn's `reasoning` comes back as a thinking block with a signature (Anthropic, when
the request enables thinking), a reasoning item with encrypted content (Responses, when
the request includes it) or `reasoning_content` (Chat). The fake is as strict as the
real APIs about sending those back (see `tests/fakeapi.py`): a request that drops or
changes them gets the API's 400. With `count_tokens=True` the fake computes usage
itself, with cache reads for byte-identical prompt prefixes (`fakeapi.PromptCache`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ralph.messages import Usage
from tests.fakeapi import PromptCache, Strict, tokens


@dataclass(frozen=True)
class Turn:
    """One model turn. A tool call is (name, arguments) or (name, arguments, id), where
    arguments is a dict or a raw string (for malformed JSON). `usage=None` leaves usage
    out of the OpenAI responses (Anthropic then reports zeros)."""

    text: str = ""
    tool_calls: Sequence[tuple[Any, ...]] = ()
    usage: Usage | None = field(default_factory=lambda: Usage(10, 5))
    stop_reason: str | None = None
    """Passed through as the API's stop/finish reason; None picks the usual one."""
    delay_s: float = 0.0
    """Wait this long before answering."""
    trickle_s: float = 0.0
    """Send the body one byte at a time, this long apart (a stream that never quite stalls)."""
    reasoning: str = ""
    """The model's reasoning: a signed thinking block, an encrypted reasoning item or
    `reasoning_content`, depending on the API."""
    redacted_thinking: bool = False
    """Anthropic: also a redacted_thinking block after the thinking block."""


@dataclass(frozen=True)
class Error:
    """A response given verbatim: an HTTP error, or (with status 200 and a `body`) any odd
    body a lenient client must cope with. `in_stream` sends it as an error event inside
    a streamed Anthropic 200 response instead."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    """The raw response body; None renders an error body in the endpoint's format."""
    message: str = "scripted error"
    in_stream: bool = False


@dataclass(frozen=True)
class Request:
    """One recorded request; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def api(self) -> str:
        """ "anthropic", "responses", "chat" or "unknown", from the path."""
        for suffix, api in (("/messages", "anthropic"), ("/responses", "responses")):
            if self.path.endswith(suffix):
                return api
        return "chat" if self.path.endswith("/chat/completions") else "unknown"

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


ScriptItem = Turn | Error | Callable[[Request], Turn | Error]

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class FakeModelServer:
    """Threaded HTTP server on a random 127.0.0.1 port; use as a context manager."""

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        count_tokens: bool = False,
        min_cache_tokens: int = 1024,
    ) -> None:
        self.script: list[ScriptItem] = list(script)
        self.strict = Strict()
        self.cache = PromptCache(min_cache_tokens) if count_tokens else None
        self.requests: list[Request] = []
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> FakeModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        poll = {"poll_interval": 0.05}  # quick shutdown
        threading.Thread(target=httpd.serve_forever, kwargs=poll, daemon=True).start()
        self._httpd = httpd

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def base_url(self, provider: str) -> str:
        """The base URL to give ralph for `provider` (the OpenAI SDK wants the /v1)."""
        return self.url if provider == "anthropic" else f"{self.url}/v1"

    # -- script ----------------------------------------------------------------------
    def add(self, *items: ScriptItem) -> None:
        with self._lock:
            self.script.extend(items)

    def assert_complete(self) -> None:
        """Every scripted item was used and nothing unexpected was asked."""
        assert not self.problems, f"fake server problems: {self.problems}"
        assert not self.script, f"{len(self.script)} scripted item(s) never requested"

    def bodies(self, api: str | None = None) -> list[Any]:
        """JSON bodies of the recorded requests (to one api, if given)."""
        return [r.body for r in self.requests if api is None or r.api == api]

    def _next(self, request: Request) -> Turn | Error:
        with self._lock:
            self.requests.append(request)
            if request.api == "unknown":
                self.problems.append(f"unknown endpoint {request.method} {request.path}")
                return Error(404, message=f"fake server has no {request.path}")
            refused = self.strict.check(request.api, request.body)
            if refused:  # what the real API answers; the scripted turn is kept
                return Error(400, message=refused)
            if not self.script:
                self.problems.append(f"script exhausted at request {len(self.requests)}")
                return Error(500, message="fake server script exhausted")
            item = self.script.pop(0)
        item = item(request) if callable(item) else item
        if isinstance(item, Turn) and self.cache is not None:
            with self._lock:
                usage = self.cache.usage(request.api, request.body, _output_tokens(item))
            item = dataclasses.replace(item, usage=usage)
        return item

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    def seal(self, kind: str, text: str) -> str:
        """An opaque value only this fake hands out (a signature, encrypted content)."""
        digest = hashlib.sha256(f"{kind}:{text}:{next(self._ids)}".encode()).hexdigest()
        return f"{kind}_{digest[:32]}"


def _output_tokens(turn: Turn) -> int:
    return tokens(len(json.dumps([turn.text, list(turn.tool_calls), turn.reasoning])))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeModelServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: a response goes out as soon as it is written

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, self.path.split("?")[0], headers, body)
        item = self.fake._next(request)
        if isinstance(item, Turn) and item.delay_s:
            time.sleep(item.delay_s)
        status, extra_headers, content_type, payload = _render(self.fake, request, item)
        reason = self.responses.get(status, ("",))[0]
        head = [f"{self.protocol_version} {status} {reason}", f"content-type: {content_type}"]
        head.append(f"content-length: {len(payload)}")
        head += [f"{name}: {value}" for name, value in extra_headers.items()]
        # One write for headers and body: two small writes on a socket with Nagle's
        # algorithm wait for the client's delayed ACK (about 40 ms a request).
        message = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload
        trickle = item.trickle_s if isinstance(item, Turn) else 0.0
        try:
            if not trickle:
                self.wfile.write(message)
                return
            for i in range(len(message)):
                self.wfile.write(message[i : i + 1])
                self.wfile.flush()
                time.sleep(trickle)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a deadline, a stop signal)


# -- rendering ---------------------------------------------------------------------------
Rendered = tuple[int, Mapping[str, str], str, bytes]


def _render(fake: FakeModelServer, request: Request, item: Turn | Error) -> Rendered:
    if isinstance(item, Error) and not (item.in_stream and request.stream):
        return _render_error(request.api, item)
    if request.api == "anthropic":
        if request.stream:
            return 200, {}, "text/event-stream", _anthropic_sse(fake, request, item)
        return _json(_anthropic_message(fake, request, item))  # type: ignore[arg-type]
    if request.stream:
        fake.problems.append(f"streaming not supported by the fake for {request.path}")
        return _render_error(request.api, Error(400, message="fake: streaming unsupported"))
    assert isinstance(item, Turn)
    if request.api == "responses":
        return _json(_responses_body(fake, request, item))
    return _json(_chat_body(fake, request, item))


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Rendered:
    return status, headers or {}, "application/json", json.dumps(body).encode()


def _render_error(api: str, error: Error) -> Rendered:
    body = error.body
    if body is None and api == "anthropic":
        kind = ANTHROPIC_ERROR_TYPES.get(error.status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": error.message}}
    elif body is None:
        body = {"error": {"message": error.message, "type": "error", "param": None, "code": None}}
    if isinstance(body, str | bytes):
        raw = body.encode() if isinstance(body, str) else body
        return error.status, error.headers, "text/plain", raw
    return _json(body, error.status, error.headers)


def _calls(fake: FakeModelServer, turn: Turn, prefix: str) -> list[tuple[str, str, Any]]:
    """(id, name, arguments) for each scripted call, with generated ids."""
    return [
        (call[2] if len(call) > 2 else fake.new_id(prefix), call[0], call[1])
        for call in turn.tool_calls
    ]


def _raw(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _anthropic_input(arguments: Any) -> Any:
    """Tool input as Anthropic sends it: an object; a raw string that is not a JSON
    object is sent as a JSON string value (the SDK then hands back a str)."""
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments)
        except ValueError:
            return arguments
        return value if isinstance(value, dict) else arguments
    return arguments


def _anthropic_usage(usage: Usage | None) -> dict[str, int]:
    usage = usage or Usage()
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def _thinking_blocks(fake: FakeModelServer, request: Request, turn: Turn) -> list[dict[str, Any]]:
    """Signed thinking (and redacted) blocks, only when the request enables thinking."""
    enabled = (request.body.get("thinking") or {}).get("type") == "enabled"
    if not enabled or not (turn.reasoning or turn.redacted_thinking):
        return []
    signature = fake.seal("sig", turn.reasoning)
    blocks = [{"type": "thinking", "thinking": turn.reasoning, "signature": signature}]
    if turn.redacted_thinking:
        blocks.append({"type": "redacted_thinking", "data": fake.seal("redacted", turn.text)})
    return blocks


def _anthropic_message(fake: FakeModelServer, request: Request, turn: Turn) -> dict[str, Any]:
    content = _thinking_blocks(fake, request, turn)
    if turn.text:
        content.append({"type": "text", "text": turn.text})
    for call_id, name, arguments in _calls(fake, turn, "toolu_"):
        content.append(
            {"type": "tool_use", "id": call_id, "name": name, "input": _anthropic_input(arguments)}
        )
    with fake._lock:
        fake.strict.issued_anthropic(content)
    return {
        "id": fake.new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": request.body.get("model", ""),
        "content": content,
        "stop_reason": turn.stop_reason or ("tool_use" if turn.tool_calls else "end_turn"),
        "stop_sequence": None,
        "usage": _anthropic_usage(turn.usage),
    }


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _halves(text: str) -> list[str]:
    """Split into two deltas (when long enough) so the SDK has to accumulate."""
    middle = len(text) // 2
    return [part for part in (text[:middle], text[middle:]) if part]


def _anthropic_sse(fake: FakeModelServer, request: Request, item: Turn | Error) -> bytes:
    turn = item if isinstance(item, Turn) else Turn()
    message = _anthropic_message(fake, request, turn)
    blocks, final_usage = message.pop("content"), message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**final_usage}}
    start["usage"]["output_tokens"] = 1
    out = [_sse("message_start", {"type": "message_start", "message": start})]
    if isinstance(item, Error):
        kind = ANTHROPIC_ERROR_TYPES.get(item.status, "api_error")
        out.append(
            _sse("error", {"type": "error", "error": {"type": kind, "message": item.message}})
        )
        return "".join(out).encode()
    out.append(_sse("ping", {"type": "ping"}))
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": part} for part in _halves(block["text"])]
        elif block["type"] == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                *({"type": "thinking_delta", "thinking": t} for t in _halves(block["thinking"])),
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        elif block["type"] == "redacted_thinking":
            opening, deltas = block, []
        else:
            opening = {**block, "input": {}}
            partial = json.dumps(block["input"])
            # the SDK parses each prefix; a top-level string must arrive whole
            parts = _halves(partial) if isinstance(block["input"], dict) else [partial]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in parts]
        start_event = {"type": "content_block_start", "index": index, "content_block": opening}
        out.append(_sse("content_block_start", start_event))
        for delta in deltas:
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            out.append(_sse("content_block_delta", event))
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": final_usage["output_tokens"]}
    out.append(_sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return "".join(out).encode()


def _reasoning_item(fake: FakeModelServer, request: Request, turn: Turn) -> dict[str, Any]:
    """A reasoning item; its encrypted content only when the request includes it."""
    item: dict[str, Any] = {"type": "reasoning", "id": fake.new_id("rs_"), "summary": []}
    if "reasoning.encrypted_content" in (request.body.get("include") or []):
        item["encrypted_content"] = fake.seal("gAAAA", turn.reasoning)
    return item


def _responses_body(fake: FakeModelServer, request: Request, turn: Turn) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if turn.reasoning:
        output.append(_reasoning_item(fake, request, turn))
    if turn.text:
        text = {"type": "output_text", "text": turn.text, "annotations": []}
        output.append(
            {
                "type": "message",
                "id": fake.new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [text],
            }
        )
    for call_id, name, arguments in _calls(fake, turn, "call_"):
        output.append(
            {
                "type": "function_call",
                "id": fake.new_id("fc_"),
                "call_id": call_id,
                "name": name,
                "arguments": _raw(arguments),
                "status": "completed",
            }
        )
    with fake._lock:
        fake.strict.issued_responses(output)
    body: dict[str, Any] = {
        "id": fake.new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "model": request.body.get("model", ""),
        "status": "incomplete" if turn.stop_reason else "completed",
        "incomplete_details": {"reason": turn.stop_reason} if turn.stop_reason else None,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
    }
    if turn.usage is not None:
        u = turn.usage
        prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens
        body["usage"] = {
            "input_tokens": prompt,
            "input_tokens_details": {
                "cached_tokens": u.cache_read_tokens,
                "cache_write_tokens": u.cache_write_tokens,
            },
            "output_tokens": u.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + u.output_tokens,
        }
    return body


def _chat_body(fake: FakeModelServer, request: Request, turn: Turn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
    if turn.reasoning:
        message["reasoning_content"] = turn.reasoning
    calls = _calls(fake, turn, "call_")
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": _raw(a)}}
            for i, n, a in calls
        ]
    finish = turn.stop_reason or ("tool_calls" if calls else "stop")
    body: dict[str, Any] = {
        "id": fake.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.body.get("model", ""),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if turn.usage is not None:
        u = turn.usage
        prompt = u.input_tokens + u.cache_read_tokens
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": u.output_tokens,
            "total_tokens": prompt + u.output_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
        }
    return body

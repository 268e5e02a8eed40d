"""Providers through the real SDKs against the fake model server: wire shapes, retries,
errors, leniency; plus pricing and the retry-after parser."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from ralph.errors import ProviderError, UsageError, WaitTooLong
from ralph.messages import Message, ToolCall, ToolResult, ToolSpec, Usage
from ralph.providers import Provider, check_provider_spec, get_provider
from ralph.providers.pricing import cost_usd, price_for
from ralph.providers.retry import retry_after_s
from tests.fakeserver import Error, FakeModelServer, Request, Turn

PROVIDERS = ["anthropic", "openai", "openai-chat"]
KEY_VAR = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
TOOLS = [
    ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {}}}),
    ToolSpec("run_command", "Run a command", {"type": "object", "properties": {"command": {}}}),
]
FIRST = [Message("user", "Do step 1")]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")


def make(name: str, server: FakeModelServer, **kwargs: object) -> Provider:
    return get_provider(f"{name}:test-model", base_url=server.base_url(name), **kwargs)  # type: ignore[arg-type]


def follow_up(reply_calls: tuple[ToolCall, ...], first_reply: Message) -> list[Message]:
    """The conversation after the model's first turn and our tool results."""
    results = tuple(
        ToolResult(call.id, f"result of {call.name}", is_error=(i == 1))
        for i, call in enumerate(reply_calls)
    )
    return [*FIRST, first_reply, Message("user", tool_results=results)]


# -- multi-turn round trip, per provider ---------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
def test_tool_use_round_trip(name: str, keys: None, fake_server: FakeModelServer) -> None:
    fake_server.add(
        Turn(
            text="Looking.",
            tool_calls=[("read_file", {"path": "a.txt"}), ("run_command", {"command": "ls"})],
            usage=Usage(100, 20, cache_read_tokens=30, cache_write_tokens=0),
        ),
        Turn(text="All done.", usage=Usage(7, 3, cache_read_tokens=5)),
    )
    provider = make(name, fake_server)
    first = provider.complete("You are ralph.", FIRST, TOOLS)

    assert first.text == "Looking."
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        ("read_file", {"path": "a.txt"}),
        ("run_command", {"command": "ls"}),
    ]
    assert all(type(c.arguments) is dict for c in first.tool_calls)
    assert first.usage == Usage(100, 20, cache_read_tokens=30)
    assert first.retries == 0 and first.latency_s >= 0

    second = provider.complete("You are ralph.", follow_up(first.tool_calls, first.message), TOOLS)
    assert second.text == "All done." and second.tool_calls == ()
    assert second.usage.cache_read_tokens == 5 and second.usage.input_tokens == 7
    fake_server.assert_complete()

    ids = [c.id for c in first.tool_calls]
    assert len(set(ids)) == 2
    CHECK_WIRE[name](fake_server.requests, ids)


def check_anthropic(requests: list[Request], ids: list[str]) -> None:
    assert all(r.path == "/v1/messages" and r.stream for r in requests)
    headers = requests[0].headers  # this SDK version sends the key as a bearer token
    assert "test-anthropic-key" in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    body = requests[1].body
    assert body["model"] == "test-model" and body["max_tokens"] > 0
    assert body["system"] == [
        {"type": "text", "text": "You are ralph.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][0]["input_schema"] == TOOLS[0].parameters
    user, assistant, results = body["messages"]
    assert user == {"role": "user", "content": [{"type": "text", "text": "Do step 1"}]}
    uses = [b for b in assistant["content"] if b["type"] == "tool_use"]
    assert [u["id"] for u in uses] == ids
    assert uses[0]["input"] == {"path": "a.txt"}
    blocks = results["content"]
    assert [(b["type"], b["tool_use_id"], b["is_error"]) for b in blocks] == [
        ("tool_result", ids[0], False),
        ("tool_result", ids[1], True),
    ]
    assert blocks[-1]["cache_control"] == {"type": "ephemeral"}


def check_openai(requests: list[Request], ids: list[str]) -> None:
    assert all(r.path == "/v1/responses" and not r.stream for r in requests)
    assert requests[0].headers["authorization"] == "Bearer test-openai-key"
    body = requests[1].body
    assert body["store"] is False and body["instructions"] == "You are ralph."
    assert body["tools"][0] == {
        "type": "function",
        "name": "read_file",
        "description": "Read a file",
        "parameters": TOOLS[0].parameters,
        "strict": False,
    }
    items = body["input"]
    assert items[0] == {"role": "user", "content": "Do step 1"}  # the whole input again
    assert items[1] == {"role": "assistant", "content": "Looking."}
    calls = [i for i in items if i.get("type") == "function_call"]
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert [c["call_id"] for c in calls] == ids
    assert calls[0]["arguments"] == '{"path": "a.txt"}'
    assert [o["call_id"] for o in outputs] == ids
    assert outputs[0]["output"] == "result of read_file"
    assert outputs[1]["output"].startswith("ERROR: ")
    assert items.index(outputs[0]) > items.index(calls[-1])


def check_openai_chat(requests: list[Request], ids: list[str]) -> None:
    assert all(r.path == "/v1/chat/completions" and not r.stream for r in requests)
    body = requests[1].body
    assert body["tools"][1]["type"] == "function"
    assert body["tools"][1]["function"]["name"] == "run_command"
    system, user, assistant, *tool_msgs = body["messages"]
    assert system == {"role": "system", "content": "You are ralph."}
    assert user == {"role": "user", "content": "Do step 1"}
    assert assistant["role"] == "assistant" and assistant["content"] == "Looking."
    assert [c["id"] for c in assistant["tool_calls"]] == ids
    assert assistant["tool_calls"][1]["function"]["arguments"] == '{"command": "ls"}'
    assert [(m["role"], m["tool_call_id"]) for m in tool_msgs] == [("tool", i) for i in ids]


CHECK_WIRE = {
    "anthropic": check_anthropic,
    "openai": check_openai,
    "openai-chat": check_openai_chat,
}


def test_anthropic_non_streamed_wire_format_parses_with_the_sdk(
    fake_server: FakeModelServer,
) -> None:
    """The fake's non-streamed Messages rendering is what the SDK's create() accepts."""
    import anthropic

    fake_server.add(Turn(text="hi", tool_calls=[("read_file", {"path": "x"}, "toolu_x")]))
    client = anthropic.Anthropic(api_key="k", base_url=fake_server.url, max_retries=0)
    message = client.messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].id == "toolu_x" and message.content[1].input == {"path": "x"}
    assert message.stop_reason == "tool_use" and not fake_server.requests[0].stream


def test_anthropic_usage_includes_cache_writes(keys: None, fake_server: FakeModelServer) -> None:
    fake_server.add(
        Turn(text="ok", usage=Usage(11, 22, cache_read_tokens=33, cache_write_tokens=44))
    )
    reply = make("anthropic", fake_server).complete("s", FIRST, TOOLS)
    assert reply.usage == Usage(11, 22, 33, 44)


def test_callable_turn_sees_the_request(keys: None, fake_server: FakeModelServer) -> None:
    def echo(request: Request) -> Turn:
        return Turn(text=f"you said {request.body['messages'][-1]['content']}")

    fake_server.add(echo)
    reply = make("openai-chat", fake_server).complete("", [Message("user", "ping")], [])
    assert reply.text == "you said ping"
    assert [m["role"] for m in fake_server.requests[0].body["messages"]] == ["user"]


# -- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
def test_429_with_retry_after_then_success(
    name: str, keys: None, fake_server: FakeModelServer
) -> None:
    waits: list[tuple[float, str]] = []
    fake_server.add(Error(429, {"retry-after": "0"}), Error(503), Turn(text="ok"))
    reply = make(name, fake_server, on_wait=lambda s, why: waits.append((s, why))).complete(
        "s", FIRST, TOOLS
    )
    assert reply.text == "ok" and reply.retries == 2
    assert len(fake_server.requests) == 3
    assert waits[0][0] == 0.0 and "429" in waits[0][1] and name in waits[0][1]
    assert "503" in waits[1][1] and 0 <= waits[1][0] <= 0.01
    fake_server.assert_complete()


def test_retry_after_ms_is_honoured(keys: None, fake_server: FakeModelServer) -> None:
    waits: list[float] = []
    fake_server.add(Error(529, {"retry-after-ms": "7"}), Turn(text="ok"))
    make("anthropic", fake_server, on_wait=lambda s, _: waits.append(s)).complete("s", FIRST, [])
    assert waits == [0.007]


@pytest.mark.parametrize("status", [408, 409, 502, 529])
def test_other_transient_statuses_are_retried(
    status: int, keys: None, fake_server: FakeModelServer
) -> None:
    fake_server.add(Error(status), Turn(text="ok"))
    assert make("openai", fake_server).complete("s", FIRST, []).retries == 1


def test_anthropic_overloaded_event_inside_stream_is_retried(
    keys: None, fake_server: FakeModelServer
) -> None:
    fake_server.add(Error(529, in_stream=True, message="Overloaded"), Turn(text="ok"))
    reply = make("anthropic", fake_server).complete("s", FIRST, TOOLS)
    assert reply.text == "ok" and reply.retries == 1


def test_anthropic_stream_cut_short_is_retried(keys: None, fake_server: FakeModelServer) -> None:
    message = {"id": "m", "type": "message", "role": "assistant", "model": "m", "content": []}
    message |= {"stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
    start = {"type": "message_start", "message": message}
    cut = f"event: message_start\ndata: {json.dumps(start)}\n\n"  # no message_stop
    fake_server.add(Error(200, {"content-type": "text/event-stream"}, body=cut), Turn(text="ok"))
    reply = make("anthropic", fake_server).complete("s", FIRST, TOOLS)
    assert reply.text == "ok" and reply.retries == 1


@pytest.mark.parametrize("name", PROVIDERS)
def test_repeated_500s_fail_cleanly_after_max_attempts(
    name: str, keys: None, fake_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RALPH_RETRY_ATTEMPTS", "4")
    fake_server.add(*[Error(500, message="boom")] * 4)
    with pytest.raises(ProviderError, match=r"gave up after 4 attempts.*500.*boom"):
        make(name, fake_server).complete("s", FIRST, TOOLS)
    assert len(fake_server.requests) == 4
    fake_server.assert_complete()


def test_connection_refused_fails_at_once_naming_the_url(
    keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that is not there is a configuration error, not eight retries over 100 s."""
    monkeypatch.setenv("RALPH_RETRY_ATTEMPTS", "2")
    with FakeModelServer() as server:
        dead_url = server.base_url("openai")
    waits: list[str] = []
    provider = get_provider("openai:m", base_url=dead_url, on_wait=lambda _, why: waits.append(why))
    with pytest.raises(ProviderError, match=r"cannot connect to .*connection refused") as e:
        provider.complete("s", FIRST, [])
    assert dead_url.rstrip("/") in str(e.value) and e.value.exit_code == 2
    assert waits == []


def test_timeout_is_retried(keys: None, fake_server: FakeModelServer) -> None:
    from ralph.providers.anthropic import AnthropicProvider
    from ralph.providers.retry import RetryPolicy

    fake_server.add(Turn(text="slow", delay_s=2), Turn(text="fast"))
    provider = AnthropicProvider(
        "m", api_key="k", base_url=fake_server.url, timeout=0.3, retry=RetryPolicy(base_s=0.001)
    )
    reply = provider.complete("s", FIRST, [])
    assert reply.text == "fast" and reply.retries == 1


# -- errors that are never retried -------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
def test_401_is_not_retried_and_names_the_key(
    name: str, keys: None, fake_server: FakeModelServer
) -> None:
    fake_server.add(Error(401, message="invalid x-api-key"))
    with pytest.raises(ProviderError) as caught:
        make(name, fake_server).complete("s", FIRST, TOOLS)
    assert KEY_VAR.get(name, "OPENAI_API_KEY") in str(caught.value)
    assert "invalid x-api-key" in str(caught.value)
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
@pytest.mark.parametrize("name", PROVIDERS)
def test_client_errors_are_not_retried(
    name: str, status: int, keys: None, fake_server: FakeModelServer
) -> None:
    fake_server.add(Error(status, message="nope"))
    with pytest.raises(ProviderError, match=rf"HTTP {status}.*nope"):
        make(name, fake_server).complete("s", FIRST, TOOLS)
    assert len(fake_server.requests) == 1


def test_openai_quota_exhausted_429_is_not_retried(
    keys: None, fake_server: FakeModelServer
) -> None:
    body = {"error": {"message": "You exceeded your quota", "type": "insufficient_quota"}}
    fake_server.add(Error(429, body=body))
    with pytest.raises(ProviderError, match="quota exhausted"):
        make("openai", fake_server).complete("s", FIRST, [])
    assert len(fake_server.requests) == 1


def test_404_hint_names_the_model(keys: None, fake_server: FakeModelServer) -> None:
    fake_server.add(Error(404, message="model not found"))
    with pytest.raises(ProviderError, match="'test-model'"):
        make("anthropic", fake_server).complete("s", FIRST, [])


@pytest.mark.parametrize("header", ["seconds", "http-date"])
@pytest.mark.parametrize("name", PROVIDERS)
def test_long_retry_after_raises_wait_too_long_without_sleeping(
    name: str, header: str, keys: None, fake_server: FakeModelServer
) -> None:
    three_hours = 3 * 3600
    value = (
        str(three_hours)
        if header == "seconds"
        else format_datetime(datetime.now(UTC) + timedelta(seconds=three_hours), usegmt=True)
    )
    fake_server.add(Error(429, {"retry-after": value}, message="usage limit"))
    waits: list[float] = []
    provider = make(name, fake_server, max_wait=900, on_wait=lambda s, _: waits.append(s))
    slept: list[float] = []
    provider.retry.sleep = slept.append  # type: ignore[attr-defined]
    with pytest.raises(WaitTooLong, match="more than --max-wait") as caught:
        provider.complete("s", FIRST, TOOLS)
    assert slept == [] and waits == []
    assert len(fake_server.requests) == 1
    assert abs(caught.value.wait_s - three_hours) < 60  # type: ignore[attr-defined]


def test_short_retry_after_within_max_wait_is_slept(
    keys: None, fake_server: FakeModelServer
) -> None:
    fake_server.add(Error(429, {"retry-after": "5"}), Turn(text="ok"))
    provider = make("openai-chat", fake_server, max_wait=10)
    slept: list[float] = []
    provider.retry.sleep = slept.append  # type: ignore[attr-defined]
    assert provider.complete("s", FIRST, []).text == "ok"
    assert slept == [5.0]


# -- malformed and odd replies ------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
def test_malformed_tool_arguments_reach_ralph_as_none(
    name: str, keys: None, fake_server: FakeModelServer
) -> None:
    fake_server.add(
        Turn(tool_calls=[("run_command", '{"command": "ls"'), ("run_command", '["ls"]')]),
        Turn(text="ok"),
    )
    provider = make(name, fake_server)
    reply = provider.complete("s", FIRST, TOOLS)
    assert [c.arguments for c in reply.tool_calls] == [None, None]
    assert reply.tool_calls[0].raw_arguments == '{"command": "ls"'
    # the conversation can go on: the broken call is replayed with empty arguments
    provider.complete("s", follow_up(reply.tool_calls, reply.message), TOOLS)
    fake_server.assert_complete()


def test_anthropic_truncated_tool_call_has_no_arguments(
    keys: None, fake_server: FakeModelServer
) -> None:
    fake_server.add(
        Turn(
            tool_calls=[("read_file", {"path": "a"}), ("write_file", {"path": "b"})],
            stop_reason="max_tokens",
        )
    )
    reply = make("anthropic", fake_server).complete("s", FIRST, TOOLS)
    assert [c.arguments for c in reply.tool_calls] == [{"path": "a"}, None]
    assert reply.stop_reason == "max_tokens"


def test_openai_incomplete_response_reports_the_reason(
    keys: None, fake_server: FakeModelServer
) -> None:
    fake_server.add(Turn(text="partial", stop_reason="max_output_tokens"))
    reply = make("openai", fake_server).complete("s", FIRST, TOOLS)
    assert reply.text == "partial" and reply.stop_reason == "max_output_tokens"


def test_chat_is_lenient_with_local_servers(keys: None, fake_server: FakeModelServer) -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "qwen",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "list_files", "arguments": ""}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    fake_server.add(Turn(text="no usage", usage=None), Error(200, body=body))
    provider = make("openai-chat", fake_server)
    first = provider.complete("s", FIRST, TOOLS)
    assert first.text == "no usage" and first.usage == Usage()
    second = provider.complete("s", FIRST, TOOLS)
    assert second.tool_calls == (ToolCall("call_0", "list_files", {}, ""),)


# -- keys, specs, imports -----------------------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["", "claude-sonnet-4-5", "anthropic:", "gemini:pro", ":gpt-5", "openai chat:x"]
)
def test_bad_spec_is_a_usage_error_naming_the_form(spec: str) -> None:
    with pytest.raises(UsageError, match="PROVIDER:MODEL"):
        get_provider(spec)


def test_check_provider_spec_splits_at_the_first_colon() -> None:
    assert check_provider_spec("openai-chat:qwen3-coder:30b") == ("openai-chat", "qwen3-coder:30b")


@pytest.mark.parametrize(
    ("spec", "var"),
    [
        ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
        ("openai:gpt-5", "OPENAI_API_KEY"),
        ("openai-chat:gpt-4o", "OPENAI_API_KEY"),
    ],
)
def test_missing_key_is_a_usage_error_naming_the_variable(spec: str, var: str) -> None:
    with pytest.raises(UsageError, match=var):
        get_provider(spec)


def test_openai_chat_to_the_official_endpoint_needs_a_key() -> None:
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        get_provider("openai-chat:gpt-4o", base_url="https://api.openai.com/v1")


def test_openai_chat_to_a_local_server_needs_no_key(fake_server: FakeModelServer) -> None:
    fake_server.add(Turn(text="hi"))
    provider = get_provider("openai-chat:llama", base_url=fake_server.base_url("openai-chat"))
    assert provider.complete("", FIRST, []).text == "hi"
    assert fake_server.requests[0].headers["authorization"] == "Bearer not-needed"


@pytest.mark.parametrize("name", ["anthropic", "openai"])
def test_base_url_comes_from_the_environment(
    name: str, keys: None, fake_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    var = "ANTHROPIC_BASE_URL" if name == "anthropic" else "OPENAI_BASE_URL"
    monkeypatch.setenv(var, fake_server.base_url(name))
    fake_server.add(Turn(text="via env"))
    assert get_provider(f"{name}:m").complete("", FIRST, []).text == "via env"


def test_importing_providers_does_not_import_the_sdks() -> None:
    code = (
        "import sys, ralph.providers, ralph.providers.pricing\n"
        "bad = [m for m in ('anthropic', 'openai', 'httpx2', 'tenacity') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fake_server_notices_an_exhausted_script(keys: None, fake_server: FakeModelServer) -> None:
    fake_server.add(Turn(text="one"))
    provider = make("openai-chat", fake_server)
    provider.complete("", FIRST, [])
    with pytest.raises(ProviderError):
        provider.complete("", FIRST, [])
    with pytest.raises(AssertionError, match="script exhausted"):
        fake_server.assert_complete()


# -- retry-after parsing and pricing -------------------------------------------------------


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s({"retry-after": "12"}) == 12.0
    assert retry_after_s({"retry-after": "1.5", "retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "Thu, 01 Jan 2026 12:01:30 GMT"}, now) == 90.0
    assert retry_after_s({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, now) == 0.0
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


def test_cost_of_known_models() -> None:
    usage = Usage(1_000_000, 1_000_000, cache_read_tokens=1_000_000, cache_write_tokens=1_000_000)
    assert cost_usd("claude-sonnet-4-5", usage) == pytest.approx(3 + 15 + 0.30 + 3.75)
    assert cost_usd("claude-sonnet-4-5-20250929", usage) == cost_usd("claude-sonnet-4-5", usage)
    assert cost_usd("gpt-5-mini", Usage(2_000_000, 0)) == pytest.approx(0.5)
    assert cost_usd("gpt-5.3-codex", Usage(0, 1_000_000)) == pytest.approx(14)


def test_longest_prefix_wins_at_a_dash_boundary() -> None:
    assert price_for("gpt-5-mini-2025-08-07") == price_for("gpt-5-mini") != price_for("gpt-5")
    assert price_for("gpt-5.1-codex-max") == price_for("gpt-5.1-codex")
    assert price_for("o4-mini") != price_for("o3")
    assert price_for("gpt-5.9") is None  # not silently priced as gpt-5


@pytest.mark.parametrize("model", ["qwen3-coder", "llama3.1:8b", "claude-unknown", ""])
def test_unknown_models_have_unknown_cost(model: str) -> None:
    assert cost_usd(model, Usage(10, 10)) is None

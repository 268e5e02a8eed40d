"""Reasoning models through the real SDKs against the strict fake: OpenAI's encrypted
reasoning items, Anthropic's signed thinking blocks, Chat servers' reasoning_content."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ralph.errors import ProviderError, UsageError
from ralph.messages import Message, Reply, ToolResult, ToolSpec
from ralph.providers import Provider, check_credentials, get_provider
from tests.fakeserver import Error, FakeModelServer, Request, Turn
from tests.harness import Ralph, finish

TOOLS = [ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {}}})]
FIRST = [Message("user", "Do step 1")]


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    monkeypatch.setenv("OPENAI_API_KEY", "test-openai-key")


def make(name: str, server: FakeModelServer, **kwargs: object) -> Provider:
    return get_provider(f"{name}:test-model", base_url=server.base_url(name), **kwargs)  # type: ignore[arg-type]


def then(reply: Reply, *, message: Message | None = None) -> list[Message]:
    """The conversation after `reply` (or a doctored copy of its message) and its results."""
    results = tuple(ToolResult(c.id, f"result of {c.name}") for c in reply.tool_calls)
    return [*FIRST, message or reply.message, Message("user", tool_results=results)]


READ = ("read_file", {"path": "a.txt"})


# -- OpenAI Responses: encrypted reasoning items --------------------------------------------


def test_openai_reasoning_items_go_back_exactly_before_their_calls(
    fake_server: FakeModelServer,
) -> None:
    fake_server.add(Turn(text="Looking.", tool_calls=[READ], reasoning="think"), Turn(text="ok"))
    provider = make("openai", fake_server)
    first = provider.complete("sys", FIRST, TOOLS)
    assert first.opaque is not None and first.opaque.labels == ("reasoning item (encrypted)",)
    assert first.text == "Looking." and [c.name for c in first.tool_calls] == ["read_file"]
    assert "gAAAA" not in repr(first) and "gAAAA" not in repr(first.message)

    assert provider.complete("sys", then(first), TOOLS).text == "ok"
    fake_server.assert_complete()
    one, two = fake_server.bodies("responses")
    assert one["include"] == ["reasoning.encrypted_content"] and one["store"] is False
    (issued,) = fake_server.strict.reasoning.values()
    assert issued["encrypted_content"].startswith("gAAAA")
    items = two["input"]
    kinds = [i.get("type", i.get("role")) for i in items]
    assert kinds == ["user", "reasoning", "message", "function_call", "function_call_output"]
    assert items[1] == issued  # exactly as handed out
    assert items[3]["call_id"] == first.tool_calls[0].id == items[4]["call_id"]
    assert json.loads(items[3]["arguments"]) == {"path": "a.txt"}


@pytest.mark.parametrize(
    ("name", "thinking", "dropped_error", "seal", "changed_error"),
    [
        (
            "openai",
            None,
            "without its required 'reasoning' item",
            "gAAAA_",
            "could not be verified",
        ),
        ("anthropic", 2048, "must start with a thinking block", '"sig_', "Invalid `signature`"),
    ],
)
def test_request_without_or_with_changed_reasoning_fails_like_the_api(
    name: str,
    thinking: int | None,
    dropped_error: str,
    seal: str,
    changed_error: str,
    fake_server: FakeModelServer,
) -> None:
    fake_server.add(Turn(tool_calls=[READ], reasoning="think"))
    provider = make(name, fake_server, thinking=thinking)
    first = provider.complete("sys", FIRST, TOOLS)
    dropped = dataclasses.replace(first.message, opaque=None)
    with pytest.raises(ProviderError, match=dropped_error):
        provider.complete("sys", then(first, message=dropped), TOOLS)
    assert first.opaque is not None and seal in first.opaque.data
    tampered = first.opaque.data.replace(seal, seal + "x")
    changed = dataclasses.replace(
        first.message, opaque=dataclasses.replace(first.opaque, data=tampered)
    )
    with pytest.raises(ProviderError, match=changed_error):
        provider.complete("sys", then(first, message=changed), TOOLS)


def test_openai_reasoning_without_encrypted_content_is_refused_with_store_false(
    fake_server: FakeModelServer,
) -> None:
    fake_server.add(Turn(tool_calls=[READ], reasoning="think"))
    provider = make("openai", fake_server)
    first = provider.complete("sys", FIRST, TOOLS)
    assert first.opaque is not None
    items = json.loads(first.opaque.data)
    del items[0]["encrypted_content"]
    bare = dataclasses.replace(first.opaque, data=json.dumps(items))
    with pytest.raises(ProviderError, match="not persisted when `store` is set to false"):
        provider.complete(
            "sys", then(first, message=dataclasses.replace(first.message, opaque=bare)), TOOLS
        )


def test_openai_model_without_reasoning_is_asked_again_without_include(
    fake_server: FakeModelServer,
) -> None:
    refusal = {
        "error": {
            "message": "Encrypted content is not supported with this model.",
            "type": "invalid_request_error",
            "param": "include",
            "code": None,
        }
    }

    def picky(request: Request) -> Turn | Error:
        return Error(400, body=refusal) if "include" in request.body else Turn(text="hi")

    fake_server.add(picky, picky, picky)
    provider = make("openai", fake_server)
    assert provider.complete("s", FIRST, []).text == "hi"
    assert provider.complete("s", FIRST, []).text == "hi"  # remembered: one request
    assert ["include" in b for b in fake_server.bodies()] == [True, False, False]


def test_openai_turn_without_reasoning_is_sent_back_as_before(
    fake_server: FakeModelServer,
) -> None:
    fake_server.add(Turn(text="Looking.", tool_calls=[READ]), Turn(text="ok"))
    provider = make("openai", fake_server)
    first = provider.complete("sys", FIRST, TOOLS)
    assert first.opaque is None
    provider.complete("sys", then(first), TOOLS)
    items = fake_server.bodies()[1]["input"]
    assert items[1] == {"role": "assistant", "content": "Looking."}


# -- Anthropic: extended thinking --------------------------------------------------------------


def test_anthropic_thinking_request_and_blocks_passed_back_unchanged(
    fake_server: FakeModelServer,
) -> None:
    fake_server.add(
        Turn(
            text="Reading.",
            tool_calls=[READ],
            reasoning="I should read a.txt first.",
            redacted_thinking=True,
        ),
        Turn(text="done", reasoning="That was enough."),
    )
    provider = make("anthropic", fake_server, thinking=4096)
    first = provider.complete("sys", FIRST, TOOLS)
    assert first.reasoning == "I should read a.txt first." and first.text == "Reading."
    assert first.opaque is not None
    assert first.opaque.labels == ("thinking block (signed)", "redacted thinking")
    second = provider.complete("sys", then(first), TOOLS)
    assert second.text == "done" and second.reasoning == "That was enough."
    fake_server.assert_complete()

    one, two = fake_server.bodies("anthropic")
    assert one["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert one["max_tokens"] == 4096 + 16_000
    assert not {"temperature", "top_k", "tool_choice"} & set(one)
    issued = fake_server.strict.thinking[:2]
    assert [b["type"] for b in issued] == ["thinking", "redacted_thinking"]
    assistant = two["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][:2] == issued  # first, unchanged, in order
    assert [b["type"] for b in assistant["content"][2:]] == ["text", "tool_use"]
    assert assistant["content"][3]["id"] == first.tool_calls[0].id
    assert two["messages"][2]["content"][-1]["cache_control"] == {"type": "ephemeral"}


def test_anthropic_without_thinking_sends_no_thinking(fake_server: FakeModelServer) -> None:
    fake_server.add(Turn(text="hi", reasoning="ignored"))
    reply = make("anthropic", fake_server).complete("s", FIRST, TOOLS)
    assert reply.opaque is None and reply.reasoning == ""
    assert "thinking" not in fake_server.bodies()[0]
    assert fake_server.bodies()[0]["max_tokens"] == 16_000


def test_fake_refuses_a_budget_the_api_refuses() -> None:
    from tests.fakeapi import Strict

    body = {"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 2048}
    assert "greater than" in (Strict().check("anthropic", body) or "")
    body["max_tokens"], body["temperature"] = 4096, 0.2
    assert "temperature" in (Strict().check("anthropic", body) or "")


@pytest.mark.parametrize(
    ("spec", "budget", "message"),
    [
        ("anthropic:claude-sonnet-4-5", 1000, "at least 1024"),
        ("openai:gpt-5", 4096, "for anthropic models"),
        ("openai-chat:qwen3", 4096, "for anthropic models"),
    ],
)
def test_bad_thinking_budget_is_a_usage_error(spec: str, budget: int, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_credentials(spec, thinking=budget)
    with pytest.raises(UsageError, match=message):
        get_provider(spec, thinking=budget)


# -- Chat Completions: reasoning_content ----------------------------------------------------


def test_chat_reasoning_content_is_kept_for_the_record_not_sent_back(
    fake_server: FakeModelServer,
) -> None:
    fake_server.add(
        Turn(text="Reading.", tool_calls=[READ], reasoning="<think>hm"), Turn(text="ok")
    )
    provider = make("openai-chat", fake_server)
    first = provider.complete("sys", FIRST, TOOLS)
    assert first.reasoning == "<think>hm" and first.text == "Reading." and first.opaque is None
    provider.complete("sys", then(first), TOOLS)
    assistant = fake_server.bodies()[1]["messages"][2]
    assert assistant["role"] == "assistant" and assistant["content"] == "Reading."
    assert "hm" not in json.dumps(fake_server.bodies()[1])


# -- the run record -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["anthropic", "openai", "openai-chat"])
def test_record_shows_reasoning_text_and_notes_private_parts_without_content(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plan.md").write_text("# Plan\n\n- [ ] Read it\n")
    with FakeModelServer() as server:
        ralph = Ralph(server, name, monkeypatch, capsys)
        server.add(
            Turn(text="Reading.", tool_calls=[("read_file", {"path": "plan.md"})], reasoning="r1"),
            Turn(tool_calls=[finish("read it")], reasoning="r2"),
        )
        thinking = ["--thinking", "2048"] if name == "anthropic" else []
        code, summary, err = ralph.run(tmp_path / "plan.md", *thinking)
        assert code == 0, err
        server.assert_complete()
        secrets = [json.dumps(b) for b in server.strict.thinking]
        secrets += [i["encrypted_content"] for i in server.strict.reasoning.values()]
    (record,) = (tmp_path / ".ralph" / "runs").glob("*.jsonl")
    raw = record.read_text()
    models = [json.loads(line) for line in raw.splitlines() if '"event": "model"' in line]
    assert models[0]["text"] == "Reading."
    if name == "openai":
        assert models[0]["private"] == ["reasoning item (encrypted)"]
        assert "reasoning" not in models[0]  # nothing readable came with it
    else:
        assert [m["reasoning"] for m in models] == ["r1", "r2"]
    if name == "anthropic":
        assert models[0]["private"] == ["thinking block (signed)"]
    assert secrets or name == "openai-chat"
    for secret in secrets:
        for part in ("sig_", "gAAAA_"):
            if part in secret:
                value = secret[secret.index(part) :].split('"')[0]
                assert value not in raw
    code, out, _ = ralph("log", "--workspace", str(tmp_path))
    assert code == 0 and "│ Reading." in out
    if name == "openai":
        assert "kept for the model: reasoning item (encrypted)" in out
    else:
        assert "│ r1" in out and "│ r2" in out


@pytest.mark.parametrize(("name", "budget"), [("openai", "4096"), ("anthropic", "100")])
def test_bad_thinking_flag_is_exit_2_before_any_request(
    name: str,
    budget: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "plan.md").write_text("# Plan\n\n- [ ] Read it\n")
    with FakeModelServer() as server:
        ralph = Ralph(server, name, monkeypatch, capsys)
        code, _, err = ralph.run(tmp_path / "plan.md", "--thinking", budget)
        assert server.requests == []
    assert code == 2 and "--thinking" in err and "Traceback" not in err

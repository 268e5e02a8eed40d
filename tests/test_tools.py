"""Tools against a real filesystem under tmp_path: specs, argument checks, each tool's
behaviour and failure text, and run_command's environment, caps, timeouts and process groups."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ralph.messages import ToolCall, ToolResult
from ralph.tools import READ_ONLY_TOOLS, TOOL_SPECS, Toolbox, approval_call, guard_call
from ralph.tools import toolbox as tools


def call(name: str, **args: object) -> ToolCall:
    return ToolCall("c1", name, args, json.dumps(args))


@pytest.fixture
def tb(tmp_path: Path) -> Toolbox:
    return Toolbox(tmp_path)


def run(tb: Toolbox, name: str, **args: object) -> ToolResult:
    result = tb.run(call(name, **args))
    assert result.call_id == "c1"
    return result


# -- specs -------------------------------------------------------------------------------


def test_tool_names_and_parameters_are_the_public_interface() -> None:
    shape = {
        s.name: (sorted(s.parameters["properties"]), sorted(s.parameters["required"]))
        for s in TOOL_SPECS
    }
    assert shape == {
        "read_file": (["limit", "offset", "path"], ["path"]),
        "list_files": (["glob", "path"], []),
        "search": (["glob", "path", "pattern"], ["pattern"]),
        "write_file": (["content", "path"], ["content", "path"]),
        "edit_file": (["new_text", "old_text", "path"], ["new_text", "old_text", "path"]),
        "run_command": (["command", "timeout_s"], ["command"]),
        "finish_step": (["outcome", "summary"], ["outcome", "summary"]),
    }
    finish = next(s for s in TOOL_SPECS if s.name == "finish_step")
    assert finish.parameters["properties"]["outcome"]["enum"] == ["done", "blocked"]
    assert frozenset({"read_file", "list_files", "search"}) == READ_ONLY_TOOLS


def test_all_schemas_fit_the_context_budget() -> None:
    text = json.dumps([[s.name, s.description, s.parameters] for s in TOOL_SPECS])
    assert len(text) < 1_200 * 3  # ~3-4 characters a token for JSON: well under 1,200 tokens


def test_guard_call_maps_each_tool_to_the_policy_view() -> None:
    assert guard_call(call("run_command", command="ls -l", timeout_s=5)) == {
        "tool": "run_command",
        "command": "ls -l",
    }
    assert guard_call(call("read_file", path="a.txt", offset=3)) == {
        "tool": "read_file",
        "path": "a.txt",
    }
    assert guard_call(call("list_files")) == {"tool": "list_files", "path": "."}
    assert guard_call(call("search", pattern="x")) == {"tool": "search", "path": "."}
    assert guard_call(call("write_file", path="b", content="secret stuff")) == {
        "tool": "write_file",
        "path": "b",
    }
    assert guard_call(call("edit_file", path="c", old_text="a", new_text="b")) == {
        "tool": "edit_file",
        "path": "c",
    }
    assert guard_call(ToolCall("x", "run_command", None, "{oops")) == {
        "tool": "run_command",
        "command": "",
    }
    assert guard_call(call("mystery", path="x")) == {"tool": "mystery"}


def test_approval_call_is_the_exact_call_without_the_timeout() -> None:
    assert approval_call(call("run_command", command="rm -rf build", timeout_s=9)) == {
        "tool": "run_command",
        "command": "rm -rf build",
    }
    assert approval_call(call("write_file", path="a", content="x")) == {
        "tool": "write_file",
        "path": "a",
        "content": "x",
    }


# -- argument checking -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool_call", "expected"),
    [
        (ToolCall("c1", "nope", {}, "{}"), "unknown tool 'nope'; the tools are: read_file"),
        (ToolCall("c1", "read_file", None, "{bad"), "not a JSON object: '{bad'"),
        (call("read_file"), "missing ['path']"),
        (call("read_file", path="a", colour="red"), "unknown ['colour']"),
        (call("read_file", path=3), "path must be a string, not int"),
        (call("read_file", path="a", offset="3"), "offset must be an integer, not str"),
        (call("read_file", path="a", offset=1.5), "offset must be a whole number"),
        (call("read_file", path="a", limit=True), "limit must be an integer, not bool"),
        (call("finish_step", outcome="maybe", summary="s"), "must be one of ['done', 'blocked']"),
        (call("finish_step", outcome="done", summary="s"), "handled by ralph's loop"),
        (call("read_file", path=""), "path is empty"),
    ],
)
def test_bad_calls_come_back_as_error_text(tb: Toolbox, tool_call: ToolCall, expected: str) -> None:
    result = tb.run(tool_call)
    assert result.is_error
    assert result.content.startswith("Error: ")
    assert expected in result.content


def test_null_optional_arguments_are_treated_as_absent(tb: Toolbox) -> None:
    (tb.workspace / "a.txt").write_text("one\n")
    result = run(tb, "read_file", path="a.txt", offset=None, limit=None)
    assert result.content == "     1\tone"


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["read_file", "list_files", "search", "edit_file", "bogus"]),
    args=st.dictionaries(
        st.sampled_from(["path", "offset", "limit", "glob", "pattern", "old_text", "new_text"]),
        st.none()
        | st.integers()
        | st.floats()
        | st.text(st.characters(blacklist_characters="/~"), max_size=20)
        | st.lists(st.integers()),
    ),
)
def test_run_never_raises(tb: Toolbox, name: str, args: dict) -> None:
    result = tb.run(ToolCall("c1", name, args, ""))
    assert isinstance(result.content, str)


# -- read_file ---------------------------------------------------------------------------


def test_read_file_numbers_lines_and_pages_with_offset_and_limit(tb: Toolbox) -> None:
    (tb.workspace / "f.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    assert run(tb, "read_file", path="f.txt", limit=2).content == (
        "     1\tline 1\n     2\tline 2\n[showing lines 1-2; more follow: use offset=3]"
    )
    assert run(tb, "read_file", path="f.txt", offset=9).content == "     9\tline 9\n    10\tline 10"
    past_end = run(tb, "read_file", path="f.txt", offset=50)
    assert "nothing at line 50" in past_end.content


def test_read_file_keeps_crlf_out_of_the_text(tb: Toolbox) -> None:
    (tb.workspace / "w.txt").write_bytes(b"a\r\nb\r\n")
    assert run(tb, "read_file", path="w.txt").content == "     1\ta\n     2\tb"


def test_read_file_refuses_binary_and_folders_and_missing(tb: Toolbox) -> None:
    (tb.workspace / "img.bin").write_bytes(b"\x89PNG\r\n\x00\x00data")
    (tb.workspace / "dir").mkdir()
    for path, expected in [
        ("img.bin", "is a binary file"),
        ("dir", "is a folder; use list_files"),
        ("missing.txt", "does not exist"),
    ]:
        result = run(tb, "read_file", path=path)
        assert result.is_error and expected in result.content


def test_read_file_caps_big_files_and_long_lines(tmp_path: Path) -> None:
    tb = Toolbox(tmp_path, output_cap=1_000)
    (tmp_path / "big.txt").write_text("x" * 5_000 + "\n" + "short\n" * 10_000)
    text = run(tb, "read_file", path="big.txt").content
    assert len(text) < 4_000
    assert "[... 3000 chars cut]" in text
    assert text.endswith("more follow: use offset=2]")


def test_read_file_accepts_absolute_paths(tb: Toolbox, tmp_path: Path) -> None:
    (tmp_path / "abs.txt").write_text("hi\n")
    assert run(tb, "read_file", path=str(tmp_path / "abs.txt")).content == "     1\thi"


# -- list_files and search ---------------------------------------------------------------


@pytest.fixture
def tree(tb: Toolbox) -> Toolbox:
    for rel in [
        "README.md",
        "src/app.py",
        "src/pkg/util.py",
        "src/pkg/data.json",
        ".git/config",
        "node_modules/lib/index.js",
        "src/__pycache__/app.cpython-311.pyc",
    ]:
        p = tb.workspace / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"contents of {rel}\nTODO: fix {p.name}\n")
    return tb


def test_list_files_skips_noise_folders_and_sorts(tree: Toolbox) -> None:
    assert run(tree, "list_files").content.splitlines() == [
        "README.md",
        "src/app.py",
        "src/pkg/data.json",
        "src/pkg/util.py",
    ]


def test_list_files_globs(tree: Toolbox) -> None:
    assert run(tree, "list_files", glob="*.py").content.splitlines() == [
        "src/app.py",
        "src/pkg/util.py",
    ]
    assert run(tree, "list_files", glob="pkg/**").content == "[no files under . matching pkg/**]"
    assert run(tree, "list_files", path="src", glob="pkg/*.json").content == "src/pkg/data.json"
    assert run(tree, "list_files", glob="**/*.md").content == "README.md"


def test_list_files_lists_a_skipped_folder_when_asked_for_it(tree: Toolbox) -> None:
    assert run(tree, "list_files", path="node_modules").content == "node_modules/lib/index.js"


def test_list_files_caps_the_count(tree: Toolbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "MAX_LIST_ENTRIES", 2)
    lines = run(tree, "list_files").content.splitlines()
    assert lines == [
        "README.md",
        "src/app.py",
        "[... more files not shown; narrow path or glob ...]",
    ]


def test_list_files_missing_path_is_an_error(tb: Toolbox) -> None:
    result = run(tb, "list_files", path="nowhere")
    assert result.is_error and "nowhere does not exist" in result.content


def test_search_finds_regex_matches_with_path_and_line(tree: Toolbox) -> None:
    assert run(tree, "search", pattern=r"TODO: fix \w+\.py").content.splitlines() == [
        "src/app.py:2: TODO: fix app.py",
        "src/pkg/util.py:2: TODO: fix util.py",
    ]
    assert run(tree, "search", pattern="TODO", glob="*.json").content == (
        "src/pkg/data.json:2: TODO: fix data.json"
    )
    assert run(tree, "search", pattern="TODO", path="README.md").content == (
        "README.md:2: TODO: fix README.md"
    )
    assert run(tree, "search", pattern="absent").content == "[no matches for 'absent']"


def test_search_skips_binary_files_and_reports_bad_regex(tree: Toolbox) -> None:
    (tree.workspace / "blob.bin").write_bytes(b"TODO\x00\x01")
    assert "blob.bin" not in run(tree, "search", pattern="TODO").content
    bad = run(tree, "search", pattern="(unclosed")
    assert bad.is_error and "bad regex '(unclosed'" in bad.content


def test_search_caps_matches(tb: Toolbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "MAX_SEARCH_MATCHES", 3)
    (tb.workspace / "many.txt").write_text("hit\n" * 10)
    lines = run(tb, "search", pattern="hit").content.splitlines()
    assert lines[:3] == ["many.txt:1: hit", "many.txt:2: hit", "many.txt:3: hit"]
    assert lines[3].startswith("[... more matches not shown")
    assert len(lines) == 4


# -- write_file and edit_file ------------------------------------------------------------


def test_write_file_creates_parents_and_leaves_no_temp_files(tb: Toolbox) -> None:
    result = run(tb, "write_file", path="deep/er/new.txt", content="héllo\n")
    assert result.content == "wrote 7 bytes to deep/er/new.txt"
    assert (tb.workspace / "deep/er/new.txt").read_text() == "héllo\n"
    assert os.listdir(tb.workspace / "deep/er") == ["new.txt"]


def test_write_file_over_a_folder_is_an_error(tb: Toolbox) -> None:
    (tb.workspace / "d").mkdir()
    result = run(tb, "write_file", path="d", content="x")
    assert result.is_error and "is a folder" in result.content


def test_edit_file_needs_exactly_one_match(tb: Toolbox) -> None:
    f = tb.workspace / "e.py"
    f.write_bytes(b"a = 1\r\nb = 1\r\n")
    none = run(tb, "edit_file", path="e.py", old_text="c = 1", new_text="c = 2")
    assert none.is_error and "old_text matched 0 times in e.py" in none.content
    two = run(tb, "edit_file", path="e.py", old_text=" = 1", new_text=" = 2")
    assert two.is_error and "matched 2 times" in two.content and "more surrounding" in two.content
    assert f.read_bytes() == b"a = 1\r\nb = 1\r\n"
    ok = run(tb, "edit_file", path="e.py", old_text="b = 1", new_text="b = 2")
    assert not ok.is_error and ok.content == "edited e.py"
    assert f.read_bytes() == b"a = 1\r\nb = 2\r\n"  # line endings untouched


def test_edit_file_errors(tb: Toolbox) -> None:
    (tb.workspace / "bin").write_bytes(b"\xff\xfe\x00")
    for args, expected in [
        ({"path": "e.py", "old_text": "", "new_text": "x"}, "old_text is empty"),
        ({"path": "gone.py", "old_text": "a", "new_text": "b"}, "does not exist"),
        ({"path": "bin", "old_text": "a", "new_text": "b"}, "not UTF-8 text"),
    ]:
        result = run(tb, "edit_file", **args)
        assert result.is_error and expected in result.content


# -- run_command -------------------------------------------------------------------------


def test_run_command_combines_output_and_reports_exit_code(tb: Toolbox) -> None:
    result = run(tb, "run_command", command="echo out; echo err >&2; pwd; exit 3")
    assert result.content == f"out\nerr\n{tb.workspace}\n[exit code: 3]"
    assert not result.is_error
    assert tb.run_command("true") == (0, "")


def test_run_command_has_no_stdin_and_no_terminal(tb: Toolbox) -> None:
    code, out = tb.run_command("cat; echo read-done; exec 3</dev/tty && echo HAS-TTY")
    assert "read-done" in out and "HAS-TTY" not in out
    code, out = tb.run_command("ps -o sid= -p $$")
    assert code == 0 and int(out.strip()) != os.getsid(0)


def test_run_command_removes_secrets_from_the_environment(
    tb: Toolbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = {
        "ANTHROPIC_API_KEY": "sk-ant-x",
        "OPENAI_API_KEY": "sk-x",
        "GITHUB_TOKEN": "ghp_x",
        "MY_SECRET_THING": "x",
        "AWS_REGION": "eu-west-1",
        "DB_PASSWORD": "x",
        "DATABASE_URL": "postgres://me:hunter2@db/app",
        "DEPLOY_PASS": "hunter2hunter2",
        "DB_PWD": "hunter2hunter2",
        "SESSION_COOKIE": "abc",
        "HELPER": "ghp_" + "a1b2" * 9,  # a token under an innocent name
    }
    kept = {"RALPH_TEST_PLAIN": "kept", "GIT_AUTHOR_NAME": "Jane Doe"}  # AUTHOR is no AUTH
    for k, v in {**secret, **kept}.items():
        monkeypatch.setenv(k, v)
    _, out = tb.run_command("env")
    names = {line.split("=", 1)[0] for line in out.splitlines()}
    assert not names & set(secret)
    assert {*kept, "PATH", "GIT_TERMINAL_PROMPT"} <= names


def test_run_command_keeps_head_and_tail_of_big_output(tmp_path: Path) -> None:
    tb = Toolbox(tmp_path, output_cap=1_000)
    code, out = tb.run_command("seq 1 100000")
    assert code == 0
    assert out.startswith("1\n2\n3\n")
    assert out.endswith("99999\n100000")
    total = len("".join(f"{i}\n" for i in range(1, 100_001)))
    assert f"\n[... {total - 1_000} bytes truncated ...]\n" in out
    assert len(out) < 1_100


def test_run_command_timeout_kills_the_whole_process_group(tb: Toolbox) -> None:
    result = run(tb, "run_command", command="sleep 60 & echo $! > pid; wait", timeout_s=1)
    assert result.is_error
    assert "[timed out after 1s; the process group was killed]" in result.content
    assert result.content.endswith("[exit code: 124]")
    assert not _alive(int((tb.workspace / "pid").read_text()))


def test_background_children_holding_the_output_do_not_hang_the_call(tb: Toolbox) -> None:
    code, out = tb.run_command("sleep 60 & echo $! > pid; echo started")
    assert code == 0 and out.startswith("started")
    assert "background processes" in out
    assert not _alive(int((tb.workspace / "pid").read_text()))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_timeout_sigkills_processes_that_ignore_sigterm(tb: Toolbox) -> None:
    code, out = tb.run_command("trap '' TERM; sleep 60 & echo $! > pid; wait", timeout_s=1)
    assert code == 124 and "timed out" in out
    assert not _alive(int((tb.workspace / "pid").read_text()))

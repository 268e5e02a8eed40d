"""The walker against real bash: every command bash runs, the analysis must report.

Generated inputs nest substitutions, backquotes (escaped at any depth), quotes, here-docs,
shell strings and compound statements around harmless probes (`touch PROBE_n`). Each input
runs in real bash in a temporary folder (fake HOME, empty environment); every probe file
bash created must appear as a `touch` command in the analysis. The walker may over-report
(list commands that do not run), never under-report. Inputs that bash evaluates in ways
the walker does not model (PS4, `${x@P}`, values holding code) must at least be problems.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ralph.bash import Analysis, analyze

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def sq(code: str) -> str:
    return "'" + code.replace("'", "'\\''") + "'"


def dq(code: str) -> str:
    return '"' + "".join("\\" + c if c in '\\$`"' else c for c in code) + '"'


def bq(code: str, in_dq: bool = False) -> str:
    """`code` as a backquoted substitution: \\, ` and $ (and " in double quotes) escaped."""
    special = '\\`$"' if in_dq else "\\`$"
    return "`" + "".join("\\" + c if c in special else c for c in code) + "`"


# Layers that run their inner code exactly as bash does; the walker must see it.
EXACT: list[Callable[[str], str]] = [
    lambda x: f"echo $({x})",
    lambda x: f"echo {bq(x)}",
    lambda x: f'echo "$({x})"',
    lambda x: f'echo "{bq(x, in_dq=True)}"',
    lambda x: f"printf %s {bq(x)}",
    lambda x: f"cat <({x})",
    lambda x: f"{{ {x}; }} | cat",
    lambda x: f"true && {{ {x}; }}",
    lambda x: f"false || {{ {x}; }}",
    lambda x: f"( {x} )",
    lambda x: f"bash -c {sq(x)}",
    lambda x: f"sh -c {dq(x)}",
    lambda x: f"eval {sq(x)}",
    lambda x: f"v=$({x})",
    lambda x: f"v={bq(x)}",
    lambda x: f": ${{unset_var:-$({x})}}",
    lambda x: f"for i in 1; do {x}; done",
    lambda x: f"if true; then {x}; fi",
    lambda x: f"case a in a) {x};; esac",
    lambda x: f"bash <<< {sq(x)}",
    lambda x: f"bash <<'EOF'\n{x}\nEOF",
    lambda x: f"echo $(( $({x}) 0 ))",
    lambda x: f"arr[$({x})]=1",
    lambda x: f"local_fn() {{ {x}; }}; local_fn",
    lambda x: f"trap {sq(x)} EXIT",
    lambda x: f"x=1 {x}" if x.startswith("touch") else f"{{ {x}; }}",
    lambda x: f"timeout 5 bash -c {sq(x)}",
]
# Layers bash evaluates in ways the walker does not model: they must be problems.
EVALUATED: list[Callable[[str], str]] = [
    lambda x: f"PS4={sq('$(' + x + ')')} bash -xc :",
    lambda x: f"export PS4={sq('$(' + x + ')')}; set -x; :",
    lambda x: f"v={sq('$(' + x + ')')}; echo ${{v@P}}",
    lambda x: f"v={sq('a[$(' + x + ')]')}; echo $((v))",
    lambda x: f"declare -i n; n={sq('a[$(' + x + ')]')}",
    lambda x: f"printf -v {sq('a[$(' + x + ')]')} %s 1",
    lambda x: f"[[ -v {sq('a[$(' + x + ')]')} ]]",
    lambda x: f"env BASH_ENV=<(echo {sq(x)}) bash -c :",
    lambda x: f"echo {sq(x)} | bash",
]


def probes(count: int, seed: int) -> list[tuple[str, bool]]:
    """(source, exact) pairs; probe i writes PROBE_i."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        code = f"touch PROBE_{i}"
        for _ in range(rng.randint(1, 4)):
            code = rng.choice(EXACT)(code)
        exact = rng.random() < 0.8
        if not exact:
            code = rng.choice(EVALUATED)(code)
            if rng.random() < 0.5:
                code = rng.choice(EXACT)(code)
        out.append((code, exact))
    return out


def run_in_bash(source: str, folder: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder / "home"), "LC_ALL": "C"}
    subprocess.run(
        [BASH or "bash", "--noprofile", "--norc", "-c", source],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=10,
        check=False,
    )


def parse_error(analysis: Analysis) -> bool:
    return any(p.startswith("parse error") for p in analysis.problems)


def reported(source: str, probe: str) -> bool:
    return any(c.program == "touch" and probe in c.args for c in analyze(source).commands)


def test_generated_probes_that_bash_runs_are_reported(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    cases = probes(240, seed=11)
    ran = missed = 0
    for i, (source, exact) in enumerate(cases):
        probe = f"PROBE_{i}"
        run_in_bash(source, tmp_path)
        if not (tmp_path / probe).exists():
            continue
        ran += 1
        analysis = analyze(source)
        if exact:  # or fail closed: input the parser cannot read asks a person
            assert reported(source, probe) or parse_error(analysis), (source, analysis)
        else:
            assert analysis.problems or reported(source, probe), (source, analysis)
            missed += not reported(source, probe)
    assert ran > len(cases) // 2, "most generated inputs should run their probe"


@pytest.mark.parametrize(
    "source",
    [
        "printf %s `printf %s \\`touch PROBE_0\\``",
        "echo `echo \\`echo \\\\\\`touch PROBE_0\\\\\\`\\``",
        'echo "`echo \\"$(touch PROBE_0)\\"`"',
        "a[$(touch PROBE_0)]=1",
        "local_fn() { local a[$(touch PROBE_0)]=1; }; local_fn",
        "echo $[ $(touch PROBE_0) 0 ]",
        "select x in a; do touch PROBE_0; break; done <<< 1",
        "coproc touch PROBE_0; wait",
    ],
)
def test_known_shapes(tmp_path: Path, source: str) -> None:
    (tmp_path / "home").mkdir()
    run_in_bash(source, tmp_path)
    assert (tmp_path / "PROBE_0").exists(), "the probe should run in bash"
    assert reported(source, "PROBE_0"), analyze(source)

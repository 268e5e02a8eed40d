"""`python -m ralph.hooks HOST [--headless]`: the hook entry point the installer writes.

The same answer as `ralph hook HOST`, without loading the command line (click and every
command module): a hook process starts for every tool call, so its start-up is its cost.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from ralph.hooks.answer import answer
    from ralph.hooks.hosts import HOSTS, block

    args = [a for a in argv if a != "--headless"]
    if len(args) != 1 or args[0] not in HOSTS:
        out = block(f"usage: python -m ralph.hooks {{{'|'.join(HOSTS)}}} [--headless]")
    else:
        try:
            raw = sys.stdin.read()
        except Exception as e:  # undecodable input is still an answer: blocked
            raw = f"\0{e}"
        out = answer(HOSTS[args[0]], raw, headless="--headless" in argv)
    if out.stdout:
        sys.stdout.write(out.stdout + "\n")
    if out.stderr:
        sys.stderr.write(out.stderr + "\n")
    sys.stdout.flush()
    return out.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

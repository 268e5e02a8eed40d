"""What of a run's text may be written down or shown: secrets out, control characters visible.

The one home for both, used by the run record, notes in the task file, notifications,
`ralph log` and the live view:

- `redact(text)` replaces credentials with `[REDACTED]`: known token formats (Anthropic,
  OpenAI, GitHub, AWS, Google, Slack, Stripe, GitLab, npm, PyPI, Hugging Face, SendGrid),
  private key (PEM) blocks with their bodies, JWTs, passwords in URLs (`https://u:p@host`),
  `Bearer`/`Basic` credentials, high-entropy values after a secret-looking name
  (`api_key=`, `token:`, `"password": "..."`, `--token X`), and the values of this process's
  own secret-looking environment variables (`secret_name`). One compiled regex, one pass.
- `escape_controls(text)` shows control characters (escape sequences, CR, backspace, other
  C0/C1, bidi overrides, zero-width characters) as `\\x1b`, `\\x0d`, `\\u202e`, so text
  from a model can neither fake nor hide a line.
- `for_display(text, limit)` does both, then cuts: a cut always comes after redaction and
  never splits a marker; `one_line(text, limit)` also puts it on one line.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

MARKER = "[REDACTED]"

_SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASS|PWD|CREDENTIAL|CREDS|AUTH(?!OR(?!I))|PRIVATE|COOKIE|DSN|WEBHOOK", re.I
)
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})  # the shell's working directories


def secret_name(name: str) -> bool:
    """Whether an environment variable (or setting) named `name` holds a secret, by its name:
    API keys, tokens, passwords (DEPLOY_PASS, DB_PWD), credentials, auth, private keys,
    cookies, DSNs, webhooks. Commands never get such variables; their values are redacted."""
    return name.upper() not in _NOT_SECRET_NAMES and _SECRET_NAME.search(name) is not None


_URL_PART = r"[^\s/?#@:\"'<>{}\\]"
URL_WITH_PASSWORD = re.compile(rf"://{_URL_PART}+:{_URL_PART}+@")
"""A URL with a password in it (`https://user:pass@host`)."""

# The regex. Each alternative is anchored on a character that is rare in ordinary text
# (`-`, `_`, `=`, `:`, `A`, `J` ...), with what comes before it checked by lookbehinds, so
# that the engine skips straight to the few places where a secret may start: one pass, no
# match attempt at most characters. An alternative is "whole" (the match, and `back`
# characters before it, are the secret) or ends with the value group `V`, which its kind
# decides on: "always" a secret, "looks" like one (`_looks_secret`), "assign" (a value after
# a secret-looking name), "password" (`_looks_password`: curl -u user:PASSWORD, Bearer X).
_PEM = (
    r"----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"  # after the first "-"
    r"(?s:.*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|.*)"  # no END: to the end
)
_VALUE = r"(?P<V>[^\s\"'`,;()\[\]{}<>\\=]{6,}=*)"  # base64 may end in "="
_NAMES = [  # a name that ends with one of these, then `=` or `:`, holds a secret
    *("key", "keys", "pwd", "pass", "auth", "token", "tokens", "secret", "secrets"),
    *("passwd", "password", "passphrase", "credential", "credentials"),
]
_QUOTES = ("", '"', "'", '\\"')  # key=, "key":, 'key':, \"key\": (JSON inside a string)


def _name_before(end: str) -> str:
    """Lookbehinds: one of `_NAMES` ends just before `end` (a regex of fixed width), checked
    by its last letter first, then by the names of each length."""
    by_width: dict[int, list[str]] = {}
    for name in _NAMES:
        by_width.setdefault(len(name), []).append(name)
    last = "".join(sorted({n[-1] + n[-1].upper() for n in _NAMES}))
    names = "|".join(f"(?<=(?i:{'|'.join(ns)}){end})" for ns in by_width.values())
    return f"(?<=[{last}]{end})(?:{names})"


def _assigned(sep: str) -> str:
    """After `sep`: a secret-looking name before it (quoted or not, a space or not), then
    the value, past quotes and spaces (`=>`, `:=` too)."""
    ends = [f"{re.escape(q)}{space}{re.escape(sep)}" for q in _QUOTES for space in ("", "[ \t]")]
    more = {"=": ">?", ":": "=?"}[sep]
    value = f"{more}(?!=)[ \t]*" r"[\\\"']{0,2}(?!(?i:bearer|basic|token)[ \t])"
    ahead = value + _VALUE.replace("(?P<V>", "(?:")  # cheaper than the names: first
    return f"(?={ahead})(?:{'|'.join(map(_name_before, ends))}){value}{_VALUE}"


def _alone(glued: str, start: str) -> str:
    """A lookbehind: `start` (just matched) is not glued to a character of `glued` before it,
    but for an escape like `\\n` (text inside a JSON string)."""
    return rf"(?:(?<!{glued}{start})|(?<=\\[nrt]{start}))"


_CURL_USER = r"(?:u|-user)[ \t]+[^\s:\"'`;]+:(?P<V>[^\s\"'`;]{4,})"
_OPENAI = r"(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{20,}"  # sk-..., with a digit
_STRIPE = r"(?:live|test)_[A-Za-z0-9]{10,}"  # sk_live_, rk_live_, sk_test_
_Alternative = tuple[str, str, int, str]  # first character, kind, back, the rest
_ALTERNATIVES: list[_Alternative] = [
    ("-", "whole", 0, _PEM),
    ("-", "looks", 0, rf"-(?>[A-Za-z0-9-]*){_name_before('')}[ \t]+{_VALUE}"),  # --token X
    ("-", "password", 0, _alone(r"[\w-]", "-") + _CURL_USER),  # curl -u user:password
    ("-", "whole", 2, r"(?<=sk-)(?=ant-|proj-|svcacct-|admin-)[A-Za-z0-9_-]{20,}"),  # Anthropic
    ("-", "whole", 2, r"(?<=sk-)" + _alone("[A-Za-z0-9]", "sk-") + _OPENAI),  # OpenAI
    ("-", "whole", 5, r"(?<=glpat-)[A-Za-z0-9_-]{20,}"),  # GitLab
    ("-", "whole", 4, r"(?<=xox[abposr]-|xapp-)[A-Za-z0-9-]{10,}"),  # Slack
    ("-", "whole", 4, r"(?<=pypi-)AgE[A-Za-z0-9_-]{40,}"),
    ("_", "whole", 3, r"(?<=gh[pousr]_)[A-Za-z0-9]{30,}"),  # GitHub classic
    ("_", "whole", 6, r"(?<=github_)pat_[A-Za-z0-9_]{30,}"),  # GitHub fine-grained
    ("_", "whole", 2, r"(?<=[sr]k_)" + _alone("[A-Za-z0-9]", "[sr]k_") + _STRIPE),
    ("_", "whole", 5, r"(?<=whsec_)[A-Za-z0-9]{20,}"),  # Stripe
    ("_", "whole", 3, r"(?<=npm_)[A-Za-z0-9]{36}"),
    ("_", "whole", 2, r"(?<=hf_)[A-Za-z0-9]{30,}"),  # Hugging Face
    ("A", "whole", 0, r"(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}(?![A-Z0-9])"),  # AWS access key id
    ("A", "whole", 0, r"Iza[A-Za-z0-9_-]{35}"),  # Google API key
    ("J", "whole", 2, r"(?<=eyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    ("G", "whole", 1, r"(?<=SG)\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),  # SendGrid
    (":", "always", 0, r"//hooks\.slack\.com/services/(?P<V>[A-Za-z0-9_/]{20,})"),
    (":", "always", 0, rf"//{_URL_PART}+:(?P<V>{_URL_PART}+)@"),  # https://user:password@
    (":", "looks", 0, rf"//(?P<V>{_URL_PART}+)@"),  # https://TOKEN@host
    (":", "assign", 0, _assigned(":")),
    ("=", "assign", 0, _assigned("=")),
    ("B", "password", 0, r"(?i:earer|asic)[ \t]+(?P<V>[A-Za-z0-9._~+/-]{12,}=*)"),
    ("b", "password", 0, r"(?i:earer|asic)[ \t]+(?P<V>[A-Za-z0-9._~+/-]{12,}=*)"),
]
_MIN_ENV_VALUE = 6
_SHORTEST = 6  # no secret the regex finds is shorter (env values and values are 6 or more)


def _pattern(env_values: list[str]) -> tuple[re.Pattern[str], list[int]]:
    """The one regex, and how far back (`back`) each alternative's secret starts."""
    alternatives = _ALTERNATIVES + [(v[0], "whole", 0, re.escape(v[1:])) for v in env_values]
    by_first: dict[str, list[str]] = {}
    backs = []
    for i, (first, kind, back, rest) in enumerate(alternatives):
        rest = rest + f"(?P<whole_{i}>)" if kind == "whole" else rest
        by_first.setdefault(first, []).append(rest.replace("(?P<V>", f"(?P<{kind}_{i}>"))
        backs.append(back)
    regex = "|".join(f"{re.escape(c)}(?:{'|'.join(rests)})" for c, rests in by_first.items())
    return re.compile(regex), backs


class Redactor:
    """One compiled pass over text: the known formats plus the given env values."""

    def __init__(self, env_values: list[str]) -> None:
        values = sorted(set(env_values), key=len, reverse=True)
        self.pattern, self._backs = _pattern(values)

    def __call__(self, text: str) -> str:
        if len(text) < _SHORTEST or (m := self.pattern.search(text)) is None:
            return text  # (the common case)
        out: list[str] = []
        done = pos = 0
        while m is not None:
            group = m.lastgroup or ""
            kind, _, index = group.partition("_")
            if kind == "whole":
                out += (text[done : max(m.start() - self._backs[int(index)], done)], MARKER)
                done = pos = m.end()
            else:
                start, end = m.span(group)
                if self._secret(kind, text, m.start(), start, end):
                    out += (text[done:start], MARKER)
                    done = pos = end
                else:  # no secret: search again from the value on (it may start one)
                    pos = start
            m = self.pattern.search(text, pos)
        if not out:
            return text
        out.append(text[done:])
        return "".join(out)

    @staticmethod
    def _secret(kind: str, text: str, at: int, start: int, end: int) -> bool:
        value, after = text[start:end], text[end : end + 1]
        if kind == "always":
            return True
        if kind == "password":
            return _looks_password(value)
        if after in ("(", "[", "{"):  # a call, an index, a template: code
            return False
        if kind == "assign":
            before = text[max(at - 30, 0) : at]
            if re.search(r"(?i)secret_?access_?key\W*$", before):
                return _AWS_SECRET.fullmatch(value) is not None or _looks_secret(value)
            if re.search(r"(?i)(?:pass(?:word|wd|phrase)?|pwd|secrets?)\W*$", before):
                return _looks_password(value)
        return _looks_secret(value)


_HUMP = re.compile(r"[A-Z]*[a-z]+|[A-Z]+|[0-9]+|.")  # camel-case humps: Subnet, EVP, 509
_PARTS = re.compile(r"[._/:+=-]")  # between the words of a name, a path, a URN
_NAME_PARTS = re.compile(r"[._]")  # between the parts of a name in code: os.environ
_IDENTIFIER = re.compile(r"(?:[A-Za-z]+[0-9]*)?")


def _placeholder(value: str) -> bool:
    """Too short, a placeholder (`$X`, `<key>`, `***`), a path, a URL, already redacted."""
    return (
        len(value) < 6
        or MARKER in value
        or value[0] in "$%<{*#@&!"
        or value.startswith(("/", "./", "../", "~/"))
        or "://" in value
    )


def _looks_secret(value: str) -> bool:
    """Whether a value after `key=`/`token:` is a credential rather than a word, a name from
    code (`self._tokens`, `EVP_PKEY_new`), a path, a placeholder or a count: long enough,
    not made of words, and high in entropy."""
    if _placeholder(value):
        return False
    if value.isdigit():
        return len(value) >= 12
    return not _looks_code(value) and entropy(value) >= 2.5


def _looks_password(value: str) -> bool:
    """After `password=`/`secret:`: anything but a placeholder, a plain word (`required`) or a
    name from code (`os.environ`, `self._password`); people pick low-entropy passwords."""
    if _placeholder(value):
        return False
    if value.isalpha() and _wordlike(value):
        return False
    parts = _NAME_PARTS.split(value)
    return len(parts) == 1 or not all(_IDENTIFIER.fullmatch(p) and _wordlike(p) for p in parts)


def _looks_code(value: str) -> bool:
    """Words and names: `os.environ`, `self._tokens`, `grant-type:jwt-bearer`, `a/b.txt`."""
    return all(_wordlike(part) for part in _PARTS.split(value))


def _wordlike(segment: str) -> bool:
    """A word or a name from code (`tokens`, `getPassword`, `Ec2SubnetIds`, `X509`,
    `AWS_XRAY_DAEMON_ADDRESS`), not random characters (`kQxZpTbe`, `a8f3k2m9`, `JBSWY3DP`):
    camel-case humps of two lower-case letters or more (one may be shorter, as in `keyId`),
    a vowel in every hump of five letters or more, and few short numbers."""
    numbers = short = 0
    for i, hump in enumerate(_HUMP.findall(segment)):
        if hump.isdigit():
            numbers += 1
            if len(hump) > 4 or numbers > 2:
                return False
            continue
        if not hump.isalpha() or (len(hump) > 4 and not _VOWEL.search(hump)):
            return False
        if i and not hump.isupper() and len(hump.lstrip(_UPPER)) < 2:
            short += 1
            if short > 1:
                return False
    return True


_VOWEL = re.compile(r"[aeiouAEIOU]")
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def entropy(text: str) -> float:
    """Shannon entropy of `text`'s characters, in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0


def _env_values(environ: dict[str, str] | None = None) -> list[str]:
    """The values of secret-looking variables worth redacting: long enough, and not a path
    that exists (SSH_AUTH_SOCK, GIT_ASKPASS point at files, they are no secret)."""
    env = os.environ if environ is None else environ
    out = []
    for name, value in env.items():
        if not secret_name(name) or len(value) < _MIN_ENV_VALUE or MARKER in value:
            continue
        if value.startswith(("/", "~")) and os.path.exists(os.path.expanduser(value)):
            continue
        out.append(value)
    return out


_CURRENT: list[Redactor] = []


def refresh() -> Redactor:
    """Read this process's environment again (a run calls it when it starts)."""
    _CURRENT[:] = [Redactor(_env_values())]
    return _CURRENT[0]


def redactor() -> Redactor:
    """The redactor for this process (built from its environment on first use)."""
    return _CURRENT[0] if _CURRENT else refresh()


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by `[REDACTED]`."""
    return (_CURRENT[0] if _CURRENT else refresh())(text)


def redact_all(value: Any, cut: Callable[[str], str] = lambda s: s) -> Any:
    """`value` as JSON would show it (dicts, lists, strings, numbers; anything else as its
    text) with every string redacted, then `cut`."""
    sub = redactor()

    def clean(v: Any) -> Any:
        if isinstance(v, str):
            return cut(sub(v))
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if v is None or isinstance(v, (bool, int, float)):
            return v
        return cut(sub(str(v)))  # what JSON would show of it

    return clean(value)


_SUSPECT = re.compile(r"[^\t\n\x20-\x7e]+")  # runs that may hold a control character


def escape_controls(text: str, newline: str = "\\n") -> str:
    """`text` with control characters shown as escapes (`\\x1b`, `\\x0d`, `\\u202e`): C0, DEL,
    C1, bidi overrides, zero-width and other invisible characters. Newlines become
    `newline` (pass "\\n" itself to keep them); tabs stay."""
    if newline != "\n" and "\n" in text:
        text = text.replace("\n", newline)
    return text if text.isprintable() else _SUSPECT.sub(_escape_run, text)


def _escape_run(m: re.Match[str]) -> str:
    return "".join(c if c.isprintable() else _escape_char(c) for c in m.group())


def _escape_char(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def clip(text: str, limit: int, *, tail: bool = False, mark: str = "…") -> str:
    """`text` cut to `limit` characters (its end when `tail`), `mark` showing the cut. Call
    it on redacted text: a cut through a `[REDACTED]` marker moves to leave it whole out."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(mark), 0)
    if tail:
        cut = len(text) - keep
        start = _marker_across(text, cut)
        return mark + text[cut if start is None else start + len(MARKER) :]
    start = _marker_across(text, keep)
    return text[: keep if start is None else start] + mark


def _marker_across(text: str, i: int) -> int | None:
    """Where the `[REDACTED]` marker that position `i` cuts through starts, if one does."""
    start = text.rfind("[", max(i - len(MARKER) + 1, 0), i)
    return start if start >= 0 and text.startswith(MARKER, start) else None


def for_display(
    text: object, limit: int | None = None, *, tail: bool = False, newline: str = "\\n"
) -> str:
    """`text` as it may be shown or written down: redacted, control characters escaped,
    then cut to `limit` characters (the end when `tail`)."""
    shown = escape_controls(redact(str(text)), newline)
    return shown if limit is None else clip(shown, limit, tail=tail)


def one_line(text: object, limit: int | None = None) -> str:
    """`text` as one shown line: redacted, line breaks (CR, U+2028 too) and runs of
    whitespace one space, other control characters escaped, then capped at `limit`
    characters with "…"."""
    flat = escape_controls(" ".join(redact(str(text)).split()))
    if limit is None or len(flat) <= limit:
        return flat
    return clip(flat, limit - 1, mark="").rstrip() + "…"

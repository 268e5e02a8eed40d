"""Databases: which statements a database client would run, and whether they only read.

`db_reads_only(cmd)` looks at the SQL a client gets from its options, arguments, here-docs
and here-strings; SQL it cannot see (files, pipes, interactive sessions) does not read only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ralph.guard.families import option_values, words

if TYPE_CHECKING:
    from ralph.bash import Command

DB_CLIENTS = words("psql mysql mariadb sqlite3 redis-cli clickhouse-client cqlsh duckdb")
_SQL_READ = re.compile(r"(select|explain|show|describe|desc|pragma|values|table|with)\b", re.I)
_SQL_WRITE_WORD = re.compile(
    r"\b(insert|update|delete|drop|alter|create|truncate|grant|revoke|merge|replace|attach"
    r"|detach|vacuum|reindex|copy|call|lock|into|rename|comment|cluster|refresh|load)\b",
    re.I,
)
_SQL_META_READ = re.compile(
    r"(\.(schema|tables|indexes|indices|databases|help|show|mode|headers|width|timer|dbinfo"
    r"|fullschema|lint)|\\(d[a-zA-Z+]*|l\+?|\?|conninfo|x|dt\+?|timing))\b.*"
)
_REDIS_READ = words(
    "get mget keys scan info ping ttl pttl type exists hget hgetall hkeys hvals hlen lrange llen"
    " smembers scard zrange zcard zscore dbsize strlen echo time sscan hscan zscan memory slowlog"
    " lastsave role object getrange hmget lindex"
)
SQL_OPTS = {
    "psql": ("-c", "--command"),
    "mysql": ("-e", "--execute"),
    "mariadb": ("-e", "--execute"),
    "clickhouse-client": ("-q", "--query"),
    "cqlsh": ("-e", "--execute"),
    "duckdb": ("-c",),
    "sqlite3": ("-cmd",),
}
SQL_FILE_OPTS = ("-f", "--file")


def db_reads_only(cmd: Command) -> bool:
    """True when a database client only runs statements that read."""
    program = cmd.program
    if program == "redis-cli":
        words = cmd.args
        return bool(words) and words[0].lower() in _REDIS_READ and not cmd.stdin_from
    if option_values(cmd, *SQL_FILE_OPTS) or cmd.stdin_from:
        return False
    if any(r.op.lstrip("0123456789") == "<" for r in cmd.redirects):
        return False
    sql = option_values(cmd, *SQL_OPTS.get(program, ()))
    if program in ("sqlite3", "duckdb"):
        sql += list(cmd.args[1:])
    if cmd.stdin_text is not None:
        sql.append(cmd.stdin_text)
    if not sql:
        return False  # an interactive session or a script from somewhere else
    return all(sql_reads_only(s) for s in sql)


def sql_reads_only(text: str) -> bool:
    """True if every statement in `text` only reads (SELECT, SHOW, .schema, \\d ...)."""
    text = re.sub(r"--[^\n]*|/\*.*?\*/", " ", text, flags=re.S)
    statements = [s.strip() for s in re.split(r";|\n(?=\s*[.\\])", text) if s.strip()]
    if not statements:
        return False
    for statement in statements:
        if statement[0] in ".\\":
            if not _SQL_META_READ.fullmatch(statement):
                return False
            continue
        if not _SQL_READ.match(statement) or _SQL_WRITE_WORD.search(statement):
            return False
        if statement.lower().startswith("pragma") and "=" in statement:
            return False
    return True

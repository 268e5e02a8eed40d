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
        if not all(_pure(name) for name in _CALL.findall(_STRINGS.sub("''", statement))):
            return False
    return True


_STRINGS = re.compile(r"'(?:[^']|'')*'")
_CALL = re.compile(r"([A-Za-z_][\w.$]*)\s*\(")
_PURE = words(
    """count sum avg min max now version coalesce nullif lower upper length char_length
    character_length octet_length bit_length substr substring trim ltrim rtrim btrim replace
    concat concat_ws round trunc floor ceil ceiling abs mod power pow sqrt exp ln log log10 sign
    pi random extract age date time datetime strftime julianday unixepoch timezone
    make_date make_timestamp make_interval justify_days format lpad rpad split_part position
    strpos left right reverse repeat initcap md5 sha1 sha224 sha256 sha384 sha512 encode decode
    gen_random_uuid uuid uuid_generate_v4 generate_series row_number rank dense_rank
    percent_rank cume_dist lag lead first_value last_value nth_value ntile percentile_cont
    percentile_disc mode stddev stddev_pop stddev_samp variance var_pop var_samp corr
    covar_pop covar_samp bool_and bool_or every greatest least ifnull iif typeof quote hex
    unhex instr printf char unicode total group_concat cast convert isnull isfinite
    obj_description col_description format_type quote_ident quote_literal quote_nullable
    inet_server_addr inet_client_addr unnest cardinality num_nulls num_nonnulls txid_current
    date_trunc date_part date_bin to_char to_date to_timestamp to_number to_json to_jsonb
    in exists values as on using over filter within from join and or not where select when
    then else case any all some interval row array lateral table"""
)
_PURE_PREFIXES = (
    "pg_size_",
    "pg_database_size",
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "pg_column_size",
    "pg_get_",
    "pg_stat_get_",
    "pg_is_",
    "pg_typeof",
    "pg_backend_pid",
    "pg_postmaster_start_time",
    "pg_current_wal_",
    "pg_last_",
    "pg_encoding_",
    "current_",
    "has_",
    "json_",
    "jsonb_",
    "array_",
    "string_",
    "regexp_",
    "st_",
    "date_",
    "to_",
    "is_",
)


def _pure(name: str) -> bool:
    """A function SELECT may call without changing anything (an unknown one might)."""
    name = name.lower().rpartition(".")[2]
    if name in ("pg_read_file", "pg_read_binary_file", "pg_ls_dir", "load_file"):
        return False  # reads the server's files
    return name in _PURE or name.startswith(_PURE_PREFIXES)

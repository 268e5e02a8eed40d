"""Option grammars: which options of a program take a value, so positionals are found."""

from __future__ import annotations

from dataclasses import dataclass

from ralph.bash import names
from ralph.bash.words import Word


def fs(*items: str) -> frozenset[str]:
    return frozenset(items)


@dataclass(frozen=True)
class Opts:
    """A program's option grammar, as far as the guard needs it."""

    value: frozenset[str] = frozenset()  # options that take the next word as their value
    attached: frozenset[str] = frozenset()  # options whose value can only be attached (-i.bak)
    long_single_dash: bool = False  # "-name" is one option (find, terraform, go)
    operators: frozenset[str] = frozenset()  # words that are neither flags nor positional
    pairs: frozenset[str] = frozenset()  # options that take the next two words (jq --arg N V)
    subcommands: dict[str, frozenset[str]] | None = None  # value options after the subcommand
    # subcommand paths whose next positional (image, container, service) is followed by a
    # command the program runs: `docker run [opts] IMAGE CMD...`, `docker compose exec SVC CMD`
    runs_command: frozenset[str] = frozenset()


_NO_OPTS = Opts()
_DOCKER_RUN = fs("-v", "--volume", "-e", "--env", "-p", "--publish", "-w", "--workdir", "-u")
_DOCKER_RUN |= fs("--user", "--name", "--network", "--net", "--entrypoint", "--mount", "-h")
_DOCKER_RUN |= fs("--env-file", "--platform", "-l", "--label", "--hostname", "--add-host")
_DOCKER_RUN |= fs("--cap-add", "--cap-drop", "--device", "-m", "--memory", "--cpus", "--pull")
_DOCKER_RUN |= fs("--restart", "--security-opt", "--ulimit", "--tmpfs", "--volumes-from")
_DOCKER_RUN |= fs("--gpus", "--shm-size", "--ipc", "--pid", "--dns", "-a", "--attach")
_FIND_VALUES = fs("-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-regex")
_FIND_VALUES |= fs("-iregex", "-type", "-xtype", "-newer", "-anewer", "-cnewer", "-user")
_FIND_VALUES |= fs("-group", "-perm", "-size", "-mtime", "-mmin", "-atime", "-amin", "-ctime")
_FIND_VALUES |= fs("-cmin", "-maxdepth", "-mindepth", "-printf", "-fprint", "-fprint0")
_FIND_VALUES |= fs("-fprintf", "-fls", "-samefile", "-links", "-inum", "-uid", "-gid", "-lname")
_FIND_VALUES |= fs("-ilname", "-fstype", "-used", "-regextype", "-context", "-files0-from")

OPTIONS: dict[str, Opts] = {
    "git": Opts(
        value=fs("-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env"),
        subcommands={
            "commit": fs("-m", "-F", "--message", "--file", "--author", "--date", "-C", "-c"),
            "tag": fs("-m", "-F", "--message", "--file", "-u"),
            "rebase": fs("-x", "--exec", "--onto", "-s", "--strategy", "-X"),
            "merge": fs("-m", "-F", "-s", "--strategy", "-X", "--strategy-option"),
            "checkout": fs("-b", "-B", "--orphan"),
            "switch": fs("-c", "-C", "--create", "--force-create", "--orphan"),
            "stash": fs("-m", "--message"),
            "log": fs("-n", "--max-count", "--author", "--grep", "--since", "--until")
            | fs("--output"),
            "diff": fs("--output"),
            "show": fs("--output"),
            "format-patch": fs("-o", "--output-directory", "--output"),
            "push": fs("-o", "--push-option", "--repo"),
            "clone": fs("-b", "--branch", "-o", "--origin", "--depth", "-c", "--config"),
            "config": fs("-f", "--file", "--blob", "--type", "--default"),
            "grep": fs("-e", "-f"),
            "fetch": fs("--depth"),
            "pull": fs("--depth"),
        },
    ),
    "kubectl": Opts(
        value=fs("-n", "--namespace", "--context", "--cluster", "--user", "--kubeconfig", "-f")
        | fs("--filename", "-l", "--selector", "-o", "--output", "-c", "--container", "-k")
        | fs("--kustomize", "--field-selector", "-s", "--server", "--token", "--as"),
    ),
    "helm": Opts(
        value=fs("-n", "--namespace", "--kube-context", "--kubeconfig", "-f", "--values")
        | fs("--set", "--set-string", "--set-file", "--version", "-o", "--output", "--repo"),
    ),
    "docker": Opts(
        value=fs("-H", "--host", "--context", "-c", "--config", "-l", "--log-level"),
        subcommands={
            "run": _DOCKER_RUN,
            "create": _DOCKER_RUN,
            "exec": fs("-e", "--env", "-u", "--user", "-w", "--workdir", "--env-file"),
            "build": fs("-t", "--tag", "-f", "--file", "--build-arg", "--target", "--platform"),
            "compose": fs("-f", "--file", "-p", "--project-name", "--profile", "--env-file")
            | fs("-e", "--env", "-v", "--volume", "-w", "--workdir", "-u", "--user", "--name")
            | fs("--entrypoint", "-l", "--label", "--publish", "--index"),
            "container": _DOCKER_RUN,
        },
        runs_command=fs("run", "exec", "compose run", "compose exec", "container run")
        | fs("container exec"),
    ),
    "npm": Opts(value=fs("--prefix", "-w", "--workspace", "--registry", "--tag", "--otp")),
    "npx": Opts(value=fs("-p", "--package", "-c", "--call")),
    "terraform": Opts(
        value=fs("-var", "-var-file", "-target", "-replace", "-out", "-state", "-state-out")
        | fs("-backup", "-parallelism", "-lock-timeout"),
        long_single_dash=True,
    ),
    "go": Opts(
        value=fs("-o", "-run", "-tags", "-ldflags", "-gcflags", "-C", "-count", "-timeout")
        | fs("-bench", "-p", "-exec", "-mod", "-modfile", "-coverprofile", "-cpu"),
        long_single_dash=True,
    ),
    "find": Opts(value=_FIND_VALUES, long_single_dash=True, operators=fs("!", "(", ")", ",")),
    "tar": Opts(
        value=fs("-f", "--file", "-C", "--directory", "-T", "--files-from", "-X", "-I", "-F")
        | fs("--exclude-from", "--use-compress-program", "--info-script", "--new-volume-script")
        | fs("-g", "--listed-incremental", "-b", "--blocking-factor", "-H", "--format", "-K")
        | fs("-N", "-V", "--label", "--owner", "--group", "--mode", "--mtime", "--transform")
        | fs("--exclude", "--to-command", "--checkpoint-action"),
    ),
    "curl": Opts(
        value=fs("-X", "--request", "-H", "--header", "-d", "--data", "--data-binary", "-F")
        | fs("--data-raw", "--data-urlencode", "--data-ascii", "--form", "--form-string", "-o")
        | fs("--output", "-T", "--upload-file", "-u", "--user", "-A", "--user-agent", "-e")
        | fs("--referer", "-b", "--cookie", "-c", "--cookie-jar", "--connect-timeout", "-m")
        | fs("--max-time", "--retry", "-w", "--write-out", "--url", "-K", "--config", "-x")
        | fs("--proxy", "--cacert", "--cert", "--key", "-r", "--range", "-E", "-D", "--json")
        | fs("--dump-header", "--resolve", "-z", "--time-cond", "--output-dir", "-U", "-C")
        | fs("--retry-delay", "--retry-max-time", "--limit-rate", "--max-filesize", "-Y", "-y"),
    ),
    "wget": Opts(
        value=fs("-O", "--output-document", "-o", "--output-file", "-a", "--append-output")
        | fs("-P", "--directory-prefix", "-U", "--user-agent", "--header", "-e", "--execute")
        | fs("-t", "--tries", "-T", "--timeout", "-i", "--input-file", "--post-data", "-w")
        | fs("--post-file", "--method", "--body-data", "--body-file", "--user", "--password")
        | fs("--wait", "-l", "--level", "-A", "--accept", "-R", "--reject", "-D", "--domains"),
    ),
    "sed": Opts(value=fs("-e", "--expression", "-f", "--file", "-l"), attached=fs("-i")),
    "grep": Opts(
        value=fs("-e", "--regexp", "-f", "--file", "-m", "--max-count", "-A", "-B", "-C")
        | fs("--include", "--exclude", "--exclude-dir", "--label", "-d", "-D"),
    ),
    "rg": Opts(
        value=fs("-e", "--regexp", "-f", "--file", "-g", "--glob", "--iglob", "-t", "--type")
        | fs("-T", "--type-not", "-m", "--max-count", "-A", "-B", "-C", "-j", "--threads")
        | fs("--pre", "--pre-glob", "-E", "--encoding", "-M", "--max-depth", "-r", "--replace"),
    ),
    "python": Opts(value=fs("-c", "-m", "-W", "-X")),
    "node": Opts(value=fs("-e", "--eval", "-p", "--print", "-r", "--require", "--import")),
    "perl": Opts(value=fs("-e", "-E", "-I", "-M", "-m"), attached=fs("-i")),
    "ruby": Opts(value=fs("-e", "-r", "-I", "-C", "-E"), attached=fs("-i")),
    "php": Opts(value=fs("-r", "-f", "-d", "-c")),
    "lua": Opts(value=fs("-e", "-l")),
    "psql": Opts(
        value=fs("-c", "--command", "-f", "--file", "-d", "--dbname", "-h", "--host", "-U")
        | fs("--username", "-p", "--port", "-o", "--output", "-v", "--set", "--variable")
        | fs("-L", "--log-file", "-P", "--pset", "-F", "-R", "-T"),
    ),
    "mysql": Opts(
        value=fs("-e", "--execute", "-u", "--user", "-h", "--host", "-P", "--port", "-D")
        | fs("--database", "-S", "--socket"),
        attached=fs("-p"),
    ),
    "sqlite3": Opts(value=fs("-cmd", "-separator", "-nullvalue"), long_single_dash=True),
    "mongosh": Opts(value=fs("--eval", "-f", "--file", "--host", "--port", "-u", "-p")),
    "redis-cli": Opts(value=fs("-h", "-p", "-a", "-n", "-u", "-s", "--user", "--pass")),
    "ssh": Opts(
        value=fs("-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O")
        | fs("-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-B"),
    ),
    "scp": Opts(value=fs("-c", "-F", "-i", "-J", "-l", "-o", "-P", "-S")),
    "rsync": Opts(
        value=fs("-e", "--rsh", "--exclude", "--include", "--filter", "-f", "--exclude-from")
        | fs("--include-from", "--files-from", "--rsync-path", "--log-file", "--chmod", "-T")
        | fs("--chown", "--temp-dir", "--backup-dir", "--suffix", "--port", "--timeout")
        | fs("--partial-dir", "--compare-dest", "--copy-dest", "--link-dest", "--password-file"),
    ),
    "script": Opts(value=fs("-c", "--command", "-E", "--echo", "-T", "--log-timing")),
    "make": Opts(value=fs("-C", "--directory", "-f", "--file", "--makefile", "-I", "-o", "-W")),
    "cmake": Opts(
        value=fs("-S", "-B", "-G", "-C", "-T", "-A", "-D", "-U", "--build", "--install", "-t")
        | fs("--target", "--config", "-j", "--parallel", "--preset"),
    ),
    "head": Opts(value=fs("-n", "-c", "--lines", "--bytes")),
    "tail": Opts(value=fs("-n", "-c", "--lines", "--bytes", "--pid", "-s")),
    "cut": Opts(value=fs("-d", "-f", "-c", "-b", "--delimiter", "--fields")),
    "sort": Opts(value=fs("-k", "-t", "-o", "--output", "-S", "-T", "--key")),
    "jq": Opts(
        value=fs("-f", "--from-file", "--indent", "-L"),
        pairs=fs("--arg", "--argjson", "--slurpfile", "--rawfile"),
    ),
    "awk": Opts(value=fs("-f", "--file", "-v", "--assign", "-F", "--field-separator", "-i")),
    "tree": Opts(value=fs("-o", "-L", "-P", "-I", "--filelimit", "--timefmt", "--charset")),
    "unzip": Opts(value=fs("-d", "-P")),
    "patch": Opts(
        value=fs("-i", "--input", "-o", "--output", "-d", "--directory", "-B", "--prefix")
        | fs("-r", "--reject-file", "-D", "--ifdef", "-F", "--fuzz", "-V", "-z", "--suffix"),
        attached=fs("-p"),
    ),
    "truncate": Opts(value=fs("-s", "--size", "-r", "--reference")),
    "xxd": Opts(value=fs("-s", "-l", "-c", "-g", "-o", "-n", "--seek", "--len", "--cols")),
    "uniq": Opts(value=fs("-f", "-s", "-w", "--skip-fields", "--skip-chars", "--check-chars")),
    "julia": Opts(value=fs("-e", "--eval", "-E", "--print", "-L", "--load", "-p", "--procs")),
    "Rscript": Opts(value=fs("-e")),
    "osascript": Opts(value=fs("-e", "-l")),
    "pwsh": Opts(
        value=fs("-c", "-Command", "-command", "-File", "-file", "-f", "-EncodedCommand", "-e"),
        long_single_dash=True,
    ),
    "duckdb": Opts(value=fs("-c", "-cmd", "-s"), long_single_dash=True),
    "clickhouse-client": Opts(
        value=fs("-q", "--query", "-h", "--host", "--port", "-u", "--user", "-d", "--database")
    ),
    "cqlsh": Opts(value=fs("-e", "--execute", "-f", "--file", "-u", "-p", "-k", "--keyspace")),
    "cp": Opts(value=fs("-t", "--target-directory", "-S", "--suffix")),
    "mv": Opts(value=fs("-t", "--target-directory", "-S", "--suffix")),
    "ln": Opts(value=fs("-t", "--target-directory", "-S", "--suffix")),
    "install": Opts(value=fs("-m", "--mode", "-o", "--owner", "-g", "--group", "-t", "-S")),
    "mkdir": Opts(value=fs("-m", "--mode")),
    "touch": Opts(value=fs("-d", "--date", "-t", "-r", "--reference")),
    "kill": Opts(value=fs("-s", "-n")),
    "shred": Opts(value=fs("-n", "--iterations", "-s", "--size")),
    "ls": Opts(value=fs("-I", "--ignore", "-T", "--tabsize", "-w", "--width", "--hide")),
    "du": Opts(value=fs("-d", "--max-depth", "-B", "--block-size", "-t", "--exclude", "-X")),
    "df": Opts(value=fs("-B", "--block-size", "-t", "--type", "-x", "--exclude-type")),
    "systemctl": Opts(value=fs("-H", "--host", "-M", "--machine", "-t", "--type", "-p", "-s")),
    "apt-get": Opts(value=fs("-o", "-c", "-t", "--target-release")),
    "pip": Opts(
        value=fs("-r", "--requirement", "-c", "--constraint", "-e", "--editable", "-t")
        | fs("-i", "--index-url", "--extra-index-url", "--target", "--prefix", "--root", "-f"),
    ),
    "gh": Opts(
        value=fs("-R", "--repo", "-t", "--title", "-b", "--body", "-F", "--body-file", "-n")
        | fs("--notes", "--notes-file", "-a", "--assignee", "-l", "--label", "-B", "--base")
        | fs("-H", "--head", "-m", "--milestone", "--json", "-q", "--jq", "-L", "--limit"),
    ),
    "aws": Opts(value=fs("--profile", "--region", "--output", "--endpoint-url", "--query")),
    "gcloud": Opts(value=fs("--project", "--region", "--zone", "--format", "--account")),
    "az": Opts(
        value=fs("-g", "--resource-group", "-n", "--name", "--subscription", "-l")
        | fs("--location", "-o", "--output", "--query"),
    ),
    "fly": Opts(value=fs("-a", "--app", "-c", "--config", "-r", "--region")),
    "cargo": Opts(
        value=fs("-p", "--package", "--manifest-path", "--target", "--target-dir", "-F")
        | fs("--features", "-j", "--jobs", "--bin", "--example", "--test", "--bench", "-Z"),
    ),
    "pytest": Opts(
        value=fs("-k", "-m", "-p", "-c", "--rootdir", "--basetemp", "-o", "--junitxml", "-n")
        | fs("--maxfail", "--deselect", "--ignore", "--numprocesses", "--override-ini"),
    ),
    "alembic": Opts(value=fs("-c", "--config", "-n", "--name", "-x")),
}
OPTIONS["apt"] = OPTIONS["apt-get"]
_LONGEST_RUNS_PATH = max(len(p.split()) for o in OPTIONS.values() for p in o.runs_command)
_SAME_OPTIONS = {  # different programs that share an option grammar
    "pnpm": "npm",
    "yarn": "npm",
    "pypy": "python",
    "deno": "node",
    "bun": "node",
    "luajit": "lua",
    "powershell": "pwsh",
}


def table_name(program: str) -> str:
    """The options-table name of a program: pip3.11 -> pip, podman -> docker, pnpm -> npm."""
    if program in OPTIONS:
        return program
    name = names.canonical(program)
    return _SAME_OPTIONS.get(name, name)


def parse_args(
    program: str, words: list[Word]
) -> tuple[set[str], list[Word], list[tuple[str, Word]]]:
    """Split a command's words (after argv[0]) into flags, positionals and option values."""
    opts = OPTIONS.get(table_name(program), _NO_OPTS)
    takes = opts.value
    flags: set[str] = set()
    args: list[Word] = []
    values: list[tuple[str, Word]] = []
    ended = False
    i, n = 0, len(words)
    while i < n:
        word = words[i]
        text = word.value
        i += 1
        if ended or len(text) < 2 or text[0] != "-":
            if not ended and text in opts.operators:
                continue
            args.append(word)
            if opts.subcommands is not None and len(args) == 1:
                takes = opts.subcommands.get(text, frozenset())
            if opts.runs_command and 1 < len(args) <= _LONGEST_RUNS_PATH + 1 and not ended:
                path = " ".join(a.value for a in args[:-1])
                ended = path in opts.runs_command
            continue
        if text == "--":
            ended = True
        elif word.dynamic:
            flags.add(text)
        elif text[1] == "-" or opts.long_single_dash:
            name, eq, value = text.partition("=")
            flags.add(name)
            if eq:
                values.append((name, Word(value)))
            elif name in opts.pairs:
                values.extend((name, word) for word in words[i : i + 2])
                i += 2
            elif name in takes and i < n:
                values.append((name, words[i]))
                i += 1
        elif text[1:].isdigit():  # kill -9, head -20
            flags.add(text)
        else:
            i = _short_cluster(text, words, i, takes, opts.attached, flags, values)
    return flags, args, values


def _short_cluster(
    text: str,
    words: list[Word],
    i: int,
    takes: frozenset[str],
    attached: frozenset[str],
    flags: set[str],
    values: list[tuple[str, Word]],
) -> int:
    """Split "-xzf" into flags; an option that takes a value ends the cluster."""
    for j in range(1, len(text)):
        opt = "-" + text[j]
        flags.add(opt)
        if opt in takes or opt in attached:
            if j + 1 < len(text):
                values.append((opt, Word(text[j + 1 :])))
            elif opt in takes and i < len(words):
                values.append((opt, words[i]))
                i += 1
            break
    return i


def split_flags(
    program: str, words: list[str]
) -> tuple[frozenset[str], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Split literal words (after the program) into (flags, positional args, option values).

    Uses the same per-program option table as `analyze`, e.g.
    `split_flags("git", ["-C", "x", "reset", "--hard"])` ->
    `({"-C", "--hard"}, ("reset",), (("-C", "x"),))`.
    """
    flags, args, values = parse_args(program, [Word(w) for w in words])
    return frozenset(flags), tuple(a.value for a in args), tuple((o, w.value) for o, w in values)

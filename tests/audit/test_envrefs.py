"""Environment references of shell entrypoints (gsc/analysis/envrefs.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gsc.analysis.envrefs import env_references, passthrough_warnings

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


def test_forms() -> None:
    script = ('echo $A "${B}" ${C:-x} ${D:?missing} "$E" ${#F} ${G:=y} ${H+set} $I_J\n'
              'x="${K%%.*}"; echo "$x"\n')
    assert env_references(script) == ["A", "B", "C", "D", "E", "F", "G", "H", "I_J", "K"]


def test_special_and_positional_are_not_names() -> None:
    assert env_references('echo $1 $9 ${10} $@ $* $# $? $- $$ $! $0 "$@"') == []


def test_literal_text_is_not_read() -> None:
    script = ("echo '$A' \"\\$B\" \\$C $'$D'\n"
              "# a comment mentions $E\n"
              "cat <<'EOF'\n$F\nEOF\n"
              "cat <<-\"END\"\n\t$G\n\tEND\n"
              "cat <<EOF\n$H\nEOF\n"
              "echo a#$I\n")
    assert env_references(script) == ["H", "I"]


def test_assigned_before_use() -> None:
    script = ("A=1\necho $A\n"
              'B="${B:-default}"\n'       # reads B before assigning it
              "local c=$2; echo $c\n"
              "export D=1 E; echo $D $E\n"
              "read -r F G; echo $F $G\n"
              "for H in 1 2; do echo $H; done\n"
              "echo $LATE; LATE=1\n")
    assert env_references(script) == ["B", "LATE"]


def test_postgres_style_entrypoint() -> None:
    script = ('file_env() {\n  local var="$1"\n  local def="${2:-}"\n'
              '  if [ "${!var:-}" ]; then :; fi\n  export "$var"="$def"\n}\n'
              "file_env 'POSTGRES_PASSWORD'\n"
              'if [ -z "$POSTGRES_PASSWORD" ]; then echo no password; fi\n'
              'exec "$@"\n')
    assert env_references(script) == ["POSTGRES_PASSWORD"]


@given(names)
def test_reference_found(name: str) -> None:
    for form in ("${n}", "$n ", '"$n"', "${n:-x}", "${#n}", "${n:?}"):
        assert env_references("echo " + form.replace("n", name, 1)) == [name]


@given(names)
def test_quoted_or_escaped_not_found(name: str) -> None:
    assert env_references(f"echo '${name}' \\${name}") == []
    assert env_references(f"{name}=1; echo ${name}") == []


@given(st.text(max_size=200))
def test_total_and_sound(text: str) -> None:
    got = env_references(text)
    assert got == sorted(set(got))
    assert all(n in text for n in got)


def test_warnings() -> None:
    w = passthrough_warnings("/usr/local/bin/docker-entrypoint.sh",
                             ["POSTGRES_PASSWORD", "PGDATA", "HOME", "lower", "TZ"],
                             manifest_env=["PGDATA", "PATH"], passthrough=["TZ"])
    assert w == [
        "entrypoint /usr/local/bin/docker-entrypoint.sh reads $PGDATA, which the manifest pins "
        "to the image's value (docker run -e PGDATA=... is ignored): add --env-passthrough "
        "PGDATA if it must come from docker run",
        "entrypoint /usr/local/bin/docker-entrypoint.sh reads $POSTGRES_PASSWORD, which the "
        "manifest does not pass through: add --env-passthrough POSTGRES_PASSWORD",
    ]

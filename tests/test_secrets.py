"""Secret values: the dotenv reader, where values come from, how they travel, how they are masked."""

from __future__ import annotations

import json

import pytest

from fakes.platforms.fly import parse_secrets as fake_fly_parser
from streamdeploy import exitcodes
from streamdeploy.problems import ProblemsError
from streamdeploy.targets.base import Plan, Stdin, Step
from streamdeploy.secrets import (
    MASK,
    Masker,
    fly_dotenv_line,
    parse_dotenv,
    parse_fly_dotenv,
    optional_names,
    read_env_file,
    required_names,
    resolve,
    stdin_text,
    unset_problem,
)

# --- the dotenv reader ---------------------------------------------------------------------


def test_plain_lines_comments_blanks_and_export():
    text = "# a comment\n\nA=1\nexport B=two\n  C = spaced out  \nD=\n"
    assert parse_dotenv(text, environ={}) == {"A": "1", "B": "two", "C": "spaced out", "D": ""}


def test_unquoted_value_ends_at_a_spaced_hash_but_keeps_an_embedded_one():
    assert parse_dotenv("A=abc # note\nB=abc#def\n", environ={}) == {"A": "abc", "B": "abc#def"}


def test_single_quotes_are_literal():
    text = "A='it\\'s $HOME \\n ${X} # not a comment'\n"
    assert parse_dotenv(text, environ={"HOME": "/root", "X": "x"}) == {"A": "it's $HOME \\n ${X} # not a comment"}


def test_double_quotes_understand_escapes():
    text = 'A="line1\\nline2\\ttab \\"q\\" back\\\\slash \\$HOME"\n'
    assert parse_dotenv(text, environ={"HOME": "/root"}) == {"A": 'line1\nline2\ttab "q" back\\slash $HOME'}


def test_quoted_values_span_lines():
    text = 'KEY="-----BEGIN KEY-----\nabc\n-----END KEY-----"\nNEXT=1\nSQ=\'a\nb\'\n'
    assert parse_dotenv(text, environ={}) == {
        "KEY": "-----BEGIN KEY-----\nabc\n-----END KEY-----", "NEXT": "1", "SQ": "a\nb"}


def test_interpolation_from_earlier_lines_then_the_environment():
    text = "A=one\nB=${A}-${HOME}\nC=\"${MISSING:-fallback}\"\nD='${A}'\n"
    assert parse_dotenv(text, environ={"HOME": "/h"}) == {"A": "one", "B": "one-/h", "C": "fallback", "D": "${A}"}


def test_last_definition_wins_and_a_bom_is_ignored():
    assert parse_dotenv("\ufeffA=1\nA=2\n", environ={}) == {"A": "2"}


@pytest.mark.parametrize("text,line,words", [
    ("A=1\nnot a pair\n", 2, "not followed by `=`"),
    ("A=1\nB\n", 2, "not followed by `=`"),
    ('A="never closed\nB=2\n', 1, "never closed"),
    ('A="x" trailing\n', 1, "unexpected text"),
    ("1A=x\n", 1, "not NAME=value"),
])
def test_malformed_files_name_the_line(text, line, words):
    with pytest.raises(ProblemsError) as caught:
        parse_dotenv(text, "prod.env", environ={})
    problem = caught.value.problems[0]
    assert problem.file == "prod.env" and problem.line == line and words in problem.message
    assert caught.value.exit_code == exitcodes.BAD_INPUT


@pytest.mark.parametrize("text", [
    "A=1\nghp_SECRETpart0123456789abcdef\n",  # a value pasted without its name
    "KEY=-----BEGIN KEY-----\nMIIEvSECRETpart0123456789+/abc\n",  # an unquoted multi-line value
    "KEY=1\n+/SECRETpart0123456789\n",
    'KEY="abc"SECRETpart0123\n',
])
def test_a_malformed_line_is_never_quoted_in_the_error(text):
    # The line may be a piece of a secret: the error names the line, never shows it.
    with pytest.raises(ProblemsError) as caught:
        parse_dotenv(text, "prod.env", environ={})
    problem = caught.value.problems[0]
    assert problem.line is not None
    assert "SECRET" not in problem.message and "SECRET" not in (problem.fix or "")


def test_a_missing_env_file_is_a_clear_error(tmp_path):
    with pytest.raises(ProblemsError) as caught:
        read_env_file(tmp_path / "nope.env")
    assert "does not exist" in caught.value.problems[0].message


# --- where values come from --------------------------------------------------------------


def test_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("A=from-file\nB=from-file\nE=\n", encoding="utf-8")
    resolved = resolve(["A", "B", "C", "E"], env_file, environ={"A": "from-env"})
    assert resolved.values == {"A": "from-env", "B": "from-file"}
    assert resolved.sources == {"A": "environment", "B": str(env_file)}
    assert resolved.missing == ("C",) and resolved.empty == ("E",)


def test_unset_secrets_stop_with_exit_3_and_say_how_to_set_them(tmp_path):
    resolved = resolve(["OPENAI_API_KEY", "EMPTY"], None, environ={"EMPTY": ""})
    error = unset_problem(resolved, "fly")
    assert error.exit_code == exitcodes.NOT_READY
    messages = [p.message for p in error.problems]
    assert messages == ["secret OPENAI_API_KEY is not set; `up --target fly` needs its value",
                        "secret EMPTY is empty; `up --target fly` needs its value"]
    assert "--env-file" in error.problems[0].fix


def test_optional_secrets_come_from_the_env_file_too_and_never_count_as_unset(tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text("ONLY_IN_FILE=from-file\nEMPTY_OPTIONAL=\n", encoding="utf-8")
    resolved = resolve(["REQUIRED"], env_file, environ={"REQUIRED": "r"},
                       optional=["ONLY_IN_FILE", "EMPTY_OPTIONAL", "NOWHERE", "REQUIRED"])
    assert resolved.values == {"REQUIRED": "r", "ONLY_IN_FILE": "from-file"}
    assert resolved.sources["ONLY_IN_FILE"] == str(env_file)
    assert resolved.unset == () and resolved.left_out == ("EMPTY_OPTIONAL", "NOWHERE")


def test_a_plan_s_required_and_optional_secrets():
    plan = Plan("t", (
        Step(("a",), "stdin", stdin=Stdin(("S1", "S2"))),
        Step(("b",), "env", pass_secrets=("S3",), pass_if_set=("S3", "O1")),
        Step(("c",), "local", pass_if_set=("O1", "O2", "S1")),
    ), secrets=("S0", "S1"))
    assert required_names(plan) == ["S0", "S1", "S2", "S3"]
    assert optional_names(plan) == ["O1", "O2"]  # a name some step requires is required


# --- how values travel ---------------------------------------------------------------------

TRICKY = [
    "plain",
    "",
    "with spaces  ",
    "  leading spaces",
    'has "double" quotes',
    "has 'single' quotes",
    "hash # inside",
    'odd " quote # then hash',
    'two "" quotes # hash',
    "ends with a quote\"",
    '"fully quoted"',
    "'single wrapped'",
    '"""triple"""',
    "multi\nline\nvalue",
    "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----\n",
    "back\\slash and $HOME and ${X}",
    "unicode ☃ naïve",
    "=starts with equals",
]


@pytest.mark.parametrize("value", TRICKY)
def test_fly_encoding_reads_back_exactly_in_flys_parser(value):
    line = fly_dotenv_line("NAME", value)
    assert parse_fly_dotenv(line) == {"NAME": value}
    # ...and in the fake CLI's own port of flyctl's parser, written separately.
    assert fake_fly_parser(line) == {"NAME": value}


def test_a_value_fly_cannot_carry_is_refused_by_name_not_sent_garbled():
    impossible = 'a"b # c\nd"""'  # odd quotes before #, and a line ending in """
    with pytest.raises(ProblemsError) as caught:
        fly_dotenv_line("TOKEN", impossible)
    assert "TOKEN" in caught.value.problems[0].message
    assert impossible not in str(caught.value.problems[0])


def test_stdin_formats():
    values = {"A": "one", "B": 'two "2"'}
    assert stdin_text("value", ["B"], values) == 'two "2"'
    assert stdin_text("envfile", ["A", "B"], values) == 'A=one\nB=two "2"\n'
    assert parse_fly_dotenv(stdin_text("dotenv", ["A", "B"], values)) == values


def test_envfile_format_refuses_a_line_break():
    with pytest.raises(ProblemsError) as caught:
        stdin_text("envfile", ["PEM"], {"PEM": "a\nb"})
    assert "line break" in caught.value.problems[0].message


# --- masking -------------------------------------------------------------------------------


def test_masker_hides_raw_json_escaped_and_line_pieces():
    secret = 'sk-"quoted"\nsecond-line-of-key'
    mask = Masker([secret, "tok-123456"])
    assert mask("token tok-123456 used") == f"token {MASK} used"
    assert mask(json.dumps({"v": secret})) == json.dumps({"v": "X"}).replace("X", MASK)
    assert mask("log: second-line-of-key") == f"log: {MASK}"
    assert mask("nothing secret here") == "nothing secret here"


def test_masker_leaves_values_too_short_to_hide_alone():
    # Masking "a" would turn every line into noise that still gives the value away.
    mask = Masker(["a", "42", "xyz", "abcd"])
    assert mask("fly deploy --app stream-gen-ui took 42s (xyz)") == "fly deploy --app stream-gen-ui took 42s (xyz)"
    assert mask("key abcd") == f"key {MASK}"
    assert bool(Masker(["a"])) is False


def test_resolved_names_the_secrets_too_short_to_mask():
    resolved = resolve(["A", "B"], environ={"A": "x", "B": "long-enough"})
    assert resolved.too_short == ("A",)


def test_masker_prefers_the_longest_match_and_ignores_empty_values():
    mask = Masker(["abcd", "abcdefgh", ""])
    assert mask("abcdefgh abcd") == f"{MASK} {MASK}"
    assert bool(Masker([""])) is False


def test_masker_hides_the_encoded_forms_a_cli_echoes():
    import base64
    from urllib.parse import quote, quote_plus

    secret = 'pa$$ "wört" & key/42'
    mask = Masker([secret])
    for shown in (quote(secret, safe=""), quote_plus(secret), quote(secret), repr(secret)[1:-1],
                  json.dumps(secret, ensure_ascii=False)[1:-1]):
        assert mask(f"GET /x?t={shown}&y=1") == f"GET /x?t={MASK}&y=1", shown
    for prefix in ("", "u", "us", "user:"):  # every alignment inside a longer base64 string
        encoded = base64.b64encode(f"{prefix}{secret}".encode()).decode()
        masked = mask(f"Authorization: Basic {encoded}")
        assert MASK in masked and encoded[len(prefix) * 4 // 3 + 4:-4] not in masked, (prefix, masked)
    plain = base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")
    assert plain[:-2] not in mask(plain)


def test_a_value_hard_wrapped_across_lines_is_masked_on_both():
    secret = "sk-live-0123456789abcdefghij"
    lines = Masker([secret]).lines()
    out = lines.feed("error: bad key sk-live-01234")  # could be the start of it: held back
    assert out == []
    out += lines.feed("  56789abcdefghij (expired)")
    assert out == [f"error: bad key {MASK}", f"  {MASK} (expired)"]
    assert lines.feed("next line") == ["next line"]


def test_a_wrap_over_three_lines_and_a_pause_between_them_still_hide_it():
    secret = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
    lines = Masker([secret]).lines()
    # a pause: the held line goes, its end hidden since it is most of the value
    assert lines.feed("token: A1b2C3d4E5f6G7h8") + lines.flush() == [f"token: {MASK}"]
    shown = lines.feed("I9j0K1l2") + lines.feed("M3n4 done") + lines.close()
    assert shown == [MASK, f"{MASK} done"]


def test_lines_that_merely_end_like_a_secret_begins_are_not_changed():
    lines = Masker(["https-secret-value-XYZ"]).lines()
    assert lines.feed("see https") == []  # might be the start: held until the next line
    assert lines.feed("and more") == ["see https", "and more"]
    assert lines.feed("") == [""]
    assert Masker(["https-secret-value-XYZ"]).all_lines(["a https", ""]) == ["a https", ""]


def test_a_masker_over_a_multi_line_text_joins_its_lines():
    secret = "wrapped-secret-0123456789"
    assert Masker([secret])(f"head {secret[:12]}\n{secret[12:]} tail") == f"head {MASK}\n{MASK} tail"

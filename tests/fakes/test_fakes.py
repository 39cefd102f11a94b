"""The contract parser and the fake CLIs are faithful to the research they are built from."""

from __future__ import annotations

import json
import re

import pytest

import contracts
from conftest import SHARED
from fakes import fake_clis  # noqa: F401  (fixture)
from fakes import update_contracts

# --- the trimmed copy of the research -----------------------------------------------------


def test_the_copy_matches_the_shared_research():
    source = SHARED / "research" / "cli-contracts.json"
    if not source.is_file():
        pytest.skip(f"{source} not present (it is in CI)")
    expected = update_contracts.render(json.loads(source.read_text(encoding="utf-8")))
    assert update_contracts.COPY.read_text(encoding="utf-8") == expected, \
        "tests/fakes/contracts.json is stale: run .venv/bin/python tests/fakes/update_contracts.py"


def test_usage_exit_codes_are_the_ones_the_research_states():
    data = contracts.load()
    stated = {
        "fly": data["fly"]["_cli"]["unknown_flag"],
        "railway": data["railway"]["_cli"]["unknown_flag"],
        "docker": data["docker"]["_cli"]["exit_codes"]["flag_errors"],
        "render": data["render"]["_cli"]["exit_codes"]["1"],
        "kubectl": data["kubectl"]["_cli"]["exit_codes"]["1"],
        # contracts_extra.json, read from each CLI's source
        "gcloud": data["gcloud"]["_cli"]["exit_codes"]["2"],
        "doctl": data["doctl"]["_cli"]["unknown_flag"],
        "terraform": data["terraform"]["_cli"]["unknown_flag"],
    }
    for cli, text in stated.items():
        code = re.search(r"exit (\d+)", text) or re.search(r"(\d{3})", text)
        stated_code = 2 if cli == "gcloud" else int(code.group(1)) if code else 1  # gcloud: its own key "2"
        assert stated_code == contracts.USAGE_EXIT[cli], (cli, text)
    assert "usage" in stated["gcloud"]
    assert "unknown flag" in stated["render"] and "any error" in stated["kubectl"]


# --- the parser, against every command and flag in the contract -----------------------------


def _value_for(spec: dict) -> str:
    if spec.get("enum"):
        return spec["enum"][0]
    kind = spec.get("type")
    if kind == "bool":
        return "true"
    if kind in ("int", "int64", "i64", "uint16", "u16", "uint64"):
        return "1"
    if kind in ("float", "decimal"):
        return "0.5"
    if kind == "duration" or "duration" in str(spec.get("format", "")):
        return "5s"
    if re.fullmatch(r"[A-Z_]+=[A-Z_]+", str(spec.get("format", ""))):
        return "A=1"
    return "value"


def _required_positionals(entry: dict) -> list[str]:
    return [f"p{i}" for i, p in enumerate(entry.get("positional", [])) if p.get("required")]


def _required_flags(entry: dict, but: str | None = None) -> list[str]:
    """Flags the command requires (doctl --spec, gcloud --data-file), with a value."""
    return [f"{name}={_value_for(spec)}" for name, spec in entry.get("flags", {}).items()
            if spec.get("required") and name != but]


COMMANDS = [(cli, path) for cli in contracts.clis() for path in contracts.all_paths(cli)]


@pytest.mark.parametrize("cli,path", COMMANDS, ids=[f"{c}:{' '.join(p)}" for c, p in COMMANDS])
def test_every_command_and_flag_in_the_contract_parses(cli, path):
    entry = contracts.load()[cli][" ".join(path)]
    base = [*path, *_required_flags(entry), *_required_positionals(entry)]
    assert contracts.parse(cli, base).command == path
    flags = entry.get("flags", {})
    for name, spec in flags.items():
        if (cli, name) in contracts.REMOVED or name == "--help":
            continue  # --help prints usage and exits 0, as the real CLIs do
        canonical = spec.get("alias_of", name)
        value = _value_for(flags.get(canonical, spec))  # a hidden alias takes its flag's values
        if spec.get("takes_value") and spec.get("optional_value") and cli != "railway":
            forms = [[f"{name}={value}"]]  # pflag NoOptDefVal: a value only after `=`
        elif spec.get("takes_value"):
            values = [value] * int(spec.get("nargs", 1))
            forms = [[name, *values]]
            if not spec.get("nargs"):
                forms.append([f"{name}={values[0]}"])
            if spec.get("short") and not spec.get("nargs"):
                forms.append([spec["short"], values[0]])
        else:
            forms = [[name]] + ([[spec["short"]]] if spec.get("short") else [])
        needed = spec.get("requires")
        extra = [needed, _value_for(flags[needed])] if needed and flags[needed].get("takes_value") else \
            [needed] if needed else []
        for form in forms:
            parsed = contracts.parse(cli, [*path, *form, *extra, *_required_flags(entry, but=name),
                                           *_required_positionals(entry)])
            assert parsed.command == path and canonical in parsed.flags, (cli, path, form)


@pytest.mark.parametrize("cli,argv,exit_code,message", [
    ("fly", "deploy --bogus", 1, "Error: unknown flag: --bogus"),
    ("fly", "deploy -Z", 1, "Error: unknown shorthand flag: 'Z' in -Z"),
    ("fly", "frobnicate", 1, 'Error: unknown command "frobnicate" for "fly"'),
    ("fly", "volumes create", 1, "accepts 1 arg(s), received 0"),
    ("fly", "volumes create v --size one", 1, 'invalid argument "one" for "-s, --size" flag'),
    ("fly", "deploy --strategy sideways", 1, "must be one of canary, rolling, bluegreen, immediate"),
    ("fly", "deploy --app", 1, "flag needs an argument: --app"),
    ("railway", "up --bogus", 2, "error: unexpected argument '--bogus' found"),
    ("railway", "up --json=true", 2, "unexpected value 'true' for '--json'"),
    ("railway", "up -s a -s b", 2, "cannot be used multiple times"),
    ("railway", "frob", 2, "error: unrecognized subcommand 'frob'"),
    ("railway", "volume add --service ID --mount-path /d", 2, "unexpected argument '--service'"),
    ("railway", "add --branch main", 2, "the following required arguments were not provided"),
    ("render", "services -o xml", 1, "must be one of interactive, json, yaml, text"),
    ("render", "whoami --pretty-json", 1, "--pretty-json has been removed"),
    ("docker", "run --debug img", 125, "unknown flag: --debug"),
    ("docker", "compose up -p name", 125, "unknown shorthand flag: 'p' in -p"),
    ("docker", "frob", 1, "docker: 'frob' is not a docker command."),
    ("kubectl", "apply --dry-run client -f x", 1, 'invalid argument "unchanged" for "--dry-run" flag'),
    ("kubectl", "rollout status deployment/x --timeout=5x", 1, 'time: invalid duration "5x"'),
    ("kubectl", "create secret generic", 1, "accepts 1 arg(s), received 0"),
    ("gcloud", "run services replace - --bogus", 2, "ERROR: (gcloud.run.services.replace) unrecognized arguments: --bogus"),
    ("gcloud", "secrets versions add s", 2, "argument --data-file: Must be specified."),
    ("gcloud", "secrets create s --replication-policy=sometimes", 2, "must be one of automatic, user-managed"),
    ("doctl", "apps create --upsert", 255, 'required flag(s) "spec" not set'),
    ("doctl", "apps create --spec x --bogus", 255, "unknown flag: --bogus"),
    ("terraform", "-chdir=tf plan -auto-approve", 1, "flag provided but not defined: -auto-approve"),
    ("terraform", "plan tfplan", 1, "Too many command line arguments"),
    ("terraform", "-chdir tf init", 1, "must include an equals sign"),
])
def test_rejections_carry_the_real_message_and_exit_code(cli, argv, exit_code, message):
    with pytest.raises(contracts.UsageError) as caught:
        contracts.parse(cli, argv.split())
    assert caught.value.exit_code == exit_code and message in caught.value.message


@pytest.mark.parametrize("cli,argv,command,flags,positionals", [
    # cobra: a flag before the subcommand parses against the subcommand (fly -a x deploy)
    ("fly", "-a app deploy", ("deploy",), {"--app": ["app"]}, []),
    # pflag: `--ha false` is the switch plus a positional (a build directory called "false")
    ("fly", "deploy --ha false", ("deploy",), {"--ha": ["true"]}, ["false"]),
    ("fly", "deploy --ha=false", ("deploy",), {"--ha": ["false"]}, []),
    # grouped short switches, and aliases of commands
    ("fly", "vol create v -yj", ("volumes", "create"), {"--yes": ["true"], "--json": ["true"]}, ["v"]),
    ("fly", "volume ls -a x", ("volumes", "list"), {"--app": ["x"]}, []),
    # a value-taking flag swallows the next word even when it looks like a flag (pflag)
    ("fly", "deploy --app --json", ("deploy",), {"--app": ["--json"]}, []),
    # clap: parent flags before the subcommand; hidden alias flags resolve to the real one
    ("railway", "volume --service ID add --mount-path /d", ("volume", "add"),
     {"--service": ["ID"], "--mount-path": ["/d"]}, []),
    ("railway", "up --no-wait", ("up",), {"--detach": ["true"]}, []),
    ("railway", "environment edit -s api deploy.healthcheckPath /health", ("environment", "edit"),
     {"--service-config": ["api", "deploy.healthcheckPath", "/health"]}, []),
    # docker: root flags only before the command; `run` stops parsing flags at the image
    ("docker", "--debug run img sh -c --whatever", ("run",), {"--debug": ["true"]}, ["img", "sh", "-c", "--whatever"]),
    ("docker", "buildx build -t x .", ("build",), {"--tag": ["x"]}, ["."]),
    # kubectl: global flags work after the subcommand too; optional values only with `=`
    ("kubectl", "apply -f - -n ns --dry-run=client", ("apply",),
     {"--filename": ["-"], "--namespace": ["ns"], "--dry-run": ["client"]}, []),
    # gcloud: group and global flags after the command; `-` is a positional (stdin)
    ("gcloud", "run services replace - --region=r --project p -q", ("run", "services", "replace"),
     {"--region": ["r"], "--project": ["p"], "--quiet": ["true"]}, ["-"]),
    # Go flag: -chdir before the command; flags end at the first positional
    ("terraform", "-chdir=tf apply -input=false x.tfplan", ("apply",),
     {"-chdir": ["tf"], "-input": ["false"]}, ["x.tfplan"]),
    ("terraform", "plan -out x -no-color", ("plan",), {"-out": ["x"], "-no-color": ["true"]}, []),
])
def test_parser_semantics(cli, argv, command, flags, positionals):
    parsed = contracts.parse(cli, argv.split())
    assert (parsed.command, parsed.flags, parsed.positionals) == (command, flags, positionals)


def test_accepts_takes_argv_with_or_without_the_binary():
    assert contracts.accepts("fly", ("fly", "deploy", "--app", "x"))
    assert contracts.accepts("fly", ("flyctl", "deploy", "--app", "x"))
    assert contracts.accepts("fly", ("deploy", "--app", "x"))
    assert not contracts.accepts("fly", ("fly", "deploy", "--wait", "5m"))


def test_commands_the_research_lists_but_does_not_describe_are_not_vouched_for():
    with pytest.raises(contracts.NotInContract):
        contracts.parse("railway", ["volume", "delete"])


# --- the fake executables ------------------------------------------------------------------


@pytest.mark.parametrize("argv,code,words", [
    (("fly", "deploy", "--bogus"), 1, "Error: unknown flag: --bogus"),
    (("railway", "up", "--bogus"), 2, "error: unexpected argument '--bogus' found"),
    (("render", "services", "--bogus"), 1, "unknown flag: --bogus"),
    (("docker", "run", "--bogus", "img"), 125, "unknown flag: --bogus"),
    (("kubectl", "apply", "--bogus"), 1, "error: unknown flag: --bogus"),
    (("gcloud", "builds", "submit", "--bogus"), 2, "unrecognized arguments: --bogus"),
    (("doctl", "apps", "list", "--bogus"), 255, "unknown flag: --bogus"),
    (("terraform", "plan", "-bogus"), 1, "flag provided but not defined: -bogus"),
])
def test_each_fake_rejects_unknown_flags_like_the_real_cli(fake_clis, argv, code, words):
    result = fake_clis.cli(*argv)
    assert result.returncode == code and words in result.stderr
    [call] = fake_clis.calls()
    assert call.usage_error and call.exit == code and call.argv == list(argv[1:])


@pytest.mark.parametrize("argv,words", [
    (("fly", "apps", "list"), "No access token available"),
    (("railway", "status"), "Unauthorized. Please login with `railway login`"),
    (("render", "services"), "run `render login` to authenticate"),
    (("kubectl", "apply", "-f", "x.yaml"), "The connection to the server localhost:8080 was refused"),
    (("gcloud", "secrets", "describe", "s", "--project", "p"), "You do not currently have an active account"),
    (("doctl", "apps", "list"), "access token is required"),
])
def test_each_fake_needs_the_auth_the_contract_names(fake_clis, argv, words):
    result = fake_clis.cli(*argv, logged_in=False)
    assert result.returncode == 1 and words in result.stderr
    assert not any(fake_clis.calls()[0].env.values())  # recorded: no auth variable was set


def test_versions_need_no_login(fake_clis):
    assert fake_clis.cli("fly", "version", logged_in=False).stdout.startswith("fly v0.4.87")
    assert fake_clis.cli("railway", "--version", logged_in=False).stdout == "railway 5.43.1\n"
    assert fake_clis.cli("docker", "--version", logged_in=False).stdout.startswith("Docker version 29.7.2")
    kubectl = json.loads(fake_clis.cli("kubectl", "version", "--client", "-o", "json", logged_in=False).stdout)
    assert kubectl["clientVersion"]["gitVersion"] == "v1.35.0"


def test_state_makes_creates_fail_the_second_time(fake_clis):
    assert fake_clis.cli("fly", "apps", "create", "demo", "--org", "personal").returncode == 0
    again = fake_clis.cli("fly", "apps", "create", "demo", "--org", "personal")
    assert again.returncode == 1 and "Name has already been taken" in again.stderr
    listed = json.loads(fake_clis.cli("fly", "apps", "list", "--json").stdout)
    assert [a["Name"] for a in listed] == ["demo"]


def test_volume_create_needs_yes_and_a_region_when_not_interactive(fake_clis):
    fake_clis.cli("fly", "apps", "create", "demo")
    no_yes = fake_clis.cli("fly", "volumes", "create", "data", "-a", "demo", "-r", "iad")
    assert no_yes.returncode == 1 and "yes flag must be specified" in no_yes.stderr
    no_region = fake_clis.cli("fly", "volumes", "create", "data", "-a", "demo", "--yes")
    assert no_region.returncode == 1 and "region code must be specified" in no_region.stderr
    assert fake_clis.cli("fly", "volumes", "create", "data", "-a", "demo", "--yes", "-r", "iad").returncode == 0
    assert fake_clis.cli("fly", "volumes", "create", "data", "-a", "demo", "--yes", "-r", "iad").returncode == 0
    assert len(fake_clis.state()["fly"]["apps"]["demo"]["volumes"]) == 2  # like fly: not idempotent


def test_stdin_is_recorded_for_commands_that_read_it(fake_clis):
    fake_clis.cli("fly", "apps", "create", "demo")
    result = fake_clis.cli("fly", "secrets", "import", "-a", "demo", input='A="1"\nB="""x\ny"""\n')
    assert result.returncode == 0
    call = fake_clis.calls()[-1]
    assert call.stdin == 'A="1"\nB="""x\ny"""\n'
    secrets = fake_clis.state()["fly"]["apps"]["demo"]["secrets"]
    assert set(secrets) == {"A", "B"} and "x\ny" not in json.dumps(fake_clis.state())  # digests only


def test_faults_fail_a_command_a_given_number_of_times(fake_clis):
    fake_clis.fail("fly auth whoami", exit=1, stderr="Error: boom", times=1)
    first = fake_clis.cli("fly", "auth", "whoami")
    second = fake_clis.cli("fly", "auth", "whoami")
    assert (first.returncode, first.stderr.strip()) == (1, "Error: boom")
    assert second.returncode == 0


def test_railway_volume_add_with_a_service_name_panics_like_the_real_one(fake_clis, tmp_path):
    fake_clis.cli("railway", "init", "--name", "demo", cwd=tmp_path)
    fake_clis.cli("railway", "add", "--service", "api", cwd=tmp_path)
    result = fake_clis.cli("railway", "volume", "--service", "api", "add", "--mount-path", "/data", cwd=tmp_path)
    assert result.returncode == 101 and "panicked" in result.stderr


def test_render_deploys_create_without_confirm_hits_the_prompt(fake_clis):
    fake_clis.seed("render", {"services": {"srv-1": {"name": "api", "type": "web_service"}}})
    result = fake_clis.cli("render", "deploys", "create", "srv-1", "--wait")
    assert result.returncode == 1 and "(y/n)" in result.stdout and "EOF" in result.stderr


def test_kubectl_reads_bare_names_of_an_env_file_from_its_environment(fake_clis, tmp_path):
    (tmp_path / "names.env").write_text("# names only\nTOKEN\nPLAIN=literal value\n")
    result = fake_clis.cli("kubectl", "create", "secret", "generic", "s", "--from-env-file=names.env",
                           "--dry-run=client", "-o", "json", cwd=tmp_path, env={"TOKEN": "from-env"})
    import base64

    data = json.loads(result.stdout)["data"]
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == {"TOKEN": "from-env",
                                                                           "PLAIN": "literal value"}

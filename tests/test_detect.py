"""detect.scan_app: what an app is, from reading its source (never importing it)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO
from streamdeploy import detect
from streamdeploy.detect import looks_secret, pick_python, scan_app

APPS = REPO / "tests" / "fixtures" / "apps"


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Build a directory from {relative path: content}."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


def routes(facts) -> list[tuple]:
    return [(r.method, r.path, r.sse) for r in facts.routes]


MINIMAL = "from fastapi import FastAPI\napp = FastAPI()\n"


# --- the fixture apps ---------------------------------------------------------------------


def test_plain_fastapi_app():
    facts = scan_app(APPS / "plain")
    assert (facts.app.value, facts.app.how, facts.app.where) == ("main:app", "detected", "main.py:7")
    assert facts.app_dir is None and not facts.factory
    assert (facts.python.value, facts.python.how, facts.python.where) == ("3.11", "detected", ".python-version")
    assert facts.dependency_file.value == "requirements.txt"
    assert {"fastapi", "uvicorn"} <= facts.dependencies
    assert facts.server.value == "uvicorn" and facts.server.detected
    assert (facts.port.value, facts.port.where) == (8080, "main.py:24")  # uvicorn.run("main:app", port=8080)
    assert (facts.health.value, facts.health.where) == ("/healthz", "main.py:11")
    assert routes(facts) == [("GET", "/", False), ("GET", "/healthz", False)]
    assert [(e.name, e.default, e.has_default) for e in facts.plain_env] == [("GREETING", "hello", True)]
    assert facts.secrets == [] and facts.chroma == [] and facts.notes == []


def test_fastapi_with_chroma_sse_routers_and_a_dashboard():
    facts = scan_app(APPS / "chroma_sse")
    assert facts.app.value == "service.main:app"
    # include_router(stream.router, prefix="/api") + APIRouter(prefix="/v1")
    assert routes(facts) == [
        ("POST", "/api/v1/documents", False),
        ("GET", "/api/v1/raw", True),  # StreamingResponse(media_type=EVENT_STREAM), a module constant
        ("GET", "/api/v1/stream", True),  # returns sse(...), a helper that builds EventSourceResponse
        ("GET", "/health", False),
    ]
    assert all(r.resolved for r in facts.routes)
    assert (facts.heartbeat.value, facts.heartbeat.where) == (10.0, "service/routes/stream.py:18")
    (chroma,) = facts.chroma
    assert (chroma.kind, chroma.env, chroma.default, chroma.how, chroma.where) == (
        "persistent", "VECTOR_DIR", "./vectors", "detected", "service/store.py:7")
    assert [(s.name, s.how) for s in facts.secrets] == [("OPENAI_API_KEY", "detected"), ("SVC_ADMIN_TOKEN", "detected")]
    admin = next(e for e in facts.env_names() if e.name == "SVC_ADMIN_TOKEN")
    assert not admin.has_default  # a required BaseSettings field
    assert [s.value for s in facts.streamlit] == ["dashboard/app.py"]


def test_src_layout_with_pyproject_and_an_app_factory():
    facts = scan_app(APPS / "src_layout")
    assert (facts.app.value, facts.factory, facts.app_dir) == ("acme_api.app:create_app", True, "src")
    assert (facts.name.value, facts.name.how) == ("acme-api", "detected")
    assert (facts.dependency_file.value, facts.python.value) == ("pyproject.toml", "3.11")
    assert "requires-python '>=3.10,<3.12'" in facts.python.why
    assert {"fastapi", "uvicorn", "chromadb"} <= facts.dependencies  # fastapi[standard] brings uvicorn
    assert routes(facts) == [("GET", "/api/items", False), ("GET", "/api/items/{item_id}", False),
                             ("PUT", "/api/items/{item_id}", False), ("GET", "/ping", False)]
    assert facts.health.value == "/ping"
    (chroma,) = facts.chroma
    assert (chroma.path, chroma.env) == ("data/chroma", None)


def test_no_app_and_a_file_that_does_not_parse():
    facts = scan_app(APPS / "no_app")
    assert facts.app is None and facts.routes == []
    assert facts.notes == ["broken.py:1: skipped, it does not parse (invalid syntax)"]
    assert [s.name for s in facts.secrets] == ["REPORT_TOKEN"]


def test_the_example_app():
    facts = scan_app(EXAMPLES / "app")
    assert facts.app.value == "app.main:app"  # app = create_app() at module level
    assert not facts.factory and facts.app_dir is None
    assert facts.health.value == "/health"
    assert {r.path for r in facts.sse_routes} == {"/stream", "/events"}
    assert {r.path for r in facts.routes} >= {"/health", "/documents", "/documents/{doc_id}", "/search"}
    persistent = facts.persistent_chroma
    assert [(c.env, c.default) for c in persistent] == [("CHROMA_DB_PATH", "./chroma_data")]
    assert any(c.kind == "http" for c in facts.chroma)  # the server mode of examples/scaled
    assert {"OPENAI_API_KEY", "API_KEY"} <= {s.name for s in facts.secrets}
    assert "STREAM_TOKEN_DELAY" not in {s.name for s in facts.secrets}


# --- finding the app -------------------------------------------------------------------------


def test_the_scan_never_imports_the_app(tmp_path):
    marker = tmp_path / "imported"
    tree(tmp_path, {"main.py": f"open({str(marker)!r}, 'w').close()\nraise SystemExit('imported!')\n" + MINIMAL})
    facts = scan_app(tmp_path)
    assert facts.app.value == "main:app"
    assert not marker.exists()


def test_aliased_imports_and_annotated_assignment(tmp_path):
    tree(tmp_path, {"server.py": "import fastapi as fa\napplication: fa.FastAPI = fa.FastAPI()\n"})
    assert scan_app(tmp_path).app.value == "server:application"


def test_a_factory_that_returns_fastapi_directly(tmp_path):
    tree(tmp_path, {"app/__init__.py": "", "app/main.py": """\
        from fastapi import FastAPI

        def get_app():
            return FastAPI()
        """})
    facts = scan_app(tmp_path)
    assert (facts.app.value, facts.factory) == ("app.main:get_app", True)


def test_the_app_in_a_package_init(tmp_path):
    tree(tmp_path, {"api/__init__.py": MINIMAL})
    assert scan_app(tmp_path).app.value == "api:app"


def test_a_backend_folder_imported_as_its_own_root(tmp_path):
    tree(tmp_path, {
        "backend/app/__init__.py": "",
        "backend/app/deps.py": "X = 1\n",
        "backend/app/main.py": "from app.deps import X\n" + MINIMAL,
    })
    facts = scan_app(tmp_path)
    assert (facts.app.value, facts.app_dir) == ("app.main:app", "backend")


def test_relative_imports_keep_the_package(tmp_path):
    tree(tmp_path, {"svc/api/__init__.py": "", "svc/api/deps.py": "",
                    "svc/api/main.py": "from . import deps\n" + MINIMAL})
    assert scan_app(tmp_path).app.value == "svc.api.main:app"


def test_a_folder_that_is_not_an_identifier(tmp_path):
    tree(tmp_path, {"my-service/main.py": MINIMAL})
    facts = scan_app(tmp_path)
    assert (facts.app.value, facts.app_dir) == ("main:app", "my-service")


def test_several_apps_prefer_the_main_one_and_say_so(tmp_path):
    tree(tmp_path, {"main.py": MINIMAL, "tools/admin.py": "from fastapi import FastAPI\nadmin = FastAPI()\n"})
    facts = scan_app(tmp_path)
    assert facts.app.value == "main:app"
    assert any("several FastAPI apps" in n and "tools/admin.py:2" in n for n in facts.notes)


def test_a_procfile_names_the_app_and_the_start_command(tmp_path):
    tree(tmp_path, {"a.py": MINIMAL, "b.py": MINIMAL, "Procfile": "release: python migrate.py\nweb: uvicorn b:app --port $PORT\n"})
    facts = scan_app(tmp_path)
    assert facts.app.value == "b:app"
    assert (facts.procfile.value, facts.procfile.where) == ("uvicorn b:app --port $PORT", "Procfile:2")


def test_starlette_apps_count(tmp_path):
    tree(tmp_path, {"main.py": "from starlette.applications import Starlette\napp = Starlette()\n"})
    assert scan_app(tmp_path).app.value == "main:app"


# --- routes ------------------------------------------------------------------------------------


def test_route_shapes(tmp_path):
    tree(tmp_path, {"main.py": """\
        from fastapi import APIRouter, FastAPI
        from fastapi.sse import EventSourceResponse

        PREFIX = "/api"
        app = FastAPI()
        router = APIRouter(prefix=PREFIX)
        nested = APIRouter()

        @router.api_route("/both", methods=["GET", "POST"])
        def both(): ...

        @nested.get(path="/deep")
        def deep(): ...

        @app.get("/events", response_class=EventSourceResponse)
        async def events():
            yield {"a": 1}

        def listing(): ...

        app.add_api_route("/listing", listing, methods=["GET"])
        router.include_router(nested, prefix="/n")
        app.include_router(router)

        @app.websocket("/ws")
        async def ws(): ...
        """})
    assert routes(scan_app(tmp_path)) == [
        ("GET", "/api/both", False), ("POST", "/api/both", False), ("GET", "/api/n/deep", False),
        ("GET", "/events", True), ("GET", "/listing", False),
    ]


def test_a_prefix_we_cannot_read_is_marked(tmp_path):
    tree(tmp_path, {"main.py": """\
        import os
        from fastapi import APIRouter, FastAPI
        app = FastAPI()
        router = APIRouter()

        @router.get("/things")
        def things(): ...

        app.include_router(router, prefix=os.environ["PREFIX"])
        """})
    facts = scan_app(tmp_path)
    (route,) = facts.routes
    assert (route.path, route.resolved) == ("/things", False)
    assert any("prefix could not be read" in n for n in facts.notes)


def test_a_router_that_is_never_included_keeps_its_own_prefix(tmp_path):
    tree(tmp_path, {"main.py": "import extra\n" + MINIMAL, "extra.py": """\
        from fastapi import APIRouter
        router = APIRouter(prefix="/extra")

        @router.get("/x")
        def x(): ...
        """})
    (route,) = scan_app(tmp_path).routes
    assert (route.path, route.resolved) == ("/extra/x", False)


def test_routes_of_modules_the_app_never_imports_are_not_the_service(tmp_path):
    tree(tmp_path, {"main.py": MINIMAL, "tools/debug_server.py": """\
        from fastapi import APIRouter
        router = APIRouter()

        @router.get("/debug")
        def x(): ...
        """})
    assert scan_app(tmp_path).routes == []


@pytest.mark.parametrize("paths,expected", [
    (["/", "/status", "/healthz"], "/healthz"),
    (["/api/health", "/health"], "/health"),
    (["/api/v1/health"], "/api/v1/health"),
    (["/ping", "/items/{id}"], "/ping"),
    (["/", "/items"], None),
])
def test_health_route_choice(tmp_path, paths, expected):
    body = MINIMAL + "".join(f'\n@app.get("{p}")\ndef r{i}(): ...\n' for i, p in enumerate(paths))
    tree(tmp_path, {"main.py": body})
    health = scan_app(tmp_path).health
    assert (health.value if health else None) == expected


def test_a_post_only_health_route_does_not_count(tmp_path):
    tree(tmp_path, {"main.py": MINIMAL + '\n@app.post("/health")\ndef h(): ...\n'})
    assert scan_app(tmp_path).health is None


# --- chroma ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code,expected", [
    ('c = chromadb.PersistentClient(path="/data/db")', ("/data/db", None, None, "detected")),
    ('c = chromadb.PersistentClient("./db")', ("./db", None, None, "detected")),
    ('c = chromadb.PersistentClient()', ("./chroma", None, None, "detected")),
    ('c = chromadb.PersistentClient(path=os.getenv("DB_DIR", "/tmp/db"))', (None, "DB_DIR", "/tmp/db", "detected")),
    ('c = chromadb.PersistentClient(path=os.environ["DB_DIR"])', (None, "DB_DIR", None, "detected")),
    ('P = os.environ.get("DB_DIR", "x")\nc = chromadb.PersistentClient(path=str(Path(P).resolve()))',
     (None, "DB_DIR", "x", "detected")),
    ('def f():\n    where = os.getenv("DB_DIR")\n    return chromadb.PersistentClient(path=where)',
     (None, "DB_DIR", None, "detected")),
    ('c = chromadb.PersistentClient(path=base / "db")', (None, None, None, "guessed")),
])
def test_where_persistent_client_stores_data(tmp_path, code, expected):
    tree(tmp_path, {"main.py": "import os\nfrom pathlib import Path\nimport chromadb\n" + MINIMAL + code + "\n"})
    (use,) = scan_app(tmp_path).chroma
    assert (use.path, use.env, use.default, use.how) == expected


def test_chroma_path_through_a_settings_attribute(tmp_path):
    tree(tmp_path, {
        "settings.py": """\
            from pydantic_settings import BaseSettings
            class Settings(BaseSettings):
                chroma_dir: str = "/var/chroma"
            settings = Settings()
            """,
        "main.py": "from chromadb import PersistentClient\nfrom settings import settings\n" + MINIMAL
                   + "client = PersistentClient(path=settings.chroma_dir)\n",
    })
    (use,) = scan_app(tmp_path).chroma
    assert (use.env, use.default, use.how) == ("CHROMA_DIR", "/var/chroma", "guessed")  # matched by attribute name


def test_old_chroma_persist_directory(tmp_path):
    tree(tmp_path, {"main.py": "import chromadb\n" + MINIMAL
                    + 'c = chromadb.PersistentClient(persist_directory="db")\n'})
    assert scan_app(tmp_path).chroma[0].path == "db"


# --- environment variables --------------------------------------------------------------------


def test_environment_reads(tmp_path):
    tree(tmp_path, {"main.py": """\
        import os
        from os import environ, getenv
        from decouple import config
        import streamlit as st
        from fastapi import FastAPI

        app = FastAPI()
        A = os.getenv("PLAIN_A", "1")
        B = environ.get("DB_PASSWORD")
        C = getenv("GITHUB_TOKEN", default="")
        D = os.environ["REQUIRED_URL"]
        E = config("SENTRY_DSN", default=None)
        if "FEATURE_X" in os.environ:
            pass
        headers = {}
        h = headers.get("X_API_KEY")       # a dict, not the environment
        st.text("HELLO")                    # a library call, not a settings helper
        os.environ["SET_HERE"] = "1"        # written, not read
        port = os.getenv("PORT", "8000")    # set by the platform
        """})
    facts = scan_app(tmp_path)
    assert [(e.name, e.how, e.has_default) for e in facts.env_names()] == [
        ("PLAIN_A", "detected", True), ("DB_PASSWORD", "detected", False), ("GITHUB_TOKEN", "detected", True),
        ("REQUIRED_URL", "detected", False), ("SENTRY_DSN", "guessed", True), ("FEATURE_X", "detected", True),
    ]
    assert [e.name for e in facts.secrets] == ["DB_PASSWORD", "GITHUB_TOKEN", "SENTRY_DSN"]


@pytest.mark.parametrize("name,secret", [
    ("OPENAI_API_KEY", True), ("SECRET_KEY", True), ("DB_PASSWORD", True), ("GITHUB_TOKEN", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("APIKEY", True), ("SENTRY_DSN", True),
    ("STREAM_TOKEN_DELAY", False), ("OPENAI_MAX_TOKENS", False), ("API_KEY_FILE", False), ("KEYBOARD", False),
    ("CHROMA_DB_PATH", False), ("TOKEN_TTL", False),
])
def test_which_names_are_secrets(name, secret):
    assert looks_secret(name) is secret


# --- dependencies and python version -----------------------------------------------------------


def test_requirements_with_includes_extras_comments_and_urls(tmp_path):
    tree(tmp_path, {
        "requirements.txt": """\
            -r requirements/base.txt
            --index-url https://example.org/simple
            FastAPI[standard]>=0.110  # web
            git+https://github.com/x/y@main#egg=y
            Sse_Starlette==2.0 ; python_version >= "3.9"
            -e .
            """,
        "requirements/base.txt": "chromadb==1.5\n",
        "main.py": MINIMAL,
    })
    facts = scan_app(tmp_path)
    assert facts.dependencies == {"fastapi", "uvicorn", "sse-starlette", "chromadb"}


def test_another_requirements_file_is_a_guess(tmp_path):
    tree(tmp_path, {"requirements-dev.txt": "pytest\n", "requirements-prod.txt": "fastapi\nuvicorn\n", "main.py": MINIMAL})
    facts = scan_app(tmp_path)
    assert (facts.dependency_file.value, facts.dependency_file.how) == ("requirements-prod.txt", "guessed")


def test_poetry_project(tmp_path):
    tree(tmp_path, {"pyproject.toml": """\
        [tool.poetry]
        name = "poetry_app"
        [tool.poetry.dependencies]
        python = "^3.11"
        fastapi = "*"
        uvicorn = "*"
        """, "main.py": MINIMAL})
    facts = scan_app(tmp_path)
    assert facts.dependency_file.value == "pyproject.toml"
    assert facts.python.value == "3.12" and facts.dependencies == {"fastapi", "uvicorn"}


def test_no_server_in_the_dependencies_is_a_guess_with_a_reason(tmp_path):
    tree(tmp_path, {"requirements.txt": "fastapi\n", "main.py": MINIMAL})
    server = scan_app(tmp_path).server
    assert (server.value, server.how) == ("uvicorn", "guessed") and "add uvicorn" in server.why


def test_invalid_pyproject_is_a_note(tmp_path):
    tree(tmp_path, {"pyproject.toml": "[project\n", "main.py": MINIMAL})
    assert "pyproject.toml: skipped, it is not valid TOML" in scan_app(tmp_path).notes


@pytest.mark.parametrize("files,version,how", [
    ({".python-version": "3.13.1\n"}, "3.13", "detected"),
    ({".python-version": "# pinned\ncpython-3.10\n"}, "3.10", "detected"),
    ({"runtime.txt": "python-3.11.4\n"}, "3.11", "detected"),
    ({"pyproject.toml": '[project]\nname="x"\nrequires-python = ">=3.13"\n'}, "3.13", "detected"),
    ({".python-version": "pypy3.10\n"}, "3.12", "default"),
    ({}, "3.12", "default"),
])
def test_python_version_sources(tmp_path, files, version, how):
    tree(tmp_path, {"main.py": MINIMAL, **files})
    python = scan_app(tmp_path).python
    assert (python.value, python.how) == (version, how)


@pytest.mark.parametrize("spec,version", [
    (">=3.11", "3.12"), (">=3.8,<3.11", "3.10"), ("<3.12", "3.11"), ("==3.11.*", "3.11"), ("~=3.10", "3.12"),
    ("~=3.10.2", "3.10"), ("^3.11", "3.12"), ("~3.11", "3.11"), ("3.11", "3.11"), (">=3.12,!=3.12.*", "3.13"),
    (">3.9", "3.12"), ("<=3.9", "3.9"), ("*", "3.12"), (">=3.10,<3.11 || >=3.13", "3.10"), (">=4", None),
])
def test_pick_python(spec, version):
    assert pick_python(spec) == version


def test_the_name_is_a_dns_label():
    assert detect.dns_label("My Great_App!") == "my-great-app"
    assert detect.dns_label("123-service") == "service"
    assert detect.dns_label("x" * 40) == "x" * 30
    assert detect.dns_label("___") == ""


# --- robustness ---------------------------------------------------------------------------------


def test_skips_virtualenvs_vendored_code_and_tests(tmp_path):
    hidden = "from fastapi import FastAPI\nhidden = FastAPI()\n"
    tree(tmp_path, {
        ".venv/lib/site.py": hidden,
        "node_modules/x/app.py": hidden,
        "myenv/pyvenv.cfg": "home = /usr\n",
        "myenv/lib/thing.py": hidden,
        "tests/test_api.py": hidden,
        "test_main.py": hidden,
        "conftest.py": hidden,
        "build/lib/app.py": hidden,
        "app.py": MINIMAL,
    })
    facts = scan_app(tmp_path)
    assert facts.app.value == "app:app"
    assert facts.files_scanned == 1 and not any("several" in n for n in facts.notes)


def test_unreadable_files_are_notes_not_crashes(tmp_path, monkeypatch):
    monkeypatch.setattr(detect, "MAX_FILE_BYTES", 1000)
    tree(tmp_path, {
        "main.py": MINIMAL,
        "latin1.py": b"x = '\xe9'\n",
        "huge.py": "x = 1\n" * 500,
        "nul.py": b"x = 1\x00\n",
        "deep.py": "x = " + "(" * 2000 + ")" * 2000 + "\n",
    })
    facts = scan_app(tmp_path)
    assert facts.app.value == "main:app"
    assert any(n.startswith("latin1.py: skipped, not UTF-8") for n in facts.notes)
    assert any(n.startswith("huge.py: skipped, larger than 1 KB") for n in facts.notes)
    assert any(n.startswith("nul.py") for n in facts.notes)
    assert any(n.startswith("deep.py") for n in facts.notes)


def test_a_huge_tree_is_cut_off_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(detect, "MAX_FILES", 20)
    tree(tmp_path, {f"pkg{i:02d}/mod.py": "x = 1\n" for i in range(40)})
    tree(tmp_path, {"aaa_main.py": MINIMAL})
    facts = scan_app(tmp_path)
    assert facts.truncated and facts.files_scanned == 20
    assert any("stopped after 20 Python files" in n for n in facts.notes)
    assert facts.app.value == "aaa_main:app"


def test_shallow_files_are_read_before_deep_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(detect, "MAX_FILES", 10)
    tree(tmp_path, {f"a_vendor/lib/mod{i:02d}.py": "x = 1\n" for i in range(30)})
    tree(tmp_path, {"zz_service/main.py": MINIMAL})
    facts = scan_app(tmp_path)
    assert facts.truncated and facts.app.value == "zz_service.main:app"


def test_the_scan_stops_at_a_byte_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(detect, "MAX_TOTAL_BYTES", 1000)
    tree(tmp_path, {"app.py": MINIMAL, **{f"m{i}.py": "x = 1\n" * 100 for i in range(5)}})
    facts = scan_app(tmp_path)
    assert facts.truncated and facts.files_scanned == 3 and facts.app.value == "app:app"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlink_loop_does_not_hang(tmp_path):
    tree(tmp_path, {"main.py": MINIMAL})
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert scan_app(tmp_path).app.value == "main:app"


def test_a_missing_or_empty_directory(tmp_path):
    assert scan_app(tmp_path / "nope").app is None
    assert scan_app(tmp_path).files_scanned == 0


def test_the_scan_is_deterministic():
    first, second = scan_app(EXAMPLES / "app"), scan_app(EXAMPLES / "app")
    assert first.routes == second.routes and first.env_reads == second.env_reads and first.notes == second.notes


# --- what the corpus taught: storage, needs, workers, monorepos, routers, streams ------------------


@pytest.mark.parametrize("code,expected", [
    ("import chromadb\nfrom chromadb.config import Settings\n"
     "c = chromadb.Client(Settings(is_persistent=True, persist_directory='db'))\n", ("persistent", "db", None)),
    ("import chromadb\nc = chromadb.Client()\n", ("ephemeral", None, None)),
    ("from langchain_chroma import Chroma\nimport os\n"
     "s = Chroma(collection_name='x', persist_directory=os.getenv('VDB', './v'))\n", ("persistent", None, "VDB")),
    ("from langchain_community.vectorstores import Chroma\ns = Chroma.from_documents([], None)\n",
     ("ephemeral", None, None)),
    ("from llama_index.vector_stores.chroma import ChromaVectorStore\n"
     "s = ChromaVectorStore.from_params(collection_name='x', persist_dir='./idx')\n", ("persistent", "./idx", None)),
    ("import chromadb\nfrom pathlib import Path\nBASE = Path(__file__).resolve().parent\n"
     "c = chromadb.PersistentClient(path=str(BASE / 'data' / 'chroma'))\n", ("persistent", "data/chroma", None)),
])
def test_chroma_storage_in_all_its_spellings(tmp_path, code, expected):
    tree(tmp_path, {"main.py": MINIMAL + code})
    (use,) = scan_app(tmp_path).chroma
    assert (use.kind, use.path, use.env) == expected


def test_a_chroma_server_and_its_settings(tmp_path):
    tree(tmp_path, {"main.py": MINIMAL + textwrap.dedent("""\
        import chromadb
        from pydantic_settings import BaseSettings

        class S(BaseSettings):
            chroma_server_host: str = "localhost"
            chroma_server_port: int = 8000

        s = S()
        client = chromadb.HttpClient(host=s.chroma_server_host, port=s.chroma_server_port)
        """)})
    (use,) = scan_app(tmp_path).chroma
    assert (use.kind, use.host_env, use.port_env) == ("http", "CHROMA_SERVER_HOST", "CHROMA_SERVER_PORT")


def test_sqlite_uploads_and_servers(tmp_path):
    tree(tmp_path, {"main.py": MINIMAL + textwrap.dedent("""\
        import os, sqlite3
        import redis
        from sqlalchemy import create_engine

        engine = create_engine(os.getenv("DATABASE_URL", "sqlite:///./app.db"))
        conn = sqlite3.connect("data/local.db")
        cache = redis.from_url(os.environ["REDIS_URL"])
        UPLOADS = os.getenv("UPLOAD_FOLDER", "uploads")

        @app.post("/up")
        def up(name: str):
            with open(os.path.join(UPLOADS, name), "wb") as f:
                f.write(b"")
        """)})
    facts = scan_app(tmp_path)
    assert [(s.kind, s.path, s.env, s.default, s.url) for s in facts.state] == [
        ("sqlite", None, "DATABASE_URL", "./app.db", True), ("sqlite", "data/local.db", None, None, False),
        ("uploads", None, "UPLOAD_FOLDER", "uploads", False)]
    assert [(n.kind, n.env, n.at_start) for n in facts.needs] == [("redis", "REDIS_URL", True)]


def test_a_worker_that_opens_the_apps_chroma(tmp_path):
    store = "import os, chromadb\nc = chromadb.PersistentClient(path=os.getenv('CHROMA_DB_PATH', 'db'))\n"
    tree(tmp_path, {"main.py": "import store\n" + MINIMAL, "store.py": store,
                    "worker.py": "import time, store\nif __name__ == '__main__':\n    while True:\n        time.sleep(1)\n",
                    "scripts/once.py": "import store\nif __name__ == '__main__':\n    print(1)\n"})
    (worker,) = scan_app(tmp_path).workers
    assert (worker.start, worker.shares) == ("python worker.py", ("chroma:CHROMA_DB_PATH",))


def test_a_monorepo_backend_is_built_from_its_own_directory_and_named_after_the_repository(tmp_path):
    repo = tmp_path / "helpdesk"
    tree(repo, {".git/HEAD": "ref: refs/heads/main\n", "backend/requirements.txt": "fastapi\nuvicorn\n",
                "backend/app/__init__.py": "", "backend/app/main.py": "from app import deps\n" + MINIMAL,
                "backend/app/deps.py": "", "frontend/package.json": "{}"})
    for where in (repo, repo / "backend"):
        facts = scan_app(where)
        assert facts.name.value == "helpdesk" and facts.app.value == "app.main:app" and facts.app_dir is None
    assert scan_app(repo).context == "backend" and scan_app(repo / "backend").context == "."


def test_routers_through_a_package_and_prefixes_from_settings(tmp_path):
    tree(tmp_path, {
        "main.py": "from routes import items_router\nfrom config import settings\n" + MINIMAL +
                   "app.include_router(items_router, prefix=settings.prefix)\n"
                   "app.include_router(items_router, prefix='/old')\n",
        "config.py": "from pydantic_settings import BaseSettings\nclass S(BaseSettings):\n    prefix: str = '/api'\n"
                     "settings = S()\n",
        "routes/__init__.py": "from .items import router as items_router\n",
        "routes/items.py": "from fastapi import APIRouter\nrouter = APIRouter()\n@router.get('/items')\ndef i(): ...\n",
    })
    facts = scan_app(tmp_path)
    assert [r.path for r in facts.routes] == ["/api/items", "/old/items"]
    assert any("its default '/api' is used" in n for n in facts.notes)
    assert any("mounted more than once" in n for n in facts.notes)


def test_plain_streaming_response_sends_no_heartbeat_and_a_post_stream_carries_its_body_and_token(tmp_path):
    tree(tmp_path, {"main.py": MINIMAL + textwrap.dedent("""\
        import os
        from fastapi import Depends
        from fastapi.responses import StreamingResponse
        from fastapi.security import HTTPBearer
        from pydantic import BaseModel

        TOKEN = os.environ["CHAT_TOKEN"]
        bearer = HTTPBearer()

        def auth(c=Depends(bearer)):
            assert c.credentials == TOKEN

        class Ask(BaseModel):
            prompt: str
            n: int
            stream: bool = True

        @app.post("/chat/stream")
        def chat(ask: Ask, _=Depends(auth)):
            return StreamingResponse(iter(()), media_type="text/event-stream")
        """)})
    (route,) = [r for r in scan_app(tmp_path).routes if r.sse]
    assert (route.method, route.heartbeat) == ("POST", False)
    assert route.body == {"prompt": "streamdeploy prompt", "n": 1}
    assert route.auth == ("Authorization", "Bearer ${CHAT_TOKEN}")


@pytest.mark.parametrize("root", [EXAMPLES / "app", EXAMPLES / "multi", REPO / "tests" / "corpus" / "apps",
                                  REPO / "streamdeploy"])
def test_the_walk_collects_every_import_statement_anywhere_in_a_module(root):
    """`imports_of` reads the imports the one walk collected: that walk must reach all of them
    (imports inside functions, classes, if/try blocks), as ast.walk does."""
    import ast

    files, _ = detect._python_files(root, [])
    modules = [m for m in (detect._parse(root, path, []) for path in files) if m is not None]
    detect._Project(root, modules).walk()
    statements = 0
    for module in modules:
        everywhere = [n for n in ast.walk(module.tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert sorted(map(id, module.imports)) == sorted(map(id, everywhere)), module.rel
        statements += len(everywhere)
    assert statements > 10

"""The admin dashboard of the example API: documents, search, the live change feed, health.

A separate service with its own image, size and deploys (design note 3). It talks to the
API only over HTTP, at API_URL, and asks for ADMIN_PASSWORD before showing anything;
writes carry API_KEY, as any other client's would.

    streamlit run app.py --server.port 8501
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Any, Callable

import streamlit as st

from api import Api, ApiError, Feed

REFRESH_SECONDS = 1.5  # how often the live part of the page looks for new events
HEALTH_SECONDS = 10.0  # /health is asked this often, not at every refresh
DOCUMENTS_SECONDS = 60.0  # the list is refetched on every change event, and at least this often

st.set_page_config(page_title="stream-gen-ui admin", page_icon=":material/dashboard:", layout="wide")


def signed_in() -> bool:
    """The password gate: without ADMIN_PASSWORD set, nobody gets in."""
    expected = os.environ.get("ADMIN_PASSWORD", "")
    if not expected:
        st.error("ADMIN_PASSWORD is not set, so nobody can sign in. Set it as a secret of this service.")
        return False
    if st.session_state.get("signed_in"):
        return True
    with st.form("sign-in"):
        st.subheader("Sign in")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            if hmac.compare_digest(password.encode(), expected.encode()):
                st.session_state.signed_in = True
                st.rerun()
            st.error("Wrong password.")
    return False


@st.cache_resource
def api() -> Api:
    return Api(os.environ.get("API_URL", "http://127.0.0.1:8000"), os.environ.get("API_KEY") or None)


@st.cache_resource
def feed() -> Feed:
    # One stream per dashboard process, shared by every browser session.
    return Feed(api().url)


def fresh(key: str, version: int, max_age: float, fetch: Callable[[], Any]) -> Any:
    """``fetch()``'s last answer for this browser session, fetched again when the feed's version
    moved on or the answer is older than ``max_age``: the page follows changes, not a timer."""
    kept = st.session_state.get(key)
    if kept is None or kept[0] != version or time.monotonic() - kept[1] > max_age:
        kept = (version, time.monotonic(), fetch())
        st.session_state[key] = kept
    return kept[2]


def health_panel() -> None:
    health = fresh("health", feed().version, HEALTH_SECONDS, api().health)
    status = health.get("status", "?")
    columns = st.columns(4)
    columns[0].metric("API", status)
    columns[1].metric("Documents", health.get("documents", "?"))
    columns[2].metric("Open event streams", (health.get("streams") or {}).get("events", "?"))
    columns[3].metric("Embeddings", health.get("embeddings", "?"))
    if status != "ok":
        st.warning(f"{api().url}/health: {health.get('reason', status)}")


def documents_panel() -> None:
    try:
        documents, total = fresh("documents", feed().version, DOCUMENTS_SECONDS, lambda: api().documents(limit=100))
    except ApiError as err:
        st.session_state.pop("documents", None)
        st.error(str(err))
        return
    st.subheader(f"Documents ({total})")
    if not documents:
        st.caption("No documents yet.")
        return
    rows = [{"id": d["id"], "text": d["text"][:200], "metadata": str(d.get("metadata") or "")} for d in documents]
    st.table(rows)  # plain HTML: readable by screen readers and browser tests, unlike the canvas grid
    if total > len(documents):
        st.caption(f"showing the first {len(documents)} of {total}")


def feed_panel() -> None:
    live = feed()
    st.subheader("Live changes")
    state = "connected" if live.connected else f"reconnecting ({live.error or 'starting'})"
    st.caption(f"/events: {state}")
    events = live.recent()[:15]
    if not events:
        st.caption("Nothing yet: changes appear here as they happen.")
    for event in events:
        doc_id = event.data.get("id", "")
        preview = event.data.get("preview") or event.data.get("reason") or ""
        st.markdown(f"**{event.kind}** `{doc_id}` {preview}")


@st.fragment(run_every=REFRESH_SECONDS)
def live_part() -> None:
    """Reruns on its own: new documents and events show up without reloading the page."""
    health_panel()
    left, right = st.columns([3, 2])
    with left:
        documents_panel()
    with right:
        feed_panel()


def add_form() -> None:
    with st.form("add", clear_on_submit=True):
        st.subheader("Add a document")
        text = st.text_area("Text")
        doc_id = st.text_input("Id (optional)")
        if st.form_submit_button("Add"):
            if not text.strip():
                st.error("The text is empty.")
            else:
                try:
                    ids = api().add(text.strip(), doc_id.strip() or None)
                    st.success(f"added {', '.join(ids)}")
                except ApiError as err:
                    st.error(str(err))


def delete_form() -> None:
    with st.form("delete", clear_on_submit=True):
        st.subheader("Delete a document")
        doc_id = st.text_input("Id")
        if st.form_submit_button("Delete"):
            try:
                api().delete(doc_id.strip())
                st.success(f"deleted {doc_id.strip()}")
            except ApiError as err:
                st.error(str(err))


def search_form() -> None:
    st.subheader("Search")
    with st.form("search"):
        query = st.text_input("Query")
        k = st.slider("Results", 1, 20, 5)
        submitted = st.form_submit_button("Search")
    if submitted and query.strip():
        try:
            hits = api().search(query.strip(), k)
        except ApiError as err:
            st.error(str(err))
            return
        if not hits:
            st.caption("No matches.")
        # Chroma's distance: smaller is closer.
        st.table([{"rank": i + 1, "distance": round(h.get("distance", float("nan")), 4), "id": h["id"],
                   "text": h["text"][:200]} for i, h in enumerate(hits)])


def main() -> None:
    st.title("stream-gen-ui admin")
    if not signed_in():
        return
    st.caption(f"API at {api().url}")
    feed()  # follow /events from the first page on
    live_part()
    st.divider()
    add_column, delete_column = st.columns(2)
    with add_column:
        add_form()
    with delete_column:
        delete_form()
    st.divider()
    search_form()


main()

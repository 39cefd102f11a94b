// An EventSource that keeps coming back, for /events and /stream behind a proxy.
//
// A browser's EventSource reconnects by itself, sending Last-Event-ID, when a stream ends or the
// server cannot be reached. It gives up for good when a reconnect gets an HTTP error instead: a
// proxy (nginx, a platform's edge) answers 502 or 503 while the app restarts, and the page never
// hears from the stream again. This opens a new EventSource then, after a backoff, and passes
// the last id it saw as ?last_event_id= (a script cannot set that header), which the example
// app reads like the header: the client resumes where it was. Tested in Chromium behind nginx
// (tests/engines/test_sse_clients.py).
//
//   const feed = openEvents("/events", ["ready", "added", "deleted", "reset", "shutdown"],
//                           (type, event) => console.log(type, JSON.parse(event.data)));
//   feed.close();
function openEvents(url, types, onEvent, options) {
  const minDelay = (options && options.minDelay) || 1000;
  const maxDelay = (options && options.maxDelay) || 30000;
  let lastEventId = (options && options.lastEventId) || "";
  let delay = minDelay;
  let source = null;
  let timer = null;
  let closed = false;

  function withId(base) {
    if (!lastEventId) return base;
    return base + (base.includes("?") ? "&" : "?") + "last_event_id=" + encodeURIComponent(lastEventId);
  }

  function connect() {
    source = new EventSource(withId(url));
    for (const type of types) {
      source.addEventListener(type, (event) => {
        if (event.lastEventId) lastEventId = event.lastEventId;
        delay = minDelay;
        onEvent(type, event);
      });
    }
    source.onerror = () => {
      // CONNECTING: the browser retries by itself, with Last-Event-ID. CLOSED: it gave up.
      if (closed || source.readyState !== EventSource.CLOSED) return;
      source.close();
      timer = setTimeout(connect, delay * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, maxDelay);
    };
  }

  connect();
  return {
    get lastEventId() { return lastEventId; },
    get source() { return source; },
    close() { closed = true; clearTimeout(timer); if (source) source.close(); },
  };
}

if (typeof module !== "undefined") module.exports = { openEvents };

"""When a page has gone quiet, so that a selector still absent is missing, not late.

``extract={...}`` waits inside the page for every selector. A field that is simply not on
the page (an optional badge, a second author, the last page's "next" link) used to cost
the whole ``wait`` (3 s by default) per row. A page is *quiet* when all of these hold:

* the document has loaded (``readyState == "complete"``);
* no ``fetch`` or ``XMLHttpRequest`` is in flight, and no response body is being read
  (``r.json()``, ``r.text()``...);
* no ``setTimeout`` is pending that falls due before the wait's end (a page that writes
  its field 150-1000 ms after load is still waited for);
* nothing in the DOM has changed (nodes added or removed, text edited), and no request
  has started or ended, for :data:`SETTLE_MS`.

Then a selector that still matches nothing is missing, and the row ends at once.

How the page is watched: :data:`QUIET_INIT_JS`, an init script the built-in extractors add
to their page once (it runs before the page's own scripts on every navigation). It counts
requests and timers by wrapping ``fetch``, ``XMLHttpRequest.prototype.send``,
``setTimeout`` and ``clearTimeout`` in ``Proxy`` objects (a proxy of a native function
still prints as native code), and watches the DOM with a ``MutationObserver`` from
``DOMContentLoaded`` on (the parser's own insertions are not changes to wait for); a
``<script src>`` the page inserts counts as a request until it has loaded. Counting
requests this way, rather than from Resource Timing entries, sees a request while it is in
flight (Resource Timing lists it only once it has ended). Not counted: ``setInterval`` and
``requestAnimationFrame`` loops (they never end: a page would never be quiet), and other
elements a script inserts (images, frames): their loads rarely write the fields read. A page
that keeps a short timer always pending (polling) is never quiet: it gets the whole wait,
as before.

Example:
    >>> "MutationObserver" in QUIET_INIT_JS and SETTLE_MS
    300
"""

from __future__ import annotations

__all__ = ["QUIET_INIT_JS", "SETTLE_MS", "SOON_SETTLE_MS"]

#: Milliseconds without a DOM change or a request starting or ending after which a loaded
#: page with nothing pending is quiet (the issue's range was 300-500 ms; requests, inserted
#: scripts and timers are counted, so the settle time only covers what they do not).
SETTLE_MS = 300
#: The settle for a field the page's section has at once or not at all
#: (:mod:`anchorframe._render.arrival`): long enough for what follows a request's end in the
#: same breath (a body parsed, a framework's render a task later), not for a new request.
SOON_SETTLE_MS = 100

QUIET_INIT_JS = """(() => {
  if (window.__afQuiet) return;
  const setT = window.setTimeout, clearT = window.clearTimeout;
  const q = { pending: 0, timers: new Map(), last: performance.now(),
              sleep: (ms) => new Promise((r) => setT(r, ms)) };
  Object.defineProperty(window, "__afQuiet", { value: q, enumerable: false });
  const touch = () => { q.last = performance.now(); };
  const ended = () => { q.pending--; touch(); };
  // A script a page inserts is a request too: pending until it has loaded (or failed).
  const loading = (node) => {
    if (node.nodeName !== "SCRIPT" || !node.src) return;
    q.pending++;
    node.addEventListener("load", ended, { once: true });
    node.addEventListener("error", ended, { once: true });
  };
  const observer = new MutationObserver((records) => {
    touch();
    for (const record of records) record.addedNodes.forEach(loading);
  });
  const observe = () => {
    touch();
    observer.observe(document, { subtree: true, childList: true, characterData: true });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", observe);
  else observe();
  window.addEventListener("load", touch);
  // Leaving: a script navigating away (location.href = ...), or a form sent.
  window.addEventListener("beforeunload", () => { q.leaving = true; });
  if (window.fetch) {
    window.fetch = new Proxy(window.fetch, { apply(target, self, args) {
      q.pending++; touch();
      const answer = Reflect.apply(target, self, args);
      answer.then(ended, ended);
      return answer;
    } });
  }
  // Reading a response's body is a request still in flight: fetch(u).then((r) => r.json()).
  if (window.Response) {
    for (const name of ["arrayBuffer", "blob", "formData", "json", "text"]) {
      const read = Response.prototype[name];
      if (typeof read !== "function") continue;
      Response.prototype[name] = new Proxy(read, { apply(target, self, args) {
        q.pending++; touch();
        const answer = Reflect.apply(target, self, args);
        answer.then(ended, ended);
        return answer;
      } });
    }
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = new Proxy(send, { apply(target, self, args) {
    q.pending++; touch();
    self.addEventListener("loadend", ended, { once: true });
    try { return Reflect.apply(target, self, args); }
    catch (error) { self.removeEventListener("loadend", ended); ended(); throw error; }
  } });
  window.setTimeout = new Proxy(setT, { apply(target, self, args) {
    const [callback, delay] = args;
    if (typeof callback !== "function") return Reflect.apply(target, self, args);
    let id;
    args[0] = function () { q.timers.delete(id); return callback.apply(this, arguments); };
    id = Reflect.apply(target, self, args);
    q.timers.set(id, performance.now() + (Number(delay) || 0));
    return id;
  } });
  window.clearTimeout = new Proxy(clearT, { apply(target, self, args) {
    q.timers.delete(args[0]);
    return Reflect.apply(target, self, args);
  } });
})()"""

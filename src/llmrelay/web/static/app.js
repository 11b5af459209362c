// The chat page: POST the prompt to /chat-stream and show the answer as it streams in.
//
// Why fetch() and a small event-stream reader rather than EventSource:
// - EventSource hides the HTTP status and body of a failed request, so a 422 ("message must not
//   be empty") or a 502 ("the provider failed") could only be explained by asking again, and
//   asking again may start a second generation. fetch() sees the status and `detail` of the one
//   request that was made.
// - EventSource can only GET, and a long prompt does not fit in a URL; the POST twin takes any.
// - What EventSource would add is its reconnect. It is a few lines here (below, `answer`): after a
//   dropped connection, send the same request again with `Last-Event-ID`, which makes the server
//   resume the same answer (never ask the model again); wait the server's `retry:` between tries;
//   give up after MAX_RECONNECTS failed tries in a row. Without an event id there is nothing to
//   resume, so the page does not retry at all: a retry would ask the model a second time.
// Ending a stream (on `end`, on the server's `event: error`, on Stop) aborts the request, and a
// closed connection is what stops the generation on the server.
// Model output only ever goes in through textContent: shown as text, never parsed as HTML.
"use strict";

const MAX_RECONNECTS = 3;
const DEFAULT_RETRY_MS = 1000;

const form = document.getElementById("form");
const input = document.getElementById("input");
const submitButton = document.getElementById("submitButton");
const stopButton = document.getElementById("stopButton");
const output = document.getElementById("output");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");

// A message for the person, after which the answer is over (no retry).
class ShownError extends Error {}

// ---- The event-stream format (the same rules EventSource follows) ----

const LINE_END = /\r\n|\r(?!$)|\n/g; // a CR at the very end may be half of a CRLF: wait for more

function eventStreamParser(onEvent, onRetry) {
  let buffer = "";
  let data = null; // the data lines of the event being read; null: none yet
  let type = "";
  let id = null; // the id field, if this event had one

  function dispatch() {
    if (data !== null || id !== null) {
      onEvent({ type: type || "message", data: data === null ? null : data.join("\n"), id });
    }
    data = null;
    type = "";
    id = null;
  }

  function line(text) {
    if (text === "") return dispatch();
    if (text.startsWith(":")) return; // a comment, e.g. the server's keep-alive ping
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1); // only the one space after the colon
    if (field === "data") (data ??= []).push(value);
    else if (field === "event") type = value;
    else if (field === "id" && !value.includes("\0")) id = value;
    else if (field === "retry" && /^\d+$/.test(value)) onRetry(Number(value));
  }

  return (chunk) => {
    buffer += chunk;
    let start = 0;
    LINE_END.lastIndex = 0;
    for (let m; (m = LINE_END.exec(buffer)) !== null; start = LINE_END.lastIndex) {
      line(buffer.slice(start, m.index));
    }
    buffer = buffer.slice(start);
  };
}

// ---- The page ----

let current = null; // the answer being streamed, or null

function setBusy(busy) {
  input.disabled = busy;
  submitButton.disabled = busy;
  stopButton.disabled = !busy;
  output.setAttribute("aria-busy", String(busy)); // screen readers read the answer when it is whole
}

function setStatus(text) {
  // Only real changes: a live region may announce every write, even of the same words.
  if (statusLine.textContent !== text) statusLine.textContent = text;
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

function finish(run, statusText) {
  if (current !== run) return;
  current = null;
  run.controller?.abort();
  clearTimeout(run.timer);
  setStatus(statusText);
  setBusy(false);
  input.focus();
}

async function detailOf(response) {
  const body = await response.json().catch(() => null);
  const detail = body?.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) return detail.map((d) => d?.msg ?? JSON.stringify(d)).join("; ");
  const reason = response.statusText ? ` ${response.statusText}` : "";
  return `The server answered ${response.status}${reason}.`;
}

function handleEvent(run, event) {
  if (run.ended) return; // e.g. the `end` that follows an `error`
  if (event.id !== null) run.lastEventId = event.id;
  if (event.data === null) return;
  if (event.type === "start") {
    setStatus("Answering…");
  } else if (event.type === "message") {
    run.failures = 0; // the stream moves again: a later drop gets its full set of retries
    setStatus("Answering…");
    output.textContent += event.data;
  } else if (event.type === "error") {
    // The answer failed after it started: the server says why, then ends the stream.
    run.ended = true;
    showError(event.data);
    finish(run, "The answer stopped because of an error.");
  } else if (event.type === "end") {
    run.ended = true;
    finish(run, "Done.");
  }
}

// One request. Resolves when the connection ends (run.ended says whether the answer did);
// throws ShownError for an answer the server refused, TypeError for a network failure.
async function connect(run, message) {
  run.controller = new AbortController();
  const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
  if (run.lastEventId) headers["Last-Event-ID"] = run.lastEventId;
  const response = await fetch("/chat-stream", {
    method: "POST",
    headers,
    body: JSON.stringify({ message }),
    cache: "no-store",
    signal: run.controller.signal,
  });
  run.reached = true;
  if (response.status === 204) {
    throw new ShownError("The server no longer has this answer (it restarted or forgot it). Please ask again.");
  }
  if (!response.ok) throw new ShownError(await detailOf(response));
  if (!(response.headers.get("Content-Type") ?? "").startsWith("text/event-stream")) {
    throw new ShownError("The server answered with something other than an event stream.");
  }
  const parse = eventStreamParser(
    (event) => handleEvent(run, event),
    (ms) => (run.retryMs = ms),
  );
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  while (!run.ended) {
    const { value, done } = await reader.read();
    if (done) return;
    parse(value);
  }
}

async function answer(message) {
  const run = {
    controller: null, // aborts the request in flight
    timer: 0, // the wait before a reconnect
    reached: false, // the server answered at least once
    ended: false, // `end` or `error` arrived: the answer is over
    lastEventId: "",
    retryMs: DEFAULT_RETRY_MS,
    failures: 0, // reconnects in a row that brought nothing
  };
  current = run;
  errorBox.hidden = true;
  output.textContent = "";
  setStatus("Waiting for the model…");
  setBusy(true);
  stopButton.focus();

  for (;;) {
    try {
      await connect(run, message);
    } catch (err) {
      if (current !== run) return; // Stop was pressed: the abort lands here
      if (err instanceof ShownError) {
        showError(err.message);
        return finish(run, "");
      }
      // Anything else is the network: a refused, reset or cut connection.
    }
    if (current !== run || run.ended) return;
    if (!run.lastEventId) {
      // Nothing arrived that names this answer, so a retry would start another one.
      showError(
        run.reached
          ? "The connection to the server was lost before the answer started."
          : "The server cannot be reached. Is llmrelay running?",
      );
      return finish(run, "");
    }
    if (run.failures >= MAX_RECONNECTS) {
      showError(`The connection to the server was lost; gave up after ${MAX_RECONNECTS} tries.`);
      return finish(run, "The answer is incomplete.");
    }
    run.failures += 1;
    setStatus(`Connection lost; resuming (try ${run.failures} of ${MAX_RECONNECTS})…`);
    await new Promise((resolve) => (run.timer = setTimeout(resolve, run.retryMs)));
    if (current !== run) return;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (current === null) answer(input.value);
});

// Enter sends, Shift+Enter starts a new line (and Enter while composing text is left alone).
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

function stop() {
  if (current !== null) finish(current, "Stopped.");
}

stopButton.addEventListener("click", stop);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") stop();
});

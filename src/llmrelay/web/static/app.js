// The chat page: one EventSource per answer, closed on `end`, on `error`, and on Stop.
"use strict";

const form = document.getElementById("form");
const input = document.getElementById("input");
const submitButton = document.getElementById("submitButton");
const stopButton = document.getElementById("stopButton");
const output = document.getElementById("output");
const statusLine = document.getElementById("status");
const errorLine = document.getElementById("error");

// A dropped connection is retried by EventSource itself (it resumes the same answer through
// Last-Event-ID); past this many tries in a row the page gives up instead of storming.
const MAX_RECONNECTS = 3;

let source = null;

function setBusy(busy) {
  input.disabled = busy;
  submitButton.disabled = busy;
  stopButton.disabled = !busy;
}

function showError(text) {
  errorLine.textContent = text;
  errorLine.hidden = false;
}

function finish(statusText) {
  if (source) {
    source.close();
    source = null;
  }
  statusLine.textContent = statusText;
  setBusy(false);
  input.focus();
}

async function explainFailure(message) {
  // EventSource hides the HTTP status of a failed request; ask again to read `detail`.
  try {
    const response = await fetch("/chat-stream", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      return body.detail || `The server answered ${response.status}.`;
    }
    response.body?.cancel();
  } catch (err) {
    return "The server cannot be reached.";
  }
  return "The connection to the server was lost.";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const message = input.value;
  if (!message.trim() || source) {
    return;
  }
  errorLine.hidden = true;
  output.textContent = "";
  statusLine.textContent = "Waiting for the model…";
  setBusy(true);

  let started = false;
  let reconnects = 0;
  const es = new EventSource(`/chat-stream?message=${encodeURIComponent(message)}`);
  source = es;

  es.addEventListener("start", () => {
    started = true;
    statusLine.textContent = "Streaming…";
  });
  es.onmessage = (e) => {
    reconnects = 0;
    output.textContent += e.data;
  };
  es.addEventListener("end", () => finish("Done."));
  es.addEventListener("error", async (e) => {
    if (source !== es) {
      return;
    }
    if (e instanceof MessageEvent) {
      // The server's own `event: error`: the answer failed after it started.
      showError(e.data);
      finish("Stopped by an error.");
      return;
    }
    if (es.readyState === EventSource.CONNECTING && started && reconnects < MAX_RECONNECTS) {
      reconnects += 1;
      statusLine.textContent = "Connection lost; resuming…";
      return;
    }
    finish("");
    showError(started ? "The connection to the server was lost." : await explainFailure(message));
  });
});

stopButton.addEventListener("click", () => {
  // Closing the stream is what stops the generation: the server sees the client leave.
  finish("Stopped.");
});

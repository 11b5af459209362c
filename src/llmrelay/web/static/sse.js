// The event-stream format, read from a fetch() response by the rules EventSource follows.
//
// Why not EventSource: it hides the HTTP status and body of a failed request (so a 422 or a 502
// could only be explained by asking again, which may start a second answer), and it can only GET.

const LINE_END = /\r\n|\r(?!$)|\n/g; // a CR at the very end may be half of a CRLF: wait for more

// A parser fed with text chunks; calls onEvent({type, data, id}) per event, onRetry(ms) per `retry:`.
export function eventStreamParser(onEvent, onRetry) {
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

// Reads `response`'s event stream until it ends or `isOver()` says the reader has had enough
// (whoever owns the request aborts it then). Rejects when the connection is cut or aborted.
export async function readEvents(response, { onEvent, onRetry, isOver }) {
  const parse = eventStreamParser(onEvent, onRetry);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  while (!isOver()) {
    const { value, done } = await reader.read();
    if (done) return;
    parse(value);
  }
}

// The tool calls an answer made, shown collapsed: one <details> per call, the function's name
// as its summary, its arguments inside, pretty-printed once they are whole JSON. Names and
// arguments are the model's words: they go in as text, never as HTML.
//
// While the answer streams, calls arrive in pieces (`tool_call` events: the first of call
// `index` names it, later ones carry fragments of its arguments); each call's <details> is made
// once and updated in place, so one the person opened stays open as it grows.

const views = new WeakMap(); // container -> Map(index -> {details, nameNode, pre, name, args})

function pretty(args) {
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args; // not (yet) whole JSON: as it arrived
  }
}

function callView(container, index) {
  let calls = views.get(container);
  if (!calls) views.set(container, (calls = new Map()));
  let call = calls.get(index);
  if (!call) {
    const details = document.createElement("details");
    details.className = "tool-call";
    const summary = document.createElement("summary");
    const label = document.createElement("span");
    label.className = "tool-label";
    label.textContent = "Tool call";
    const name = document.createElement("code");
    summary.append(label, " ", name);
    const pre = document.createElement("pre");
    details.append(summary, pre);
    container.append(details);
    container.hidden = false;
    call = { details, nameNode: name, pre, name: "", args: "" };
    calls.set(index, call);
  }
  return call;
}

function draw(call) {
  call.nameNode.textContent = call.name || "…";
  call.pre.textContent = pretty(call.args);
}

// One streamed piece: {index, id, name, arguments}.
export function addToolCallPiece(container, piece) {
  const call = callView(container, piece.index ?? 0);
  if (piece.name) call.name = piece.name;
  if (piece.arguments) call.args += piece.arguments;
  draw(call);
}

// The stored calls of an answer: [{id, name, arguments}]. Calls already shown (streamed) are
// updated in place: one the person opened stays open.
export function showToolCalls(container, calls) {
  if (!calls?.length) return clearToolCalls(container);
  const shown = views.get(container) ?? new Map();
  for (const [index, call] of shown) {
    if (index < calls.length) continue;
    call.details.remove();
    shown.delete(index);
  }
  calls.forEach((stored, index) => {
    const call = callView(container, index);
    call.name = stored.name;
    call.args = stored.arguments;
    draw(call);
  });
}

export function clearToolCalls(container) {
  views.delete(container);
  container.replaceChildren();
  container.hidden = true;
}

// What the model showed of its reasoning (`reasoning` events), above its answer: one <details>,
// collapsed, its summary "Thinking…" while reasoning arrives and "Thought for N s" once the
// answer moved on (text, a tool call, or the end). The text grows in place, so a disclosure the
// person opened stays open, and a selection in it stays put.
//
// The reasoning is the model's scratch work, not its answer: it is text (never HTML, and not
// rendered as markdown: it is shown as written), outside the answer's body, so neither Copy nor
// the answer's markdown ever sees it. It is not stored with the conversation: a stored answer,
// opened again, has none, and the disclosure stays hidden.

const texts = new WeakMap(); // disclosure -> the one Text node its reasoning grows in

// An answer's disclosure, hidden until there is reasoning to show.
export function reasoningDisclosure() {
  const details = document.createElement("details");
  details.className = "reasoning";
  details.hidden = true;
  // A group named for what it holds; the summary (a native disclosure button: Enter and Space
  // open and close it, and it tells a screen reader whether it is open) says how it stands.
  details.setAttribute("aria-label", "Reasoning");
  const summary = document.createElement("summary");
  const label = document.createElement("span");
  label.className = "reasoning-label";
  summary.append(label);
  const text = document.createElement("div");
  text.className = "reasoning-text";
  details.append(summary, text);
  return details;
}

const labelOf = (details) => details.querySelector(".reasoning-label");

// More reasoning: shown, and the summary says the model is thinking (again).
export function addReasoning(details, text) {
  let node = texts.get(details);
  if (!node) {
    node = document.createTextNode("");
    details.querySelector(".reasoning-text").replaceChildren(node);
    texts.set(details, node);
  }
  node.appendData(text); // text, never HTML
  details.hidden = false;
  details.dataset.state = "thinking";
  const label = labelOf(details);
  if (label.textContent !== "Thinking…") label.textContent = "Thinking…";
}

function took(ms) {
  const seconds = Math.round(ms / 1000);
  return seconds < 1 ? "Thought for less than 1 s" : `Thought for ${seconds} s`;
}

// The answer moved on: the summary says for how long the model thought, or, when the page did
// not see the reasoning arrive (`ms` null: it joined a running answer, whose earlier reasoning
// came again all at once), only that this is its reasoning.
export function endReasoning(details, ms) {
  if (details.hidden) return;
  details.dataset.state = "done";
  labelOf(details).textContent = ms === null ? "Reasoning" : took(ms);
}

// No reasoning (an answer starting again from its first event); closed for the next one.
export function clearReasoning(details) {
  texts.delete(details);
  details.querySelector(".reasoning-text").replaceChildren();
  labelOf(details).textContent = "";
  delete details.dataset.state;
  details.open = false;
  details.hidden = true;
}

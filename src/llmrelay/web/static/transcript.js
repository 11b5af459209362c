// The transcript: one <article> per message.
//
// What goes in as what: the user's words and an answer that is still streaming go in through
// textContent (text, never HTML). A finished answer goes in as the `html` the server sends with
// the stored message: its markdown rendered by llmrelay and sanitised there (nh3, an allow-list of
// tags and attributes), which is the one thing this page ever puts into innerHTML.

const transcript = document.getElementById("transcript");
const emptyNote = document.getElementById("emptyNote");

const NOTES = {
  cancelled: "Stopped.",
  interrupted: "Interrupted: the server stopped while writing this answer.",
};

// Keeps the newest words in view, unless the person scrolled up to read something older.
function keepingBottom(change) {
  const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 48;
  change();
  if (atBottom) transcript.scrollTop = transcript.scrollHeight;
}

function messageNode(role, author, id) {
  const node = document.createElement("article");
  node.className = `message ${role}`;
  if (id) node.dataset.id = id;
  const heading = document.createElement("h3");
  heading.className = "author";
  heading.textContent = author;
  const body = document.createElement("div");
  body.className = "body plain";
  node.append(heading, body);
  if (role === "assistant") {
    const note = document.createElement("p"); // why an answer stopped early, if it did
    note.className = "note";
    note.hidden = true;
    node.append(note);
  }
  return node;
}

const bodyOf = (node) => node.querySelector(".body");

function add(node) {
  keepingBottom(() => {
    emptyNote.hidden = true;
    transcript.append(node);
  });
  return node;
}

export function removeMessage(node) {
  node.remove();
  emptyNote.hidden = transcript.querySelector("article.message") !== null;
}

// Empty; `loading`: a conversation's messages are on their way (no "ask anything" meanwhile).
export function clearTranscript({ loading = false } = {}) {
  transcript.replaceChildren(emptyNote);
  emptyNote.hidden = loading;
  transcript.setAttribute("aria-busy", String(loading));
}

export function findMessage(id) {
  return [...transcript.querySelectorAll("article.message")].find((n) => n.dataset.id === id) ?? null;
}

export function addUserMessage(text, id = null) {
  const node = messageNode("user", "You", id);
  bodyOf(node).textContent = text;
  return add(node);
}

// An answer being written: empty, busy (a screen reader reads it once it is whole).
export function addStreamingAnswer(model, id = null) {
  const node = messageNode("assistant", model || "Answer", id);
  node.setAttribute("aria-busy", "true");
  return add(node);
}

export function setAnswerModel(node, model) {
  if (model) node.querySelector(".author").textContent = model;
}

export function appendText(node, text) {
  keepingBottom(() => bodyOf(node).append(text)); // a text node: never parsed as HTML
}

export function textOf(node) {
  return bodyOf(node).textContent;
}

export function setNote(node, text) {
  const note = node.querySelector(".note");
  note.textContent = text;
  note.hidden = !text;
}

// Shows a stored answer as it was kept: its rendered markdown, and why it stopped early.
export function showStoredAnswer(node, message) {
  keepingBottom(() => {
    node.dataset.id = message.id;
    setAnswerModel(node, message.model);
    const body = bodyOf(node);
    if (message.status === "streaming") {
      body.textContent = message.content; // still being written: text until it is whole
    } else {
      body.className = "body markdown";
      body.innerHTML = message.html ?? ""; // sanitised by the server (see the top of this file)
      for (const link of body.querySelectorAll("a[href]")) link.target = "_blank"; // keep the chat open
    }
    node.setAttribute("aria-busy", String(message.status === "streaming"));
    const failed = message.status === "error" ? `This answer failed: ${message.error || "unknown error"}` : "";
    setNote(node, failed || NOTES[message.status] || "");
  });
}

// A whole conversation, as stored. Returns the node of an answer still being written, if any.
export function showConversation(messages) {
  clearTranscript();
  let streaming = null;
  for (const message of messages) {
    if (message.role === "user") {
      addUserMessage(message.content, message.id);
    } else if (message.role === "assistant") {
      const node = addStreamingAnswer(message.model, message.id);
      showStoredAnswer(node, message);
      if (message.status === "streaming") streaming = node;
    }
  }
  transcript.scrollTop = transcript.scrollHeight;
  return streaming;
}

// The transcript: one <article> per message.
//
// What goes in as what: the user's words go in through textContent (text, never HTML), their
// images as <img> of the data URLs they attached. An answer is markdown, rendered and sanitised
// by the server, as it streams and once whole (markdown.js); the calls it made are text inside
// <details> (toolcalls.js). Each answer has a Copy button (its markdown), and the last one a
// Regenerate button when the page offers it (`offerRegenerate`).

import { answerCopyButton } from "./copy.js";
import { liveMarkdown, showHtml } from "./markdown.js";
import { addToolCallPiece, showToolCalls } from "./toolcalls.js";

const transcript = document.getElementById("transcript");
const emptyNote = document.getElementById("emptyNote");

const NOTES = {
  cancelled: "Stopped.",
  interrupted: "Interrupted: the server stopped while writing this answer.",
};

const lives = new WeakMap(); // answer node -> its liveMarkdown while it is being written
const stored = new WeakMap(); // answer node -> its markdown, once stored

// Keeps the newest words in view, unless the person scrolled up to read something older.
function keepingBottom(change) {
  const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 48;
  change();
  if (atBottom) transcript.scrollTop = transcript.scrollHeight;
}

function part(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

function messageNode(role, author, id) {
  const node = part("article", `message ${role}`);
  if (id) node.dataset.id = id;
  const heading = part("h3", "author");
  heading.textContent = author;
  node.append(heading);
  if (role === "user") {
    node.append(part("div", "body plain"), part("div", "images"));
    return node;
  }
  const calls = part("div", "tool-calls");
  calls.hidden = true;
  const note = part("p", "note"); // why an answer stopped early, if it did
  note.hidden = true;
  const actions = part("div", "answer-actions");
  const regenerate = part("button", "regenerate");
  regenerate.type = "button";
  regenerate.textContent = "Regenerate";
  regenerate.hidden = true;
  actions.append(answerCopyButton(() => answerText(node)), regenerate);
  node.append(part("div", "body markdown"), calls, note, actions);
  return node;
}

const bodyOf = (node) => node.querySelector(".body");
const callsOf = (node) => node.querySelector(".tool-calls");

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

export function addUserMessage(text, images = [], id = null) {
  const node = messageNode("user", "You", id);
  bodyOf(node).textContent = text;
  const shown = node.querySelector(".images");
  images.forEach((url, i) => {
    const image = document.createElement("img");
    image.src = url; // a data URL the person attached (the server takes no other kind)
    image.alt = `Attached image ${i + 1}`;
    image.className = "thumbnail";
    shown.append(image);
  });
  shown.hidden = images.length === 0;
  return add(node);
}

// An answer being written: empty, busy (a screen reader reads it once it is whole).
export function addStreamingAnswer(model, id = null) {
  const node = messageNode("assistant", model || "Answer", id);
  node.setAttribute("aria-busy", "true");
  startLive(node, "");
  return add(node);
}

function startLive(node, text) {
  lives.get(node)?.stop();
  lives.set(node, liveMarkdown(bodyOf(node), keepingBottom, text));
}

export function setAnswerModel(node, model) {
  if (model) node.querySelector(".author").textContent = model;
}

export function appendText(node, text) {
  lives.get(node)?.append(text);
}

export function addToolCall(node, piece) {
  keepingBottom(() => addToolCallPiece(callsOf(node), piece));
}

// The answer's markdown as the model wrote it (what Copy copies).
export function answerText(node) {
  return lives.get(node)?.text() ?? stored.get(node) ?? "";
}

export function setNote(node, text) {
  const note = node.querySelector(".note");
  note.textContent = text;
  note.hidden = !text;
}

// Shows a stored answer as it was kept: its rendered markdown, its calls, why it stopped early.
// One still being written (`status` streaming) starts again from `content`.
export function showStoredAnswer(node, message) {
  keepingBottom(() => {
    node.dataset.id = message.id;
    setAnswerModel(node, message.model);
    if (message.status === "streaming") {
      startLive(node, message.content);
    } else {
      lives.get(node)?.stop();
      lives.delete(node);
      stored.set(node, message.content);
      showHtml(bodyOf(node), message.html);
    }
    showToolCalls(callsOf(node), message.tool_calls);
    node.setAttribute("aria-busy", String(message.status === "streaming"));
    const failed = message.status === "error" ? `This answer failed: ${message.error || "unknown error"}` : "";
    setNote(node, failed || NOTES[message.status] || "");
  });
}

// The Regenerate button on the last answer, when `enabled` and that answer is over; no other.
export function offerRegenerate(enabled) {
  const messages = transcript.querySelectorAll("article.message");
  const last = messages[messages.length - 1];
  for (const button of transcript.querySelectorAll("button.regenerate")) button.hidden = true;
  if (enabled && last?.classList.contains("assistant") && last.getAttribute("aria-busy") !== "true") {
    last.querySelector("button.regenerate").hidden = false;
  }
}

// A whole conversation, as stored. Returns the node of an answer still being written, if any.
export function showConversation(messages) {
  clearTranscript();
  let streaming = null;
  for (const message of messages) {
    if (message.role === "user") {
      addUserMessage(message.content, message.images ?? [], message.id);
    } else if (message.role === "assistant") {
      const node = addStreamingAnswer(message.model, message.id);
      showStoredAnswer(node, message);
      if (message.status === "streaming") streaming = node;
    }
  }
  transcript.scrollTop = transcript.scrollHeight;
  return streaming;
}

// The transcript: one <article> per message.
//
// What goes in as what: the user's words go in through textContent (text, never HTML), their
// images as <img> of the data URLs they attached. An answer is markdown, rendered and sanitised
// by the server, as it streams and once whole (markdown.js); the calls it made are text inside
// <details> (toolcalls.js); the reasoning it showed is text in a <details> above it
// (reasoning.js), and a refusal text in a notice of its own after it. Each answer has a Copy
// button (its markdown: neither its reasoning nor a refusal), and the last one a Regenerate
// button when the page offers it (`offerRegenerate`).

import { answerCopyButton } from "./copy.js";
import { liveMarkdown, showHtml } from "./markdown.js";
import { addReasoning, clearReasoning, endReasoning, reasoningDisclosure } from "./reasoning.js";
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
  node.append(reasoningDisclosure(), part("div", "body markdown"), refusalNotice(), calls, note, actions);
  return node;
}

// The model declining, in its words: apart from the answer, so it never reads as one.
function refusalNotice() {
  const notice = part("div", "refusal");
  notice.hidden = true;
  const label = part("p", "refusal-label");
  label.textContent = "The model declined:";
  notice.append(label, part("p", "refusal-text"));
  return notice;
}

const bodyOf = (node) => node.querySelector(".body");
const callsOf = (node) => node.querySelector(".tool-calls");
const reasoningOf = (node) => node.querySelector("details.reasoning");

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

export function appendReasoning(node, text) {
  keepingBottom(() => addReasoning(reasoningOf(node), text));
}

// The reasoning is over; `ms`: how long it took (null: not known).
export function endThinking(node, ms) {
  endReasoning(reasoningOf(node), ms);
}

const refusalText = (node) => node.querySelector(".refusal-text").textContent;

function setRefusal(node, text) {
  node.querySelector(".refusal-text").textContent = text; // the model's words: text, never HTML
  node.querySelector(".refusal").hidden = !text;
}

export function appendRefusal(node, text) {
  keepingBottom(() => setRefusal(node, refusalText(node) + text));
}

// The answer's markdown as the model wrote it (what Copy copies); an answer that is only a
// refusal, the refusal.
export function answerText(node) {
  return (lives.get(node)?.text() ?? stored.get(node) ?? "") || refusalText(node);
}

export function setNote(node, text) {
  const note = node.querySelector(".note");
  note.textContent = text;
  note.hidden = !text;
}

// Shows a stored answer as it was kept: its rendered markdown, its calls, why it stopped early;
// `message.refusal`, when the page saw which end of `content` was a refusal (the store keeps it
// after the text), in the refusal notice. One still being written (`status` streaming) starts
// again from `content`, with no reasoning (the caller adds what it has); a finished one keeps
// the reasoning shown while it streamed (the store has none to show).
export function showStoredAnswer(node, message) {
  keepingBottom(() => {
    node.dataset.id = message.id;
    setAnswerModel(node, message.model);
    setRefusal(node, message.refusal ?? "");
    if (message.status === "streaming") {
      clearReasoning(reasoningOf(node));
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

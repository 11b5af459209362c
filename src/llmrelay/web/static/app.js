// The chat page: conversations in the sidebar, the open one in the transcript, its answer
// streaming in. The open conversation lives in the URL (`/?c=conv_…`), so a reload, the back
// button or a bookmark comes back to it; an answer still being written continues live.
//
// An answer keeps being followed when the person opens another conversation (off screen, so
// the server keeps generating it), and comes back on screen if they return to it before it ends.
//
// When keys are in force and the API answers 401, the key form asks for one (keyform.js); once
// it is saved, what failed for want of it is done again: the list read, the conversation opened.
// A message is never sent again by itself (that could ask the model twice): it waits in the box.
//
// The model picker (models.js) says which model a message or a Regenerate goes to, and whether
// images may be attached (attach.js). Regenerate is offered on the last answer while nothing is
// being answered on screen.

import * as answers from "./answer.js";
import { getConversation, isKeyError } from "./api.js";
import { setUpAttachments } from "./attach.js";
import { setUpKeyForm } from "./keyform.js";
import { createModelPicker } from "./models.js";
import { createConversationList, setUpConversationActions, urlOf } from "./sidebar.js";
import * as view from "./transcript.js";

const form = document.getElementById("form");
const input = document.getElementById("input");
const submitButton = document.getElementById("submitButton");
const stopButton = document.getElementById("stopButton");
const statusLine = document.getElementById("status");
const errorBox = document.getElementById("error");
const actions = document.getElementById("conversationActions");
const newChatButton = document.getElementById("newChatButton");
const transcriptBox = document.getElementById("transcript");

let openId = null; // the conversation on screen; null: a new chat
let current = null; // the answer on screen while it is being written, or null
const following = new Set(); // every answer being followed, on screen or not
let opening = 0; // only the newest open request is shown
let awaitingKey = null; // the conversation that could not be opened without a key

// "idle": ready for a message; "loading": a conversation is being read; "answering": Stop works.
function setForm(state) {
  input.disabled = state !== "idle";
  submitButton.disabled = state !== "idle";
  stopButton.disabled = state !== "answering";
  attachments.setDisabled(state !== "idle");
  view.offerRegenerate(state === "idle");
}

function setStatus(text) {
  // Only real changes: a live region may announce every write, even of the same words.
  if (statusLine.textContent !== text) statusLine.textContent = text;
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

function hideError() {
  errorBox.hidden = true;
  errorBox.textContent = "";
}

const attachments = setUpAttachments(setStatus);
const picker = createModelPicker((model) => attachments.allow(model?.sees_images ?? false, model?.name));

const conversations = createConversationList((id) => openConversation(id, { push: true }));

const conversationChanged = setUpConversationActions({
  openId: () => openId,
  onRenamed: () => conversations.refresh(),
  onDeleted: (id) => {
    if (openId === id) newChat({ push: true });
    conversations.refresh();
  },
  showError,
});

// ---- What the answers tell the page ----

const hooks = {
  status(run, text) {
    if (run === current) setStatus(text);
  },
  error(run, text) {
    if (run === current) showError(text);
  },
  started(run) {
    if (run === current && openId === null) {
      // A new conversation got its id: put it in the URL, so a reload comes back to it.
      setOpen(run.conversationId);
      history.replaceState(null, "", urlOf(run.conversationId));
    }
    if (run === current && !run.replaces) {
      input.value = "";
      attachments.clear(); // sent with the message: the server has them now
    }
    conversations.refresh();
  },
  finished(run, outcome, statusText) {
    following.delete(run);
    if (outcome === "failed" && run === current && openId === null) {
      // The model failed before answering, but the new conversation was stored: open it.
      setOpen(run.conversationId);
      history.replaceState(null, "", urlOf(run.conversationId));
    }
    conversations.refresh();
    if (run !== current) return;
    current = null;
    setStatus(statusText);
    setForm("idle");
    if (run.replaces && (outcome === "stopped" || outcome === "lost") && openId === run.conversationId) {
      // Cut short before the page saw the new answer whole: show what the server kept.
      openConversation(openId);
      return;
    }
    // Back to the message box, unless the person has gone on to something else meanwhile
    // (selecting words of an answer, say: focusing the box would take the selection away).
    const focused = document.activeElement;
    const selecting = !(document.getSelection()?.isCollapsed ?? true);
    if (!selecting && (focused === null || focused === document.body || focused === stopButton)) input.focus();
  },
};

// ---- Opening conversations ----

function setOpen(id) {
  openId = id;
  conversations.markOpen(id);
  conversationChanged();
  actions.hidden = id === null;
}

// Takes the answer on screen off it (it goes on being followed until it ends).
function leaveCurrent() {
  if (current === null) return;
  answers.show(current, null);
  current = null;
  setForm("idle");
  setStatus("");
}

function newChat({ push }) {
  opening += 1;
  awaitingKey = null;
  leaveCurrent();
  hideError();
  setOpen(null);
  setForm("idle");
  view.clearTranscript();
  if (push && location.search !== "") history.pushState(null, "", urlOf(null));
  input.focus();
}

async function openConversation(id, { push = false } = {}) {
  const mine = ++opening;
  awaitingKey = null;
  leaveCurrent();
  hideError();
  setOpen(id);
  if (push) history.pushState(null, "", urlOf(id));
  setForm("loading"); // a message sent now would be wiped by the history arriving
  view.clearTranscript({ loading: true }); // not the last conversation's words under this title
  let conversation;
  try {
    conversation = await getConversation(id);
  } catch (err) {
    if (mine !== opening) return;
    view.clearTranscript();
    if (isKeyError(err)) {
      // Stays this conversation's page (and URL); the key form asks, and Save opens it.
      awaitingKey = id;
      actions.hidden = true; // nothing to rename or delete until it can be read
      setForm("idle");
      return;
    }
    setOpen(null);
    history.replaceState(null, "", urlOf(null));
    setForm("idle");
    showError(err.message);
    return;
  }
  if (mine !== opening) return;
  conversations.remember(id, conversation.title);
  picker.select(conversation.model); // the model its latest answer came from
  const streaming = view.showConversation(conversation.messages);
  if (streaming) {
    followOnScreen(streaming, id);
  } else {
    setForm("idle");
    setStatus("");
  }
}

// An answer still being written, on screen: the one already followed, or attach to it.
function followOnScreen(node, conversationId) {
  const messageId = node.dataset.id;
  let run = [...following].find((r) => r.messageId === messageId);
  if (run) {
    answers.show(run, node);
  } else {
    run = answers.attach(messageId, conversationId, node, hooks);
    following.add(run);
  }
  current = run;
  setForm("answering");
  setStatus("Answering…");
}

function openFromUrl() {
  const id = new URLSearchParams(location.search).get("c");
  if (id) openConversation(id);
  else newChat({ push: false });
}

// ---- The form ----

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (current !== null) return;
  hideError();
  const images = picker.seesImages() ? attachments.list() : [];
  current = answers.send({ message: input.value, conversationId: openId, model: picker.selected(), images }, hooks);
  following.add(current);
  setForm("answering");
  setStatus("Waiting for the model…");
  stopButton.focus();
});

// Regenerate, on the last answer: the same question answered again by the model selected now.
transcriptBox.addEventListener("click", (event) => {
  const button = event.target.closest("button.regenerate");
  if (!button || current !== null || openId === null) return;
  hideError();
  current = answers.regenerate(button.closest("article.message"), openId, picker.selected(), hooks);
  following.add(current);
  setForm("answering");
  setStatus("Waiting for the model…");
  stopButton.focus();
});

// Enter sends, Shift+Enter starts a new line (and Enter while composing text is left alone).
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

function stop() {
  if (current === null) return;
  stopButton.disabled = true; // one Stop is enough; the form comes back when it is done
  answers.stop(current);
}

stopButton.addEventListener("click", stop);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") stop();
});

newChatButton.addEventListener("click", () => newChat({ push: true }));
window.addEventListener("popstate", openFromUrl);

// ---- The API key ----

setUpKeyForm({
  onSaved() {
    conversations.refresh();
    picker.load();
    if (awaitingKey !== null && awaitingKey === openId) {
      openConversation(awaitingKey);
      return;
    }
    if (current === null) {
      if (input.value.trim()) setStatus("Key saved: send your message again.");
      input.focus();
    }
  },
  onForgotten() {
    // Read again without the key: where keys are in force the form comes back at once, and
    // what the key unlocked leaves the screen (a shared computer).
    conversations.refresh();
    if (current !== null) return;
    if (openId !== null) openConversation(openId);
    else input.focus();
  },
});

conversations.refresh();
picker.load();
openFromUrl();

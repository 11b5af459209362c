// The API key form. The page and its files are open, but once keys are in force (LLMRELAY_API_KEYS,
// `llmrelay keys create`) the API answers 401 without one. Then this form asks for the key, with the
// server's own words (a missing key, or a wrong one); Save keeps it (keys.js) and calls `onSaved`,
// which retries what failed. On a server without keys no request gets a 401: the form never shows.
//
// What the person sees of the key: a password field, and a line saying where it is kept, with
// "Forget key" (shown while a key is saved, also when the form is not).

import { whenKeyRefused } from "./api.js";
import { forgetKey, keyProblem, saveKey, savedKey } from "./keys.js";

const panel = document.getElementById("keyPanel");
const form = document.getElementById("keyForm");
const detail = document.getElementById("keyDetail");
const input = document.getElementById("keyInput");
const noteText = document.getElementById("keyNoteText");
const forgetButton = document.getElementById("forgetKeyButton");

const ASKING_NOTE = "Saved in this browser (localStorage), and sent only in the Authorization header.";
const SAVED_NOTE = "An API key is saved in this browser (localStorage).";
const UNSTORED_NOTE = "This browser would not store the key: it is kept until this page closes.";

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text; // a live region: only real changes
}

// onSaved(): a new key is saved, retry; onForgotten(): the key is gone (the server may want one).
export function setUpKeyForm({ onSaved, onForgotten }) {
  let stored = true; // false once the browser refused to keep a key

  function render() {
    const hasKey = savedKey() !== "";
    panel.hidden = form.hidden && !hasKey;
    forgetButton.hidden = !hasKey;
    setText(noteText, !form.hidden ? ASKING_NOTE : stored ? SAVED_NOTE : UNSTORED_NOTE);
  }

  function ask(text) {
    const appearing = form.hidden;
    setText(detail, text);
    form.hidden = false;
    render();
    if (appearing) input.focus(); // nothing else on the page works without it
  }

  whenKeyRefused((text, keyThen) => {
    // A request sent with an older key than the one saved since: the retry will tell.
    if (keyThen === savedKey()) ask(text);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    const problem = keyProblem(key);
    if (problem) {
      setText(detail, problem);
      input.focus();
      return;
    }
    stored = saveKey(key);
    input.value = "";
    form.hidden = true;
    render();
    onSaved();
  });

  forgetButton.addEventListener("click", () => {
    forgetKey();
    stored = true;
    input.value = "";
    render();
    onForgotten();
  });

  render();
}

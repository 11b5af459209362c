// The list of conversations, and the open conversation's title with Rename and Delete.
// Titles are the user's own words (the first message, or what they renamed it to): textContent.

import { deleteConversation, isKeyError, listConversations, renameConversation } from "./api.js";

const list = document.getElementById("conversationList");
const listNote = document.getElementById("listNote");
const title = document.getElementById("conversationTitle");
const actions = document.getElementById("conversationActions");
const renameButton = document.getElementById("renameButton");
const deleteButton = document.getElementById("deleteButton");
const renameForm = document.getElementById("renameForm");
const renameInput = document.getElementById("renameInput");
const renameCancelButton = document.getElementById("renameCancelButton");

export const NEW_CHAT_TITLE = "New chat";

export const urlOf = (id) => (id ? `/?c=${encodeURIComponent(id)}` : "/");

// The list. `onOpen(id)` is called for a plain click; a middle or modified click opens a tab.
export function createConversationList(onOpen) {
  let titles = new Map();
  let openId = null;
  let refreshing = 0;

  function markOpen(id) {
    openId = id;
    for (const link of list.querySelectorAll("a")) {
      if (link.dataset.id === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    showTitle();
  }

  function showTitle() {
    if (renameForm.hidden) title.textContent = (openId && titles.get(openId)) || NEW_CHAT_TITLE;
  }

  function render(conversations) {
    titles = new Map(conversations.map((c) => [c.id, c.title]));
    const items = conversations.map((c) => {
      const link = document.createElement("a");
      link.href = urlOf(c.id);
      link.dataset.id = c.id;
      link.textContent = c.title;
      link.title = `${c.title}\nLast message: ${new Date(c.updated_at).toLocaleString()}`;
      link.addEventListener("click", (event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        onOpen(c.id);
      });
      const item = document.createElement("li");
      item.append(link);
      return item;
    });
    list.replaceChildren(...items);
    listNote.textContent = conversations.length ? "" : "No conversations yet.";
    markOpen(openId);
  }

  async function refresh() {
    const mine = ++refreshing; // only the newest answer is shown
    try {
      const conversations = await listConversations();
      if (mine === refreshing) render(conversations);
    } catch (err) {
      // Not the page's alert: that one belongs to the answer. Say it here, quietly.
      if (mine !== refreshing) return;
      if (isKeyError(err)) {
        // Not shown to whoever has no key (one forgotten, or revoked).
        titles = new Map();
        list.replaceChildren();
        showTitle();
        listNote.textContent = "The conversations are listed once the API key is saved.";
      } else {
        listNote.textContent = `Could not load the conversations: ${err.message}`;
      }
    }
  }

  // A conversation's title as just read (it may be older than the ones the list holds).
  function remember(id, conversationTitle) {
    titles.set(id, conversationTitle);
    showTitle();
  }

  return { refresh, markOpen, remember };
}

// Rename and Delete for the open conversation. `openId()` says which one that is.
export function setUpConversationActions({ openId, onRenamed, onDeleted, showError }) {
  function closeRename() {
    renameForm.hidden = true;
    title.hidden = false;
    actions.hidden = !openId();
  }

  renameButton.addEventListener("click", () => {
    renameInput.value = title.textContent;
    title.hidden = true;
    actions.hidden = true;
    renameForm.hidden = false;
    renameInput.focus();
    renameInput.select();
  });

  renameCancelButton.addEventListener("click", () => {
    closeRename();
    renameButton.focus();
  });

  renameInput.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.stopPropagation(); // Esc here cancels the rename, not the answer
    closeRename();
    renameButton.focus();
  });

  renameForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = openId();
    const newTitle = renameInput.value.trim();
    if (!id || !newTitle) return;
    try {
      await renameConversation(id, newTitle);
    } catch (err) {
      if (!isKeyError(err)) showError(err.message); // else the key form asks for one
      return;
    }
    title.textContent = newTitle;
    closeRename();
    renameButton.focus();
    onRenamed(id);
  });

  deleteButton.addEventListener("click", async () => {
    const id = openId();
    if (!id) return;
    if (!window.confirm(`Delete “${title.textContent}” and all its messages? This cannot be undone.`)) return;
    try {
      await deleteConversation(id);
    } catch (err) {
      if (!isKeyError(err)) showError(err.message); // else the key form asks for one
      return;
    }
    onDeleted(id);
  });

  // Shows the actions that fit: none for a new chat, which has nothing to rename or delete yet.
  return function conversationChanged() {
    closeRename();
  };
}

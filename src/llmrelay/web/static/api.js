// llmrelay's HTTP API as the page uses it: JSON requests, and event streams opened with fetch().
// Every request carries the saved API key, if there is one (see keys.js); a 401 tells whoever
// asked with `whenKeyRefused` (the key form), then fails like any other refusal.

import { authorizationFor, keyProblem, savedKey } from "./keys.js";

export const UNREACHABLE = "The server cannot be reached. Is llmrelay running?";

// A message for the person (the server's `detail`, or what went wrong); `status` when it had one,
// and the body's other fields (`conversation_id`… of a failed answer that was stored).
export class ShownError extends Error {
  constructor(message, status = 0, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// The server wants a (different) API key: the key form says so, not the page's alert.
export const isKeyError = (err) => err instanceof ShownError && err.status === 401;

let keyRefused = () => {};

// `listener(detail, savedKey)` is called on every 401, with the key saved when the request went.
export function whenKeyRefused(listener) {
  keyRefused = listener;
}

async function refusal(response, keyThen) {
  const body = await response.json().catch(() => null);
  const detail = body?.detail;
  let message;
  if (typeof detail === "string" && detail) message = detail;
  else if (Array.isArray(detail)) message = detail.map((d) => d?.msg ?? JSON.stringify(d)).join("; ");
  else message = `The server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}.`;
  if (response.status === 401) keyRefused(message, keyThen);
  // Over a key's limit: the detail names the limit and when it resets; say when to retry.
  const wait = response.status === 429 ? response.headers.get("Retry-After") : null;
  if (wait) message += ` Try again in ${wait} s.`;
  return new ShownError(message, response.status, body && typeof body === "object" ? body : null);
}

// fetch() with the saved key; rejects with ShownError when the server refused.
async function send(url, init) {
  const saved = savedKey();
  const key = keyProblem(saved) ? "" : saved; // one fetch() cannot send is left out: "missing key"
  const response = await fetch(url, { ...init, headers: { ...init.headers, ...authorizationFor(key) } });
  if (!response.ok) throw await refusal(response, saved);
  return response;
}

async function requestJSON(method, url, body) {
  const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await send(url, init);
  } catch (err) {
    if (err instanceof ShownError) throw err;
    throw new ShownError(UNREACHABLE);
  }
  return response.status === 204 ? null : response.json();
}

const conversationUrl = (id) => `/api/conversations/${encodeURIComponent(id)}`;
const messageUrl = (id, what) => `/api/messages/${encodeURIComponent(id)}/${what}`;

export const listModels = () => requestJSON("GET", "/api/models");
export const listConversations = () => requestJSON("GET", "/api/conversations?limit=100");
export const getConversation = (id) => requestJSON("GET", conversationUrl(id));
export const renameConversation = (id, title) => requestJSON("PATCH", conversationUrl(id), { title });
export const deleteConversation = (id) => requestJSON("DELETE", conversationUrl(id));
// Stops the answer now and resolves once the server has recorded it (the stream then ends too).
export const cancelAnswer = (messageId) => requestJSON("POST", messageUrl(messageId, "cancel"));
// Markdown still being written, rendered and sanitised by the server (see markdown.js).
export const renderMarkdown = (text) => requestJSON("POST", "/api/markdown", { text });

// Opens an event stream. Throws ShownError when the server refused (its detail, its status),
// TypeError when it cannot be reached, AbortError when `signal` aborted the request.
async function openStream(url, init) {
  const headers = { Accept: "text/event-stream", ...init.headers };
  const response = await send(url, { ...init, headers, cache: "no-store" });
  if (!(response.headers.get("Content-Type") ?? "").startsWith("text/event-stream")) {
    throw new ShownError("The server answered with something other than an event stream.");
  }
  return response;
}

const postStream = (url, body, signal) =>
  openStream(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });

// POST /api/chat: a new turn in conversation `conversationId` (null: a new conversation), asked
// of `model` (null: the server's default), with `images` (data URLs) if any.
export function startTurn({ message, conversationId, model, images }, signal) {
  const body = { message };
  if (conversationId) body.conversation_id = conversationId;
  if (model) body.model = model;
  if (images?.length) body.images = images;
  return postStream("/api/chat", body, signal);
}

// POST /api/messages/{id}/regenerate: the last answer again, from the same history.
export function regenerateAnswer(messageId, model, signal) {
  return postStream(messageUrl(messageId, "regenerate"), model ? { model } : {}, signal);
}

// GET /api/messages/{id}/events: the answer's events after `lastEventId` (all of them if none).
export function attachToAnswer(messageId, lastEventId, signal) {
  const headers = lastEventId ? { "Last-Event-ID": lastEventId } : {};
  return openStream(messageUrl(messageId, "events"), { method: "GET", headers, signal });
}

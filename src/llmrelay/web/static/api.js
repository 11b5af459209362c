// llmrelay's HTTP API as the page uses it: JSON requests, and event streams opened with fetch().

export const UNREACHABLE = "The server cannot be reached. Is llmrelay running?";

// A message for the person (the server's `detail`, or what went wrong); `status` when it had one.
export class ShownError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

async function detailOf(response) {
  const body = await response.json().catch(() => null);
  const detail = body?.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) return detail.map((d) => d?.msg ?? JSON.stringify(d)).join("; ");
  const reason = response.statusText ? ` ${response.statusText}` : "";
  return `The server answered ${response.status}${reason}.`;
}

async function requestJSON(method, url, body) {
  const init = { method, headers: { Accept: "application/json" }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ShownError(UNREACHABLE);
  }
  if (!response.ok) throw new ShownError(await detailOf(response), response.status);
  return response.status === 204 ? null : response.json();
}

const conversationUrl = (id) => `/api/conversations/${encodeURIComponent(id)}`;
const messageUrl = (id, what) => `/api/messages/${encodeURIComponent(id)}/${what}`;

export const listConversations = () => requestJSON("GET", "/api/conversations?limit=100");
export const getConversation = (id) => requestJSON("GET", conversationUrl(id));
export const renameConversation = (id, title) => requestJSON("PATCH", conversationUrl(id), { title });
export const deleteConversation = (id) => requestJSON("DELETE", conversationUrl(id));
// Stops the answer now and resolves once the server has recorded it (the stream then ends too).
export const cancelAnswer = (messageId) => requestJSON("POST", messageUrl(messageId, "cancel"));

// Opens an event stream. Throws ShownError when the server refused (its detail, its status),
// TypeError when it cannot be reached, AbortError when `signal` aborted the request.
async function openStream(url, init) {
  const headers = { Accept: "text/event-stream", ...init.headers };
  const response = await fetch(url, { ...init, headers, cache: "no-store" });
  if (!response.ok) throw new ShownError(await detailOf(response), response.status);
  if (!(response.headers.get("Content-Type") ?? "").startsWith("text/event-stream")) {
    throw new ShownError("The server answered with something other than an event stream.");
  }
  return response;
}

// POST /api/chat: a new turn in conversation `conversationId` (null: a new conversation).
export function startTurn(message, conversationId, signal) {
  const body = { message };
  if (conversationId) body.conversation_id = conversationId;
  return openStream("/api/chat", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

// GET /api/messages/{id}/events: the answer's events after `lastEventId` (all of them if none).
export function attachToAnswer(messageId, lastEventId, signal) {
  const headers = lastEventId ? { "Last-Event-ID": lastEventId } : {};
  return openStream(messageUrl(messageId, "events"), { method: "GET", headers, signal });
}

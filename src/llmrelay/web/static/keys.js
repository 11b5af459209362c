// The API key this browser keeps for llmrelay: in localStorage, so a reload or a new tab keeps it.
//
// It only ever leaves the page in the `Authorization: Bearer …` header of a request to this
// server: never in a URL (where it would land in server logs, history and Referer headers), never
// in the console.

const STORAGE_NAME = "llmrelay.apiKey";

// When storage is refused (a privacy setting), the key lives as long as the page instead.
let unsaved = "";

export function savedKey() {
  try {
    return localStorage.getItem(STORAGE_NAME) ?? "";
  } catch {
    return unsaved;
  }
}

// Keeps `key`; false when the browser refused to store it (it is then kept for this page only).
export function saveKey(key) {
  unsaved = key;
  try {
    localStorage.setItem(STORAGE_NAME, key);
    return true;
  } catch {
    return false;
  }
}

export function forgetKey() {
  unsaved = "";
  try {
    localStorage.removeItem(STORAGE_NAME);
  } catch {
    // Nothing was stored.
  }
}

// Why a key cannot be sent, or "" when it can. A header value is Latin-1 without line breaks
// (fetch() throws on anything else, which would look like an unreachable server); keys are ASCII.
export function keyProblem(key) {
  if (key === "") return "Enter the key.";
  if (!/^[\x21-\x7e]+$/.test(key)) return "An API key has no spaces and only ASCII letters, digits and symbols.";
  return "";
}

// The headers that send `key` (none without one).
export const authorizationFor = (key) => (key ? { Authorization: `Bearer ${key}` } : {});

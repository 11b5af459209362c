// An answer's markdown on screen. The server renders and sanitises it (markdown-it-py, then nh3:
// llmrelay/markdown.py), never this page, so an answer looks the same while it streams and once
// it is stored, and the page runs no third-party script. The server's HTML is the one thing the
// page puts into innerHTML, and only into an inert <template> first.
//
// While an answer streams (`liveMarkdown`), once per animation frame at most and one request at
// a time, the page sends the server only what may still change: the text after the blocks it
// already shows as final. The server answers with the HTML of the blocks that have become final
// (those are added and never touched again, so a selection in them, or their scroll, survives)
// and of the last, open block (only that one is redrawn). When the answer ends, the stored HTML
// replaces only the blocks that differ from what is shown (`showHtml`): usually none.
//
// Should the server not render (the connection is down, the text is too long for one request),
// the open part is shown as plain text until the answer ends.

import { renderMarkdown } from "./api.js";
import { codeCopyButton } from "./copy.js";

// What each block on screen was rendered from: the server's HTML for it, before the page added
// its copy buttons. Two blocks are the same when their sources are.
const sources = new WeakMap();

// The server's HTML as top-level nodes (whitespace between blocks left out), each decorated:
// code blocks get a copy button, links open in a new tab (the chat stays open).
function blocksOf(html) {
  const template = document.createElement("template");
  template.innerHTML = html; // sanitised by the server (see the top of this file); inert here
  const blocks = [];
  for (const node of [...template.content.childNodes]) {
    if (node.nodeType === Node.TEXT_NODE && !node.textContent.trim()) continue;
    const source = node.nodeType === Node.ELEMENT_NODE ? node.outerHTML : node.textContent;
    const block = decorate(node);
    sources.set(block, source);
    blocks.push(block);
  }
  return blocks;
}

function decorate(node) {
  if (node.nodeType !== Node.ELEMENT_NODE) return node;
  const holder = document.createElement("div"); // so that a top-level <pre> can be wrapped too
  holder.append(node);
  for (const pre of holder.querySelectorAll("pre")) {
    const wrapper = document.createElement("div");
    wrapper.className = "code-block";
    pre.replaceWith(wrapper);
    wrapper.append(codeCopyButton(() => pre.textContent), pre);
  }
  for (const link of holder.querySelectorAll("a[href]")) link.target = "_blank";
  return holder.firstChild;
}

// Puts `wanted` in place of `shown` (nodes of `parent`, in order, ending at `before` or the end),
// keeping each shown block whose source is the wanted one's. Returns the nodes now shown.
function reconcile(parent, shown, wanted, before = null) {
  const result = [];
  wanted.forEach((block, i) => {
    const old = shown[i];
    if (old && old.parentNode === parent && sources.get(old) === sources.get(block)) {
      result.push(old);
      return;
    }
    if (old && old.parentNode === parent) old.replaceWith(block);
    else parent.insertBefore(block, before);
    result.push(block);
  });
  for (const old of shown.slice(wanted.length)) old.remove();
  return result;
}

// Shows the stored answer's `html` in `body`, redrawing only the blocks that changed.
export function showHtml(body, html) {
  const shown = [...body.childNodes];
  const kept = reconcile(body, shown, blocksOf(html ?? ""));
  for (const node of shown) if (!kept.includes(node) && node.parentNode === body) node.remove();
}

// The line breaks markdown-it reads: CRLF and CR are LF to it, and so to the line counts it sends.
const normalised = (text) => text.replace(/\r\n?/g, "\n");

// Where line `lines` of `text` starts (text is LF-only).
function lineStart(text, lines) {
  let at = 0;
  for (let i = 0; i < lines; i += 1) {
    const next = text.indexOf("\n", at);
    if (next === -1) return text.length;
    at = next + 1;
  }
  return at;
}

// An answer being written into `body`; `change(fn)` wraps every change to the page (the
// transcript keeps the newest words in view through it). Starts with `text` (may be "").
export function liveMarkdown(body, change, text = "") {
  let raw = text;
  let frozen = 0; // characters of the (normalised) text whose blocks are final and shown
  let region = []; // the nodes after those: the open block(s), redrawn as more text comes
  let shown = -1; // the text length the screen shows
  let frame = 0;
  let busy = false; // a request is out
  let plainOnly = false; // the server did not render: the rest goes on as plain text
  let over = false;

  body.replaceChildren();

  function schedule() {
    if (!frame && !busy && !over) frame = requestAnimationFrame(flush);
  }

  function showPlain(tail) {
    const plain = document.createElement("div");
    plain.className = "plain";
    plain.textContent = tail; // text, never HTML
    region = reconcile(body, region, [plain]);
  }

  async function flush() {
    frame = 0;
    const text = normalised(raw);
    if (over || text.length === shown) return;
    if (text === "") {
      shown = 0; // nothing to draw, and nothing to ask the server
      return;
    }
    const tail = text.slice(frozen);
    let rendered = null;
    if (!plainOnly) {
      busy = true;
      try {
        rendered = await renderMarkdown(tail);
      } catch {
        plainOnly = true;
      }
      busy = false;
      if (over) return;
    }
    change(() => {
      if (rendered === null) {
        showPlain(tail);
      } else {
        const closed = blocksOf(rendered.closed_html);
        const now = reconcile(body, region, [...closed, ...blocksOf(rendered.open_html)]);
        region = now.slice(closed.length);
        frozen += lineStart(tail, rendered.closed_lines);
      }
    });
    shown = text.length;
    schedule(); // more may have come while the request was out
  }

  schedule();
  return {
    append(delta) {
      raw += delta;
      schedule();
    },
    text: () => raw,
    // The answer is over: nothing more is drawn (the stored answer takes over, see showHtml).
    stop() {
      over = true;
      cancelAnimationFrame(frame);
      frame = 0;
    },
  };
}

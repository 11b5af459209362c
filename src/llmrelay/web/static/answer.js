// One answer followed to its end: sent with POST /api/chat, or attached to (after a reload) with
// GET /api/messages/{id}/events; resumed after a dropped connection; stopped with the cancel
// endpoint; replaced by the stored, rendered answer when it ends.
//
// - A dropped connection is resumed, as EventSource would: the same answer's events after the
//   last one seen (`Last-Event-ID`), after the server's `retry:` wait, at most MAX_RECONNECTS
//   tries in a row. Before `start` there is no answer to resume, and a retry would ask the model
//   a second time, so the page says what happened instead.
// - Stop calls POST /api/messages/{id}/cancel: closing the connection alone would only stop the
//   answer after the server's detach grace period, since the server cannot tell a Stop from a
//   drop. Before `start` no id is known yet; then aborting the request is what stops it (the
//   server cancels an answer whose client left before it began).
// - The answer is shown as markdown while it streams (transcript.js, markdown.js), the calls the
//   model made as they arrive (`tool_call` events). `end` comes only after the server stored the
//   answer, so the stored one then takes the place of the streamed one (only what differs).
// - Reasoning (`reasoning` events) shows above the answer while it streams, with how long the
//   model thought once the answer moves on (reasoning.js); a refusal (a `delta` with `refusal`)
//   in a notice of its own. Neither goes into the answer's text. The store keeps no reasoning,
//   and keeps a refusal after the text: at the end the page takes that end off the stored
//   answer again, so the refusal stays apart (after a reload it is part of the answer).
//   A resume gets only the events after the last one seen, so nothing shows twice; attaching
//   to a running answer starts again from its first event, on an emptied answer.
// - Regenerate (`regenerate`) streams a new answer to the last question into the last answer's
//   place: the old one stays on screen until the new one starts (the server replaced it then).
// - The model can fail before `start`, too: the server then stores the question and the failed
//   answer and names them in its error, and the page shows them as stored, like a later failure.
// - A 401 (keys are in force) is the key form's to tell, not the page's alert. Nothing is retried:
//   the question stays in the message box, to send again once the key is saved.

import {
  attachToAnswer,
  cancelAnswer,
  getConversation,
  isKeyError,
  regenerateAnswer,
  renderMarkdown,
  ShownError,
  startTurn,
  UNREACHABLE,
} from "./api.js";
import { readEvents } from "./sse.js";
import * as view from "./transcript.js";

const MAX_RECONNECTS = 3;
const DEFAULT_RETRY_MS = 1000;

// hooks: status(run, text), error(run, text), started(run), finished(run, outcome, statusText);
// called from the first event on (the caller says what the page shows until then).
// Outcomes: "ended" (the server finished it, `run.finishReason` says how), "stopped", "refused"
// (never started), "failed" (failed before it started, and stored: `run.conversationId` names
// where), "lost" (the connection could not be resumed).
function newRun(hooks, fields) {
  return {
    hooks,
    conversationId: null,
    messageId: null,
    node: null, // the answer's <article>; null while the answer is not on screen
    userNode: null, // the question's <article>, when this page sent it
    text: "", // what arrived so far, to show again if the answer comes back on screen
    reasoning: "", // likewise the reasoning (never part of `text`)
    refusal: "", // and the refusal (likewise)
    thinkingSince: null, // performance.now() when the reasoning going on now began; null: none is
    thoughtMs: 0, // the time spent reasoning before that
    // Whether the page saw the reasoning arrive: attached to a running answer, it gets what was
    // reasoned so far all at once, so it cannot tell how long that took.
    timesThinking: true,
    toolCalls: [], // the `tool_call` pieces so far, likewise
    replaces: null, // regenerating: the id of the answer the new one takes the place of
    controller: null, // aborts the request in flight
    timer: 0, // the wait before a reconnect
    wake: () => {}, // ends that wait early
    reached: false, // the server answered at least once
    ended: false, // `end` arrived (or the answer is over for another reason)
    stopping: false,
    failed: false, // an `error` event arrived
    finishReason: "",
    lastEventId: "",
    retryMs: DEFAULT_RETRY_MS,
    failures: 0, // reconnects in a row that brought nothing
    ...fields,
  };
}

function parse(data) {
  try {
    return JSON.parse(data);
  } catch {
    return {};
  }
}

const thoughtFor = (run) => (run.timesThinking ? run.thoughtMs : null);

// The answer moved on from reasoning (to text, a call, or its end).
function stopThinking(run) {
  if (run.thinkingSince === null) return;
  run.thoughtMs += performance.now() - run.thinkingSince;
  run.thinkingSince = null;
  if (run.node) view.endThinking(run.node, thoughtFor(run));
}

function handleEvent(run, event) {
  if (run.ended || run.stopping) return;
  if (event.id !== null) run.lastEventId = event.id;
  if (event.data === null) return;
  const data = parse(event.data);
  if (event.type === "start") {
    run.conversationId = data.conversation_id ?? run.conversationId;
    run.messageId = data.message_id ?? run.messageId;
    if (run.node) {
      // A regenerated answer starts empty, where the old one was (already gone from the store).
      if (run.replaces) view.showStoredAnswer(run.node, { id: run.messageId, status: "streaming", content: "" });
      run.node.dataset.id = run.messageId;
      view.setAnswerModel(run.node, data.model);
    }
    if (run.userNode && data.user_message_id) run.userNode.dataset.id = data.user_message_id;
    run.hooks.started(run);
    run.hooks.status(run, "Answering…");
  } else if (event.type === "reasoning" && typeof data.text === "string") {
    run.failures = 0;
    run.thinkingSince ??= performance.now();
    run.reasoning += data.text;
    if (run.node) view.appendReasoning(run.node, data.text);
    run.hooks.status(run, "Thinking…");
  } else if (event.type === "delta" && typeof data.text === "string") {
    run.failures = 0; // the stream moves again: a later drop gets its full set of retries
    stopThinking(run);
    if (data.refusal) {
      run.refusal += data.text;
      if (run.node) view.appendRefusal(run.node, data.text);
    } else {
      run.text += data.text;
      if (run.node) view.appendText(run.node, data.text);
    }
    run.hooks.status(run, "Answering…");
  } else if (event.type === "tool_call") {
    run.failures = 0;
    stopThinking(run);
    run.toolCalls.push(data);
    if (run.node) view.addToolCall(run.node, data);
  } else if (event.type === "error") {
    // The answer failed after it started. `end` follows once the server has stored it.
    run.failed = true;
    run.hooks.error(run, data.message || "The answer failed.");
  } else if (event.type === "end") {
    stopThinking(run);
    run.ended = true;
    run.finishReason = data.finish_reason ?? "";
  }
}

// One connection: resolves when it ends (run.ended says whether the answer did).
async function connect(run, open) {
  run.controller = new AbortController();
  const response = await open(run.controller.signal);
  run.reached = true;
  await readEvents(response, {
    onEvent: (event) => handleEvent(run, event),
    onRetry: (ms) => (run.retryMs = ms),
    isOver: () => run.ended || run.stopping,
  });
}

// The stored answer with the refusal this page saw taken off its end (the store keeps it after
// the text), to show apart again; as it is when that end is not the refusal, or the rest cannot
// be rendered (then the refusal reads as part of the answer, as after a reload).
async function withRefusalApart(message, refusal) {
  if (!refusal || typeof message.content !== "string" || !message.content.endsWith(refusal)) return message;
  const content = message.content.slice(0, message.content.length - refusal.length);
  let html = "";
  if (content) {
    try {
      const rendered = await renderMarkdown(content);
      html = rendered.closed_html + rendered.open_html;
    } catch {
      return message;
    }
  }
  return { ...message, content, html, refusal };
}

// Shows the answer as stored; false when it could not be read.
async function showStored(run) {
  if (!run.node || !run.conversationId) return false;
  try {
    const conversation = await getConversation(run.conversationId);
    const at = conversation.messages.findIndex((m) => m.id === run.messageId);
    if (at === -1 || !run.node) return false;
    const message = await withRefusalApart(conversation.messages[at], run.refusal);
    if (!run.node) return false;
    view.showStoredAnswer(run.node, message);
    const question = conversation.messages[at - 1];
    if (run.userNode && question?.role === "user") run.userNode.dataset.id = question.id;
    return true;
  } catch {
    return false;
  }
}

function settle(run, outcome, statusText) {
  stopThinking(run);
  clearTimeout(run.timer);
  run.wake();
  run.controller?.abort();
  run.ended = true;
  if (run.node) run.node.setAttribute("aria-busy", "false");
  run.hooks.finished(run, outcome, statusText);
}

async function finishEnded(run) {
  run.controller?.abort();
  if (!(await showStored(run)) && run.node) {
    view.setNote(run.node, run.finishReason === "cancelled" ? "Stopped." : "");
  }
  const statusText = run.failed
    ? "The answer stopped because of an error."
    : run.finishReason === "cancelled"
      ? "Stopped."
      : "Done.";
  settle(run, "ended", statusText);
}

// The answer never started. What this page showed of the question goes (it stays in the form,
// to send again); if the server kept anything of it, reading the conversation again shows it.
// Regenerating, the old answer stays: the server changed nothing.
function refuse(run, text) {
  if (text) run.hooks.error(run, text);
  if (!run.replaces) {
    for (const node of [run.userNode, run.node]) if (node) view.removeMessage(node);
    run.node = run.userNode = null;
  }
  settle(run, "refused", "");
}

// The server's error names a stored conversation and answer: the model failed before `start`.
const storedFailure = (err) =>
  typeof err.body?.conversation_id === "string" && typeof err.body?.message_id === "string";

// Failed before it started, and stored: the question stays, the answer shows as stored (why it
// failed in its note). The message box keeps the question too, to send again if the person wants.
async function failBeforeStart(run, err) {
  run.conversationId = err.body.conversation_id;
  run.messageId = err.body.message_id;
  run.failed = true;
  if (run.node) run.node.dataset.id = run.messageId;
  run.hooks.error(run, err.message);
  if (!(await showStored(run)) && run.node) view.setNote(run.node, `This answer failed: ${err.message}`);
  settle(run, "failed", "The answer failed before it started.");
}

// Follows the answer until it is over: the first connection from `open`, then resumes.
async function follow(run, open) {
  for (let next = open; ; ) {
    try {
      await connect(run, next);
    } catch (err) {
      if (run.stopping) return; // Stop aborted the request; stop() settles the run
      if (err instanceof ShownError) {
        if (err.status === 410) return finishEnded(run); // over, and stored: show it whole
        if (!run.messageId && storedFailure(err)) return failBeforeStart(run, err);
        const shown = isKeyError(err) ? "" : err.message; // the key form tells a 401
        if (!run.messageId) return refuse(run, shown);
        if (shown) run.hooks.error(run, shown);
        return settle(run, "lost", "The answer is incomplete.");
      }
      // Anything else is the network: a refused, reset or cut connection.
    }
    if (run.stopping) return;
    if (run.ended) return finishEnded(run);
    if (!run.messageId) {
      // Nothing arrived that names this answer, so a retry would start another one.
      return refuse(run, run.reached ? "The connection to the server was lost before the answer started." : UNREACHABLE);
    }
    if (run.failures >= MAX_RECONNECTS) {
      run.hooks.error(run, `The connection to the server was lost; gave up after ${MAX_RECONNECTS} tries.`);
      return settle(run, "lost", "The answer is incomplete.");
    }
    run.failures += 1;
    run.hooks.status(run, `Connection lost; resuming (try ${run.failures} of ${MAX_RECONNECTS})…`);
    await new Promise((resolve) => {
      run.wake = resolve; // Stop ends the wait early
      run.timer = setTimeout(resolve, run.retryMs);
    });
    if (run.stopping) return;
    next = (signal) => attachToAnswer(run.messageId, run.lastEventId, signal);
  }
}

// Sends `turn` {message, conversationId (null: a new conversation), model, images} and shows
// the answer.
export function send(turn, hooks) {
  const run = newRun(hooks, { conversationId: turn.conversationId });
  run.userNode = view.addUserMessage(turn.message, turn.images ?? []);
  run.node = view.addStreamingAnswer("");
  follow(run, (signal) => startTurn(turn, signal));
  return run;
}

// Answers the last question again, with `model`, into `node` (the last answer, shown as it was
// until the new one starts).
export function regenerate(node, conversationId, model, hooks) {
  const replaces = node.dataset.id;
  const run = newRun(hooks, { conversationId, node, replaces });
  node.setAttribute("aria-busy", "true");
  follow(run, (signal) => regenerateAnswer(replaces, model, signal));
  return run;
}

// Attaches to an answer still being written (the page was reloaded, or opened elsewhere).
export function attach(messageId, conversationId, node, hooks) {
  const run = newRun(hooks, { conversationId, messageId, node, timesThinking: false });
  follow(run, (signal) => {
    // From the very start: the events replay every word written so far (and of the reasoning,
    // the refusal), then follow live.
    Object.assign(run, { text: "", reasoning: "", refusal: "", toolCalls: [], lastEventId: "" });
    Object.assign(run, { thinkingSince: null, thoughtMs: 0 });
    view.showStoredAnswer(node, { id: messageId, status: "streaming", content: "" });
    return attachToAnswer(messageId, "", signal);
  });
  return run;
}

// Puts a followed answer on screen (again) in `node`, or off screen with null.
export function show(run, node) {
  run.node = node;
  run.userNode = null;
  if (!node) return;
  view.showStoredAnswer(node, { id: run.messageId, status: "streaming", content: run.text });
  for (const piece of run.toolCalls) view.addToolCall(node, piece);
  if (run.reasoning) {
    view.appendReasoning(node, run.reasoning);
    if (run.thinkingSince === null) view.endThinking(node, thoughtFor(run));
  }
  if (run.refusal) view.appendRefusal(node, run.refusal);
}

export async function stop(run) {
  if (run.ended || run.stopping) return;
  run.stopping = true;
  clearTimeout(run.timer);
  run.wake();
  if (!run.messageId) {
    // Not started: leaving is what stops it (the server cancels an answer whose client left).
    run.controller?.abort();
    if (run.node) view.setNote(run.node, "Stopped.");
    return settle(run, "stopped", "Stopped.");
  }
  run.hooks.status(run, "Stopping…");
  try {
    await cancelAnswer(run.messageId); // resolves once the server has stored what there was
  } catch (err) {
    run.hooks.error(run, `The answer could not be stopped: ${err.message}`);
  }
  run.controller?.abort();
  if (!(await showStored(run)) && run.node) view.setNote(run.node, "Stopped.");
  settle(run, "stopped", "Stopped.");
}

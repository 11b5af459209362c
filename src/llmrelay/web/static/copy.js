// Copy buttons: an answer (its markdown, as the model wrote it) or a code block's code, put on
// the clipboard. The button says "Copied" for a moment, or why it could not.

const SHOWN_MS = 2000;

// The clipboard API is there only in a secure context (https, or http://127.0.0.1 / localhost);
// a page served over plain http to another address falls back to the older copy command.
async function writeText(text) {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("copy refused");
}

function copyButton(label, className, text) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `copy ${className}`;
  button.textContent = label;
  let timer = 0;
  const say = (words, state) => {
    clearTimeout(timer);
    button.textContent = words;
    button.dataset.state = state;
    timer = setTimeout(() => {
      button.textContent = label;
      delete button.dataset.state;
    }, SHOWN_MS);
  };
  button.addEventListener("click", async () => {
    try {
      await writeText(text());
      say("Copied", "copied");
    } catch {
      say("Could not copy", "failed");
    }
  });
  return button;
}

// `text()` gives what to copy when the button is pressed (the answer may still be growing).
export const answerCopyButton = (text) => copyButton("Copy", "copy-answer", text);
export const codeCopyButton = (text) => copyButton("Copy code", "copy-code", text);

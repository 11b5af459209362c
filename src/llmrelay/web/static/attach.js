// Images attached to the next message: chosen with the Attach button or pasted into the message
// box, shown as thumbnails (each with a Remove button), sent as data URLs with the message and
// cleared once its answer has started. Offered only while the chosen model sees images: for one
// that cannot, the button is not shown, a pasted image is not taken, and what was attached goes.

const button = document.getElementById("attachButton");
const fileInput = document.getElementById("imageInput");
const tray = document.getElementById("attachments");
const input = document.getElementById("input");

// What the server takes (llmrelay/api/messages.py); SVG is no image here, it is a document.
const TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

const readAsDataUrl = (file) =>
  new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });

// `say(text)` tells the person something (a file that is no image, images removed).
export function setUpAttachments(say) {
  let images = []; // data URLs, in the order attached
  let allowed = false;

  function render() {
    const items = images.map((url, i) => {
      const item = document.createElement("li");
      const image = document.createElement("img");
      image.src = url;
      image.alt = `Attached image ${i + 1}`;
      image.className = "thumbnail";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove attached image ${i + 1}`);
      remove.addEventListener("click", () => {
        images = images.filter((_, j) => j !== i);
        render();
        input.focus();
      });
      item.append(image, remove);
      return item;
    });
    tray.replaceChildren(...items);
    tray.hidden = images.length === 0;
  }

  async function take(files) {
    const wanted = files.filter((f) => TYPES.includes(f.type));
    if (wanted.length < files.length) say("Only PNG, JPEG, GIF and WebP images can be attached.");
    for (const file of wanted) {
      try {
        images.push(await readAsDataUrl(file));
      } catch {
        say(`${file.name || "The image"} could not be read.`);
      }
    }
    render();
  }

  button.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", async () => {
    await take([...fileInput.files]);
    fileInput.value = ""; // the same file may be chosen again
    input.focus();
  });
  input.addEventListener("paste", (event) => {
    if (!allowed) return;
    const files = [...(event.clipboardData?.files ?? [])].filter((f) => f.type.startsWith("image/"));
    if (files.length === 0) return; // text: pasted as usual
    event.preventDefault();
    take(files);
  });

  return {
    list: () => [...images],
    clear() {
      images = [];
      render();
    },
    // Whether the model messages go to now sees images (`name` for the note when it does not).
    allow(sees, name) {
      allowed = sees;
      button.hidden = !sees;
      if (!sees && images.length) {
        images = [];
        render();
        say(`The attached images were removed: ${name || "this model"} cannot see images.`);
      }
    },
    setDisabled(disabled) {
      button.disabled = disabled;
    },
  };
}

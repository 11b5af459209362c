// The model picker: shown when the server has several models (GET /api/models), hidden when it
// has one. The choice goes with every message and Regenerate; it is kept with the conversation
// by the server (each answer records its model), so opening a conversation selects the model of
// its latest answer (`select`). A new chat keeps whatever is selected.

import { listModels } from "./api.js";

const picker = document.getElementById("modelPicker");
const select = document.getElementById("modelSelect");

// `onChange(model)` is called when the choice changes (by the person, or by `select`).
export function createModelPicker(onChange) {
  let models = []; // [{name, provider, sees_images}], as the server lists them
  let defaultName = null;
  let wanted = null; // the open conversation's model, which may be named before the list is read

  const chosen = () => models.find((m) => m.name === select.value) ?? models.find((m) => m.name === defaultName);

  function render() {
    const current = select.value || defaultName;
    select.replaceChildren(
      ...models.map((m) => {
        const option = document.createElement("option");
        option.value = m.name;
        option.textContent = m.sees_images ? `${m.name} (sees images)` : m.name;
        return option;
      }),
    );
    if (models.some((m) => m.name === current)) select.value = current;
    picker.hidden = models.length < 2;
  }

  // Reads the list (again: once a key is saved, say). A failure leaves the picker as it was:
  // messages then go to the server's default model.
  async function load() {
    try {
      const listed = await listModels();
      models = listed.models;
      defaultName = listed.default;
    } catch {
      return;
    }
    render();
    if (models.some((m) => m.name === wanted)) select.value = wanted;
    onChange(chosen());
  }

  select.addEventListener("change", () => onChange(chosen()));

  return {
    load,
    // The name to send, or null for the server's default (when there is nothing to choose).
    selected: () => (models.length < 2 ? null : chosen()?.name ?? null),
    // Whether the model messages go to now can take images.
    seesImages: () => chosen()?.sees_images ?? false,
    // Selects the model a conversation was last answered by, if the server still has it.
    select(name) {
      wanted = name;
      if (!name || !models.some((m) => m.name === name) || select.value === name) return;
      select.value = name;
      onChange(chosen());
    },
  };
}

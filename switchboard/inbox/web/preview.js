// A line's preview: "a call at <time> from <number> hears …", from the line's document alone
// (the same words as `python -m switchboard lines preview`); nothing is called.
import { api } from "./api.js";
import { append, clear, clearErrors, field, h, showError } from "./dom.js";

const SAMPLE_CALLER = "+15558675310";
const FIELDS = { at: "p-at", from: "p-from" };

function localTime(at, timeZone) {
  try {
    return new Intl.DateTimeFormat("en-US", {
      weekday: "long", day: "numeric", month: "long", year: "numeric",
      hour: "2-digit", minute: "2-digit", timeZone, timeZoneName: "short",
    }).format(new Date(at));
  } catch {
    return at;
  }
}

export function previewSection(path) {
  const at = h("input", { type: "datetime-local" });
  const from = h("input", { type: "tel", value: SAMPLE_CALLER, autocomplete: "off" });
  const result = h("div", { id: "preview-result", "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-labelledby": "preview-title", novalidate: true },
    h("h2", { id: "preview-title", text: "What a caller hears" }),
    field("p-at", "A call at (the line's time; empty: now)", at),
    field("p-from", "From the number", from),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Preview the call" })),
    result);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    clear(result);
    const params = new URLSearchParams({ from: from.value.replace(/[\s().-]/g, "") });
    if (at.value) params.set("at", at.value);
    try {
      const { data } = await api("GET", `${path}/preview?${params}`);
      const state = `The line is ${data.state} then (${data.reason}${data.holiday ? `: ${data.holiday}` : ""}).`;
      append(result,
        h("p", { class: "preview-summary", text: `A call at ${localTime(data.at, data.timeZone)} from ${data.caller} hears:` }),
        h("ol", { class: "steps" }, data.hears.map((text) => h("li", { class: "body-text", text }))),
        h("p", { class: "hint", text: state }),
        data.sends.length
          ? [h("p", { text: "Sent because of the call:" }), h("ul", {}, data.sends.map((text) => h("li", { class: "body-text", text })))]
          : h("p", { class: "hint", text: "Nothing is sent because of the call." }));
    } catch (error) {
      if (error.status === 401) return;
      const id = FIELDS[error.field] || "p-at";
      showError(id, error.message);
      document.getElementById(id).focus();
    }
  });
  return form;
}

// Lines: each line's state now and next change, the switch, the document (a form or JSON,
// errors at their field by JSON pointer) and its history.
import { api, enc } from "./api.js";
import { append, clear, clearErrors, field, h, notify, page, showError, when } from "./dom.js";
import { previewSection } from "./preview.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES = { mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday", sat: "Saturday", sun: "Sunday" };

function stateWords(state) {
  return state === "open" ? "Open now" : state === "closed" ? "Closed now" : "Unknown";
}

export async function linesView(user) {
  const { data } = await api("GET", "inbox/lines");
  const items = data.items.map((line) => h("li", { class: "card line" },
    h("h2", {}, h("a", { href: `#/lines/${enc(line.number)}`, text: line.name || line.number })),
    h("p", {}, h("span", { class: `state ${line.state}`, text: stateWords(line.state) }), " ",
      h("span", { class: "number", text: line.number }))));
  const empty = user.role === "owner"
    ? "No line is set up yet: every number follows the default settings."
    : "No line is shared with you yet: ask the owner.";
  page("Lines", items.length ? h("ul", { class: "cards" }, items) : h("p", { text: empty }));
}

function expandDays(key) {
  const days = [];
  for (const part of key.split(",")) {
    const [from, to] = part.split("-");
    let i = DAYS.indexOf(from);
    const end = DAYS.indexOf(to || from);
    if (i < 0 || end < 0) continue;
    for (;;) {
      days.push(DAYS[i]);
      if (i === end) break;
      i = (i + 1) % 7;
    }
  }
  return days;
}

function hoursByDay(hours) {
  const byDay = {};
  for (const [key, ranges] of Object.entries(hours || {})) {
    for (const day of expandDays(key)) byDay[day] = Array.isArray(ranges) ? ranges.join(", ") : "";
  }
  return byDay;
}

function sayText(prompt) {
  if (!prompt) return { text: "", editable: true };
  if (typeof prompt === "object" && typeof prompt.say === "string") return { text: prompt.say, editable: true };
  return { text: "", editable: false };
}

// Where the form shows an error for a JSON pointer (null: only in the list above the form).
function controlFor(pointer) {
  const parts = (pointer || "").split("/").slice(1);
  if (parts[0] === "name") return "f-name";
  if (parts[0] === "timeZone") return "f-tz";
  if (parts[0] === "hours" && parts[1]) {
    const days = expandDays(parts[1]);
    if (days.length) return `f-hours-${days[0]}`;
  }
  if (parts[0] === "greeting" && (parts[1] === "open" || parts[1] === "closed")) return `f-greet-${parts[1]}`;
  return null;
}

function describeStatus(status) {
  const lines = [`${stateWords(status.state)} (${status.reason}${status.holiday ? `: ${status.holiday}` : ""}).`];
  if (status.override) {
    const until = status.override.until ? ` until ${when(status.override.until, status.timeZone)}` : "";
    lines.push(`Switched ${status.override.state} by hand${until}.`);
  }
  if (status.nextChange) {
    lines.push(`Next change: ${status.nextChange.state} at ${when(status.nextChange.at, status.timeZone)}.`);
  } else {
    lines.push("No change ahead.");
  }
  return lines.join(" ");
}

function errorList(error) {
  const found = error.errors.length ? error.errors : [{ field: error.field, message: error.message }];
  return found.map((e) => ({ pointer: e.field || "/", message: e.message }));
}

export async function lineView(number, user) {
  const path = `inbox/lines/${enc(number)}`;
  const [doc, status] = await Promise.all([api("GET", path), api("GET", `${path}/status`)]);
  let etag = doc.etag;
  let documentNow = doc.data;
  const title = documentNow.name || number;

  // --- now, and the switch
  const statusText = h("p", { id: "line-state", class: `state-text ${status.data.state}`, text: describeStatus(status.data) });
  const switchButtons = [
    ["closed", "Closed now", { state: "closed" }],
    ["open", "Open now", { state: "open" }],
    ["clear", "Back to hours", { clear: true }],
  ].map(([key, label, body]) => h("button", {
    type: "button", "data-switch": key, text: label,
    "aria-pressed": String(key === "clear" ? !status.data.override : status.data.override?.state === key),
    onclick: async () => {
      try {
        const { data } = await api("POST", `${path}/override`, body);
        notify(`${title}: ${stateWords(data.state).toLowerCase()}.`);
        await lineView(number, user);
      } catch (error) {
        notify(error.message);
      }
    },
  }));
  const now = h("section", { "aria-labelledby": "now-title", class: "card" },
    h("h2", { id: "now-title", text: "Now" }), statusText,
    h("div", { class: "switch", role: "group", "aria-label": "Switch the line" }, switchButtons));

  // --- the form
  const byDay = hoursByDay(documentNow.hours);
  const nameInput = h("input", { type: "text", value: documentNow.name || "" });
  const tzInput = h("input", { type: "text", value: documentNow.timeZone || "", autocomplete: "off" });
  const dayInputs = DAYS.map((day) => field(`f-hours-${day}`, DAY_NAMES[day],
    h("input", { type: "text", value: byDay[day] || "", placeholder: "closed" })));
  const greetings = ["open", "closed"].map((which) => {
    const current = sayText(documentNow.greeting && documentNow.greeting[which]);
    return field(`f-greet-${which}`, which === "open" ? "Greeting when open" : "Greeting when closed",
      h("textarea", { rows: "2", value: current.text, disabled: !current.editable }),
      current.editable ? null : "Plays a recording: change it in the JSON below.");
  });
  const formProblems = h("div", { class: "problems", role: "alert" });
  const form = h("form", { class: "card", "aria-labelledby": "form-title", novalidate: true },
    h("h2", { id: "form-title", text: "Hours and greetings" }),
    formProblems,
    field("f-name", "Name", nameInput),
    field("f-tz", "Time zone", tzInput, "An IANA zone such as America/New_York."),
    h("fieldset", {}, h("legend", { text: "Opening hours (such as 09:00-12:00, 13:00-17:30; empty: closed)" }), dayInputs),
    greetings,
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Save hours and greetings" })));

  // --- the JSON
  const jsonArea = h("textarea", { rows: "14", spellcheck: "false", class: "code", value: JSON.stringify(documentNow, null, 2) });
  const jsonForm = h("form", { class: "card", "aria-labelledby": "json-title", novalidate: true },
    h("h2", { id: "json-title", text: "The whole line (JSON)" }),
    field("f-json", "Line document", jsonArea, "Every field of the line; errors name the place in the document."),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Save JSON" })));

  const historyList = h("ol", { class: "history" });
  const historySection = h("section", { "aria-labelledby": "history-title", class: "card" },
    h("h2", { id: "history-title", text: "History" }), historyList);

  page(title, h("p", { class: "number", text: number }), now, previewSection(path), form, jsonForm, historySection);

  async function save(newDocument, shownAt) {
    clearErrors(form);
    clearErrors(jsonForm);
    clear(formProblems);
    try {
      const saved = await api("PUT", path, newDocument, { "If-Match": etag || "*" });
      etag = saved.etag;
      documentNow = saved.data;
      notify(`${title}: saved (version ${etag.replaceAll('"', "")}).`);
      await lineView(number, user);
    } catch (error) {
      if (error.status !== 400) {
        showError(shownAt === "json" ? "f-json" : "f-name", error.message);
        return;
      }
      const problems = errorList(error);
      let first = null;
      const unplaced = [];
      for (const problem of problems) {
        const id = shownAt === "json" ? "f-json" : controlFor(problem.pointer);
        const message = shownAt === "json" ? `At ${problem.pointer}: ${problem.message}` : problem.message;
        if (id && showError(id, message)) first = first || id;
        else unplaced.push(`At ${problem.pointer}: ${problem.message}`);
      }
      if (unplaced.length) append(formProblems, h("ul", {}, unplaced.map((t) => h("li", { text: t }))));
      if (first) document.getElementById(first).focus();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = structuredClone(documentNow);
    next.name = nameInput.value.trim();
    if (!next.name) delete next.name;
    next.timeZone = tzInput.value.trim();
    if (!next.timeZone) delete next.timeZone;
    const hours = {};
    for (const day of DAYS) {
      const text = document.getElementById(`f-hours-${day}`).value.trim();
      if (text) hours[day] = text.split(",").map((t) => t.trim()).filter(Boolean);
    }
    if (Object.keys(hours).length) next.hours = hours;
    else delete next.hours;
    for (const which of ["open", "closed"]) {
      const area = document.getElementById(`f-greet-${which}`);
      if (area.disabled) continue;
      const text = area.value.trim();
      next.greeting = next.greeting || {};
      if (text) next.greeting[which] = { ...(typeof next.greeting[which] === "object" ? next.greeting[which] : {}), say: text };
      else delete next.greeting[which];
      if (!Object.keys(next.greeting).length) delete next.greeting;
    }
    save(next, "form");
  });
  jsonForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(jsonForm);
    let parsed;
    try {
      parsed = JSON.parse(jsonArea.value);
    } catch (error) {
      showError("f-json", `Not valid JSON: ${error.message}`);
      jsonArea.focus();
      return;
    }
    save(parsed, "json");
  });

  try {
    const { data } = await api("GET", `${path}/history?limit=10`);
    for (const version of data.items) {
      append(historyList, h("li", {},
        h("details", {},
          h("summary", { text: `Version ${version.version}: ${version.change}, ${when(version.updatedAt)}` }),
          h("pre", { class: "code", text: version.deleted ? "(deleted)" : JSON.stringify(version.document, null, 2) }))));
    }
  } catch (error) {
    append(historyList, h("li", { text: `History not available: ${error.message}` }));
  }
}

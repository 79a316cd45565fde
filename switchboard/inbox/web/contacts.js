// Contacts: the business's address book. Everyone signed in finds and reads them; the owner
// adds, edits and blocks them (a contact is shared by every line: blocking refuses it on all).
import { api, enc, navigated } from "./api.js";
import { append, clear, clearErrors, field, h, notify, oneAtATime, page, showError } from "./dom.js";

const PAGE_SIZE = 25;

function numbersText(contact) {
  return (contact.numbers || []).map((n) => (n.label ? `${n.label}: ${n.number}` : n.number));
}

function contactCard(contact) {
  return h("li", { class: "card contact" },
    h("h2", {}, h("a", { href: `#/contacts/${enc(contact.id)}`, text: contact.name || contact.company || numbersText(contact)[0] || contact.id })),
    contact.company && contact.name ? h("p", { class: "hint", text: contact.company }) : null,
    h("p", { class: "number", text: numbersText(contact).join(", ") }),
    contact.blocked ? h("p", {}, h("span", { class: "badge blocked", text: "Blocked" })) : null,
    contact.tags && contact.tags.length ? h("p", { class: "hint", text: `Tags: ${contact.tags.join(", ")}` }) : null);
}

export async function contactsView(user) {
  const owner = user.role === "owner";
  const query = h("input", { type: "search", autocomplete: "off" });
  const blockedOnly = h("input", { type: "checkbox", id: "c-blocked-only" });
  const results = h("ul", { class: "cards", "aria-label": "Contacts found", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "quiet", text: "More contacts", hidden: true });
  const summary = h("p", { class: "hint", role: "status" });
  const search = h("form", { class: "card", role: "search", "aria-label": "Contacts", novalidate: true },
    field("c-search", "Search by name or number", query, "The start of a name or company word, or a number (+1201555…)."),
    h("div", { class: "field check" }, blockedOnly, h("label", { for: "c-blocked-only", text: "Only blocked contacts" })),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Search" })));
  page("Contacts",
    owner ? h("p", {}, h("a", { class: "button", href: "#/contacts/new", text: "Add a contact" }))
      : h("p", { class: "hint", text: "Only the owner adds, changes or blocks contacts." }),
    search, summary, results, more);

  // A page continues the search it belongs to (its cursor means nothing to another), and only
  // the latest search is shown. A new search is a move like one to another view (an earlier
  // search or page answering late is dropped), and it forgets the old cursor at once: "More"
  // pressed before its answer has no page to continue, rather than the old search's next page
  // under the new words.
  let cursor = null;
  let shown = 0;
  let searched = null;
  async function load(fresh) {
    clearErrors(search);
    if (fresh) {
      navigated();
      searched = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (query.value.trim()) searched.set("q", query.value.trim());
      if (blockedOnly.checked) searched.set("blocked", "true");
      cursor = null;
      more.hidden = true;
      summary.textContent = "Searching…";
    } else if (!cursor) {
      return;
    }
    const params = new URLSearchParams(searched);
    if (!fresh) params.set("cursor", cursor);
    try {
      const { data } = await api("GET", `inbox/contacts?${params}`);
      if (fresh) {
        clear(results);
        shown = 0;
      }
      append(results, data.items.map(contactCard));
      shown += data.items.length;
      cursor = data.nextCursor;
      more.hidden = !cursor;
      summary.textContent = shown ? `${shown} shown${cursor ? ", more below" : ""}.` : "No contact found.";
    } catch (error) {
      if (error.status === 401) return;
      showError("c-search", error.message);
    }
  }
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    load(true);
  });
  more.addEventListener("click", oneAtATime(() => load(false)));
  await load(true);
}

// Where a field's error is shown, by its JSON pointer (/numbers/1/number -> the numbers box).
const CONTROLS = { name: "c-name", company: "c-company", notes: "c-notes", tags: "c-tags", numbers: "c-numbers" };
function controlFor(pointer) {
  const parts = (pointer || "").split("/");
  return CONTROLS[parts[1]] || null;
}
function errorText(problem) {
  const parts = (problem.field || "").split("/");
  if (parts[1] === "numbers" && /^\d+$/.test(parts[2] || "")) return `Number ${Number(parts[2]) + 1}: ${problem.message}`;
  if (parts[1] === "tags" && /^\d+$/.test(parts[2] || "")) return `Tag ${Number(parts[2]) + 1}: ${problem.message}`;
  return problem.message;
}

function parseNumbers(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const labelled = line.match(/^([^:+\d(][^:]*):\s*(.+)$/);
    return labelled ? { label: labelled[1].trim(), number: labelled[2].trim() } : { number: line };
  });
}

function readOnly(contact) {
  const rows = [
    ["Company", contact.company],
    ["Numbers", numbersText(contact).join(", ")],
    ["E-mail", (contact.emails || []).join(", ")],
    ["Tags", (contact.tags || []).join(", ")],
    ["Notes", contact.notes],
    ["Blocked", contact.blocked ? "yes: calls are rejected and texts get nothing automatic" : "no"],
  ].filter(([, value]) => value);
  return h("section", { class: "card", "aria-label": "Details" },
    h("dl", { class: "details" }, rows.map(([term, value]) => [h("dt", { text: term }), h("dd", { class: "body-text", text: value })])),
    h("p", { class: "hint", text: "Only the owner changes contacts." }));
}

export async function contactView(key, user) {
  const creating = key === "new";
  if (creating && user.role !== "owner") {
    page("Add a contact", h("p", { class: "problem", text: "Only the owner adds contacts." }));
    return;
  }
  let contact = { name: "", company: "", notes: "", tags: [], numbers: [], blocked: false };
  let etag = null;
  if (!creating) {
    const found = await api("GET", `inbox/contacts/${enc(key)}`);
    contact = found.data;
    etag = found.etag;
  }
  const title = creating ? "Add a contact" : contact.name || contact.company || numbersText(contact)[0] || "Contact";
  const back = h("p", {}, h("a", { href: "#/contacts", text: "All contacts" }));
  if (user.role !== "owner") {
    page(title, back, readOnly(contact));
    return;
  }

  const name = h("input", { type: "text", value: contact.name || "", autocomplete: "off" });
  const company = h("input", { type: "text", value: contact.company || "", autocomplete: "off" });
  const numbers = h("textarea", { rows: "3", value: numbersText(contact).join("\n") });
  const tags = h("input", { type: "text", value: (contact.tags || []).join(", "), autocomplete: "off" });
  const notes = h("textarea", { rows: "4", value: contact.notes || "" });
  const problems = h("div", { class: "problems", role: "alert" });
  const form = h("form", { class: "card", "aria-labelledby": "contact-form-title", novalidate: true },
    h("h2", { id: "contact-form-title", text: creating ? "The new contact" : "Details" }),
    problems,
    field("c-name", "Name", name),
    field("c-company", "Company", company),
    field("c-numbers", "Phone numbers", numbers, "One a line, with the country code; a label first if you like: mobile: +12015550123."),
    field("c-tags", "Tags", tags, "Separated by commas, such as VIP, supplier."),
    field("c-notes", "Notes", notes),
    h("div", { class: "actions" }, h("button", { type: "submit", text: creating ? "Add the contact" : "Save the contact" })));

  const parts = [back];
  if (!creating) {
    const state = h("p", { id: "contact-blocked", class: contact.blocked ? "problem" : "hint",
      text: contact.blocked
        ? "Blocked on every line: calls are rejected, texts get nothing automatic (STOP still works)."
        : "Not blocked." });
    const toggle = h("button", { type: "button", class: contact.blocked ? "" : "danger",
      text: contact.blocked ? "Unblock" : "Block on every line",
      onclick: async () => {
        try {
          await api("PATCH", `inbox/contacts/${enc(contact.id)}`, { blocked: !contact.blocked }, { "If-Match": etag });
          notify(`${title}: ${contact.blocked ? "unblocked" : "blocked"}.`);
        } catch (error) {
          notify(error.message);
        }
        await contactView(contact.id, user);
      } });
    parts.push(h("section", { class: "card", "aria-labelledby": "block-title" },
      h("h2", { id: "block-title", text: "Blocking" }), state, h("div", { class: "actions" }, toggle)));
  }
  page(title, ...parts, form);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    clear(problems);
    const body = {
      name: name.value.trim() || null,
      company: company.value.trim() || null,
      notes: notes.value.trim() || null,
      tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      numbers: parseNumbers(numbers.value),
    };
    try {
      const saved = creating
        ? await api("POST", "inbox/contacts", body)
        : await api("PATCH", `inbox/contacts/${enc(contact.id)}`, body, { "If-Match": etag });
      notify(`${saved.data.name || saved.data.company || "The contact"}: saved.`);
      if (creating) location.hash = `#/contacts/${enc(saved.data.id)}`;
      else await contactView(saved.data.id, user);
    } catch (error) {
      if (error.status === 401) return;
      const found = error.errors.length ? error.errors : [{ field: error.field, message: error.message }];
      let first = null;
      const unplaced = [];
      const byControl = new Map();
      for (const problem of found) {
        const id = controlFor(problem.field);
        if (id && document.getElementById(id)) byControl.set(id, [...(byControl.get(id) || []), errorText(problem)]);
        else unplaced.push(problem.message);
      }
      for (const [id, messages] of byControl) {
        showError(id, messages.join(" "));
        first = first || id;
      }
      if (error.status === 412) unplaced.push("Reload the page to see the change, then edit again.");
      if (unplaced.length) append(problems, h("ul", {}, unplaced.map((t) => h("li", { text: t }))));
      if (first) document.getElementById(first).focus();
    }
  });
}

// Conversations: newest activity first, unread counts, open or done, one line or all, a search
// by name or number, older pages on demand; new activity appears without a reload.
import { api, enc, navigated } from "./api.js";
import { append, clear, h, notify, oneAtATime, page, when } from "./dom.js";
import { poll } from "./live.js";

const filters = { line: "", state: "open", q: "" };
let lineNames = null;

export async function namesOfLines() {
  if (lineNames) return lineNames;
  try {
    const { data } = await api("GET", "inbox/lines");
    lineNames = Object.fromEntries(data.items.map((line) => [line.number, line.name || line.number]));
  } catch {
    lineNames = {};
  }
  return lineNames;
}

export function conversationHref(line, customer) {
  return `#/conversations/${enc(line)}/${enc(customer)}`;
}

function listPath(before) {
  const params = new URLSearchParams();
  if (filters.line) params.set("line", filters.line);
  if (filters.state) params.set("state", filters.state);
  if (filters.q) params.set("q", filters.q);
  if (before) params.set("before", before);
  const query = params.toString();
  return `inbox/conversations${query ? `?${query}` : ""}`;
}

function item(conversation, names, manyLines) {
  const who = conversation.name || conversation.customer;
  const unread = conversation.unread > 0;
  return h("li", { class: `conversation${unread ? " unread" : ""}`, "data-customer": conversation.customer },
    h("a", { href: conversationHref(conversation.line, conversation.customer) },
      h("span", { class: "party" },
        h("strong", { class: "name", text: who }),
        unread ? h("span", { class: "count" }, String(conversation.unread), h("span", { class: "sr", text: " unread" })) : null,
        conversation.state === "done" ? h("span", { class: "badge", text: "done" }) : null),
      h("span", { class: "preview", text: conversation.preview || "" }),
      h("span", { class: "meta" },
        h("time", { datetime: conversation.lastActivityAt || "", text: when(conversation.lastActivityAt) }),
        manyLines ? ` · ${names[conversation.line] || conversation.line}` : "",
        conversation.name ? ` · ${conversation.customer}` : "",
        conversation.assignedTo ? ` · ${conversation.assignedTo}` : "")));
}

function filterForm(names, onChange) {
  const lineSelect = h("select", { id: "c-line" },
    h("option", { value: "", text: "All lines" }),
    Object.entries(names).map(([number, name]) => h("option", { value: number, text: name === number ? number : `${name} (${number})` })));
  lineSelect.value = filters.line;
  const stateSelect = h("select", { id: "c-state" },
    h("option", { value: "open", text: "Open" }),
    h("option", { value: "done", text: "Done" }),
    h("option", { value: "", text: "Open and done" }));
  stateSelect.value = filters.state;
  const search = h("input", { id: "c-q", type: "search", autocomplete: "off", value: filters.q, maxlength: "100" });
  return h("form", { class: "filters", role: "search", "aria-label": "Find conversations",
    onsubmit: (event) => {
      event.preventDefault();
      filters.line = lineSelect.value;
      filters.state = stateSelect.value;
      filters.q = search.value.trim();
      onChange();
    } },
  h("div", { class: "field" }, h("label", { for: "c-line", text: "Line" }), lineSelect),
  h("div", { class: "field" }, h("label", { for: "c-state", text: "Show" }), stateSelect),
  h("div", { class: "field grow" }, h("label", { for: "c-q", text: "Search by name or number" }), search),
  h("div", { class: "field" }, h("button", { type: "submit", text: "Show" })));
}

export async function conversationsView() {
  const [names, first] = await Promise.all([namesOfLines(), api("GET", listPath())]);
  const manyLines = Object.keys(names).length !== 1;
  const list = h("ul", { class: "conversations", "aria-label": "Conversations" });
  const empty = h("p", { class: "hint", hidden: true });
  const more = h("button", { type: "button", class: "quiet", hidden: true, text: "Older conversations" });
  let next = null;
  const show = (data, append_) => {
    if (!append_) clear(list);
    append(list, data.conversations.map((c) => item(c, names, manyLines)));
    next = data.nextBefore;
    more.hidden = !next;
    empty.hidden = list.children.length > 0;
    empty.textContent = filters.q ? `No conversation matches “${filters.q}”.` : "No conversation here yet.";
  };
  more.addEventListener("click", oneAtATime(async () => {
    try {
      const { data } = await api("GET", listPath(next));
      show(data, true);
    } catch (error) {
      if (error.status !== 401) notify(error.message);
    }
  }));
  const root = page("Conversations",
    // Showing other conversations is a move like any other: an earlier list answering late is
    // dropped rather than drawn over this one.
    filterForm(names, () => {
      navigated();
      conversationsView();
    }),
    list, empty, more);
  show(first.data, false);
  // New activity moves the first page: the list is shown from the top again.
  poll(list, listPath(), first.etag, (data) => show(data, false));
  return root;
}

// Scheduled texts (owner): schedule one, look one up, cancel it before it goes.
import { api, enc } from "./api.js";
import { append, clearErrors, field, h, notify, page, showError, when } from "./dom.js";

const FIELDS = { to: "s-to", body: "s-body", sendAt: "s-when", id: "s-id" };

function scheduleCard(schedule, onCancelled) {
  const cancel = h("button", {
    type: "button", class: "quiet", text: "Cancel",
    "aria-label": `Cancel the text to ${schedule.to}`,
    onclick: async () => {
      try {
        const { data } = await api("DELETE", `inbox/schedules/${enc(schedule.id)}`);
        notify(`Cancelled: ${data.status}.`);
        onCancelled(data);
      } catch (error) {
        notify(error.message);
      }
    },
  });
  return h("li", { class: "card" },
    h("p", {}, h("strong", { text: schedule.to }), " ", h("span", { class: "badge", text: schedule.status })),
    h("p", { class: "body-text", text: schedule.body }),
    h("p", { class: "hint", text: `Sends ${when(schedule.sendAt)} · id ${schedule.id}` }),
    schedule.status === "pending" ? cancel : null);
}

export async function schedulesView() {
  const shown = h("ul", { class: "cards", "aria-label": "Scheduled texts shown" });
  const to = h("input", { type: "tel", autocomplete: "off", placeholder: "+15558675310" });
  const body = h("textarea", { rows: "3" });
  const sendAt = h("input", { type: "datetime-local" });
  const form = h("form", { class: "card", "aria-labelledby": "new-title", novalidate: true },
    h("h2", { id: "new-title", text: "Schedule a text" }),
    field("s-to", "To (with the country code)", to),
    field("s-body", "Message", body),
    field("s-when", "Send at (your time)", sendAt),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Schedule" })));
  const lookup = h("input", { type: "text", autocomplete: "off" });
  const find = h("form", { class: "card", "aria-labelledby": "find-title", novalidate: true },
    h("h2", { id: "find-title", text: "Find a scheduled text" }),
    field("s-id", "Its id", lookup),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Find" })));

  const show = (schedule) => {
    const card = scheduleCard(schedule, (after) => card.replaceWith(scheduleCard(after, () => {})));
    shown.prepend(card);
  };
  page("Scheduled texts", form, find, h("h2", { text: "Shown here" }), shown);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const moment = sendAt.value ? new Date(sendAt.value) : null;
    const request = { to: to.value.trim(), body: body.value, sendAt: moment && !Number.isNaN(moment.getTime()) ? moment.toISOString() : "" };
    try {
      const { data } = await api("POST", "inbox/schedules", request);
      notify(`Scheduled for ${when(data.sendAt)}.`);
      show(data);
      form.reset();
    } catch (error) {
      const id = FIELDS[error.field] || "s-to";
      showError(id, error.message);
      document.getElementById(id).focus();
    }
  });
  find.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(find);
    try {
      const { data } = await api("GET", `inbox/schedules/${enc(lookup.value.trim())}`);
      show(data);
    } catch (error) {
      showError("s-id", error.message);
      lookup.focus();
    }
  });
  append(shown);
}

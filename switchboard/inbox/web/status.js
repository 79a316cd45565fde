// Status: what is set up and what is not, in words.
import { api } from "./api.js";
import { h, page } from "./dom.js";

export async function statusView() {
  const { data } = await api("GET", "inbox/status");
  const summary = data.ok ? "Everything is set up." : "Some things need attention.";
  page("Status",
    h("p", { class: data.ok ? "good" : "problem", text: summary }),
    h("ul", { class: "status-list" }, data.items.map((item) => h("li", { class: item.ok ? "ok" : "not-ok" },
      h("span", { class: "badge", text: item.ok ? "OK" : "Needs attention" }),
      h("strong", { text: item.what }),
      h("span", { text: ` ${item.detail}` })))));
}

// People (owner): who can sign in, and ending someone's sessions (a lost phone, a leaver).
import { api, enc } from "./api.js";
import { h, notify, page } from "./dom.js";

export async function peopleView(me) {
  const { data } = await api("GET", "inbox/users");
  const rows = data.items.map((user) => {
    const end = h("button", {
      type: "button", class: "quiet", text: "End sessions",
      "aria-label": `End sessions of ${user.name}`,
      onclick: async () => {
        const { data: ended } = await api("POST", `inbox/users/${enc(user.id)}/signout`, {});
        notify(`${ended.ended} sessions of ${user.name} ended.`);
        if (user.id === me.id) location.reload();
        else peopleView(me);
      },
    });
    return h("tr", {},
      h("th", { scope: "row", text: user.name }),
      h("td", { text: user.role }),
      h("td", { text: [user.phone, user.email].filter(Boolean).join(", ") }),
      h("td", { text: user.role === "owner" ? "all" : user.lines.join(", ") || "none" }),
      h("td", { text: String(user.sessions) }),
      h("td", {}, end));
  });
  page("People",
    h("p", { text: "The operator adds people with `python -m switchboard inbox users add`." }),
    h("div", { class: "scroll", tabindex: "0", role: "region", "aria-label": "People" },
      h("table", {},
        h("thead", {}, h("tr", {}, ["Name", "Role", "Sign-in", "Lines", "Sessions", "Actions"].map((t) =>
          h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows))));
}

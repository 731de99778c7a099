// The signed-in user's own account: changing the password (which ends their other sessions).
import { Hono } from "hono";
import { AccountPage } from "../../../../ui/views/users.tsx";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf } from "../middleware.ts";
import { currentUser, formBody, html, redirectWith, takeFlash, withForm } from "../ui_kit.tsx";

export function accountRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  ui.get(
    "/ui/account",
    (c) =>
      html(
        c,
        <AccountPage
          title="Account"
          user={currentUser(c)}
          flash={takeFlash(c)}
          form={{ values: {}, errors: {} }}
        />,
      ),
  );
  ui.post("/ui/account/password", async (c) => {
    const body = await formBody(c);
    return await withForm(c, body, async () => {
      await s.accounts.changeOwnPassword(actorOf(c), c.get("meta"), body);
      return redirectWith(c, "/ui/account", {
        kind: "ok",
        text: "Password changed. Your other sessions were logged out.",
      });
    }, (form) => <AccountPage title="Account" user={currentUser(c)} form={form} />);
  });
  return ui;
}

// Master keys: the answer-signing key the nodes trust and its rotation (announce, then the switch once
// every node trusts the new key; service/signing_rotation.ts). Unscoped admins only (scope_guard.ts).
import { Hono } from "hono";
import { KeysPage } from "../../../../ui/views/keys.tsx";
import { canWrite } from "../../service/context.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf } from "../middleware.ts";
import { confirmation, currentUser, html, redirectWith, requireWriter, takeFlash } from "../ui_kit.tsx";

export function keysRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  ui.get("/ui/keys", async (c) => {
    const k = await s.signingKey.status();
    return html(
      c,
      <KeysPage
        title="Master keys"
        user={currentUser(c)}
        flash={takeFlash(c)}
        signing={{ ...k, canRotate: canWrite(actorOf(c)) }}
      />,
    );
  });
  ui.get("/ui/keys/signing/rotate", (c) => {
    requireWriter(c, "the master's keys");
    return confirmation(c, {
      title: "Rotate the answer-signing key?",
      warning:
        "A new key is announced to every node now; the master switches to it once every enrolled node trusts it (at the latest after the grace period), and the old key is refused from then on. A node away during the announcement takes the new key from its first heartbeat after the switch.",
      action: "/ui/keys/signing/rotate",
      button: "Announce a new signing key",
      danger: true,
      cancel: "/ui/keys",
      active: "settings",
      id: "rotate-signing-confirm",
    });
  });
  ui.post("/ui/keys/signing/rotate", async (c) => {
    const k = await s.signingKey.start(actorOf(c), c.get("meta"));
    return redirectWith(c, "/ui/keys", {
      kind: "ok",
      text: `New signing key ${k.next?.fingerprint} announced to ${k.next?.enrolled} enrolled node(s).`,
    });
  });
  return ui;
}

// A node's WireGuard key rotation in the UI (service/wg_key_rotation.ts): the status page, and start and
// "finish now" after a confirmation. Admins only for the actions.
import { Hono } from "hono";
import { WgKeysPage } from "../../../../ui/views/wg_keys.tsx";
import { canWrite } from "../../service/context.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
import { confirmation, currentUser, html, redirectWith, requireWriter, takeFlash } from "../ui_kit.tsx";

export function wgKeysRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();
  ui.get("/ui/nodes/:id/wg-keys", (c) => {
    const id = idParam(c);
    const r = s.wgKeys.status(id);
    return html(
      c,
      <WgKeysPage
        title={`WireGuard keys of ${r.node}`}
        user={currentUser(c)}
        flash={takeFlash(c)}
        k={{ ...r, nodeId: id, canRotate: canWrite(actorOf(c)) }}
      />,
    );
  });
  ui.get("/ui/nodes/:id/wg-keys/rotate", (c) => {
    requireWriter(c, "nodes");
    const id = idParam(c);
    const name = s.wgKeys.status(id).node;
    return confirmation(c, {
      title: `Rotate the WireGuard keys of ${name}?`,
      warning:
        `${name} brings up a second device with a new key on the alternate port (open it in its firewall). Client configs name the new key from then on; clients that do not install their fresh config before the rotation ends lose their tunnel until they do.`,
      action: `/ui/nodes/${id}/wg-keys/rotate`,
      button: "Start the rotation",
      danger: true,
      cancel: `/ui/nodes/${id}/wg-keys`,
      active: "nodes",
      id: "rotate-wg-keys-confirm",
    });
  });
  ui.post("/ui/nodes/:id/wg-keys/rotate", (c) => {
    const id = idParam(c);
    const r = s.wgKeys.start(actorOf(c), c.get("meta"), id);
    return redirectWith(c, `/ui/nodes/${id}/wg-keys`, {
      kind: "ok",
      text:
        `${r.node} brings up its next devices with new keys; client configs follow once it announced them.`,
    });
  });
  ui.get("/ui/nodes/:id/wg-keys/finish", (c) => {
    requireWriter(c, "nodes");
    const id = idParam(c);
    const r = s.wgKeys.status(id);
    return confirmation(c, {
      title: `Finish the WireGuard key rotation of ${r.node} now?`,
      warning:
        `The old devices and keys go now: ${r.pending} client(s) still handshaking with the old key lose their tunnel until they install their fresh config.`,
      action: `/ui/nodes/${id}/wg-keys/finish`,
      button: "Finish now",
      danger: true,
      cancel: `/ui/nodes/${id}/wg-keys`,
      active: "nodes",
      id: "finish-wg-rotation-confirm",
    });
  });
  ui.post("/ui/nodes/:id/wg-keys/finish", (c) => {
    const id = idParam(c);
    const r = s.wgKeys.finish(actorOf(c), c.get("meta"), id);
    return redirectWith(c, `/ui/nodes/${id}/wg-keys`, {
      kind: "ok",
      text: `${r.node} runs its new keys; the old ones are refused from now on.`,
    });
  });
  return ui;
}

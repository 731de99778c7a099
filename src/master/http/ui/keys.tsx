// Master keys: the answer-signing key the nodes trust and the TLS certificate they pin, and their rotation
// (announce, then the switch once every node trusts the new one; service/signing_rotation.ts and
// tls_rotation.ts). Unscoped admins only (scope_guard.ts).
import { Hono } from "hono";
import { KeysPage } from "../../../../ui/views/keys.tsx";
import { canWrite } from "../../service/context.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { actorOf, idParam } from "../middleware.ts";
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
        tls={{ ...s.tlsRotation.status(), canRotate: canWrite(actorOf(c)) }}
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
  // A node's identity key: asked for here, made and sent by the node at its next heartbeat.
  ui.get("/ui/nodes/:id/identity", (c) => {
    requireWriter(c, "nodes");
    const n = s.nodes.get(idParam(c));
    return confirmation(c, {
      title: `Rotate the identity key of ${n.name}?`,
      warning:
        `${n.name} makes a new identity key at its next heartbeat and sends its certificate signed with the current key; the master then refuses the old key. Its tunnels keep running.`,
      action: `/ui/nodes/${n.id}/identity`,
      button: `Rotate the identity key of ${n.name}`,
      danger: true,
      cancel: `/ui/nodes/${n.id}`,
      active: "nodes",
      id: "rotate-identity-confirm",
    });
  });
  ui.post("/ui/nodes/:id/identity", (c) => {
    const id = idParam(c);
    s.identity.request(actorOf(c), c.get("meta"), id);
    return redirectWith(c, `/ui/nodes/${id}`, {
      kind: "ok",
      text: `${s.nodes.get(id).name} makes a new identity key at its next heartbeat.`,
    });
  });
  ui.get("/ui/keys/tls/rotate", (c) => {
    requireWriter(c, "the master's keys");
    return confirmation(c, {
      title: "Rotate the TLS certificate?",
      warning:
        "A new self-signed certificate is announced to every node now; once every enrolled node pins it (at the latest after the grace period) the master presents it from its next start, and nodes forget the old pin. Browsers that accepted the old certificate will ask again.",
      action: "/ui/keys/tls/rotate",
      button: "Announce a new TLS certificate",
      danger: true,
      cancel: "/ui/keys",
      active: "settings",
      id: "rotate-tls-confirm",
    });
  });
  ui.post("/ui/keys/tls/rotate", async (c) => {
    const t = await s.tlsRotation.start(actorOf(c), c.get("meta"));
    return redirectWith(c, "/ui/keys", {
      kind: "ok",
      text: `New TLS certificate ${
        t.next?.fingerprint.slice(0, 16)
      } announced to ${t.next?.enrolled} enrolled node(s).`,
    });
  });
  return ui;
}

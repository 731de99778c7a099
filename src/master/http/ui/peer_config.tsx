// A peer's client config: its QR code and .conf download (admins only, audited by the service, never
// cached), and rotating its credentials (new keys and PSK, or a new PSK) after a confirmation, which
// leads to the fresh QR code with what the client has to do and by when.
import { Hono } from "hono";
import { clientConfFileName } from "../../../core/client_conf.ts";
import { AppError } from "../../../core/errors.ts";
import { qrSvg } from "../../../core/qr.ts";
import { QrDialog, type QrModel, QrPage } from "../../../../ui/views/peers.tsx";
import { canWrite } from "../../service/context.ts";
import type { PeerView } from "../../service/peers.ts";
import type { Services } from "../../service/services.ts";
import type { AppEnv } from "../env.ts";
import { download } from "../json.ts";
import { actorOf, idParam } from "../middleware.ts";
import {
  confirmation,
  currentUser,
  formBody,
  html,
  hxTarget,
  isLoopbackHost,
  redirectWith,
  requireWriter,
} from "../ui_kit.tsx";

/** What the client has to do after a rotation (shown above the fresh QR code). */
export const ROTATED_NOTICE = {
  keys: "New keys and PSK: install this config on the client now. Its current session keeps working until " +
    "its next handshake (at most 2 minutes); after that only this config connects, the old one is refused.",
  psk: "New PSK: install this config on the client now. Its current session keeps working until its next " +
    "handshake (at most 2 minutes); after that only this config connects, the old one is refused.",
} as const;

export function peerConfigRoutes(s: Services): Hono<AppEnv> {
  const ui = new Hono<AppEnv>();

  const qrModel = (p: PeerView, rotated: keyof typeof ROTATED_NOTICE | null): QrModel => {
    const at = s.clientConfigs.endpointOf(p.id);
    const endpoint = at ? `${at.host.includes(":") ? `[${at.host}]` : at.host}:${at.port}` : null;
    return {
      id: p.id,
      name: p.name,
      nodeName: p.nodeName,
      pool: p.pool,
      filename: clientConfFileName(p.name),
      endpoint,
      endpointWarning: at && isLoopbackHost(at.host)
        ? `This config connects to ${endpoint}, an address only the master's own machine can reach: a phone or laptop elsewhere cannot connect. Set the interface's endpoint host (Interfaces → Edit) or WIREBUDDY_PUBLIC_URL to the master's public address.`
        : null,
      serverKeys: p.hasPrivateKey,
      rotated: rotated ? ROTATED_NOTICE[rotated] : null,
    };
  };

  ui.get("/ui/peers/:id/qr", (c) => {
    // The image holds the private key: a viewer gets a 403 page, not a page with a broken image.
    if (!canWrite(actorOf(c))) {
      throw new AppError(
        "forbidden",
        "Only admins can see a peer's QR code: it holds the peer's private key.",
      );
    }
    const p = s.peers.get(idParam(c));
    const r = c.req.query("rotated");
    const q = qrModel(p, r === "keys" || r === "psk" ? r : null);
    if (hxTarget(c) === "modal") return html(c, <QrDialog q={q} />);
    return html(c, <QrPage title="QR code" user={currentUser(c)} q={q} />);
  });
  ui.get("/ui/peers/:id/qr.svg", async (c) => {
    const conf = await s.clientConfigs.forPeer(actorOf(c), c.get("meta"), idParam(c), "qr");
    return download(c, await qrSvg(conf.text, conf.badge ? { badge: conf.badge } : {}), "image/svg+xml");
  });
  ui.get("/ui/peers/:id/config", async (c) => {
    const conf = await s.clientConfigs.forPeer(actorOf(c), c.get("meta"), idParam(c), "conf");
    return download(c, conf.text, "text/plain; charset=utf-8", conf.filename);
  });

  // --- rotation: ask first, then the fresh QR code -------------------------------------------------
  /** keys=1 asks for new keys and PSK (server-held keys only), otherwise a new PSK. */
  const wantsKeys = (v: string | undefined, p: PeerView) => {
    if (v !== "1") return false;
    if (!p.hasPrivateKey) {
      throw new AppError(
        "conflict",
        `Peer "${p.name}" holds its own private key: rotate its PSK only, or set the client's new public key (Edit)`,
      );
    }
    return true;
  };
  ui.get("/ui/peers/:id/rotate", (c) => {
    requireWriter(c, "interfaces or peers");
    const p = s.peers.get(idParam(c));
    const keys = wantsKeys(c.req.query("keys"), p);
    const what = keys ? "keys" : "PSK";
    return confirmation(c, {
      title: `Rotate the ${what} of ${p.name}?`,
      warning: `${p.name} gets a new ${
        keys ? "key pair and PSK" : "PSK"
      } at once, and its node forgets the old one: the client's current session keeps working until its next handshake (at most 2 minutes), then only the fresh config connects.`,
      detail: "The next page shows the fresh QR code and config: install it on the client right away.",
      action: `/ui/peers/${p.id}/rotate`,
      hidden: { keys: keys ? "1" : "0" },
      button: `Rotate the ${what} of ${p.name}`,
      danger: true,
      cancel: "/ui/peers",
      active: "peers",
      id: "rotate-peer",
    });
  });
  ui.post("/ui/peers/:id/rotate", async (c) => {
    const id = idParam(c);
    const body = await formBody(c);
    const keys = wantsKeys(body.keys, s.peers.get(id));
    await s.rotation.rotatePeer(actorOf(c), c.get("meta"), id, { keys });
    return redirectWith(c, `/ui/peers/${id}/qr?rotated=${keys ? "keys" : "psk"}`);
  });

  return ui;
}

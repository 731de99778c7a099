// JSON API for WireGuard interfaces and peers, with client config and QR downloads.
import { Hono } from "hono";
import { qrPng, qrSvg } from "../../core/qr.ts";
import type { Services } from "../service/services.ts";
import type { InterfaceView } from "../service/interfaces.ts";
import type { PeerView } from "../service/peers.ts";
import type { AppEnv } from "./env.ts";
import { download, iso, jsonBody, optionalJsonBody } from "./json.ts";
import { actorOf, idParam } from "./middleware.ts";
import { fleetOf, inScope } from "../service/scope.ts";

export const interfaceJson = (i: InterfaceView) => ({
  id: i.id,
  name: i.name,
  address4: i.address4,
  address6: i.address6,
  listen_port: i.listenPort,
  mtu: i.mtu,
  dns: i.dns,
  keepalive: i.keepalive,
  endpoint_host: i.endpointHost,
  public_key: i.publicKey,
  peer_count: i.peerCount,
});

export const peerJson = (p: PeerView) => ({
  id: p.id,
  interface_id: p.interfaceId,
  interface: p.interfaceName,
  node_id: p.nodeId,
  node: p.nodeName,
  // A failover pool's client: its members serve it (node_id is null), `served_by` holds its latest handshake.
  pool: p.pool && {
    id: p.pool.id,
    name: p.pool.name,
    served_by: p.pool.servedBy && { node_id: p.pool.servedBy.nodeId, node: p.pool.servedBy.nodeName },
  },
  name: p.name,
  public_key: p.publicKey,
  server_generated_keys: p.hasPrivateKey,
  preshared_key: p.hasPresharedKey,
  ipv4: p.ipv4,
  ipv6: p.ipv6,
  routing: p.routing,
  allowed_ips: p.allowedIps,
  enabled: p.enabled,
  expires_at: iso(p.expiresAt),
  expired: p.expired,
  created_at: iso(p.createdAt),
  updated_at: iso(p.updatedAt),
});

export function wgApiRoutes(s: Services): Hono<AppEnv> {
  const api = new Hono<AppEnv>();

  api.get(
    "/interfaces",
    (c) =>
      c.json({
        interfaces: inScope(fleetOf(actorOf(c)), "interfaces", s.interfaces.list()).map(interfaceJson),
      }),
  );
  api.post(
    "/interfaces",
    async (c) =>
      c.json(interfaceJson(await s.interfaces.create(actorOf(c), c.get("meta"), await jsonBody(c))), 201),
  );
  api.get("/interfaces/:id", (c) => c.json(interfaceJson(s.interfaces.get(idParam(c)))));
  api.patch(
    "/interfaces/:id",
    async (c) =>
      c.json(interfaceJson(s.interfaces.update(actorOf(c), c.get("meta"), idParam(c), await jsonBody(c)))),
  );
  api.delete("/interfaces/:id", (c) => {
    s.interfaces.delete(actorOf(c), c.get("meta"), idParam(c));
    return c.body(null, 204);
  });

  api.get("/peers", (c) => {
    const page = s.peers.list(c.req.query(), fleetOf(actorOf(c)));
    return c.json({
      peers: page.items.map(peerJson),
      total: page.total,
      page: page.page,
      per_page: page.perPage,
    });
  });
  api.post(
    "/peers",
    async (c) => c.json(peerJson(await s.peers.create(actorOf(c), c.get("meta"), await jsonBody(c))), 201),
  );
  api.get("/peers/:id", (c) => c.json(peerJson(s.peers.get(idParam(c)))));
  api.patch(
    "/peers/:id",
    async (c) =>
      c.json(peerJson(await s.peers.update(actorOf(c), c.get("meta"), idParam(c), await jsonBody(c)))),
  );
  // New keys and PSK (or {"keys": false}: a new PSK), audited; then GET .../config or .../qr.svg.
  api.post("/peers/:id/rotate", async (c) => {
    const id = idParam(c);
    const body = await optionalJsonBody(c); // no body: keys and PSK
    await s.rotation.rotatePeer(actorOf(c), c.get("meta"), id, body);
    return c.json(peerJson(s.peers.get(id)));
  });
  api.delete("/peers/:id", (c) => {
    s.peers.delete(actorOf(c), c.get("meta"), idParam(c));
    return c.body(null, 204);
  });

  api.get("/peers/:id/config", async (c) => {
    const conf = await s.clientConfigs.forPeer(actorOf(c), c.get("meta"), idParam(c), "conf");
    return download(c, conf.text, "text/plain; charset=utf-8", conf.filename);
  });
  api.get("/peers/:id/qr.svg", async (c) => {
    const conf = await s.clientConfigs.forPeer(actorOf(c), c.get("meta"), idParam(c), "qr");
    return download(c, await qrSvg(conf.text, conf.badge ? { badge: conf.badge } : {}), "image/svg+xml");
  });
  api.get("/peers/:id/qr.png", async (c) => {
    const conf = await s.clientConfigs.forPeer(actorOf(c), c.get("meta"), idParam(c), "qr");
    return download(c, await qrPng(conf.text, conf.badge ? { badge: conf.badge } : {}), "image/png");
  });

  return api;
}

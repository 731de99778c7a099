// JSON API for nodes (admin): create (token shown once), list, read, edit, delete, new token; the master's
// answer-signing key the nodes trust, and its rotation.
import { Hono } from "hono";
import type { NodeView } from "../service/node_admin.ts";
import type { Services } from "../service/services.ts";
import type { SigningKeyStatus } from "../service/signing_rotation.ts";
import type { TlsStatus } from "../service/tls_rotation.ts";
import type { WgRotationStatus } from "../service/wg_key_rotation.ts";
import type { AppEnv } from "./env.ts";
import { iso, jsonBody } from "./json.ts";
import { actorOf, idParam } from "./middleware.ts";
import { fleetOf, inScope } from "../service/scope.ts";

export const nodeJson = (n: NodeView) => ({
  id: n.id,
  name: n.name,
  fqdn: n.fqdn,
  wg_port: n.wgPort,
  local: n.isLocal,
  status: n.status,
  last_seen: iso(n.lastSeenAt),
  last_error: n.lastError,
  hostname: n.hostname,
  enrolled: n.enrolled,
  token_expires_at: iso(n.tokenExpiresAt),
  config_version: n.configVersion,
  applied_version: n.appliedVersion,
  peers: n.peerCount,
  dropped_metrics: n.droppedMetrics,
  clock_skew_ms: n.clockSkewMs,
  interfaces: n.interfaces.map((i) => ({ name: i.name, address: i.address, public_key: i.publicKey })),
});

const signingJson = (k: SigningKeyStatus) => ({
  current: k.current,
  next: k.next && {
    fingerprint: k.next.fingerprint,
    announced_at: iso(k.next.announcedAt),
    switch_by: iso(k.next.switchBy),
    nodes_trusting: k.next.trusted,
    nodes_enrolled: k.next.enrolled,
  },
});

const tlsJson = (t: TlsStatus) => ({
  current: t.current,
  next: t.next && {
    sha256: t.next.fingerprint,
    announced_at: iso(t.next.announcedAt),
    switch_by: iso(t.next.switchBy),
    nodes_trusting: t.next.trusted,
    nodes_enrolled: t.next.enrolled,
    at_next_start: t.next.atNextStart,
  },
});

const wgRotationJson = (r: WgRotationStatus) => ({
  node: r.node,
  running: r.running,
  started_at: iso(r.startedAt),
  finish_by: iso(r.finishBy),
  started_by: r.startedBy,
  interfaces: r.interfaces.map((i) => ({
    name: i.name,
    device: i.device,
    port: i.port,
    next: i.next && { device: i.next.device, port: i.next.port, public_key: i.next.publicKey },
  })),
  clients: r.clients,
  clients_moved: r.moved,
  clients_on_old_key: r.pending,
});

export function nodesApiRoutes(s: Services): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  api.get(
    "/nodes",
    (c) => c.json({ nodes: inScope(fleetOf(actorOf(c)), "nodes", s.nodes.list()).map(nodeJson) }),
  );
  api.post("/nodes", async (c) => {
    const { node, token } = await s.nodes.create(actorOf(c), c.get("meta"), await jsonBody(c));
    c.header("Cache-Control", "no-store");
    return c.json({ ...nodeJson(node), enrollment_token: token }, 201);
  });
  api.get("/nodes/:id", (c) => c.json(nodeJson(s.nodes.get(idParam(c)))));
  api.patch(
    "/nodes/:id",
    async (c) => c.json(nodeJson(s.nodes.update(actorOf(c), c.get("meta"), idParam(c), await jsonBody(c)))),
  );
  api.delete("/nodes/:id", (c) => {
    const { unassignedPeers } = s.nodes.delete(actorOf(c), c.get("meta"), idParam(c));
    return c.json({ deleted: true, unassigned_peers: unassignedPeers });
  });
  api.post("/nodes/:id/token", async (c) => {
    const token = await s.nodes.regenerateToken(actorOf(c), c.get("meta"), idParam(c));
    c.header("Cache-Control", "no-store");
    return c.json({ enrollment_token: token });
  });
  api.post("/nodes/:id/identity/rotate", (c) => {
    s.identity.request(actorOf(c), c.get("meta"), idParam(c));
    return c.json({ requested: true }, 202);
  });
  // A node's WireGuard keys: a next device with a new key beside the old one, then the switch.
  api.get("/nodes/:id/rotate-wireguard-key", (c) => c.json(wgRotationJson(s.wgKeys.status(idParam(c)))));
  api.post("/nodes/:id/rotate-wireguard-key", (c) => {
    return c.json(wgRotationJson(s.wgKeys.start(actorOf(c), c.get("meta"), idParam(c))), 202);
  });
  api.post("/nodes/:id/rotate-wireguard-key/finish", (c) => {
    return c.json(wgRotationJson(s.wgKeys.finish(actorOf(c), c.get("meta"), idParam(c))));
  });
  api.get("/master/signing-key", async (c) => c.json(signingJson(await s.signingKey.status())));
  // Announces a new key; the master switches once every enrolled node trusts it (or the grace period ends).
  api.post("/master/signing-key/rotate", async (c) => {
    const status = await s.signingKey.start(actorOf(c), c.get("meta"));
    return c.json(signingJson(status), 202);
  });
  api.get("/master/tls", (c) => c.json(tlsJson(s.tlsRotation.status())));
  // Announces a new self-signed certificate; the listener presents it at the start after every node trusts it.
  api.post(
    "/master/tls/rotate",
    async (c) => c.json(tlsJson(await s.tlsRotation.start(actorOf(c), c.get("meta"))), 202),
  );
  return api;
}

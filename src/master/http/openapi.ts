// The OpenAPI 3.1 document of the JSON API, served at GET /api/openapi.json. Request bodies come from
// the same zod schemas the handlers validate with, so the document cannot drift from the code.
import { z } from "zod";
import { SessionRequestSchema } from "../../core/sync_session.ts";
import { DNS_OPS } from "./dns_api.ts";
import { POOL_OPS } from "./pools_api.ts";
import { NewUserSchema, PasswordSchema, RoleSchema, ScopeSchema } from "../service/accounts.ts";
import { NewTokenSchema } from "../service/api_tokens.ts";
import { NodeInputSchema, NodePatchSchema } from "../service/node_admin.ts";
import { WebhookInputSchema, WebhookPatchSchema } from "../service/webhooks.ts";
import { EnrollRequestSchema, HeartbeatRequestSchema, IdentityRequestSchema } from "../../core/sync.ts";
import {
  InterfaceInputSchema,
  InterfacePatchSchema,
  PeerInputSchema,
  PeerPatchSchema,
} from "../service/wg_schemas.ts";
import { RotatePeerSchema } from "../service/rotation.ts";

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: "input", unrepresentable: "any" });

type Op = {
  summary: string;
  body?: z.ZodType;
  /** The body may be left out (the defaults apply). */
  optionalBody?: boolean;
  query?: string[];
  ok: number;
  produces?: string;
  public?: boolean;
};

const OPS: Record<string, Record<string, Op>> = {
  "/api/health": {
    get: { summary: "Liveness: always healthy while the process serves", ok: 200, public: true },
  },
  "/api/ready": {
    get: {
      summary: "Readiness: the database answers and the secret key matches (else 503)",
      ok: 200,
      public: true,
    },
  },
  "/api/openapi.json": { get: { summary: "This document", ok: 200, public: true } },
  "/api/me": { get: { summary: "The calling token and its owner", ok: 200 } },
  "/api/users": {
    get: { summary: "List users", ok: 200 },
    post: { summary: "Create a user", body: NewUserSchema, ok: 201 },
  },
  "/api/users/{id}": {
    get: { summary: "One user", ok: 200 },
    patch: {
      summary: "Change role, password and/or scope (the nodes and pools an admin is limited to; null: all)",
      body: z.object({ role: RoleSchema, password: PasswordSchema, scope: ScopeSchema }).partial(),
      ok: 200,
    },
    delete: { summary: "Delete a user (never the last admin)", ok: 204 },
  },
  "/api/users/{id}/second-factor": {
    delete: {
      summary:
        "Reset a user's second factor: authenticator app, recovery codes, passkeys; ends their sessions",
      ok: 204,
    },
  },
  "/api/tokens": {
    get: { summary: "List API tokens (never their secrets)", ok: 200 },
    post: {
      summary: "Create an API token; the secret is in this answer only",
      body: NewTokenSchema,
      ok: 201,
    },
  },
  "/api/tokens/{id}": { delete: { summary: "Revoke an API token", ok: 200 } },
  "/api/audit": {
    get: { summary: "Audit log, newest first", query: ["action", "actor", "q", "limit", "before"], ok: 200 },
  },
  "/api/interfaces": {
    get: { summary: "List WireGuard interfaces", ok: 200 },
    post: {
      summary: "Create an interface (keys are made on the master)",
      body: InterfaceInputSchema,
      ok: 201,
    },
  },
  "/api/interfaces/{id}": {
    get: { summary: "One interface", ok: 200 },
    patch: { summary: "Change an interface", body: InterfacePatchSchema, ok: 200 },
    delete: { summary: "Delete an interface without peers", ok: 204 },
  },
  "/api/peers": {
    get: {
      summary: "Search and page peers",
      query: ["q", "interface_id", "node", "page", "per_page"],
      ok: 200,
    },
    post: {
      summary: "Create a peer (address allocated, keys and PSK made unless given)",
      body: PeerInputSchema,
      ok: 201,
    },
  },
  "/api/peers/{id}": {
    get: { summary: "One peer", ok: 200 },
    patch: {
      summary: "Edit, enable/disable, move to a node, regenerate keys",
      body: PeerPatchSchema,
      ok: 200,
    },
    delete: { summary: "Delete a peer", ok: 204 },
  },
  "/api/peers/{id}/rotate": {
    post: {
      summary:
        'Rotate the peer\'s credentials: new keys and PSK, or {"keys": false} for a new PSK only (audited); then fetch the fresh config or QR',
      body: RotatePeerSchema,
      optionalBody: true,
      ok: 200,
    },
  },
  "/api/peers/{id}/config": {
    get: { summary: "The client's .conf (audited, no-store)", ok: 200, produces: "text/plain" },
  },
  "/api/peers/{id}/qr.svg": {
    get: {
      summary: "The client config as a QR code, SVG (audited, no-store)",
      ok: 200,
      produces: "image/svg+xml",
    },
  },
  "/api/peers/{id}/qr.png": {
    get: {
      summary: "The client config as a QR code, PNG (audited, no-store)",
      ok: 200,
      produces: "image/png",
    },
  },
  "/api/nodes": {
    get: { summary: "List nodes with status, last seen, port and peer count", ok: 200 },
    post: {
      summary: "Create a node; the answer holds its enrollment token, shown once",
      body: NodeInputSchema,
      ok: 201,
    },
  },
  "/api/nodes/{id}": {
    get: { summary: "One node", ok: 200 },
    patch: { summary: "Change a node's name, FQDN or WireGuard port", body: NodePatchSchema, ok: 200 },
    delete: {
      summary: "Delete a node; its peers are unassigned and the node takes down what it made",
      ok: 200,
    },
  },
  "/api/nodes/{id}/token": {
    post: { summary: "A new enrollment token; the old one stops working", ok: 200 },
  },
  "/api/master/signing-key": {
    get: {
      summary:
        "The master's answer-signing key the nodes trust (fingerprint), and the announced next one: how many enrolled nodes trust it, and when the switch happens at the latest",
      ok: 200,
    },
  },
  "/api/master/tls": {
    get: {
      summary:
        "The pin (SHA-256) of the master's self-signed TLS certificate, and the announced next one: how many enrolled nodes trust it, and whether the listener presents it at the next start",
      ok: 200,
    },
  },
  "/api/master/tls/rotate": {
    post: {
      summary:
        "Announce a new self-signed TLS certificate (audited); once every enrolled node trusts it (or the grace period ends) the listener presents it from the next start, then nodes forget the old pin",
      ok: 202,
    },
  },
  "/api/master/signing-key/rotate": {
    post: {
      summary:
        "Announce a new answer-signing key (audited); the master switches to it once every enrolled node trusts it or the grace period ends, then the old key is refused",
      ok: 202,
    },
  },
  "/api/nodes/{id}/check": {
    post: {
      summary:
        "Run the node's tunnel health check now (bypasses the backoff); answers the result and its latency",
      ok: 200,
    },
  },
  "/api/nodes/{id}/health": {
    get: {
      summary: "The node's check state, its last checks and latencies, and its last apply report",
      ok: 200,
    },
  },
  "/api/events": {
    get: { summary: "Recent fleet events (webhook payloads), newest first", query: ["limit"], ok: 200 },
  },
  "/api/webhooks": {
    get: { summary: "List webhooks (never their secrets)", ok: 200 },
    post: { summary: "Add a webhook", body: WebhookInputSchema, ok: 201 },
  },
  "/api/webhooks/{id}": {
    get: { summary: "One webhook", ok: 200 },
    patch: { summary: "Change a webhook (a null secret removes it)", body: WebhookPatchSchema, ok: 200 },
    delete: { summary: "Delete a webhook and its queued deliveries", ok: 200 },
  },
  "/api/webhooks/{id}/test": {
    post: { summary: "Send a webhook.test event to this webhook now; answers the delivery", ok: 200 },
  },
  "/api/webhooks/{id}/deliveries": { get: { summary: "The webhook's delivery log, newest first", ok: 200 } },
  "/api/sync/enroll": {
    post: {
      summary:
        "Node enrollment (signed with the node certificate's key); the master's own `local` node enrolls and syncs over loopback only (403 otherwise)",
      body: EnrollRequestSchema,
      ok: 200,
      public: true,
    },
  },
  "/api/sync/session": {
    post: {
      summary:
        "Opens a node's sync session: an HMAC key agreed by ECDH (request signed with the node's identity key, answer with the master's); later requests and answers carry the session's MAC",
      body: SessionRequestSchema,
      ok: 200,
      public: true,
    },
  },
  "/api/sync/identity": {
    post: {
      summary:
        "A node's new identity certificate, in a request signed with its current identity key (never a session); the master swaps its key and ends its session, the old key is refused from then on",
      body: IdentityRequestSchema,
      ok: 200,
      public: true,
    },
  },
  "/api/nodes/{id}/rotate-wireguard-key": {
    get: {
      summary: "The node's WireGuard key rotation: devices, ports, announced keys, clients moved",
      ok: 200,
    },
    post: {
      summary:
        "Rotate the node's WireGuard keys with overlap: it brings up a next device (alternate name and port) with a key it makes itself; client configs name the new key once announced (audited node.rotate_wireguard_key; 409 while one runs)",
      ok: 202,
    },
  },
  "/api/nodes/{id}/rotate-wireguard-key/finish": {
    post: {
      summary:
        "Finish the node's WireGuard key rotation now: the next device becomes the interface's, the old device and key go, the master's tunnel takes the new key (409 before the node announced its key)",
      ok: 200,
    },
  },
  "/api/nodes/{id}/identity/rotate": {
    post: {
      summary: "Ask the node for a new identity key at its next heartbeat (audited)",
      ok: 202,
    },
  },
  "/api/sync/heartbeat": {
    post: {
      summary: "Node heartbeat with status, interface keys and metrics (node-signed)",
      body: HeartbeatRequestSchema,
      ok: 200,
      public: true,
    },
  },
  "/api/sync/config": {
    get: {
      summary: "Node config, long-polled: ?have=VERSION&wait=SECONDS (node-signed; answer signed)",
      query: ["have", "wait"],
      ok: 200,
      public: true,
    },
  },
  ...DNS_OPS,
  ...POOL_OPS,
};

const ERROR = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: {
        code: { type: "string" },
        message: { type: "string" },
        fields: {
          type: "array",
          items: { type: "object", properties: { field: { type: "string" }, message: { type: "string" } } },
        },
      },
    },
  },
};

export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, methods] of Object.entries(OPS)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(methods)) {
      const parameters = [
        ...(path.includes("{id}")
          ? [{ name: "id", in: "path", required: true, schema: { type: "integer" } }]
          : []),
        ...(path.includes("{node}")
          ? [{ name: "node", in: "path", required: true, schema: { type: "integer" } }]
          : []),
        ...(op.query ?? []).map((name) => ({
          name,
          in: "query",
          required: false,
          schema: { type: "string" },
        })),
      ];
      paths[path]![method] = {
        summary: op.summary,
        ...(op.public ? { security: [] } : {}),
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(op.body
          ? {
            requestBody: {
              required: !op.optionalBody,
              content: { "application/json": { schema: schema(op.body) } },
            },
          }
          : {}),
        responses: {
          [op.ok]: {
            description: "OK",
            ...(op.ok !== 204 ? { content: { [op.produces ?? "application/json"]: {} } } : {}),
          },
          default: { description: "Error", content: { "application/json": { schema: ERROR } } },
        },
      };
    }
  }
  return {
    openapi: "3.1.0",
    info: { title: "WireBuddy master API", version },
    components: {
      securitySchemes: { token: { type: "http", scheme: "bearer", description: "An API token (wbt_...)" } },
    },
    security: [{ token: [] }],
    paths,
  };
}

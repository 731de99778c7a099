// A node's side of the sync protocol, by hand, for tests against the in-memory master: a P-256
// identity with its self-signed certificate, requests signed the way src/node/sync_client.ts signs
// them (each part overridable, to forge, replay or skew one), enrolment, and a heartbeat reporting keys.
import assert from "node:assert/strict";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import {
  generateSigningKeys,
  HEADERS,
  type HeartbeatRequest,
  newNonce,
  requestSigningText,
  signText,
} from "../../src/core/sync.ts";
import type { TestMaster } from "./master.ts";

/** A node's signing keys and the self-signed certificate it enrolls with. */
export async function nodeIdentity(): Promise<{ keys: CryptoKeyPair; certPem: string }> {
  const keys = await generateSigningKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=node",
    notBefore: new Date(Date.UTC(2026, 0, 1)),
    notAfter: new Date(Date.UTC(2036, 0, 1)),
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return { keys, certPem: cert.toString("pem") };
}

/**
 * Who signs, and (to test the refusals) the timestamp and nonce to sign with, the socket address the
 * request comes from (default 198.51.100.30) and extra headers (e.g. X-Forwarded-For).
 */
export type Signer = {
  nodeId: number;
  key: CryptoKey;
  bearer?: string;
  timestamp?: number;
  nonce?: string;
  remoteAddr?: string;
  headers?: Record<string, string>;
};

/** A request signed as node `nodeId` (timestamp from the master's clock unless given); `body` null: none. */
export async function signedRequest(
  m: Pick<TestMaster, "app" | "clock">,
  method: "GET" | "POST",
  path: string,
  body: unknown,
  s: Signer,
): Promise<{ res: Response; nonce: string; text: string }> {
  const text = body === null ? "" : JSON.stringify(body);
  const nonce = s.nonce ?? newNonce();
  const timestamp = s.timestamp ?? m.clock.now();
  const signature = await signText(
    s.key,
    await requestSigningText({ method, path, timestamp, nonce, nodeId: s.nodeId, body: text }),
  );
  const headers: Record<string, string> = {
    [HEADERS.node]: String(s.nodeId),
    [HEADERS.timestamp]: String(timestamp),
    [HEADERS.nonce]: nonce,
    [HEADERS.signature]: signature,
    ...(s.bearer ? { authorization: `Bearer ${s.bearer}` } : {}),
    ...(body !== null ? { "content-type": "application/json" } : {}),
    ...s.headers,
  };
  const res = await m.app.request(`https://wb.test:8443${path}`, {
    method,
    headers,
    ...(body !== null ? { body: text } : {}),
  }, {
    remoteAddr: s.remoteAddr ?? "198.51.100.30",
  });
  return { res, nonce, text: await res.text() };
}

/** A node made through the API, as the master answered it (`id`, `enrollment_token`, …). */
type ApiNode = { id: number; enrollment_token: string };

/** An enrolled node: its key signs, its secret is the bearer. */
export type EnrolledNode<N extends ApiNode = ApiNode> = {
  node: N;
  key: CryptoKey;
  secret: string;
  token: string;
};

/** Enrolls `node` (made through the API) with a fresh identity; the master must answer 200. */
export async function enroll<N extends ApiNode>(
  m: TestMaster,
  node: N,
  hostname = "node",
): Promise<EnrolledNode<N>> {
  const id = await nodeIdentity();
  const { res, text } = await signedRequest(m, "POST", "/api/sync/enroll", {
    token: node.enrollment_token,
    cert: id.certPem,
    hostname,
    version: "t",
  }, { nodeId: node.id, key: id.keys.privateKey });
  assert.equal(res.status, 200, text);
  return {
    node,
    key: id.keys.privateKey,
    secret: JSON.parse(text).node_secret,
    token: node.enrollment_token,
  };
}

/** Makes a node `name` through the API and enrolls it. */
export async function enrolled(m: TestMaster, name: string) {
  const token = await m.token("write");
  const res = await m.api("/nodes", { method: "POST", token, json: { name, fqdn: `${name}.example.com` } });
  assert.equal(res.status, 201, `making node ${name}`);
  return enroll(m, await res.json(), name);
}

/** A signed heartbeat from an enrolled node ("online", nothing applied, no metrics, unless given). */
export function sendHeartbeat(m: TestMaster, n: EnrolledNode, body: Partial<HeartbeatRequest> = {}) {
  return signedRequest(m, "POST", "/api/sync/heartbeat", {
    status: "online",
    applied_version: 0,
    interfaces: [],
    metrics: [],
    ...body,
  }, { nodeId: n.node.id, key: n.key, bearer: n.secret });
}

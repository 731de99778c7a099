// Rotating a node's identity key (the P-256 key it signs requests and health answers with). An admin asks
// (audited node.identity.request); the node learns it from its next heartbeat answer (rotate_identity),
// makes a new key and certificate, and sends the certificate in a request signed with its current key
// (POST /api/sync/identity, never in a session: the old key itself must vouch for the new one). The master
// swaps the verification key and pin in one transaction and ends the node's sync session (audited
// node.identity.rotate); a request signed with the old key is refused from then on.
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { exportPublicKey } from "../../core/sync.ts";
import { certFingerprint } from "../../core/x509.ts";
import { metaRepo } from "../db/audit_repo.ts";
import type { Db } from "../db/db.ts";
import { nodesFullRepo } from "../db/nodes_repo.ts";
import { enrolledNodeIds, setNodeIdentity } from "../db/rotation_repo.ts";
import type { Clock } from "../../core/ports/types.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import type { SyncAuth } from "./sync_auth.ts";
import type { SyncSessions } from "./sync_sessions.ts";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

const asked = (nodeId: number) => `identity_rotate:${nodeId}`;
/** When the node's current identity took over (or the schedule first saw it). */
const since = (nodeId: number) => `identity_since:${nodeId}`;

export class IdentityRotation {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly sessions: SyncSessions,
  ) {}

  /** Asks node `nodeId` to rotate its identity key at its next heartbeat. */
  request(actor: Actor | string, meta: RequestMeta | null, nodeId: number): void {
    if (typeof actor !== "string") requireAdmin(actor);
    const node = nodesFullRepo.byId(this.db, nodeId);
    if (!node) throw new AppError("not_found", `Node ${nodeId} not found`);
    if (!node.verify_key) throw new AppError("conflict", `Node "${node.name}" has not enrolled yet`);
    this.db.tx(() => {
      metaRepo.set(this.db, asked(nodeId), "1");
      this.audit.record(actor, meta, { action: "node.identity.request", target: node.name, detail: "" });
    });
  }

  /** The schedule: asks every enrolled node whose identity is `everyMs` old; returns how many were asked. */
  requestDue(everyMs: number): number {
    let n = 0;
    for (const id of enrolledNodeIds(this.db)) {
      const at = metaRepo.get(this.db, since(id));
      if (at === undefined) metaRepo.set(this.db, since(id), String(this.clock.now())); // counted from now
      else if (this.clock.now() - Number(at) >= everyMs && !metaRepo.get(this.db, asked(id))) {
        this.request("schedule", null, id);
        n++;
      }
    }
    return n;
  }

  /** The heartbeat answer's field for node `nodeId`. */
  heartbeat(nodeId: number): { rotate_identity?: true } {
    return metaRepo.get(this.db, asked(nodeId)) ? { rotate_identity: true } : {};
  }

  /** Takes a node's new certificate from a request signed with its current identity key. */
  async rotate(auth: SyncAuth & { kind: "node" }, certPem: string): Promise<{ cert_sha256: string }> {
    const node = auth.node;
    if (auth.session) {
      throw new AppError(
        "unauthorized",
        "A new identity is vouched for by the node's current identity key (a signed request), not a session",
      );
    }
    let verifyKey: string;
    let certSha: string;
    try {
      const cert = new x509.X509Certificate(certPem);
      verifyKey = await exportPublicKey(
        await cert.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]),
      );
      certSha = await certFingerprint(certPem);
    } catch {
      throw new AppError("bad_request", "The node certificate is not a valid P-256 certificate");
    }
    if (verifyKey === node.verify_key) {
      throw new AppError("bad_request", "The new identity key is the current one");
    }
    this.db.tx(() => {
      if (!setNodeIdentity(this.db, node.id, verifyKey, certSha)) {
        throw new AppError("unauthorized", `Node "${node.name}" is no longer enrolled`);
      }
      metaRepo.delete(this.db, asked(node.id));
      metaRepo.set(this.db, since(node.id), String(this.clock.now()));
      this.sessions.forget(node.id); // its session was opened with the old key
      this.audit.record(`node:${node.name}`, null, {
        action: "node.identity.rotate",
        target: node.name,
        detail: `cert=${certSha.slice(0, 16)} (was ${(node.cert_sha256 ?? "").slice(0, 16)})`,
      });
    });
    this.log.info("node identity rotated; the old key is refused from now on", {
      node: node.name,
      cert_sha256: certSha,
    });
    return { cert_sha256: certSha };
  }
}

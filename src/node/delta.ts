// The config long-poll with delta sync: while the node talks to its master in a session, it asks for
// deltas (&delta=1) and rebuilds the new config from the one it holds; the rebuilt config is proven
// with the session's key, so it is saved and verified at the next start like a full answer. A delta
// that does not fit what the node holds is followed by a request for the full config.
import { type ConfigResponse, ConfigResponseSchema, type NodeConfig } from "../core/sync.ts";
import { applyDelta, ConfigDeltaSchema } from "../core/sync_delta.ts";
import type { SessionKeeper } from "./session_keeper.ts";
import type { SyncClient } from "./sync_client.ts";

const AnswerSchema = ConfigResponseSchema.or(ConfigDeltaSchema);

export type ConfigFetch = { value: ConfigResponse; raw: string; signature: string; nonce: string };

/**
 * GET /api/sync/config?have=…&wait=… (`path` without the delta flag), returning a full ConfigResponse
 * whichever the master sent. A link without a session (or a test's fake) asks for full configs.
 */
export async function fetchConfig(
  master: Pick<SyncClient, "getSigned"> & { session?: Pick<SessionKeeper, "active" | "prove"> },
  held: NodeConfig | null,
  path: string,
  signal: AbortSignal,
  waitMs: number,
): Promise<ConfigFetch> {
  const deltas = master.session?.active === true && held !== null;
  const got = await master.getSigned(`${path}${deltas ? "&delta=1" : ""}`, AnswerSchema, signal, waitMs);
  const v = got.value;
  if (v.kind !== "delta") return { ...got, value: v };
  const config = held ? applyDelta(held, v) : null;
  const raw = config ? JSON.stringify({ kind: "config", config }) : "";
  const proof = config ? await master.session!.prove(config.node_id, raw) : null;
  if (config && proof) return { value: { kind: "config", config }, raw, ...proof };
  // It does not fit what this node holds: the full config (the master answers at once, it is newer).
  const full = await master.getSigned(path, ConfigResponseSchema, signal, waitMs);
  return full;
}

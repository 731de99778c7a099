// The rotation settings of the master's configuration: scheduled rotation of the master's answer-signing
// key and TLS certificate, and the grace period an announced one waits for every node. Part of MASTER_ENV
// (config.ts).
import { durationText, type EnvVar } from "../core/env.ts";

export type RotationConfig = {
  /** Announce a new answer-signing key this long after the last one; null: only on demand. */
  signingKeyEveryMs: number | null;
  /** Announce a new self-signed TLS certificate this long after the last one; null: only on demand. */
  tlsEveryMs: number | null;
  /** Ask every enrolled node for a new identity key this long after its last one; null: only on demand. */
  nodeIdentityEveryMs: number | null;
  /** Rotate each remote node's WireGuard keys this long after the last rotation; null: only on demand. */
  nodeWgKeysEveryMs?: number | null;
  /** How long a node's old WireGuard key keeps serving beside the new one (clients switch meanwhile). */
  nodeWgOverlapMs?: number;
  /** How long an announced key waits for every enrolled node to trust it before the switch. */
  graceMs: number;
};

export const ROTATION_ENV: readonly EnvVar[] = [
  {
    name: "WIREBUDDY_ROTATE_SIGNING_KEY_EVERY",
    schema: durationText.refine((ms) => ms >= 3_600_000, "must be at least 1h").optional(),
    description:
      "Announce a new answer-signing key this long after the last one (e.g. `90d`; audited, the switch follows once every node trusts it); unset: only from the UI or API.",
  },
  {
    name: "WIREBUDDY_ROTATE_TLS_EVERY",
    schema: durationText.refine((ms) => ms >= 3_600_000, "must be at least 1h").optional(),
    description:
      "Announce a new self-signed TLS certificate this long after the last one (e.g. `180d`; the listener presents it at the first start after every node trusts it); unset: only from the UI or API.",
  },
  {
    name: "WIREBUDDY_ROTATE_NODE_IDENTITY_EVERY",
    schema: durationText.refine((ms) => ms >= 3_600_000, "must be at least 1h").optional(),
    description:
      "Ask each enrolled node for a new identity key this long after its last one (e.g. `30d`; audited, the old key refused once the node sent the new one); unset: only from the UI or API.",
  },
  {
    name: "WIREBUDDY_ROTATE_NODE_WG_KEYS_EVERY",
    schema: durationText.refine((ms) => ms >= 3_600_000, "must be at least 1h").optional(),
    description:
      "Rotate each remote node's WireGuard interface keys this long after the last rotation (e.g. `30d`; audited, the old key serves beside the new one for WIREBUDDY_ROTATE_NODE_WG_OVERLAP); unset: only from the UI or API.",
  },
  {
    name: "WIREBUDDY_ROTATE_NODE_WG_OVERLAP",
    schema: durationText.refine((ms) => ms >= 60_000, "must be at least 1m").default(7 * 86_400_000),
    default: "7d",
    description:
      "How long a node's old WireGuard key keeps serving beside the new one while clients install their fresh configs; the rotation ends earlier once every client of the node is on the new key.",
  },
  {
    name: "WIREBUDDY_ROTATE_GRACE",
    schema: durationText.refine((ms) => ms >= 1_000, "must be at least 1s").default(7 * 86_400_000),
    default: "7d",
    description:
      "How long an announced signing key waits for every enrolled node to trust it; then the master switches anyway (a node that missed it takes the new key from its session).",
  },
];

export function parseRotation(raw: Record<string, unknown>): RotationConfig {
  return {
    signingKeyEveryMs: (raw.WIREBUDDY_ROTATE_SIGNING_KEY_EVERY as number | undefined) ?? null,
    tlsEveryMs: (raw.WIREBUDDY_ROTATE_TLS_EVERY as number | undefined) ?? null,
    nodeIdentityEveryMs: (raw.WIREBUDDY_ROTATE_NODE_IDENTITY_EVERY as number | undefined) ?? null,
    nodeWgKeysEveryMs: (raw.WIREBUDDY_ROTATE_NODE_WG_KEYS_EVERY as number | undefined) ?? null,
    nodeWgOverlapMs: raw.WIREBUDDY_ROTATE_NODE_WG_OVERLAP as number,
    graceMs: raw.WIREBUDDY_ROTATE_GRACE as number,
  };
}

// A node's WireGuard keys: the devices it runs (name, port), a rotation in progress (the next device,
// its announced key, how many clients moved), and the actions that start and finish one.
import type { FC } from "hono/jsx";
import { intoDialog } from "./confirm.tsx";
import { formatTime, Layout, type PageModel } from "./layout.tsx";

export type WgKeysModel = {
  nodeId: number;
  node: string;
  running: boolean;
  finishBy: number | null;
  interfaces: {
    name: string;
    device: string;
    port: number;
    next: { device: string; port: number; publicKey: string | null } | null;
  }[];
  clients: number;
  moved: number;
  pending: number;
  canRotate: boolean;
};

export const WgKeysPage: FC<PageModel & { k: WgKeysModel }> = ({ k, ...p }) => (
  <Layout title={p.title} user={p.user} active="nodes" flash={p.flash ?? null}>
    <h1>WireGuard keys of {k.node}</h1>
    <section class="card" id="wg-keys">
      <p class="muted">
        A rotation brings up a second device with a new key the node makes itself, on the alternate port,
        beside the current one. Client configs and QR codes name the new key and port as soon as the node
        announced it; each client moves when it installs its fresh config. The old device and key go once
        every client moved, when the overlap window ends, or when you finish it. Open both ports in the node's
        firewall.
      </p>
      <table>
        <thead>
          <tr>
            <th>Interface</th>
            <th>Device</th>
            <th>Port</th>
            <th>Next device</th>
            <th>New key</th>
          </tr>
        </thead>
        <tbody>
          {k.interfaces.map((i) => (
            <tr>
              <td>{i.name}</td>
              <td>{i.device}</td>
              <td>{i.port}</td>
              <td>{i.next ? `${i.next.device} (port ${i.next.port})` : "—"}</td>
              <td>
                {i.next ? (i.next.publicKey ? <code>{i.next.publicKey}</code> : "not announced yet") : "—"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {k.running
        ? (
          <>
            <p class="notice" id="wg-rotation" role="status">
              Rotation running: {k.moved} of {k.clients} client(s) on the new key, {k.pending}{" "}
              still handshaking with the old one. It ends when all moved, at the latest{" "}
              {formatTime(k.finishBy)}.
            </p>
            {k.canRotate && (
              <p class="actions">
                <a
                  class="button danger"
                  id="finish-wg-rotation"
                  href={`/ui/nodes/${k.nodeId}/wg-keys/finish`}
                  {...intoDialog(`/ui/nodes/${k.nodeId}/wg-keys/finish`)}
                >
                  Finish now…
                </a>
              </p>
            )}
          </>
        )
        : (k.canRotate && (
          <p class="actions">
            <a
              class="button danger"
              id="rotate-wg-keys"
              href={`/ui/nodes/${k.nodeId}/wg-keys/rotate`}
              {...intoDialog(`/ui/nodes/${k.nodeId}/wg-keys/rotate`)}
            >
              Rotate WireGuard keys…
            </a>
          </p>
        ))}
      <p>
        <a href={`/ui/nodes/${k.nodeId}`}>Back to {k.node}</a>
      </p>
    </section>
  </Layout>
);

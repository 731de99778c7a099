// Whether each node is really serving its peers, said the same way everywhere (Node dropdowns, the
// dashboard, the peers and nodes pages), with the action that fixes a node that is not running. The
// master's own `local` node is the one a new install meets first: it applies the master's interfaces, so
// until it runs the master's peers cannot connect.
import type { FC } from "hono/jsx";
import { formatTime } from "./layout.tsx";

/** A node as these notices need it. `status` is the node's stored status (pending, online, offline, …). */
export type NodeBrief = {
  id: number;
  name: string;
  isLocal: boolean;
  status: string;
  lastSeenAt: number | null;
  enrolled: boolean;
  peerCount: number;
  hostname: string;
};

/** How to reach the master from its own host (the local node's WIREBUDDY_MASTER_URL). */
export type LocalHelpModel = { loopbackUrl: string; canEdit: boolean };

/** A node serves its peers only while it is online ("error" is online with a failed apply). */
export const isRunning = (n: Pick<NodeBrief, "status">) => n.status === "online" || n.status === "error";

export const nodeName = (n: Pick<NodeBrief, "name" | "isLocal">) => (n.isLocal ? "Master (local)" : n.name);

/** A few words for a node that is not running: "not running", "waiting to enroll", "offline since …". */
export function downText(n: NodeBrief): string {
  if (n.isLocal) return n.enrolled ? "not running" : "not running (never started)";
  if (n.status === "pending") return "waiting to enroll";
  if (n.status === "unreachable") return "unreachable";
  return "offline";
}

/** The label of a node in a dropdown: its name, and what is wrong when it is not running. */
export const choiceLabel = (n: NodeBrief) => (isRunning(n) ? nodeName(n) : `${nodeName(n)} — ${downText(n)}`);

/** How to start the master's own node, for each way the master may have been installed. */
export const LocalNodeHelp: FC<{ n: NodeBrief; m: LocalHelpModel }> = ({ n, m }) => (
  <div class="local-help" id="local-node-help">
    <p>
      Master (local) applies the master's own WireGuard interfaces. Until it runs, peers on the master get a
      config but cannot connect. To start it:
    </p>
    <ul>
      <li>
        <strong>Installed with install.sh:</strong> it runs as the <code>wirebuddy-node</code>{" "}
        service. Check it with <code>systemctl status wirebuddy-node</code> and{" "}
        <code>journalctl -u wirebuddy-node</code>; install it with <code>install.sh master</code> (without
        {" "}
        <code>--no-local-node</code>).
      </li>
      <li>
        <strong>From source:</strong> <code>sudo scripts/dev</code>{" "}
        starts it beside the master. It needs root and WireGuard (the kernel module or{" "}
        <code>wireguard-go</code>); the log says why when it cannot.
      </li>
      <li>
        <strong>By hand:</strong> {m.canEdit
          ? (
            <>
              <a href={`/ui/nodes/${n.id}/token`}>make a token for it</a>, then run as root on this machine:
            </>
          )
          : "an admin makes a token for it, then runs as root on this machine:"}{" "}
        <code>WIREBUDDY_MASTER_URL={m.loopbackUrl} WIREBUDDY_ENROLLMENT_TOKEN=… wirebuddy-node</code>
        {n.enrolled && " (no token is needed again once it has enrolled: just start it)"}.
      </li>
    </ul>
  </div>
);

/** What fixes a remote node that is not running. */
export const RemoteNodeHelp: FC<{ n: NodeBrief; canEdit: boolean }> = ({ n, canEdit }) =>
  n.status === "pending"
    ? (
      <p class="remote-help">
        Install it on its host with its enrollment token: it turns online by itself once it enrolls.{" "}
        {canEdit && <a href={`/ui/nodes/${n.id}/token`}>Make a new token</a>}
        {canEdit && " if the first one is lost or expired."}
      </p>
    )
    : (
      <p class="remote-help">
        Last seen {n.lastSeenAt ? formatTime(n.lastSeenAt) : "never"}
        {n.hostname ? ` on ${n.hostname}` : ""}. On that host check{" "}
        <code>systemctl status wirebuddy-node</code> and{" "}
        <code>journalctl -u wirebuddy-node</code>, and that it reaches the master.
      </p>
    );

/**
 * A notice for the nodes that are not running and serve peers (or, for the local node, always: the
 * master's peers default to it). Nothing when every node runs.
 */
export const NodesDownNotice: FC<
  { nodes: NodeBrief[]; help: LocalHelpModel; onlyWithPeers?: boolean; compact?: boolean }
> = ({ nodes, help, onlyWithPeers, compact }) => {
  const down = nodes.filter((n) => !isRunning(n) && (!onlyWithPeers || n.peerCount > 0 || n.isLocal));
  if (down.length === 0) return null;
  return (
    <section class="notice" id="nodes-down" role="status">
      {down.map((n) => (
        <div class="node-down" data-node={n.isLocal ? "local" : String(n.id)}>
          <strong>
            <span class="dot" aria-hidden="true"></span>
            {nodeName(n)} is {downText(n)}
          </strong>
          {n.peerCount > 0
            ? `: ${n.peerCount} peer${n.peerCount === 1 ? "" : "s"} on it cannot connect.`
            : n.isLocal
            ? ": peers on the master will not be able to connect."
            : "."}
          {compact
            ? (
              <details>
                <summary>How to fix it</summary>
                {n.isLocal
                  ? <LocalNodeHelp n={n} m={help} />
                  : <RemoteNodeHelp n={n} canEdit={help.canEdit} />}
              </details>
            )
            : n.isLocal
            ? <LocalNodeHelp n={n} m={help} />
            : <RemoteNodeHelp n={n} canEdit={help.canEdit} />}
        </div>
      ))}
    </section>
  );
};

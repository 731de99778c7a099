// What a node runs and how its tunnel answers: the config line ("applied v14", "v12 applied, v14
// pending", "apply failed: <stderr>") shown in the nodes table and on the node page, and the node page's
// health card with "Check now" and the last checks with their latencies.
import type { FC } from "hono/jsx";
import { When } from "./charts.tsx";
import { formatTime } from "./layout.tsx";

/** What the node last said about its apply (its heartbeat's report), for the views. */
export type NodeReportItem = {
  applyOk: boolean | null;
  applyError: string | null;
  applyMs: number | null;
  warnings: string[];
  queueDepth: number | null;
};

export type ConfigStateModel = {
  id: number;
  isLocal: boolean;
  enrolled: boolean;
  status: string;
  lastError: string | null;
  configVersion: number;
  appliedVersion: number;
  report?: NodeReportItem | null;
};

/** "applied v14", "v12 applied, v14 pending" or "nothing applied yet, v3 pending"; then the apply error. */
export const ConfigState: FC<{ n: ConfigStateModel }> = ({ n }) => {
  if (!n.enrolled && !n.isLocal) return <span class="muted">not enrolled</span>;
  const behind = n.appliedVersion < n.configVersion;
  const failed = n.report?.applyOk === false || n.status === "error";
  const error = n.report?.applyError ?? n.lastError;
  return (
    <span class={behind ? "version behind" : "version"} id={`config-state-${n.id}`}>
      <span class="applied">
        {!behind
          ? `applied v${n.appliedVersion}`
          : n.appliedVersion === 0
          ? `nothing applied yet, v${n.configVersion} pending`
          : `v${n.appliedVersion} applied, v${n.configVersion} pending`}
      </span>
      {failed && error && <small class="error apply-error">apply failed: {error}</small>}
    </span>
  );
};

export type HealthCheckItem = {
  at: number;
  ok: boolean;
  latencyMs: number;
  error: string | null;
  manual: boolean;
};

export type NodeHealthModel = {
  nodeId: number;
  canCheck: boolean;
  failures: number;
  nextCheckAt: number | null;
  lastOkAt: number | null;
  lastError: string | null;
  checks: HealthCheckItem[];
  report: NodeReportItem | null;
  now: number;
};

export const NodeHealthCard: FC<{ m: NodeHealthModel }> = ({ m }) => (
  <section class="card" id="node-health">
    <div class="page-head">
      <h2>Tunnel health</h2>
      {m.canCheck && (
        <form method="post" action={`/ui/nodes/${m.nodeId}/check`} class="inline">
          <button type="submit" id="check-now">Check now</button>
        </form>
      )}
    </div>
    <dl class="facts">
      <dt>Failed checks in a row</dt>
      <dd id="health-failures">{m.failures}</dd>
      <dt>Last passing check</dt>
      <dd>
        <When at={m.lastOkAt} now={m.now} />
      </dd>
      {m.nextCheckAt !== null && (
        <>
          <dt>Next check</dt>
          <dd>{formatTime(m.nextCheckAt)}</dd>
        </>
      )}
      {m.lastError && (
        <>
          <dt>Last check error</dt>
          <dd class="error" id="health-error">{m.lastError}</dd>
        </>
      )}
      {m.report?.applyMs !== null && m.report?.applyMs !== undefined && (
        <>
          <dt>Last apply took</dt>
          <dd>{Math.round(m.report.applyMs)} ms</dd>
        </>
      )}
      {m.report?.queueDepth !== null && m.report?.queueDepth !== undefined && (
        <>
          <dt>Samples queued on the node</dt>
          <dd>{m.report.queueDepth}</dd>
        </>
      )}
      {(m.report?.warnings.length ?? 0) > 0 && (
        <>
          <dt>Warnings</dt>
          <dd>
            <ul>{m.report!.warnings.map((w) => <li>{w}</li>)}</ul>
          </dd>
        </>
      )}
    </dl>
    {m.checks.length === 0 ? <p class="muted">No checks yet.</p> : (
      <table class="table" id="health-checks">
        <thead>
          <tr>
            <th>When</th>
            <th>Result</th>
            <th>Latency</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {m.checks.map((c) => (
            <tr>
              <td>
                <When at={c.at} now={m.now} />
                {c.manual && <small class="muted">(manual)</small>}
              </td>
              <td>
                {c.ok
                  ? <span class="badge status-online">ok</span>
                  : <span class="badge status-offline">failed</span>}
              </td>
              <td>{c.latencyMs} ms</td>
              <td>{c.error ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
  </section>
);

// Traffic charts as server-rendered SVG (no charting library, no script): rx and tx rates per time slot,
// lines broken where nothing was reported. Every label goes through JSX, which escapes it. Also the
// peer's traffic page.
import type { FC } from "hono/jsx";
import { formatTime, Layout, type PageModel } from "./layout.tsx";
import { formatBytes, formatRate, relativeTime } from "./format.ts";
import { NodeBadge, type PeerPoolBadge } from "./peers.tsx";

/** Rates in bytes per second over [at, at + slotMs); null: no data for that slot. */
export type ChartPoint = { at: number; rx: number | null; tx: number | null };

export type TrafficChartModel = {
  /** The element id (the chart, its caption and its legend hang off it). */
  id: string;
  title: string;
  /** What rx and tx mean here, e.g. "received from peers". */
  rxLabel: string;
  txLabel: string;
  from: number;
  to: number;
  slotMs: number;
  points: ChartPoint[];
  totals: { rx: number; tx: number };
  samples: number;
  /** The choosable ranges (none: a fixed window), with the current one. */
  ranges?: { href: string; label: string; current: boolean }[];
};

/** A time shown relative, with the absolute UTC time next to it and in a <time> element. */
export const When: FC<{ at: number | null; now: number }> = ({ at, now }) =>
  at
    ? (
      <time datetime={new Date(at).toISOString()} title={formatTime(at)}>
        {relativeTime(at, now)} <small class="muted">({formatTime(at)})</small>
      </time>
    )
    : <span class="muted">never</span>;

// --- the chart ------------------------------------------------------------------------------------

const W = 720;
const H = 220;
// The rate labels sit inside the plot, above their grid lines, so they stay readable when a phone
// scales the chart down (the CSS enlarges the text there).
const PAD = { left: 8, right: 8, top: 24, bottom: 30 };

/** A round upper bound for the y axis and its step: 1, 2 or 5 × 10^n bits per second. */
function niceScale(maxBytesPerSecond: number): { top: number; step: number } {
  const maxBits = Math.max(maxBytesPerSecond * 8, 8);
  const rough = maxBits / 4;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= rough)!;
  return { top: (Math.ceil(maxBits / step) * step) / 8, step: step / 8 };
}

/** The line of one series as path commands, broken where a slot has no data. */
function linePath(
  points: ChartPoint[],
  pick: (p: ChartPoint) => number | null,
  x: (i: number) => number,
  y: (v: number) => number,
): string {
  const parts: string[] = [];
  let drawing = false;
  points.forEach((p, i) => {
    const v = pick(p);
    if (v === null) {
      drawing = false;
      return;
    }
    const cmd = `${drawing ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    // A lone point gets a short tick so it is visible (round caps make it a dot).
    const next = points[i + 1];
    const lone = !drawing && (!next || pick(next) === null);
    parts.push(lone ? `${cmd}h0.1` : cmd);
    drawing = true;
  });
  return parts.join(" ");
}

function timeLabel(at: number, spanMs: number): string {
  const iso = new Date(at).toISOString();
  return spanMs > 2 * 86_400_000 ? iso.slice(5, 10) : iso.slice(11, 16);
}

export const TrafficChart: FC<{ m: TrafficChartModel }> = ({ m }) => {
  const n = m.points.length;
  const hasRates = m.points.some((p) => p.rx !== null || p.tx !== null);
  const max = Math.max(0, ...m.points.flatMap((p) => [p.rx ?? 0, p.tx ?? 0]));
  const { top, step } = niceScale(max);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (n <= 1 ? 0 : (i + 0.5) * (plotW / n));
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const yTicks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) yTicks.push(v);
  const span = m.to - m.from;
  const xTicks = [0, 1, 2, 3, 4, 5, 6].map((k) => m.from + (span * k) / 6);
  const peakRx = Math.max(0, ...m.points.map((p) => p.rx ?? 0));
  const peakTx = Math.max(0, ...m.points.map((p) => p.tx ?? 0));
  const summary = `${m.title}: ${formatBytes(m.totals.rx)} ${m.rxLabel}, ${
    formatBytes(m.totals.tx)
  } ${m.txLabel}; peaks ${formatRate(peakRx)} and ${formatRate(peakTx)}.`;

  return (
    <section class="card traffic" id={m.id}>
      <div class="chart-head">
        <h2>{m.title}</h2>
        {m.ranges && (
          <nav class="ranges" aria-label="Time range">
            {m.ranges.map((r) =>
              r.current ? <strong aria-current="true">{r.label}</strong> : <a href={r.href}>{r.label}</a>
            )}
          </nav>
        )}
      </div>
      {!hasRates
        ? (
          <p class="muted chart-empty">
            {m.samples === 0
              ? "No traffic samples yet."
              : "No traffic samples yet to compute a rate from: rates appear after the next report."}
          </p>
        )
        : (
          <>
            <svg
              class="chart"
              viewBox={`0 0 ${W} ${H}`}
              role="img"
              aria-labelledby={`${m.id}-title`}
            >
              <title id={`${m.id}-title`}>{summary}</title>
              {yTicks.map((v) => (
                <g class="tick">
                  <line class="grid" x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} />
                  <text class="axis y" x={PAD.left + 4} y={y(v) - 5} text-anchor="start">
                    {formatRate(v)}
                  </text>
                </g>
              ))}
              {xTicks.map((t, k) => (
                <text
                  class={k % 2 === 1 ? "axis x odd" : "axis x"}
                  x={PAD.left + (plotW * k) / 6}
                  y={H - 8}
                  text-anchor={k === 0 ? "start" : k === 6 ? "end" : "middle"}
                >
                  {timeLabel(t, span)}
                </text>
              ))}
              <path class="series rx" d={linePath(m.points, (p) => p.rx, x, y)} />
              <path class="series tx" d={linePath(m.points, (p) => p.tx, x, y)} />
            </svg>
            <p class="legend">
              <span class="item">
                <span class="key rx"></span> rx, {m.rxLabel}: <strong>{formatBytes(m.totals.rx)}</strong>
              </span>
              <span class="item">
                <span class="key tx"></span> tx, {m.txLabel}: <strong>{formatBytes(m.totals.tx)}</strong>
              </span>
              <span class="muted">
                peak {formatRate(Math.max(peakRx, peakTx))} · times in UTC
              </span>
            </p>
          </>
        )}
    </section>
  );
};

// --- a peer's traffic page ------------------------------------------------------------------------

export type PeerTrafficModel = {
  id: number;
  name: string;
  interfaceName: string;
  nodeName: string | null;
  pool?: PeerPoolBadge | null;
  ipv4: string;
  ipv6: string | null;
  publicKey: string;
  now: number;
  /** The newest sample: when it was taken, the latest handshake, the endpoint. */
  latest: { at: number; handshakeAt: number | null; endpoint: string | null } | null;
  chart: TrafficChartModel;
};

export const PeerTrafficPage: FC<PageModel & { m: PeerTrafficModel }> = (p) => {
  const m = p.m;
  return (
    <Layout title={`Traffic: ${m.name}`} user={p.user} active="peers" flash={p.flash ?? null}>
      <div class="page-head">
        <h1>Traffic: {m.name}</h1>
        <a href="/ui/peers">Back to peers</a>
      </div>
      <section class="card" id="peer-facts">
        <dl class="facts">
          <dt>Interface</dt>
          <dd>{m.interfaceName}</dd>
          <dt>Served by</dt>
          <dd>
            <NodeBadge nodeName={m.nodeName} pool={m.pool} />
          </dd>
          <dt>Addresses</dt>
          <dd>
            <code>{m.ipv4}</code>
            {m.ipv6 && <code class="after">{m.ipv6}</code>}
          </dd>
          <dt>Public key</dt>
          <dd>
            <code>{m.publicKey}</code>
          </dd>
          <dt>Latest handshake</dt>
          <dd id="peer-handshake">
            {m.latest
              ? <When at={m.latest.handshakeAt} now={m.now} />
              : <span class="muted">no report yet</span>}
          </dd>
          <dt>Endpoint</dt>
          <dd id="peer-endpoint">
            {m.latest?.endpoint ? <code>{m.latest.endpoint}</code> : <span class="muted">unknown</span>}
          </dd>
          <dt>Last report</dt>
          <dd>{m.latest ? <When at={m.latest.at} now={m.now} /> : <span class="muted">none</span>}</dd>
        </dl>
      </section>
      <TrafficChart m={m.chart} />
    </Layout>
  );
};

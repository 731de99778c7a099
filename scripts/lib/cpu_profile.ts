// A CPU profile of another Deno process through its inspector (started with --inspect=127.0.0.1:PORT):
// Profiler.start / Profiler.stop over the DevTools protocol, then the self time per function (and the
// share of the sampled time it is), for benchmarks that want to say where a process spends its thread.
// Bench only: nothing in src uses it.

type Node = {
  id: number;
  parent?: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
export type CpuProfile = {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
};

export class Inspector {
  #ws: WebSocket;
  #next = 1;
  #waiting = new Map<number, (v: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: unknown };
      if (m.id !== undefined) this.#waiting.get(m.id)?.(m.error ? Promise.reject(m.error) : m.result);
    };
  }

  /** Connects to the inspector listening on 127.0.0.1:`port` (retrying for up to 10 s while it starts). */
  static async connect(port: number): Promise<Inspector> {
    const end = Date.now() + 10_000;
    for (;;) {
      try {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
          webSocketDebuggerUrl: string;
        }[];
        const ws = new WebSocket(list[0].webSocketDebuggerUrl);
        await new Promise((ok, fail) => ((ws.onopen = ok), (ws.onerror = fail)));
        return new Inspector(ws);
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#next++;
    const p = new Promise((r) => this.#waiting.set(id, r));
    this.#ws.send(JSON.stringify({ id, method, params }));
    return p;
  }

  async start(intervalUs = 1000): Promise<void> {
    await this.send("Profiler.enable");
    await this.send("Profiler.setSamplingInterval", { interval: intervalUs });
    await this.send("Profiler.start");
  }

  async stop(): Promise<CpuProfile> {
    const { profile } = await this.send("Profiler.stop") as { profile: CpuProfile };
    return profile;
  }

  close(): void {
    this.#ws.close();
  }
}

/**
 * Self time per function (name and file:line), the largest first, with its share of the busy (non-idle)
 * samples; `(idle)`, `(program)` and `(garbage collector)` are listed as V8 names them.
 */
export function selfTimes(p: CpuProfile, top = 25): { busyMs: number; idleMs: number; rows: string[] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const byName = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === "(idle)") {
      idle += us;
      continue;
    }
    busy += us;
    const file = f.url.replace(/^.*\/(src|scripts|node_modules|ext|deno)\//, "$1/");
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    byName.set(key, (byName.get(key) ?? 0) + us);
  }
  const rows = [...byName].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) =>
    `${(us / 1000).toFixed(0).padStart(7)} ms ${
      (100 * us / Math.max(1, busy)).toFixed(1).padStart(5)
    } %  ${k}`
  );
  return { busyMs: busy / 1000, idleMs: idle / 1000, rows };
}

/** The nearest caller of each profile node that is our own code (src/ or scripts/), else its own name. */
function ownCallers(p: CpuProfile): Map<number, string> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  for (const n of p.nodes) for (const c of n.children ?? []) byId.get(c)!.parent = n.id;
  const out = new Map<number, string>();
  for (const n of p.nodes) {
    let at: Node | undefined = n;
    // The database wrapper (src/master/db/db.ts) is skipped: its caller (a *_repo.ts function) says which SQL.
    while (at && (!/\/(src|scripts)\//.test(at.callFrame.url) || /\/db\/db\.ts$/.test(at.callFrame.url))) {
      at = at.parent ? byId.get(at.parent) : undefined;
    }
    const f = (at ?? n).callFrame;
    const file = f.url.replace(/^.*\/(src|scripts)\//, "$1/");
    out.set(n.id, `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`);
  }
  return out;
}

/**
 * Time attributed to our own code: each sample to the nearest frame in src/ (so SQLite's `run` counts
 * for the repository function that ran it), and the longest busy stretches (samples without idle between
 * them: the event loop's stalls) with what they spent most on.
 */
export function ownTimes(p: CpuProfile, top = 15): { rows: string[]; stalls: string[] } {
  const own = ownCallers(p);
  const idleIds = new Set(p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
  const sum = new Map<string, number>();
  let busy = 0;
  const stretches: { us: number; parts: Map<string, number> }[] = [];
  let cur: { us: number; parts: Map<string, number> } | null = null;
  p.samples.forEach((id, i) => {
    const us = p.timeDeltas[i] ?? 0;
    if (idleIds.has(id)) {
      if (cur) stretches.push(cur);
      cur = null;
      return;
    }
    const k = own.get(id)!;
    busy += us;
    sum.set(k, (sum.get(k) ?? 0) + us);
    cur ??= { us: 0, parts: new Map() };
    cur.us += us;
    cur.parts.set(k, (cur.parts.get(k) ?? 0) + us);
  });
  if (cur) stretches.push(cur);
  const rows = [...sum].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) =>
    `${(us / 1000).toFixed(0).padStart(7)} ms ${
      (100 * us / Math.max(1, busy)).toFixed(1).padStart(5)
    } %  ${k}`
  );
  const stalls = stretches.sort((a, b) => b.us - a.us).slice(0, 3).map((s) => {
    const parts = [...s.parts].sort((a, b) => b[1] - a[1]).slice(0, 3)
      .map(([k, us]) => `${k} ${(us / 1000).toFixed(0)} ms`).join("; ");
    return `${(s.us / 1000).toFixed(0).padStart(7)} ms busy without a break: ${parts}`;
  });
  return { rows, stalls };
}

type HeapNode = {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
};

/** Starts V8's sampling heap profiler (what is still alive when it is read, by allocating function). */
export async function startHeapSampling(inspector: Inspector): Promise<void> {
  await inspector.send("HeapProfiler.enable");
  await inspector.send("HeapProfiler.startSampling", { samplingInterval: 16_384 });
}

/**
 * The live sampled bytes by the nearest frame in our code (src/ or scripts/) that allocated them, and
 * by the allocating function itself; then stops sampling.
 */
export async function heapSites(inspector: Inspector, top = 15): Promise<string[]> {
  const { profile } = await inspector.send("HeapProfiler.getSamplingProfile") as {
    profile: { head: HeapNode };
  };
  await inspector.send("HeapProfiler.stopSampling");
  const byOwn = new Map<string, number>();
  let total = 0;
  const where = (f: HeapNode["callFrame"]) =>
    `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(src|scripts)\//, "$1/")}:${f.lineNumber + 1}`;
  const walk = (n: HeapNode, own: string) => {
    const mine = /\/(src|scripts)\//.test(n.callFrame.url) ? where(n.callFrame) : own;
    const self = n.selfSize;
    total += self;
    const key = mine === where(n.callFrame) ? mine : `${mine} → ${n.callFrame.functionName || "(anonymous)"}`;
    byOwn.set(key, (byOwn.get(key) ?? 0) + self);
    for (const c of n.children) walk(c, mine);
  };
  walk(profile.head, "(outside our code)");
  const mb = (b: number) => (b / 1048576).toFixed(1);
  return [
    `live sampled heap ${mb(total)} MB, by our nearest frame → the allocating function:`,
    ...[...byOwn].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, b]) =>
      `${mb(b).padStart(7)} MB ${(100 * b / Math.max(1, total)).toFixed(1).padStart(5)} %  ${k}`
    ),
  ];
}

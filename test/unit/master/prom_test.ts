import assert from "node:assert/strict";
import { testMaster } from "../../support/master.ts";
import { enrolled, sendHeartbeat } from "../../support/signed_node.ts";
import dash from "../../../ui/grafana/wirebuddy.json" with { type: "json" };

Deno.test("/metrics exports every metric the shipped Grafana dashboard queries, with help and type", async () => {
  const m = await testMaster();
  try {
    const n = await enrolled(m, "fra");
    await sendHeartbeat(m, n, {
      status: "error",
      error: "boom",
      report: {
        apply: { ok: false, error: "boom", version: 2, duration_ms: 12 },
        warnings: [],
        queue_depth: 4,
        sync_latency_ms: 30,
      },
    });
    const text = m.services.prom.render();
    const types = new Set([...text.matchAll(/^# TYPE (\S+) (gauge|counter)$/gm)].map((x) => x[1]));
    const help = new Set([...text.matchAll(/^# HELP (\S+) /gm)].map((x) => x[1]));
    const exprs: string[] = dash.panels.flatMap((p: { targets: { expr: string }[] }) =>
      p.targets.map((t) => t.expr)
    );
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/wirebuddy_[a-z_]+/g)].map((x) => x[0])));
    assert.ok(used.size >= 10);
    for (const name of used) {
      assert.ok(types.has(name), `${name} is exported`);
      assert.ok(help.has(name), `${name} has help`);
    }
    assert.match(text, /^wirebuddy_node_apply_duration_seconds\{node="fra"\} 0\.012$/m);
    assert.match(text, /^wirebuddy_node_queue_depth\{node="fra"\} 4$/m);
    assert.match(text, /^wirebuddy_node_status\{node="fra",status="error"\} 1$/m);
  } finally {
    m.close();
  }
});

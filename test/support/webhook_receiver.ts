// A webhook receiver for the cluster test (run inside the master's namespace): a real HTTP server that
// answers every POST with the status written in --status-file (200 when the file is missing) and prints
// one JSON line per request: the status it answered, the WireBuddy headers and the raw body.
// deno run -A test/support/webhook_receiver.ts --port 9099 --status-file /tmp/x
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string", default: "9099" }, "status-file": { type: "string" } },
});

async function status(): Promise<number> {
  try {
    return Number((await Deno.readTextFile(values["status-file"]!)).trim()) || 200;
  } catch {
    return 200;
  }
}

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  // deno-lint-ignore no-console
  onListen: () => console.log(JSON.stringify({ listening: true })),
}, async (req) => {
  const body = await req.text();
  const answered = await status();
  const h = (n: string) => req.headers.get(n);
  // deno-lint-ignore no-console
  console.log(JSON.stringify({
    status: answered,
    event: h("x-wirebuddy-event"),
    event_id: h("x-wirebuddy-event-id"),
    timestamp: h("x-wirebuddy-timestamp"),
    signature: h("x-wirebuddy-signature"),
    body,
  }));
  return new Response(answered === 200 ? "ok" : "try later", { status: answered });
});

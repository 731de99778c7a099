// Blocklists served by URL inside the lab (run in a namespace with startDeno):
//   /ads.txt      a hosts file   /adguard.txt  AdGuard rules   /junk.txt  an HTML page, no domain
//   /big.txt      50 MiB of domains, streamed   /slow.txt  headers, then nothing for 10 minutes
// deno run -A test/support/list_server.ts [--port 8080]
import { parseArgs } from "node:util";

const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string", default: "8080" } } });
const LISTS: Record<string, string> = {
  "/ads.txt": "# lab ads\n0.0.0.0 ads.lab.example\n0.0.0.0 tracker.lab.example\n",
  "/adguard.txt": "! lab\n||adguard.lab.example^\n",
  "/junk.txt": "<html>\n<body>Not a list</body>\n</html>\n",
};

Deno.serve({
  port: Number(values.port),
  hostname: "0.0.0.0",
  // deno-lint-ignore no-console
  onListen: () => console.log('{"listening":true}'),
}, (req) => {
  const path = new URL(req.url).pathname;
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ path }));
  if (path === "/big.txt") {
    let sent = 0;
    const line = new TextEncoder().encode(
      "0.0.0.0 padding-domain-for-a-large-list.lab.example\n".padEnd(64, " "),
    );
    return new Response(
      new ReadableStream({
        pull(ctl) {
          if (sent >= 50 * 1024 * 1024) return ctl.close();
          const chunk = new Uint8Array(64 * 1024);
          for (let i = 0; i < chunk.length; i += line.length) {
            chunk.set(line.subarray(0, chunk.length - i), i);
          }
          sent += chunk.length;
          ctl.enqueue(chunk);
        },
      }),
    );
  }
  if (path === "/slow.txt") {
    return new Response(new ReadableStream({ start() {} }));
  }
  const body = LISTS[path];
  return body === undefined ? new Response("not found", { status: 404 }) : new Response(body);
});

// Sends one DNS A query and prints the answer's address (exit 1 after 3 s without one).
// deno run -A test/support/dns_query.ts SERVER NAME
import dgram from "node:dgram";

const [server, name] = Deno.args;
if (!server || !name) throw new Error("usage: dns_query.ts SERVER NAME");
const id = Math.floor(Math.random() * 65535);
const labels = name.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
const query = new Uint8Array([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
const socket = dgram.createSocket("udp4");
const timer = setTimeout(() => {
  socket.close();
  Deno.exit(1);
}, 3000);
socket.on("message", (msg: Uint8Array) => {
  if (((msg[0]! << 8) | msg[1]!) !== id) return;
  clearTimeout(timer);
  // deno-lint-ignore no-console
  console.log(`${msg[msg.length - 4]}.${msg[msg.length - 3]}.${msg[msg.length - 2]}.${msg[msg.length - 1]}`);
  socket.close();
});
socket.send(query, 53, server);

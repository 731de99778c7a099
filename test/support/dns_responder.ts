// A tiny DNS responder for the cluster tests (run inside the master's namespace): answers every A query
// with 192.0.2.53 and prints one JSON line per query with the source address it saw.
// deno run -A test/support/dns_responder.ts [--port 53]
import dgram from "node:dgram";
import { parseArgs } from "node:util";

const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string", default: "53" } } });
const socket = dgram.createSocket("udp4");

function questionName(msg: Uint8Array): { name: string; end: number } {
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    labels.push(new TextDecoder().decode(msg.subarray(i + 1, i + 1 + len)));
    i += len + 1;
  }
  return { name: labels.join("."), end: i + 5 }; // zero byte, QTYPE, QCLASS
}

socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
  if (msg.length < 17) return;
  const { name, end } = questionName(msg);
  const header = new Uint8Array(msg.subarray(0, 12));
  header[2] = 0x81; // response, recursion desired
  header[3] = 0x80; // recursion available, no error
  header.set([0, 1, 0, 1, 0, 0, 0, 0], 4); // 1 question, 1 answer
  const question = msg.subarray(12, end);
  const answer = new Uint8Array([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 53]);
  const reply = new Uint8Array(header.length + question.length + answer.length);
  reply.set(header);
  reply.set(question, 12);
  reply.set(answer, 12 + question.length);
  socket.send(reply, rinfo.port, rinfo.address);
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ from: rinfo.address, name }));
});
socket.bind(Number(values.port), "0.0.0.0", () => {
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ listening: Number(values.port) }));
});

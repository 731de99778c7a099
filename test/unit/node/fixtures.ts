// Shared fixtures for the engine's unit tests.
import { FakeHost } from "./fake_host.ts";

/** A valid WireGuard key made of one repeated byte, so tests are readable and deterministic. */
export const key = (n: number) => btoa(String.fromCharCode(...new Uint8Array(32).fill(n)));
const S = key(1), T = key(2), A = key(11), B = key(12), C = key(13), P = key(21), Q = key(22);
export const KEY_NAMES = new Map([[S, "S"], [T, "T"], [A, "A"], [B, "B"], [C, "C"], [P, "P"], [Q, "Q"]]);

/** A host with what Docker and an admin would have there. */
export function foreignHost(): FakeHost {
  const host = new FakeHost();
  host.links.set("docker0", { name: "docker0", kind: "bridge", up: false, mtu: 1500, addresses: [] });
  host.foreignRule(4, "filter", "FORWARD", "-s 192.0.2.66/32 -j DROP");
  host.foreignRule(4, "nat", "POSTROUTING", "-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE");
  host.foreignRule(6, "filter", "FORWARD", "-s 2001:db8:66::/48 -j DROP");
  for (const k of KEY_NAMES.keys()) if (k !== A && k !== B && k !== C) host.secrets.add(k);
  return host;
}

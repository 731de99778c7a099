// sysctl: the two forwarding switches, read and set through `sysctl` so that the reading happens in
// the network namespace the Exec runs in (never through a path of the caller's own /proc).

export const FORWARDING_KEYS = {
  ipv4: "net.ipv4.ip_forward",
  ipv6: "net.ipv6.conf.all.forwarding",
} as const;

export const sysctlArgv = {
  read: () => ["sysctl", FORWARDING_KEYS.ipv4, FORWARDING_KEYS.ipv6],
  enable: (key: string) => ["sysctl", "-w", `${key}=1`],
};

/**
 * Parses `sysctl KEY…` output (`key = value` lines). A key the kernel lacks (IPv6 turned off) is missing
 * from the result; sysctl reports it on stderr and we ignore it.
 */
export function parseSysctl(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = line.match(/^\s*([\w.\-/]+)\s*=\s*(.*?)\s*$/);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

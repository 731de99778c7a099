// The checks of a peer's input against its interface that need no database: the expiry, custom
// AllowedIPs, and a chosen address. Each failure names its form field.
import { contains, networkOf, parseCidr, parseIp } from "../../core/cidr.ts";
import { allowedIpsForPreset } from "../../core/client_conf.ts";
import { AppError } from "../../core/errors.ts";
import type { InterfaceRow, PeerRow } from "../db/wg_repo.ts";

/** An expiry given as text → ms; it must be in the future. */
export function expiry(text: string | null | undefined, now: number): number | null {
  if (!text) return null;
  const at = Date.parse(text);
  if (at <= now) {
    throw new AppError("validation", "The expiry must be in the future", {
      fields: [{ field: "expires_at", message: "must be in the future" }],
    });
  }
  return at;
}

/** The stored AllowedIPs of a peer: "" for the presets, the checked list for custom routing. */
export function allowedFor(iface: InterfaceRow, routing: PeerRow["routing"], custom: string[]): string {
  if (routing !== "custom") return "";
  if (custom.length === 0) {
    throw new AppError("validation", "Custom routing needs AllowedIPs", {
      fields: [{ field: "allowed_ips", message: "is required for custom routing" }],
    });
  }
  try {
    return allowedIpsForPreset("custom", { interfaceSubnets: [iface.address4], custom }).join(",");
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    throw new AppError("validation", err.message, {
      fields: [{ field: "allowed_ips", message: err.fields[0]?.message ?? err.message }],
    });
  }
}

/** A chosen IPv4 address must be a host of the interface's pool, and not the interface's own. */
export function checkChosenIpv4(iface: InterfaceRow, ipv4: string): void {
  const own = parseCidr(iface.address4);
  if (!contains(networkOf(own), ipv4) || parseIp(ipv4).value === own.address || parseIp(ipv4).version !== 4) {
    throw new AppError(
      "validation",
      `${ipv4} is not a free host address of ${iface.name}'s pool ${iface.address4}`,
      {
        fields: [{
          field: "ipv4",
          message: `must be inside ${iface.address4} and not the interface's own address`,
        }],
      },
    );
  }
}

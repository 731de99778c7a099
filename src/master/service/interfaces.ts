// WireGuard interfaces: their address pools, ports and keys. Keys are made in-process (X25519 through
// WebCrypto) and sealed at rest, bound to the interface's name. Every change is reported to the hosts
// that run the interface through the HostChanges port.
import { formatIp, hostAddress, networkOf, overlaps, parseCidr } from "../../core/cidr.ts";
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import { generateKeyPair } from "../../core/wg_keys.ts";
import type { Db } from "../db/db.ts";
import { type InterfaceRow, interfacesRepo } from "../db/wg_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { HostChanges } from "./config_versions.ts";
import { nodesCarrying } from "./node_config.ts";
import { checkNewInterfacePorts, checkNoFloatingAddress, checkPoolInterfacePort } from "./pool_checks.ts";
import type { Actor, RequestMeta } from "./context.ts";
import type { SecretBox } from "./secret_box.ts";
import { FieldProblems, parseInput, validFields } from "./validate.ts";
import { InterfaceInputSchema, InterfacePatchSchema } from "./wg_schemas.ts";

export type InterfaceView = {
  id: number;
  name: string;
  address4: string;
  address6: string | null;
  listenPort: number;
  mtu: number | null;
  dns: string[];
  keepalive: number | null;
  endpointHost: string | null;
  publicKey: string;
  peerCount: number;
};

export const splitList = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

/** `10.13.13.0/24` or `10.13.13.1/24` → the interface's own address with the prefix (`10.13.13.1/24`). */
function ownAddress(pool: string): string {
  const c = parseCidr(pool);
  const net = networkOf(c);
  const addr = c.address === net.address ? hostAddress(net, 1) : { version: c.version, value: c.address };
  return `${formatIp(addr)}/${c.prefix}`;
}

export class InterfaceService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly secrets: SecretBox,
    private readonly hosts: HostChanges,
  ) {}

  /** Every host whose config carries this interface (the master, and the nodes nodesCarrying names). */
  #hostsOf(interfaceId: number, dnsChanged: boolean): (number | null)[] {
    return [null, ...nodesCarrying(this.db, interfaceId, { dnsChanged })];
  }

  #view(r: InterfaceRow, counts?: Map<number, number>): InterfaceView {
    return {
      id: r.id,
      name: r.name,
      address4: r.address4,
      address6: r.address6,
      listenPort: r.listen_port,
      mtu: r.mtu,
      dns: splitList(r.dns),
      keepalive: r.keepalive,
      endpointHost: r.endpoint_host,
      publicKey: r.public_key,
      peerCount: (counts ?? interfacesRepo.peerCounts(this.db)).get(r.id) ?? 0,
    };
  }

  list(): InterfaceView[] {
    const counts = interfacesRepo.peerCounts(this.db);
    return interfacesRepo.list(this.db).map((r) => this.#view(r, counts));
  }

  get(id: number): InterfaceView {
    const r = interfacesRepo.byId(this.db, id);
    if (!r) throw new AppError("not_found", `Interface ${id} not found`);
    return this.#view(r);
  }

  count(): number {
    return interfacesRepo.count(this.db);
  }

  /** Ids and names for a form's select, in order (the first is the default). */
  choices(): { id: number; name: string }[] {
    return interfacesRepo.list(this.db).map((i) => ({ id: i.id, name: i.name }));
  }

  /**
   * Every name, port and pool another interface already has, reported together; and the failover pools'
   * checks (pool_checks.ts): no pool's floating address inside new addresses, a pool's new port against
   * its members' own ports (`cur`: the edited interface), a new interface's node ports against pools.
   */
  #checkConflicts(
    row: Partial<Pick<InterfaceRow, "name" | "listen_port" | "address4" | "address6">>,
    cur: InterfaceRow | null = null,
  ): void {
    const exceptId = cur?.id ?? 0;
    const problems = new FieldProblems();
    problems.check(() =>
      checkNoFloatingAddress(this.db, {
        ...(row.address4 !== cur?.address4 ? { address4: row.address4 } : {}),
        ...(row.address6 !== cur?.address6 ? { address6: row.address6 } : {}),
      })
    );
    if (cur && row.listen_port !== undefined) {
      problems.check(() => checkPoolInterfacePort(this.db, cur, row.listen_port!));
    }
    if (!cur) problems.check(() => checkNewInterfacePorts(this.db));
    for (const other of interfacesRepo.list(this.db)) {
      if (other.id === exceptId) continue;
      problems.check(() => {
        if (row.name !== undefined && other.name === row.name) {
          throw new AppError("conflict", `An interface named "${row.name}" already exists`, {
            fields: [{ field: "name", message: "is already taken" }],
          });
        }
      });
      problems.check(() => {
        if (row.listen_port !== undefined && other.listen_port === row.listen_port) {
          throw new AppError("conflict", `Port ${row.listen_port} is already used by ${other.name}`, {
            fields: [{ field: "listen_port", message: `is already used by ${other.name}` }],
          });
        }
      });
      problems.check(() => {
        if (row.address4 && overlaps(other.address4, row.address4)) {
          throw new AppError("conflict", `The IPv4 pool overlaps ${other.name}'s (${other.address4})`, {
            fields: [{ field: "ipv4_pool", message: `overlaps ${other.name} (${other.address4})` }],
          });
        }
      });
      problems.check(() => {
        if (row.address6 && other.address6 && overlaps(other.address6, row.address6)) {
          throw new AppError("conflict", `The IPv6 pool overlaps ${other.name}'s (${other.address6})`, {
            fields: [{ field: "ipv6_pool", message: `overlaps ${other.name} (${other.address6})` }],
          });
        }
      });
    }
    problems.throwIfAny();
  }

  async create(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<InterfaceView> {
    requireAdmin(actor);
    // Every problem at once: the schema's, and the conflicts of the fields that are valid on their own.
    const problems = new FieldProblems();
    const parsed = problems.parse(InterfaceInputSchema, input, "interface");
    if (!parsed) {
      const v = validFields(InterfaceInputSchema, input);
      problems.check(() =>
        this.#checkConflicts({
          ...(v.name !== undefined ? { name: v.name } : {}),
          ...(v.listen_port !== undefined ? { listen_port: v.listen_port } : {}),
          ...(v.ipv4_pool ? { address4: ownAddress(v.ipv4_pool) } : {}),
          ...(v.ipv6_pool ? { address6: ownAddress(v.ipv6_pool) } : {}),
        })
      );
      problems.throwIfAny();
    }
    const data = parsed!;
    const keys = await generateKeyPair();
    const now = this.clock.now();
    const row: Omit<InterfaceRow, "id"> = {
      name: data.name,
      address4: ownAddress(data.ipv4_pool),
      address6: data.ipv6_pool ? ownAddress(data.ipv6_pool) : null,
      listen_port: data.listen_port,
      mtu: data.mtu ?? null,
      dns: data.dns.join(","),
      keepalive: data.keepalive ?? null,
      endpoint_host: data.endpoint_host ?? null,
      private_key_sealed: "",
      public_key: keys.publicKey,
      created_at: now,
      updated_at: now,
    };
    const sealed = await this.secrets.seal(keys.privateKey, `interface:${row.name}`);
    const id = this.db.tx(() => {
      this.#checkConflicts(row);
      const id = interfacesRepo.insert(this.db, { ...row, private_key_sealed: sealed });
      this.hosts.interfacesChanged();
      this.audit.record(actor, meta, {
        action: "interface.create",
        target: row.name,
        detail: row.address4,
      });
      return id;
    });
    this.hosts.hostsChanged([null]);
    return this.get(id);
  }

  update(actor: Actor, meta: RequestMeta | null, id: number, input: unknown): InterfaceView {
    requireAdmin(actor);
    const patch = parseInput(InterfacePatchSchema, input, "interface");
    if (Object.keys(patch).length === 0) return this.get(id); // nothing to change: no audit row, no config bump
    const dnsChanged = this.db.tx(() => {
      const cur = interfacesRepo.byId(this.db, id);
      if (!cur) throw new AppError("not_found", `Interface ${id} not found`);
      if (patch.name !== undefined && patch.name !== cur.name) {
        throw new AppError(
          "validation",
          "An interface cannot be renamed (its private key is bound to its name)",
          {
            fields: [{ field: "name", message: "cannot be changed" }],
          },
        );
      }
      const next: InterfaceRow = {
        ...cur,
        address4: patch.ipv4_pool !== undefined ? ownAddress(patch.ipv4_pool) : cur.address4,
        address6: patch.ipv6_pool !== undefined
          ? (patch.ipv6_pool ? ownAddress(patch.ipv6_pool) : null)
          : cur.address6,
        listen_port: patch.listen_port ?? cur.listen_port,
        mtu: patch.mtu !== undefined ? patch.mtu ?? null : cur.mtu,
        dns: patch.dns !== undefined ? patch.dns.join(",") : cur.dns,
        keepalive: patch.keepalive !== undefined ? patch.keepalive ?? null : cur.keepalive,
        endpoint_host: patch.endpoint_host !== undefined ? patch.endpoint_host ?? null : cur.endpoint_host,
        updated_at: this.clock.now(),
      };
      const poolsChanged = next.address4 !== cur.address4 || next.address6 !== cur.address6;
      if (poolsChanged && (interfacesRepo.peerCounts(this.db).get(id) ?? 0) > 0) {
        throw new AppError("conflict", `Cannot change the address pools of ${cur.name} while it has peers`, {
          fields: [{
            field: next.address4 !== cur.address4 ? "ipv4_pool" : "ipv6_pool",
            message: "cannot change while peers exist",
          }],
        });
      }
      this.#checkConflicts(next, cur);
      interfacesRepo.update(this.db, next);
      this.audit.record(actor, meta, { action: "interface.update", target: cur.name });
      return next.dns !== cur.dns;
    });
    this.hosts.hostsChanged(this.#hostsOf(id, dnsChanged));
    return this.get(id);
  }

  delete(actor: Actor, meta: RequestMeta | null, id: number): void {
    requireAdmin(actor);
    const hosts = this.#hostsOf(id, true);
    this.db.tx(() => {
      const cur = interfacesRepo.byId(this.db, id);
      if (!cur) throw new AppError("not_found", `Interface ${id} not found`);
      const peers = interfacesRepo.peerCounts(this.db).get(id) ?? 0;
      if (peers > 0) {
        throw new AppError("conflict", `Interface ${cur.name} still has ${peers} peer(s); delete them first`);
      }
      interfacesRepo.delete(this.db, id);
      this.audit.record(actor, meta, { action: "interface.delete", target: cur.name });
    });
    this.hosts.hostsChanged(hosts);
  }
}

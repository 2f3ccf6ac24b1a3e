/**
 * Which addresses URL fetching may reach. Loopback, private, link-local, CGNAT, multicast,
 * unspecified, documentation/benchmark and cloud-metadata addresses are refused (IPv4 and IPv6,
 * with IPv4-mapped, NAT64 and 6to4 forms checked by their embedded IPv4 address) unless the
 * configured allow-list names the address, a CIDR holding it, or the host name.
 */
import { BlockList, isIP } from 'node:net';
import { EncoderError } from '../http/errors';

const REFUSED_V4 = [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT (also Alibaba's metadata 100.100.100.200)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, AWS/GCP/Azure metadata 169.254.169.254
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const;

const REFUSED_V6 = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['100::', 64], // discard
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (includes AWS metadata fd00:ec2::254)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const;

const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data']);

const refused = new BlockList();
for (const [net, prefix] of REFUSED_V4) refused.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of REFUSED_V6) refused.addSubnet(net, prefix, 'ipv6');

/** Parses an IPv6 address into 8 16-bit groups (undefined if it is not one). */
function ipv6Groups(address: string): number[] | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const [a, b, c, d] = dotted[1].split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (s: string) => (s ? s.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  return [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}

/** The IPv4 address embedded in a v4-mapped, v4-compatible, NAT64 or 6to4 IPv6 address. */
export function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (!g) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && (g[5] === 0xffff || g[5] === 0) && !(g[5] === 0 && g[6] === 0))
    return v4(g[6] as number, g[7] as number);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6] as number, g[7] as number); // NAT64 64:ff9b::/96
  if (g[0] === 0x2002) return v4(g[1] as number, g[2] as number); // 6to4
  return undefined;
}

/** Why an IP address may not be fetched, or undefined when it is a public address. */
export function refusalReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return 'not an IP address';
  if (family === 4) return refused.check(address, 'ipv4') ? 'private or reserved IPv4 address' : undefined;
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined) return refusalReason(v4);
  return refused.check(address, 'ipv6') ? 'private or reserved IPv6 address' : undefined;
}

export class UrlGuard {
  #allowedNets = new BlockList();
  #allowedHosts = new Set<string>();

  /** `allowList`: addresses, CIDRs (`10.0.0.0/8`, `::1/128`) or host names. */
  constructor(allowList: readonly string[]) {
    for (const entry of allowList) {
      const [net = '', prefix] = entry.split('/');
      const family = isIP(net);
      if (family === 0) {
        this.#allowedHosts.add(entry.toLowerCase().replace(/\.$/, ''));
        continue;
      }
      const bits = prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix);
      if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) {
        throw new Error(`ENCODER_URL_ALLOWLIST: bad prefix in ${entry}`);
      }
      this.#allowedNets.addSubnet(net, bits, family === 4 ? 'ipv4' : 'ipv6');
    }
  }

  hostAllowed(host: string): boolean {
    return this.#allowedHosts.has(host.toLowerCase().replace(/\.$/, ''));
  }

  addressAllowed(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return false;
    if (this.#allowedNets.check(address, family === 4 ? 'ipv4' : 'ipv6')) return true;
    const v4 = family === 6 ? embeddedIpv4(address) : undefined;
    return v4 !== undefined && this.#allowedNets.check(v4, 'ipv4');
  }

  /** Throws 403 url_refused when `address` (resolved from `host`) may not be fetched. */
  checkAddress(host: string, address: string): void {
    if (this.hostAllowed(host) || this.addressAllowed(address)) return;
    const reason = refusalReason(address);
    if (reason) throw new EncoderError(403, 'url_refused', `${host} resolves to ${address}: ${reason}`);
  }

  /** Throws 403 for metadata host names (before any DNS lookup; other names are checked by address). */
  checkHostName(host: string): void {
    if (this.hostAllowed(host)) return;
    const h = host.toLowerCase().replace(/\.$/, '');
    if (METADATA_HOSTS.has(h)) {
      throw new EncoderError(403, 'url_refused', `${host} is a cloud metadata host name`);
    }
  }
}

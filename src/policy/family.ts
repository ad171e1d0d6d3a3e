// Address families of endpoints. A dual-stack pod has one address per family; a connection uses one family,
// and policy sees only the addresses of that family (REFERENCES: an IPv4 ipBlock never matches the IPv6
// connection of a pod that also has an IPv4 address). Pure helpers over the plain model.
import { IP_FAMILIES, type IPFamily } from './model.ts';

/** The family of an address or CIDR (by its spelling: IPv6 text always contains ':'). */
export function familyOf(ipOrCidr: string): IPFamily {
  return ipOrCidr.includes(':') ? 'IPv6' : 'IPv4';
}

/** Every address of a pod, node or external host, primary first. */
export function addressesOf(x: { ip: string; ips?: string[] }): string[] {
  return x.ips && x.ips.length > 0 ? x.ips : [x.ip];
}

/** The address of one family, or undefined when the endpoint has none of that family. */
export function addressFor(x: { ip: string; ips?: string[] }, family: IPFamily): string | undefined {
  return addressesOf(x).find((a) => familyOf(a) === family);
}

/** Families an endpoint has, in canonical order (IPv4 first). */
export function familiesOf(x: { ip: string; ips?: string[] }): IPFamily[] {
  const have = new Set(addressesOf(x).map(familyOf));
  return IP_FAMILIES.filter((f) => have.has(f));
}

/** Families both endpoints have, IPv4 first: the families a connection between them can use. */
export function commonFamilies(
  a: { ip: string; ips?: string[] },
  b: { ip: string; ips?: string[] },
): IPFamily[] {
  const fb = new Set(familiesOf(b));
  return familiesOf(a).filter((f) => fb.has(f));
}

/** The 4|6 tag the address parser uses. */
export const familyNumber = (f: IPFamily): 4 | 6 => (f === 'IPv4' ? 4 : 6);

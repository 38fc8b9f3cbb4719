import type { X509Certificate } from 'node:crypto';
import type { Id } from '../protocol/records.js';

/**
 * A certificate's subject as the `x509` ACL id: the string Java's
 * `X500Principal.getName()` gives (RFC 2253), since that is what ZooKeeper's
 * X509AuthenticationProvider puts in ACLs. Read from the DER, not from Node's `subject`
 * text, because the text loses the string types and the RDN grouping the format depends on.
 */

interface Tlv {
  readonly tag: number;
  /** The whole element, tag and length included (Java's `#hex` form prints this). */
  readonly whole: Buffer;
  readonly content: Buffer;
}

const tags = { sequence: 0x30, set: 0x31, oid: 0x06, contextVersion: 0xa0 } as const;

/** The keywords Java's RFC 2253 form prints; any other attribute is printed as its dotted OID. */
const rfc2253Keywords: ReadonlyMap<string, string> = new Map([
  ['2.5.4.3', 'CN'], ['2.5.4.6', 'C'], ['2.5.4.7', 'L'], ['2.5.4.8', 'ST'], ['2.5.4.9', 'STREET'],
  ['2.5.4.10', 'O'], ['2.5.4.11', 'OU'], ['0.9.2342.19200300.100.1.25', 'DC'], ['0.9.2342.19200300.100.1.1', 'UID'],
]);

/** String types Java prints as text; any other value is printed as `#` and the hex of its DER. */
const stringDecoders: ReadonlyMap<number, (b: Buffer) => string> = new Map([
  [0x0c, (b: Buffer) => b.toString('utf8')], // UTF8String
  [0x13, (b: Buffer) => b.toString('latin1')], // PrintableString
  [0x14, (b: Buffer) => b.toString('latin1')], // T61String
  [0x16, (b: Buffer) => b.toString('latin1')], // IA5String
  [0x1b, (b: Buffer) => b.toString('latin1')], // GeneralString
  [0x1e, (b: Buffer) => Buffer.from(b).swap16().toString('utf16le')], // BMPString
]);

/** Escaped with a backslash wherever they appear, as Java does (a superset of RFC 2253's list). */
const escapees = new Set([...',=+<>#;"\\']);

function readTlv(buf: Buffer, at: number): Tlv {
  if (at + 2 > buf.length) throw new Error(`DER element at ${at} is truncated`);
  const tag = buf[at]!;
  let length = buf[at + 1]!;
  let head = 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || at + 2 + bytes > buf.length) throw new Error(`DER length at ${at + 1} is not usable`);
    length = buf.readUIntBE(at + 2, bytes);
    head += bytes;
  }
  const end = at + head + length;
  if (end > buf.length) throw new Error(`DER element at ${at} runs past its parent`);
  return { tag, whole: buf.subarray(at, end), content: buf.subarray(at + head, end) };
}

function children(parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < parent.content.length; at += out[out.length - 1]!.whole.length) out.push(readTlv(parent.content, at));
  return out;
}

function oidText(content: Buffer): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  const top = first < 80 ? Math.floor(first / 40) : 2;
  return [top, first - top * 40, ...arcs].join('.');
}

function escapeValue(text: string): string {
  const chars = [...text];
  let lead = 0;
  while (lead < chars.length && (chars[lead] === ' ' || chars[lead] === '\r')) lead++;
  let trail = chars.length - 1;
  while (trail >= 0 && (chars[trail] === ' ' || chars[trail] === '\r')) trail--;
  return chars.map((c, i) => (escapees.has(c) || i < lead || i > trail ? `\\${c}` : c)).join('');
}

function attributeText(ava: Tlv): string {
  const [type, value] = children(ava);
  if (type === undefined || value === undefined || type.tag !== tags.oid) throw new Error('attribute is not an OID and a value');
  const oid = oidText(type.content);
  const keyword = rfc2253Keywords.get(oid);
  const decode = stringDecoders.get(value.tag);
  if (keyword === undefined || decode === undefined) return `${keyword ?? oid}=#${value.whole.toString('hex')}`;
  return `${keyword}=${escapeValue(decode(value.content))}`;
}

/** The RFC 2253 text of a DER-encoded Name: most specific RDN first, `,` between RDNs, `+` within one. */
function rfc2253Name(name: Tlv): string {
  return children(name)
    .map((rdn) => children(rdn).map(attributeText).join('+'))
    .reverse()
    .join(',');
}

/** The certificate's subject DN as Java prints it; throws when the DER is not a certificate. */
export function subjectDn(cert: X509Certificate): string {
  const [tbs] = children(readTlv(cert.raw, 0));
  if (tbs === undefined || tbs.tag !== tags.sequence) throw new Error('certificate has no TBSCertificate');
  const fields = children(tbs);
  // version [0] is optional; then serialNumber, signature, issuer, validity, subject.
  const subject = fields[fields[0]?.tag === tags.contextVersion ? 5 : 4];
  if (subject === undefined || subject.tag !== tags.sequence) throw new Error('certificate has no subject Name');
  return rfc2253Name(subject);
}

/** The ids a verified client certificate proves: x509 with its subject DN, and super when that DN is the super user's. */
export function x509Ids(cert: X509Certificate, superUser: string | null): Id[] {
  const dn = subjectDn(cert);
  const ids: Id[] = [{ scheme: 'x509', id: dn }];
  if (superUser !== null && dn === superUser) ids.push({ scheme: 'super', id: dn });
  return ids;
}

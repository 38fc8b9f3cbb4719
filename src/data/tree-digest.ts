import { crc32c } from '@node-rs/crc32';
import type { DataTree } from './data-tree.js';
import type { ZNode } from './znode.js';

const twoTo32 = 0x1_0000_0000;
/** A second CRC, started from another state, gives each node 64 bits. */
const secondCrcSeed = 0x5a4b5453;

/**
 * A digest of every znode (path, data, stat and ACL) that two servers holding the same nodes
 * agree on whatever order they built them in: the sum, modulo 2^64, of a 64-bit hash per node
 * (two CRC-32Cs), as ZooKeeper's tree digest is a sum of per-node CRCs. Sessions are not in it:
 * the zxid says whether their txns were applied. It walks the whole tree: O(nodes).
 */
export function treeDigest(tree: DataTree): bigint {
  let high = 0;
  let low = 0;
  for (const path of tree.paths()) {
    const bytes = nodeBytes(path, tree.getNode(path)!);
    // A 64-bit sum in two 32-bit words, carried by hand: plain numbers stay exact this way.
    low += crc32c(bytes, secondCrcSeed);
    high += crc32c(bytes) + Math.floor(low / twoTo32);
    low %= twoTo32;
    high %= twoTo32;
  }
  return (BigInt(high) << 32n) | BigInt(low);
}

function nodeBytes(path: string, node: ZNode): Buffer {
  const data = node.dataView();
  const acl = node.acl.map((a) => `${a.perms}:${a.id.scheme}:${a.id.id}`).join(',');
  const head = Buffer.from(`${path}\0${acl}\0`, 'utf8');
  const stat = Buffer.alloc(4 + 8 * 4 + 8 * 2 + 4 * 3);
  stat.writeInt32BE(data === null ? -1 : data.length, 0);
  stat.writeBigUInt64BE(BigInt.asUintN(64, node.czxid), 4);
  stat.writeBigUInt64BE(BigInt.asUintN(64, node.mzxid), 12);
  stat.writeBigUInt64BE(BigInt.asUintN(64, node.pzxid), 20);
  stat.writeBigUInt64BE(BigInt.asUintN(64, node.ephemeralOwner), 28);
  stat.writeDoubleBE(node.ctime, 36);
  stat.writeDoubleBE(node.mtime, 44);
  stat.writeInt32BE(node.version, 52);
  stat.writeInt32BE(node.cversion, 56);
  stat.writeInt32BE(node.aversion, 60);
  return data === null ? Buffer.concat([head, stat]) : Buffer.concat([head, stat, data]);
}

import { Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import type { Txn } from './txn.js';

/**
 * Txns travel (peer PROPOSALs) and rest (the txn log) as msgpackr bytes. Longs are bigint
 * on both sides: int64AsType keeps zxids and session ids exact, never floats.
 */
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

export function encodeTxn(txn: Txn): Uint8Array {
  return packr.pack(txn);
}

export function decodeTxn(bytes: Uint8Array): Txn {
  let txn: Txn;
  try {
    txn = packr.unpack(bytes) as Txn;
  } catch (err) {
    throw new ProtocolError(`txn payload does not decode: ${(err as Error).message}`, { cause: err });
  }
  if (txn === null || typeof txn !== 'object' || typeof txn.zxid !== 'bigint' || typeof txn.op !== 'object') {
    throw new ProtocolError('txn payload is not a txn record');
  }
  return txn;
}

/** A write as an origin server hands it to the leader: everything but the zxid. */
export type TxnRequest = Omit<Txn, 'zxid'>;

export function encodeTxnRequest(request: TxnRequest): Uint8Array {
  return packr.pack({ ...request, zxid: 0n });
}

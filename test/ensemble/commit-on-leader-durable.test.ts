// With three voters the leader and any one follower are a quorum: a follower applies a write
// once it and the leader have it durable (LEADERDURABLE), without waiting for the leader to hear
// its ACK and send the COMMIT. Seen from outside: while the followers' messages to the leader
// are held back, a write through a follower is answered before the leader itself commits it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fourLetterWord } from '../../src/admin/four-letter-client.js';
import { createClient, type ZooKeeperClient } from '../../src/client/index.js';
import { TestingCluster } from '../../src/testing/index.js';
import { scaled } from '../../src/testing/wait.js';

let cluster: TestingCluster | undefined;
const clients: ZooKeeperClient[] = [];

beforeAll(async () => {
  // syncLimit of 20 s: the peer messages held back below keep every follower in the ensemble.
  cluster = await TestingCluster.start({ size: 3, tickTime: 200, syncLimit: 100 });
}, scaled(60_000));

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.close();
});

/** The zxid the member last applied (srvr), asked past its proxy. */
async function appliedZxid(directConnectString: string): Promise<bigint> {
  const [host, port] = directConnectString.split(':') as [string, string];
  const srvr = await fourLetterWord(host, Number(port), 'srvr', scaled(2_000));
  return BigInt(/^Zxid: (0x[0-9a-f]+)$/m.exec(srvr)![1]!);
}

describe('a follower committing on the leader\'s durable point', () => {
  it('answers a write through it while the leader, whose ACKs are held back, has not applied it yet', async () => {
    const c = cluster!;
    const leader = c.server(await c.waitForLeader());
    const follower = c.server(c.followers()[0]!);
    const zk = createClient(follower.connectString, { sessionTimeout: 10_000 });
    clients.push(zk);
    await zk.connect();
    await zk.create('/durable', 'v0');

    // Everything the followers send the leader (the forwarded write, then their ACKs) is held
    // back: the write reaches the leader one delay late, the ACKs that would commit it two.
    await c.delayPeerMessages(scaled(1_500), { to: leader.id });
    const stat = await zk.setData('/durable', 'v1');
    expect(await appliedZxid(leader.directConnectString)).toBeLessThan(stat.mzxid);
    await c.heal();
    const observer = createClient(leader.connectString);
    clients.push(observer);
    await observer.connect();
    await observer.sync('/durable');
    expect((await observer.getData('/durable')).data?.toString()).toBe('v1');
  });
});

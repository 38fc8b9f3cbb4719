// @types/node-zookeeper-client 1.1.0 against the 1.1.3 we pin: what the tests rely on that
// those types leave out or state wrongly, each checked in the package's lib/ sources.
import 'node-zookeeper-client';

declare module 'node-zookeeper-client' {
  // lib/Exception.js: util.inherits(Exception, Error), so errors carry message and stack.
  interface Exception extends Error {}
  // lib/ACL.js names the field `permission` (`perms` is only the wire record's name).
  interface ACL {
    permission: number;
  }
  // lib/ConnectionManager.js resumes the session these name.
  interface Option {
    sessionId: Buffer;
    sessionPassword: Buffer;
  }
  // create takes "a valid buffer, null or undefined" as data (index.js, lib/Transaction.js).
  interface Client {
    create(
      path: string,
      data: Buffer | null,
      acls: ACL[],
      mode: number,
      callback: (error: Error | Exception | null, path: string) => void,
    ): void;
  }
  interface Transaction {
    create(path: string, data: Buffer | null, acls: ACL[], mode: number): this;
  }
}

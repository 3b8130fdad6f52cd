/**
 * Binding a command's HTTP server (serve, console, local's API): a port in use, or one this user
 * may not bind, is bad input named with its option (exit 2), not a stack trace.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DocketError } from "../errors.js";

const REASONS: Record<string, string> = {
  EADDRINUSE: "the port is in use (give another, or 0 for a free one)",
  EACCES: "this user may not bind that port (take one above 1023)",
  EADDRNOTAVAIL: "this machine has no such address",
};

/** Listens on `host:port`; resolves with the port bound (`0` takes a free one). */
export async function listenOn(server: Server, host: string, port: number, option: string): Promise<number> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, resolve);
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    const reason = REASONS[code] ?? String(error);
    throw new DocketError("UsageError", `cannot listen on ${host}:${port} (${option}): ${reason}`, {
      cause: error,
    });
  }
  return (server.address() as AddressInfo).port;
}

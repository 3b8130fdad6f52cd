/** `docket serve`: the embedded engine with its HTTP API, until stopped. */

import { serveApi } from "../embedded/api.js";
import { loadConfig } from "../embedded/config.js";
import { EmbeddedEngine } from "../embedded/engine.js";
import { listenOn } from "./listen.js";

export async function serveCommand(options: {
  port: string;
  host: string;
  config?: string;
}): Promise<number> {
  const config = loadConfig(options.config);
  const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`);
  const engine = await EmbeddedEngine.open({ config, watch: true, log });
  engine.queues.on(
    "lifecycle",
    (
      event: string,
      detail: {
        instance?: string;
        fault?: { id: string; code: string; message: string };
        incident?: { id: string };
      },
    ) => {
      const extra = detail.fault
        ? ` fault ${detail.fault.code} (error id ${detail.fault.id}): ${detail.fault.message}`
        : detail.incident
          ? ` incident ${detail.incident.id}`
          : "";
      log(`${event} ${detail.instance}${extra}`);
    },
  );
  // DOCKET_API_TOKEN (from the environment, not the command line, where `ps` would show it).
  const token = process.env.DOCKET_API_TOKEN || undefined;
  if (!token && !["127.0.0.1", "localhost", "::1"].includes(options.host))
    log(
      `warning: serving on ${options.host} without DOCKET_API_TOKEN: anyone who reaches it can steer instances`,
    );
  const server = serveApi(engine, { log, token, console: true });
  let port: number;
  try {
    // The port bound, not the one asked for: `--port 0` takes a free one, and the line below tells which.
    port = await listenOn(server, options.host, Number(options.port), "--port");
  } catch (error) {
    await engine.close();
    throw error;
  }
  log(
    `docket serving on http://${options.host}:${port} (console at /console/; database ${config.database}, definitions ${config.definitions})`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  server.close();
  // Open connections (a console's change stream, keep-alive ones) would hold the process up.
  server.closeAllConnections();
  await engine.close();
  return 0;
}

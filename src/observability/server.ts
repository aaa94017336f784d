import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AllmapError } from '../errors.js';
import { getLogger } from '../log/logger.js';
import type { Readiness } from './readiness.js';

/** Anything that renders Prometheus text: `LearnerMetrics`, or a prom-client `Registry`. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface ObservabilityServerOptions {
  /** `metrics.port` from the config; 0 picks a free port (see `ObservabilityServer.port`). */
  port: number;
  /** Interface to listen on; every interface when absent, so Prometheus can reach it. */
  host?: string;
  metrics: MetricsSource;
  readiness: Readiness;
}

export interface ObservabilityServer {
  /** The port actually bound, which differs from the configured one when that was 0. */
  readonly port: number;
  /** Stops accepting requests, ends open keep-alive connections and waits for the close. */
  close(): Promise<void>;
}

/** The metrics server could not listen: the port is taken, or not ours to bind. */
export class ObservabilityServerError extends AllmapError {
  constructor(
    readonly host: string,
    readonly port: number,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `cannot serve metrics on ${host}:${port} (${reason}); set metrics.port ` +
        '(ALLMAP_METRICS_PORT) to a free port, or 0 to pick one',
      { cause },
    );
  }
}

/**
 * Serves `/metrics` (Prometheus text), `/healthz` (200 while the process can answer at
 * all) and `/readyz` (200 when ready, otherwise 503 with a JSON body naming what is
 * missing) on one plain HTTP port.
 */
export async function startObservabilityServer(
  options: ObservabilityServerOptions,
): Promise<ObservabilityServer> {
  const log = getLogger('observability.server');
  const server = createServer((request, response) => {
    route(request, response, options).catch((error: unknown) => {
      log.error({ err: error, url: request.url }, 'observability request failed');
      if (!response.headersSent) send(response, 500, 'text/plain', 'internal error\n');
      else response.destroy();
    });
  });

  await listen(server, options.port, options.host);
  const { port } = server.address() as AddressInfo;
  log.info({ port, host: options.host ?? '*' }, 'serving /metrics, /healthz and /readyz');

  let closing: Promise<void> | undefined;
  return { port, close: () => (closing ??= close(server)) };
}

async function route(
  request: IncomingMessage,
  response: ServerResponse,
  options: ObservabilityServerOptions,
): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    return send(response, 405, 'text/plain', 'only GET and HEAD are served\n');
  }

  // Prometheus may append query parameters; only the path chooses the endpoint.
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  switch (path) {
    case '/metrics':
      return send(response, 200, options.metrics.contentType, await options.metrics.metrics());
    case '/healthz':
      return sendJson(response, 200, { status: 'alive' });
    case '/readyz': {
      const report = options.readiness.report();
      return sendJson(response, report.isReady ? 200 : 503, report);
    }
    default:
      return send(response, 404, 'text/plain', 'served paths: /metrics, /healthz, /readyz\n');
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  send(response, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`);
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

function listen(server: Server, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) =>
      reject(new ObservabilityServerError(host ?? '*', port, error));
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    // Prometheus keeps its scrape connection alive; without this close() waits for it.
    server.closeAllConnections();
  });
}

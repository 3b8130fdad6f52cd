/**
 * An HTTP client for the contract tests: sends a request to a host's API, checks the answer's
 * status, media type and body against openapi.yaml, and notes which operations were exercised.
 */
import { expect } from "vitest";
import type { Contract } from "./contract.js";

export interface RequestOptions {
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Sent as is (not JSON, or malformed JSON). */
  readonly raw?: string;
  /** Default application/json when there is a body. */
  readonly contentType?: string;
  /**
   * The request breaks the document's own parameter or body schemas: the refusal is one the
   * document predicts (checked), not only one the router makes.
   */
  readonly docRejects?: boolean;
}

export interface Answer {
  readonly status: number;
  /** Parsed JSON, or the text. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers by their documented shape.
  readonly body: any;
  readonly operationId?: string;
}

export class ContractClient {
  /** operationId → the statuses it answered. */
  readonly exercised = new Map<string, Set<number>>();

  constructor(
    private readonly base: string,
    private readonly contract: Contract,
    /** The host under test, as `x-docket-hosts` names it. */
    readonly host: string,
    private readonly headers: Record<string, string> = {},
    /** Wraps each request: on AWS the functions run meanwhile (an operator command waits to be applied). */
    private readonly around: <T>(pending: Promise<T>) => Promise<T> = (pending) => pending,
  ) {}

  /** Sends a request; expects `status` and an answer the document allows. */
  async call(method: string, path: string, status: number, options: RequestOptions = {}): Promise<Answer> {
    const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const contentType = payload === undefined ? undefined : (options.contentType ?? "application/json");
    const response = await this.around(
      fetch(`${this.base}${path}`, {
        method,
        headers: { ...this.headers, ...(contentType ? { "content-type": contentType } : {}) },
        body: payload,
      }),
    );
    const text = await response.text();
    const url = new URL(path, "http://api");
    const exchange = {
      method,
      path: url.pathname,
      query: url.searchParams,
      contentType,
      json: options.raw === undefined ? options.body : undefined,
      status: response.status,
      mediaType: response.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase() || undefined,
      text,
    };
    const operation = this.contract.match(method, url.pathname);
    const operationId = "operationId" in operation ? operation.operationId : undefined;
    if (operationId)
      this.exercised.set(operationId, (this.exercised.get(operationId) ?? new Set()).add(response.status));
    const request = `${method} ${path}`;
    expect(response.status, `${request} answered ${text.slice(0, 300)}`).toBe(status);
    expect(this.contract.check(exchange, this.host), request).toEqual([]);
    if (operationId && status < 300) expect(this.contract.requestProblems(exchange), request).toEqual([]);
    if (operationId && options.docRejects)
      expect(this.contract.requestProblems(exchange), `${request}: the document accepts it`).not.toEqual([]);
    const json = exchange.mediaType === "application/json";
    return { status: response.status, body: json ? JSON.parse(text) : text, operationId };
  }
}

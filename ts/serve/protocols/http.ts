/**
 * The request and response every protocol handler speaks: plain objects, so the same pure logic runs behind
 * Node's http server and behind a fetch handler (workerd, Deno, browsers' service workers).
 */
export interface ServeRequest {
  method: string;
  /** The path as sent, percent-encoding kept (routes decode each segment themselves). */
  path: string;
  query: URLSearchParams;
  /** Header lookup, case-insensitive. */
  header(name: string): string | undefined;
  /** The body, already decompressed and within the body limit. */
  body: Uint8Array;
}

export type Protocol = 'tfserving' | 'kserve' | 'torchserve' | 'management' | 'server';

export interface ServeResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
  /** For metrics and logs: which protocol answered, for which model and version. */
  protocol: Protocol;
  model?: string;
  version?: number;
}

/** A failure with the HTTP status it answers as; each protocol writes it in its own error shape. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** TorchServe's exception type name, e.g. ModelNotFoundException. */
    readonly type = typeForStatus(status),
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

function typeForStatus(status: number): string {
  switch (status) {
    case 400: return 'BadRequestException';
    case 401: return 'InvalidKeyException';
    case 404: return 'ModelNotFoundException';
    case 405: return 'MethodNotAllowedException';
    case 413: return 'RequestEntityTooLargeException';
    case 415: return 'UnsupportedMediaTypeException';
    case 503: return 'ServiceUnavailableException';
    case 504: return 'RequestTimeoutException';
    default: return 'InternalServerException';
  }
}

export const badRequest = (message: string) => new HttpError(400, message);
export const notFound = (message: string) => new HttpError(404, message);

export function methodNotAllowed(method: string, allowed: string[]): HttpError {
  return new HttpError(405, `method ${method} is not allowed here; use ${allowed.join(' or ')}`, 'MethodNotAllowedException', { allow: allowed.join(', ') });
}

/** Refuses any method but `allowed` with 405 and an Allow header. */
export function expectMethod(request: ServeRequest, ...allowed: string[]): void {
  if (!allowed.includes(request.method)) throw methodNotAllowed(request.method, allowed);
}

export function json(status: number, value: unknown, protocol: Protocol, extra: Partial<ServeResponse> = {}): ServeResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value), protocol, ...extra };
}

const MODEL_NAME = /^[A-Za-z0-9_.-]+$/;

/** A model name from a path segment: percent-decoded, then held to [A-Za-z0-9_.-]+ and never '.' or '..'. */
export function modelName(segment: string): string {
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    throw badRequest(`model name '${segment}' is not valid percent-encoding`);
  }
  if (!MODEL_NAME.test(name) || name === '.' || name === '..') {
    throw badRequest(`model name ${JSON.stringify(name)} is not allowed: names are [A-Za-z0-9_.-]+`);
  }
  return name;
}

/** A version from a path segment: a positive integer. */
export function versionNumber(segment: string): number {
  const version = /^[0-9]{1,15}$/.test(segment) ? Number(segment) : NaN;
  if (!(version >= 0)) throw badRequest(`model version '${decodeSafely(segment)}' is not a non-negative integer`);
  return version;
}

const decodeSafely = (segment: string) => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
};

export const utf8 = new TextDecoder('utf-8', { fatal: false });
export const encodeUtf8 = (text: string) => new TextEncoder().encode(text);

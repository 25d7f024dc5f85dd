// modhost's SDK for JavaScript modules, built with componentize-js.
//
// A module is a router and a few names; `exportModule` gives the four
// functions the world exports, which the app re-exports:
//
//   import { Router, Response, HttpError, Collection, exportModule } from "./modhost.js";
//   const router = new Router();
//   const items = new Collection("items");
//   router.get("/items/:id", (request) => Response.json(items.findOne({ _id: request.param("id") })));
//   export const { describe, init, handle, health } = exportModule({ name: "items", version: "0.1.0", router });
//
// Host errors (a database that is down, a duplicate key...) throw
// `HttpError` with the status the Rust SDK gives them; a handler that
// throws one answers `{"error": ..., "request_id": ...}` with that status.
// Any other exception is logged and answers 500.

import * as dbHost from "modhost:module/db@0.9.0";
import * as cacheHost from "modhost:module/cache@0.9.0";
import * as logHost from "modhost:module/log@0.9.0";
import * as metricsHost from "modhost:module/metrics@0.9.0";
import * as configHost from "modhost:module/config@0.9.0";
import * as modulesHost from "modhost:module/modules@0.9.0";
import * as authHost from "modhost:module/auth@0.9.0";
import * as clockHost from "modhost:module/clock@0.9.0";
import * as lifecycleHost from "modhost:module/lifecycle@0.9.0";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An error that answers the request with `status` and `message`. */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
  static badRequest(message) {
    return new HttpError(400, message);
  }
  static notFound(message) {
    return new HttpError(404, message);
  }
}

/** Calls a host function; its error value throws `HttpError` with the status
 * `statuses` gives the variant's tag (500 if none). */
function hostCall(statuses, call) {
  try {
    return call();
  } catch (err) {
    const variant = err && err.payload;
    if (variant && typeof variant.tag === "string") {
      throw new HttpError(statuses[variant.tag] ?? 500, String(variant.val));
    }
    throw err;
  }
}

/** One request routed to the module. */
export class Request {
  constructor(wit) {
    this.id = wit.requestId;
    this.method = wit.method;
    this.path = wit.path;
    this.prefix = wit.prefix;
    this.route = wit.route;
    this.params = Object.fromEntries(wit.params);
    this.query = Object.fromEntries(wit.query);
    this.headers = Object.fromEntries(wit.headers.map(([name, value]) => [name.toLowerCase(), value]));
    this.body = wit.body;
    this.principal = wit.principal;
  }
  /** The value of the route's `:name` segment. */
  param(name) {
    if (!(name in this.params)) throw new HttpError(500, `route ${this.route} has no parameter ${name}`);
    return this.params[name];
  }
  /** The query's `name` as a non-negative integer, or `fallback`. */
  queryNumber(name, fallback) {
    const value = this.query[name];
    if (value === undefined) return fallback;
    if (!/^[0-9]+$/.test(value)) throw HttpError.badRequest(`query parameter ${name} must be a non-negative integer`);
    return Number(value);
  }
  /** The body as text. */
  text() {
    return decoder.decode(this.body);
  }
  /** The body parsed as JSON; a 400 when it is not. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (err) {
      throw HttpError.badRequest(`the body is not JSON: ${err.message}`);
    }
  }
  /** The token's subject; a 401 on a route without a token. */
  subject() {
    if (!this.principal) throw new HttpError(401, "this route needs a bearer token");
    return this.principal.subject;
  }
}

/** A status, headers and a body. */
export class Response {
  constructor(status = 200, body = "", headers = []) {
    this.status = status;
    this.body = typeof body === "string" ? encoder.encode(body) : body;
    this.headers = headers;
  }
  static json(value, status = 200) {
    return new Response(status, JSON.stringify(value), [["content-type", "application/json"]]);
  }
  static text(text, status = 200) {
    return new Response(status, text, [["content-type", "text/plain; charset=utf-8"]]);
  }
  withHeader(name, value) {
    this.headers.push([name, value]);
    return this;
  }
}

/** The module's routes, each with its handler. The host matches paths
 * (`:param` segments, a `...` tail); the module looks up the handler of the
 * route the host matched. */
export class Router {
  constructor() {
    this.routes = [];
    this.handlers = new Map();
  }
  /** A handler of `method` on `path`; `roles` (an array, possibly empty)
   * makes the host require a bearer token with one of them first. */
  route(method, path, handler, roles) {
    this.routes.push({ method, path, auth: roles === undefined ? undefined : { roles } });
    this.handlers.set(`${method} ${path}`, handler);
    return this;
  }
  get(path, handler, roles) {
    return this.route("GET", path, handler, roles);
  }
  post(path, handler, roles) {
    return this.route("POST", path, handler, roles);
  }
  put(path, handler, roles) {
    return this.route("PUT", path, handler, roles);
  }
  delete(path, handler, roles) {
    return this.route("DELETE", path, handler, roles);
  }
}

const DB_STATUSES = {
  "duplicate-key": 409,
  "expectation-failed": 409,
  "document-too-large": 413,
  "invalid-document": 400,
  unavailable: 503,
  timeout: 504,
  "quota-exceeded": 507,
};

function findOptions({ sort, skip = 0, limit, projection } = {}) {
  return {
    sort: sort === undefined ? undefined : JSON.stringify(sort),
    skip: BigInt(skip),
    limit: limit === undefined ? undefined : BigInt(limit),
    projection: projection === undefined ? undefined : JSON.stringify(projection),
  };
}

/** One of the module's own collections (the `db` grant). */
export class Collection {
  constructor(name) {
    this.name = name;
  }
  /** The documents matching `filter`; options `sort`, `skip`, `limit`, `projection`. */
  find(filter = {}, options = {}) {
    const found = hostCall(DB_STATUSES, () => dbHost.find(this.name, JSON.stringify(filter), findOptions(options)));
    return found.map((document) => JSON.parse(document));
  }
  /** The first document matching `filter`, or null. */
  findOne(filter = {}, options = {}) {
    const found = hostCall(DB_STATUSES, () => dbHost.findOne(this.name, JSON.stringify(filter), findOptions(options)));
    return found === undefined ? null : JSON.parse(found);
  }
  /** Stores `document`; its `_id` (made when absent). */
  insertOne(document) {
    return hostCall(DB_STATUSES, () => dbHost.insertOne(this.name, JSON.stringify(document)));
  }
  /** Applies `update` to the first match; `{ matched, modified }`. */
  updateOne(filter, update, upsert = false) {
    const result = hostCall(DB_STATUSES, () =>
      dbHost.updateOne(this.name, JSON.stringify(filter), JSON.stringify(update), upsert),
    );
    return { matched: Number(result.matched), modified: Number(result.modified) };
  }
  /** Deletes the first match; how many were deleted. */
  deleteOne(filter) {
    return Number(hostCall(DB_STATUSES, () => dbHost.deleteOne(this.name, JSON.stringify(filter))));
  }
  /** How many documents match `filter`. */
  count(filter = {}) {
    return Number(hostCall(DB_STATUSES, () => dbHost.count(this.name, JSON.stringify(filter))));
  }
}

const CACHE_STATUSES = { unavailable: 503, "quota-exceeded": 429, "value-too-large": 413 };

/** The module's own cache keys (the `cache` grant). */
export const cache = {
  /** The bytes under `key`, or null. */
  get(key) {
    return hostCall(CACHE_STATUSES, () => cacheHost.get(key)) ?? null;
  },
  /** Stores `value` (a string or bytes) under `key`, for `ttlMs` if given. */
  set(key, value, ttlMs) {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    hostCall(CACHE_STATUSES, () => cacheHost.set(key, bytes, ttlMs === undefined ? undefined : BigInt(ttlMs)));
  },
  /** Removes `key`; whether it was there. */
  delete(key) {
    return hostCall(CACHE_STATUSES, () => cacheHost.delete(key));
  },
  /** Adds `delta` to the integer under `key`; the new value. */
  incr(key, delta = 1) {
    return Number(hostCall(CACHE_STATUSES, () => cacheHost.incr(key, BigInt(delta))));
  },
};

function writeLog(level, message, fields = {}) {
  logHost.log(level, String(message), Object.entries(fields).map(([key, value]) => [key, String(value)]));
}

/** Records into the host's log, tagged with the module and request. */
export const log = {
  debug: (message, fields) => writeLog("debug", message, fields),
  info: (message, fields) => writeLog("info", message, fields),
  warn: (message, fields) => writeLog("warn", message, fields),
  error: (message, fields) => writeLog("error", message, fields),
};

const labelPairs = (labels = {}) => Object.entries(labels).map(([key, value]) => [key, String(value)]);

/** The module's own metrics, on the host's `/metrics` as
 * `modhost_module_<name>` (counters with `_total`, timings with
 * `_seconds`); a refused call (a bad name, too many series) throws
 * HttpError 500. `timer(name)` returns `{ stop() }`. */
export const metrics = {
  increment: (name, labels, by = 1) => hostCall({}, () => metricsHost.increment(name, BigInt(by), labelPairs(labels))),
  gauge: (name, value, labels) => hostCall({}, () => metricsHost.setGauge(name, Number(value), labelPairs(labels))),
  recordDuration: (name, seconds, labels) =>
    hostCall({}, () => metricsHost.recordDuration(name, Number(seconds), labelPairs(labels))),
  timer: (name, labels) => {
    const started = time.now();
    return { stop: () => metrics.recordDuration(name, Math.max(0, time.now() - started), labels) };
  },
};

/** The module's own `[modules.<name>.config]` table: a value as the TOML
 * has it (datetimes as RFC 3339 text), or `fallback`. */
export const config = {
  get: (key, fallback = null) => {
    const value = configHost.get(key);
    return value === undefined ? fallback : JSON.parse(value);
  },
  getAll: () => JSON.parse(configHost.getAll()),
};

const CALL_STATUSES = { busy: 503, "too-large": 413, "not-granted": 500 };

/** Calls `method path` of a declared dependency (the `modules` grant); an
 * object `body` is sent as JSON. */
export function callModule(module, method, path, body, headers = {}) {
  const fields = Object.entries(headers);
  let bytes = new Uint8Array();
  if (typeof body === "string") bytes = encoder.encode(body);
  else if (body instanceof Uint8Array) bytes = body;
  else if (body !== undefined) {
    bytes = encoder.encode(JSON.stringify(body));
    fields.push(["content-type", "application/json"]);
  }
  const response = hostCall(CALL_STATUSES, () => modulesHost.call(module, { method, path, headers: fields, body: bytes }));
  return new Response(response.status, response.body, response.headers);
}

const AUTH_STATUSES = { "invalid-password": 400, busy: 503 };

/** Tokens the host signs (`auth.issue`) and password hashing (`auth.passwords`). */
export const auth = {
  issue: (subject, claims = {}, lifetimeSeconds = 3600) =>
    hostCall(AUTH_STATUSES, () => authHost.issue(subject, JSON.stringify(claims), lifetimeSeconds)),
  hashPassword: (password) => hostCall(AUTH_STATUSES, () => authHost.hashPassword(password)),
  verifyPassword: (password, hash) => hostCall(AUTH_STATUSES, () => authHost.verifyPassword(password, hash)),
};

const seconds = (instant) => Number(instant.seconds) + instant.nanoseconds / 1e9;

/** The host's clock, in seconds since the Unix epoch, and when `init` finished. */
export const time = {
  now: () => seconds(clockHost.now()),
  initializedAt: () => {
    const instant = lifecycleHost.initializedAt();
    return instant === undefined ? null : seconds(instant);
  },
};

function errorResponse(status, message, requestId) {
  return Response.json({ error: message, request_id: requestId }, status);
}

/** The world's four exports for a module `{ name, version, description,
 * dependencies, router, init, health }` (`init` and `health` optional;
 * `health` returns `{ status, ...details }`). */
export function exportModule(module) {
  return {
    describe: () => ({
      name: module.name,
      version: module.version ?? "0.1.0",
      description: module.description ?? "",
      dependencies: module.dependencies ?? [],
      routes: module.router.routes,
    }),
    init: () => {
      if (module.init) module.init();
    },
    handle: (wit) => {
      let response;
      try {
        const handler = module.router.handlers.get(`${wit.method} ${wit.route}`);
        if (!handler) throw HttpError.notFound(`module ${module.name} has no handler for ${wit.method} ${wit.route}`);
        response = handler(new Request(wit));
      } catch (err) {
        if (err instanceof HttpError) {
          response = errorResponse(err.status, err.message, wit.requestId);
        } else {
          writeLog("error", "handler threw", { error: String(err), stack: err && err.stack });
          response = errorResponse(500, "the module failed", wit.requestId);
        }
      }
      return { status: response.status, headers: response.headers, body: response.body };
    },
    health: () => {
      const { status = "healthy", ...details } = module.health ? module.health() : {};
      return { status, details: JSON.stringify(details) };
    },
  };
}

// {{name}}: made by `modhost new`. `GET {{route}}` answers a greeting with
// the request's id and logs a line. Add routes to `router`, build with
// `just guests`, and see the README's "Writing a module".

import { Response, Router, exportModule, log } from "{{sdk}}/js/modhost.js";

const router = new Router().get("{{route}}", (request) => {
  log.info("saying hello");
  return Response.json({ module: "{{name}}", message: "hello", request_id: request.id });
});

export const { describe, init, handle, health } = exportModule({
  name: "{{name}}",
  version: "0.1.0",
  description: "{{description}}",
  router,
});

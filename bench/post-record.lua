-- wrk script: every request stores one record with POST and a JSON body,
-- the module guide's `POST /my-module/data` (bench/db-routes, bench/table).
wrk.method = "POST"
wrk.body = '{"name": "bench", "value": 1}'
wrk.headers["Content-Type"] = "application/json"

-- (f) GET /dashboard signed in through the console: one cookie session ($BENCH_COOKIE, the
-- whole "name=value" pair) whose user has 50 tasks; the page renders the first 20.
-- For a breakdown, $BENCH_PATH (default /dashboard) and $BENCH_ENCODING (default gzip; "-"
-- for no Accept-Encoding) change what is asked.
local cookie, path, headers
function init(args)
  cookie = os.getenv("BENCH_COOKIE")
  path = os.getenv("BENCH_PATH") or "/dashboard"
  local encoding = os.getenv("BENCH_ENCODING") or "gzip"
  headers = { ["Cookie"] = cookie, ["Accept"] = "text/html" }
  if encoding ~= "-" then headers["Accept-Encoding"] = encoding end
end
function request()
  return wrk.format("GET", path, headers)
end

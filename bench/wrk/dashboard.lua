-- (f) GET /dashboard signed in through the console: one cookie session ($BENCH_COOKIE, the
-- whole "name=value" pair) whose user has 50 tasks; the page renders the first 20.
local cookie
function init(args)
  cookie = os.getenv("BENCH_COOKIE")
end
function request()
  return wrk.format("GET", "/dashboard", { ["Cookie"] = cookie, ["Accept"] = "text/html", ["Accept-Encoding"] = "gzip" })
end

-- (b) POST /api/v1/auth/login over the seeded users user1..userN@bench.local.
local n = tonumber(os.getenv("BENCH_USERS") or "10000")
local password = os.getenv("BENCH_PASSWORD")
local i = 0
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(n)
end
function request()
  i = i % n + 1
  local body = string.format('{"email":"user%d@bench.local","password":"%s"}', i, password)
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end

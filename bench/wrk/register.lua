-- (c) POST /api/v1/users with a new address every time.
local password = os.getenv("BENCH_PASSWORD")
local prefix, counter = "", 0
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = string.format("new%d-%d", os.time(), math.random(1000000000))
end
function request()
  counter = counter + 1
  local body = string.format('{"email":"%s-%d@bench.local","password":"%s"}', prefix, counter, password)
  return wrk.format("POST", "/api/v1/users", { ["Content-Type"] = "application/json" }, body)
end

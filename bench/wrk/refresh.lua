-- (d) POST /api/v1/auth/refresh, always with a never-used refresh token: each thread owns
-- sessions (one refresh token per line in $BENCH_REFRESH_DIR/<thread>), sends each token
-- once and queues the new one from the answer.
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
local queue = {}
function init(args)
  for line in io.lines(os.getenv("BENCH_REFRESH_DIR") .. "/" .. tid) do queue[#queue + 1] = line end
end
function request()
  local token = table.remove(queue, 1)
  if token == nil then
    return wrk.format("GET", "/refresh-queue-ran-dry")
  end
  return wrk.format("POST", "/api/v1/auth/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then queue[#queue + 1] = token end
end

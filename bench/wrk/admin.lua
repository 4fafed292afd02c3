-- (i) one staff query, GET $ADMIN_PATH with the admin's access token in $ADMIN_TOKEN.
local path, token = os.getenv("ADMIN_PATH"), os.getenv("ADMIN_TOKEN")
function request()
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end

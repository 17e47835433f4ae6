-- wrk script: POST /api/v1/leads with a unique phone per request (thread id + counter).
local next_thread = 0
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

local counter = 0
local token = os.getenv("BENCH_TOKEN")
function request()
  counter = counter + 1
  local n = (tid + 1) * 10000000 + counter
  local body = string.format(
    '{"name":"客户%d","source":"web_form","phone":"139%08d","company":"建材公司%d"}', n, n, n)
  return wrk.format("POST", "/api/v1/leads",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
